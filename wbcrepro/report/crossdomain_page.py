"""What the cross-domain notebook shows, read from the record :mod:`wbcrepro.inference.crossdomain`
wrote.

Presentation only: this module reads the JSON record and never imports training code (no torch),
so a page re-renders without evaluating anything. Functions that return a figure close it first,
so a notebook shows it once (as the cell's value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown

from wbcrepro.fileio import read_json

SYNTHETIC_NOTE = (
    "> **SYNTHETIC DATA.** The source model was trained on procedurally drawn images "
    "(`wbcrepro.data.synthetic`), not real blood cells: this page tests the pipeline only."
)


def load_record(path: str | Path) -> dict[str, Any]:
    """The cross-domain record at ``path`` (a missing or malformed file raises naming it)."""
    return read_json(path)


def _is_synthetic(record: Mapping[str, Any]) -> bool:
    return bool(record["source"].get("synthetic") or record["target"].get("synthetic"))


def _with_ci(value: float | None, ci: list | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    low, high = ci or (math.nan, math.nan)
    if any(v is None or math.isnan(v) for v in (low, high)):
        return format(value, fmt)
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _excluded_text(record: Mapping[str, Any]) -> str:
    rows = record["excluded_classes"]
    return ", ".join(f"{r['class']} ({r['images']} images)" for r in rows) or "none"


def header(record: Mapping[str, Any], profile: str) -> Markdown:
    """What was evaluated on what, with the synthetic banner where it applies."""
    src, tgt = record["source"], record["target"]
    model = (
        f"The shipped model file `{src['model_file']}` ({src.get('weights_precision')}; "
        f"exported from run `{src['run_id']}`, epoch {src['epoch']}; what `wbcrepro predict` "
        f"runs), {src['arch']} at {src['img_size']} px trained on `{src['dataset']}`,"
        if src.get("kind") == "shipped"
        else f"Source run `{src['run_id']}` ({src['arch']} at {src['img_size']} px, trained on "
        f"`{src['dataset']}`, weights `{src['model_file']}` of epoch {src['epoch']})"
    )
    lines = [
        f"Profile `{profile}`. {model} evaluated on every image of `{tgt['dataset']}` whose "
        f"class the source model knows: {record['n_images']} of {tgt['images']} images.",
    ]
    if tgt.get("notes"):
        lines.append("Target notes: " + "; ".join(tgt["notes"]) + ".")
    lines.append(preprocessing_text(record))
    text = "\n\n".join(lines)
    return Markdown((SYNTHETIC_NOTE + "\n\n" if _is_synthetic(record) else "") + text)


def synthetic_note(record: Mapping[str, Any]) -> Markdown | None:
    """The synthetic banner for the top of the page (its header is folded at the end), or None."""
    return Markdown(SYNTHETIC_NOTE) if _is_synthetic(record) else None


def preprocessing_text(record: Mapping[str, Any]) -> str:
    """How the target's images were read: by the path ``wbcrepro predict`` and the run's own
    evaluation share, or (an older record) at full size."""
    pre, sides = record.get("preprocessing"), record["target"].get("image_shorter_side") or {}
    size = f" (shorter sides {sides['min']} to {sides['max']} px)" if sides else ""
    if pre is None:
        return (
            "Images were read at full size: this record predates the shared preprocessing of "
            "`wbcrepro predict` and the run's own evaluation, which first downscale the shorter "
            "side to the run's decode size (211 px for a 160 px model). The inputs are the same "
            "wherever the target's images are no larger (Zheng 2018: at most 120 px), slightly "
            "different where they are larger (BCCD crops: 131 to 367 px)."
        )
    side = pre.get("decode_shorter_side")
    decode = f"shorter side downscaled to {side} px where larger" if side else "full size"
    return (
        f"Images{size} were read as the run's own evaluation and `wbcrepro predict` read them: "
        f"{decode}, then the evaluation transform; the answer is the summed-probability argmax "
        "that `wbcrepro predict --label-space` gives."
    )


def summary_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """One column of headline numbers, each with its 95% interval where it has one."""
    m = record["metrics"]
    absent = m["predicted_absent_class"]
    rows = {
        "source run": record["source"]["run_id"],
        "target dataset": record["target"]["dataset"]
        + (" (SYNTHETIC)" if record["target"].get("synthetic") else ""),
        "images scored": m["n"],
        "accuracy [95% Wilson]": _with_ci(m["accuracy"], m["accuracy_ci95"], ".2%"),
        "balanced accuracy": _with_ci(m["balanced_accuracy"], None, ".2%"),
        "macro-F1 [95% bootstrap]": _with_ci(m["macro_f1"], m["macro_f1_ci95"], ".3f"),
        "predicted a class the target lacks": f"{absent['count']} ({absent['fraction']:.1%})"
        if m["n"]
        else "n/a",
        "target classes left out": _excluded_text(record),
    }
    return pd.DataFrame({"value": list(map(str, rows.values()))}, index=list(rows))


def class_map_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Source class -> the target class it counts as (or that the target lacks it)."""
    return pd.DataFrame(
        {
            "source class": list(record["class_map"]),
            "counts as target class": [
                t or "(not in target)" for t in record["class_map"].values()
            ],
        }
    )


def per_class_recall(record: Mapping[str, Any]) -> pd.DataFrame:
    """Recall, precision, F1 and support of every scored target class."""
    rows = [{"class": name, **values} for name, values in record["metrics"]["per_class"].items()]
    table = pd.DataFrame(rows, columns=["class", "recall", "precision", "f1", "support"])
    return table.set_index("class").round(3)


def _title(record: Mapping[str, Any], what: str) -> str:
    mark = " (SYNTHETIC)" if _is_synthetic(record) else ""
    return f"{record['source']['run_id']} on {record['target']['dataset']}: {what}{mark}"


def plot_recall(record: Mapping[str, Any]):
    """Per-class recall as horizontal bars (the support in each label)."""
    table = per_class_recall(record).reset_index()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(table) + 1.5))
    sns.barplot(data=table, y="class", x="recall", color="tab:blue", ax=ax)
    ax.set_xlim(0, 1)
    ax.set_ylabel("")
    ax.set_yticks(
        range(len(table)),
        [f"{c} (n={s})" for c, s in zip(table["class"], table["support"], strict=True)],
    )
    ax.set_title(_title(record, "recall per class"))
    fig.tight_layout()
    plt.close(fig)
    return fig


def confusion_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    """Counts: rows = true (scored target) class, columns = predicted merged class."""
    m = record["metrics"]
    return pd.DataFrame(
        m["confusion_matrix"], index=m["confusion_rows"], columns=m["confusion_columns"]
    )


def plot_confusion(record: Mapping[str, Any]):
    """Confusion-matrix heatmap; columns after the target's classes are source classes the
    target lacks (every prediction there is wrong)."""
    matrix = confusion_frame(record)
    rows, cols = matrix.shape
    fig, ax = plt.subplots(figsize=(1.0 * cols + 2.5, 0.8 * rows + 2.0))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    if cols > rows:
        ax.axvline(rows, color="tab:red", linewidth=2)
    ax.set_xlabel(
        "predicted (right of the red line: not a class of the target)"
        if cols > rows
        else "predicted"
    )
    ax.set_ylabel("true")
    ax.set_title(_title(record, "confusion matrix"))
    fig.tight_layout()
    plt.close(fig)
    return fig
