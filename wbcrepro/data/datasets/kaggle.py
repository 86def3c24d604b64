"""The Kaggle "Blood Cell Images" set (Mooney; made by dhruvp/wbc-classification).

``images/TRAIN``, ``images/TEST`` and ``images/TEST_SIMPLE``, each with EOSINOPHIL / LYMPHOCYTE /
MONOCYTE / NEUTROPHIL folders of 320x240 JPEGs. TRAIN and TEST are ~2,500 / ~620 augmented copies
per class of 281 / 71 *disjoint* BCCD source smears, so the published TRAIN/TEST split is kept as
is; TEST_SIMPLE (the 71 test sources once each, un-augmented) is its own dataset,
``kaggle-bloodcells-simple``, for evaluation. The file names carry no source id, so a validation
set carved out of TRAIN shares sources with the training images: use it to watch training, not to
select models (the run notes say so).
"""

from __future__ import annotations

from pathlib import Path

from wbcrepro.data.datasets.bccd import BCCD_DOWNLOADS, LABELS_FOLDER
from wbcrepro.data.datasets.common import (
    FIVE_CLASS_TO_PAPER,
    excluded_frame,
    image_folder,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, register

CLASSES = ("neutrophil", "eosinophil", "monocyte", "lymphocyte")
IMAGES = Path(LABELS_FOLDER) / "images"
PARTS = {"TRAIN": "train", "TEST": "test", "TEST_SIMPLE": None}
VAL_NOTE = (
    "Kaggle file names carry no source id: a validation set carved from TRAIN shares source "
    "smears with the training images (watch training with it; the TEST split is source-disjoint)"
)


def _class_of(folder: str) -> str | None:
    label = normalise_label(folder)
    return label if label in CLASSES else None


def _read_parts(root: Path, parts: dict[str, str | None]) -> tuple[list[dict], list]:
    rows, excluded = [], []
    for part, split in parts.items():
        folder = root / IMAGES / part
        if not folder.is_dir():
            raise DatasetError(f"Kaggle blood-cell folder not found: {folder}")
        got, skipped = image_folder(
            folder,
            _class_of,
            group_of=lambda p, part=part: f"kaggle-{part}-{p.parent.name}-{p.stem}",
            split=split,
        )
        rows += got
        excluded += skipped
    return rows, excluded


def load_kaggle(root: Path) -> Loaded:
    rows, excluded = _read_parts(root, {"TRAIN": "train", "TEST": "test"})
    excluded.append(
        (
            str(root / IMAGES / "TEST_SIMPLE"),
            "the 71 test sources once each; load it as kaggle-bloodcells-simple",
        )
    )
    return Loaded(manifest_frame(rows), CLASSES, excluded_frame(excluded), (VAL_NOTE,))


def load_kaggle_simple(root: Path) -> Loaded:
    rows, excluded = _read_parts(root, {"TEST_SIMPLE": None})
    for row in rows:
        row.pop("split", None)
    return Loaded(manifest_frame(rows), CLASSES, excluded_frame(excluded))


COMMON = dict(
    classes=CLASSES,
    to_paper=FIVE_CLASS_TO_PAPER,
    citation="P. Mooney, 'Blood Cell Images' (Kaggle, 2018), built by dhruvp/wbc-classification "
    "from BCCD (Shenggan 2017)",
    licence="none stated (images derive from BCCD, MIT)",
    source="https://github.com/dhruvp/wbc-classification (images/), also on Kaggle as "
    "paultimothymooney/blood-cells (dataset2-master)",
    folder=str(IMAGES),
    downloads=BCCD_DOWNLOADS[1:],
    whole_frames=True,
)

register(
    DatasetSpec(
        name="kaggle-bloodcells",
        loader=load_kaggle,
        description="4 classes; ~12,400 augmented copies of ~352 BCCD smears (whole smears resized "
        "to 320x240); published TRAIN/TEST are source-disjoint.",
        official_split="TRAIN -> train, TEST -> test (source-disjoint as published)",
        groups_are_sources=False,
        **COMMON,
    )
)
register(
    DatasetSpec(
        name="kaggle-bloodcells-simple",
        loader=load_kaggle_simple,
        description="TEST_SIMPLE: the 71 test source smears once each, un-augmented (evaluation).",
        official_split="evaluation only",
        **COMMON,
    )
)
