"""The experiment page's pictures: normalised confusion matrix, learning curves with the selected
epoch, example predictions per class, and the Grad-CAM panel that training wrote.

Everything here reads the run folder only (``results.json``, ``metrics.csv``,
``predictions_test.csv``, image files, ``gradcam.png``); the Grad-CAM panel is computed on the
training side by :mod:`wbcrepro.inference.explain`, which takes its file names from here.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Image as ImageDisplay
from IPython.display import Markdown
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from wbcrepro.fileio import read_json_or_none
from wbcrepro.paths import cache_root, data_root, resolve_portable
from wbcrepro.report.data_page import eval_view
from wbcrepro.report.experiment_page import plot_curves_overlay
from wbcrepro.report.records import RunRecord
from wbcrepro.runfolder import predictions_file

GRADCAM_PNG = "gradcam.png"
GRADCAM_JSON = "gradcam.json"
"""The Grad-CAM panel and its record in a run folder (written by
:mod:`wbcrepro.inference.explain`)."""
TILE_PX = 96
"""Example tiles are downscaled to this many pixels: enough to recognise a cell, and a page of
them stays well under a megabyte."""
TILE_DPI = 80
PNG_COLOURS = 256
METRIC_NAMES = {
    "macro_f1": "macro-F1",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "loss": "loss",
}


# --- confusion matrix ----------------------------------------------------------------------------
def confusion_frames(rec: RunRecord, split: str = "test") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and row-normalised fractions (rows = true class; a row sums to 1, NaN where the
    class has no image in ``split``)."""
    rep = rec.report(split) or {}
    names = rep.get("class_names", rec.class_names)
    counts = pd.DataFrame(
        rep.get("confusion_matrix") or [[0] * len(names)] * len(names),
        index=names,
        columns=names,
    )
    totals = counts.sum(axis=1)
    fractions = counts.div(totals.where(totals > 0), axis=0)
    return counts, fractions


