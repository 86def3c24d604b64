"""The two-level interval of an arm-minus-reference difference, its coverage on simulated studies
with a known truth, and the decisions read from it (margin, smallest detectable effect, seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wbcrepro.analysis import effects
from wbcrepro.analysis.effects import SeedPair
from wbcrepro.analysis.simulate import Design, simulate_coverage, simulate_study, true_difference


def pair(seed: str, labels, arm, reference, shared: bool = True) -> SeedPair:
    labels = np.asarray(labels)
    images = tuple(map(str, range(len(labels)))) if shared else (seed,)
    return SeedPair(seed, labels, np.asarray(arm), np.asarray(reference), images)


def test_per_seed_differences_and_their_mean_are_exact() -> None:
    labels = [0, 0, 1, 1, 2, 2, 0, 1, 2, 0]
    right = list(labels)
    one_wrong = [1, *labels[1:]]
    two_wrong = [1, 2, *labels[2:]]
    pairs = [
        pair("0", labels, right, two_wrong),  # +0.2
        pair("1", labels, right, one_wrong),  # +0.1
        pair("2", labels, one_wrong, one_wrong),  # 0
    ]
    effect = effects.difference(pairs, "accuracy")
    assert effect.per_seed == pytest.approx((0.2, 0.1, 0.0))
    assert effect.mean == pytest.approx(0.1)
    assert effect.seed_variance == pytest.approx(0.01)  # sample variance of 0.2, 0.1, 0
    assert effect.seed_df == 2 and effect.low < effect.mean < effect.high
    assert not effect.identical
    # the interval is at least the paired t over seeds alone (t = 4.30 with 2 df)
    assert effect.high - effect.mean >= 4.30 * math.sqrt(0.01 / 3) - 1e-9


def test_arms_that_predicted_the_same_are_flagged_identical() -> None:
    labels = [0, 1, 2, 0, 1, 2]
    same = [0, 1, 1, 0, 2, 2]
    effect = effects.difference([pair(s, labels, same, same) for s in "012"], "macro_f1")
    assert effect.identical and effect.mean == 0.0
    assert math.isnan(effect.low)  # no spread at all: no interval, never a zero-width one


def test_arm_and_reference_on_different_images_are_refused_naming_the_seed() -> None:
    with pytest.raises(ValueError, match="seed 4: 3 labels, 2 arm and 3 reference"):
        SeedPair("4", np.zeros(3), np.zeros(2), np.zeros(3))


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        effects.difference([pair("0", [0], [0], [0])], "acc")


def test_macro_f1_matches_scikit_learn() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    labels, predicted = rng.integers(0, 5, 200), rng.integers(0, 6, 200)
    expected = f1_score(labels, predicted, labels=np.unique(labels), average="macro")
    assert effects.macro_f1(labels, predicted) == pytest.approx(expected)


def test_accuracy_image_part_is_the_bootstrap_limit() -> None:
    """The exact image variance for accuracy is what the bootstrap over images gives (to its own
    noise): seeds with their own splits; seeds sharing their images and predicting alike (no
    model's own luck to take out); and, with luck, never more than the bootstrap."""
    rng = np.random.default_rng(0)
    study = simulate_study(Design(seeds=3, n_images=300), rng)
    booted = lambda pairs: effects.image_variance(pairs, lambda y, p: effects.accuracy(y, p), 3000)  # noqa: E731
    own = [pair(p.seed, p.labels, p.arm, p.reference, shared=False) for p in study]
    assert effects.image_variance(own, effects.accuracy) == pytest.approx(booted(own), rel=0.15)
    alike = [pair(str(s), study[0].labels, study[0].arm, study[0].reference) for s in range(3)]
    assert effects.image_variance(alike, effects.accuracy) == pytest.approx(booted(alike), rel=0.15)
    assert effects.image_variance(study, effects.accuracy) <= booted(study)


def test_the_interval_covers_the_true_difference_about_95_percent() -> None:
    """On simulated 3-seed studies of the PBC design (960 test images) with a known true
    difference: the measured coverage is the figure the method page reports."""
    record = simulate_coverage(Design(), studies=1000, seed=1)
    assert record["true_difference"] == pytest.approx(true_difference(Design()))
    assert record["no_interval"] == 0
    assert 0.93 <= record["coverage"] <= 0.98, record
    null = simulate_coverage(Design(delta=0.0), studies=500, seed=2)
    assert null["true_difference"] == 0.0
    assert 0.93 <= null["coverage"] <= 0.98, null


def test_more_seeds_narrow_the_interval_and_pooling_buys_degrees_of_freedom() -> None:
    three = simulate_coverage(Design(seeds=3), studies=200, seed=3)
    five = simulate_coverage(Design(seeds=5), studies=200, seed=3)
    assert five["mean_width"] < 0.75 * three["mean_width"]
    rng = np.random.default_rng(5)
    comparisons = [effects.difference(simulate_study(Design(), rng)) for _ in range(3)]
    variance, df = effects.pooled_seed_variance(comparisons)
    assert df == 6
    assert variance == pytest.approx(np.mean([c.seed_variance for c in comparisons]))
    alone = comparisons[0]
    pooled = effects.difference(
        simulate_study(Design(), np.random.default_rng(5)), pooled=(variance, df)
    )
    assert pooled.seed_df == 6 and pooled.mean == alone.mean
    # the same variance with 6 df instead of 2 gives a t of 2.45 instead of 4.30
    assert (
        effects.detectable_effect(pooled)
        < effects.detectable_effect(alone) * (variance / alone.seed_variance) ** 0.5
    )


def effect_at(mean: float, low: float, high: float) -> effects.Effect:
    return effects.Effect("accuracy", mean, low, high, 3, 0.0004, 2.0, 1e-5, 2.0, (mean,), False)


@pytest.mark.parametrize(
    ("interval", "direction", "status"),
    [
        ((0.04, 0.01, 0.07), 1, effects.HOLDS),
        ((-0.04, -0.07, -0.01), 1, effects.CONTRADICTED),
        ((-0.04, -0.07, -0.01), -1, effects.HOLDS),
        ((0.002, -0.01, 0.015), 1, effects.NO_MATERIAL),
        ((0.01, -0.05, 0.07), 1, effects.INCONCLUSIVE),
        ((0.002, -0.01, 0.015), 0, effects.HOLDS),
        ((0.05, 0.03, 0.07), 0, effects.CONTRADICTED),
        ((0.01, -0.05, 0.07), 0, effects.INCONCLUSIVE),
    ],
)
def test_status_with_a_margin(interval, direction, status) -> None:
    got, reason = effects.effect_status(effect_at(*interval), margin=0.02, direction=direction)
    assert got == status, reason
    if status == effects.INCONCLUSIVE:
        assert "the design detects" in reason and "points" in reason


def test_seeds_needed_grow_with_the_spread_and_stop_where_images_limit() -> None:
    few = effects.seeds_needed(0.0001, 1e-6, margin=0.03)
    many = effects.seeds_needed(0.0009, 1e-6, margin=0.03)
    assert few is not None and many is not None and few < many
    # the test images alone are wider than the margin: no number of seeds reaches it
    assert effects.seeds_needed(0.0001, 0.0004, margin=0.03) is None
