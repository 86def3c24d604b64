"""Zheng et al. 2018 (zxaoyou/segmentation_WBC): "Dataset 1" (Jiangxi Tecom, 300 images of
120x120) and "Dataset 2" (CellaVision blog, 100 images of 300x300).

Upstream layout: ``Dataset N/NNN.bmp`` images, ``Dataset N/NNN.png`` expert segmentation masks,
and ``Class Labels of Dataset N.csv`` (``image ID,class label``; 1..5 = neutrophil, lymphocyte,
monocyte, eosinophil, basophil) beside the folders. The masks are never samples (listed as
excluded). The labels were partly added by the authors and not checked by experts (their README).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wbcrepro.data.datasets.common import FIVE_CLASS_TO_PAPER, excluded_frame, manifest_frame
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Download, Loaded, register

FOLDER = "segmentation_WBC"
CODES = {1: "neutrophil", 2: "lymphocyte", 3: "monocyte", 4: "eosinophil", 5: "basophil"}
CLASSES = ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".tif", ".tiff")  # .png files are the masks
LABEL_NOTE = (
    "labels partly added by the dataset's authors, not checked by experts (upstream README)"
)


def load_zheng_part(root: Path, part: int) -> Loaded:
    base = root / FOLDER
    folder = base / f"Dataset {part}"
    labels_csv = base / f"Class Labels of Dataset {part}.csv"
    if not folder.is_dir():
        raise DatasetError(f"Zheng 2018 folder not found: {folder}")
    if not labels_csv.is_file():
        raise DatasetError(f"Zheng 2018 label file not found: {labels_csv}")
    table = pd.read_csv(labels_csv)
    table.columns = [c.strip().lower() for c in table.columns]
    if not {"image id", "class label"} <= set(table.columns):
        raise DatasetError(f"{labels_csv}: expected columns 'image ID,class label'")
    images = {
        int(p.stem): p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem.isdigit()
    }
    rows, excluded = [], []
    for line, (image_id, code) in enumerate(
        zip(table["image id"], table["class label"], strict=True), start=2
    ):
        if int(code) not in CODES:
            raise DatasetError(f"{labels_csv} line {line}: unknown class label {code!r} (1..5)")
        path = images.pop(int(image_id), None)
        if path is None:
            raise DatasetError(
                f"{labels_csv} line {line}: image {int(image_id):03d} not found in {folder}"
            )
        rows.append(
            {
                "path": str(path),
                "label": CODES[int(code)],
                "group": f"zheng{part}-{int(image_id):03d}",
            }
        )
    excluded += [(str(p), "image without a class label") for p in sorted(images.values())]
    excluded += [(str(p), "segmentation mask") for p in sorted(folder.glob("*.png"))]
    return Loaded(manifest_frame(rows), CLASSES, excluded_frame(excluded), (LABEL_NOTE,))


COMMON = dict(
    classes=CLASSES,
    to_paper=FIVE_CLASS_TO_PAPER,
    citation="X. Zheng, Y. Wang, G. Wang, J. Liu, 'Fast and robust segmentation of white blood "
    "cell images by self-supervised learning', Micron 107:55-71 (2018), "
    "doi:10.1016/j.micron.2018.01.010",
    licence="GPL-3.0",
    source="https://github.com/zxaoyou/segmentation_WBC",
    folder=FOLDER,
    downloads=(
        Download(
            "https://github.com/zxaoyou/segmentation_WBC/archive/"
            "fa9c01622f52bccb9aeb8a6f2628f564e377767d.zip",
            "segmentation_WBC-fa9c016.zip",
            None,
            FOLDER,
        ),
    ),
    official_split="none; one group per image",
)
register(
    DatasetSpec(
        name="zheng2018",
        loader=lambda root: load_zheng_part(root, 1),
        required=("segmentation_WBC/Dataset 1", "segmentation_WBC/Class Labels of Dataset 1.csv"),
        description="Dataset 1 (Jiangxi Tecom): 300 single-cell 120x120 images, 5 classes.",
        **COMMON,
    )
)
register(
    DatasetSpec(
        name="zheng2018-d2",
        loader=lambda root: load_zheng_part(root, 2),
        required=("segmentation_WBC/Dataset 2", "segmentation_WBC/Class Labels of Dataset 2.csv"),
        description="Dataset 2 (CellaVision blog): 100 single-cell 300x300 images, 5 classes.",
        **COMMON,
    )
)
