"""Reading and writing a run folder's training files: params, history, checkpoints, predictions.

The file names come from :mod:`wbcrepro.runfolder` (shared with the pages, which must not import
torch); this module holds what :func:`wbcrepro.training.fit.fit` and
:mod:`wbcrepro.inference.checkpoint_eval` do with them.
Every file is written atomically, so a run killed at any moment leaves either the previous or the
new version, never half a file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from wbcrepro.config import TrainConfig
from wbcrepro.fileio import atomic_write, read_json, write_json
from wbcrepro.paths import cache_root, data_root, portable_path, resolve_portable
from wbcrepro.runfolder import (
    BEST,
    CHECKPOINT,
    PARAMS,
    RESULTS,
    RunFolderError,
    RunResults,
    check_results,
    predictions_file,
)

EPOCH_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "val_macro_f1",
    "epoch_seconds",
    "train_images_per_s",
    "train_img_size",
)
"""Columns of metrics.csv, one row per finished epoch."""


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """metrics.csv from the per-epoch rows."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=EPOCH_FIELDS)
            writer.writeheader()
            writer.writerows(history)

    atomic_write(path, write)


def write_results(folder: Path, results: RunResults) -> None:
    """``results.json``, checked against :class:`wbcrepro.runfolder.RunResults` first: the one
    writer of the record every page reads, so a key the schema does not know never lands."""
    check_results(results, folder / RESULTS)
    write_json(folder / RESULTS, results)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`wbcrepro.training.fit.fit` (``checkpoint.pt`` or ``best.pt``;
    a
    folder means its ``checkpoint.pt``); a missing or unreadable file raises naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise RunFolderError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise RunFolderError(f"cannot read checkpoint {path}: {err}") from err


def selected_model_file(path: str | Path) -> Path:
    """The file holding a run's evaluated model: a file as given; for a run folder its
    ``best.pt`` (the epoch selected on validation) when there is one, else ``checkpoint.pt``
    (the last epoch, which is what the run tested when it selected nothing)."""
    path = Path(path)
    if not path.is_dir():
        return path
    return path / BEST if (path / BEST).is_file() else path / CHECKPOINT


def save_best(
    path: Path,
    model_state: dict,
    epoch: int,
    metric: str,
    value: float,
    cfg: TrainConfig,
    class_names: Sequence[str],
) -> None:
    """best.pt: the selected model's weights with its epoch and validation metric (and what
    :mod:`wbcrepro.inference.checkpoint_eval` needs to rebuild it)."""
    save_checkpoint(
        path,
        {
            "model": model_state,
            "epoch": epoch,
            "metric": metric,
            "value": value,
            "config": cfg.to_flat(),
            "class_names": list(class_names),
        },
    )


def check_resumable(folder: Path, cfg: TrainConfig) -> None:
    """Raise unless ``folder``'s params.json is ``cfg`` (a resumed run must be the same run)."""
    saved = read_json(folder / PARAMS)
    mine = cfg.to_flat()
    differ = {k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k)}
    if differ:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {mine.get(k)!r}" for k in sorted(differ))
        raise RunFolderError(f"cannot resume {folder}: parameters differ ({details})")


def prepare_run_folder(cfg: TrainConfig, folder: Path, resume: bool) -> bool:
    """Create or check the run folder; returns True when a checkpoint is to be resumed."""
    has_checkpoint = (folder / CHECKPOINT).is_file()
    if resume and has_checkpoint:
        check_resumable(folder, cfg)
        return True
    if (folder / PARAMS).exists() and not resume:
        raise RunFolderError(
            f"run folder {folder} already holds a run; pass resume (--resume) to continue it "
            "or choose another output folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / PARAMS, cfg.to_flat())
    return False


def save_predictions(
    folder: Path,
    split: str,
    paths: list[str],
    result: dict,
    class_names: Sequence[str],
    data_root_param: str = "",
) -> None:
    """predictions_<split>.csv: path (portable, as in split.csv), label, predicted class and
    every class probability."""
    roots = (data_root(data_root_param), cache_root())
    table = pd.DataFrame(
        {
            "path": [portable_path(p, *roots) for p in paths],
            "label": [class_names[i] for i in result["targets"]],
            "predicted": [class_names[i] for i in result["predictions"]],
        }
    )
    for i, name in enumerate(class_names):
        table[f"p_{name}"] = result["probabilities"][:, i].round(6)
    atomic_write(folder / predictions_file(split), lambda tmp: table.to_csv(tmp, index=False))


def write_split(path: Path, manifest: pd.DataFrame, data: Path, cache: Path) -> None:
    """split.csv with portable paths (``$DATA/...``, ``$CACHE/...``; see
    :func:`wbcrepro.paths.portable_path`): run folders are committed and read elsewhere."""
    table = manifest.copy()
    table["path"] = [portable_path(p, data, cache) for p in table["path"]]
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def read_split(path: Path, data: Path, cache: Path) -> pd.DataFrame:
    """split.csv with its paths resolved on this machine (a resumed run reuses its split)."""
    table = pd.read_csv(path)
    table["path"] = [resolve_portable(str(p), data, cache) for p in table["path"]]
    return table
