"""Claims decided by effects with a margin, on hand-made runs whose test predictions are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wbcrepro.analysis import decisions, effects, paper
from wbcrepro.analysis.arms import RunResult

N = 400
LABELS = tuple(str(i % 4) for i in range(N))
PATHS = tuple(f"img{i:04d}.jpg" for i in range(N))


def predicted(accuracy: float, seed: int) -> tuple[str, ...]:
    """Labels with the first ``(1 - accuracy) * N`` images (shifted by seed) wrong."""
    wrong = set(range(seed * 7, seed * 7 + round((1 - accuracy) * N)))
    return tuple(str((int(y) + 1) % 4) if i in wrong else y for i, y in enumerate(LABELS))


def run(
    arm: str, vary: str, value, seed: int, accuracy: float, selected: int = 5, shuffle=False
) -> RunResult:
    pred = predicted(accuracy, seed)
    rows = list(zip(PATHS, LABELS, pred, strict=True))
    if shuffle:  # another order of the same images: pairing is by path
        rows = rows[::-1]
    paths, labels, preds = (tuple(c) for c in zip(*rows, strict=True))
    acc = sum(p == y for p, y in zip(pred, LABELS, strict=True)) / N
    return RunResult(
        run_id=f"{arm}-s{seed}",
        params={vary: value, "seed": seed, "dataset": "pbc"},
        final={"test": {"accuracy": acc}},
        dataset="pbc",
        learned=True,
        predictions=(paths, labels, preds),
        selected_epoch=selected,
    )


def arm_runs(arm, vary, value, accuracies, **kw) -> list[RunResult]:
    return [run(arm, vary, value, s, a, **kw) for s, a in enumerate(accuracies)]


def test_a_clearly_better_claimed_arm_holds_and_a_worse_one_contradicts() -> None:
    claim = paper.get_claim("augmentation")
    results = arm_runs("ref", "augment", "paper", [0.90, 0.91, 0.89], shuffle=True)
    results += arm_runs("none", "augment", "none", [0.80, 0.82, 0.79])
    comparisons = decisions.compare_to_claim(claim, results)
    (only,) = comparisons
    assert (only.claimed, only.alternative) == ("paper", "none")
    assert only.effect.mean == pytest.approx((0.10 + 0.09 + 0.10) / 3)
    assert only.status == effects.HOLDS and decisions.claim_status(claim, comparisons) == "holds"
    worse = arm_runs("ref", "augment", "paper", [0.80, 0.81, 0.79])
    worse += arm_runs("none", "augment", "none", [0.90, 0.92, 0.89])
    assert decisions.claim_status(claim, decisions.compare_to_claim(claim, worse)) == (
        effects.CONTRADICTED
    )


def test_equal_arms_on_many_images_are_no_material_effect_for_not_worse_that_holds() -> None:
    claim = paper.get_claim("input_size")  # not_worse: the smallest size is not worse
    results = arm_runs("small", "img_size", 94, [0.900, 0.905, 0.895])
    results += arm_runs("ref", "img_size", 160, [0.9025, 0.9, 0.8975])
    (only,) = decisions.compare_to_claim(claim, results)
    assert only.claimed == "94" and only.status == effects.NO_MATERIAL, only.reason
    assert decisions.claim_status(claim, [only]) == effects.HOLDS  # not worse: what it claims


def test_a_noisy_comparison_is_inconclusive_and_says_what_it_could_detect() -> None:
    claim = paper.get_claim("augmentation")
    results = arm_runs("ref", "augment", "paper", [0.90, 0.70, 0.85])
    results += arm_runs("none", "augment", "none", [0.80, 0.88, 0.72])
    comparisons = decisions.compare_to_claim(claim, results)
    assert decisions.claim_status(claim, comparisons) == effects.INCONCLUSIVE
    detect = decisions.smallest_detectable(comparisons)
    assert detect > claim.margin and "the design detects" in comparisons[0].reason


def test_arms_that_selected_before_the_switch_are_not_tested() -> None:
    claim = paper.get_claim("lr_schedule")
    results = arm_runs("late", "lr_switch_epoch", 6, [0.9, 0.8, 0.85], selected=1)
    results += arm_runs("early", "lr_switch_epoch", 4, [0.9, 0.8, 0.85], selected=2)
    (only,) = decisions.compare_to_claim(claim, results)
    assert only.claimed == "6" and only.status == decisions.NOT_TESTED
    assert "before epoch 4" in only.reason
    assert decisions.claim_status(claim, [only]) == decisions.NOT_TESTED
    # a selected epoch after the switch: the comparison can differ, and is made
    results[0] = run("late", "lr_switch_epoch", 6, 0, 0.9, selected=7)
    (made,) = decisions.compare_to_claim(claim, results)
    assert made.status == decisions.NOT_TESTED  # same predictions: still nothing to compare
    assert "same class for every test image" in made.reason


def test_runs_tested_on_different_images_are_refused() -> None:
    claim = paper.get_claim("augmentation")
    results = arm_runs("ref", "augment", "paper", [0.9, 0.9, 0.9])
    other = arm_runs("none", "augment", "none", [0.8, 0.8, 0.8])
    paths, labels, preds = other[0].predictions
    other[0] = RunResult(
        **{**other[0].__dict__, "predictions": (("x.jpg", *paths[1:]), labels, preds)}
    )
    with pytest.raises(ValueError, match="ref-s0 and none-s0 were tested on different images"):
        decisions.compare_to_claim(claim, results + other)


def test_every_comparison_claim_declares_a_margin() -> None:
    for claim in paper.CLAIMS:
        if claim.test in decisions.DIRECTIONS:
            assert 0 < claim.margin <= 0.05 and claim.margin_reason, claim.id
    assert math.isnan(decisions.smallest_detectable([]))
    assert np.isclose(paper.get_claim("transfer").margin, 0.03)


def test_an_inconclusive_claim_says_how_many_seeds_would_decide_it() -> None:
    from wbcrepro.analysis import verdicts

    claim = paper.get_claim("augmentation")
    results = arm_runs("ref", "augment", "paper", [0.90, 0.86, 0.88])
    results += arm_runs("none", "augment", "none", [0.88, 0.87, 0.85])
    status, lines = verdicts.comparison_status(claim, results)
    assert status == effects.INCONCLUSIVE
    need = decisions.seeds_for_margin(decisions.compare_to_claim(claim, results), claim.margin)
    assert need is not None and need > 3
    assert f"{need} seeds per arm would reach it" in lines[-1]
    # the same seeds on 40 test images: the images alone keep the interval wider than 2 points
    few = [
        RunResult(**{**r.__dict__, "predictions": tuple(c[:40] for c in r.predictions)})
        for r in results
    ]
    assert decisions.seeds_for_margin(decisions.compare_to_claim(claim, few), claim.margin) is None
