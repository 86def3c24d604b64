"""The landing page: what the reproduction found, first, before how it was done.

A reader arrives wanting three answers: how does the paper's 99.64 % compare with what the recipe
gives on public data, how many of the paper's Table 1 comparisons hold, and where each claim
stands. This page answers them from the same run records and the same code as the Table 1 and
claims pages (``table1_page.table1_lines``, ``claims_page.claims_ledger``), so the summary can
never disagree with the pages it summarises, and it types no number of its own: every number
below is glued or drawn from ``results.json``.

Each of our numbers is an *arm* (one recipe, several training seeds): the mean over the seeds that
learned, with their range (one seed: its 95 % Wilson interval), as everywhere in the book.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis import paper
from wbcrepro.analysis.seedstats import MIN_SEEDS
from wbcrepro.analysis.verdicts import pct
from wbcrepro.report import lolo_page
from wbcrepro.report.claims_page import claims_ledger, glue_ledger, parse_evidence
from wbcrepro.report.crossval import crossval_name
from wbcrepro.report.records import (
    CROSSVAL_JOIN,
    RunRecord,
    data_text,
    glue_values,
    load_runs,
    markdown_table,
)
from wbcrepro.report.table1_page import learned_records, parse_pairs, table1_lines

OUT_MET = "met"
OUT_NOT_MET = "not met"
OUT_INCONCLUSIVE = "inconclusive"
OUT_OTHER_DATA = "other data only"
OUT_SYNTHETIC = "synthetic data only"
OUT_NOT_RUN = "not run"
OUT_NOT_IN_TABLE1 = "not in Table 1"
OUTCOMES = (
    OUT_MET,
    OUT_NOT_MET,
    OUT_INCONCLUSIVE,
    OUT_OTHER_DATA,
    OUT_SYNTHETIC,
    OUT_NOT_RUN,
    OUT_NOT_IN_TABLE1,
)
"""How one line of our Table 1 (a paper row beside one arm of ours) comes out, in table order."""
GLUE_NAMES = {
    OUT_MET: "t1_met",
    OUT_NOT_MET: "t1_not_met",
    OUT_INCONCLUSIVE: "t1_inconclusive",
    OUT_OTHER_DATA: "t1_other_data",
    OUT_SYNTHETIC: "t1_synthetic",
    OUT_NOT_RUN: "t1_not_run",
    OUT_NOT_IN_TABLE1: "t1_not_in_table1",
}
"""The glue name of each outcome's count."""

PAPER_LABEL = "the paper's number (quoted)"
OURS_LABEL = "ours: mean over seeds that learned, bar = seed range (one seed: 95% CI)"
SYNTHETIC_LABEL = "ours on SYNTHETIC data (not evidence)"


@dataclass(frozen=True)
class ArmSummary:
    """One arm's test accuracy as the landing page states it (fractions, not percent)."""

    arm: str
    data: str
    n_complete: int
    accuracies: tuple[float, ...]
    """Test accuracy of each seed that learned."""
    single_interval: tuple[float, float] | None
    """The 95 % Wilson interval when exactly one seed learned (no range to show)."""
    synthetic: bool

    @property
    def n_learned(self) -> int:
        return len(self.accuracies)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies) if self.accuracies else math.nan

    @property
    def bar(self) -> tuple[float, float]:
        """(low, high) of the error bar: the seed range, or the one seed's interval."""
        if self.n_learned >= 2:
            return min(self.accuracies), max(self.accuracies)
        return self.single_interval or (self.mean, self.mean)

    @property
    def seeds_text(self) -> str:
        if not self.n_complete:
            return "no complete run"
        return f"{self.n_learned} of {self.n_complete} seed(s) learned"

    @property
    def accuracy_text(self) -> str:
        """``93.10% (91.00%-95.00%)``; ``not run`` / ``no seed known to have learned``."""
        if not self.n_complete:
            return "not run"
        if not self.accuracies:
            return "no seed known to have learned"
        if self.n_learned == 1:
            low, high = self.bar
            return f"{pct(self.mean)} (one seed; 95% CI {pct(low)}-{pct(high)})"
        low, high = self.bar
        return f"{pct(self.mean)} ({pct(low)}-{pct(high)})"


