"""``fit``: one training run written into one self-describing run folder (timm style).

A run folder holds::

    params.json     the resolved config (rebuilds the run: TrainConfig.from_flat)
    split.csv       the manifest with its train/val/test split (re-read on resume)
    excluded.csv    what the dataset loader left out, with reasons (for example BCCD smears
                    with two white cells)
    skipped.csv     unreadable images skipped (only with skip_bad_files=true; else they stop)
    metrics.csv     one row per finished epoch
    checkpoint.pt   model + optimizer + history, replaced atomically after every epoch
    results.json    status, parameters, environment, dataset counts, final metrics
    predictions_<split>.csv   per-image predictions of the final model

Every epoch's randomness (shuffling, augmentation, dropout) is seeded from ``(seed, epoch)``, so a
run resumed from the checkpoint of epoch k continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from wbcrepro.config import TrainConfig
from wbcrepro.data import SplitData, load_split_data, make_loader, make_table
from wbcrepro.engine import (
    autocast_dtype,
    evaluate,
    pick_device,
    seed_everything,
    train_one_epoch,
)
from wbcrepro.environment import collect_environment
from wbcrepro.fileio import atomic_write, read_json, write_json
from wbcrepro.metrics import classification_report
from wbcrepro.models import build_model, count_parameters, implementation_of, to_device
from wbcrepro.runfolder import (  # noqa: F401  (re-exported: callers import them from here)
    BEST,
    CHECKPOINT,
    EXCLUDED,
    METRICS,
    PARAMS,
    RESULTS,
    SKIPPED,
    SPLIT,
    RunFolderError,
)
from wbcrepro.transforms import build_eval_transform, build_train_transform

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
)


# --- run files --------------------------------------------------------------------------------
def write_history(path: Path, history: list[dict[str, float]]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=EPOCH_FIELDS)
            writer.writeheader()
            writer.writerows(history)

    atomic_write(path, write)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`fit`; a missing or unreadable file raises naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise RunFolderError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise RunFolderError(f"cannot read checkpoint {path}: {err}") from err


# --- building blocks ------------------------------------------------------------------------------
def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over the trainable parameters (the frozen mode leaves only the head).

    Adam/AdamW use the fused kernel (one pass over all parameters, on CPU and CUDA alike).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def epoch_generator(cfg: TrainConfig, epoch: int) -> torch.Generator:
    """The RNG of one epoch's shuffling and worker seeds: a function of (seed, epoch) only."""
    return torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)


@dataclass
class Run:
    """Everything :func:`fit` assembles for a run (handy in notebooks for further analysis)."""

    cfg: TrainConfig
    folder: Path
    data: SplitData
    model: nn.Module
    device: torch.device


