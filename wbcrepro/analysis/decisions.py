"""A comparison claim decided by effects with a margin: holds, contradicted, no material effect,
inconclusive (with the smallest detectable effect) or not tested here.

:mod:`wbcrepro.analysis.effects` measures one arm against one reference over paired seeds and
test images. Here the arms of a claim's evidence are paired with the claim's own arm (the
paper's setting, ``claim.expected``) on each dataset apart, the seed variance is pooled over the
comparisons of one design, and each comparison gets a status against ``claim.margin``. Two arms
that selected identical models (the same predictions on every test image of every seed, or every
selected epoch before the one the factor acts at) are *not tested here*: such a comparison
cannot differ, so "no difference" would be a statement about nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wbcrepro.analysis import effects, paper
from wbcrepro.analysis.arms import Arm, RunResult, arms
from wbcrepro.analysis.effects import Effect, SeedPair
from wbcrepro.analysis.seedstats import MIN_SEEDS

NOT_TESTED = "not tested here"
PARTLY = "holds in part"

DIRECTIONS = {"better": 1, "not_worse": 1, "equivalent": 0}
"""The side a claim puts its own arm on, against each alternative (``equivalent``: none)."""
SUPPORTS = {
    "better": (effects.HOLDS,),
    "not_worse": (effects.HOLDS, effects.NO_MATERIAL),
    "equivalent": (effects.HOLDS,),
}
"""The per-comparison statuses that carry the claim."""
ACTS_FROM_EPOCH = {"lr_switch_epoch"}
"""Factors that act only from an epoch on (the value of the key): a model selected before the
earliest of the arms' values never saw the factor."""


@dataclass(frozen=True)
class Comparison:
    """The claim's arm minus one alternative, on one dataset."""

    dataset: str
    claimed: str
    alternative: str
    effect: Effect | None
    status: str
    reason: str

    def line(self, vary: str) -> str:
        shown = self.effect.text() if self.effect is not None else "no paired seeds"
        return (
            f"{self.dataset}: {vary}={self.claimed} minus {vary}={self.alternative}: {shown}: "
            f"{self.status} ({self.reason})"
        )


def seed_pairs(arm: Arm, reference: Arm) -> list[SeedPair]:
    """The seeds both arms learned on, with their test predictions aligned image by image
    (paths in the reference's order); a seed whose arms saw different test images is refused."""
    by_seed = {str(r.seed): r for r in reference.learned}
    pairs = []
    for run in arm.learned:
        ref = by_seed.get(str(run.seed))
        if ref is None or run.predictions is None or ref.predictions is None:
            continue
        mine = dict(zip(run.predictions[0], zip(*run.predictions[1:], strict=True), strict=True))
        paths, labels, predicted = ref.predictions
        if set(mine) != set(paths):
            raise ValueError(
                f"{run.run_id} and {ref.run_id} were tested on different images: a paired "
                "comparison needs the same split (same split_seed)"
            )
        ordered = [mine[p] for p in paths]
        pairs.append(
            SeedPair(
                str(run.seed),
                np.asarray(labels),
                np.asarray([p for _, p in ordered]),
                np.asarray(predicted),
                tuple(paths),
            )
        )
    return pairs


def before_the_factor(arm: Arm, reference: Arm, vary: str) -> str:
    """Why the factor never acted on the selected models ("" when it may have)."""
    if vary not in ACTS_FROM_EPOCH:
        return ""
    try:
        first = min(float(arm.value), float(reference.value))
    except (TypeError, ValueError):
        return ""
    selected = [r.selected_epoch for r in (*arm.learned, *reference.learned)]
    if selected and all(e is not None and e < first for e in selected):
        return (
            f"every seed selected an epoch ({', '.join(str(e) for e in selected)}) before "
            f"epoch {first:g}, where {vary} first acts: both arms selected the same model"
        )
    return ""