def summarise_arm(arm: str, records: Sequence[RunRecord]) -> ArmSummary:
    """The :class:`ArmSummary` of an arm's seed runs (missing and failed ones count as not run)."""
    done = [r for r in records if r.complete]
    learned = learned_records(done)
    interval = tuple(learned[0].interval("accuracy")) if len(learned) == 1 else None
    if interval is not None and any(math.isnan(v) for v in interval):
        interval = None
    return ArmSummary(
        arm=arm,
        data=data_text(done[0]) if done else "no complete run",
        n_complete=len(done),
        accuracies=tuple(r.metric("accuracy") for r in learned),
        single_interval=interval,
        synthetic=any(r.synthetic for r in done),
    )


# --- the headline: the paper's 99.64 % beside our closest equivalent -----------------------------
def headline_arms(headline: str | Mapping[str, Any], runs_root: str | Path) -> list[ArmSummary]:
    """The arms named by ``headline`` (``"pbc=main-pbc|paper-pbc"``), in the order given."""
    mapping = parse_pairs(headline) if isinstance(headline, str) else dict(headline)
    return [
        summarise_arm(arm, load_runs(runs_root, arm))
        for arms in mapping.values()
        for arm in ([arms] if isinstance(arms, str) else arms)
    ]


def headline_table(headline: str | Mapping[str, Any], runs_root: str | Path) -> Markdown:
    """The paper's accuracy (quoted) and each headline arm's, one line each."""
    rows = [
        {
            "": "the paper (quoted)",
            "data": f"{paper.PAPER_RESULT['data']}, {paper.PAPER_RESULT['n_images']:,} images, "
            f"{paper.PAPER_RESULT['num_classes']} classes",
            "test accuracy": paper.PAPER_RESULT["accuracy_text"],
            "seeds": "not stated",
        }
    ]
    for summary in headline_arms(headline, runs_root):
        rows.append(
            {
                "": f"ours: `{summary.arm}`",
                "data": summary.data,
                "test accuracy": summary.accuracy_text,
                "seeds": summary.seeds_text,
            }
        )
    return Markdown(markdown_table(pd.DataFrame(rows)))


# --- what we found, in one short table -----------------------------------------------------------
def found_table(
    table1_pairs: str, lolo_matrix: str, lolo_recipes: str, runs_root: str | Path
) -> Markdown:
    """The landing page's first table: per public set, the paper's Table 1 numbers for it (or
    the paper's own, private one where the set is its closest public equivalent) beside our best
    arm there; then leave-one-lab-out, a lab the model never saw, per recipe (the mean over the
    held-out labs, as trained and with AdaBN). The paper tested no unseen lab."""
    papers: dict[str, list[str]] = {}
    best: dict[str, ArmSummary] = {}
    for row, dataset, arm, records, _closest in table1_lines(table1_pairs, runs_root):
        key = str(dataset)
        if row is not None and arm:
            papers.setdefault(key, []).append(
                f"{row.accuracy_percent:.2f}% ({row.study}, {row.data})"
            )
        if arm:
            ours = summarise_arm(arm, records)
            if key not in best or (ours.accuracies and not ours.mean <= best[key].mean):
                best[key] = ours
    rows = [
        {
            "set": ours.data if ours.n_complete else key,
            "the paper's Table 1": "; ".join(dict.fromkeys(papers.get(key, []))) or "not in it",
            "ours: best arm, mean (seed range)": f"{ours.accuracy_text}, `{_arm_name(ours.arm)}`",
        }
        for key, ours in best.items()
    ]
    if lolo_matrix:
        page = lolo_page.load_page(runs_root, lolo_matrix, lolo_recipes)
        table = lolo_page.matrix_table(page).set_index("held-out lab")
        means = table.loc["mean over the held-out labs"] if len(page.held_out) > 1 else None
        for name in (r.strip() for r in lolo_recipes.split(",") if r.strip()):
            cells = [
                f"{means[f'{name}, {label}']} {label}" if means is not None else "one lab only"
                for _, label in lolo_page.COLUMNS
            ]
            rows.append(
                {
                    "set": f"a lab never seen ({len(page.held_out)} held out in turn), {name}",
                    "the paper's Table 1": "not tested",
                    "ours: best arm, mean (seed range)": ", ".join(cells) + " (mean over the labs)",
                }
            )
    return Markdown(markdown_table(pd.DataFrame(rows)))


