"""What a set of CPU-budget levers costs in validation quality, over several training seeds.

``cpu_budget.py`` times whole runs on one seed; a lever is kept only if validation does not get
worse, and one seed cannot say that. This trains the cpu profile's ``main-pbc`` run (PBC, 1,200
train images, 160 px, 5 epochs, tuned recipe) with the given settings for each seed, one thread,
and writes each seed's validation accuracy and macro-F1 of the selected model, its selected
epoch and its recorded training time, beside the same seeds of profile v2's ``main-pbc`` arm
(``book/runs/cpu/main-pbc-s<seed>/results.json`` as commit ``V2_COMMIT`` holds it: profile v3
retrained that arm with the levers, so today's records are no longer the baseline). Validation
only: the test split chooses nothing. A seed whose run folder under ``--out-root`` already holds
a complete run with the same parameters is read back, not retrained.

    WBCREPRO_DATA=../shared/data python benchmarks/lever_seeds.py \\
        --settings freeze_fraction=0.2,val_every=2 --seeds 0 1 2 --out-root /tmp/levers \\
        --json benchmarks/results/levers.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from cpu_budget import BASE, parse_settings, use_shared_data_beside  # noqa: E402

V2_COMMIT = "4f1ed10"
"""The last commit whose main-pbc records are profile v2's (1,200 images, 5 epochs, no levers)."""
MAIN_PBC = {**BASE, "dataset": "pbc", "img_size": 160, "train_subset": 1200, "epochs": 5}


def val_summary(results: dict[str, Any]) -> dict[str, Any]:
    val = results["final"]["val"]
    return {
        "val_accuracy": val["accuracy"],
        "val_macro_f1": val["macro_f1"],
        "selected_epoch": results["selection"]["selected_epoch"],
        "train_seconds": results["train_seconds"],
    }


def v2_record(seed: int) -> dict[str, Any] | None:
    """Profile v2's main-pbc-s<seed> results.json, read from git (None outside a git checkout)."""
    path = f"{V2_COMMIT}:book/runs/cpu/main-pbc-s{seed}/results.json"
    shown = subprocess.run(["git", "show", path], cwd=REPO, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def run_seed(params: dict[str, Any], folder: Path) -> dict[str, Any]:
    import torch

    from wbcrepro.config import TrainConfig
    from wbcrepro.fileio import read_json_or_none
    from wbcrepro.training.fit import fit

    cfg = TrainConfig.from_flat(params)
    done = read_json_or_none(folder / "results.json")
    if done and done.get("status") == "complete" and done.get("params") == cfg.to_flat():
        return {**val_summary(done), "reused": True}
    torch.set_num_threads(1)
    return {**val_summary(fit(cfg, folder, progress=False)), "reused": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="k=v,... on top of main-pbc")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out-root", required=True, help="run folders go here")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args(argv)
    use_shared_data_beside()
    settings = parse_settings(args.settings)
    base = dict(MAIN_PBC)  # the data root comes from $WBCREPRO_DATA, as in the profile
    seeds, committed = [], []
    for seed in args.seeds:
        folder = Path(args.out_root) / f"levers-{args.settings.replace(',', '_')}-s{seed}"
        seeds.append({"seed": seed, **run_seed({**base, **settings, "seed": seed}, folder)})
        old = v2_record(seed)
        if old:
            committed.append({"seed": seed, **val_summary(old)})

    def mean(rows: list[dict[str, Any]], key: str) -> float | None:
        return statistics.mean(r[key] for r in rows) if rows else None

    record = {
        "settings": settings,
        "base": "main-pbc of the cpu profile v2",
        "seeds": seeds,
        "v2_main_pbc": committed,
        "mean_val_macro_f1": mean(seeds, "val_macro_f1"),
        "v2_mean_val_macro_f1": mean(committed, "val_macro_f1"),
        "mean_val_accuracy": mean(seeds, "val_accuracy"),
        "v2_mean_val_accuracy": mean(committed, "val_accuracy"),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"{args.settings}: mean validation macro-F1 {record['mean_val_macro_f1']:.4f} over "
        f"{len(seeds)} seed(s); v2 main-pbc {record['v2_mean_val_macro_f1']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
