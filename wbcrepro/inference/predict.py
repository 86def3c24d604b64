"""Class predictions for image files and folders, for ``wbcrepro predict``.

Real folders hold files that are not images although they are named like one (PBC ships a macOS
``.DS_Store`` renamed ``neutrophil/.DS_169665.jpg``), and truncated downloads. One such file must
not cost the user the other thousands of predictions, nor vanish without a word: unreadable files
are skipped and returned with their error, for the caller to list (and to fail the exit status).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from wbcrepro.data.images import IMAGE_SUFFIXES, ImageReadError, decode_resized
from wbcrepro.data.loading import CACHE_UPSCALE
from wbcrepro.fileio import atomic_write
from wbcrepro.inference.shipped import Predictor

SKIPPED_COLUMNS = ["path", "error"]


class NoImagesError(ValueError):
    """The inputs name no image file (a usage error: nothing to predict)."""


def parse_extensions(text: str | None) -> tuple[str, ...]:
    """``".jpg,PNG"`` -> ``(".jpg", ".png")``; ``None`` -> every image type the package reads."""
    if text is None:
        return IMAGE_SUFFIXES
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items:
        raise NoImagesError(f"--extensions {text!r} names no file suffix")
    return tuple(dict.fromkeys(item if item.startswith(".") else f".{item}" for item in items))


def collect_images(inputs: Sequence[str | Path], extensions: Sequence[str]) -> list[Path]:
    """The files to predict: named files as they are, folders searched recursively for
    ``extensions`` (case-insensitive), in order, each file once.

    A named path that does not exist raises naming it; no file at all raises
    :class:`NoImagesError`.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(
                sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            )
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    if not found:
        raise NoImagesError(
            f"no images ({', '.join(extensions)}) in {', '.join(map(str, inputs))}; "
            "choose the file types with --extensions"
        )
    return list(dict.fromkeys(found))


def decode_side(metadata: dict) -> int | None:
    """The shorter side the source run decoded its images to before the transform (its image
    cache; see :func:`wbcrepro.data.loading.cache_side`), or None when it read them at full size.
    Decoding the same way makes a prediction here equal the run's own for the same file."""
    params = (metadata.get("source") or {}).get("params") or {}
    if not params.get("cache_images", True) or not metadata.get("pre_crop_size"):
        return None
    return math.ceil(metadata["pre_crop_size"] * CACHE_UPSCALE)


class _Files(Dataset):
    """Image files -> (index, tensor or None, error or None): a bad file is data, not a crash."""

    def __init__(self, paths: Sequence[Path], transform, side: int | None = None) -> None:
        self.paths = list(paths)
        self.transform = transform
        self.side = side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return index, self.transform(decode_resized(self.paths[index], self.side)), None
        except ImageReadError as err:
            return index, None, str(err)


def _collate(items):
    good = [(index, image) for index, image, error in items if error is None]
    bad = [(index, error) for index, _, error in items if error is not None]
    images = torch.stack([image for _, image in good]) if good else None
    return [index for index, _ in good], images, bad


@dataclass(frozen=True)
class Predictions:
    table: pd.DataFrame
    """``path, predicted, confidence, p_<class>...``: one row per image read."""
    skipped: pd.DataFrame
    """``path, error``: every file that could not be read as an image."""


@torch.inference_mode()
def predict_images(
    predictor: Predictor,
    paths: Sequence[str | Path],
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = False,
) -> Predictions:
    """Predict every readable file of ``paths`` (in their order); unreadable ones are skipped."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    paths = [Path(p) for p in paths]
    model, class_names = predictor.model, predictor.class_names
    device = next(model.parameters()).device
    loader = DataLoader(
        _Files(paths, predictor.transform, decode_side(predictor.metadata)),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate,
    )
    model.eval()
    kept: list[int] = []
    probabilities: list[torch.Tensor] = []
    skipped: list[tuple[str, str]] = []
    for indices, images, bad in tqdm(loader, desc="predict", disable=not progress, leave=False):
        skipped += [(str(paths[i]), error) for i, error in bad]
        if images is None:
            continue
        probabilities.append(model(images.to(device)).float().softmax(1).cpu())
        kept += indices
    probs = torch.cat(probabilities).numpy() if probabilities else torch.zeros(0, len(class_names))
    table = pd.DataFrame(
        {
            "path": [str(paths[i]) for i in kept],
            "predicted": [class_names[i] for i in probs.argmax(1)] if len(kept) else [],
            "confidence": probs.max(1).round(6) if len(kept) else [],
        }
    )
    for i, name in enumerate(class_names):
        table[f"p_{name}"] = probs[:, i].round(6) if len(kept) else []
    return Predictions(table, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS))


def skipped_csv_path(csv_path: str | Path) -> Path:
    """``out/preds.csv`` -> ``out/preds.skipped.csv`` (the unreadable files of that prediction)."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.skipped.csv")


def write_predictions(result: Predictions, csv_path: str | Path) -> Path:
    """Write the predictions CSV and, always, its ``.skipped.csv`` sibling (header only when
    nothing was skipped, so a stale list from an earlier call never survives); returns the
    sibling's path."""
    atomic_write(csv_path, lambda tmp: result.table.to_csv(tmp, index=False))
    skipped_path = skipped_csv_path(csv_path)
    atomic_write(skipped_path, lambda tmp: result.skipped.to_csv(tmp, index=False))
    return skipped_path