def plot_confusion(rec: RunRecord, split: str = "test"):
    """Row-normalised confusion matrix: each cell is the share of a true class predicted as a
    column's class (the diagonal is the recall per class), annotated with the share and the
    image count; each row's support is in its label.

    Normalised, because the test sets are unbalanced: with counts, the large classes' colours
    drown the small ones', whose recall is what a reader wants to see."""
    counts, fractions = confusion_frames(rec, split)
    labels = np.vectorize(lambda share, n: "" if np.isnan(share) else f"{share:.2f}\n({n})")(
        fractions.to_numpy(dtype=float), counts.to_numpy()
    )
    rows = [f"{name} (n={n})" for name, n in counts.sum(axis=1).items()]
    n = len(counts)
    fig, ax = plt.subplots(figsize=(1.1 * n + 3.2, 0.85 * n + 2.0))
    sns.heatmap(
        fractions.set_axis(rows, axis=0),
        annot=labels,
        fmt="",
        annot_kws={"fontsize": 8},
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        square=True,
        cbar_kws={"label": "share of the true class", "shrink": 0.8},
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    synthetic = " (SYNTHETIC)" if rec.synthetic else ""
    ax.set_title(
        f"{rec.run_id}: {split} confusion matrix{synthetic}\n"
        "row-normalised: recall per true class on the diagonal, image counts in brackets",
        fontsize=10,
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


# --- learning curves -----------------------------------------------------------------------------
def metric_name(metric: str) -> str:
    """``"val_macro_f1"`` / ``"macro_f1"`` -> ``"val macro-F1"`` (selection is on validation)."""
    key = metric.removeprefix("val_")
    return f"val {METRIC_NAMES.get(key, key.replace('_', ' '))}"


def selected_epoch(rec: RunRecord) -> tuple[int | None, str]:
    """The epoch whose model the run evaluated, and the legend text that says why.

    From ``results.json["selection"]``; without a selected epoch (no validation split, or an
    older record) the model is the last epoch's, and the text gives the recorded reason."""
    selection = rec.results.get("selection") or {}
    epoch = selection.get("selected_epoch")
    if epoch is not None:
        metric = metric_name(selection["metric"]) if selection.get("metric") else "on validation"
        return int(epoch), f"selected epoch {int(epoch)} (best {metric})"
    last = int(rec.history["epoch"].max()) if not rec.history.empty else None
    reason = selection.get("reason") or "the run records no model selection"
    return last, f"last epoch {last} evaluated (no selection: {reason})"


def plot_curves(rec: RunRecord):
    """Loss and accuracy per epoch (train and validation), the lr switch dotted and the epoch
    whose model the page evaluates as a solid vertical line, named in the legend."""
    fig = plot_curves_overlay([rec])
    epoch, text = selected_epoch(rec)
    if epoch is None:
        return fig
    loss, acc = fig.axes[:2]
    for ax in (loss, acc):
        ax.axvline(epoch, color="tab:red", linewidth=1.2, alpha=0.8)
    legend = acc.get_legend()
    handles = [*legend.legend_handles, Line2D([], [], color="tab:red", linewidth=1.2)]
    labels = [*(t.get_text() for t in legend.get_texts()), textwrap.fill(text, 40)]
    acc.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


# --- pictures of images, sized for the web ------------------------------------------------------
def compact_png(fig: Figure, dpi: float | None = None) -> bytes:
    """``fig`` as a PNG of at most 256 colours: grids of photographs compress badly as full-colour
    PNG (a 36-tile grid is most of a megabyte), as a palette PNG about four times smaller, and
    the tiles are too small for the difference to show."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    with Image.open(buf) as full:
        palette = full.convert("RGB").quantize(PNG_COLOURS)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True, repr=False)
class WebFigure:
    """A figure that a notebook shows as :func:`compact_png` (``figure`` is what was drawn)."""

    figure: Figure

    def _repr_png_(self) -> bytes:
        return compact_png(self.figure)

    def __repr__(self) -> str:
        return f"<{self.figure.get_suptitle() or 'figure'}>"


# --- example predictions -------------------------------------------------------------------------
def image_path(path: str, params: dict[str, Any]) -> Path:
    """A path of ``predictions_<split>.csv`` on this machine: ``$DATA/...`` and ``$CACHE/...``
    under this machine's data and cache roots (:func:`wbcrepro.paths.resolve_portable`), other
    relative ones under the run's data root, absolute ones as written."""
    root = data_root(params.get("data_root") or None)
    p = Path(resolve_portable(str(path), root, cache_root()))
    return p if p.is_absolute() else root / p


def read_predictions(folder: Path, params: dict[str, Any], split: str = "test") -> pd.DataFrame:
    """``predictions_<split>.csv`` with ``file`` (resolved path), ``exists`` (the file is
    there), ``confidence`` (probability of the predicted class) and ``correct`` added; empty
    when the run wrote none."""
    csv = folder / predictions_file(split)
    columns = ["path", "label", "predicted", "file", "exists", "confidence", "correct"]
    if not csv.is_file():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(csv)
    table["file"] = [image_path(p, params) for p in table["path"]]
    table["exists"] = [f.is_file() for f in table["file"]]
    table["confidence"] = [
        table.at[i, f"p_{pred}"] if f"p_{pred}" in table.columns else np.nan
        for i, pred in zip(table.index, table["predicted"], strict=True)
    ]
    table["correct"] = table["label"] == table["predicted"]
    return table


def pick_examples(table: pd.DataFrame, label: str, per_class: int) -> tuple[list, list]:
    """Rows of true class ``label``: the ``per_class`` least confident correct predictions (the
    hard cases the model still got right) and the ``per_class`` most confident mistakes (ties by
    path), taking only images whose file is there."""
    rows = table[(table["label"] == label) & table["exists"].astype(bool)]
    correct = rows["correct"].astype(bool)
    right = rows[correct].sort_values(["confidence", "path"], ascending=[True, True])
    wrong = rows[~correct].sort_values(["confidence", "path"], ascending=[False, True])
    return list(right.head(per_class).itertuples()), list(wrong.head(per_class).itertuples())


def _tile(ax, row, size: int, pre: int) -> None:
    ax.imshow(eval_view(str(row.file), size, pre).resize((TILE_PX, TILE_PX)))
    confidence = "" if np.isnan(row.confidence) else f" {row.confidence:.0%}"
    ax.set_title(
        f"{row.predicted}{confidence}",
        fontsize=7,
        color="tab:green" if row.correct else "tab:red",
    )


def plot_examples(rec: RunRecord, per_class: int = 3, split: str = "test") -> WebFigure:
    """For each true class, up to ``per_class`` correctly classified test images (the least
    confident ones) and ``per_class`` misclassified ones (the most confident mistakes), framed as
    the evaluation transform frames them, at most 96 px; each tile titled with the predicted
    class and its probability (green right, red wrong). Shown as a 256-colour PNG."""
    table = read_predictions(rec.folder, rec.params, split)
    names = rec.class_names or sorted(table["label"].unique())
    cols = 2 * per_class
    fig, axes = plt.subplots(
        len(names) or 1,
        cols,
        figsize=(1.15 * cols + 0.6, 1.3 * max(1, len(names)) + 0.6),
        dpi=TILE_DPI,
        squeeze=False,
    )
    size = int(rec.params.get("img_size", TILE_PX))
    pre = int(rec.params.get("pre_crop_size") or round(size * 256 / 224))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_frame_on(False)
    for r, name in enumerate(names):
        right, wrong = pick_examples(table, name, per_class)
        for c, row in [*enumerate(right), *((per_class + i, w) for i, w in enumerate(wrong))]:
            _tile(axes[r, c], row, size, pre)
        axes[r, 0].set_ylabel(name.replace("_", "\n"), fontsize=8)
    shown = sum(bool(ax.images) for ax in axes.ravel())
    missing = int((~table["exists"].astype(bool)).sum())
    note = f"; {missing} image file(s) not found" if missing else ""
    synthetic = "SYNTHETIC data. " if rec.synthetic else ""
    fig.suptitle(
        f"{synthetic}{rec.run_id}, {split} images by true class: {per_class} correct (least "
        f"confident first), then {per_class} wrong (most confident first); {shown} shown{note}",
        fontsize=9,
    )
    if not len(table):
        fig.text(0.5, 0.5, f"no {predictions_file(split)} in {rec.folder}", ha="center")
    fig.tight_layout()
    plt.close(fig)
    return WebFigure(fig)


# --- Grad-CAM ------------------------------------------------------------------------------------
def show_gradcam(rec: RunRecord, requested: int = 1) -> ImageDisplay | Markdown:
    """The Grad-CAM panel that :func:`wbcrepro.inference.explain.gradcam_panel` wrote into the run
    folder,
    or a line saying it was not requested (``requested`` is the notebook's
    ``gradcam_per_class``; 0 = off) or not found."""
    if not requested:
        return Markdown("Grad-CAM was not requested for this run (`gradcam_per_class = 0`).")
    png = rec.folder / GRADCAM_PNG
    if not png.is_file():
        return Markdown(f"Grad-CAM was requested but `{png}` is not there.")
    return ImageDisplay(filename=str(png))


def gradcam_record(rec: RunRecord) -> dict[str, Any] | None:
    """The record beside the panel: images, target layer, model file and its SHA-256."""
    return read_json_or_none(rec.folder / GRADCAM_JSON)


def gradcam_caption(rec: RunRecord) -> Markdown | None:
    """What the Grad-CAM panel shows, from its record (layer, feature-map size, model file);
    None (the cell shows nothing) when the run has no panel: an empty Markdown would show its
    repr instead."""
    info = gradcam_record(rec)
    if not info:
        return None
    h, w = info["feature_map"]
    synthetic = "**SYNTHETIC data.** " if rec.synthetic else ""
    return Markdown(
        f"{synthetic}Grad-CAM ({info['package']}) of the predicted class on layer "
        f"`{info['target_layer']}` ({h}x{w} feature map, upsampled to {info['img_size']} px), "
        f"{info['n_images']} test images of `{info['model_file']}` (epoch {info['epoch']}, "
        f"SHA-256 `{info['model_sha256'][:12]}`)."
    )
