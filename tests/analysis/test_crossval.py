"""Cross-validation pooled per seed: every image scored once, folds checked."""

from __future__ import annotations

import pandas as pd
import pytest

from wbcrepro.analysis.crossval import (
    CrossValidationError,
    pooled_report,
    weighted_mean,
)

CLASSES = ("a", "b")


def _fold(paths: list[str], labels: list[str], predicted: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"path": paths, "label": labels, "predicted": predicted})


def test_pooled_report_scores_every_image_once() -> None:
    folds = {
        0: _fold(["x0", "x1", "x2"], ["a", "a", "b"], ["a", "b", "b"]),
        1: _fold(["x3", "x4"], ["b", "a"], ["b", "a"]),
    }
    report = pooled_report(folds, CLASSES, 2)
    assert report["n"] == 5 and report["correct"] == 4 and report["accuracy"] == 0.8
    assert report["folds"] == {0: 3, 1: 2}
    assert report["per_class"]["a"]["support"] == 3 and report["per_class"]["a"]["recall"] == 2 / 3
    assert len(report["accuracy_ci95"]) == 2 and report["accuracy_ci95"][0] < 0.8


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        ({0: _fold(["x"], ["a"], ["a"])}, r"folds \[0\] given; a 2-fold.*0\.\.1 once"),
        (
            {0: _fold(["x"], ["a"], ["a"]), 1: _fold(["x"], ["b"], ["b"])},
            "1 image.*in more than one test fold, e.g. x",
        ),
        (
            {0: _fold(["x"], ["a"], ["c"]), 1: _fold(["y"], ["b"], ["b"])},
            r"classes \['c'\] are not among",
        ),
    ],
)
def test_folds_that_are_not_one_cross_validation_are_refused(folds, message) -> None:
    with pytest.raises(CrossValidationError, match=message):
        pooled_report(folds, CLASSES, 2, where="lisc-main")


def test_weighted_mean_of_fold_values() -> None:
    assert weighted_mean([(0.5, 10), (1.0, 30)]) == pytest.approx(0.875)
    assert weighted_mean([(0.5, 10), (None, 30)]) is None
    assert weighted_mean([]) is None
