"""Several labs' sets as one five-class dataset, one lab held out: leave-one-lab-out.

A model is only known to work in another lab once it has been tested on a lab it never saw.
``dataset=labs`` trains on the sets named in ``labs`` and tests on every image of ``test_lab``:

* every set's classes are mapped onto the common five (neutrophil, eosinophil, basophil,
  monocyte, lymphocyte) through its registry mapping onto the paper's classes (PBC's band and
  segmented neutrophils -> neutrophil); a class outside the five (PBC8's erythroblasts) is left
  out and listed;
* a set's groups are prefixed with its name, so no smear is split across train and validation,
  and the manifest's ``source`` column names the set of each image;
* ``lab_images`` > 0 caps each training set at that many images (a seeded sample stratified by
  class): the sets differ in size by two orders of magnitude, and equal shares keep one lab from
  drowning the others (and the CPU budget);
* two sets of one lab (:data:`LAB_OF`: BCCD, the Kaggle set and the BCCD crops are the same
  cells) are never on both sides: that would test on the training lab;
* a training set whose groups are not its sources (the Kaggle set: augmented copies of one
  smear) is refused, since validation would share smears with training.

Only sets whose loaders take no options can be combined (the bccd crops need ``crop_margin``:
use ``bccd-cropped``).

Without ``test_lab`` nothing is held out: every set is split on its own (the splitter of a
single set, with the run's fractions and ``split_seed``), so PBC's test images are those a
PBC-only run tests on, and the test split holds every lab's own test images. That is how a
model for all labs is trained (the shipped model). ``lab_classes=six`` keeps the paper's six
classes: PBC's band and segmented neutrophils stay apart, and another lab's neutrophils, which
are not told apart there, are left out and listed (their class is unknown in six classes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.datasets.common import FIVE_CLASS_TO_PAPER, excluded_frame
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Loaded, get_dataset, register
from wbcrepro.data.splits import split_manifest

FIVE_CLASSES = tuple(FIVE_CLASS_TO_PAPER)
PAPER_TO_FIVE = {paper: five for five, papers in FIVE_CLASS_TO_PAPER.items() for paper in papers}
LAB_OF = {
    "pbc": "Barcelona (PBC)",
    "pbc8": "Barcelona (PBC)",
    "bloodmnist": "Barcelona (PBC)",
    "bccd": "BCCD",
    "bccd-cropped": "BCCD",
    "kaggle-bloodcells": "BCCD",
    "kaggle-bloodcells-simple": "BCCD",
    "zheng2018": "Jiangxi (Zheng 2018)",
    "zheng2018-d2": "Jiangxi (Zheng 2018)",
    "lisc": "Tehran (LISC)",
    "lisc-crops": "Tehran (LISC)",
    "raabin": "Tehran (Raabin)",
    "raabin-testb": "Tehran (Raabin)",
}
"""The lab (hospital, microscope, stain) each set's images come from; a set not listed is its
own lab."""


MIN_SPLIT_CLASS = 10
"""Without a held-out lab each set is split on its own, which needs every class in every
split: a class with fewer images in a set (BCCD's 3 basophils) is left out of it, listed."""


def lab_of(dataset: str) -> str:
    return LAB_OF.get(dataset, dataset)


def five_class(dataset: str, label: str) -> str | None:
    """``label`` of ``dataset`` in the five-class space; None when it maps onto none (or onto
    several) of the five."""
    papers = get_dataset(dataset).to_paper.get(label, ())
    fives = {PAPER_TO_FIVE[p] for p in papers if p in PAPER_TO_FIVE}
    return fives.pop() if len(fives) == 1 else None


def six_class(dataset: str, label: str) -> str | None:
    """``label`` of ``dataset`` as one of the paper's six classes; None when it is none or
    several of them (another lab's neutrophil: band or segmented, not told)."""
    papers = [p for p in get_dataset(dataset).to_paper.get(label, ()) if p in PAPER_CLASSES]
    return papers[0] if len(papers) == 1 else None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _cap(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """At most ``limit`` rows, each class keeping its share (seeded)."""
    if limit <= 0 or len(frame) <= limit:
        return frame
    share = limit / len(frame)
    parts = [
        rows.sample(n=max(1, round(len(rows) * share)), random_state=seed)
        for _, rows in frame.groupby("label", sort=True)
    ]
    return pd.concat(parts).sort_index()


def _check_combinable(name: str, held_out: bool) -> None:
    spec = get_dataset(name)
    if spec.options:
        raise DatasetError(
            f"labs: {name} needs loader option(s) {', '.join(spec.options)} and cannot be "
            "combined (for BCCD use bccd-cropped)"
        )
    if not spec.groups_are_sources and not held_out:
        raise DatasetError(
            f"labs: {name}'s groups are not its sources (augmented copies of one smear are "
            "separate images), so validation would share smears with training (for BCCD "
            "use bccd-cropped)"
        )


def load_labs(
    root: Path,
    *,
    labs: str,
    test_lab: str,
    lab_images: int,
    split_seed: int,
    lab_classes: str = "five",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Loaded:
    train_sets, test_set = _names(labs), test_lab.strip()
    if not train_sets:
        raise DatasetError(
            "dataset 'labs' needs labs (the training sets, comma-separated) and, for "
            f"leave-one-lab-out, test_lab (the held-out set); got labs={labs!r}"
        )
    if lab_classes not in ("five", "six"):
        raise DatasetError(f"labs: lab_classes must be 'five' or 'six', got {lab_classes!r}")
    shared = [name for name in train_sets if test_set and lab_of(name) == lab_of(test_set)]
    if shared:
        raise DatasetError(
            f"labs: {', '.join(shared)} and the held-out {test_set} come from one lab "
            f"({lab_of(test_set)}): testing on it would test on a training lab"
        )
    held = [test_set] if test_set else []
    for name in [*train_sets, *held]:  # every refusal before any file is read
        _check_combinable(name, held_out=name == test_set)
    to_class = six_class if lab_classes == "six" else five_class
    frames, excluded, notes = [], [], []
    for name in [*train_sets, *held]:
        spec = get_dataset(name)
        loaded = spec.read(root)
        frame = loaded.manifest[["path", "label", "group"]].copy()
        frame["label"] = [to_class(name, label) for label in frame["label"]]
        outside = frame["label"].isna()
        why = f"{name}: class outside the {lab_classes} (or not told apart there)"
        excluded += [(p, why) for p in frame.loc[outside, "path"]]
        frame = frame[~outside]
        if name != test_set:
            before = len(frame)
            frame = _cap(frame, lab_images, split_seed)
            if len(frame) < before:
                notes.append(f"{name}: {len(frame)} of {before} images (lab_images={lab_images})")
        frame["group"] = name + ":" + frame["group"].astype(str)
        frame["source"] = name
        if test_set:
            frame["split"] = "test" if name == test_set else "train"
        else:  # each lab split on its own: its test images are a single-set run's
            counts = frame["label"].value_counts()
            rare = frame["label"].isin(counts.index[counts < MIN_SPLIT_CLASS])
            why = f"{name}: fewer than {MIN_SPLIT_CLASS} images of the class in this set"
            excluded += [(p, why) for p in frame.loc[rare, "path"]]
            frame = split_manifest(frame[~rare], val_fraction, test_fraction, split_seed)
        frames.append(frame)
        excluded += list(loaded.excluded.itertuples(index=False, name=None))
    # the splitter carves the validation split out of the training part (whole groups)
    manifest = pd.concat(frames, ignore_index=True)
    held_text = f"held-out lab: {test_set}" if test_set else "no held-out lab (each split alone)"
    notes.insert(0, f"train labs: {', '.join(train_sets)}; {held_text}")
    space = PAPER_CLASSES if lab_classes == "six" else FIVE_CLASSES
    classes = tuple(c for c in space if c in set(manifest["label"]))
    return Loaded(manifest, classes, excluded_frame(excluded), notes=tuple(notes))


LABS = register(
    DatasetSpec(
        name="labs",
        classes=None,
        to_paper=dict(FIVE_CLASS_TO_PAPER),
        citation="each set's own (see the sets named in labs and test_lab)",
        licence="each set's own",
        source="the sets named in labs and test_lab, under the data root",
        folder="",
        loader=load_labs,
        description="Leave-one-lab-out: the sets named in labs (five classes) for training and "
        "validation, every image of test_lab for the test.",
        official_split="train and validation from the training labs, test = the held-out lab",
        options=(
            "labs",
            "test_lab",
            "lab_images",
            "split_seed",
            "lab_classes",
            "val_fraction",
            "test_fraction",
        ),
    )
)
