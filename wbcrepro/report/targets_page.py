"""The project's own targets for a profile, each against what its runs measured: met or not.

A profile's findings run lists its targets as one flat parameter (so they are in the profile,
beside the runs that test them, never in a page's prose)::

    targets: "main-pbc:accuracy>=0.95,main-kaggle:accuracy>0.9317,crossdomain-zheng:accuracy>=0.8"

``arm:metric<op>threshold``: an arm of seed runs is judged on the mean test ``metric`` of its
seeds that learned, and needs at least :data:`~wbcrepro.analysis.seedstats.MIN_SEEDS` of them; a
cross-domain run (``crossdomain.json``) on its one evaluation. A target whose runs are missing
is "not run", one with too few seeds "inconclusive": never "met" by default.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis.arms import Arm
from wbcrepro.analysis.seedstats import MIN_SEEDS
from wbcrepro.fileio import read_json
from wbcrepro.report.records import glue_values, load_runs, markdown_table, recorded_runs

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
_ITEM = re.compile(r"^(?P<arm>[\w.+-]+):(?P<metric>\w+)(?P<op>>=|<=|>|<)(?P<threshold>[0-9.]+)$")
CROSSDOMAIN_JSON = "crossdomain.json"

MET, NOT_MET, INCONCLUSIVE, NOT_RUN = "met", "not met", "inconclusive", "not run"


class TargetError(ValueError):
    """A target is not ``arm:metric<op>threshold``; the message quotes it."""


@dataclass(frozen=True)
class Target:
    arm: str
    metric: str
    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.arm}: {self.metric} {self.op} {self.threshold:g}"


def parse_targets(text: str) -> list[Target]:
    """``"a:accuracy>=0.95,b:macro_f1>0.9"`` -> targets; a malformed item or an unknown metric
    raises naming it."""
    targets = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _ITEM.match(item.replace(" ", ""))
        if not match:
            raise TargetError(f"target {item!r} is not arm:metric<op>threshold (op: >=, >, <=, <)")
        if match["metric"] not in METRICS:
            raise TargetError(
                f"target {item!r}: unknown metric {match['metric']!r}; known: {', '.join(METRICS)}"
            )
        targets.append(
            Target(match["arm"], match["metric"], match["op"], float(match["threshold"]))
        )
    return targets


def _fmt(metric: str, value: float) -> str:
    """Accuracies as percentages, F1 as a fraction (as the targets are written)."""
    return f"{value:.3f}" if metric == "macro_f1" else f"{value:.1%}"


def _crossdomain(folder: Path, target: Target) -> dict[str, object] | None:
    path = folder / CROSSDOMAIN_JSON
    if not path.is_file():
        return None
    value = float(read_json(path)["metrics"][target.metric])
    met = OPERATORS[target.op](value, target.threshold)
    measured = f"{_fmt(target.metric, value)} (one evaluation)"
    return {"measured": measured, "status": MET if met else NOT_MET}


def judge(target: Target, runs_root: str | Path) -> dict[str, object]:
    """One target's measured value (seed mean, range, seeds learned) and its status."""
    row: dict[str, object] = {"target": target.text}
    found = _crossdomain(Path(runs_root) / target.arm, target)
    if found is not None:
        return {**row, **found}
    records = [r for r in load_runs(runs_root, target.arm) if r.status != "missing"]
    if not records:
        return {**row, "measured": "no run", "status": NOT_RUN}
    arm = Arm(target.arm, tuple(r.as_result() for r in records), metric_key=target.metric)
    values = arm.values
    learned = f"{len(values)} of {len(records)} seeds learned"
    if not arm.usable:
        mean = f"{_fmt(target.metric, arm.mean)}, " if values else ""
        return {**row, "measured": f"{mean}{learned} (need {MIN_SEEDS})", "status": INCONCLUSIVE}
    met = OPERATORS[target.op](arm.mean, target.threshold)
    low, high = _fmt(target.metric, min(values)), _fmt(target.metric, max(values))
    measured = f"{_fmt(target.metric, arm.mean)} (seeds {low} to {high}; {learned})"
    return {**row, "measured": measured, "status": MET if met else NOT_MET}


def gate_row(runs_root: str | Path) -> dict[str, object]:
    """Every trained run of the book passed the learning gate (its own target, always shown)."""
    trained = [r for r in recorded_runs(runs_root) if r.complete]  # a complete record has a gate
    failed = [r.run_id for r in trained if not r.results["gate"].get("learned")]
    measured = f"{len(trained) - len(failed)} of {len(trained)} learned"
    if failed:
        measured += f"; not: {', '.join(failed)}"
    status = NOT_RUN if not trained else (NOT_MET if failed else MET)
    return {
        "target": "every trained run learned (the gate)",
        "measured": measured,
        "status": status,
    }


def targets_table(text: str, runs_root: str | Path) -> pd.DataFrame:
    """:func:`judge` for every target of ``text``, then :func:`gate_row` (empty frame for no
    targets)."""
    rows = [judge(t, runs_root) for t in parse_targets(text)]
    if rows:
        rows.append(gate_row(runs_root))
    return pd.DataFrame(rows, columns=["target", "measured", "status"])


def targets_markdown(text: str, runs_root: str | Path) -> Markdown:
    table = targets_table(text, runs_root)
    if table.empty:
        return Markdown("(This profile sets no targets.)")
    return Markdown(markdown_table(table))


def glue_targets(text: str, runs_root: str | Path) -> dict[str, object]:
    """Glue ``targets_total`` and ``targets_met``."""
    table = targets_table(text, runs_root)
    return glue_values(
        {"targets_total": len(table), "targets_met": int((table["status"] == MET).sum())}
    )
