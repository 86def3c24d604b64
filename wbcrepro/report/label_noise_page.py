"""How noisy PBC's band vs segmented labels are, and what that does to our runs' numbers.

PBC's band/segmented label is a file-name prefix; WBCAtt's annotators described each nucleus
(:mod:`wbcrepro.data.wbcatt`). This page crosses the two over the images here, then reads the test
predictions of the PBC runs (``predictions_test.csv``; nothing is re-evaluated) and splits their
band and segmented recall by whether WBCAtt agrees with the label. It also gives the accuracy
ceiling of a model that calls band vs segmented as WBCAtt's annotators do: scored against the
prefixes, such a model is wrong on every disagreeing test image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.figure import Figure

from wbcrepro import paths
from wbcrepro.analysis import paper
from wbcrepro.data import wbcatt
from wbcrepro.data.wbcatt import PREFIX_CLASS
from wbcrepro.report.records import RunRecord, arm_of, glue_values, load_runs, markdown_table
from wbcrepro.runfolder import predictions_file

NEUTROPHILS = tuple(PREFIX_CLASS.values())
PREDICTIONS_TEST = predictions_file("test")


@dataclass(frozen=True)
class LabelNoise:
    """What the page shows: the runs read, WBCAtt's agreement with the prefixes, per-run table."""

    runs: list[RunRecord]
    agreement: pd.DataFrame
    table: pd.DataFrame


def load(runs_root: str | Path, arms: str, data_root: str = "") -> LabelNoise:
    """Read the runs of ``arms`` and WBCAtt's annotations of the images present under the data
    root (``data_root``, else $WBCREPRO_DATA); raises naming a missing annotation file."""
    runs = load_runs(runs_root, arms)
    root = paths.data_root(data_root or None)
    agreement = wbcatt.neutrophil_agreement(
        wbcatt.present_only(wbcatt.load_annotations(root), root)
    )
    return LabelNoise(runs, agreement, noise_table(runs, agreement))


def shape_table(agreement: pd.DataFrame) -> pd.DataFrame:
    """Images per WBCAtt ``nucleus_shape`` (rows) and PBC class (columns), with totals: shapes
    down the page, so the table fits its width."""
    table = pd.crosstab(
        agreement["nucleus_shape"], agreement["pbc_class"], margins=True, margins_name="total"
    )
    table.index.name = "WBCAtt nucleus_shape"
    return table


