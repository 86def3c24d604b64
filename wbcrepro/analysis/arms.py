"""Runs grouped into arms (one setting, several seeds) and compared across seeds: pure values.

Why arms: a run's confidence interval says how precisely *that model* was measured on its test
images, not what another seed of the same recipe would give (three seeds of one configuration
spanned 10-51 % on this project's early BCCD runs). A verdict about a setting therefore compares
sets of seeds (:mod:`wbcrepro.analysis.seedstats`), only on runs that learned (the gate recorded in
each
run's ``results.json``), and says "inconclusive" when an arm has too few usable seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wbcrepro.analysis.seedstats import MIN_SEEDS, Difference, compare_seeds, mean_interval

# Parameters that say where or how a run was executed, not what it computes: runs differing only
# in these (and the seed) are seeds of one arm.
EXECUTION_KEYS = frozenset({"seed", "device", "num_workers", "data_root", "cache_images"})


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


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class RunResult:
    """One run as the verdicts see it: plain values copied from its ``results.json``.

    ``final`` is results.json's ``final`` mapping (split -> metrics); ``learned`` is the run's
    "did it learn" gate (None when the record has none: such a run is evidence for nothing);
    ``name`` is how sentences name the run (a markdown link where the page has one).
    """

    run_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    final: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    complete: bool = True
    synthetic: bool = False
    dataset: str = "?"
    name: str = ""
    learned: bool | None = None
    gate_reasons: tuple[str, ...] = ()
    predictions: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
    """(paths, labels, predicted) on the test split (``predictions_test.csv``), for paired
    comparisons image by image; None when not read."""
    selected_epoch: int | None = None

    @property
    def label(self) -> str:
        return self.name or f"`{self.run_id}`"

    @property
    def usable(self) -> bool:
        """Complete, with a test result, and the gate says it learned."""
        return self.complete and self.report("test") is not None and self.learned is True

    def report(self, split: str = "test") -> Mapping[str, Any] | None:
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

    @property
    def seed(self) -> Any:
        return self.params.get("seed", "?")

    @property
    def recipe_key(self) -> tuple:
        """What the run computes apart from its seed: runs with equal keys are one arm."""
        return tuple(sorted((k, str(v)) for k, v in self.params.items() if k not in EXECUTION_KEYS))

    def unusable_reason(self) -> str:
        if not self.complete:
            return "not complete"
        if self.report("test") is None:
            return "no test result"
        if self.learned is None:
            return "no learning check recorded"
        if not self.learned:
            return "did not learn (" + "; ".join(self.gate_reasons or ("degenerate",)) + ")"
        return ""


@dataclass(frozen=True)
class Arm:
    """The runs of one setting: seeds of one recipe, and the metric of those that learned."""

    value: Any
    runs: tuple[RunResult, ...]
    metric_key: str = "accuracy"
    split: str = "test"

    @property
    def learned(self) -> tuple[RunResult, ...]:
        return tuple(r for r in self.runs if r.usable)

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(r.metric(self.metric_key, self.split) for r in self.learned)

    @property
    def seeds(self) -> tuple[Any, ...]:
        return tuple(r.seed for r in self.learned)

    @property
    def usable(self) -> bool:
        """Enough seeds that learned for a verdict to rest on this arm."""
        return len(self.values) >= MIN_SEEDS

    @property
    def mean(self) -> float:
        return float(statistics.fmean(self.values)) if self.values else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """t interval of the mean across the seeds that learned."""
        _, low, high = mean_interval(self.values)
        return low, high

    def why_unusable(self) -> str:
        n_runs, n_ok = len(self.runs), len(self.values)
        bad = [f"{r.label}: {r.unusable_reason()}" for r in self.runs if not r.usable]
        detail = f" ({'; '.join(bad)})" if bad else ""
        return f"{n_ok} of {n_runs} seed(s) learned, {MIN_SEEDS} needed{detail}"

    def text(self, vary: str) -> str:
        name = f"{vary}={self.value}" if vary else str(self.value)
        if not self.values:
            return f"{name}: no run that learned"
        spread = (
            f", range {pct(min(self.values))}-{pct(max(self.values))}"
            if len(self.values) > 1
            else ""
        )
        return (
            f"{name}: mean {with_ci(self.mean, self.interval)} over {len(self.values)} "
            f"seed(s){spread}"
        )


def arms(results: Sequence[RunResult], vary: str, metric: str = "accuracy") -> list[Arm]:
    """Runs grouped by their value of ``vary`` (best mean first; arms with no usable run last)."""
    groups: dict[str, list[RunResult]] = {}
    values: dict[str, Any] = {}
    for res in results:
        value = res.setting(vary)
        groups.setdefault(str(value), []).append(res)
        values[str(value)] = value
    out = [Arm(values[key], tuple(group), metric) for key, group in groups.items()]
    return sorted(out, key=lambda a: (math.isnan(a.mean), -a.mean if a.values else 0))


def difference(a: Arm, b: Arm) -> Difference:
    """Mean per-seed difference ``a - b``; paired when both arms learned on the same seeds."""
    unique = len(set(map(str, a.seeds))) == len(a.seeds) and len(set(map(str, b.seeds))) == len(
        b.seeds
    )
    paired = unique and len(a.seeds) > 1 and sorted(map(str, a.seeds)) == sorted(map(str, b.seeds))
    if paired:
        by_seed_b = {str(r.seed): r.metric(b.metric_key, b.split) for r in b.learned}
        ordered_b = [by_seed_b[str(r.seed)] for r in a.learned]
        return compare_seeds(a.values, ordered_b, paired=True)
    return compare_seeds(a.values, b.values)


def difference_text(a: Arm, b: Arm, vary: str) -> str:
    d = difference(a, b)
    interval = "" if math.isnan(d.low) else f"[{d.low * 100:+.1f}, {d.high * 100:+.1f}] "
    return (
        f"{vary}={a.value} minus {vary}={b.value}: {d.mean * 100:+.1f} points "
        f"{interval}({d.method})"
    )


def conditions(results: Sequence[RunResult]) -> str:
    """The confounders of a verdict: which data, backbone, resolution and epochs produced it."""
    parts = []
    for key, title in (
        ("dataset", "data"),
        ("arch", "backbone"),
        ("img_size", "px"),
        ("epochs", "epochs"),
    ):
        seen = sorted(
            {str(r.params.get(key, r.dataset if key == "dataset" else "?")) for r in results}
        )
        if seen:
            parts.append(f"{title} {'/'.join(seen)}")
    return ", ".join(parts)
