"""Whole-run CPU budget: image-epochs per CPU hour of complete training runs, two settings.

What is measured
----------------
A *complete* run, as the cpu profile runs it: :func:`wbcrepro.training.fit.fit` from a config to
a finished run folder (training, BatchNorm recalibration, validation every ``val_every`` epochs,
selection, the final evaluation of the selected model on validation and test, and the baselines
with the linear probe). The rate is ``train images x epochs / wall hours`` of the whole call, so
everything that is not a training step counts against it. Two settings are compared on the same
data, split, seed and machine:

* ``old``: the cpu profile's ``main-pbc`` settings before the levers (every layer fine-tuned,
  validation every epoch, evaluation batches of 16, BatchNorm from 25 batches);
* ``new``: the same run with the candidate levers (``--new`` sets them; a setting such as
  ``epochs=6`` overrides the common value for that side only).

The runs alternate (old, new, old, new, ...) for ``--repeats`` rounds, each in its own child
process with one thread (the cpu profile's layout: two single-threaded runs side by side on two
cores), and the medians are reported, so that background load hurts both alike. Before the first
timed run, every image is decoded once into the cache (``$WBCREPRO_CACHE``), which all runs share.
Each run is seeded: its validation accuracy and macro-F1 (of the selected model) are reported
beside its speed, so a speed-up is never read without what it cost.

Output (``--json``)::

    {"speedup": new rate / old rate (medians), "old": {...}, "new": {...}, "config": {...},
     "environment": {...}}

where each side holds ``settings``, ``runs`` (wall seconds, image-epochs per hour, validation
accuracy and macro-F1, the selected epoch), ``median_image_epochs_per_hour`` and the median
validation accuracy and macro-F1.

Run it
------
::

    WBCREPRO_DATA=../shared/data .venv/bin/python benchmarks/cpu_budget.py --json out.json
    .venv/bin/python benchmarks/cpu_budget.py --dataset synthetic --train-subset 0 --epochs 2 \\
        --img-size 64 --repeats 1 --json /tmp/budget.json     # seconds, on the synthetic set
        # (--synthetic-per-class 12: the smallest set that still splits, as the test runs it)

Without ``$WBCREPRO_DATA`` it uses ``../shared/data`` beside the clone when that exists (as the
Makefile does); without real data it falls back to the synthetic set and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "arch": "efficientnet_lite0",
    "weights": "imagenet",
    "transfer": "finetune",
    "num_classes": 0,
    "batch_size": 16,
    "val_fraction": 0.15,
    "test_fraction": 0.2,
    "lr": 0.0003,
    "lr_switch_epoch": 1000,
    "bn_recalibration_batches": 25,
}
"""The cpu profile's defaults for training runs (profiles/cpu.yaml)."""
NEW = (
    "freeze_fraction=0.2,early_img_size=128,early_epochs=3,val_every=2,eval_batch_size=8,"
    "bn_recalibration_batches=12,epochs=6"
)
"""The levers as profile v3's main-pbc uses them (profiles/cpu.yaml ``cpu_levers``), on the same
1,200 images, with one epoch more than the old side: what the saved time buys. The rate is per
image-epoch, so the extra epoch does not count as speed; it is why the validation accuracy can
be compared. ``benchmarks/results/`` holds what each lever measured on its own."""


def parse_settings(text: str) -> dict[str, str]:
    """``k=v,k=v`` -> dict; keys are checked by TrainConfig when the run is built."""
    pairs = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in pairs if "=" not in item]
    if bad:
        raise SystemExit(f"cpu_budget: settings must be key=value, got {', '.join(bad)}")
    return dict(item.split("=", 1) for item in pairs)


def use_shared_data_beside() -> None:
    """Without ``$WBCREPRO_DATA``, the real data beside the clone (``../shared/data``, as the
    Makefile finds it) when it is there, so that a plain ``python benchmarks/cpu_budget.py`` on a
    fresh clone times real PBC images rather than the synthetic set."""
    shared = REPO.parent / "shared" / "data"
    if not os.environ.get("WBCREPRO_DATA") and shared.is_dir():
        os.environ["WBCREPRO_DATA"] = str(shared)
        print(f"cpu_budget: WBCREPRO_DATA unset: using {shared}", file=sys.stderr)


