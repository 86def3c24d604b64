"""Saying when unsure: the validation-chosen threshold, the per-image flag in ``predict``'s CSV,
the batch warning, and the rule travelling inside a shipped file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.fixtures.model_run_folders import cell_image, make_run_folder
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.inference.confidence import (
    CORRECT_SHARE_FLAGGED,
    WARN_MIN_IMAGES,
    batch_warning,
    rule_from_run_folder,
    unsure_flags,
    unsure_rule,
)
from wbcrepro.inference.loading import load_model
from wbcrepro.inference.predict import predict_images
from wbcrepro.inference.shipped import export_model

CLASSES = ("a", "b")


def _val(tops: list[float], correct: list[bool]) -> pd.DataFrame:
    """Validation predictions of a two-class model: top probability and whether it was right."""
    rows = []
    for top, ok in zip(tops, correct, strict=True):
        rows.append({"label": "a" if ok else "b", "predicted": "a", "p_a": top, "p_b": 1 - top})
    return pd.DataFrame(rows)


def test_threshold_flags_a_tenth_of_correct_answers_and_reports_the_wrong_ones() -> None:
    tops = [0.5 + i / 200 for i in range(100)]  # 0.5 ... 0.995
    correct = [i >= 20 for i in range(100)]  # the 20 least confident are the wrong ones
    rule = unsure_rule(_val(tops, correct), CLASSES)
    right = np.array(tops[20:])
    assert rule["threshold"] == pytest.approx(np.quantile(right, CORRECT_SHARE_FLAGGED), abs=1e-4)
    assert rule["validation_correct_unsure_share"] == pytest.approx(0.1, abs=0.02)
    assert rule["validation_wrong_unsure_share"] == 1.0  # every wrong answer was less sure
    assert rule["validation_images"] == 100
    share = rule["validation_unsure_share"]
    assert share == pytest.approx((20 + 0.1 * 80) / 100, abs=0.02)
    assert unsure_rule(_val([0.9], [False]), CLASSES) is None  # nothing right: no rule
    assert (
        unsure_rule(_val([], []).reindex(columns=["label", "predicted", "p_a", "p_b"]), CLASSES)
        is None
    )
    with pytest.raises(ValueError, match="p_b"):
        unsure_rule(_val([0.9], [True]).drop(columns="p_b"), CLASSES)


def test_flags_and_the_batch_warning() -> None:
    rule = {"threshold": 0.6, "validation_unsure_share": 0.08}
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4]])
    assert unsure_flags(probs, rule).tolist() == [False, True, False]
    assert unsure_flags(probs, None) is None
    many = np.array([True] * 10 + [False] * (WARN_MIN_IMAGES - 10))
    warning = batch_warning(many, rule)
    assert warning and "10 of 20 images (50%) are unsure" in warning and "--adapt" in warning
    assert batch_warning(np.array([True] * 2 + [False] * 18), rule) is None  # 10%: as usual
    assert batch_warning(np.array([True] * (WARN_MIN_IMAGES - 1)), rule) is None  # too few
    assert batch_warning(None, None) is None


def test_the_rule_travels_in_the_shipped_file_and_flags_predictions(tmp_path) -> None:
    run = make_run_folder(tmp_path / "run", "efficientnet_lite0")
    assert rule_from_run_folder(run, PAPER_CLASSES) is None  # no validation predictions yet
    images = tmp_path / "cells"
    images.mkdir()
    for i in range(WARN_MIN_IMAGES):
        cell_image(i).save(images / f"c{i:02d}.png")
    loaded = load_model(run)
    probs = predict_images(loaded, sorted(images.iterdir())).table.filter(like="p_")
    # validation predictions whose threshold sits in the middle of these images' confidences
    top = probs.max(axis=1).to_numpy()
    val = pd.DataFrame(probs.to_numpy(), columns=[f"p_{c}" for c in PAPER_CLASSES])
    val.insert(0, "predicted", [PAPER_CLASSES[i] for i in probs.to_numpy().argmax(1)])
    val.insert(0, "label", val["predicted"])
    val.insert(0, "path", [f"v{i}.png" for i in range(len(val))])
    val.to_csv(run / "predictions_val.csv", index=False)
    export_model(run, tmp_path / "shipped.pt")
    shipped = load_model(tmp_path / "shipped.pt")
    assert shipped.unsure == rule_from_run_folder(run, PAPER_CLASSES)
    assert shipped.unsure["threshold"] == pytest.approx(np.quantile(top, 0.1), abs=1e-3)
    result = predict_images(shipped, sorted(images.iterdir()))
    flags = result.table["unsure"].astype(bool)
    threshold = shipped.unsure["threshold"]
    expected = result.table.filter(like="p_").max(axis=1) < threshold
    assert flags.tolist() == expected.tolist() and flags.any() and not flags.all()
