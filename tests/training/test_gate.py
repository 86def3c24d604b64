"""The "did it learn" gate on hand-made test reports."""

from __future__ import annotations

import numpy as np

from wbcrepro.metrics import classification_report
from wbcrepro.training.gate import learning_gate

NAMES = ["a", "b", "c", "d"]


def _report(t, p) -> dict:
    return classification_report(np.asarray(t), np.asarray(p), NAMES, seed=0)


def test_single_class_predictor_is_degenerate() -> None:
    t = np.repeat(np.arange(4), 25)
    verdict = learning_gate(_report(t, np.zeros_like(t)))
    assert verdict["learned"] is False
    assert len(verdict["reasons"]) == 2
    assert "not above chance 1/4 = 0.250" in verdict["reasons"][0]
    assert (
        "predicts 'a' for 100% of the test images, while it is 25% of the labels"
        in (verdict["reasons"][1])
    )


def test_good_predictor_learned() -> None:
    t = np.repeat(np.arange(4), 25)
    p = t.copy()
    p[::10] = (p[::10] + 1) % 4  # 90 % correct, every class predicted
    assert learning_gate(_report(t, p)) == {"learned": True, "reasons": []}


def test_majority_class_of_an_imbalanced_set_is_caught_by_balanced_accuracy() -> None:
    """Every majority image right, every minority image wrong: 85 % accuracy but chance
    balanced accuracy; 'a' takes 85 % of the predictions, below the dominance rule, so only the
    balanced-accuracy check catches it."""
    t = np.array([0] * 85 + [1] * 5 + [2] * 5 + [3] * 5)
    p = np.where(t == 0, 0, t % 3 + 1)  # b -> c, c -> d, d -> b
    report = _report(t, p)
    assert report["accuracy"] == 0.85
    verdict = learning_gate(report)
    assert verdict["learned"] is False
    assert len(verdict["reasons"]) == 1 and "chance" in verdict["reasons"][0]


def test_dominant_class_that_is_also_dominant_in_labels_is_fine() -> None:
    t = np.array([0] * 95 + [1] * 5)
    p = t.copy()
    p[95] = 0  # one minority image missed: 96 % predicted 'a', 95 % of labels
    report = classification_report(t, p, ["a", "b"], seed=0)
    assert learning_gate(report)["learned"] is True


def test_barely_above_chance_with_a_wide_interval_is_not_learned() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 30)
    p = np.where(rng.random(30) < 0.15, t, rng.integers(0, 4, 30))  # ~35 % balanced accuracy
    report = _report(t, p)
    assert report["balanced_accuracy"] > 0.25
    assert report["balanced_accuracy_ci95"][0] <= 0.25
    assert learning_gate(report)["learned"] is False


def test_no_test_images() -> None:
    assert learning_gate(None)["learned"] is False
    assert learning_gate({"n": 0})["reasons"] == ["no test images: learning cannot be shown"]
