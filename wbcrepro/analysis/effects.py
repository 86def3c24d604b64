"""The difference between two arms with an interval that counts both sources of noise.

An ablation asks whether a setting changes test accuracy *of the recipe*, not of one trained
model on one test set. Two things make a measured difference move: the training seed (another
seed of the same recipe lands elsewhere) and the test images (another draw of images from the same
population scores differently). The paired t over seeds of :mod:`wbcrepro.analysis.seedstats`
counts only the first: with one fixed test split, more seeds shrink its interval towards zero
even though the test images were drawn once. A per-run Wilson interval counts only the second.

The interval here adds the two (a two-level design, as in Bouthillier et al. 2021, "Accounting for
variance in machine learning benchmarks"):

* **seeds**: the per-seed differences ``d_s = metric(arm_s) - metric(ref_s)`` (arm and reference
  trained on the same seed and split, evaluated on the same test images), their sample variance
  ``s2 / k`` over ``k`` seeds. With 3 seeds this variance has 2 degrees of freedom (t = 4.30); a
  design with several arms against one reference may pool it over its comparisons
  (:func:`pooled_seed_variance`, as an analysis of variance pools its residual), which buys
  degrees of freedom on the assumption that the arms' seed spreads are alike.
* **test images**: the variance of the mean difference when the test images are resampled
  (bootstrap over images, the same draw for every seed when the seeds share their test images,
  so that an image hard for every model counts once per draw; a draw per seed when each seed has
  its own split).

The two add, and the interval is ``mean +- t * sqrt(seed part + image part)`` with
Welch-Satterthwaite degrees of freedom. Its coverage is measured on simulated studies whose true
difference is known (:func:`simulate_coverage`, reported on the book's method page), not assumed.

Decisions on the interval (:func:`effect_status`) use a margin of practical equivalence declared
before the runs (on each claim, :mod:`wbcrepro.analysis.paper`): *holds* / *contradicted* when
the interval excludes zero on the claimed / the other side, *no material effect* when it lies
inside plus or minus the margin, otherwise *inconclusive* with the smallest effect the design
could have detected (:func:`detectable_effect`). Everything here is numbers in, numbers out: no
files, no torch, no pandas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from wbcrepro.analysis.seedstats import NO_SPREAD

Metric = Callable[[np.ndarray, np.ndarray], float]
"""``metric(labels, predicted)`` of one run on its test images."""

CONFIDENCE = 0.95
POWER = 0.8
"""The power :func:`detectable_effect` and :func:`seeds_needed` plan for."""
IMAGE_DRAWS = 400
"""Bootstrap draws of test images for the image part of the variance."""

HOLDS, CONTRADICTED, NO_MATERIAL, INCONCLUSIVE = (
    "holds",
    "contradicted",
    "no material effect",
    "inconclusive",
)


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(labels == predicted)) if len(labels) else math.nan


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``labels`` (as scikit-learn with ``labels=`` those
    classes), in NumPy: the bootstrap calls it hundreds of times per comparison."""
    classes = np.unique(labels)
    if classes.size == 0:
        return math.nan
    scores = []
    for c in classes:
        tp = np.sum((predicted == c) & (labels == c))
        fp = np.sum((predicted == c) & (labels != c))
        fn = np.sum((predicted != c) & (labels == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


METRICS: dict[str, Metric] = {"accuracy": accuracy, "macro_f1": macro_f1}


@dataclass(frozen=True)
class SeedPair:
    """One seed of the arm and of the reference on the same test images: labels, both
    predictions, and the image ids (to tell whether seeds share their test images)."""

    seed: str
    labels: np.ndarray
    arm: np.ndarray
    reference: np.ndarray
    images: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.arm) != n or len(self.reference) != n:
            raise ValueError(
                f"seed {self.seed}: {n} labels, {len(self.arm)} arm and {len(self.reference)} "
                "reference predictions: arm and reference must be scored on the same test images"
            )


@dataclass(frozen=True)
class Effect:
    """``arm - reference`` of one metric over seeds, with its two-level interval."""

    metric: str
    mean: float
    low: float
    high: float
    seeds: int
    seed_variance: float
    """Sample variance of the per-seed differences (or the pooled one)."""
    seed_df: float
    image_variance: float
    """Variance of the mean difference over redraws of the test images."""
    df: float
    per_seed: tuple[float, ...]
    identical: bool
    """Every seed's arm predicted exactly what its reference predicted: the two arms did not
    differ in what the comparison can see (a comparison that cannot differ)."""

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.seed_variance / self.seeds + self.image_variance)

    def text(self, scale: float = 100.0, unit: str = "points") -> str:
        if math.isnan(self.low):
            return f"{self.mean * scale:+.1f} {unit} (no interval)"
        return (
            f"{self.mean * scale:+.1f} {unit} [{self.low * scale:+.1f}, {self.high * scale:+.1f}]"
        )