def child(params: dict[str, Any], out: Path) -> dict[str, Any]:
    """One complete run (in this process): wall seconds and what it selected."""
    import torch

    from wbcrepro.config import TrainConfig
    from wbcrepro.training.fit import fit

    torch.set_num_threads(1)
    cfg = TrainConfig.from_flat(params)
    start = time.perf_counter()
    results = fit(cfg, out, progress=False)
    seconds = time.perf_counter() - start
    train = sum(results["dataset"]["counts"]["train"].values())
    val = results["final"].get("val") or {}
    return {
        "seconds": round(seconds, 2),
        "train_images": train,
        "epochs": cfg.epochs,
        "image_epochs_per_hour": round(train * cfg.epochs / (seconds / 3600), 1),
        "train_seconds_in_epochs": round(results["train_seconds"], 2),
        "val_accuracy": val.get("accuracy"),
        "val_macro_f1": val.get("macro_f1"),
        "selected_epoch": results["selection"]["selected_epoch"],
        "trainable_parameters": results["model"]["trainable_parameters"],
    }


def run_child(params: dict[str, Any], out: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", json.dumps(params), "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"cpu_budget: a run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def warm_cache(params: dict[str, Any]) -> None:
    """Decode every image of the split once, so that no timed run pays for it."""
    from wbcrepro.config import TrainConfig
    from wbcrepro.data.loading import load_split_data, make_table
    from wbcrepro.data.transforms import build_eval_transform

    cfg = TrainConfig.from_flat(params)
    data = load_split_data(cfg)
    for split in ("train", "val", "test"):
        make_table(data, split, build_eval_transform(cfg), cfg, progress=False)


def summarise(settings: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    return {
        "settings": settings,
        "runs": runs,
        "median_seconds": median("seconds"),
        "median_image_epochs_per_hour": median("image_epochs_per_hour"),
        "median_val_accuracy": median("val_accuracy"),
        "median_val_macro_f1": median("val_macro_f1"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the result here")
    parser.add_argument("--dataset", default="", help="default: pbc with real data, else synthetic")
    parser.add_argument("--train-subset", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--img-size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--synthetic-per-class", type=int, default=40, help="images per class of the synthetic set"
    )
    parser.add_argument("--old", default="", help="settings of the old side (k=v,...)")
    parser.add_argument("--new", default=NEW, help="settings of the new side (k=v,...)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child), Path(args.out))))
        return 0

    from wbcrepro.environment import collect_environment
    from wbcrepro.paths import data_root

    if not args.dataset:
        use_shared_data_beside()
    dataset = args.dataset or ("pbc" if os.environ.get("WBCREPRO_DATA") else "synthetic")
    common = {
        **BASE,
        "dataset": dataset,
        "img_size": args.img_size,
        "epochs": args.epochs,
        "train_subset": args.train_subset,
        "seed": args.seed,
        "data_root": str(data_root()) if dataset != "synthetic" else "",
    }
    if dataset == "synthetic":
        common.update(synthetic_per_class=args.synthetic_per_class)
        print("cpu_budget: no WBCREPRO_DATA: timing the SYNTHETIC set", file=sys.stderr)
    sides = {"old": parse_settings(args.old), "new": parse_settings(args.new)}
    warm_cache(common)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            for side in ("old", "new"):
                out = Path(tmp) / f"{side}-{round_}"
                result = run_child({**common, **sides[side]}, out)
                runs[side].append(result)
                print(
                    f"round {round_ + 1}/{args.repeats} {side}: {result['seconds']:.0f} s, "
                    f"{result['image_epochs_per_hour']:.0f} image-epochs/h, val accuracy "
                    f"{result['val_accuracy']:.4f}",
                    file=sys.stderr,
                )
    old, new = summarise(sides["old"], runs["old"]), summarise(sides["new"], runs["new"])
    speedup = new["median_image_epochs_per_hour"] / old["median_image_epochs_per_hour"]
    record = {
        "speedup": round(speedup, 3),
        "old": old,
        "new": new,
        "config": {**common, "repeats": args.repeats, "threads": 1},
        "synthetic": dataset == "synthetic",
        "environment": collect_environment(),
    }
    text = json.dumps(record, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(
        f"speedup {speedup:.2f}x (whole runs, medians of {args.repeats}); validation accuracy "
        f"old {old['median_val_accuracy']:.4f}, new {new['median_val_accuracy']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
