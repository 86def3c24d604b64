"""The Table 1 page: the paper's comparison table (quoted) beside our arms on the same data.

Each of our entries is an *arm*: the seeds of one recipe (a profile entry with ``seeds``), shown
as the mean over the seeds that learned with their range, so a reader sees the spread a single
run would hide. The main table stays narrow enough for a page; what produced each number (data,
split, model, input size, epochs, hardware, baselines) is in a second table.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis import paper
from wbcrepro.analysis.seedstats import MIN_SEEDS
from wbcrepro.analysis.verdicts import pct
from wbcrepro.report.experiment_page import describe_split
from wbcrepro.report.headers import hardware_text
from wbcrepro.report.records import (
    RunRecord,
    data_text,
    dataset_spec,
    glue_values,
    link,
    load_runs,
    markdown_table,
    model_text,
    split_ids,
)

MAIN_COLUMNS = ("study", "paper", "ours", "our accuracy", "macro-F1", "vs paper")
DETAIL_COLUMNS = (
    "ours",
    "data",
    "split",
    "model",
    "size",
    "epochs",
    "hardware",
    "majority class",
    "linear probe",
)


def parse_pairs(text: str) -> dict[str, list[str]]:
    """``"kaggle-bloodcells=main-kaggle|paper-kaggle,bccd=main-bccd"`` -> {dataset: [arm ids]}."""
    out: dict[str, list[str]] = {}
    for item in split_ids(text):
        if "=" not in item:
            raise ValueError(f"pair {item!r} is not dataset=arm_id[|arm_id...]")
        dataset, arms = (part.strip() for part in item.split("=", 1))
        out[dataset] = [a.strip() for a in arms.split("|") if a.strip()]
    return out


def _normalise(pairs: str | Mapping[str, Any]) -> dict[str, list[str]]:
    if isinstance(pairs, str):
        return parse_pairs(pairs)
    return {d: [a] if isinstance(a, str) else list(a) for d, a in pairs.items()}


def learned_records(records: Sequence[RunRecord]) -> list[RunRecord]:
    """The complete runs whose gate says they learned: the only ones a number may rest on."""
    return [r for r in records if r.complete and r.as_result().usable]


def _mean_range(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return pct(mean)
    return f"{pct(mean)} ({pct(min(values))}-{pct(max(values))})"


def _accuracy_cell(records: Sequence[RunRecord]) -> str:
    learned = learned_records(records)
    values = [r.metric("accuracy") for r in learned]
    seeds = f"{len(learned)} of {len(records)} seed(s) learned"
    return f"{_mean_range(values)}; {seeds}"


def _versus(row: paper.Table1Row | None, records: Sequence[RunRecord], closest: bool) -> str:
    """Whether our seed mean is above the paper's quoted number (never "met" on other data)."""
    if row is None:
        return "no paper number"
    learned = learned_records(records)
    if len(learned) < MIN_SEEDS:
        return f"inconclusive ({len(learned)} seed(s) learned, {MIN_SEEDS} needed)"
    mean = statistics.fmean(r.metric("accuracy") for r in learned)
    side = "above" if mean * 100 > row.accuracy_percent else "below"
    points = mean * 100 - row.accuracy_percent
    tail = " (other data: not the same test)" if closest else ""
    return f"{side} ({points:+.1f} points){tail}"


def _baseline(rec: RunRecord, key: str) -> str:
    """A baseline's test accuracy as the run recorded it, or why there is none."""
    accuracy = rec.baseline_accuracy(key)
    if accuracy is None:
        base = (rec.results.get("baselines") or {}).get(key) or {}
        return base.get("reason", "not recorded") if base else "not recorded"
    return pct(accuracy)


def _not_run_reason(row: paper.Table1Row | None, dataset: str | None) -> str:
    """Why a Table 1 row has no result of ours beside it."""
    if row is not None and row.reason:
        return f"not run: {row.reason}"
    from wbcrepro.paths import data_root

    spec = dataset_spec(dataset or "")
    if spec is not None and not spec.present(data_root()):
        return f"not run: `{dataset}` is not under the data root"
    return "not run: no run on it in this profile"


def table1_lines(pairs: str | Mapping[str, Any], runs_root: str | Path):
    """(Table 1 row or None, dataset, arm id or None, records, closest?) in table order: one per
    line of :func:`table1` (the landing page draws and counts the same lines)."""
    mapping = _normalise(pairs)
    used: set[str] = set()
    for row in paper.TABLE1:
        key = row.dataset if row.dataset in mapping else row.closest_public
        closest = key is not None and key == row.closest_public and key in mapping
        arms = mapping.get(key, []) if key else []
        if key in mapping:
            used.add(key)
        if not arms:
            yield row, row.dataset, None, [], False
        for arm in arms:
            yield row, key, arm, load_runs(runs_root, arm), closest
    for dataset, arms in mapping.items():
        if dataset not in used:
            for arm in arms:
                yield None, dataset, arm, load_runs(runs_root, arm), False