def _check_resumable(folder: Path, cfg: TrainConfig) -> None:
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
        _check_resumable(folder, cfg)
        return True
    if (folder / PARAMS).exists() and not resume:
        raise RunFolderError(
            f"run folder {folder} already holds a run; pass resume (--resume) to continue it "
            "or choose another output folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / PARAMS, cfg.to_flat())
    return False


def _save_predictions(path: Path, paths: list[str], result: dict, class_names) -> None:
    table = pd.DataFrame(
        {
            "path": paths,
            "label": [class_names[i] for i in result["targets"]],
            "predicted": [class_names[i] for i in result["predictions"]],
        }
    )
    for i, name in enumerate(class_names):
        table[f"p_{name}"] = result["probabilities"][:, i].round(6)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def fit(
    cfg: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train ``cfg`` into ``out_dir`` and return its ``results.json`` content.

    With ``resume=True`` and a checkpoint in ``out_dir``, training continues after the last
    finished epoch (the parameters must be the same). A NaN/inf loss or any other failure marks
    the run ``failed`` in results.json, with the error, and re-raises.
    """
    folder = Path(out_dir)
    resuming = prepare_run_folder(cfg, folder, resume)
    device = pick_device(cfg.device)
    results: dict[str, Any] = {
        "status": "running",
        "params": cfg.to_flat(),
        "environment": collect_environment(device),
        "error": None,
    }
    write_json(folder / RESULTS, results)
    try:
        return _fit(cfg, folder, resuming, device, results, progress)
    except BaseException as err:
        results.update(status="failed", error=f"{type(err).__name__}: {err}")
        if isinstance(err, KeyboardInterrupt):
            results["status"] = "interrupted"
        write_json(folder / RESULTS, results)
        raise


def _fit(cfg, folder, resuming, device, results, progress) -> dict[str, Any]:
    seed_everything(cfg.seed, cfg.deterministic)
    manifest = pd.read_csv(folder / SPLIT) if resuming else None
    data = load_split_data(cfg, manifest)
    if not resuming:
        data.manifest.to_csv(folder / SPLIT, index=False)
    if data.excluded is not None and not resuming:
        data.excluded.to_csv(folder / EXCLUDED, index=False)
    train_set = make_table(data, "train", build_train_transform(cfg), cfg, progress)
    val_set = make_table(data, "val", build_eval_transform(cfg), cfg, progress)
    test_set = make_table(data, "test", build_eval_transform(cfg), cfg, progress)
    skipped = [row for table in (train_set, val_set, test_set) for row in table.skipped]
    pd.DataFrame(skipped, columns=["path", "error"]).to_csv(folder / SKIPPED, index=False)

    # num_classes=0 means "the dataset's": the network gets the resolved count.
    cfg = cfg.replace(num_classes=len(data.class_names)) if not cfg.num_classes else cfg
    model = build_model(cfg)
    implementation = implementation_of(cfg.arch, cfg.impl)
    results["model"] = {
        "arch": cfg.arch,
        "implementation": implementation,
        "parameters": count_parameters(model),
        "trainable_parameters": count_parameters(model, trainable_only=True),
    }
    results["dataset"] = {
        "name": data.name,
        "synthetic": data.synthetic,
        "class_names": list(data.class_names),
        "notes": list(data.notes),
        "excluded_by_loader": 0 if data.excluded is None else len(data.excluded),
        "skipped_unreadable": len(skipped),
        "counts": {
            split: data.class_counts().get(split, pd.Series(dtype=int)).to_dict()
            for split in ("train", "val", "test")
        },
    }
    model = to_device(model, device, cfg.channels_last)
    optimizer = make_optimizer(cfg, model)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    amp = autocast_dtype(device, cfg.precision)

    history: list[dict[str, float]] = []
    start_epoch = 1
    if resuming:
        state = load_checkpoint(folder / CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
    results["resumed_from_epoch"] = start_epoch - 1 if resuming else None
    write_json(folder / RESULTS, results)

    val_loader = make_loader(val_set, cfg, train=False)
    for epoch in range(start_epoch, cfg.epochs + 1):
        tic = time.perf_counter()
        seed_everything(cfg.seed * 100_003 + epoch, cfg.deterministic)
        lr = cfg.lr_at(epoch)
        set_lr(optimizer, lr)
        loader = make_loader(train_set, cfg, train=True, generator=epoch_generator(cfg, epoch))
        train = train_one_epoch(
            model, loader, optimizer, criterion, device, epoch, cfg.channels_last, amp, progress
        )
        val = (
            evaluate(
                model,
                val_loader,
                criterion,
                device,
                cfg.channels_last,
                amp,
                desc=f"epoch {epoch} val",
            )
            if len(val_set)
            else None
        )
        val_report = (
            classification_report(
                val["targets"], val["predictions"], data.class_names, with_intervals=False
            )
            if val
            else None
        )
        history.append(
            {
                "epoch": epoch,
                "lr": lr,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "val_loss": val["loss"] if val else None,
                "val_accuracy": val["accuracy"] if val else None,
                "val_balanced_accuracy": val_report["balanced_accuracy"] if val_report else None,
                "val_macro_f1": val_report["macro_f1"] if val_report else None,
                "epoch_seconds": time.perf_counter() - tic,
                "train_images_per_s": train["images_per_s"],
            }
        )
        save_checkpoint(
            folder / CHECKPOINT,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "history": history,
                "config": cfg.to_flat(),
                "class_names": list(data.class_names),
            },
        )
        write_history(folder / METRICS, history)
        if progress:
            print(_epoch_line(history[-1], cfg.epochs), flush=True)

    final: dict[str, Any] = {}
    for split, table in (("val", val_set), ("test", test_set)):
        if not len(table):
            continue
        result = evaluate(
            model,
            make_loader(table, cfg, train=False),
            criterion,
            device,
            cfg.channels_last,
            amp,
            progress=progress,
            desc=f"final {split}",
        )
        final[split] = classification_report(
            result["targets"], result["predictions"], data.class_names, seed=cfg.seed
        )
        final[split]["loss"] = result["loss"]
        _save_predictions(
            folder / f"predictions_{split}.csv", table.paths, result, data.class_names
        )
    results.update(
        status="complete",
        epochs_completed=cfg.epochs,
        train_seconds=sum(row["epoch_seconds"] for row in history),
        final=final,
    )
    write_json(folder / RESULTS, results)
    return results


def _epoch_line(row: dict[str, float], epochs: int) -> str:
    val = (
        f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}"
        if row["val_loss"] is not None
        else ""
    )
    return (
        f"epoch {row['epoch']}/{epochs} lr {row['lr']:.2e} train_loss {row['train_loss']:.4f} "
        f"train_acc {row['train_accuracy']:.4f}{val} ({row['epoch_seconds']:.1f} s, "
        f"{row['train_images_per_s']:.1f} img/s)"
    )
