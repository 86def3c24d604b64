"""apple2373/BCCD ``BCCD_cropped/<Class>/BloodImage_NNNNN_k.jpg``: single-WBC crops of BCCD made by
a nucleus localiser (used by the wbc-benchmark project). Grouped by source smear, so the crops of
one smear never straddle a split."""

from __future__ import annotations

import re
from pathlib import Path

from wbcrepro.data.datasets.common import (
    FIVE_CLASS_TO_PAPER,
    excluded_frame,
    image_folder,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetSpec, Download, Loaded, register

FOLDER = "apple2373-BCCD"
CLASSES = ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
SMEAR = re.compile(r"(BloodImage_\d{5})")


def smear_of(path: Path) -> str:
    match = SMEAR.search(path.stem)
    return match.group(1) if match else path.stem


def load_bccd_cropped(root: Path) -> Loaded:
    rows, excluded = image_folder(
        root / FOLDER / "BCCD_cropped",
        lambda name: normalise_label(name) if normalise_label(name) in CLASSES else None,
        group_of=smear_of,
    )
    return Loaded(manifest_frame(rows), CLASSES, excluded_frame(excluded))


register(
    DatasetSpec(
        name="bccd-cropped",
        classes=CLASSES,
        to_paper=FIVE_CLASS_TO_PAPER,
        citation="S. Tsutsui, apple2373/BCCD (cropped BCCD white cells), from BCCD (Shenggan 2017)",
        licence="none stated (derived from MIT sources)",
        source="https://github.com/apple2373/BCCD",
        folder=FOLDER,
        loader=load_bccd_cropped,
        description="Single-WBC crops of the BCCD smears by a nucleus localiser; same cells as "
        "bccd and kaggle-bloodcells (never train on one and test on another).",
        downloads=(
            Download(
                "https://github.com/apple2373/BCCD/archive/"
                "7751031e0b41bcfdff998cbc4c698a445a60b49e.zip",
                "apple2373-BCCD-7751031.zip",
                None,
                FOLDER,
            ),
        ),
        official_split="none; split by source smear",
    )
)
