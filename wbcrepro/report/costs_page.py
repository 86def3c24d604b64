"""What the book's training cost: each run's recorded training time, per arm and in total.

Read from the run folders' ``results.json`` (``train_seconds``, written by the training loop)
and environment; the time to render pages is not training and is left out. An arm's seeds are
summed, so the total is the time of the whole profile's training loops. The wall time of a whole
re-creation is measured, not estimated: from the ``trained`` that ``reproduce`` writes into each
training run's ``<id>.run.json`` (the call that trained it: its start, jobs and threads, and when
the run finished), per call when several calls trained them. A call that only re-renders keeps it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from wbcrepro.fileio import read_json_or_none
from wbcrepro.report.headers import hardware_text
from wbcrepro.report.records import arm_of, glue_values, markdown_table, recorded_runs


def run_times(runs_root: str | Path) -> pd.DataFrame:
    """One row per trained run folder under ``runs_root``: arm, dataset, size, epochs, train
    subset, minutes of training, the hardware and commit it recorded."""
    rows = []
    for rec in recorded_runs(runs_root):
        seconds = rec.results.get("train_seconds")
        if seconds is None:  # not a training run (cross-domain evaluations keep their own JSON)
            continue
        params = rec.params
        rows.append(
            {
                "run": rec.run_id,
                "arm": arm_of(rec.run_id),
                "dataset": rec.dataset,
                "px": params.get("img_size"),
                "epochs": params.get("epochs"),
                "train images": params.get("train_subset") or "all",
                "minutes": float(seconds) / 60,
                "status": rec.status,
                "hardware": hardware_text(rec.environment),
                "commit": str((rec.environment.get("git") or {}).get("commit") or "")[:10],
            }
        )
    return pd.DataFrame(rows)


def arm_times(times: pd.DataFrame) -> pd.DataFrame:
    """Per arm: its setting, number of runs, minutes per run (mean) and in all."""
    if times.empty:
        return pd.DataFrame(columns=["arm", "dataset", "px", "epochs", "runs", "min/run", "min"])
    grouped = times.groupby("arm", sort=False)
    table = grouped.agg(
        dataset=("dataset", "first"),
        px=("px", "first"),
        epochs=("epochs", "first"),
        runs=("run", "count"),
        per_run=("minutes", "mean"),
        total=("minutes", "sum"),
    ).reset_index()
    table = table.rename(columns={"per_run": "min/run", "total": "min"})
    table["min/run"] = table["min/run"].map(lambda v: f"{v:.1f}")
    table["min"] = table["min"].map(lambda v: f"{v:.0f}")
    return table


def _finished_records(runs_root: Path) -> list[dict]:
    records = [read_json_or_none(path) for path in sorted(runs_root.glob("*.run.json"))]
    return [r for r in records if isinstance(r, dict) and r.get("finished")]


def _call_text(trained: list[dict]) -> tuple[str, float]:
    """(how one call trained its runs, its minutes from start to the end of its last run)."""
    call = trained[0]["trained"]
    started = dt.datetime.fromisoformat(str(call["started"]))
    finished = max(dt.datetime.fromisoformat(r["trained"]["finished"]) for r in trained)
    minutes = (finished - started).total_seconds() / 60
    threads = {r["trained"].get("threads_per_job") for r in trained} - {None}
    each = f", each with {min(threads)} thread(s)" if threads else ""
    text = (
        f"{call.get('jobs', 1)} job(s) side by side{each}: {minutes:.0f} min of wall time from "
        f"its start ({started:%Y-%m-%d %H:%M} UTC) to the end of the last of them"
    )
    return text, minutes


def reproduction_wall_time(runs_root: str | Path) -> str:
    """One sentence: the measured wall time of the ``reproduce`` call(s) that trained the book's
    runs (each record's ``trained``: that call's start, jobs and threads, and when the run
    finished), from each call's start to the end of the last run it trained; or why there is
    none (records older than the field). Where several calls trained the runs, each is given
    and their sum is said to be a sum of calls, not one measured re-creation."""
    records = _finished_records(Path(runs_root))
    trained = [r for r in records if r.get("trained")]
    untrained = [r for r in records if not r.get("trained")]
    if not trained:
        return "No record says which `reproduce` call trained this book's runs."
    calls: dict[str, list[dict]] = {}
    for record in trained:
        calls.setdefault(str(record["trained"].get("started")), []).append(record)
    others = (
        f"(the {len(untrained)} other runs, pages that read them and data overviews, took "
        f"{sum(float(r.get('seconds') or 0) for r in untrained) / 60:.0f} min in all when they "
        "were last rendered)"
    )
    if len(calls) == 1:
        text, _ = _call_text(trained)
        return (
            f"All {len(trained)} of them were trained by one `wbcrepro reproduce` call with "
            f"{text} {others}."
        )
    parts, total = [], 0.0
    for group in sorted(calls.values(), key=lambda g: g[0]["trained"]["started"]):
        text, minutes = _call_text(group)
        parts.append(f"{len(group)} by a call with {text}")
        total += minutes
    return (
        f"Its {len(trained)} training runs were trained by {len(calls)} separate "
        f"`wbcrepro reproduce` calls: {'; '.join(parts)}. Together that is {total:.0f} min of "
        "wall time, a sum over calls: one whole re-creation in a single call was not measured "
        f"{others}."
    )


def cost_table(runs_root: str | Path) -> pd.DataFrame:
    """What the book cost, one fact per row: the training runs and their summed training loops,
    each ``reproduce`` call that trained them (start, jobs and threads, runs, measured wall
    time), whether one call re-created the whole book, and the time of the other runs."""
    root = Path(runs_root)
    times = run_times(root)
    total = float(times["minutes"].sum()) if not times.empty else 0.0
    rows = [
        ("training runs", f"{len(times)}"),
        ("their training loops, summed", f"{total / 60:.1f} h"),
        ("hardware", ", ".join(sorted(set(times["hardware"]))) if not times.empty else "none"),
    ]
    records = _finished_records(root)
    trained = [r for r in records if r.get("trained")]
    calls: dict[str, list[dict]] = {}
    for record in trained:
        calls.setdefault(str(record["trained"].get("started")), []).append(record)
    walls = []
    for group in sorted(calls.values(), key=lambda g: g[0]["trained"]["started"]):
        call = group[0]["trained"]
        started = dt.datetime.fromisoformat(str(call["started"]))
        _, minutes = _call_text(group)
        walls.append(minutes)
        threads = {r["trained"].get("threads_per_job") for r in group} - {None}
        layout = f"{call.get('jobs', 1)} job(s)" + (
            f" x {min(threads)} thread(s)" if threads else ""
        )
        rows.append(
            (f"`reproduce` call of {started:%Y-%m-%d %H:%M} UTC", f"{len(group)} runs, {layout}, "
             f"{minutes:.0f} min wall")
        )  # fmt: skip
    if len(walls) == 1:
        rows.append(("one measured re-creation", f"yes: {walls[0]:.0f} min wall"))
    elif walls:
        rows.append(
            ("one measured re-creation", f"no: {len(walls)} calls ({sum(walls):.0f} min summed)")
        )
    others = [r for r in records if not r.get("trained")]
    rows.append(
        ("other runs (pages, data), last render", f"{len(others)} runs, "
         f"{sum(float(r.get('seconds') or 0) for r in others) / 60:.0f} min")
    )  # fmt: skip
    return pd.DataFrame(rows, columns=["", "measured"])


def cost_markdown(runs_root: str | Path) -> Markdown:
    """:func:`cost_table` as a small page table."""
    return Markdown(markdown_table(cost_table(runs_root)))


def glue_costs(runs_root: str | Path) -> dict[str, object]:
    """Glue ``cost_runs``, ``cost_hours`` (the training loops' time, summed over runs),
    ``cost_hardware`` and ``cost_wall`` (:func:`reproduction_wall_time`)."""
    times = run_times(runs_root)
    total = float(times["minutes"].sum()) if not times.empty else 0.0
    hardware = ", ".join(sorted(set(times["hardware"]))) if not times.empty else "none"
    return glue_values(
        {
            "cost_runs": len(times),
            "cost_hours": f"{total / 60:.1f}",
            "cost_hardware": hardware,
            "cost_wall": reproduction_wall_time(runs_root),
        }
    )


def arm_times_markdown(runs_root: str | Path) -> Markdown:
    """:func:`arm_times` as a page table (narrow: one line per arm)."""
    table = arm_times(run_times(runs_root))
    if table.empty:
        return Markdown("(No trained run in this book.)")
    return Markdown(markdown_table(table))
