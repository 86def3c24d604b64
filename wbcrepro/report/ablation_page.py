"""The ablation page: several runs that differ in one setting, side by side, and what they show.

The decision (which setting beats which) is :mod:`wbcrepro.analysis.verdicts`'; this module only
turns run
records into its plain values and draws the tables and figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown

from wbcrepro.analysis import arms as arms_module
from wbcrepro.analysis import verdicts
from wbcrepro.analysis.verdicts import pct, with_ci
from wbcrepro.report.records import (
    RunRecord,
    f1_with_ci,
    glue_markdown,
    glue_values,
    markdown_table,
)


def _value(rec: RunRecord, vary: str) -> Any:
    return rec.as_result().setting(vary)


def _learned_text(rec: RunRecord) -> str:
    """``yes`` / ``no (why)`` from the run's gate; a run that did not finish says so instead."""
    if not rec.complete:
        return f"run {rec.status}"
    result = rec.as_result()
    if result.learned is None:
        return "not recorded"
    if result.learned:
        return "yes"
    return f"no ({result.gate_reasons[0]})" if result.gate_reasons else "no"


def ablation_table(records: Sequence[RunRecord], vary: str) -> pd.DataFrame:
    """One row per run, narrow enough for a page: the varied value, the seed, whether the run
    learned, test accuracy and macro-F1 with their 95% CIs. Per-class recall, which needs a
    column per class, is :func:`ablation_recall_table`."""
    rows = []
    for rec in records:
        row: dict[str, Any] = {"run": rec.run_id, vary or "run": _value(rec, vary)}
        if vary != "seed":
            row["seed"] = rec.params.get("seed", "?") if rec.params else "?"
        row["learned?"] = _learned_text(rec)
        complete = rec.complete
        accuracy = with_ci(rec.metric("accuracy"), rec.interval("accuracy")) if complete else ""
        row["accuracy [95% CI]"] = accuracy
        row["macro-F1 [95% CI]"] = f1_with_ci(rec) if complete else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def ablation_recall_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Per-class test recall, one column per complete run (rows: test images, balanced accuracy,
    then each class). Classes run down the page because six class names side by side do not fit
    a page's text column; :func:`ablation_recall_markdown` splits many runs into several tables."""
    columns: dict[str, dict[str, Any]] = {}
    for rec in records:
        if not rec.complete:
            continue
        test = rec.report("test") or {}
        column: dict[str, Any] = {
            "test images": int(test.get("n", 0)),
            "balanced accuracy": pct(rec.metric("balanced_accuracy")),
        }
        for name, values in test.get("per_class", {}).items():
            recall = values.get("recall")
            column[name.replace("_", " ")] = "n/a" if recall is None else f"{recall:.2f}"
        columns[rec.run_id] = column
    frame = pd.DataFrame(columns).fillna("")
    frame.index.name = "test recall"
    return frame


RUNS_PER_TABLE = 4
"""Run columns per recall table: with the class names beside them, more would not fit 1280 px."""


def ablation_recall_markdown(
    records: Sequence[RunRecord], runs_per_table: int = RUNS_PER_TABLE
) -> Markdown:
    """:func:`ablation_recall_table` as markdown tables of at most ``runs_per_table`` runs each
    (balanced: 9 runs make three tables of three, not 4 + 4 + 1)."""
    frame = ablation_recall_table(records)
    if frame.empty:
        return Markdown("(No complete run: no per-class recall to show.)")
    n_tables = -(-frame.shape[1] // runs_per_table)
    chunks = np.array_split(np.arange(frame.shape[1]), n_tables)
    tables = [markdown_table(frame.iloc[:, list(chunk)], index=True) for chunk in chunks]
    return Markdown("\n\n".join(tables))


def plot_ablation(records: Sequence[RunRecord], vary: str):
    """Test accuracy and macro-F1 per complete run with their 95% intervals as error bars."""
    done = [r for r in records if r.complete]
    labels = [f"{r.run_id}\n{vary}={_value(r, vary)}" for r in done]
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 2.2 * len(done) + 2), 3.6), sharey=True)
    palette = sns.color_palette(n_colors=max(1, len(done)))
    for ax, key, title in (
        (axes[0], "accuracy", "test accuracy (95% Wilson CI)"),
        (axes[1], "macro_f1", "test macro-F1 (95% bootstrap CI)"),
    ):
        values = np.array([r.metric(key) for r in done])
        ci = np.array([r.interval(key) for r in done]).reshape(-1, 2)
        low = np.nan_to_num(values - ci[:, 0], nan=0.0)
        high = np.nan_to_num(ci[:, 1] - values, nan=0.0)
        x = np.arange(len(done))
        ax.bar(x, values, color=palette[: len(done)])
        ax.errorbar(x, values, yerr=[low, high], fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(title, fontsize=10)
    if any(r.synthetic for r in done):
        fig.suptitle("SYNTHETIC data", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def seed_summary(records: Sequence[RunRecord], vary: str = "seed") -> pd.DataFrame | Markdown:
    """Mean, std, min and max over seeds of test accuracy, balanced accuracy and macro-F1; for an
    ablation of another setting, one block per value of it (an arm: its seeds that learned, the
    mean with its t interval, and their range), which is what its verdict rests on."""
    done = [r for r in records if r.complete]
    if vary != "seed":
        return _arm_summary(done, vary)
    rows = {}
    for key, title in MEASURES:
        values = pd.Series([r.metric(key) for r in done], dtype=float)
        rows[title] = {
            "seeds": len(values),
            "mean": values.mean(),
            "std": values.std(ddof=1),
            "min": values.min(),
            "max": values.max(),
        }
    return pd.DataFrame(rows).T.round(4)


MEASURES = (
    ("accuracy", "test accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro-F1"),
)


def _arm_summary(done: Sequence[RunRecord], vary: str) -> Markdown:
    results = [r.as_result() for r in done]
    if not results:
        return Markdown("(No complete run: nothing to summarise over seeds.)")
    rows = []
    for key, title in MEASURES:
        for arm in arms_module.arms(results, vary, metric=key):
            learned = f"{len(arm.values)} of {len(arm.runs)}"
            low, high = arm.interval if len(arm.values) >= 2 else (math.nan, math.nan)
            if not arm.values:
                mean = "n/a"
            elif math.isnan(low):  # one seed, or seeds without spread: no interval
                mean = f"{arm.mean:.2%}"
            else:
                mean = f"{arm.mean:.2%} [{low:.2%}, {high:.2%}]"
            spread = f"{min(arm.values):.2%} to {max(arm.values):.2%}" if arm.values else ""
            rows.append(
                {
                    vary: arm.value,
                    "measure": title,
                    "seeds learned": learned,
                    "mean [95% t]": mean,
                    "range": spread,
                }
            )
    return Markdown(markdown_table(pd.DataFrame(rows)))


def ablation_verdict(records: Sequence[RunRecord], vary: str, claim: str = "") -> str:
    """One line: what the ablation shows (see
    :func:`wbcrepro.analysis.verdicts.ablation_verdict`)."""
    return verdicts.ablation_verdict([r.as_result() for r in records], vary, claim)


def glue_ablation(records: Sequence[RunRecord], vary: str, claim: str = "") -> dict[str, Any]:
    """Glue ``verdict`` (markdown: it links runs, for a ``{glue:md}`` role), ``n_runs`` and
    ``n_complete`` of an ablation."""
    verdict = glue_markdown("verdict", ablation_verdict(records, vary, claim))
    counts = glue_values({"n_runs": len(records), "n_complete": sum(r.complete for r in records)})
    return {"verdict": verdict, **counts}
