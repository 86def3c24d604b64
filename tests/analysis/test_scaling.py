"""The saturating fit of test error against scale, on points drawn from a known curve."""

from __future__ import annotations

import numpy as np
import pytest

from wbcrepro.analysis import scaling


def points(floor: float, gain: float, rate: float, scales, n_test: int, seed: int = 0):
    """Test errors at ``scales`` drawn from the curve, each from its own ``n_test`` images."""
    rng = np.random.default_rng(seed)
    true = scaling.power_law(np.asarray(scales, float), floor, gain, rate)
    return rng.binomial(n_test, true) / n_test


def test_the_floor_of_a_known_curve_is_inside_its_interval() -> None:
    """Six points of a curve that levels off at 10 % error, 2,000 test images each, two draws:
    the floor's interval covers the truth both times, and 99 % accuracy (1 % error) is below it
    at least once (the fit trades floor against gain, so an interval can reach down to 0: one
    draw in five did with 500 bootstrap draws)."""
    scales = [100, 200, 400, 800, 1600, 3200]
    verdicts = []
    for seed in range(2):
        err = points(0.10, 10.0, 1.0, scales, n_test=2000, seed=seed)
        fit = scaling.fit_scale("train images", scales, err, [2000] * 6, draws=100)
        assert fit.ok and fit.fitted_draws >= 50
        assert fit.floor_low <= 0.10 <= fit.floor_high, (seed, fit)
        verdicts.append(scaling.floor_verdict(fit, 0.01))
        # 15 % error (85 % accuracy) is within reach of more scale
        assert scaling.floor_verdict(fit, 0.15) == scaling.NOT_AT_THIS_SCALE
    assert verdicts.count(scaling.NOT_REACHABLE) >= 1, verdicts


def test_a_curve_still_falling_to_zero_is_not_at_this_scale() -> None:
    scales = [300, 600, 1200, 2400]
    err = points(0.0, 3.0, 0.5, scales, n_test=960, seed=1)
    fit = scaling.fit_scale("train images", scales, err, [960] * 4, draws=100)
    assert fit.ok and fit.floor_low <= 0.01
    assert scaling.floor_verdict(fit, 0.01) == scaling.NOT_AT_THIS_SCALE


def test_fewer_than_three_scales_give_no_fit() -> None:
    fit = scaling.fit_scale("epochs", [3, 6, 6], [0.2, 0.1, 0.11], [960] * 3)
    assert not fit.ok and scaling.floor_verdict(fit, 0.01) == scaling.NO_FIT
    with pytest.raises(ValueError, match="3 scales, 2 errors and 3 test sizes"):
        scaling.fit_scale("epochs", [3, 6, 12], [0.2, 0.1], [960] * 3)
