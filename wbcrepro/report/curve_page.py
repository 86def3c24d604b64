"""A learning curve read from run records: the validation metric against the number of training
images and the input size, so that a profile's subset, resolution and epochs are seen to be
chosen, and what a larger choice would buy.

Validation only. The curve is there to pick a setting, and a setting picked on the test split
spends the test split; each run still evaluated its test split once, on its own selected model,
but this page never shows it. One seed per point: a point's own uncertainty is its validation
interval (bootstrap for macro-F1), drawn as an error bar, and a difference smaller than those
intervals is read as none.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from wbcrepro.report.figures import METRIC_NAMES
from wbcrepro.report.records import RunRecord, glue_values, link, markdown_table

COLUMNS = [
    "run",
    "train images",
    "px",
    "epochs",
    "levers",
    "selected epoch",
    "val",
    "low",
    "high",
    "min",
    "learned",
]


def train_images(rec: RunRecord) -> int | None:
    """How many images the run trained on, as its split recorded them (not the parameter)."""
    counts = ((rec.results.get("dataset") or {}).get("counts") or {}).get("train") or {}
    return int(sum(counts.values())) if counts else None


def levers(params: dict) -> str:
    """The CPU-budget levers a run trained with, in words ("none" for the paper's full
    fine-tune at one size, validated every epoch): points with other levers are another recipe,
    so the curve's axes compare only points with the reference's."""
    parts = []
    if params.get("freeze_fraction"):
        parts.append(f"first {params['freeze_fraction']:g} frozen")
    if params.get("early_epochs"):
        parts.append(f"{params['early_img_size']} px for {params['early_epochs']} epochs")
    if (params.get("val_every") or 1) > 1:
        parts.append(f"validated every {params['val_every']}")
    return ", ".join(parts) or "none"


def curve_points(records: Sequence[RunRecord], metric: str = "macro_f1") -> pd.DataFrame:
    """One row per complete run: its train images, input size, epochs, the epoch it selected,
    the validation ``metric`` of that epoch with its 95% interval, its training minutes and
    whether it passed the learning gate (a run that did not learn is shown, and marked)."""
    rows = []
    for rec in records:
        val = (rec.results.get("final") or {}).get("val") or {}
        if not rec.complete or metric not in val:
            continue
        low, high = val.get(f"{metric}_ci95") or (math.nan, math.nan)
        rows.append(
            {
                "run": rec.run_id,
                "train images": train_images(rec),
                "px": rec.params.get("img_size"),
                "epochs": rec.params.get("epochs"),
                "levers": levers(rec.params),
                "selected epoch": (rec.results.get("selection") or {}).get("selected_epoch"),
                "val": float(val[metric]),
                "low": float(low),
                "high": float(high),
                "min": float(rec.results.get("train_seconds") or math.nan) / 60,
                "learned": (rec.results.get("gate") or {}).get("learned"),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["px", "train images"], kind="stable")


def _axes_rows(points: pd.DataFrame, reference: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the points at the reference's size and epochs, by train images; the points with the
    reference's train images and epochs, by size)."""
    ref = points.set_index("run").loc[reference]
    same_epochs = points[(points["epochs"] == ref["epochs"]) & (points["levers"] == ref["levers"])]
    by_images = same_epochs[same_epochs["px"] == ref["px"]].sort_values("train images")
    by_size = same_epochs[same_epochs["train images"] == ref["train images"]].sort_values("px")
    return by_images, by_size


def curve_markdown(records: Sequence[RunRecord], metric: str = "macro_f1") -> Markdown:
    """The points as a page table, the run names linking to their pages."""
    points = curve_points(records, metric)
    if points.empty:
        return Markdown("(No complete run to draw a curve from.)")
    links = {rec.run_id: link(rec) for rec in records}
    table = pd.DataFrame(
        {
            "run": points["run"].map(links),
            # one column that wraps at its spaces: three narrow ones widened the table past the
            # page's column (the browser check)
            "setting": [
                f"{n} images, {px} px, {e} epochs"
                for n, px, e in zip(
                    points["train images"], points["px"], points["epochs"], strict=True
                )
            ],
            "levers": points["levers"],
            "selected epoch": points["selected epoch"],
            f"val {METRIC_NAMES.get(metric, metric)} [95%]": [
                f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
                for v, lo, hi in zip(points["val"], points["low"], points["high"], strict=True)
            ],
            "train min": points["min"].map(lambda m: f"{m:.1f}"),
            "learned": points["learned"].map({True: "yes", False: "**no**"}).fillna("not checked"),
        }
    )
    return Markdown(markdown_table(table))


