"""Statistics across training seeds: the uncertainty a verdict about a *setting* needs.

A run's Wilson interval covers test sampling only: it says how well one trained model was measured,
not how much another seed of the same recipe would differ. Measured on this project's BCCD runs,
three seeds of one configuration spanned 10-51 % test accuracy while each run's interval was a few
points wide. So two settings are compared by the mean of their per-seed differences with a
t interval across seeds (paired by seed when both arms ran the same seeds on the same split, which
removes the shared split-and-initialisation noise; Welch otherwise). With three seeds the interval
is wide by design: that is the honest width of the evidence.

Values without any spread (every seed the same, or every paired difference the same: common on a
68-image test set, where accuracy moves in steps of 1.5 points) give no interval at all (NaN
bounds), not a zero-width one: three equal values do not show that a fourth seed would agree,
and a zero-width interval would turn a two-image difference into a verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

MIN_SEEDS = 3
"""Seeds an arm needs before a verdict may rest on it."""
NO_SPREAD = 1e-12
"""A standard error at or below this is no spread (float noise of equal values, e.g. 54/68 - 56/68
against 55/68 - 57/68)."""


@dataclass(frozen=True)
class Difference:
    """Mean of ``a - b`` across seeds with its interval; ``method`` says how it was computed."""

    mean: float
    low: float
    high: float
    n_a: int
    n_b: int
    method: str

    @property
    def a_better(self) -> bool:
        return self.low > 0

    @property
    def b_better(self) -> bool:
        return self.high < 0


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and t interval of ``values`` (the spread over seeds); NaN bounds below 2 values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sem = stats.sem(values)
    if sem <= NO_SPREAD:  # the t interval is undefined, not zero-width (see the module doc)
        return mean, math.nan, math.nan
    half = sem * stats.t.ppf(0.5 + confidence / 2, n - 1)
    return mean, mean - half, mean + half


def compare_seeds(
    a: Sequence[float],
    b: Sequence[float],
    paired: bool = False,
    confidence: float = 0.95,
) -> Difference:
    """Interval of the mean difference ``a - b`` across seeds.

    ``paired`` (same seeds, same split, in the same order): a one-sample t interval of the
    per-seed differences. Otherwise Welch's interval (unequal variances). Fewer than two values
    on a side give NaN bounds, which no verdict reads as a difference.
    """
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired comparison needs equal lengths, got {len(a)} and {len(b)}")
        mean, low, high = mean_interval([x - y for x, y in zip(a, b, strict=True)], confidence)
        method = f"paired t over {len(a)} seeds"
        if len(a) >= 2 and math.isnan(low):
            method = f"the same difference for all {len(a)} seeds: no interval"
        return Difference(mean, low, high, len(a), len(b), method)
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        return Difference(math.nan, math.nan, math.nan, n_a, n_b, "no values")
    mean = sum(a) / n_a - sum(b) / n_b
    if n_a < 2 or n_b < 2:
        return Difference(mean, math.nan, math.nan, n_a, n_b, "too few seeds for an interval")
    va, vb = statistics.variance(a) / n_a, statistics.variance(b) / n_b  # exact: no warning
    se = math.sqrt(va + vb)
    if se <= NO_SPREAD:
        return Difference(mean, math.nan, math.nan, n_a, n_b, "no spread across seeds: no interval")
    dof = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    half = se * stats.t.ppf(0.5 + confidence / 2, dof)
    return Difference(mean, mean - half, mean + half, n_a, n_b, f"Welch t, {n_a} vs {n_b} seeds")
