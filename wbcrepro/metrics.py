"""Classification metrics with confidence intervals, all computed by scikit-learn and SciPy.

Accuracy alone hides what matters on imbalanced WBC sets (a basophil class of 3 images), so every
report carries balanced accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix,
a Wilson interval for accuracy and a bootstrap interval for macro-F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (well-behaved near 0 and 1, unlike the normal one)."""
    if total == 0:
        return (float("nan"), float("nan"))
    ci = stats.binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def bootstrap_macro_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[int],
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of macro-F1 over resampled test images (paired)."""
    if len(y_true) < 2 or len(set(y_true.tolist())) < 2:
        return (float("nan"), float("nan"))

    def statistic(t: np.ndarray, p: np.ndarray) -> float:
        return f1_score(t, p, labels=list(labels), average="macro", zero_division=0)

    result = stats.bootstrap(
        (y_true, y_pred),
        statistic,
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def classification_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    with_intervals: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric we report, as plain JSON-serialisable values.

    Classes absent from ``y_true`` get recall ``None`` (not 0): a class with no test image has no
    measurable recall, and macro averages are taken over all ``class_names`` as scikit-learn does.
    """
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    labels = list(range(len(class_names)))
    n = len(t)
    correct = int((t == p).sum())
    if n == 0:  # nothing to score: every metric is undefined, not zero
        zeros = np.zeros(len(labels))
        precision, recall, f1, support = zeros, zeros, zeros, zeros.astype(int)
    else:
        precision, recall, f1, support = precision_recall_fscore_support(
            t, p, labels=labels, zero_division=0
        )
    report: dict[str, Any] = {
        "n": n,
        "correct": correct,
        "accuracy": float(accuracy_score(t, p)) if n else float("nan"),
        "balanced_accuracy": float(balanced_accuracy_score(t, p)) if n else float("nan"),
        "macro_f1": (
            float(f1_score(t, p, labels=labels, average="macro", zero_division=0))
            if n
            else float("nan")
        ),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]) if support[i] else None,
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": (
            confusion_matrix(t, p, labels=labels)
            if n
            else np.zeros((len(labels), len(labels)), dtype=int)
        ).tolist(),
        "class_names": list(class_names),
    }
    if with_intervals:
        report["accuracy_ci95"] = list(wilson_interval(correct, n))
        report["macro_f1_ci95"] = list(bootstrap_macro_f1(t, p, labels, seed=seed))
    return report
