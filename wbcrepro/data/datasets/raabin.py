"""Raabin-WBC: double-labelled cropped white blood cells (Kouzehkanan et al. 2022).

Layout assumed (the cropped-cell archives Train, TestA and TestB from raabindata.com, unpacked
side by side under ``<data root>/Raabin-WBC``)::

    Raabin-WBC/
        Train/  Basophil/ Eosinophil/ Lymphocyte/ Monocyte/ Neutrophil/   (*.jpg)
        TestA/  Basophil/ ...                                             (same microscopes)
        TestB/  ...                                                       (other microscope/camera)

Two datasets are registered, because a manifest ``split`` may only say train/val/test:

* ``raabin``: Train (split ``train``) + TestA (split ``test``), the publishers' split;
  a validation set is not published (the training code may carve one out of ``train``).
* ``raabin-testb``: TestB alone, no split column: an external test set for a model trained on
  ``raabin``. TestB is published without some classes (as far as we know without basophils), so
  its ``Loaded.classes`` are the Raabin classes present, in the same order (a note says which
  are absent); an existing but empty class folder is still an error.

Tolerances: split folders are matched ignoring case, '-' and '_' ("TestA", "Test-A", "test_a"),
at the top of ``Raabin-WBC/`` or one level below it (an extra folder level from unpacking);
class folder names are matched case-insensitively.
"""

from __future__ import annotations

from pathlib import Path

from wbcrepro.data.datasets.common import (
    FIVE_CLASS_TO_PAPER,
    excluded_frame,
    image_folder,
    manifest_frame,
    normalise_label,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, register
from wbcrepro.data.images import is_image

FOLDER = "Raabin-WBC"
RAABIN_CLASSES = ("basophil", "eosinophil", "lymphocyte", "monocyte", "neutrophil")
SPLIT_FOLDERS = {"train": "Train", "testa": "TestA", "testb": "TestB"}

CITATION = (
    "Kouzehkanan, Z. M., Saghari, S., Tavakoli, S., Rostami, P., Abaszadeh, M., Mirzadeh, F., "
    "Satlsar, E. S., Gheidishahran, M., Gorgi, F., Mohammadi, S., & Hosseini, R. (2022). A large "
    "dataset of white blood cells containing cell locations and types, along with segmented "
    "nuclei and cytoplasm. Scientific Reports, 12, 1123. doi:10.1038/s41598-021-04426-x"
)
SOURCE = (
    "https://raabindata.com/free-data/ (Raabin-WBC, 'double-labeled cropped cells': download "
    "Train, TestA and TestB by hand and unpack them into Raabin-WBC/ under the data root)"
)
LICENCE = (
    "free for research use as stated on raabindata.com (cite the paper); the article is CC BY 4.0"
)
GROUP_NOTE = "Raabin-WBC crops carry no patient id here: groups are per image (file stem)."


def _key(name: str) -> str:
    return normalise_label(name).replace("_", "")


def split_folder(base: Path, key: str) -> Path | None:
    """The folder of one published part ('train', 'testa', 'testb'), or ``None``."""
    levels = [base, *sorted(d for d in base.iterdir() if d.is_dir())]
    for level in levels:
        for d in sorted(level.iterdir()):
            if d.is_dir() and _key(d.name) == key:
                return d
    return None


def raabin_class(name: str) -> str | None:
    label = normalise_label(name)
    return label if label in RAABIN_CLASSES else None


def read_part(
    base: Path, key: str, split: str | None, require_all: bool
) -> tuple[list[dict], list[tuple[str, str]], list[str]]:
    """Rows of one part; returns the classes whose folder is absent (allowed unless required)."""
    folder = split_folder(base, key)
    if folder is None:
        raise DatasetError(
            f"Raabin-WBC: folder {SPLIT_FOLDERS[key]}/ not found in {base} (or one level below)"
        )
    rows, excluded = image_folder(folder, raabin_class, split=split)
    dirs = {
        raabin_class(d.name): d for d in folder.iterdir() if d.is_dir() and raabin_class(d.name)
    }
    found = {r["label"] for r in rows}
    absent: list[str] = []
    for c in RAABIN_CLASSES:
        if c in found:
            continue
        if c in dirs or require_all:
            where = dirs.get(c, folder / c.capitalize())
            raise DatasetError(f"Raabin-WBC: class folder {where} is missing or has no image")
        absent.append(c)
    for path in sorted(folder.iterdir()):
        if path.is_file():
            reason = "not in a class folder" if is_image(path) else "not an image file"
            excluded.append((str(path), reason))
    return rows, excluded, absent


def load_raabin(root: Path) -> Loaded:
    base = root / FOLDER
    train, ex_train, _ = read_part(base, "train", "train", require_all=True)
    test, ex_test, _ = read_part(base, "testa", "test", require_all=True)
    rows = train + test
    notes = [GROUP_NOTE]
    stems: dict[str, set[str]] = {}
    for r in rows:
        stems.setdefault(r["group"], set()).add(r["split"])
    shared = sorted(g for g, s in stems.items() if len(s) > 1)
    if shared:
        notes.append(
            f"{len(shared)} file name(s) occur in both Train and TestA (e.g. {shared[0]}); "
            "their groups are qualified with the part name"
        )
        for r in rows:
            if r["group"] in shared:
                r["group"] = f"{r['split']}/{r['group']}"
    return Loaded(
        manifest_frame(rows), RAABIN_CLASSES, excluded_frame(ex_train + ex_test), notes=tuple(notes)
    )


def load_raabin_testb(root: Path) -> Loaded:
    rows, excluded, absent = read_part(root / FOLDER, "testb", None, require_all=False)
    classes = tuple(c for c in RAABIN_CLASSES if c not in absent)
    notes = [GROUP_NOTE, "External test set (TestB): evaluate a model trained on 'raabin'."]
    if absent:
        notes.append(f"TestB has no class folder for: {', '.join(absent)}")
    return Loaded(manifest_frame(rows), classes, excluded_frame(excluded), notes=tuple(notes))


DESCRIPTION = (
    "Raabin-WBC: cropped single WBC images (JPEG) from peripheral-blood smears of Iranian "
    "laboratories, Giemsa stain, labelled by two experts; 5 classes. "
)

register(
    DatasetSpec(
        name="raabin",
        classes=RAABIN_CLASSES,
        to_paper=dict(FIVE_CLASS_TO_PAPER),
        citation=CITATION,
        licence=LICENCE,
        source=SOURCE,
        folder=FOLDER,
        loader=load_raabin,
        description=DESCRIPTION + "Train + TestA with the published split; TestB is the separate "
        "dataset 'raabin-testb'. " + GROUP_NOTE,
        official_split="Train -> train, TestA -> test (published); no validation set is "
        "published; TestB (other microscope/camera) is the external set 'raabin-testb'",
    )
)

register(
    DatasetSpec(
        name="raabin-testb",
        classes=RAABIN_CLASSES,
        to_paper=dict(FIVE_CLASS_TO_PAPER),
        citation=CITATION,
        licence=LICENCE,
        source=SOURCE,
        folder=FOLDER,
        loader=load_raabin_testb,
        description=DESCRIPTION + "TestB only (an external test set, for evaluation of a model "
        "trained on 'raabin'); classes absent from TestB are left out of Loaded.classes. "
        + GROUP_NOTE,
        official_split="TestB is an external test set as a whole (no split column)",
    )
)
