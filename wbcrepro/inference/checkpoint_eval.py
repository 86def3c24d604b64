"""Using a trained checkpoint: evaluate it on a split (predicting new images:
:mod:`wbcrepro.inference.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import load_split_data, make_loader, make_table
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.model.networks import build_network, to_device
from wbcrepro.paths import cache_root, data_root
from wbcrepro.runfolder import SPLIT
from wbcrepro.training.engine import autocast_dtype, evaluate, pick_device
from wbcrepro.training.metrics import classification_report
from wbcrepro.training.run_files import load_checkpoint, read_split, selected_model_file


def load_trained(checkpoint: str | Path, overrides: dict[str, Any] | None = None):
    """(config, class names, model on its device) from a run checkpoint; a run folder means its
    selected model (``best.pt`` where validation selected an epoch, else ``checkpoint.pt``)."""
    state = load_checkpoint(selected_model_file(checkpoint))
    cfg = TrainConfig.from_flat({**state["config"], **(overrides or {})})
    # The checkpoint holds every weight: build the bare network, never download anything.
    model = build_network(cfg.arch, cfg.impl, len(state["class_names"]), cfg.dropout)
    model.load_state_dict(state["model"])
    device = pick_device(cfg.device)
    return cfg, tuple(state["class_names"]), to_device(model, device, cfg.channels_last), device


def evaluate_checkpoint(
    checkpoint: str | Path, split: str = "test", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The full metrics report of a checkpoint on one split of its dataset.

    The split is the run folder's ``split.csv`` when it is beside the checkpoint (the split the
    run was trained with); otherwise it is recomputed from the config.
    """
    cfg, class_names, model, device = load_trained(checkpoint, overrides)
    folder = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    roots = (data_root(cfg.data_root), cache_root())
    manifest = read_split(folder / SPLIT, *roots) if (folder / SPLIT).is_file() else None
    data = load_split_data(cfg, manifest)
    table = make_table(data, split, build_eval_transform(cfg), cfg)
    if not len(table):
        raise ValueError(f"split {split!r} of dataset {cfg.dataset!r} is empty")
    result = evaluate(
        model,
        make_loader(table, cfg, train=False),
        torch.nn.CrossEntropyLoss(),
        device,
        cfg.channels_last,
        autocast_dtype(device, cfg.precision),
    )
    report = classification_report(
        result["targets"], result["predictions"], class_names, seed=cfg.seed
    )
    report.update(loss=result["loss"], split=split, dataset=cfg.dataset, checkpoint=str(checkpoint))
    return report
