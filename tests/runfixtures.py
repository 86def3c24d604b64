"""Run folders and image files built directly (no training) for the shipped-model, prediction and
cross-domain tests: seconds instead of a training run, and weights the tests control."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from tests.conftest import TINY
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.config import TrainConfig
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.fileio import write_json
from wbcrepro.model.networks import build_network, head_prefix

CODE_HASH = "feedc0de12345678"
TEST_REPORT = {"n": 12, "correct": 9, "accuracy": 0.75, "accuracy_ci95": [0.47, 0.91]}


def spread_model(cfg: TrainConfig, n_classes: int, seed: int) -> torch.nn.Module:
    """A random network that tells images apart: BatchNorm statistics computed on a batch of
    images like the tests' (a fresh network's features are constant in eval mode) and a scaled
    head, so that different images get clearly different classes."""
    torch.manual_seed(seed)
    model = build_network(cfg.arch, cfg.impl, n_classes, cfg.dropout)
    transform = build_eval_transform(cfg)
    batch = torch.stack([transform(cell_image(1000 + i)) for i in range(32)])
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the forward passes below
    model.train()
    with torch.no_grad():
        model(batch)
        model.state_dict()[head_prefix(cfg.arch, cfg.impl) + "weight"].normal_(0, 0.02)
    return model.eval()


_TEMPLATES: dict[tuple, Path] = {}


def make_run_folder(
    folder: Path,
    arch: str = "efficientnet_b0",
    class_names: Sequence[str] = PAPER_CLASSES,
    dataset: str = "synthetic",
    best: bool = True,
) -> Path:
    """A complete-looking run folder: params.json, checkpoint.pt, results.json and (``best``) a
    best.pt whose weights differ from the checkpoint's (as a selected earlier epoch would).

    Each kind is built once per session and copied (building the networks takes seconds)."""
    key = (arch, tuple(class_names), dataset, best)
    if key not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="wbcrepro-run-")) / "run"
        _TEMPLATES[key] = _build_run_folder(template, *key)
    shutil.copytree(_TEMPLATES[key], folder)
    return folder


def _build_run_folder(
    folder: Path, arch: str, class_names: Sequence[str], dataset: str, best: bool
) -> Path:
    flat = {**TINY, "arch": arch, "dataset": dataset, "num_classes": 0}
    cfg = TrainConfig.from_flat(flat)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "params.json", cfg.to_flat())
    last = spread_model(cfg, len(class_names), seed=1)
    torch.save(
        {
            "model": last.state_dict(),
            "optimizer": {},
            "epoch": 3,
            "history": [],
            "config": cfg.to_flat(),
            "class_names": list(class_names),
        },
        folder / "checkpoint.pt",
    )
    if best:
        torch.save(
            {"model": spread_model(cfg, len(class_names), seed=2).state_dict(), "epoch": 2},
            folder / "best.pt",
        )
    write_json(
        folder / "results.json",
        {
            "status": "complete",
            "dataset": {
                "name": dataset,
                "synthetic": dataset == "synthetic",
                "class_names": list(class_names),
            },
            "final": {"test": TEST_REPORT},
            "selection": {"metric": "macro_f1", "selected_epoch": 2 if best else 3},
            "training_code_hash": CODE_HASH,
        },
    )
    return folder


def cell_image(seed: int, size: int = 48) -> Image.Image:
    """A small RGB image with a seeded colour cast and texture (images differ from each other)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=3)
    noise = rng.integers(-60, 60, size=(size, size, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(2000)
"""The first bytes of a macOS .DS_Store (PBC ships one renamed neutrophil/.DS_169665.jpg)."""


def truncated_jpeg(path: Path, seed: int = 99) -> Path:
    """A JPEG cut in half (an interrupted download)."""
    cell_image(seed, 64).save(path, format="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zheng_layout(root: Path, per_class: int = 2, size: int = 40) -> pd.DataFrame:
    """Zheng 2018 "Dataset 1" as published: ``segmentation_WBC/Dataset 1/NNN.bmp`` images,
    ``NNN.png`` masks and ``Class Labels of Dataset 1.csv`` (1..5 = neutrophil, lymphocyte,
    monocyte, eosinophil, basophil). Returns the labels written."""
    base = root / "segmentation_WBC"
    folder = base / "Dataset 1"
    folder.mkdir(parents=True)
    rows = []
    image_id = 1
    for code in range(1, 6):
        for _ in range(per_class):
            cell_image(image_id, size).save(folder / f"{image_id:03d}.bmp")
            Image.new("L", (size, size), 255).save(folder / f"{image_id:03d}.png")
            rows.append({"image ID": image_id, "class label": code})
            image_id += 1
    labels = pd.DataFrame(rows)
    labels.to_csv(base / "Class Labels of Dataset 1.csv", index=False)
    return labels
