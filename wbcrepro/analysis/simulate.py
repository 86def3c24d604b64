"""Simulated studies whose true difference is known: what the interval of
:mod:`wbcrepro.analysis.effects` is checked against (its coverage, on the method page).

A study is ``seeds`` paired seeds of a reference and an arm, each scored on the same ``n_images``
test images drawn from a population. Whether a model gets image ``i`` right is a coin with
probability ``sigmoid(b_i + u + e + delta * arm)``:

* ``b_i`` ~ N(``mean_logit``, ``image_sd``): how easy the image is, shared by every model;
* ``u``: the seed's effect on the whole model, N(0, ``seed_sd``), correlated ``pair_correlation``
  between the arm and the reference of one seed (same split and initialisation);
* ``e``: the model's own luck on that image, N(0, ``interaction_sd``);
* ``delta``: the arm's effect on the logit.

The true accuracy difference is the population's: E[sigmoid(Z + delta)] - E[sigmoid(Z)] with
Z ~ N(``mean_logit``, sqrt(image_sd^2 + seed_sd^2 + interaction_sd^2)), computed by Gauss-Hermite
quadrature. Coverage is the share of studies whose interval contains it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from wbcrepro.analysis.effects import SeedPair, difference

LABEL = 0
WRONG = 1


@dataclass(frozen=True)
class Design:
    """One simulated design; the defaults are near the cpu profile's PBC runs (about 89% test
    accuracy on 960 images, three seeds, a few points between seeds)."""

    seeds: int = 3
    n_images: int = 960
    mean_logit: float = 3.0
    image_sd: float = 2.0
    seed_sd: float = 0.3
    interaction_sd: float = 1.0
    pair_correlation: float = 0.5
    delta: float = -0.3

    def sd_total(self) -> float:
        return math.sqrt(self.image_sd**2 + self.seed_sd**2 + self.interaction_sd**2)


def _expected_sigmoid(mean: float, sd: float) -> float:
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    values = 1.0 / (1.0 + np.exp(-(mean + sd * nodes)))
    return float(np.sum(weights * values) / math.sqrt(2 * math.pi))


def true_difference(design: Design) -> float:
    """The population's accuracy of the arm minus the reference's."""
    sd = design.sd_total()
    return _expected_sigmoid(design.mean_logit + design.delta, sd) - _expected_sigmoid(
        design.mean_logit, sd
    )


def simulate_study(design: Design, rng: np.random.Generator) -> list[SeedPair]:
    """One study: ``design.seeds`` seed pairs on one draw of test images."""
    n = design.n_images
    easy = rng.normal(design.mean_logit, design.image_sd, n)
    labels = np.full(n, LABEL)
    images = tuple(str(i) for i in range(n))
    rho = design.pair_correlation
    pairs = []
    for s in range(design.seeds):
        u_ref = rng.normal(0.0, design.seed_sd)
        u_arm = rho * u_ref + math.sqrt(1 - rho**2) * rng.normal(0.0, design.seed_sd)
        predictions = []
        for u, shift in ((u_arm, design.delta), (u_ref, 0.0)):
            logit = easy + u + shift + rng.normal(0.0, design.interaction_sd, n)
            right = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
            predictions.append(np.where(right, LABEL, WRONG))
        pairs.append(SeedPair(str(s), labels, predictions[0], predictions[1], images))
    return pairs


def simulate_coverage(design: Design, studies: int = 400, seed: int = 0) -> dict:
    """Coverage of the 95% interval of the accuracy difference over ``studies`` simulated
    studies, with the mean interval width (a record for the method page)."""
    rng = np.random.default_rng(seed)
    truth = true_difference(design)
    covered, widths, no_interval = 0, [], 0
    for _ in range(studies):
        effect = difference(simulate_study(design, rng), "accuracy")
        if math.isnan(effect.low):  # counted as a miss: a study without an interval covers nothing
            no_interval += 1
            continue
        covered += effect.low <= truth <= effect.high
        widths.append(effect.high - effect.low)
    return {
        "design": asdict(design),
        "true_difference": truth,
        "studies": studies,
        "coverage": covered / studies,
        "no_interval": no_interval,
        "mean_width": float(np.mean(widths)) if widths else math.nan,
        "seed": seed,
    }