def _arm_name(arm: str) -> str:
    """An arm's id, or a cross-validation's short name (its fold arms joined by ``+``)."""
    return crossval_name(arm.split(CROSSVAL_JOIN)) if CROSSVAL_JOIN in arm else arm


# --- Table 1 and the claims, counted ----------------------------------------------------------
def outcome(
    row: paper.Table1Row | None, arm: str | None, records: Sequence[RunRecord], closest: bool
) -> str:
    """One of :data:`OUTCOMES` for a line of our Table 1.

    "met" means our seed mean is at or above the paper's quoted number on the same public data,
    with at least :data:`~wbcrepro.analysis.seedstats.MIN_SEEDS` seeds that learned; a number on
    the closest
    public equivalent of private data is never "met" (other data, another test).
    """
    if row is None:
        return OUT_NOT_IN_TABLE1
    done = [r for r in records if r.complete]
    if arm is None or not done:
        return OUT_NOT_RUN
    learned = learned_records(done)
    if any(r.synthetic for r in done):
        return OUT_SYNTHETIC
    if len(learned) < MIN_SEEDS:
        return OUT_INCONCLUSIVE
    if closest:
        return OUT_OTHER_DATA
    mean = statistics.fmean(r.metric("accuracy") for r in learned)
    return OUT_MET if mean * 100 >= row.accuracy_percent else OUT_NOT_MET


def _short_study(row: paper.Table1Row | None, dataset: str | None) -> str:
    if row is None:
        return f"not in Table 1: {dataset}"
    return f"{row.study} ({row.data})"


def table1_outcomes(pairs: str | Mapping[str, Any], runs_root: str | Path) -> pd.DataFrame:
    """One line per line of our Table 1: study, arm, the paper's %, our arm, outcome."""
    lines = []
    for row, dataset, arm, records, closest in table1_lines(pairs, runs_root):
        summary = summarise_arm(arm, records) if arm else None
        lines.append(
            {
                "study": _short_study(row, dataset),
                "arm": arm or "",
                "paper": row.accuracy_percent if row else math.nan,
                "ours": summary,
                "closest": closest,
                "outcome": outcome(row, arm, records, closest),
            }
        )
    return pd.DataFrame(lines, columns=["study", "arm", "paper", "ours", "closest", "outcome"])


def outcome_counts(outcomes: pd.DataFrame) -> dict[str, int]:
    """Lines per outcome, every outcome present (zero when none)."""
    counts = outcomes["outcome"].value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}


def claims_counts(evidence: str | Mapping[str, Sequence[str]], runs_root: str | Path) -> Markdown:
    """The claims ledger reduced to its statuses and how many claims have each."""
    statuses = claims_ledger(evidence, runs_root)["status"].str.strip("*")
    counts = statuses.value_counts(sort=False)
    table = pd.DataFrame({"status": list(counts.index), "claims": [int(v) for v in counts]})
    return Markdown(markdown_table(table))


def glue_findings(
    headline: str,
    table1_pairs: str,
    evidence: str,
    runs_root: str | Path,
) -> dict[str, Any]:
    """Glue the page's numbers: the paper's accuracy and the first headline arm's
    (``paper_accuracy``, ``ours_accuracy``, ``ours_arm``, ``ours_data``, ``ours_seeds``), the
    Table 1 outcome counts (``t1_lines``, ``t1_met``, ``t1_not_met``, ``t1_inconclusive``,
    ``t1_other_data``, ``t1_synthetic``, ``t1_not_run``, ``t1_not_in_table1``) and the ledger's
    counts (:func:`wbcrepro.report.claims_page.glue_ledger`'s ``n_claims``, ``n_holds``...)."""
    arms = headline_arms(headline, runs_root)
    first = arms[0] if arms else None
    counts = outcome_counts(table1_outcomes(table1_pairs, runs_root))
    values: dict[str, Any] = {
        "paper_accuracy": paper.PAPER_RESULT["accuracy_text"],
        "ours_accuracy": first.accuracy_text if first else "no arm named",
        "ours_arm": first.arm if first else "none",
        "ours_data": first.data if first else "none",
        "ours_seeds": first.seeds_text if first else "no seeds",
        "t1_lines": sum(counts.values()),
        **{GLUE_NAMES[name]: n for name, n in counts.items()},
    }
    values = glue_values(values)
    return {**values, **glue_ledger(claims_ledger(evidence, runs_root))}


