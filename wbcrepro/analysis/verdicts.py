"""What the runs say about the paper's claims: pure decisions on plain numbers.

A verdict ("reproduced", "inconclusive", ...) is the one place where the book draws a conclusion,
so it must be readable and unit-testable without run folders, pandas or plots. Everything here
works on plain values copied from ``results.json`` (:class:`~wbcrepro.analysis.arms.RunResult`)
grouped
into arms of seeds (:mod:`wbcrepro.analysis.arms`); nothing reads or writes a file.

The rules (see the book's *Method* page):

* A run that did not learn (its gate) is evidence for nothing; an arm needs
  :data:`~wbcrepro.analysis.seedstats.MIN_SEEDS` seeds that learned before a verdict may rest on it.
  Otherwise the verdict is ``inconclusive`` and says why.
* A comparison claim is decided by :mod:`wbcrepro.analysis.decisions`: the claim's arm minus each
  alternative, with an interval over seeds *and* test images, against a margin declared before
  the runs: ``holds``, ``contradicted``, ``no material effect`` or ``inconclusive`` (with the
  smallest effect the design could detect); arms that selected identical models are ``not tested
  here``.
* A threshold claim holds when every arm's seed mean reaches the threshold and is contradicted
  when the whole interval of a mean lies below it.
* Synthetic runs never make a claim hold; every verdict names its conditions.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

from scipy import stats

from wbcrepro.analysis import decisions, effects, paper
from wbcrepro.analysis.arms import (  # the pages import these from here
    Arm,
    RunResult,
    arms,
    conditions,
    difference_text,
    pct,
    with_ci,
)
from wbcrepro.analysis.seedstats import mean_interval

STATUS_REPRODUCED = effects.HOLDS
STATUS_PARTLY = decisions.PARTLY
STATUS_NOT = effects.CONTRADICTED
STATUS_NO_MATERIAL = effects.NO_MATERIAL
STATUS_INCONCLUSIVE = effects.INCONCLUSIVE
STATUS_NOT_TESTED = decisions.NOT_TESTED
STATUS_UNTESTABLE = "not testable here"
STATUS_SYNTHETIC = "tested on synthetic data only"
STATUS_NOT_RUN = "not run"
COMPARISONS = tuple(decisions.DIRECTIONS)

MEETS, BELOW, UNDECIDED = "meets", "below", "undecided"
"""The verdict of one measured value against a threshold."""


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion, by SciPy (the same as
    :func:`wbcrepro.metrics.wilson_interval`, which pulls in scikit-learn; this one stays
    light)."""
    if n == 0:
        return (float("nan"), float("nan"))
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


# --- ablations ------------------------------------------------------------------------------------
def _synthetic_note(results: Sequence[RunResult]) -> str:
    if any(r.synthetic for r in results):
        return " (SYNTHETIC data: says nothing about the paper)"
    return ""


def _seed_line(done: Sequence[RunResult]) -> str:
    ok = [r for r in done if r.usable]
    bad = [r for r in done if not r.usable]
    failed = (
        f" {len(bad)} seed(s) did not learn: {', '.join(r.run_id for r in bad)}." if bad else ""
    )
    if len(ok) < 2:
        return f"{len(ok)} of {len(done)} seeds learned: too few for a spread.{failed}"
    acc = [r.metric("accuracy") for r in ok]
    return (
        f"Over {len(ok)} seeds that learned, test accuracy is {statistics.fmean(acc):.2%} on "
        f"average (std {statistics.stdev(acc):.2%}, range {min(acc):.2%} to {max(acc):.2%})."
        f"{failed}"
    )


