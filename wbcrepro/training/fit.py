"""``fit``: one training run written into one self-describing run folder (timm style).

A run folder holds (names in :mod:`wbcrepro.runfolder`, readers and writers in
:mod:`wbcrepro.training.run_files`)::

    params.json     the resolved config (rebuilds the run: TrainConfig.from_flat)
    split.csv       the manifest with its train/val/test split (re-read on resume)
    excluded.csv    what the dataset loader left out, with reasons
    skipped.csv     unreadable images skipped (only with skip_bad_files=true; else they stop)
    metrics.csv     one row per finished epoch
    checkpoint.pt   model + optimizer + history of the last epoch, replaced atomically
    best.pt         the epoch selected on validation (only when validation may select)
    results.json    status, parameters, environment, code hash, dataset counts, selection,
                    final metrics of the selected model, baselines and the learning gate
    predictions_<split>.csv   per-image predictions of the selected model

Every epoch's randomness (shuffling, augmentation, dropout) is seeded from ``(seed, epoch)``, and
the evaluation steps (BatchNorm recalibration, baselines) draw no random number from the global
generators, so a run resumed from the checkpoint of epoch k continues exactly as the
uninterrupted run would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from wbcrepro.codehash import training_code_hash
from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import load_split_data, make_loader, make_table
from wbcrepro.data.transforms import (
    build_eval_transform,
    build_train_transform,
    resolve_eval_geometry,
)
from wbcrepro.environment import collect_environment
from wbcrepro.metrics import classification_report
from wbcrepro.model.batchnorm import describe_bn, effective_bn_mode, set_bn_momentum
from wbcrepro.model.networks import build_model, count_parameters, implementation_of, to_device
from wbcrepro.paths import cache_root, data_root
from wbcrepro.runfolder import (
    BEST,
    CHECKPOINT,
    EXCLUDED,
    METRICS,
    SKIPPED,
    SPLIT,
    RunFolderError,
    RunResults,
)
from wbcrepro.training.baselines import compute_baselines
from wbcrepro.training.engine import autocast_dtype, pick_device, seed_everything, train_one_epoch
from wbcrepro.training.evaluation import Evaluator, adapted_test, final_evaluation
from wbcrepro.training.gate import learning_gate
from wbcrepro.training.run_files import (
    load_checkpoint,
    prepare_run_folder,
    read_split,
    save_best,
    save_checkpoint,
    write_history,
    write_results,
    write_split,
)
from wbcrepro.training.selection import BestEpoch, selection_policy, selection_record


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
    results: RunResults = {
        "status": "running",
        "params": cfg.to_flat(),
        "environment": collect_environment(device),
        "training_code_hash": training_code_hash(),
        "error": None,
    }
    write_results(folder, results)
    try:
        return _fit(cfg, folder, resuming, device, results, progress)
    except BaseException as err:
        results.update(status="failed", error=f"{type(err).__name__}: {err}")
        if isinstance(err, KeyboardInterrupt):
            results["status"] = "interrupted"
        write_results(folder, results)
        raise


def _fit(cfg, folder, resuming, device, results, progress) -> dict[str, Any]:
    seed_everything(cfg.seed, cfg.deterministic)
    roots = (data_root(cfg.data_root), cache_root())
    manifest = read_split(folder / SPLIT, *roots) if resuming else None
    data = load_split_data(cfg, manifest)
    if not resuming:
        write_split(folder / SPLIT, data.manifest, *roots)
    if data.excluded is not None and not resuming:
        data.excluded.to_csv(folder / EXCLUDED, index=False)
    eval_transform = build_eval_transform(cfg)
    train_set = make_table(data, "train", build_train_transform(cfg), cfg, progress)
    # Progressive resizing: the same decoded images under the pipeline scaled to the early size.
    early_set = (
        train_set.with_transform(build_train_transform(cfg, cfg.early_img_size))
        if cfg.early_epochs
        else train_set
    )
    val_set = make_table(data, "val", eval_transform, cfg, progress)
    test_set = make_table(data, "test", eval_transform, cfg, progress)
    skipped = [row for table in (train_set, val_set, test_set) for row in table.skipped]
    pd.DataFrame(skipped, columns=["path", "error"]).to_csv(folder / SKIPPED, index=False)

    # num_classes=0 means "the dataset's": the network gets the resolved count.
    cfg = cfg.replace(num_classes=len(data.class_names)) if not cfg.num_classes else cfg
    model = build_model(cfg)
    if effective_bn_mode(cfg) == "momentum":
        set_bn_momentum(model, cfg.bn_momentum)
    results["model"] = {
        "arch": cfg.arch,
        "implementation": implementation_of(cfg.arch, cfg.impl),
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
        "val_source_disjoint": data.val_source_disjoint,
        "counts": {
            split: data.class_counts().get(split, pd.Series(dtype=int)).to_dict()
            for split in ("train", "val", "test")
        },
    }
    results["eval_geometry"] = resolve_eval_geometry(cfg)
    results["batchnorm"] = describe_bn(cfg)
    model = to_device(model, device, cfg.channels_last)
    optimizer = make_optimizer(cfg, model)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    amp = autocast_dtype(device, cfg.precision)
    train_eval = train_set.with_transform(eval_transform)
    evaluator = Evaluator(cfg, model, device, criterion, train_eval, data.class_names)
    metric, no_selection_reason = selection_policy(
        cfg, len(val_set) > 0, data.val_source_disjoint, data.name
    )

    history: list[dict[str, float]] = []
    start_epoch = 1
    if resuming:
        state = load_checkpoint(folder / CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
    best = BestEpoch.replay(metric, history) if metric else None
    if resuming and best is not None:
        _check_best_file(folder, best, state, cfg, data.class_names)
    results["resumed_from_epoch"] = start_epoch - 1 if resuming else None
    write_results(folder, results)

    for epoch in range(start_epoch, cfg.epochs + 1):
        tic = time.perf_counter()
        seed_everything(cfg.seed * 100_003 + epoch, cfg.deterministic)
        lr = cfg.lr_at(epoch)
        set_lr(optimizer, lr)
        epoch_set = early_set if cfg.train_size_at(epoch) != cfg.img_size else train_set
        loader = make_loader(epoch_set, cfg, train=True, generator=epoch_generator(cfg, epoch))
        train = train_one_epoch(
            model, loader, optimizer, criterion, device, epoch, cfg.channels_last, amp, progress
        )
        val_report = None
        if len(val_set) and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
            evaluator.calibrate()
            val = evaluator.evaluate(val_set, desc=f"epoch {epoch} val")
            val_report = classification_report(
                val["targets"], val["predictions"], data.class_names, with_intervals=False
            )
            val_report["loss"] = val["loss"]
        history.append(
            {
                "epoch": epoch,
                "lr": lr,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "val_loss": val_report["loss"] if val_report else None,
                "val_accuracy": val_report["accuracy"] if val_report else None,
                "val_balanced_accuracy": val_report["balanced_accuracy"] if val_report else None,
                "val_macro_f1": val_report["macro_f1"] if val_report else None,
                "epoch_seconds": time.perf_counter() - tic,
                "train_images_per_s": train["images_per_s"],
                "train_img_size": cfg.train_size_at(epoch),
            }
        )
        # The checkpoint first, best.pt second: a kill in between is repaired on resume from the
        # checkpoint, which holds the same weights (see _check_best_file).
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
        improved = best is not None and best.update(history[-1])
        if improved:
            save_best(
                folder / BEST,
                model.state_dict(),
                epoch,
                best.metric,
                best.value,
                cfg,
                data.class_names,
            )
        write_history(folder / METRICS, history)
        if progress:
            print(_epoch_line(history[-1], cfg.epochs, improved), flush=True)

    selection = selection_record(metric, no_selection_reason, best, cfg.epochs)
    final = final_evaluation(
        evaluator, folder, selection["selected_epoch"], cfg.epochs, val_set, test_set, progress
    )
    if cfg.test_adapt_bn and len(test_set):
        final["test_adapted_bn"] = adapted_test(evaluator, test_set, progress)
    baselines = compute_baselines(cfg, train_eval, test_set, data.class_names, device)
    results.update(
        status="complete",
        epochs_completed=cfg.epochs,
        train_seconds=sum(row["epoch_seconds"] for row in history),
        selection=selection,
        final=final,
        baselines=baselines,
        gate=learning_gate(final.get("test")),
    )
    write_results(folder, results)
    return results


def _check_best_file(folder: Path, best: BestEpoch, state: dict, cfg, class_names) -> None:
    """On resume, best.pt must hold the best epoch of the replayed history. A run killed between
    writing the checkpoint and best.pt of the same epoch is repaired from the checkpoint."""
    if best.epoch is None:
        return
    saved = load_checkpoint(folder / BEST)["epoch"] if (folder / BEST).is_file() else None
    if saved == best.epoch:
        return
    if best.epoch == state["epoch"]:
        save_best(
            folder / BEST, state["model"], best.epoch, best.metric, best.value, cfg, class_names
        )
        return
    raise RunFolderError(
        f"cannot resume {folder}: {BEST} holds epoch {saved}, but the history's best "
        f"validation {best.metric} is epoch {best.epoch}"
    )


def _epoch_line(row: dict[str, float], epochs: int, improved: bool = False) -> str:
    val = (
        f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}"
        f"{' (best)' if improved else ''}"
        if row["val_loss"] is not None
        else ""
    )
    return (
        f"epoch {row['epoch']}/{epochs} lr {row['lr']:.2e} train_loss {row['train_loss']:.4f} "
        f"train_acc {row['train_accuracy']:.4f}{val} ({row['epoch_seconds']:.1f} s, "
        f"{row['train_images_per_s']:.1f} img/s)"
    )
