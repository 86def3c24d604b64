"""Train one small synthetic run with the package of an old commit and with this tree, and compare.

The evidence behind ``scripts/migrate_code_hash.py --allow-logic-change``: when the normal-form
training hash changed between two commits, identical split, per-epoch metrics and per-image
predictions of the same seeded run show the change left trained numbers alone. Timing columns,
the environment and the code hash are not compared; every other ``results.json`` key is, and
differing keys are printed (the exit status is 1 when the trained numbers differ).

    python scripts/check_training_equivalence.py 7955008
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "dataset": "synthetic",
    "synthetic_per_class": 10,
    "synthetic_size": 48,
    "arch": "efficientnet_b0",
    "img_size": 32,
    "epochs": 3,
    "batch_size": 8,
    "weights": "none",
    "transfer": "scratch",
    "lr": 0.001,
    "lr_switch_epoch": 3,
    "val_fraction": 0.2,
    "test_fraction": 0.2,
}
TRAIN = """
import json, sys
sys.path.insert(0, sys.argv[1])
import wbcrepro
assert wbcrepro.__file__.startswith(sys.argv[1]), wbcrepro.__file__
from wbcrepro.config import TrainConfig
try:
    from wbcrepro.training.fit import fit
except ImportError:  # before the packages by concern
    from wbcrepro.runs import fit
fit(TrainConfig.from_flat(json.loads(sys.argv[3])), sys.argv[2], progress=False)
"""
NOT_COMPARED = {"environment", "training_code_hash", "train_seconds"}
TIMING = ("epoch_seconds", "train_images_per_s")


def extract(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", commit, "wbcrepro"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def train(tree: Path, out: Path, cache: Path) -> None:
    env = {**os.environ, "WBCREPRO_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", TRAIN, str(tree), str(out), json.dumps(TINY)], env=env, check=True
    )


def compare(old: Path, new: Path) -> bool:
    """Print what differs; True when the trained numbers are the same."""
    same = True
    for name in ("split.csv", "predictions_val.csv", "predictions_test.csv"):
        equal = (old / name).read_bytes() == (new / name).read_bytes()
        print(f"{name}: {'identical' if equal else 'DIFFERENT'}")
        same &= equal
    a, b = pd.read_csv(old / "metrics.csv"), pd.read_csv(new / "metrics.csv")
    columns = [c for c in a.columns if c not in TIMING]
    added = [c for c in b.columns if c not in a.columns]
    equal = set(a.columns) <= set(b.columns) and a[columns].equals(b[columns])
    print(f"metrics.csv without timing: {'identical' if equal else 'DIFFERENT'}")
    if added:  # a column the new code records (a description of the epoch), printed to be read
        print(f"metrics.csv columns only in the new run: {b[added].to_dict(orient='list')}")
    same &= equal
    ra = json.loads((old / "results.json").read_text())
    rb = json.loads((new / "results.json").read_text())
    for key in sorted((set(ra) | set(rb)) - NOT_COMPARED):
        if ra.get(key) != rb.get(key):
            print(f"results.json {key!r} differs:\n  old {ra.get(key)!r}\n  new {rb.get(key)!r}")
            same &= key not in ("final", "selection", "baselines", "gate")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_commit")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        old_tree = extract(args.old_commit, root / "old-tree")
        train(old_tree, root / "old", root / "cache-old")
        train(REPO, root / "new", root / "cache-new")
        same = compare(root / "old", root / "new")
    print("trained numbers: " + ("the same" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
