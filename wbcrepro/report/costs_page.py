"""What the book's training cost: each run's recorded training time, per arm and in total.

Read from the run folders' ``results.json`` (``train_seconds``, written by the training loop)
and environment; the time to render pages is not training and is left out. An arm's seeds are
summed, so the total is the CPU time of the whole profile; runs that ran side by side (two
single-threaded runs on two cores) took about half of it in wall time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from IPython.display import Markdown

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


def glue_costs(runs_root: str | Path) -> dict[str, object]:
    """Glue ``cost_runs``, ``cost_hours`` (training CPU time of every run), ``cost_wall_hours``
    (half of it: two runs side by side on two cores) and ``cost_hardware``."""
    times = run_times(runs_root)
    total = float(times["minutes"].sum()) if not times.empty else 0.0
    hardware = ", ".join(sorted(set(times["hardware"]))) if not times.empty else "none"
    return glue_values(
        {
            "cost_runs": len(times),
            "cost_hours": f"{total / 60:.1f}",
            "cost_wall_hours": f"{total / 120:.1f}",
            "cost_hardware": hardware,
        }
    )


def arm_times_markdown(runs_root: str | Path) -> Markdown:
    """:func:`arm_times` as a page table (narrow: one line per arm)."""
    table = arm_times(run_times(runs_root))
    if table.empty:
        return Markdown("(No trained run in this book.)")
    return Markdown(markdown_table(table))