def _study(row: paper.Table1Row | None, dataset: str | None) -> str:
    if row is None:
        return f"(not in Table 1) {dataset}"
    return f"{row.study}: {row.data}, {row.n_images:,} images, {row.num_classes} classes"


def table1(pairs: str | Mapping[str, Any], runs_root: str | Path) -> pd.DataFrame:
    """The paper's Table 1, each row beside each of our arms on the same public data (or, for the
    paper's own private row, on the closest public equivalent), one line per arm."""
    out = []
    for row, dataset, arm, records, closest in table1_lines(pairs, runs_root):
        line: dict[str, Any] = {
            "study": _study(row, dataset),
            "paper": f"{row.accuracy_percent:.2f}%" if row else "",
        }
        done = [r for r in records if r.complete]
        if arm is None or not done:
            status = f"arm `{arm}`: no complete run" if arm else _not_run_reason(row, dataset)
            line.update({"ours": status, "our accuracy": "", "macro-F1": "", "vs paper": ""})
        else:
            label = f"{link(done[0])} ({arm})" + (" closest public equivalent" if closest else "")
            f1 = [r.metric("macro_f1") for r in learned_records(done)]
            line.update(
                {
                    "ours": label,
                    "our accuracy": _accuracy_cell(done),
                    "macro-F1": f"{statistics.fmean(f1):.3f}" if f1 else "n/a",
                    "vs paper": _versus(row, done, closest),
                }
            )
        out.append(line)
    return pd.DataFrame(out, columns=list(MAIN_COLUMNS)).astype(object).fillna("")


def table1_details(pairs: str | Mapping[str, Any], runs_root: str | Path) -> pd.DataFrame:
    """What produced each arm of :func:`table1`: data, split, model, size, epochs, hardware and
    the baselines of its first seed (all seeds of an arm share data, split and recipe)."""
    out = []
    for _, _, arm, records, _ in table1_lines(pairs, runs_root):
        done = [r for r in records if r.complete]
        if arm is None or not done:
            continue
        rec = done[0]
        out.append(
            {
                "ours": arm,
                "data": data_text(rec),
                "split": describe_split(rec),
                "model": model_text(rec),
                "size": f"{rec.params.get('img_size', '?')} px",
                "epochs": str(rec.results.get("epochs_completed", "?")),
                "hardware": hardware_text(rec.environment),
                "majority class": _baseline(rec, "majority"),
                "linear probe": _baseline(rec, "linear_probe"),
            }
        )
    return pd.DataFrame(out, columns=list(DETAIL_COLUMNS))


def table1_markdown(pairs: str | Mapping[str, Any], runs_root: str | Path) -> Markdown:
    """:func:`table1` as a markdown table (its run links are clickable)."""
    return Markdown(markdown_table(table1(pairs, runs_root)))


DETAIL_SPLIT = 4
"""The first table of :func:`table1_details_markdown` holds ``DETAIL_COLUMNS[:4]`` (ours, data,
split, model); the second, ours and the rest: nine columns side by side do not fit a page."""


def table1_details_markdown(pairs: str | Mapping[str, Any], runs_root: str | Path) -> Markdown:
    """:func:`table1_details` as two markdown tables (what ran; how long, where, baselines)."""
    details = table1_details(pairs, runs_root)
    first = details[list(DETAIL_COLUMNS[:DETAIL_SPLIT])]
    second = details[[DETAIL_COLUMNS[0], *DETAIL_COLUMNS[DETAIL_SPLIT:]]]
    return Markdown(markdown_table(first) + "\n\n" + markdown_table(second))


def glue_table1(pairs: str | Mapping[str, Any], runs_root: str | Path) -> dict[str, Any]:
    """Glue ``n_rows``, ``n_paper_rows`` and ``n_compared`` (paper rows with an arm of ours)."""
    table = table1(pairs, runs_root)
    compared = table[~table["ours"].str.startswith(("not run", "arm "))]
    return glue_values(
        {
            "n_rows": len(table),
            "n_paper_rows": len(paper.TABLE1),
            "n_compared": int(compared["study"].nunique()),
        }
    )


def records_of_pairs(pairs: str, runs_root: str | Path) -> list[RunRecord]:
    """Every run named in ``pairs`` (arms expanded to their seeds), for the header."""
    return [r for arms in parse_pairs(pairs).values() for r in load_runs(runs_root, arms)]
