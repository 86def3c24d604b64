"""Seed statistics: intervals across seeds, paired and unpaired, against scipy's own t tests."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from wbcrepro.seedstats import compare_seeds, mean_interval


def test_mean_interval_matches_scipy_t_interval() -> None:
    values = [0.80, 0.84, 0.86]
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 2, loc=sum(values) / 3, scale=stats.sem(values))
    assert mean == pytest.approx(0.8333333)
    assert (low, high) == pytest.approx(expected)
    assert math.isnan(mean_interval([0.5])[1])


def test_paired_difference_is_decided_by_the_per_seed_differences() -> None:
    # Large seed-to-seed spread shared by both arms, a consistent +5 points per seed: paired
    # comparison sees it, an unpaired one does not.
    a = [0.55, 0.75, 0.95]
    b = [0.50, 0.70, 0.90]
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
