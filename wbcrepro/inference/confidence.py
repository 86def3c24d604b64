"""Saying when unsure: a per-image flag and a per-batch warning for ``wbcrepro predict``.

A softmax always sums to one, so a model shown a cell unlike anything it was trained on still
names a class; tried on another lab's monocytes, the PBC model called every one "eosinophil" at
0.28-0.44 confidence, printed like any other answer. Two signals are cheap and honest:

* **per image**: ``unsure`` when the model's top probability is below a threshold chosen on the
  source run's *validation* predictions (never the test split): the
  :data:`CORRECT_SHARE_FLAGGED` quantile of the top probability of the validation images it got
  right, so that on images like its training data about one correct answer in ten is flagged,
  and the wrong ones much more often (:func:`unsure_rule` records both shares, the model card
  states them);
* **per batch**: when many more images are unsure than validation showed
  (:func:`batch_warning`), the batch probably comes from a lab, stain or scanner the model has
  not seen, and ``--adapt`` (BatchNorm statistics from the batch) is worth trying.

Neither is a guarantee: a model can be confidently wrong on another lab's images (the flag then
stays off). The leave-one-lab-out numbers on the model card are the estimate for a new lab.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CORRECT_SHARE_FLAGGED = 0.10
"""Share of the correct validation answers that fall below the threshold."""
WARN_MIN_IMAGES = 20
"""A batch smaller than this gets no batch warning: its unsure share is too noisy to read."""
WARN_FACTOR = 3.0
"""The batch warning fires when the unsure share is this many times validation's ..."""
WARN_MIN_SHARE = 0.30
"""... and at least this share of the batch."""


def unsure_rule(
    predictions: pd.DataFrame, class_names: Sequence[str], source: str = ""
) -> dict[str, Any] | None:
    """The threshold and what it does on validation, from a run's ``predictions_val.csv``
    (``label``, ``predicted``, ``p_<class>``); None when there is no validation prediction or
    no correct one to set it from."""
    columns = [f"p_{name}" for name in class_names]
    missing = [c for c in ("label", "predicted", *columns) if c not in predictions.columns]
    if missing:
        raise ValueError(f"{source or 'validation predictions'}: no column(s) {', '.join(missing)}")
    if predictions.empty:
        return None
    top = predictions[columns].to_numpy(dtype=float).max(axis=1)
    correct = (predictions["label"] == predictions["predicted"]).to_numpy()
    if not correct.any():
        return None
    threshold = float(np.quantile(top[correct], CORRECT_SHARE_FLAGGED))
    flagged = top < threshold
    return {
        "threshold": round(threshold, 4),
        "rule": (
            f"unsure when the top probability is below the {CORRECT_SHARE_FLAGGED:.0%} quantile "
            "of the top probability of the correct validation answers"
        ),
        "validation_images": len(top),
        "validation_unsure_share": float(flagged.mean()),
        "validation_correct_unsure_share": float(flagged[correct].mean()),
        "validation_wrong_unsure_share": (
            float(flagged[~correct].mean()) if (~correct).any() else None
        ),
        "source": source,
    }


def rule_from_run_folder(folder: Path | None, class_names: Sequence[str]) -> dict[str, Any] | None:
    """:func:`unsure_rule` of a run folder's ``predictions_val.csv`` (None without one)."""
    path = None if folder is None else Path(folder) / "predictions_val.csv"
    if path is None or not path.is_file():
        return None
    return unsure_rule(pd.read_csv(path), class_names, source=path.name)


def unsure_flags(probabilities: np.ndarray, rule: dict[str, Any] | None) -> np.ndarray | None:
    """Per row: the model's own top probability below the rule's threshold (None: no rule)."""
    if rule is None:
        return None
    return probabilities.max(axis=1) < rule["threshold"]


def batch_warning(flags: np.ndarray | None, rule: dict[str, Any] | None) -> str | None:
    """One warning when a batch of at least :data:`WARN_MIN_IMAGES` images holds far more unsure
    answers than validation did; None otherwise."""
    if flags is None or rule is None or len(flags) < WARN_MIN_IMAGES:
        return None
    share, expected = float(np.mean(flags)), float(rule["validation_unsure_share"])
    if share < max(WARN_FACTOR * expected, WARN_MIN_SHARE):
        return None
    return (
        f"warning: {int(np.sum(flags))} of {len(flags)} images ({share:.0%}) are unsure, against "
        f"{expected:.0%} of the model's validation images: these images look unlike the labs it "
        "was trained on, and its answers are likely to be wrong. If they come from one lab and "
        "scanner, try --adapt (see the model card)."
    )
