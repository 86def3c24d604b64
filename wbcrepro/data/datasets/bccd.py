"""BCCD (Shenggan/BCCD_Dataset) joined with the per-smear WBC subtype of dhruvp's labels.csv.

BCCD gives Pascal-VOC boxes (RBC / WBC / Platelets) over 364 whole 640x480 smears but no WBC
subtype; ``wbc-classification/labels.csv`` gives one subtype per smear number. A smear becomes one
sample when it has exactly one WBC box and exactly one label: the box (plus ``crop_margin``
pixels) is cut out and cached as a PNG under the cache folder (the data root may be read-only).
Every other smear is listed in ``excluded`` with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from wbcrepro.data.datasets.common import FIVE_CLASS_TO_PAPER, excluded_frame, normalise_label
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Download, Loaded, register
from wbcrepro.data.images import read_image
from wbcrepro.paths import cache_root

BCCD_FOLDER = "BCCD_Dataset"
LABELS_FOLDER = "wbc-classification"
VOC = Path(BCCD_FOLDER) / "BCCD"
CLASSES = ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
CROP_VERSION = 1


def smear_id(number: int) -> str:
    """The BCCD file stem of a labels.csv image number (the group of every derived image)."""
    return f"BloodImage_{number:05d}"


def wbc_boxes(xml_path: Path) -> list[tuple[int, int, int, int]]:
    """The WBC boxes (xmin, ymin, xmax, ymax) of one VOC annotation file."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        raise DatasetError(f"cannot parse annotation {xml_path}: {err}") from err
    boxes = []
    for obj in root.iter("object"):
        if (obj.findtext("name") or "").strip().upper() != "WBC":
            continue
        box = obj.find("bndbox")
        if box is None:
            raise DatasetError(f"{xml_path}: a WBC object has no bndbox")
        boxes.append(tuple(int(float(box.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")))
    return boxes


def read_labels(path: Path) -> dict[int, str]:
    """labels.csv (columns ``,Image,Category``) as {image number: raw category text}."""
    if not path.is_file():
        raise DatasetError(f"labels file not found: {path}")
    table = pd.read_csv(path, dtype={"Category": str}, keep_default_na=False)
    if not {"Image", "Category"} <= set(table.columns):
        raise DatasetError(f"{path} lacks the columns Image and Category")
    return {int(n): c.strip() for n, c in zip(table["Image"], table["Category"], strict=True)}


def select_smears(
    labels: dict[int, str], annotations: Path, images: Path
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Smears with exactly one WBC box and one label, and the reason for every other one."""
    chosen: list[dict] = []
    excluded: list[tuple[str, str]] = []
    for number, category in sorted(labels.items()):
        stem = smear_id(number)
        xml, jpg = annotations / f"{stem}.xml", images / f"{stem}.jpg"
        if not category:
            excluded.append((stem, "empty label in labels.csv"))
            continue
        if "," in category:
            excluded.append((stem, f"label names several cells: {category}"))
            continue
        label = normalise_label(category)
        if label not in CLASSES:
            raise DatasetError(f"labels.csv: unknown category {category!r} for image {number}")
        if not xml.is_file() or not jpg.is_file():
            excluded.append((stem, "labelled, but no image/annotation in BCCD_Dataset"))
            continue
        boxes = wbc_boxes(xml)
        if len(boxes) != 1:
            excluded.append((stem, "no WBC box" if not boxes else f"{len(boxes)} WBC boxes"))
            continue
        chosen.append({"stem": stem, "label": label, "box": boxes[0], "image": jpg})
    labelled = {smear_id(n) for n in labels}
    for xml in sorted(annotations.glob("BloodImage_*.xml")):
        if xml.stem not in labelled:
            excluded.append((xml.stem, "no row in labels.csv"))
    return chosen, excluded


def _crop_folder(margin: int) -> Path:
    return cache_root() / "bccd" / f"crops-margin{margin}"


def write_crops(chosen: list[dict], margin: int) -> Path:
    """Cut each chosen WBC box (+ margin, clipped to the smear) once, atomically, into the cache."""
    folder = _crop_folder(margin)
    marker = folder / "crops.json"
    # Everything a crop depends on: a new data root, a corrected box or a replaced smear redoes it.
    wanted = {
        "version": CROP_VERSION,
        "margin": margin,
        "items": [
            [
                c["stem"],
                list(c["box"]),
                str(Path(c["image"]).resolve()),
                Path(c["image"]).stat().st_size,
                Path(c["image"]).stat().st_mtime_ns,
            ]
            for c in chosen
        ],
    }
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for item in chosen:
            smear = read_image(item["image"])
            xmin, ymin, xmax, ymax = item["box"]
            box = (
                max(0, xmin - margin),
                max(0, ymin - margin),
                min(smear.width, xmax + margin),
                min(smear.height, ymax + margin),
            )
            smear.crop(box).save(tmp / f"{item['stem']}.png")
        (tmp / "crops.json").write_text(json.dumps(wanted))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def smear_files(root: Path) -> list[Path]:
    """Every whole smear JPEG of BCCD, also those that give no crop (for the leakage audit,
    which compares whole smears with the Kaggle images made from them)."""
    folder = root / VOC / "JPEGImages"
    smears = sorted(folder.glob("*.jpg"))
    if not smears:
        raise DatasetError(f"no BCCD smear (*.jpg) in {folder}")
    return smears


def load_bccd(root: Path, *, crop_margin: int) -> Loaded:
    voc = root / VOC
    for needed in (voc / "Annotations", voc / "JPEGImages"):
        if not needed.is_dir():
            raise DatasetError(f"BCCD folder not found: {needed}")
    labels = read_labels(root / LABELS_FOLDER / "labels.csv")
    chosen, excluded = select_smears(labels, voc / "Annotations", voc / "JPEGImages")
    folder = write_crops(chosen, crop_margin)
    manifest = pd.DataFrame(
        {"path": str(folder / f"{c['stem']}.png"), "label": c["label"], "group": c["stem"]}
        for c in chosen
    )
    notes = (
        f"one crop per smear with exactly one WBC box and one label (margin {crop_margin} px); "
        f"{len(excluded)} smears excluded, listed with reasons",
    )
    return Loaded(manifest, CLASSES, excluded_frame(excluded), notes)


def _github_zip(repo: str, commit: str, folder: str) -> Download:
    return Download(
        f"https://github.com/{repo}/archive/{commit}.zip",
        f"{folder}-{commit[:7]}.zip",
        None,
        folder,
    )


BCCD_DOWNLOADS = (
    _github_zip("Shenggan/BCCD_Dataset", "d272fb14cdff6e473fafeeeba32aba5f560e9e43", BCCD_FOLDER),
    _github_zip(
        "dhruvp/wbc-classification", "0b22eb2084b1004d464fb5ab87adc85ab94b2079", LABELS_FOLDER
    ),
)

register(
    DatasetSpec(
        name="bccd",
        classes=CLASSES,
        to_paper=FIVE_CLASS_TO_PAPER,
        citation="BCCD Dataset (Shenggan, 2017, github.com/Shenggan/BCCD_Dataset); WBC subtypes "
        "from dhruvp/wbc-classification labels.csv",
        licence="MIT (BCCD); labels: none stated",
        source="https://github.com/Shenggan/BCCD_Dataset + https://github.com/dhruvp/wbc-classification",
        folder=BCCD_FOLDER,
        required=(
            "BCCD_Dataset/BCCD/Annotations",
            "BCCD_Dataset/BCCD/JPEGImages",
            "wbc-classification/labels.csv",
        ),
        loader=load_bccd,
        options=("crop_margin",),
        description="Single-WBC crops cut from the 640x480 BCCD smears by their VOC boxes, "
        "labelled by smear; grouped by source smear.",
        downloads=BCCD_DOWNLOADS,
        official_split="none (the VOC ImageSets split is for detection); split by smear",
    )
)
