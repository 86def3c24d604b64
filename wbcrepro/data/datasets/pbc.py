"""PBC: normal peripheral blood cells from the Hospital Clinic of Barcelona (Acevedo et al. 2020).

Layout assumed (the Mendeley Data archive ``PBC_dataset_normal_DIB.zip``, unpacked under the data
root)::

    PBC_dataset_normal_DIB/
        basophil/ BA_100102.jpg ...      eosinophil/ EO_...      erythroblast/ ERB_...
        ig/ MY_... MMY_... PMY_... IG_...                         lymphocyte/ LY_...
        monocyte/ MO_...                 neutrophil/ SNE_... BNE_... NEUTROPHIL_...
        platelet/ PLATELET_...

17,092 JPEG images of 360x363 pixels. The file-name prefix names the subtype (SNE segmented and
BNE band neutrophil; MY, MMY, PMY myelocyte, metamyelocyte, promyelocyte), which makes PBC the one
public set with the paper's band/segmented distinction. Two datasets are registered:

* ``pbc8``: the 8 published folder classes;
* ``pbc``: the paper's 6 classes (SNE_ -> segmented, BNE_ -> band neutrophil; neutrophils with
  another prefix and the ig / erythroblast / platelet folders are excluded, with reasons).

Folder names are matched case-insensitively, and a doubly nested copy
(``PBC_dataset_normal_DIB/PBC_dataset_normal_DIB/...``, as some unzip tools make) is accepted.
"""

from __future__ import annotations

from pathlib import Path

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.datasets.common import (
    EIGHT_CLASS_TO_PAPER,
    EIGHT_CLASSES,
    excluded_frame,
    image_folder,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, register

FOLDER = "PBC_dataset_normal_DIB"
PBC8_CLASSES = EIGHT_CLASSES
NOT_PAPER = ("erythroblast", "ig", "platelet")
SUBTYPE_OF_PREFIX = {"SNE": "segmented_neutrophil", "BNE": "band_neutrophil"}

CITATION = (
    "Acevedo, A., Merino, A., Alférez, S., Molina, Á., Boldú, L., & Rodellar, J. (2020). A dataset "
    "of microscopic peripheral blood cell images for development of automatic recognition "
    "systems. Data in Brief, 30, 105474. doi:10.1016/j.dib.2020.105474. Data: Mendeley Data, V1, "
    "doi:10.17632/snkd93bnjr.1"
)
SOURCE = (
    "https://data.mendeley.com/datasets/snkd93bnjr/1 (doi:10.17632/snkd93bnjr.1); download "
    "PBC_dataset_normal_DIB.zip by hand and unpack it under the data root"
)
GROUP_NOTE = (
    "PBC gives no patient or smear id: groups are per image (file stem), so images of one donor "
    "may sit in different splits."
)


def pbc_folder_class(name: str) -> str | None:
    label = normalise_label(name)
    return label if label in PBC8_CLASSES else None


def class_root(folder: Path) -> Path:
    """``folder``, or the one same-named folder inside it (a doubly unpacked archive)."""

    def has_classes(p: Path) -> bool:
        return any(d.is_dir() and pbc_folder_class(d.name) for d in p.iterdir())

    if has_classes(folder):
        return folder
    inner = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))]
    if len(inner) == 1 and has_classes(inner[0]):
        return inner[0]
    raise DatasetError(
        f"PBC: no class folder ({', '.join(PBC8_CLASSES)}) found in {folder}; expected the "
        f"unpacked {FOLDER}.zip"
    )


def read_pbc8(root: Path) -> tuple[list[dict], list[tuple[str, str]], Path]:
    """Rows of the 8 folder classes; raises naming any class folder that is missing or empty."""
    base = class_root(root / FOLDER)
    rows, excluded = image_folder(base, pbc_folder_class)
    found = {r["label"] for r in rows}
    missing = [c for c in PBC8_CLASSES if c not in found]
    if missing:
        raise DatasetError(
            f"PBC: class folder(s) {', '.join(missing)} missing or without images in {base}"
        )
    return rows, excluded, base


def prefix(path: str) -> str:
    """'SNE_12345.jpg' -> 'SNE'; 'NEUTROPHIL_1.jpg' -> 'NEUTROPHIL'."""
    return Path(path).stem.split("_")[0].upper()


def load_pbc8(root: Path) -> Loaded:
    rows, excluded, _ = read_pbc8(root)
    return Loaded(manifest_frame(rows), PBC8_CLASSES, excluded_frame(excluded), notes=(GROUP_NOTE,))


def load_pbc(root: Path) -> Loaded:
    rows8, excluded, _ = read_pbc8(root)
    rows: list[dict] = []
    for row in rows8:
        label = row["label"]
        if label in NOT_PAPER:
            excluded.append((row["path"], f"class {label!r} is not one of the paper's 6 classes"))
            continue
        if label == "neutrophil":
            sub = SUBTYPE_OF_PREFIX.get(prefix(row["path"]))
            if sub is None:
                excluded.append(
                    (
                        row["path"],
                        "neutrophil without a subtype prefix (not SNE_/BNE_): band or segmented "
                        "unknown",
                    )
                )
                continue
            label = sub
        rows.append({**row, "label": label})
    found = {r["label"] for r in rows}
    missing = [c for c in PAPER_CLASSES if c not in found]
    if missing:
        raise DatasetError(
            f"PBC: no image of class(es) {', '.join(missing)} (segmented/band neutrophils are "
            f"the SNE_/BNE_ files of {FOLDER}/neutrophil)"
        )
    return Loaded(
        manifest_frame(rows), PAPER_CLASSES, excluded_frame(excluded), notes=(GROUP_NOTE,)
    )


DESCRIPTION = (
    "PBC: 17,092 JPEG images (360x363) of single normal peripheral blood cells from healthy "
    "donors, May Grünwald-Giemsa stain, CellaVision DM96, Hospital Clinic of Barcelona; labelled "
    "by clinical pathologists. "
)

register(
    DatasetSpec(
        name="pbc8",
        classes=PBC8_CLASSES,
        to_paper=EIGHT_CLASS_TO_PAPER,
        citation=CITATION,
        licence="CC BY 4.0",
        source=SOURCE,
        folder=FOLDER,
        loader=load_pbc8,
        description=DESCRIPTION + "The 8 published folder classes (ig = immature granulocytes: "
        "promyelocytes, myelocytes, metamyelocytes). " + GROUP_NOTE,
        official_split="none (random group split)",
    )
)

register(
    DatasetSpec(
        name="pbc",
        classes=PAPER_CLASSES,
        to_paper={c: (c,) for c in PAPER_CLASSES},
        citation=CITATION,
        licence="CC BY 4.0",
        source=SOURCE,
        folder=FOLDER,
        loader=load_pbc,
        description=DESCRIPTION + "The public proxy of the paper's 6-class task: SNE_ files are "
        "segmented and BNE_ files band neutrophils; neutrophils with another prefix and the ig, "
        "erythroblast and platelet folders are excluded (listed with reasons). " + GROUP_NOTE,
        official_split="none (random group split)",
    )
)
