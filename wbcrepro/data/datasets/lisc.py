"""LISC: Leukocyte Images for Segmentation and Classification (Rezatofighi & Soltanian-Zadeh 2011).

Layout assumed (the archive from the authors' page, unpacked under ``<data root>/LISC Database``)::

    LISC Database/
        Main Dataset/
            Baso/ 1.bmp 2.bmp ...          <- one folder per class (BMP, 720x576)
            eosi/ lymp/ mono/ neut/
            mixt/                          <- smears with several cell types: no single label
            Baso/areaforexpert1/1_expert.bmp   (in some copies the masks sit here)
        Ground Truth segmentation/         <- expert masks (areaforexpert1, areaforexpert2)
            Baso/areaforexpert1/ ...

The single-cell crops of ``lisc-crops`` (github.com/BTrDung/Using-CNNs-for-predicting-disease-via-
leukocyle-classification, ``original_data/original_data/``, unpacked as ``<data root>/LISC_crops``)
hold one 224x224 PNG per LISC cell, in the same five class folders under upstream names
(``Baoso/ eosi/ lymp/ mono/ neut/``, files ``0.png 1.png ...``); the one loader reads both layouts.
They are the same cells as ``lisc``: never train on one and test on the other.

Copies found on the web differ in details (folder case, "Baso" vs "Basophil", masks inside or
beside the class folders), so the loader is tolerant: it walks the whole tree, takes the class from
the deepest folder whose name starts like a class (``bas``, ``eos``, ``lym``, ``mon``, ``neu``,
case-insensitive), and treats anything under a folder (or with a file name) that names an expert
area, a ground truth or a mask as a segmentation mask, which is reported, never loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from wbcrepro.data.datasets.common import (
    FIVE_CLASS_TO_PAPER,
    excluded_frame,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, register
from wbcrepro.data.images import is_image

LISC_CLASSES = ("basophil", "eosinophil", "lymphocyte", "monocyte", "neutrophil")
_PREFIXES = {
    "bas": "basophil",
    "bao": "basophil",  # the crops' folder is spelt "Baoso" upstream
    "eos": "eosinophil",
    "lym": "lymphocyte",
    "mon": "monocyte",
    "neu": "neutrophil",
}
_MASK = re.compile(r"area_?for_?expert|expert|ground_?truth|mask|^gt$|segmentation")
_MIXED = re.compile(r"^mix")
MASK_REASON = "segmentation mask"
MIXED_REASON = "mixed smear (several cell types in one image; no single label)"


def lisc_class(folder_name: str) -> str | None:
    """'Baso', 'basophil', 'EOSI' -> the class; ``None`` for any other folder name."""
    name = normalise_label(folder_name)
    for prefix, label in _PREFIXES.items():
        if name.startswith(prefix):
            return label
    return None


def _is_mask(parts: tuple[str, ...]) -> bool:
    """A file under an expert/ground-truth/mask folder, or named like a mask."""
    return any(_MASK.search(normalise_label(p)) for p in parts)


def load_lisc(root: Path) -> Loaded:
    """The authors' archive: BMP smear images, masks and mixed smears listed as excluded."""
    return _load_tree(root / LISC.folder, "bmp")


def load_lisc_crops(root: Path) -> Loaded:
    """The single-cell PNG crops of the same cells."""
    return _load_tree(root / LISC_CROPS.folder, "png")


def _load_tree(folder: Path, expected: str) -> Loaded:
    rows: list[dict] = []
    excluded: list[tuple[str, str]] = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(folder).parts
        if any(p.startswith(".") or p == "__MACOSX" for p in rel):
            excluded.append((str(path), "hidden or system file"))
            continue
        if _is_mask(rel[:-1]) or _is_mask((Path(rel[-1]).stem,)):
            excluded.append((str(path), MASK_REASON))
            continue
        if not is_image(path):
            excluded.append((str(path), "not an image file"))
            continue
        if any(_MIXED.match(normalise_label(p)) for p in rel[:-1]):
            excluded.append((str(path), MIXED_REASON))
            continue
        labels = [lisc_class(p) for p in rel[:-1]]
        labels = [x for x in labels if x]
        if not labels:
            excluded.append((str(path), "not in a class folder"))
            continue
        label = labels[-1]
        # LISC numbers its images per class folder (Baso/1.bmp, eosi/1.bmp ...), so the bare stem
        # is not unique: the group is '<class>/<stem>', i.e. one group per image (one smear region).
        rows.append({"path": str(path), "label": label, "group": f"{label}/{path.stem}"})
    found = {r["label"] for r in rows}
    missing = [c for c in LISC_CLASSES if c not in found]
    if missing:
        raise DatasetError(
            f"LISC: no image of class(es) {', '.join(missing)} under {folder} (expected class "
            f"folders such as Baso, eosi, lymp, mono, neut holding .{expected} images)"
        )
    return Loaded(
        manifest_frame(rows),
        LISC_CLASSES,
        excluded_frame(excluded),
        notes=("LISC gives no patient id: groups are per image (one smear region each).",),
    )


LISC = register(
    DatasetSpec(
        name="lisc",
        classes=LISC_CLASSES,
        to_paper=dict(FIVE_CLASS_TO_PAPER),
        citation="Rezatofighi, S. H., & Soltanian-Zadeh, H. (2011). Automatic recognition of five "
        "types of white blood cells in peripheral blood. Computerized Medical Imaging and "
        "Graphics, 35(4), 333-343. doi:10.1016/j.compmedimag.2011.01.003",
        licence="no licence stated; free for research use with citation of the paper",
        source="http://users.cecs.anu.edu.au/~hrezatofighi/Data/Leukocyte%20Data.htm (download "
        "the LISC database by hand and unpack it as 'LISC Database/' under the data root)",
        folder="LISC Database",
        loader=load_lisc,
        description="LISC: ~250 BMP images (720x576) of peripheral-blood smears from 8 healthy "
        "subjects, Gismo-Right stain, 5 WBC classes labelled by a haematologist, with expert "
        "nucleus/cytoplasm masks (not loaded; listed as excluded). The 'mixt' images (several "
        "cell types) are excluded. No patient id: groups are per image.",
        official_split="none (random group split)",
    )
)


LISC_CROPS = register(
    DatasetSpec(
        name="lisc-crops",
        classes=LISC_CLASSES,
        to_paper=dict(FIVE_CLASS_TO_PAPER),
        citation=LISC.citation,
        licence="code MIT; LISC's own terms: free for research use with citation of the paper",
        source="github.com/BTrDung/Using-CNNs-for-predicting-disease-via-leukocyle-classification "
        "(folder original_data/original_data/, unpacked as 'LISC_crops/' under the data root)",
        folder="LISC_crops",
        loader=load_lisc_crops,
        description="LISC single-cell crops: 255 PNG images, 224x224, one centred leukocyte "
        "each (black padding where the cell sat near the smear image's edge), 5 classes. The "
        "same cells as 'lisc' (never train on one and test on the other). No patient id: "
        "groups are per image.",
        official_split="none (random group split, or k-fold cross-validation)",
    )
)