def compare_to_claim(
    claim: paper.Claim, results: Sequence[RunResult], metric: str = "accuracy"
) -> list[Comparison]:
    """Each dataset's alternatives against the claim's arm, statuses against the margin (empty
    when no dataset has an alternative to compare with)."""
    direction = DIRECTIONS[claim.test]
    by_dataset: dict[str, list[RunResult]] = {}
    for res in results:
        by_dataset.setdefault(res.dataset, []).append(res)
    out: list[Comparison] = []
    for dataset, group in by_dataset.items():
        arm_list = arms(group, claim.vary, metric)
        if len(arm_list) < 2:  # one setting on this dataset: nothing to compare it with
            continue
        mine = _pick(arm_list, claim.expected)
        if mine is None:
            out.append(
                Comparison(
                    dataset,
                    str(claim.expected),
                    "?",
                    None,
                    NOT_TESTED,
                    f"no {claim.vary}={claim.expected} arm",
                )
            )
            continue
        others = [a for a in arm_list if a is not mine]
        measured = []
        for other in others:
            why = before_the_factor(mine, other, claim.vary)
            pairs = seed_pairs(mine, other)
            enough = mine.usable and other.usable and len(pairs) >= MIN_SEEDS
            effect = effects.difference(pairs, metric) if enough else None
            if not why and effect is not None and effect.identical:
                why = "both arms predicted the same class for every test image of every seed"
            measured.append((other, effect, why))
        pooled = effects.pooled_seed_variance([e for _, e, why in measured if e and not why])
        for other, effect, why in measured:
            names = (dataset, str(mine.value), str(other.value))
            if why:
                out.append(Comparison(*names, effect, NOT_TESTED, why))
                continue
            if effect is None:
                unusable = [a for a in (mine, other) if not a.usable]
                reason = "; ".join(f"{claim.vary}={a.value}: {a.why_unusable()}" for a in unusable)
                reason = reason or f"fewer than {MIN_SEEDS} seeds that learned in both arms"
                out.append(Comparison(*names, None, effects.INCONCLUSIVE, reason))
                continue
            if pooled[1] > effect.seed_df:
                effect = effects.difference(seed_pairs(mine, other), metric, pooled=pooled)
            status, reason = effects.effect_status(effect, claim.margin, direction)
            out.append(Comparison(*names, effect, status, reason))
    return out


def _pick(arm_list: Sequence[Arm], expected: object) -> Arm | None:
    if expected in ("smallest", "largest"):
        try:
            ordered = sorted(arm_list, key=lambda a: float(a.value))
        except (TypeError, ValueError):
            return None
        return (ordered[0] if expected == "smallest" else ordered[-1]) if ordered else None
    return next((a for a in arm_list if str(a.value) == str(expected)), None)


def claim_status(claim: paper.Claim, comparisons: Sequence[Comparison]) -> str:
    """One status from the comparisons: any contradiction contradicts; all supporting holds;
    supporting beside no material effect (for ``better``) holds in part; any inconclusive
    comparison leaves it inconclusive; only comparisons that could not differ: not tested."""
    tested = [c for c in comparisons if c.status != NOT_TESTED]
    if not tested:
        return NOT_TESTED
    found = {c.status for c in tested}
    if effects.CONTRADICTED in found:
        return effects.CONTRADICTED
    if effects.INCONCLUSIVE in found:
        return effects.INCONCLUSIVE
    support = SUPPORTS[claim.test]
    if found <= set(support):
        return effects.HOLDS
    if effects.HOLDS in found:
        return PARTLY
    return effects.NO_MATERIAL


def smallest_detectable(comparisons: Sequence[Comparison]) -> float:
    """The largest of the inconclusive comparisons' detectable effects (what the page prints)."""
    values = [
        effects.detectable_effect(c.effect)
        for c in comparisons
        if c.status == effects.INCONCLUSIVE and c.effect is not None
    ]
    values = [v for v in values if not math.isnan(v)]
    return max(values) if values else math.nan


def seeds_for_margin(comparisons: Sequence[Comparison], margin: float) -> int | None:
    """Seeds per arm for the inconclusive comparisons' smallest detectable effect to reach
    ``margin`` (the largest need among them), from their measured seed spread and image part;
    None when the test images alone keep it above the margin (or nothing is inconclusive)."""
    needs = []
    for c in comparisons:
        if c.status != effects.INCONCLUSIVE or c.effect is None:
            continue
        need = effects.seeds_needed(c.effect.seed_variance, c.effect.image_variance, margin)
        if need is None:
            return None
        needs.append(need)
    return max(needs) if needs else None