def _tick_label(line: pd.Series) -> str:
    study = textwrap.fill(line["study"], 30)
    if not line["arm"]:
        return study
    closest = "\n(closest public data)" if line["closest"] else ""
    return f"{study}\nours: {line['arm']}{closest}"


# --- the figure -----------------------------------------------------------------------------------
def plot_paper_vs_ours(pairs: str | Mapping[str, Any], runs_root: str | Path):
    """Per line of our Table 1: the paper's quoted accuracy (a diamond) and our arm's mean over
    seeds that learned with the seed range as an error bar; lines without a result of ours say
    why in words. Synthetic arms are drawn apart and labelled."""
    lines = table1_outcomes(pairs, runs_root)
    n = max(1, len(lines))
    fig, ax = plt.subplots(figsize=(8, 0.7 * n + 1.6), layout="constrained")
    ys = list(range(n))[::-1]  # the first line on top
    paper_x = [(p, y) for p, y in zip(lines["paper"], ys, strict=False) if not math.isnan(p)]
    if paper_x:
        xs, marker_ys = zip(*paper_x, strict=True)
        ax.plot(xs, marker_ys, "D", color="black", markersize=7, label=PAPER_LABEL, zorder=3)
    drawn = {False: [], True: []}
    notes = []
    for (_, line), y in zip(lines.iterrows(), ys, strict=False):
        summary: ArmSummary | None = line["ours"]
        if summary is None or summary.n_complete == 0:
            notes.append((y, "no run of ours" if summary is None else f"{line['arm']}: not run"))
        elif summary.n_learned == 0:
            notes.append((y, f"{line['arm']}: {summary.seeds_text}"))
        else:
            drawn[summary.synthetic].append((summary, y))
    for synthetic, items in drawn.items():
        if not items:
            continue
        means = [s.mean * 100 for s, _ in items]
        low = [max(0.0, (s.mean - s.bar[0]) * 100) for s, _ in items]
        high = [max(0.0, (s.bar[1] - s.mean) * 100) for s, _ in items]
        ax.errorbar(
            means,
            [y for _, y in items],
            xerr=[low, high],
            fmt="o",
            capsize=4,
            color="tab:orange" if synthetic else "tab:blue",
            label=SYNTHETIC_LABEL if synthetic else OURS_LABEL,
        )
    ours_low = [s.bar[0] * 100 for items in drawn.values() for s, _ in items]
    values = [p for p, _ in paper_x] + ours_low
    left = max(0.0, math.floor(min(values, default=50.0) / 10) * 10 - 5)
    ax.set_xlim(left, 101)
    for y, text in notes:
        ax.text(left + 1, y, text, va="center", fontsize=9, color="dimgray")
    labels = [_tick_label(line) for _, line in lines.iterrows()]
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("test accuracy (%)")
    synthetic = any(s is not None and s.synthetic for s in lines["ours"])
    title = "The paper's Table 1 beside our arms"
    ax.set_title(title + (" (SYNTHETIC data: not evidence)" if synthetic else ""), fontsize=10)
    fig.legend(loc="outside lower center", ncol=1, fontsize=9, frameon=False)
    plt.close(fig)
    return fig


def records_of_findings(
    headline: str, table1_pairs: str, evidence: str, runs_root: str | Path
) -> list[RunRecord]:
    """Every distinct run the page reads (for the header), in first-named order."""
    arms: list[str] = []
    for mapping in (parse_pairs(headline), parse_pairs(table1_pairs), parse_evidence(evidence)):
        for ids in mapping.values():
            arms += [a for a in ids if a not in arms]
    return load_runs(runs_root, arms)
