"""Pieces shared by the loaders: label names, folder listings, exclusion tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from wbcrepro.data.datasets.registry import DatasetError
from wbcrepro.data.images import is_image

NEUTROPHIL_PAPER = ("segmented_neutrophil", "band_neutrophil")
"""A public 'neutrophil' label covers both of the paper's neutrophil classes."""

FIVE_CLASS_TO_PAPER: dict[str, tuple[str, ...]] = {
    "neutrophil": NEUTROPHIL_PAPER,
    "eosinophil": ("eosinophil",),
    "basophil": ("basophil",),
    "monocyte": ("monocyte",),
    "lymphocyte": ("lymphocyte",),
}


EIGHT_CLASSES: tuple[str, ...] = (
    "basophil",
    "eosinophil",
    "erythroblast",
    "ig",
    "lymphocyte",
    "monocyte",
    "neutrophil",
    "platelet",
)
"""PBC's 8 folder classes in BloodMNIST's label order (0..7); 'ig' = immature granulocytes."""

EIGHT_CLASS_TO_PAPER: dict[str, tuple[str, ...]] = {
    **FIVE_CLASS_TO_PAPER,
    "erythroblast": (),
    "ig": (),
    "platelet": (),
}
"""PBC's 8 folders (also BloodMNIST's labels): three of them are outside the paper's classes."""


def normalise_label(name: str) -> str:
    """'NEUTROPHIL', 'Band Neutrophil', 'band-neutrophil' -> 'neutrophil', 'band_neutrophil'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def excluded_frame(rows: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """The ``item, reason`` table of what a loader left out."""
    return pd.DataFrame(list(rows), columns=["item", "reason"])


def manifest_frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        frame = pd.DataFrame(columns=["path", "label", "group"])
    return frame


def image_folder(
    root: Path,
    class_of_folder: Callable[[str], str | None],
    group_of: Callable[[Path], str] = lambda p: p.stem,
    split: str | None = None,
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Rows for an ImageFolder tree ``root/<class folder>/<image>``.

    ``class_of_folder`` maps a folder name to a label, or ``None`` for a folder that is not a
    class (it is then reported, not read). Non-image files are reported too, so nothing under the
    tree disappears without a trace.
    """
    if not root.is_dir():
        raise DatasetError(f"folder not found: {root}")
    rows: list[dict] = []
    excluded: list[tuple[str, str]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = class_of_folder(folder.name)
        if label is None:
            excluded.append((str(folder), "folder is not one of the dataset's classes"))
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            if not is_image(path):
                excluded.append((str(path), "not an image file"))
                continue
            row = {"path": str(path), "label": label, "group": group_of(path)}
            if split is not None:
                row["split"] = split
            rows.append(row)
    return rows, excluded
