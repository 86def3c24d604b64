"""What the runs say about the paper's claims: pure decisions on plain numbers.

Why a module of its own: a verdict ("reproduced", "inconclusive", ...) is the one place where the
book draws a conclusion, so it must be readable and unit-testable without run folders, pandas or
plots. Everything here works on plain data copied from ``results.json`` (:class:`RunResult`) and
on groups of such values (:class:`Arm`); nothing reads or writes a file. The pages
(:mod:`wbcrepro.report`) turn run records into these values and show the sentences.

Today's rule (kept from the first version of the book): two settings differ only when their 95%
intervals do not overlap, so a small test set gives ``inconclusive`` rather than a difference
that is not there; synthetic runs never make a claim "reproduced".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from wbcrepro import paper

STATUS_REPRODUCED = "reproduced"
STATUS_PARTLY = "partly reproduced"
STATUS_NOT = "not reproduced"
STATUS_INCONCLUSIVE = "inconclusive"
STATUS_UNTESTABLE = "not testable here"
STATUS_SYNTHETIC = "tested on synthetic data only"
STATUS_NOT_RUN = "not run"
COMPARISONS = ("better", "not_worse", "equivalent")

MEETS, BELOW, UNDECIDED = "meets", "below", "undecided"
"""The verdict of one measured value against a threshold."""


# --- formatting (sentences name values with their intervals) --------------------------------------
def pct(value: float | None) -> str:
    """``0.9812`` -> ``98.12%``; ``n/a`` for a missing value."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.2%}"


def with_ci(value: float | None, ci: Sequence[float | None], fmt: str = ".2%") -> str:
    """``value [low, high]`` (percent by default; ``fmt=".3f"`` for F1); the bare value when the
    interval is unknown, ``n/a`` when the value is."""
    if value is None or math.isnan(value):
        return "n/a"
    if any(c is None or math.isnan(c) for c in ci):
        return format(value, fmt)
    return f"{value:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion, by SciPy (the same as
    :func:`wbcrepro.metrics.wilson_interval`, which is not imported: that module pulls in
    scikit-learn and pandas, and this one stays light)."""
    if n == 0:
        return (float("nan"), float("nan"))
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


# --- one run --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """One run as the verdicts see it: plain values copied from its ``results.json``.

    ``final`` is results.json's ``final`` mapping (split -> metrics: ``accuracy``,
    ``accuracy_ci95``, ``per_class`` ...); ``name`` is how evidence sentences name the run (a
    markdown link where the page has one, else the id in code quotes).
    """

    run_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    final: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    complete: bool = True
    synthetic: bool = False
    dataset: str = "?"
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"`{self.run_id}`"

    def report(self, split: str = "test") -> Mapping[str, Any] | None:
        """The final metrics of ``split`` (``None`` when the run has none)."""
        return self.final.get(split)

    def metric(self, key: str, split: str = "test") -> float:
        rep = self.report(split)
        return _float(rep.get(key)) if rep else float("nan")

    def interval(self, key: str, split: str = "test") -> tuple[float, float]:
        rep = self.report(split)
        ci = rep.get(f"{key}_ci95") if rep else None
        return (_float(ci[0]), _float(ci[1])) if ci else (float("nan"), float("nan"))

    def setting(self, vary: str) -> Any:
        """The run's value of the varied key (its id when nothing varies)."""
        return self.params.get(vary, "?") if vary else self.run_id


# --- groups of runs with one setting --------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """Every run with one value of the varied key: per-run metric values and their intervals."""

    value: Any
    values: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]
    runs: tuple[str, ...] = ()

    @property
    def mean(self) -> float:
        return float(statistics.fmean(self.values))

    @property
    def interval(self) -> tuple[float, float]:
        """The union of the runs' 95% intervals (conservative for several seeds)."""
        return (min(c[0] for c in self.intervals), max(c[1] for c in self.intervals))

    def text(self, vary: str) -> str:
        return f"{vary}={self.value}: {with_ci(self.mean, self.interval)}"


