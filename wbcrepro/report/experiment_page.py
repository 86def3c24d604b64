"""The experiment page: one run's record (status, curves of several runs, metrics tables, the
paper beside it); the single run's pictures are in :mod:`wbcrepro.report.figures`.

Training is not this module's job: the notebook trains (or finds the run complete) in its own
step, :func:`wbcrepro.training.experiment.fit_or_load`, and the page then reads the run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.ticker import MaxNLocator

from wbcrepro.analysis import paper
from wbcrepro.analysis.verdicts import pct, with_ci
from wbcrepro.codehash import RESULTS_KEY, training_code_hash
from wbcrepro.report.headers import hardware_text
from wbcrepro.report.records import (
    RunRecord,
    data_text,
    dataset_spec,
    f1_with_ci,
    glue_values,
    model_text,
)


def _code_state(rec: RunRecord) -> str:
    recorded = rec.results[RESULTS_KEY]  # every record has it (wbcrepro.runfolder.RunResults)
    if recorded == training_code_hash():
        return f"trained with today's training code (`{recorded}`)"
    return f"trained with other training code (`{recorded}`, today `{training_code_hash()}`)"


def run_status(rec: RunRecord) -> Markdown:
    """One line from the record: status, epochs, training time, resumption, code version."""
    if rec.status == "missing":
        return Markdown(f"Run `{rec.run_id}`: no results.json in `{rec.folder}`.")
    seconds = rec.results.get("train_seconds")
    took = f", {seconds / 60:.1f} min of training" if seconds else ""
    resumed = rec.results.get("resumed_from_epoch")
    again = f", resumed after epoch {resumed}" if resumed else ""
    error = f" Error: {rec.results['error']}" if rec.results.get("error") else ""
    return Markdown(
        f"Run `{rec.run_id}` in `{rec.folder}`: **{rec.status}** "
        f"({rec.results.get('epochs_completed', len(rec.history))} epochs{took}{again}; "
        f"{_code_state(rec)}).{error}"
    )


def _label(rec: RunRecord, vary: str) -> str:
    return rec.run_id if not vary else f"{rec.run_id} ({vary}={rec.params.get(vary, '?')})"


def plot_curves_overlay(records: Sequence[RunRecord], vary: str = ""):
    """Loss and accuracy per epoch of one or several runs (train dashed, validation solid), the
    learning-rate switch marked."""
    frames = []
    for rec in records:
        if rec.history.empty:
            continue
        hist = rec.history
        for part, style in (("train", "train"), ("val", "validation")):
            frames.append(
                pd.DataFrame(
                    {
                        "epoch": hist["epoch"],
                        "loss": hist[f"{part}_loss"],
                        "accuracy": hist[f"{part}_accuracy"],
                        "run": _label(rec, vary),
                        "set": style,
                    }
                )
            )
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    if frames:
        data = pd.concat(frames, ignore_index=True)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            sns.lineplot(
                data=data,
                x="epoch",
                y=key,
                hue="run",
                style="set",
                style_order=["train", "validation"],
                dashes={"train": (4, 2), "validation": ""},
                markers={"train": "o", "validation": "s"},
                ax=ax,
                legend=ax is axes[1],
            )
            ax.set_title(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(0.5, data["epoch"].max() + 0.5)
        for rec in records:
            switch = rec.params.get("lr_switch_epoch")
            if switch and not rec.history.empty and switch <= rec.history["epoch"].max():
                for ax in axes:
                    ax.axvline(switch - 0.5, color="grey", linestyle=":", linewidth=1)
                axes[0].annotate(
                    f"lr -> {rec.params.get('lr_after_switch', 0):.1e}",
                    (switch - 0.5, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=8,
                    va="top",
                )
        axes[1].set_ylim(0, 1.02)
        axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no finished epoch", ha="center", transform=ax.transAxes)
    if any(r.synthetic for r in records):
        fig.suptitle("SYNTHETIC data", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def per_class_table(rec: RunRecord, split: str = "test") -> pd.DataFrame:
    """Precision, recall, F1 and support per class of ``split``."""
    rep = rec.report(split) or {}
    rows = [{"class": name, **values} for name, values in rep.get("per_class", {}).items()]
    table = pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])
    return table.set_index("class").round(3)


def metrics_table(rec: RunRecord) -> pd.DataFrame:
    """Final validation and test metrics with their 95% intervals."""
    rows = []
    for split in ("val", "test"):
        rep = rec.report(split)
        if rep is None:
            continue
        rows.append(
            {
                "split": split,
                "images": int(rep.get("n", 0)),
                "accuracy [95% Wilson CI]": with_ci(
                    rec.metric("accuracy", split), rec.interval("accuracy", split)
                ),
                "balanced accuracy": pct(rec.metric("balanced_accuracy", split)),
                "macro-F1 [95% bootstrap CI]": f1_with_ci(rec, split),
            }
        )
    return pd.DataFrame(rows).set_index("split") if rows else pd.DataFrame()


def glue_run(rec: RunRecord) -> dict[str, Any]:
    """Glue the run's headline numbers (test and val) for the notebook's prose."""
    acc_lo, acc_hi = rec.interval("accuracy")
    f1_lo, f1_hi = rec.interval("macro_f1")
    test = rec.report("test") or {}
    return glue_values(
        {
            "test_accuracy": rec.metric("accuracy"),
            "test_accuracy_lo": acc_lo,
            "test_accuracy_hi": acc_hi,
            "test_balanced_accuracy": rec.metric("balanced_accuracy"),
            "test_macro_f1": rec.metric("macro_f1"),
            "test_macro_f1_lo": f1_lo,
            "test_macro_f1_hi": f1_hi,
            "test_n": int(test.get("n", 0)),
            "val_accuracy": rec.metric("accuracy", "val"),
            "epochs_completed": int(rec.results.get("epochs_completed", len(rec.history))),
            "train_minutes": float(rec.results.get("train_seconds") or 0.0) / 60,
            "paper_accuracy": paper.PAPER_RESULT["accuracy"],
            "paper_gap_points": 100 * (paper.PAPER_RESULT["accuracy"] - rec.metric("accuracy")),
        }
    )


def describe_split(rec: RunRecord) -> str:
    """How the run's data was split, with the achieved image counts."""
    params = rec.params
    counts = rec.results.get("dataset", {}).get("counts", {})
    sizes = "/".join(str(sum(counts.get(s, {}).values())) for s in ("train", "val", "test"))
    spec = dataset_spec(rec.dataset)
    if params.get("n_folds"):
        how = f"stratified group {params['n_folds']}-fold, fold {params.get('fold', 0)} as test"
    elif spec is not None and spec.official_split and not spec.official_split.startswith("none"):
        how = f"published ({spec.official_split}); val carved from train"
    else:
        how = f"stratified group split (split_seed {params.get('split_seed', 0)})"
    return f"{how}; train/val/test {sizes} images"


def paper_vs_ours(rec: RunRecord) -> pd.DataFrame:
    """The paper's reported setting and accuracy beside ours, side by side."""
    result = paper.PAPER_RESULT
    params = rec.params
    rows = {
        "data": (
            f"{result['data']}, {result['n_images']:,} images, {result['num_classes']} classes",
            data_text(rec),
        ),
        "split": (result["split"], describe_split(rec)),
        "model": (result["model"], model_text(rec)),
        "resolution": (f"{result['img_size']} px", f"{params.get('img_size', '?')} px"),
        "epochs": (str(result["epochs"]), str(rec.results.get("epochs_completed", "?"))),
        "hardware": (result["hardware"], hardware_text(rec.environment)),
        "test accuracy": (
            f"{result['accuracy_text']} (no interval reported)",
            with_ci(rec.metric("accuracy"), rec.interval("accuracy")),
        ),
        "balanced accuracy": ("not reported", pct(rec.metric("balanced_accuracy"))),
        "macro-F1": ("not reported", f1_with_ci(rec)),
    }
    return pd.DataFrame(
        rows.values(),
        index=list(rows),
        columns=["paper (Chegodaev 2021, quoted)", f"ours ({rec.run_id})"],
    )
