"""Seed statistics: intervals across seeds, paired and unpaired, against scipy's own t tests."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from wbcrepro.analysis.seedstats import compare_seeds, mean_interval


def test_mean_interval_matches_scipy_t_interval() -> None:
    values = [0.80, 0.84, 0.86]
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 2, loc=sum(values) / 3, scale=stats.sem(values))
    assert mean == pytest.approx(0.8333333)
    assert (low, high) == pytest.approx(expected)
    assert math.isnan(mean_interval([0.5])[1])


def test_paired_difference_is_decided_by_the_per_seed_differences() -> None:
    # Large seed-to-seed spread shared by both arms, about +5 points per seed (4.5 to 5.5): paired
    # comparison sees it, an unpaired one does not.
    a = [0.55, 0.75, 0.95]
    b = [0.50, 0.695, 0.905]
    paired = compare_seeds(a, b, paired=True)
    assert paired.mean == pytest.approx(0.05) and paired.a_better
    unpaired = compare_seeds(a, b)
    assert not unpaired.a_better and not unpaired.b_better
    # Welch's p-value and our interval agree on "no difference at 5 %".
    assert stats.ttest_ind(a, b, equal_var=False).pvalue > 0.05


def test_clear_loss_and_too_few_seeds() -> None:
    worse = compare_seeds([0.30, 0.32, 0.31], [0.85, 0.86, 0.88])
    assert worse.b_better and not worse.a_better
    single = compare_seeds([0.9], [0.1, 0.2, 0.3])
    assert math.isnan(single.low) and not single.a_better and not single.b_better
    with pytest.raises(ValueError, match="equal lengths"):
        compare_seeds([0.1, 0.2], [0.3], paired=True)


def test_no_spread_gives_no_interval_and_no_verdict() -> None:
    """On a 68-image test set three seeds can differ by exactly two images each: a zero-width
    interval would call that a difference; there must be no interval and no verdict."""
    paired = compare_seeds([54 / 68, 54 / 68, 55 / 68], [56 / 68, 56 / 68, 57 / 68], paired=True)
    assert paired.mean == pytest.approx(-2 / 68)
    assert math.isnan(paired.low) and math.isnan(paired.high)
    assert not paired.a_better and not paired.b_better
    assert "same difference for all 3 seeds" in paired.method
    welch = compare_seeds([0.8, 0.8, 0.8], [0.7, 0.7, 0.7])
    assert math.isnan(welch.low) and not welch.a_better and "no spread" in welch.method
    mean, low, high = mean_interval([0.5, 0.5, 0.5])
    assert mean == 0.5 and math.isnan(low) and math.isnan(high)
