"""Stratified, group-aware, seeded train/val/test splits.

A *group* is the source of an image (a smear, a patient): all images of one group land in the same
split, so augmented copies or neighbouring crops of one cell can never sit on both sides.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """A split cannot be made as asked (for example a class would have no test image)."""


def _take_fold(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of one stratified group fold holding about ``fraction`` of ``frame``."""
    n_splits = max(2, round(1.0 / fraction))
    n_groups = frame["group"].nunique()
    if n_groups < n_splits:
        raise SplitError(f"cannot hold out {fraction:.0%}: only {n_groups} groups")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held = next(folds.split(frame, frame["label"], frame["group"]))
    mask = np.zeros(len(frame), dtype=bool)
    mask[held] = True
    return mask


def split_manifest(
    manifest: pd.DataFrame, val_fraction: float, test_fraction: float, seed: int
) -> pd.DataFrame:
    """Add a ``split`` column (train / val / test) to a manifest with ``label`` and ``group``.

    Fractions are met approximately (one stratified group fold of 1/round(1/fraction)); the
    achieved counts are in the manifest the run folder keeps. Raises :class:`SplitError` when a
    class would end up with no test (or validation) image, since its recall could not be measured.
    """
    out = manifest.reset_index(drop=True).copy()
    out["split"] = "train"
    if test_fraction > 0:
        test = _take_fold(out, test_fraction, seed)
        out.loc[test, "split"] = "test"
    if val_fraction > 0:
        rest = out.index[out["split"] == "train"]
        val = _take_fold(out.loc[rest], val_fraction / (1.0 - test_fraction), seed + 1)
        out.loc[rest[val], "split"] = "val"
    check_split(out, required=[s for s, f in (("val", val_fraction), ("test", test_fraction)) if f])
    return out


def check_split(manifest: pd.DataFrame, required: list[str] | tuple[str, ...] = SPLITS) -> None:
    """Raise if a group spans two splits or a class is missing from a required split."""
    spans = manifest.groupby("group")["split"].nunique()
    leaking = spans[spans > 1]
    if len(leaking):
        raise SplitError(f"groups in more than one split: {', '.join(map(str, leaking.index[:5]))}")
    labels = set(manifest["label"])
    for split in ["train", *required]:
        missing = labels - set(manifest.loc[manifest["split"] == split, "label"])
        if missing:
            raise SplitError(
                f"split {split!r} has no image of class(es) {', '.join(sorted(missing))}; "
                "use more data for these classes or a smaller held-out fraction"
            )