def ablation_verdict(results: Sequence[RunResult], vary: str, claim: str = "") -> str:
    """What the ablation shows: each arm's mean over seeds, the differences from the best arm
    with their intervals, and (for a comparison claim of :mod:`wbcrepro.analysis.paper`) its
    status."""
    done = [r for r in results if r.complete]
    missing = [r.run_id for r in results if not r.complete]
    tail = f" Not complete: {', '.join(missing)}." if missing else ""
    synthetic = _synthetic_note(done)
    if vary == "seed":
        return f"{_seed_line(done)}{synthetic}{tail}"
    arm_list = arms(done, vary)
    if len(arm_list) < 2:
        return f"Not enough complete runs to compare ({len(done)} of {len(results)}).{tail}"
    parts = [a.text(vary) for a in arm_list]
    parts += [f"{vary}={a.value}: {a.why_unusable()}" for a in arm_list if not a.usable]
    spec = next((c for c in paper.CLAIMS if c.id == claim), None) if claim else None
    if spec is None or spec.test not in COMPARISONS:
        # no claim to decide: the differences from the best arm, over seeds
        best = arm_list[0]
        if best.usable:
            parts += [difference_text(best, a, vary) for a in arm_list[1:] if a.usable]
        return f"{'; '.join(parts)}{synthetic}.{tail}"
    # a claim: its own comparisons (over seeds and test images, against its margin) decide
    status, lines = comparison_status(spec, done)
    if synthetic and status != STATUS_NOT_RUN:
        status = f"{STATUS_SYNTHETIC} ({status} there)"
    return f"{'; '.join(parts + lines)}. Claim `{claim}`: {status}{synthetic}.{tail}"


# --- claims ---------------------------------------------------------------------------------------
def against_threshold(value: float, high: float, threshold: float) -> str:
    """``meets`` (value at or above), ``below`` (the whole interval below) or ``undecided``."""
    if value >= threshold:
        return MEETS
    if not math.isnan(high) and high < threshold:
        return BELOW
    return UNDECIDED


def combine(verdicts: Sequence[str]) -> str:
    """One status from the verdicts of several measurements (all meet: reproduced; all below:
    not reproduced; both: partly; else inconclusive; none: not run)."""
    if not verdicts:
        return STATUS_NOT_RUN
    if all(v == MEETS for v in verdicts):
        return STATUS_REPRODUCED
    if all(v == BELOW for v in verdicts):
        return STATUS_NOT
    if MEETS in verdicts and BELOW in verdicts:
        return STATUS_PARTLY
    return STATUS_INCONCLUSIVE


def recipe_arms(results: Sequence[RunResult], metric: str, split: str) -> list[Arm]:
    """The results grouped into arms of seeds of one recipe (named by their first run)."""
    groups: dict[tuple, list[RunResult]] = {}
    for res in results:
        groups.setdefault(res.recipe_key, []).append(res)
    return [Arm(g[0].run_id, tuple(g), metric, split) for g in groups.values()]


SEED_SUFFIX = re.compile(r"-s\d+$")


def _arm_name(arm: Arm) -> str:
    """The arm as a sentence names it: its id without a seed suffix (``paper-pbc``, never the
    first seed's ``paper-pbc-s0``), its data set and how many seeds it has."""
    first = arm.runs[0]
    arm_id = SEED_SUFFIX.sub("", first.run_id)
    name = f"`{arm_id}`" if len(arm.runs) > 1 else first.label
    return f"{name} ({first.dataset}, {len(arm.runs)} seed(s))"


def threshold_status(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, list[str]]:
    """Each recipe's mean ``claim.metric`` over seeds (t interval) against ``claim.threshold``."""
    verdicts, lines = [], []
    for split in claim.splits:
        for arm in recipe_arms(results, claim.metric, split):
            if not arm.usable:
                verdicts.append(UNDECIDED)
                lines.append(f"{_arm_name(arm)} {split}: {arm.why_unusable()}")
                continue
            verdict = against_threshold(arm.mean, arm.interval[1], claim.threshold)
            verdicts.append(verdict)
            lines.append(
                f"{_arm_name(arm)} {split} {claim.metric} mean "
                f"{with_ci(arm.mean, arm.interval)}: {verdict}"
            )
    return combine(verdicts), lines