def _shared_images(pairs: Sequence[SeedPair]) -> bool:
    first = pairs[0]
    return all(
        len(p.labels) == len(first.labels) and p.images == first.images and p.images for p in pairs
    )


def image_variance(
    pairs: Sequence[SeedPair], metric: Metric, draws: int = IMAGE_DRAWS, seed: int = 0
) -> float:
    """Variance of the mean (over seeds) difference when the test images are redrawn: one
    bootstrap draw of image indices for all seeds when they share their images, one per seed
    otherwise."""
    shared = _shared_images(pairs)
    if metric is accuracy:  # the bootstrap's limit, exactly: a mean over images
        table = [(p.arm == p.labels) * 1.0 - (p.reference == p.labels) for p in pairs]
        if not shared:
            return float(sum(np.var(t, ddof=1) / len(t) for t in table) / len(pairs) ** 2)
        table = np.array(table)
        k, n = table.shape
        common = float(np.var(table.mean(0), ddof=1) / n)
        if k < 2:
            return common
        # each model's own luck on an image (seed x image) is in the seed part already: its
        # share of the image part would count it twice
        own_luck = float(np.mean(np.var(table - table.mean(1, keepdims=True), axis=0, ddof=1)))
        return max(common - own_luck / (k * n), 0.0)
    rng = np.random.default_rng(seed)
    values = np.empty(draws)
    for b in range(draws):
        common = rng.integers(0, len(pairs[0].labels), len(pairs[0].labels)) if shared else None
        diffs = []
        for p in pairs:
            idx = common if shared else rng.integers(0, len(p.labels), len(p.labels))
            y = p.labels[idx]
            diffs.append(metric(y, p.arm[idx]) - metric(y, p.reference[idx]))
        values[b] = np.mean(diffs)
    return float(np.var(values, ddof=1))


def pooled_seed_variance(effects: Sequence[Effect]) -> tuple[float, float]:
    """(variance, degrees of freedom) of the per-seed differences pooled over the comparisons of
    one design (each weighted by its degrees of freedom, as an analysis of variance pools)."""
    usable = [e for e in effects if e.seeds >= 2 and not math.isnan(e.seed_variance)]
    df = sum(e.seeds - 1 for e in usable)
    if df == 0:
        return math.nan, 0.0
    return sum((e.seeds - 1) * e.seed_variance for e in usable) / df, float(df)


