"""Tests for the metrics (wbcrepro.metrics), with expected values worked out by hand."""

from __future__ import annotations

import functools
import json
import math
import warnings

import numpy as np
import pytest

from wbcrepro import metrics
from wbcrepro.metrics import bootstrap_macro_f1, classification_report, wilson_interval

# A hand-made 3-class example (rows = true class, columns = predicted class):
#   true a (4): a a a a      -> [4, 0, 0]
#   true b (3): a b b        -> [1, 2, 0]
#   true c (3): c b c        -> [0, 1, 2]
# correct = 8 of 10; recall a=1, b=2/3, c=2/3; precision a=4/5, b=2/3, c=2/2
# F1 a = 2*(4/5)*1/(9/5) = 8/9, b = 2/3, c = 2*1*(2/3)/(5/3) = 4/5
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 0, 0, 0, 1, 1, 2, 1, 2]
NAMES = ["a", "b", "c"]
EXPECTED_CM = [[4, 0, 0], [1, 2, 0], [0, 1, 2]]
EXPECTED_ACC = 8 / 10
EXPECTED_BAL_ACC = (1 + 2 / 3 + 2 / 3) / 3  # 7/9
EXPECTED_F1 = {"a": 8 / 9, "b": 2 / 3, "c": 4 / 5}
EXPECTED_PRECISION = {"a": 4 / 5, "b": 2 / 3, "c": 1.0}
EXPECTED_RECALL = {"a": 1.0, "b": 2 / 3, "c": 2 / 3}
EXPECTED_MACRO_F1 = (8 / 9 + 2 / 3 + 4 / 5) / 3  # 106/135


def _noisy_example(n_per_class: int = 20, n_errors: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(3), n_per_class)
    p = t.copy()
    wrong = rng.choice(len(t), n_errors, replace=False)
    p[wrong] = (p[wrong] + 1) % 3
    return t, p


# ---------------------------------------------------------------------------------------------
# classification_report
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_report() -> dict:
    """The one report computed with intervals (the real macro-F1 bootstrap, with fewer
    resamples)."""
    fast = functools.partial(metrics.bootstrap_macro_f1, n_resamples=200)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "bootstrap_macro_f1", fast)
        return classification_report(Y_TRUE, Y_PRED, [*NAMES, "d"])


def test_report_hand_made_example() -> None:
    report = classification_report(Y_TRUE, Y_PRED, NAMES, with_intervals=False)
    assert report["n"] == 10
    assert report["correct"] == 8
    assert report["accuracy"] == pytest.approx(EXPECTED_ACC)
    assert report["balanced_accuracy"] == pytest.approx(EXPECTED_BAL_ACC)
    assert report["balanced_accuracy"] == pytest.approx(7 / 9)
    assert report["macro_f1"] == pytest.approx(EXPECTED_MACRO_F1)
    assert report["macro_f1"] == pytest.approx(106 / 135)
    assert report["confusion_matrix"] == EXPECTED_CM
    assert report["class_names"] == NAMES


def test_report_per_class() -> None:
    per_class = classification_report(Y_TRUE, Y_PRED, NAMES, with_intervals=False)["per_class"]
    assert list(per_class) == NAMES
    for name in NAMES:
        assert per_class[name]["precision"] == pytest.approx(EXPECTED_PRECISION[name])
        assert per_class[name]["recall"] == pytest.approx(EXPECTED_RECALL[name])
        assert per_class[name]["f1"] == pytest.approx(EXPECTED_F1[name])
    assert [per_class[n]["support"] for n in NAMES] == [4, 3, 3]


def test_report_confusion_matrix_orientation() -> None:
    """Rows are true classes, columns predictions: one 'true 0 predicted 2' lands at [0][2]."""
    report = classification_report([0, 1, 2], [2, 1, 2], NAMES, with_intervals=False)
    assert report["confusion_matrix"] == [[0, 0, 1], [0, 1, 0], [0, 0, 1]]


