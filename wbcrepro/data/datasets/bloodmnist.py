"""BloodMNIST (MedMNIST v2, Yang et al. 2023): the PBC images, resized, with a fixed split.

Layout assumed: the MedMNIST ``.npz`` files, as downloaded from Zenodo, in
``<data root>/bloodmnist/``::

    bloodmnist/
        bloodmnist.npz          28x28 (MedMNIST v2)
        bloodmnist_64.npz       64x64    (MedMNIST+, optional)
        bloodmnist_128.npz      128x128  (MedMNIST+, optional)
        bloodmnist_224.npz      224x224  (MedMNIST+, optional)

each with ``train_images``/``train_labels``, ``val_images``/``val_labels``,
``test_images``/``test_labels`` (uint8 images (n, H, W, 3), labels (n, 1) in 0..7).

Which file: the largest size present (224 > 128 > 64 > 28), a rule that does not depend on the
config; the file used is named in ``Loaded.notes``. The images are exported once to PNG under
``cache_root()/bloodmnist/<npz stem>/<split>/<label>/<index>.png`` (never into the data root,
which may be read-only): written into a temporary folder, then renamed into place, and reused
while its ``export.json`` matches the npz (size, counts).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from wbcrepro.data.datasets.common import (
    EIGHT_CLASS_TO_PAPER,
    EIGHT_CLASSES,
    excluded_frame,
    manifest_frame,
)
from wbcrepro.data.datasets.registry import DatasetError, DatasetSpec, Download, Loaded, register
from wbcrepro.paths import cache_root

FOLDER = "bloodmnist"
BLOODMNIST_CLASSES = EIGHT_CLASSES
"""Label order of MedMNIST's INFO['bloodmnist'] (0..7); 'ig' = immature granulocytes."""
SPLITS = ("train", "val", "test")
FILES = ("bloodmnist_224.npz", "bloodmnist_128.npz", "bloodmnist_64.npz", "bloodmnist.npz")
"""Candidate files, preferred first (largest images first)."""
MARKER = "export.json"


def choose_npz(folder: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The npz to use and the other candidates (reported as excluded)."""
    present = [folder / f for f in FILES if (folder / f).is_file()]
    if not present:
        raise DatasetError(
            f"BloodMNIST: none of {', '.join(FILES)} in {folder}; download bloodmnist.npz from "
            "https://zenodo.org/records/10519652"
        )
    others = [
        (str(p), f"a larger BloodMNIST file is used ({present[0].name})") for p in present[1:]
    ]
    return present[0], others


def _labels(data: np.lib.npyio.NpzFile, npz: Path, split: str) -> np.ndarray:
    for key in (f"{split}_images", f"{split}_labels"):
        if key not in data.files:
            raise DatasetError(f"BloodMNIST: {npz} has no array {key!r} (has {data.files})")
    labels = np.asarray(data[f"{split}_labels"]).reshape(-1)
    bad = sorted(set(labels.tolist()) - set(range(len(BLOODMNIST_CLASSES))))
    if bad:
        raise DatasetError(f"BloodMNIST: {npz} {split}_labels holds unknown label(s) {bad[:5]}")
    return labels.astype(int)


def _expected(npz: Path, counts: dict[str, int]) -> dict:
    return {"source": npz.name, "bytes": npz.stat().st_size, "counts": counts}


def _export(
    npz: Path, data: np.lib.npyio.NpzFile, labels: dict[str, np.ndarray], dest: Path, marker: dict
) -> None:
    """Write every image as PNG into a temporary folder beside ``dest``, then rename it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        for split in SPLITS:
            images = np.asarray(data[f"{split}_images"])
            if len(images) != len(labels[split]):
                raise DatasetError(
                    f"BloodMNIST: {npz} has {len(images)} {split}_images but "
                    f"{len(labels[split])} {split}_labels"
                )
            for name in BLOODMNIST_CLASSES:
                (tmp / split / name).mkdir(parents=True)
            for index, (image, label) in enumerate(zip(images, labels[split], strict=True)):
                path = tmp / split / BLOODMNIST_CLASSES[label] / f"{index}.png"
                Image.fromarray(np.ascontiguousarray(image.astype(np.uint8))).save(path)
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
        if dest.exists():  # a stale export (other npz): move it aside, then remove it
            stale = Path(tempfile.mkdtemp(prefix=f".{dest.name}.stale-", dir=dest.parent))
            os.replace(dest, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not _complete(dest, marker):  # another process finished first: use its export
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(dest: Path, marker: dict) -> bool:
    try:
        return json.loads((dest / MARKER).read_text()) == marker
    except (OSError, ValueError):
        return False


def load_bloodmnist(root: Path) -> Loaded:
    folder = root / FOLDER
    npz, excluded = choose_npz(folder)
    dest = cache_root() / "bloodmnist" / npz.stem
    with np.load(npz) as data:
        labels = {split: _labels(data, npz, split) for split in SPLITS}
        marker = _expected(npz, {s: len(v) for s, v in labels.items()})
        rows = [
            {
                "path": str(dest / split / BLOODMNIST_CLASSES[label] / f"{index}.png"),
                "label": BLOODMNIST_CLASSES[label],
                "group": f"{split}-{index}",
                "split": split,
            }
            for split in SPLITS
            for index, label in enumerate(labels[split])
        ]
        if not (_complete(dest, marker) and all(Path(r["path"]).is_file() for r in rows)):
            _export(npz, data, labels, dest, marker)
    return Loaded(
        manifest_frame(rows),
        BLOODMNIST_CLASSES,
        excluded_frame(excluded),
        notes=(
            f"BloodMNIST images from {npz.name}, exported once to PNG under {dest}.",
            "BloodMNIST comes from PBC (Acevedo 2020) without donor ids: groups are per image; "
            "do not combine it with 'pbc'/'pbc8' (same cells).",
        ),
    )


register(
    DatasetSpec(
        name="bloodmnist",
        classes=BLOODMNIST_CLASSES,
        to_paper=EIGHT_CLASS_TO_PAPER,
        citation="Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., & Ni, B. "
        "(2023). MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
        "classification. Scientific Data, 10, 41. doi:10.1038/s41597-022-01721-8. Images from "
        "Acevedo et al. (2020), Data in Brief 30:105474, doi:10.1016/j.dib.2020.105474",
        licence="CC BY 4.0",
        source="https://zenodo.org/records/10519652 (MedMNIST v2/v3 on Zenodo; bloodmnist.npz, "
        "optionally bloodmnist_64/_128/_224.npz, into bloodmnist/ under the data root)",
        folder=FOLDER,
        loader=load_bloodmnist,
        description="BloodMNIST: the 17,092 PBC images as 28x28 (or 64/128/224 in MedMNIST+) RGB "
        "arrays, 8 classes, with MedMNIST's fixed train/val/test split (7:1:2). The largest "
        "file present is used; images are exported once to PNG in the cache.",
        downloads=(
            Download(
                url="https://zenodo.org/records/10519652/files/bloodmnist.npz",
                filename="bloodmnist.npz",
                sha256=None,
            ),
        ),
        official_split="MedMNIST's published train/val/test arrays (11,959 / 1,712 / 3,421)",
    )
)