def difference(
    pairs: Sequence[SeedPair],
    metric: str = "accuracy",
    pooled: tuple[float, float] | None = None,
    confidence: float = CONFIDENCE,
    draws: int = IMAGE_DRAWS,
) -> Effect:
    """``arm - reference`` in ``metric`` over the seed pairs, with the two-level interval.

    ``pooled``: (seed variance, its degrees of freedom) from :func:`pooled_seed_variance`, used
    instead of this comparison's own (which has ``k - 1``). Fewer than 2 seed pairs and no pooled
    variance: no interval (NaN bounds)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if not pairs:
        raise ValueError("no seed pairs: nothing to compare")
    fn = METRICS[metric]
    per_seed = tuple(fn(p.labels, p.arm) - fn(p.labels, p.reference) for p in pairs)
    k = len(per_seed)
    mean = float(np.mean(per_seed))
    identical = all(np.array_equal(p.arm, p.reference) for p in pairs)
    if pooled is not None and pooled[1] > 0:
        s2, seed_df = pooled
    elif k >= 2:
        s2, seed_df = float(np.var(per_seed, ddof=1)), float(k - 1)
    else:
        s2, seed_df = math.nan, 0.0
    v_img = image_variance(pairs, fn, draws=draws)
    nan = Effect(metric, mean, math.nan, math.nan, k, s2, seed_df, v_img, 0.0, per_seed, identical)
    if math.isnan(s2) or seed_df <= 0 or s2 <= NO_SPREAD**2:
        # every seed the same difference (common on a small test set, where accuracy moves in
        # steps): three equal values do not show that a fourth seed would agree, so no interval
        # rather than one from the test images alone (seedstats does the same)
        return nan
    seed_part = s2 / k
    total = seed_part + v_img
    if total <= 1e-18:
        return nan
    # t on the seed part's degrees of freedom: Welch-Satterthwaite's (which lets a seed variance
    # that came out small by chance borrow the image part's many degrees of freedom) covered
    # 0.90-0.93 on simulated 3-seed studies (simulate.py); the seed df covers at least 0.95
    df = seed_df
    half = stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(total)
    return Effect(metric, mean, mean - half, mean + half, k, s2, seed_df, v_img, df, per_seed,
                  identical)  # fmt: skip


def detectable_effect(
    effect: Effect, confidence: float = CONFIDENCE, power: float = POWER
) -> float:
    """The smallest true difference this design finds (its interval excluding zero) with
    probability ``power``: ``(t_(1-alpha/2) + t_power) * standard error``."""
    if effect.df <= 0 or math.isnan(effect.seed_variance):
        return math.nan
    t_a = stats.t.ppf(0.5 + confidence / 2, effect.df)
    t_b = stats.t.ppf(power, effect.df)
    return float((t_a + t_b) * effect.standard_error)


def seeds_needed(
    seed_variance: float,
    image_variance_one_seed: float,
    margin: float,
    confidence: float = CONFIDENCE,
    power: float = POWER,
    most: int = 20,
) -> int | None:
    """Seeds per arm for the smallest detectable effect to reach ``margin``, from a reference
    arm's seed spread (``seed_variance`` of per-seed differences) and the image part of one
    seed (it shrinks little with seeds when they share their test images: kept as it is).
    ``None`` when even ``most`` seeds do not reach it (the test images limit the design)."""
    for k in range(2, most + 1):
        total = seed_variance / k + image_variance_one_seed
        df = k - 1
        t_a = stats.t.ppf(0.5 + confidence / 2, df)
        t_b = stats.t.ppf(power, df)
        if (t_a + t_b) * math.sqrt(total) <= margin:
            return k
    return None


def effect_status(effect: Effect, margin: float, direction: int = 1) -> tuple[str, str]:
    """(status, reason) of a claim that the arm differs from the reference in ``direction``
    (+1: the arm is better, -1: worse, 0: the claim is that they do not differ materially).

    * no interval: inconclusive;
    * excludes zero on the claimed side: holds (a claim of no difference: contradicted, unless
      the whole interval is still inside the margin);
    * excludes zero on the other side: contradicted;
    * inside plus or minus ``margin``: no material effect (holds for a claim of no difference);
    * otherwise inconclusive, with the smallest detectable effect.
    """
    if math.isnan(effect.low):
        return INCONCLUSIVE, "no interval (too few seeds that learned)"
    inside = -margin < effect.low and effect.high < margin
    detect = detectable_effect(effect)
    if direction == 0:
        if inside:
            return HOLDS, f"the interval lies within +-{margin * 100:.1f} points"
        if effect.low > 0 or effect.high < 0:
            return CONTRADICTED, "the interval excludes zero: the settings differ"
        return (
            INCONCLUSIVE,
            f"the interval is wider than +-{margin * 100:.1f} points; the design detects "
            f"{detect * 100:.1f} points",
        )
    claimed = effect.low > 0 if direction > 0 else effect.high < 0
    other = effect.high < 0 if direction > 0 else effect.low > 0
    if claimed:
        return HOLDS, "the interval excludes zero on the claimed side"
    if other:
        return CONTRADICTED, "the interval excludes zero on the other side"
    if inside:
        return NO_MATERIAL, f"the interval lies within +-{margin * 100:.1f} points"
    return (
        INCONCLUSIVE,
        f"the interval contains zero and is wider than +-{margin * 100:.1f} points; the design "
        f"detects {detect * 100:.1f} points",
    )
