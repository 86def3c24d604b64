"""WBCAtt's morphology annotations of PBC, read to measure how noisy band vs segmented is.

PBC tells band (``BNE_``) from segmented (``SNE_``) neutrophils only by a file-name prefix.
WBCAtt (Tsutsui et al., NeurIPS 2023; github.com/apple2373/wbcatt) annotated every PBC white cell
with 11 morphological attributes, one of them ``nucleus_shape`` (``segmented-bilobed``,
``segmented-multilobed``, ``unsegmented-band``, ...). Where the two disagree (an ``SNE_`` image
whose nucleus WBCAtt calls an unsegmented band), at least one of them is wrong, and no model can
agree with both: the disagreements bound what band-vs-segmented accuracy can mean.

This module only reads the annotation CSVs (pandas, no torch): the report pages use it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FOLDER = "wbcatt"
"""WBCAtt's folder under the data root (its repository, data and docs only)."""
ANNOTATION_FILES = tuple(
    f"submission/pbc_attr_v1_{split}.csv" for split in ("train", "val", "test")
)
REQUIRED_COLUMNS = ("img_name", "label", "nucleus_shape", "path")

PREFIX_CLASS = {"SNE": "segmented_neutrophil", "BNE": "band_neutrophil"}
"""PBC's file-name prefixes that carry the paper's two neutrophil classes."""


class WbcattError(ValueError):
    """The annotations are missing or not in WBCAtt's published format (the message names the
    file)."""


def morphology_class(nucleus_shape: str) -> str:
    """The paper's neutrophil class that WBCAtt's ``nucleus_shape`` describes.

    ``segmented-*`` is a segmented neutrophil, ``unsegmented-band`` a band; every other shape
    (``irregular``, ``unsegmented-round``, ``unsegmented-indented``) says neither, and reads as
    ``unclear`` (never counted as agreement or disagreement).
    """
    shape = str(nucleus_shape).strip()
    if shape.startswith("segmented-"):
        return "segmented_neutrophil"
    if shape == "unsegmented-band":
        return "band_neutrophil"
    return "unclear"


def load_annotations(data_root: str | Path) -> pd.DataFrame:
    """Every row of WBCAtt's train/val/test CSVs, with ``split`` and ``file`` (the image's name).

    Raises :class:`WbcattError` naming the first missing file or column: a page that shows label
    noise must not silently show nothing.
    """
    root = Path(data_root) / FOLDER
    frames = []
    for name in ANNOTATION_FILES:
        path = root / name
        if not path.is_file():
            raise WbcattError(
                f"WBCAtt annotation file not found: {path} (get github.com/apple2373/wbcatt into "
                f"{root}, or point WBCREPRO_DATA at a data root that has it)"
            )
        frame = pd.read_csv(path)
        missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
        if missing:
            raise WbcattError(f"{path}: missing column(s) {', '.join(missing)}")
        frame["split"] = name.rsplit("_", 1)[-1].removesuffix(".csv")
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["file"] = table["path"].map(lambda p: Path(str(p)).name)
    return table


def neutrophil_agreement(annotations: pd.DataFrame) -> pd.DataFrame:
    """One row per ``SNE_``/``BNE_`` image: its PBC class (by prefix), WBCAtt's morphology class
    and whether they agree (``agree`` is NA where the shape is ``unclear``)."""
    prefix = annotations["file"].str.split("_").str[0]
    rows = annotations[prefix.isin(list(PREFIX_CLASS))].copy()
    rows["pbc_class"] = rows["file"].str.split("_").str[0].map(PREFIX_CLASS)
    rows["wbcatt_class"] = rows["nucleus_shape"].map(morphology_class)
    rows["agree"] = (rows["pbc_class"] == rows["wbcatt_class"]).astype("boolean")
    rows.loc[rows["wbcatt_class"] == "unclear", "agree"] = pd.NA
    return rows[["file", "path", "split", "nucleus_shape", "pbc_class", "wbcatt_class", "agree"]]


def present_only(table: pd.DataFrame, data_root: str | Path) -> pd.DataFrame:
    """The rows whose image exists under ``data_root`` (the shared PBC here is a subset)."""
    root = Path(data_root)
    return table[[(root / str(p)).is_file() for p in table["path"]]].reset_index(drop=True)
