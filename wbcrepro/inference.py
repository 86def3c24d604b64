"""Using a trained checkpoint: evaluate it on a split, or predict new images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from wbcrepro.config import TrainConfig
from wbcrepro.data import (
    ImageTable,
    cache_side,
    list_images,
    load_split_data,
    make_loader,
    make_table,
)
from wbcrepro.engine import autocast_dtype, evaluate, pick_device
from wbcrepro.metrics import classification_report
from wbcrepro.models import build_network, to_device
from wbcrepro.run_io import load_checkpoint, selected_model_file
from wbcrepro.runfolder import SPLIT
from wbcrepro.transforms import build_eval_transform


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
    manifest = pd.read_csv(folder / SPLIT) if (folder / SPLIT).is_file() else None
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


def predict_paths(
    checkpoint: str | Path, inputs: Sequence[str | Path], batch_size: int = 32
) -> pd.DataFrame:
    """One row per image: path, predicted class and the probability of every class.

    Folders are searched recursively; an unreadable image raises an error naming it (nothing is
    skipped silently).
    """
    cfg, class_names, model, device = load_trained(checkpoint)
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(list_images(item))
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    # Decoded exactly as the run decoded its evaluation images (downscaled once to the cache
    # side), so a prediction here equals the run's prediction for the same file.
    table = ImageTable(
        [str(p) for p in paths],
        [0] * len(paths),
        build_eval_transform(cfg),
        cache_side(cfg) if cfg.cache_images else None,
    )
    loader = make_loader(table, cfg.replace(batch_size=batch_size, num_workers=0), train=False)
    result = evaluate(
        model, loader, None, device, cfg.channels_last, autocast_dtype(device, cfg.precision)
    )
    out = pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "predicted": [class_names[i] for i in result["predictions"]],
            "confidence": result["probabilities"].max(1),
        }
    )
    for i, name in enumerate(class_names):
        out[f"p_{name}"] = result["probabilities"][:, i]
    return out
