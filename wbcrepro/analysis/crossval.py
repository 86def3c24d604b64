"""k-fold cross-validation pooled per seed: one accuracy over every image of the set.

A small set (LISC: 255 crops) gives a test split too small to read: a fifth of it is 51
images, whose 95 % interval spans about 12 points at 90 %. Cross-validation tests every image
once: k runs, fold j of the k as the test split of run j. Pooling the k test folds of one
training seed gives one set of predictions over all images, scored like any test split
(:func:`wbcrepro.metrics.classification_report`: accuracy with its Wilson interval, macro-F1,
balanced accuracy, per-class recall); the spread over seeds is then read as for any arm. Pure
values: the caller reads the prediction files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from wbcrepro.metrics import classification_report


class CrossValidationError(ValueError):
    """The folds given do not make one cross-validation (a fold missing or given twice, an
    image in two test folds, different classes)."""


def check_folds(folds: Mapping[int, pd.DataFrame], n_folds: int, where: str = "") -> None:
    """Every fold 0..n_folds-1 once, and no image in two test folds."""
    where = f"{where}: " if where else ""
    if sorted(folds) != list(range(n_folds)):
        raise CrossValidationError(
            f"{where}folds {sorted(folds)} given; a {n_folds}-fold cross-validation needs each of "
            f"0..{n_folds - 1} once"
        )
    paths = pd.concat([table["path"] for table in folds.values()])
    twice = sorted(set(paths[paths.duplicated()]))
    if twice:
        raise CrossValidationError(
            f"{where}{len(twice)} image(s) in more than one test fold, e.g. {twice[0]}: the folds "
            "come from different splits"
        )


def pooled_report(
    folds: Mapping[int, pd.DataFrame],
    class_names: Sequence[str],
    n_folds: int,
    seed: int = 0,
    where: str = "",
) -> dict[str, Any]:
    """The classification report of the k test folds pooled (``label``, ``predicted`` columns
    holding class names); ``folds`` maps fold index -> that fold's test predictions."""
    check_folds(folds, n_folds, where)
    table = pd.concat([folds[k] for k in sorted(folds)], ignore_index=True)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted((set(table["label"]) | set(table["predicted"])) - set(index))
    if unknown:
        raise CrossValidationError(f"{where}: classes {unknown} are not among {list(class_names)}")
    report = classification_report(
        table["label"].map(index).tolist(),
        table["predicted"].map(index).tolist(),
        class_names,
        seed=seed,
    )
    report["folds"] = {int(k): len(folds[k]) for k in sorted(folds)}
    return report


def weighted_mean(values: Sequence[tuple[float | None, int]]) -> float | None:
    """Mean of per-fold values weighted by their test images (None when any is missing): a
    per-fold baseline accuracy pooled over the folds."""
    if not values or any(v is None for v, _ in values):
        return None
    total = sum(n for _, n in values)
    return sum(float(v) * n for v, n in values) / total if total else None
