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


def _carve(out: pd.DataFrame, source: str, target: str, fraction: float, seed: int) -> None:
    """Move about ``fraction`` of the ``source`` rows (whole groups, stratified) to ``target``."""
    rows = out.index[out["split"] == source]
    held = _take_fold(out.loc[rows], fraction, seed)
    out.loc[rows[held], "split"] = target


def split_manifest(
    manifest: pd.DataFrame,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    n_folds: int = 0,
    fold: int = 0,
) -> pd.DataFrame:
    """Return the manifest with a ``split`` column (train / val / test).

    * A publisher's split (a ``split`` column already there) is kept; a missing validation set
      is carved out of its training part (whole groups, stratified).
    * ``n_folds`` >= 2: stratified group k-fold; fold ``fold`` is the test set.
    * Otherwise one stratified group split with the given fractions.

    Fractions are met approximately (one fold of 1/round(1/fraction)); the achieved counts are in
    the manifest the run folder keeps. Raises :class:`SplitError` when a class would end up with
    no test (or validation) image, since its recall could not be measured.
    """
    out = manifest.reset_index(drop=True).copy()
    if "split" in out.columns and out["split"].notna().all():
        unknown = sorted(set(out["split"]) - set(SPLITS))
        if unknown:
            raise SplitError(f"unknown split value(s) {unknown}; expected {', '.join(SPLITS)}")
    else:
        out["split"] = "train"
        if n_folds:
            folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            _, held = list(folds.split(out, out["label"], out["group"]))[fold]
            out.loc[held, "split"] = "test"
        elif test_fraction > 0:
            _carve(out, "train", "test", test_fraction, seed)
    if val_fraction > 0 and not (out["split"] == "val").any():
        train_share = (out["split"] == "train").mean()
        _carve(out, "train", "val", min(val_fraction / train_share, 0.5), seed + 1)
    required = [
        s
        for s in ("val", "test")
        if (out["split"] == s).any()
        or (s == "val" and val_fraction)
        or (s == "test" and (test_fraction or n_folds))
    ]
    check_split(out, required=required)
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


def subsample_train(manifest: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """Keep a stratified random ``size`` of the training rows (all other splits untouched).

    Rows left out of training are marked ``split='unused'`` rather than deleted, so the run
    folder's split.csv still accounts for every image.
    """
    train = manifest.index[manifest["split"] == "train"]
    if size <= 0 or size >= len(train):
        return manifest
    from sklearn.model_selection import train_test_split

    labels = manifest.loc[train, "label"]
    keep, _ = train_test_split(train, train_size=size, stratify=labels, random_state=seed)
    out = manifest.copy()
    out.loc[train.difference(keep), "split"] = "unused"
    return out