def arms(results: Sequence[RunResult], vary: str, metric: str = "accuracy") -> list[Arm]:
    """Complete runs with a test result grouped by their value of ``vary``, best mean first."""
    groups: dict[str, list[RunResult]] = {}
    values: dict[str, Any] = {}
    for res in results:
        if res.complete and res.report("test") is not None:
            value = res.setting(vary)
            groups.setdefault(str(value), []).append(res)
            values[str(value)] = value
    out = [
        Arm(
            values[key],
            tuple(r.metric(metric) for r in group),
            tuple(r.interval(metric) for r in group),
            tuple(r.run_id for r in group),
        )
        for key, group in groups.items()
    ]
    return sorted(out, key=lambda a: -a.mean)


def beats(a: Arm, b: Arm) -> bool:
    """``a`` is better than ``b``: a's 95% interval lies wholly above b's."""
    return a.interval[0] > b.interval[1]


def pick(arm_list: Sequence[Arm], expected: Any) -> Arm | None:
    """The arm a claim is about: ``"smallest"`` / ``"largest"`` numeric value, else the arm whose
    value reads as ``expected`` (``None`` when there is none)."""
    if expected in ("smallest", "largest"):
        try:
            ordered = sorted(arm_list, key=lambda a: float(a.value))
        except (TypeError, ValueError):
            return None
        return ordered[0] if expected == "smallest" else ordered[-1]
    for arm in arm_list:
        if str(arm.value) == str(expected):
            return arm
    return None


def compare(arm_list: Sequence[Arm], vary: str, test: str, expected: Any = None) -> tuple[str, str]:
    """(status, sentence) of a comparison ``test``: ``better`` (the ``expected`` arm beats the
    others), ``not_worse`` (nothing beats it) or ``equivalent`` (no arm beats another)."""
    if test not in COMPARISONS:
        raise ValueError(f"unknown comparison test {test!r}; known: {', '.join(COMPARISONS)}")
    if len(arm_list) < 2:
        return STATUS_NOT_RUN, f"fewer than two values of {vary} with a complete run"
    listing = "; ".join(a.text(vary) for a in arm_list)
    if test == "equivalent":
        pairs = [(a, b) for a in arm_list for b in arm_list if beats(a, b)]
        if pairs:
            a, b = pairs[0]
            return STATUS_NOT, f"{vary}={a.value} beats {vary}={b.value} ({listing})"
        return STATUS_REPRODUCED, f"all 95% intervals overlap ({listing})"
    mine = pick(arm_list, expected)
    if mine is None:
        return STATUS_NOT_RUN, f"no complete run with {vary}={expected} ({listing})"
    others = [a for a in arm_list if a is not mine]
    if any(beats(o, mine) for o in others):
        return STATUS_NOT, f"another value beats {vary}={mine.value} ({listing})"
    if test == "not_worse":
        return STATUS_REPRODUCED, f"no value beats {vary}={mine.value} ({listing})"
    if all(beats(mine, o) for o in others):
        return STATUS_REPRODUCED, f"{vary}={mine.value} beats every other value ({listing})"
    if any(beats(mine, o) for o in others):
        return STATUS_PARTLY, f"{vary}={mine.value} beats some values, not all ({listing})"
    return STATUS_INCONCLUSIVE, f"95% intervals overlap ({listing})"


# --- ablations ------------------------------------------------------------------------------------
def _synthetic_note(results: Sequence[RunResult]) -> str:
    if any(r.synthetic for r in results):
        return " (SYNTHETIC data: says nothing about the paper)"
    return ""