def disagreement_summary(agreement: pd.DataFrame) -> pd.DataFrame:
    """Per PBC class: images, how many WBCAtt contradicts, how many it leaves unclear."""
    rows = []
    for name in NEUTROPHILS:
        part = agreement[agreement["pbc_class"] == name]
        disagree = int((part["agree"] == False).sum())  # noqa: E712 (nullable boolean)
        rows.append(
            {
                "PBC label": name,
                "images": len(part),
                "WBCAtt contradicts": disagree,
                "share": disagree / len(part) if len(part) else float("nan"),
                "shape unclear": int(part["agree"].isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def test_predictions(rec: RunRecord) -> pd.DataFrame:
    """A run's test predictions with the image's file name (the key WBCAtt shares)."""
    path = Path(rec.folder) / PREDICTIONS_TEST
    if not path.is_file():
        raise FileNotFoundError(f"{rec.run_id}: no {PREDICTIONS_TEST} in {rec.folder}")
    table = pd.read_csv(path)
    table["file"] = table["path"].map(lambda p: Path(str(p)).name)
    return table


def run_noise(rec: RunRecord, agreement: pd.DataFrame) -> dict[str, object]:
    """One run's band/segmented test recall where WBCAtt agrees and where it disagrees, and the
    ceiling ``1 - contradicted test images / test images``. Test neutrophils WBCAtt does not list
    are counted (``not annotated``), never dropped silently."""
    preds = test_predictions(rec)
    neutro = preds[preds["label"].isin(NEUTROPHILS)]
    joined = neutro.merge(agreement[["file", "wbcatt_class", "agree"]], on="file", how="left")
    annotated = joined["wbcatt_class"].notna()
    correct = joined["predicted"] == joined["label"]
    agree = joined["agree"] == True  # noqa: E712 (nullable boolean)
    disagree = joined["agree"] == False  # noqa: E712
    follows_wbcatt = joined["predicted"] == joined["wbcatt_class"]
    return {
        "run": rec.run_id,
        "test images": len(preds),
        "test neutrophils": len(joined),
        "not annotated": int((~annotated).sum()),
        "contradicted": int(disagree.sum()),
        "recall where WBCAtt agrees": correct[agree].mean() if agree.any() else float("nan"),
        "recall where it contradicts": correct[disagree].mean() if disagree.any() else float("nan"),
        "predicted as WBCAtt says, where it contradicts": (
            follows_wbcatt[disagree].mean() if disagree.any() else float("nan")
        ),
        "test accuracy": float((preds["predicted"] == preds["label"]).mean()),
        "ceiling": 1.0 - disagree.sum() / len(preds) if len(preds) else float("nan"),
    }


def noise_table(records: Sequence[RunRecord], agreement: pd.DataFrame) -> pd.DataFrame:
    """:func:`run_noise` for every complete run (runs without records are listed as missing)."""
    rows = []
    for rec in records:
        if rec.complete:
            rows.append(run_noise(rec, agreement))
        else:
            rows.append({"run": rec.run_id, "test images": 0, "status": rec.status})
    return pd.DataFrame(rows)


def noise_markdown(table: pd.DataFrame) -> Markdown:
    """The per-run table, one column per run (narrow enough for the page), shares in percent."""
    shown = table.copy()
    for column in shown.columns:
        if column.startswith(("recall", "predicted as", "test accuracy", "ceiling")):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    shown = shown.set_index("run").T
    shown.index.name = "per run"
    return Markdown(markdown_table(shown, index=True))


def summary_markdown(agreement: pd.DataFrame) -> Markdown:
    """:func:`disagreement_summary` as a page table."""
    summary = disagreement_summary(agreement)
    summary["share"] = summary["share"].map(lambda v: f"{v:.1%}")
    return Markdown(markdown_table(summary))


def shape_markdown(agreement: pd.DataFrame) -> Markdown:
    """:func:`shape_table` as a page table."""
    return Markdown(markdown_table(shape_table(agreement), index=True))


def plot_recall_by_agreement(table: pd.DataFrame) -> Figure:
    """Band+segmented test recall where WBCAtt agrees vs contradicts, one dot per run."""
    long = table.melt(
        id_vars="run",
        value_vars=["recall where WBCAtt agrees", "recall where it contradicts"],
        var_name="images",
        value_name="recall",
    ).dropna()
    long["arm"] = long["run"].map(arm_of)
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    sns.stripplot(data=long, x="recall", y="images", hue="arm", ax=ax, size=8, jitter=0.1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("test recall of band + segmented neutrophils (PBC label)")
    ax.set_ylabel("")
    ax.legend(title="", loc="lower left", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def glue_label_noise(agreement: pd.DataFrame, table: pd.DataFrame) -> dict[str, object]:
    """Glue the page's numbers (``contradicted_share``, ``sne_contradicted``, ``ceiling_mean``...)
    so the prose quotes the records, not hand-typed values."""
    summary = disagreement_summary(agreement).set_index("PBC label")
    decided = int(agreement["agree"].notna().sum())
    contradicted = int((agreement["agree"] == False).sum())  # noqa: E712 (nullable boolean)
    values = {
        "neutrophils_annotated": len(agreement),
        "contradicted_share": f"{contradicted / max(decided, 1):.1%}",
        "sne_contradicted": f"{summary.loc['segmented_neutrophil', 'share']:.1%}",
        "bne_contradicted": f"{summary.loc['band_neutrophil', 'share']:.1%}",
        "paper_accuracy_text": paper.PAPER_RESULT["accuracy_text"],
    }
    if "ceiling" in table and table["ceiling"].notna().any():
        values["ceiling_mean"] = f"{table['ceiling'].mean():.1%}"
        values["recall_agree_mean"] = f"{table['recall where WBCAtt agrees'].mean():.1%}"
        values["recall_contradicted_mean"] = f"{table['recall where it contradicts'].mean():.1%}"
    else:
        values.update(ceiling_mean="n/a", recall_agree_mean="n/a", recall_contradicted_mean="n/a")
    return glue_values(values)
