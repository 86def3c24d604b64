"""``wbcrepro evaluate``: a trained model on one split of its dataset.

The model and its preprocessing come from :func:`wbcrepro.inference.loading.load_model` (the
run's selected model, checked against its records) and the probabilities from
:func:`~wbcrepro.inference.loading.class_probabilities`, the path ``wbcrepro predict``,
cross-domain evaluation and Grad-CAM take too: an image evaluated here gets the answer it gets
there. Only which images, and their labels, come from the run's data (its ``split.csv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import encode_labels, load_split_data
from wbcrepro.inference.loading import class_probabilities, load_model
from wbcrepro.metrics import classification_report
from wbcrepro.paths import cache_root, data_root
from wbcrepro.runfolder import SPLIT
from wbcrepro.training.run_files import read_split

MODEL_KEYS = (
    "arch",
    "impl",
    "img_size",
    "pre_crop_size",
    "dropout",
    "eval_geometry",
    "cache_images",
    "channels_last",
    "precision",
)
"""Config keys that describe the model, its preprocessing or its numerics: the stored model fixes
them (an override would be ignored by the shared path, so it is refused instead)."""


def evaluate_checkpoint(
    checkpoint: str | Path, split: str = "test", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The full metrics report of a run's model (a run folder, a checkpoint file, or a shipped
    file) on one split of its dataset.

    The split is the run folder's ``split.csv`` when it is beside the model (the split the run
    was trained with); otherwise it is recomputed from the config. ``overrides`` change where
    and how the data is read (``data_root=...``, ``batch_size=...``, ``device=...``), never the
    model or its preprocessing.
    """
    overrides = dict(overrides or {})
    fixed = sorted(set(overrides) & set(MODEL_KEYS))
    if fixed:
        raise ValueError(
            f"{', '.join(fixed)} describe the stored model and its preprocessing; evaluate "
            "cannot override them"
        )
    loaded = load_model(checkpoint, device=str(overrides.get("device", "auto")))
    cfg = TrainConfig.from_flat({**loaded.cfg.to_flat(), **overrides})
    folder = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    roots = (data_root(cfg.data_root), cache_root())
    manifest = read_split(folder / SPLIT, *roots) if (folder / SPLIT).is_file() else None
    data = load_split_data(cfg, manifest)
    if tuple(data.class_names) != loaded.class_names:
        raise ValueError(
            f"dataset {cfg.dataset!r} has classes {list(data.class_names)}, the model "
            f"{list(loaded.class_names)}; for another label set use cross-domain evaluation "
            "(wbcrepro.inference.crossdomain) or wbcrepro predict --label-space"
        )
    rows = data.rows(split)
    if not len(rows):
        raise ValueError(f"split {split!r} of dataset {cfg.dataset!r} is empty")
    result = class_probabilities(
        loaded,
        rows["path"].tolist(),
        batch_size=cfg.batch_size,
        skip_unreadable=cfg.skip_bad_files,  # as the run's own data path did
        desc=f"evaluate {split}",
    )
    labels = rows["label"].iloc[result.indices].tolist()
    targets = np.array(encode_labels(labels, data.class_names), dtype=np.int64)
    logits = torch.from_numpy(result.logits)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(targets)).item()
    report = classification_report(
        targets, result.probabilities.argmax(1), loaded.class_names, seed=cfg.seed
    )
    report.update(loss=loss, split=split, dataset=cfg.dataset, checkpoint=str(checkpoint))
    return report