def per_class_status(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, list[str]]:
    """Each recipe's mean test recall of ``claim.classes`` over seeds against the threshold;
    recipes whose data lack one of the classes are named, not counted."""
    verdicts, lines = [], []
    for arm in recipe_arms(results, "accuracy", "test"):
        per_class = (arm.runs[0].report("test") or {}).get("per_class", {})
        if not all(c in per_class for c in claim.classes):
            lines.append(f"{_arm_name(arm)}: lacks {', '.join(claim.classes)}")
            continue
        if not arm.usable:
            verdicts.append(UNDECIDED)
            lines.append(f"{_arm_name(arm)}: {arm.why_unusable()}")
            continue
        for name in claim.classes:
            recalls = [r.report("test")["per_class"][name].get("recall") for r in arm.learned]
            recalls = [float(v) for v in recalls if v is not None]
            mean, _, high = mean_interval(recalls)
            verdict = against_threshold(mean, high, claim.threshold)
            verdicts.append(verdict)
            lines.append(f"{_arm_name(arm)} recall {name} mean {pct(mean)}: {verdict}")
    if not verdicts and not any("lacks" not in line for line in lines):
        return STATUS_UNTESTABLE, [*lines, f"no evidence run has {', '.join(claim.classes)}"]
    return combine(verdicts), lines


def comparison_status(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, list[str]]:
    """A comparison claim by :mod:`wbcrepro.analysis.decisions`: each dataset apart (arms of
    different data are never pooled or paired), every alternative against the claim's arm; an
    inconclusive status ends with the smallest effect the design could detect."""
    comparisons = decisions.compare_to_claim(claim, results)
    if not comparisons:
        return STATUS_NOT_RUN, [f"fewer than two values of {claim.vary} were run"]
    status = decisions.claim_status(claim, comparisons)
    lines = [c.line(claim.vary) for c in comparisons]
    if status == STATUS_INCONCLUSIVE:
        detect = decisions.smallest_detectable(comparisons)
        if not math.isnan(detect):
            need = decisions.seeds_for_margin(comparisons, claim.margin)
            more = (
                f"; {need} seeds per arm would reach it"
                if need
                else "; the test images alone keep it above the margin"
            )
            lines.append(
                f"smallest effect this design detects (80% power): {detect * 100:.1f} points, "
                f"against a margin of {claim.margin * 100:.1f}{more}"
            )
    return status, lines


def claim_verdict(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, str]:
    """(status, evidence as markdown) of one claim from its evidence runs.

    Synthetic runs never make a claim "reproduced": when only synthetic runs are there the status
    is ``tested on synthetic data only`` (with what they showed); real runs, when present, decide
    alone. The evidence ends with the conditions (data, backbone, resolution, epochs).
    """
    if claim.test == "untestable":
        return STATUS_UNTESTABLE, claim.reason
    missing = [r.run_id for r in results if not r.complete]
    done = [r for r in results if r.complete]
    real = [r for r in done if not r.synthetic]
    used = real or done
    notes = [f"not complete: {', '.join(missing)}"] if missing else []
    if real and len(real) < len(done):
        notes.append("synthetic runs ignored: " + ", ".join(r.run_id for r in done if r.synthetic))
    if not used:
        return STATUS_NOT_RUN, "; ".join(notes) or "no evidence run in this profile"
    if claim.test == "threshold":
        status, lines = threshold_status(claim, used)
    elif claim.test == "per_class":
        status, lines = per_class_status(claim, used)
    else:
        status, lines = comparison_status(claim, used)
    if not real and status not in (STATUS_NOT_RUN, STATUS_UNTESTABLE):
        status = f"{STATUS_SYNTHETIC} ({status} there)"
    lines.append(f"conditions: {conditions(used)}")
    return status, "<br>".join(lines + notes)