def test_report_perfect_predictions() -> None:
    report = classification_report(Y_TRUE, Y_TRUE, NAMES, with_intervals=False)
    assert report["accuracy"] == 1.0
    assert report["balanced_accuracy"] == 1.0
    assert report["macro_f1"] == 1.0
    assert report["confusion_matrix"] == [[4, 0, 0], [0, 3, 0], [0, 0, 3]]


def test_report_intervals_present_and_sane(full_report: dict) -> None:
    low, high = full_report["accuracy_ci95"]
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    f1_low, f1_high = full_report["macro_f1_ci95"]
    assert 0.0 <= f1_low <= full_report["macro_f1"] <= f1_high <= 1.0


def test_report_without_intervals() -> None:
    report = classification_report(Y_TRUE, Y_PRED, NAMES, with_intervals=False)
    assert "accuracy_ci95" not in report and "macro_f1_ci95" not in report


def test_absent_class_gets_recall_none_and_support_zero(full_report: dict) -> None:
    report = full_report
    d = report["per_class"]["d"]
    assert d["recall"] is None
    assert d["support"] == 0
    assert d["precision"] == 0.0 and d["f1"] == 0.0
    # present classes are unaffected
    assert report["per_class"]["a"]["recall"] == pytest.approx(1.0)
    assert report["confusion_matrix"] == [[4, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]]
    # documented: macro averages are over all class_names (scikit-learn's convention)
    assert report["macro_f1"] == pytest.approx((8 / 9 + 2 / 3 + 4 / 5 + 0) / 4)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_absent_class_that_is_predicted() -> None:
    """A class with no true image but one (wrong) prediction: precision 0, recall None."""
    names = [*NAMES, "d"]
    y_pred = [*Y_PRED[:-1], 3]  # the last 'c' is predicted as 'd'
    report = classification_report(Y_TRUE, y_pred, names, with_intervals=False)
    d = report["per_class"]["d"]
    assert d["recall"] is None and d["support"] == 0 and d["precision"] == 0.0
    assert report["correct"] == 7
    assert report["confusion_matrix"][2] == [0, 1, 1, 1]


def test_report_is_json_serialisable(full_report: dict) -> None:
    assert {"accuracy_ci95", "macro_f1_ci95"} <= set(full_report)
    text = json.dumps(full_report, allow_nan=False)
    assert json.loads(text) == full_report


def test_report_json_serialisable_with_numpy_inputs() -> None:
    t, p = _noisy_example()
    report = classification_report(t, p, NAMES, with_intervals=False)
    report["accuracy_ci95"] = list(wilson_interval(report["correct"], report["n"]))
    report["macro_f1_ci95"] = list(bootstrap_macro_f1(t, p, [0, 1, 2], n_resamples=50))
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    for value in (report["n"], report["correct"], *report["confusion_matrix"][0]):
        assert type(value) is int


def test_report_on_empty_input_gives_nan() -> None:
    report = classification_report([], [], NAMES)
    assert report["n"] == 0
    assert math.isnan(report["accuracy"])
    assert json.dumps(report)


# ---------------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------------


def test_wilson_8_of_10_textbook() -> None:
    # p = 0.8, n = 10, z = 1.96: centre (p + z²/2n)/(1 + z²/n), half-width
    # z*sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n)
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-9)


def test_wilson_edges() -> None:
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and 0.6 < low < 0.75  # textbook 0.7225
    assert low == pytest.approx(0.7225, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)


def test_wilson_wider_at_higher_confidence() -> None:
    low95, high95 = wilson_interval(8, 10, 0.95)
    low99, high99 = wilson_interval(8, 10, 0.99)
    assert low99 < low95 < 0.8 < high95 < high99


# ---------------------------------------------------------------------------------------------
# Bootstrap interval of macro-F1
# ---------------------------------------------------------------------------------------------