def ablation_verdict(results: Sequence[RunResult], vary: str, claim: str = "") -> str:
    """One line: what the ablation shows (and, for a comparison claim of :mod:`wbcrepro.paper`,
    its status). Incomplete runs are named, never compared."""
    done = [r for r in results if r.complete]
    missing = [r.run_id for r in results if not r.complete]
    tail = f" Not complete: {', '.join(missing)}." if missing else ""
    if len(done) < 2:
        return f"Not enough complete runs to compare ({len(done)} of {len(results)}).{tail}"
    synthetic = _synthetic_note(done)
    if vary == "seed":
        acc = [r.metric("accuracy") for r in done]
        spread = f"std {statistics.stdev(acc):.2%}, range {min(acc):.2%} to {max(acc):.2%}"
        return (
            f"Over {len(done)} seeds test accuracy is {statistics.fmean(acc):.2%} on average "
            f"({spread}){synthetic}.{tail}"
        )
    arm_list = arms(done, vary)
    best = arm_list[0]
    worse = [a for a in arm_list[1:] if beats(best, a)]
    if not worse:
        line = (
            f"{vary}={best.value} has the highest test accuracy, but its 95% interval overlaps "
            "every other value's: no difference detectable at this test size"
        )
    else:
        listing = ", ".join(str(a.value) for a in worse)
        line = f"{vary}={best.value} beats {vary}={listing} (non-overlapping 95% intervals)"
    spec = next((c for c in paper.CLAIMS if c.id == claim), None) if claim else None
    if spec is not None and spec.test in COMPARISONS:
        status, _ = compare(
            arms(done, spec.vary or vary), spec.vary or vary, spec.test, spec.expected
        )
        if synthetic and status != STATUS_NOT_RUN:
            status = f"{STATUS_SYNTHETIC} ({status} there)"
        line += f". Claim `{claim}`: {status}"
    return f"{line}{synthetic}.{tail}"


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


def threshold_status(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, list[str]]:
    """Each run's ``claim.metric`` on each of ``claim.splits`` against ``claim.threshold``."""
    verdicts, lines = [], []
    for res in results:
        for split in claim.splits:
            value = res.metric(claim.metric, split)
            lo, hi = res.interval(claim.metric, split)
            if math.isnan(value):
                continue
            verdict = against_threshold(value, hi, claim.threshold)
            verdicts.append(verdict)
            lines.append(
                f"{res.label} ({res.dataset}) {split} {claim.metric} "
                f"{with_ci(value, (lo, hi))}: {verdict}"
            )
    return combine(verdicts), lines


def per_class_status(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, list[str]]:
    """Each run's test recall of ``claim.classes`` (with a Wilson interval from its support)
    against ``claim.threshold``; runs lacking one of the classes are named, not counted."""
    verdicts, lines = [], []
    for res in results:
        per_class = (res.report("test") or {}).get("per_class", {})
        if not all(c in per_class for c in claim.classes):
            lines.append(f"{res.label} ({res.dataset}): lacks {', '.join(claim.classes)}")
            continue
        for name in claim.classes:
            recall, support = per_class[name].get("recall"), per_class[name].get("support", 0)
            if recall is None or not support:
                continue
            lo, hi = wilson(round(recall * support), support)
            verdict = against_threshold(recall, hi, claim.threshold)
            verdicts.append(verdict)
            lines.append(
                f"{res.label} ({res.dataset}) recall {name} "
                f"{with_ci(recall, (lo, hi))} of {support}: {verdict}"
            )
    if not verdicts:
        return STATUS_UNTESTABLE, [*lines, f"no evidence run has {', '.join(claim.classes)}"]
    return combine(verdicts), lines


def claim_verdict(claim: paper.Claim, results: Sequence[RunResult]) -> tuple[str, str]:
    """(status, evidence as markdown) of one claim from its evidence runs.

    Synthetic runs never make a claim "reproduced": when only synthetic runs are there the status
    is ``tested on synthetic data only`` (with what they showed); real runs, when present, decide
    alone.
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
        status, sentence = compare(arms(used, claim.vary), claim.vary, claim.test, claim.expected)
        lines = [sentence, "runs: " + ", ".join(r.label for r in used)]
    if not real and status not in (STATUS_NOT_RUN, STATUS_UNTESTABLE):
        status = f"{STATUS_SYNTHETIC} ({status} there)"
    return status, "<br>".join(lines + notes)
