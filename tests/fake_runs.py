"""Hand-made run folders, written the way :func:`wbcrepro.training.fit.fit` writes them, without
training.

Pages only read run folders, so their tests need records, not models: this writes results.json
(with real metrics from :func:`wbcrepro.training.metrics.classification_report` on made-up
predictions)
and metrics.csv in milliseconds. The smoke-profile test checks the same pages on records that a
real training run wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tests.conftest import TINY
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.codehash import RESULTS_KEY, training_code_hash
from wbcrepro.config import TrainConfig
from wbcrepro.fileio import write_json
from wbcrepro.runfolder import METRICS, PARAMS, RESULTS
from wbcrepro.training.metrics import classification_report, wilson_interval

GPU_ENVIRONMENT: dict[str, Any] = {
    "python": "3.11.9",
    "platform": "Linux-5.15-x86_64",
    "packages": {"torch": "2.4.1", "torchvision": "0.19.1"},
    "hardware": {
        "device": "cuda",
        "cpu": "x86_64",
        "cpu_count": 16,
        "gpu": "NVIDIA H100 80GB HBM3",
        "cuda": "12.4",
        "summary": "NVIDIA H100 80GB HBM3",
    },
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True},
}
"""A machine this test never runs on: a page must show it, not the machine rendering it."""


def predictions(n: int, correct: int, n_classes: int) -> tuple[list[int], list[int]]:
    """Targets cycling through the classes; the first ``correct`` predicted right, the rest
    predicted as the next class."""
    targets = [i % n_classes for i in range(n)]
    predicted = [t if i < correct else (t + 1) % n_classes for i, t in enumerate(targets)]
    return targets, predicted


def write_run(
    root: Path,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    correct: int = 30,
    n_test: int = 40,
    epochs: int = 3,
    synthetic: bool = True,
    status: str = "complete",
    environment: dict[str, Any] | None = None,
    code_hash: str | None = "today",
    notebook: bool = False,
    learned: bool = True,
    selection: dict[str, Any] | None = None,
) -> Path:
    """A run folder ``root/run_id``; ``code_hash="today"`` records today's training-code hash,
    ``None`` records none. ``notebook`` places its executed notebook beside it (for links).
    ``selection`` is recorded as results.json's ``selection`` (metric, selected_epoch, reason)."""
    cfg = TrainConfig.from_flat({**TINY, "epochs": epochs, **(params or {})})
    classes = list(PAPER_CLASSES)
    folder = root / run_id
    folder.mkdir(parents=True)
    write_json(folder / PARAMS, cfg.to_flat())
    final = {}
    for split, n, right in (("val", n_test // 2, correct // 2), ("test", n_test, correct)):
        rep = classification_report(*predictions(n, right, len(classes)), classes, False)
        f1 = rep["macro_f1"]  # a made-up interval: the bootstrap takes seconds, this test none
        rep.update(
            accuracy_ci95=list(wilson_interval(right, n)),
            macro_f1_ci95=[max(0.0, f1 - 0.05), min(1.0, f1 + 0.05)],
            loss=1.0,
        )
        final[split] = rep
    results: dict[str, Any] = {
        "status": status,
        "params": cfg.to_flat(),
        "environment": GPU_ENVIRONMENT if environment is None else environment,
        "error": None if status == "complete" else "RuntimeError: stopped",
        "model": {"arch": cfg.arch, "implementation": "torchvision", "parameters": 1000},
        "dataset": {
            "name": cfg.dataset if not synthetic else "synthetic",
            "synthetic": synthetic,
            "class_names": classes,
            "counts": {"train": {c: 10 for c in classes}, "val": {}, "test": {}},
        },
        "resumed_from_epoch": None,
    }
    if code_hash is not None:
        results[RESULTS_KEY] = training_code_hash() if code_hash == "today" else code_hash
    if status == "complete":
        results.update(
            epochs_completed=epochs,
            train_seconds=90.0 * epochs,
            final=final,
            gate={"learned": learned, "reasons": [] if learned else ["not above chance"]},
        )
    if selection is not None:
        results["selection"] = selection
    write_json(folder / RESULTS, results)
    history = pd.DataFrame(
        {
            "epoch": range(1, epochs + 1),
            "lr": [cfg.lr_at(e) for e in range(1, epochs + 1)],
            "train_loss": [2.0 / e for e in range(1, epochs + 1)],
            "train_accuracy": [0.2 * e for e in range(1, epochs + 1)],
            "val_loss": [2.5 / e for e in range(1, epochs + 1)],
            "val_accuracy": [0.15 * e for e in range(1, epochs + 1)],
        }
    )
    history.to_csv(folder / METRICS, index=False)
    if notebook:
        (root / f"{run_id}.ipynb").write_text("{}")
    return folder
