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
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from wbcrepro.fileio import read_json_or_none
from wbcrepro.report.headers import hardware_text
from wbcrepro.report.records import arm_of, markdown_table, recorded_runs


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


def _calls(records: list[dict]) -> list[list[dict]]:
    """The training runs' records grouped by the ``reproduce`` call that trained them (each
    record's ``trained``), in the order the calls started."""
    calls: dict[str, list[dict]] = {}
    for record in records:
        if record.get("trained"):
            calls.setdefault(str(record["trained"].get("started")), []).append(record)
    return sorted(calls.values(), key=lambda g: str(g[0]["trained"].get("started")))


def _call_row(group: list[dict]) -> tuple[str, str, float]:
    """(label, what it did, its minutes): one call, measured from its start to the end of the
    last run it trained."""
    call = group[0]["trained"]
    started = dt.datetime.fromisoformat(str(call["started"]))
    finished = max(dt.datetime.fromisoformat(r["trained"]["finished"]) for r in group)
    minutes = (finished - started).total_seconds() / 60
    threads = {r["trained"].get("threads_per_job") for r in group} - {None}
    layout = f"{call.get('jobs', 1)} job(s)" + (f" x {min(threads)} thread(s)" if threads else "")
    label = f"`reproduce` call of {started:%Y-%m-%d %H:%M} UTC"
    return label, f"{len(group)} runs, {layout}, {minutes:.0f} min wall", minutes


def cost_table(runs_root: str | Path) -> pd.DataFrame:
    """What the book cost, one fact per row: the training runs and their summed training loops,
    each ``reproduce`` call that trained them (start, jobs and threads, runs, measured wall
    time), whether one call re-created the whole book (a sum over calls is said to be one), and
    the time of the other runs when last rendered."""
    root = Path(runs_root)
    times = run_times(root)
    total = float(times["minutes"].sum()) if not times.empty else 0.0
    rows = [
        ("training runs", f"{len(times)}"),
        ("their training loops, summed", f"{total / 60:.1f} h"),
        ("hardware", ", ".join(sorted(set(times["hardware"]))) if not times.empty else "none"),
    ]
    records = _finished_records(root)
    walls = []
    for group in _calls(records):
        label, text, minutes = _call_row(group)
        rows.append((label, text))
        walls.append(minutes)
    logged = _full_call(root, _calls(records))
    if logged is not None:
        rows.extend(_recreation_rows(logged))
    elif len(walls) == 1:
        rows.append(("one measured re-creation", f"yes: {walls[0]:.0f} min wall"))
    elif walls:
        rows.append(
            ("one measured re-creation", f"no: {len(walls)} calls ({sum(walls):.0f} min summed)")
        )
    else:
        rows.append(("one measured re-creation", "no record says which call trained the runs"))
    others = [r for r in records if not r.get("trained")]
    minutes = sum(float(r.get("seconds") or 0) for r in others) / 60
    rows.append(("other runs (pages, data), last render", f"{len(others)} runs, {minutes:.0f} min"))
    return pd.DataFrame(rows, columns=["", "measured"])


# The target for one re-creation of the cpu book on its 2-core machine.
RECREATION_TARGET_MIN = 150


def _full_call(root: Path, groups: list[list[dict]]) -> dict | None:
    """The logged ``reproduce --force`` call that executed every run of the profile and trained
    every training run in the book (one group of records), or None. Read from ``calls.jsonl``
    (:mod:`wbcrepro.reproduction.calls`), whose wall time runs from the call's start to the built
    book; a later call that retrained some runs makes it no longer one re-creation."""
    path = root / "calls.jsonl"
    if len(groups) != 1 or not path.is_file():
        return None
    started = str(groups[0][0]["trained"].get("started"))
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            call = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{path}: line {number} is not JSON ({err})") from err
        full = call.get("executed") == call.get("runs_in_profile") and not call.get("failed")
        if call.get("started") == started and call.get("force") and not call.get("only") and full:
            return call
    return None


def _recreation_rows(call: dict) -> list[tuple[str, str]]:
    """The measured re-creation as three short rows: its wall time, the call, the target."""
    minutes = round(float(call["wall_seconds"]) / 60)
    wall = f"{minutes // 60} h {minutes % 60:02d} min"
    git = call.get("git") or {}
    commit = str(git.get("commit") or "unknown")[:10]
    if git.get("dirty") is not None:
        commit += (
            " (with uncommitted changes at its start)" if git["dirty"] else " (clean at its start)"
        )
    over = minutes - RECREATION_TARGET_MIN
    target = f"{RECREATION_TARGET_MIN // 60} h {RECREATION_TARGET_MIN % 60:02d} min"
    return [
        ("one measured re-creation", f"yes: {wall} wall, from its start to the built book"),
        (
            "that call",
            f"`reproduce --force` of {call['started'][:16].replace('T', ' ')} UTC: "
            f"{call['executed']} runs ({call['trained']} trained), {call['jobs']} "
            f"job(s), commit {commit}",
        ),
        ("target", f"{target}: " + ("met" if over <= 0 else f"missed by {over} min")),
    ]


def cost_markdown(runs_root: str | Path) -> Markdown:
    """:func:`cost_table` as a small page table."""
    return Markdown(markdown_table(cost_table(runs_root)))


def arm_times_markdown(runs_root: str | Path) -> Markdown:
    """:func:`arm_times` as a page table (narrow: one line per arm)."""
    table = arm_times(run_times(runs_root))
    if table.empty:
        return Markdown("(No trained run in this book.)")
    return Markdown(markdown_table(table))
