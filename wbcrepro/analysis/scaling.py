"""Test error against scale, fitted with a curve that levels off: does more compute reach 99 %?

The obvious objection to "accuracy: not reproduced" on a 2-core CPU is compute: fewer images,
epochs and pixels than the paper. A few runs at larger scale answer it only if their trend is
read, not their last point. Here test error ``e`` against a scale ``x`` (training images, epochs,
or their product) is fitted by the usual saturating power law

    e(x) = floor + gain * x ** (-rate),   floor >= 0, gain >= 0, rate > 0

whose ``floor`` is the error this recipe tends to with unlimited scale along that axis. Its
interval comes from a parametric bootstrap: each point is redrawn from its own test-sampling
noise (a binomial on its test images), the curve refitted, and the 2.5-97.5 percentiles of the
refitted floors kept. The verdict (:func:`floor_verdict`) then says which of two statements the
curve supports: the paper's error is below the whole floor interval (*not reached by this recipe
at any scale the curve supports*), or it is inside or above it (*not reproduced at this scale*:
more scale might reach it). With three or four points the interval is wide, and says so; a fit
that fails is reported as such, never replaced by a line through the points.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

DRAWS = 500

NOT_REACHABLE = "not reached by this recipe at any scale the curve supports"
NOT_AT_THIS_SCALE = "not reproduced at this scale"
NO_FIT = "no fit"


def power_law(x: np.ndarray, floor: float, gain: float, rate: float) -> np.ndarray:
    return floor + gain * np.power(x, -rate)


@dataclass(frozen=True)
class ScaleFit:
    """The fitted curve of test error against one scale, with the floor's interval."""

    axis: str
    floor: float
    gain: float
    rate: float
    floor_low: float
    floor_high: float
    points: int
    fitted_draws: int
    """Bootstrap draws whose refit converged (the interval rests on these)."""

    @property
    def ok(self) -> bool:
        return not math.isnan(self.floor)


def _fit(x: np.ndarray, err: np.ndarray, sigma: np.ndarray) -> tuple[float, float, float] | None:
    start = (max(float(err.min()) * 0.5, 1e-4), float(err.max()) * float(x.min()) ** 0.5, 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(
                power_law,
                x,
                err,
                p0=start,
                sigma=sigma,
                bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, 5.0]),
                maxfev=20000,
            )
    except (RuntimeError, ValueError):
        return None
    return float(params[0]), float(params[1]), float(params[2])


def fit_scale(
    axis: str,
    scale: Sequence[float],
    error: Sequence[float],
    n_test: Sequence[int],
    draws: int = DRAWS,
    seed: int = 0,
) -> ScaleFit:
    """Fit ``error`` (test error of each point, one run or a seed mean) against ``scale`` with
    its test-sampling noise (``n_test`` images per point). Fewer than 3 distinct scales: no fit
    (three parameters need three points)."""
    x = np.asarray(scale, float)
    err = np.asarray(error, float)
    n = np.asarray(n_test, float)
    if not (len(x) == len(err) == len(n)):
        raise ValueError(f"{len(x)} scales, {len(err)} errors and {len(n)} test sizes")
    nan = ScaleFit(axis, math.nan, math.nan, math.nan, math.nan, math.nan, len(x), 0)
    if len(np.unique(x)) < 3:
        return nan
    sigma = np.sqrt(np.clip(err * (1 - err), 1e-6, None) / n)
    fitted = _fit(x, err, sigma)
    if fitted is None:
        return nan
    rng = np.random.default_rng(seed)
    floors = []
    for _ in range(draws):
        redrawn = rng.binomial(n.astype(int), np.clip(err, 0.0, 1.0)) / n
        again = _fit(x, redrawn, np.sqrt(np.clip(redrawn * (1 - redrawn), 1e-6, None) / n))
        if again is not None:
            floors.append(again[0])
    if len(floors) < draws // 2:
        return ScaleFit(axis, *fitted, math.nan, math.nan, len(x), len(floors))
    low, high = np.percentile(floors, [2.5, 97.5])
    return ScaleFit(axis, *fitted, float(low), float(high), len(x), len(floors))


def floor_verdict(fit: ScaleFit, claimed_error: float) -> str:
    """Which statement the curve supports about reaching ``claimed_error`` (0.01 for 99 %)."""
    if not fit.ok or math.isnan(fit.floor_low):
        return NO_FIT
    if claimed_error < fit.floor_low:
        return NOT_REACHABLE
    return NOT_AT_THIS_SCALE