def plot_curve(records: Sequence[RunRecord], reference: str, metric: str = "macro_f1"):
    """Validation ``metric`` against train images (log scale) and against input size, the
    reference run (the profile's choice) marked; error bars are each run's 95% interval."""
    points = curve_points(records, metric)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    name = f"val {METRIC_NAMES.get(metric, metric)}"
    if reference in set(points["run"]):
        rows = _axes_rows(points, reference)
        for ax, frame, x in zip(axes, rows, ("train images", "px"), strict=True):
            errors = [frame["val"] - frame["low"], frame["high"] - frame["val"]]
            ax.errorbar(frame[x], frame["val"], yerr=errors, marker="o", capsize=3)
            ref = frame[frame["run"] == reference]
            ax.plot(ref[x], ref["val"], "o", color="tab:red", markersize=9, label=reference)
            ax.set_xlabel(x)
            ax.legend(loc="lower right", fontsize=8)
        axes[0].set_xscale("log")
        axes[0].set_xticks(sorted(set(points["train images"].dropna())))
        axes[0].get_xaxis().set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes[0].minorticks_off()
    axes[0].set_ylabel(name)
    axes[0].set_title("more training images (same size, epochs)")
    axes[1].set_title("larger input (same images, epochs)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _step_text(frame: pd.DataFrame, x: str, unit: str) -> str:
    steps = []
    rows = [row for _, row in frame.iterrows()]
    for a, b in itertools.pairwise(rows):
        overlap = a["low"] <= b["high"] and b["low"] <= a["high"]
        steps.append(
            f"{int(a[x]):,} to {int(b[x]):,} {unit}: {(b['val'] - a['val']) * 100:+.1f} points"
            + (" (the intervals overlap)" if overlap else "")
        )
    return "; ".join(steps) if steps else "one point only"


def glue_curve(
    records: Sequence[RunRecord], reference: str, metric: str = "macro_f1"
) -> dict[str, object]:
    """Glue ``curve_images`` and ``curve_sizes`` (each step of the curve in points, saying where
    the intervals overlap), ``curve_reference`` (the profile's point against the best point and
    what the best costs in training time) and ``curve_epochs`` (how many runs selected their last
    epoch: where most do, more epochs could still help)."""
    points = curve_points(records, metric)
    if reference not in set(points["run"]):
        text = f"{reference} has no complete record: no curve"
        return glue_values(
            dict.fromkeys(("curve_images", "curve_sizes", "curve_reference", "curve_epochs"), text)
        )
    by_images, by_size = _axes_rows(points, reference)
    ref = points.set_index("run").loc[reference]
    best = points.loc[points["val"].idxmax()]
    if best["run"] == reference:
        where = f"The reference point, {reference}, is the best point of the curve"
    else:
        overlap = best["low"] <= ref["high"]
        where = (
            f"The reference point, {reference}, is {(best['val'] - ref['val']) * 100:.1f} points "
            f"below the best point, {best['run']} ({int(best['train images']):,} images at "
            f"{int(best['px'])} px, {best['epochs']} epochs, levers: {best['levers']}; their "
            f"intervals {'overlap' if overlap else 'do not overlap'}), "
            f"which took {best['min'] / ref['min']:.1f} times its training time "
            f"({best['min']:.0f} min against {ref['min']:.0f})"
        )
    last = points[points["selected epoch"] == points["epochs"]]
    return glue_values(
        {
            "curve_images": _step_text(by_images, "train images", "images"),
            "curve_sizes": _step_text(by_size, "px", "px"),
            "curve_reference": where,
            "curve_epochs": f"{len(last)} of {len(points)}",
        }
    )


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items()) or "(none)"


def _number(value: object, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def lever_table(paths: str | Sequence[str | Path]) -> Markdown:
    """What each CPU-budget lever measured, read from the benchmarks' JSON records
    (``benchmarks/cpu_budget.py``: whole-run speed-up and the validation accuracy of its seed;
    ``benchmarks/lever_seeds.py``: mean validation macro-F1 over seeds against profile v2's
    main-pbc). ``paths``: the files, comma-separated or a list, relative to the repository root
    (the notebook's working directory). A missing file is a row that says so, not an error: the
    page still renders in a clone that has not run the benchmarks."""
    items = [p.strip() for p in paths.split(",")] if isinstance(paths, str) else list(paths)
    rows = []
    for item in filter(None, map(str, items)):
        path = Path(item)
        if not path.is_file():
            rows.append({"record": f"`{item}`", "what": "missing: not run here"})
            continue
        data = json.loads(path.read_text())
        commit = ((data.get("environment") or {}).get("git") or {}).get("commit") or ""
        if "speedup" in data:
            old, new = data["old"], data["new"]
            rows.append(
                {
                    "record": f"`{path.name}`",
                    "what": "whole run, seed 0" + (" (SYNTHETIC)" if data.get("synthetic") else ""),
                    "settings": _settings_text(new["settings"]),
                    "speed-up": f"{data['speedup']:.2f}x",
                    "val accuracy (old -> new)": f"{_number(old['median_val_accuracy'])} -> "
                    f"{_number(new['median_val_accuracy'])}",
                    "commit": commit[:7],
                }
            )
        else:
            base = data.get("v2_mean_val_macro_f1", data.get("committed_mean_val_macro_f1"))
            rows.append(
                {
                    "record": f"`{path.name}`",
                    "what": f"validation only, {len(data['seeds'])} seeds",
                    "settings": _settings_text(data["settings"]),
                    "speed-up": "",
                    "val macro-F1, mean (v2 -> levers)": f"{_number(base)} -> "
                    f"{_number(data['mean_val_macro_f1'])}",
                    "commit": commit[:7],
                }
            )
    return Markdown(markdown_table(pd.DataFrame(rows).fillna("")))
