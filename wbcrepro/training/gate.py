"""Did the model learn anything? A verdict from the test report alone, before any claim is made.

A fine-tuned network can report a plausible accuracy while predicting one class (the majority
class of an imbalanced test set, or any class after a BatchNorm collapse). Two checks catch it:
balanced accuracy, whose chance level is 1/K whatever the class balance, must exceed chance with
95 % confidence; and no single class may take nearly all predictions unless it takes nearly all
labels too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

DOMINANT_SHARE = 0.9
"""A class predicted for this share of the images or more, while being less of the labels, marks
a (near) single-class predictor."""


def learning_gate(report: Mapping[str, Any] | None, dominant_share: float = DOMINANT_SHARE) -> dict:
    """``{"learned": bool, "reasons": [...]}`` from a
    :func:`wbcrepro.metrics.classification_report`
    with intervals (``balanced_accuracy_ci95``, ``confusion_matrix``, ``class_names``).

    Degenerate (``learned`` false) when the lower bound of the test balanced accuracy's 95 %
    bootstrap interval does not exceed chance (1/K; an undefined interval counts as not
    exceeding it), or when one class receives ``dominant_share`` of the predictions or more
    while being less than that share of the labels. ``reasons`` says which; empty when learned.
    """
    if not report or not report.get("n"):
        return {"learned": False, "reasons": ["no test images: learning cannot be shown"]}
    classes = list(report["class_names"])
    chance = 1.0 / len(classes)
    reasons: list[str] = []
    low = report.get("balanced_accuracy_ci95", [math.nan])[0]
    if low is None or not math.isfinite(low) or low <= chance:
        shown = "undefined" if low is None or not math.isfinite(low) else f"{low:.3f}"
        reasons.append(
            f"test balanced accuracy {report['balanced_accuracy']:.3f} has a 95 % CI lower "
            f"bound of {shown}, not above chance 1/{len(classes)} = {chance:.3f}"
        )
    matrix = np.asarray(report["confusion_matrix"])
    n = matrix.sum()
    predicted, labelled = matrix.sum(0) / n, matrix.sum(1) / n
    top = int(predicted.argmax())
    if predicted[top] >= dominant_share and labelled[top] < dominant_share:
        reasons.append(
            f"predicts {classes[top]!r} for {predicted[top]:.0%} of the test images, while it is "
            f"{labelled[top]:.0%} of the labels (a single-class predictor)"
        )
    return {"learned": not reasons, "reasons": reasons}