def test_bootstrap_contains_point_estimate_and_is_bounded() -> None:
    t, p = _noisy_example()
    point = classification_report(t, p, NAMES, with_intervals=False)["macro_f1"]
    low, high = bootstrap_macro_f1(t, p, [0, 1, 2], n_resamples=200, seed=0)
    assert 0.0 <= low < point < high <= 1.0
    assert high - low < 0.5  # 60 samples give a usefully narrow interval


def test_bootstrap_reproducible_for_same_seed() -> None:
    t, p = _noisy_example()
    first = bootstrap_macro_f1(t, p, [0, 1, 2], n_resamples=100, seed=7)
    second = bootstrap_macro_f1(t, p, [0, 1, 2], n_resamples=100, seed=7)
    other = bootstrap_macro_f1(t, p, [0, 1, 2], n_resamples=100, seed=8)
    assert first == second
    assert first != other


def test_report_forwards_seed_to_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []

    def spy(y_true, y_pred, labels, **kwargs):
        calls.append({"labels": list(labels), **kwargs})
        return (0.25, 0.75)

    monkeypatch.setattr(metrics, "bootstrap_macro_f1", spy)
    report = classification_report(Y_TRUE, Y_PRED, NAMES, seed=11)
    assert report["macro_f1_ci95"] == [0.25, 0.75]
    assert calls == [{"labels": [0, 1, 2], "seed": 11}]


def test_bootstrap_wider_at_higher_confidence() -> None:
    t, p = _noisy_example()
    low95, high95 = bootstrap_macro_f1(t, p, [0, 1, 2], confidence=0.95, n_resamples=100)
    low80, high80 = bootstrap_macro_f1(t, p, [0, 1, 2], confidence=0.80, n_resamples=100)
    assert low95 <= low80 < high80 <= high95


@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [([1], [1]), ([0, 0, 0], [0, 1, 0])],
    ids=["single_sample", "single_class"],
)
def test_bootstrap_degenerate_inputs_give_nan(y_true: list[int], y_pred: list[int]) -> None:
    low, high = bootstrap_macro_f1(np.array(y_true), np.array(y_pred), [0, 1])
    assert math.isnan(low) and math.isnan(high)


# ---------------------------------------------------------------------------------------------
# Vectorised statistics (what the bootstrap resamples) and the balanced-accuracy interval
# ---------------------------------------------------------------------------------------------


def test_vectorised_statistics_equal_scikit_learn_on_every_resample() -> None:
    from sklearn.metrics import balanced_accuracy_score, f1_score

    rng = np.random.default_rng(3)
    labels = [0, 1, 2, 3]
    t = rng.integers(0, 3, (200, 15))  # class 3 never true; resamples miss classes often
    p = rng.integers(0, 4, (200, 15))
    f1 = metrics._macro_f1(t, p, labels)
    bal = metrics._balanced_accuracy(t, p, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        for i in range(len(t)):
            assert f1[i] == pytest.approx(
                f1_score(t[i], p[i], labels=labels, average="macro", zero_division=0)
            )
            assert bal[i] == pytest.approx(balanced_accuracy_score(t[i], p[i]))


def test_balanced_accuracy_interval_in_report_contains_the_estimate() -> None:
    t, p = _noisy_example()
    report = classification_report(t, p, NAMES, seed=0)
    low, high = report["balanced_accuracy_ci95"]
    assert 0.0 <= low < report["balanced_accuracy"] < high <= 1.0
    assert (low, high) == metrics.bootstrap_balanced_accuracy(t, p, [0, 1, 2], seed=0)
    assert metrics.bootstrap_balanced_accuracy(t, p, [0, 1, 2], seed=1) != (low, high)


def test_balanced_accuracy_interval_of_a_constant_predictor_sits_at_chance() -> None:
    t = np.repeat(np.arange(4), 10)
    low, high = metrics.bootstrap_balanced_accuracy(t, np.zeros_like(t), [0, 1, 2, 3])
    assert low == pytest.approx(0.25) and high == pytest.approx(0.25, abs=0.1)
