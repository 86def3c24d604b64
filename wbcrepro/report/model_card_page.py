"""The model card of the shipped model: what it was trained on, how to feed it, how well it did.

It reads the JSON metadata that :func:`wbcrepro.inference.shipped.export_model` writes beside the
weights, the source run's test predictions (per lab, for a model trained on several), the
cross-domain records of :mod:`wbcrepro.inference.crossdomain` and the leave-one-lab-out runs of
its recipe; it imports no torch. Every number comes from those records (the source run's test
metrics, selected on validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from wbcrepro.analysis.verdicts import pct, with_ci
from wbcrepro.fileio import read_json
from wbcrepro.metrics import wilson_interval
from wbcrepro.report import lolo_page
from wbcrepro.report.records import glue_values, split_ids


def load_card(model_path: str | Path) -> dict[str, Any]:
    """The metadata JSON beside a shipped model (``pbc6.pt`` -> ``pbc6.json``)."""
    path = Path(model_path).with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: export the model first (wbcrepro export-model RUN_FOLDER)"
        )
    return read_json(path)


def _transform_text(steps: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for step in steps:
        args = ", ".join(f"{k}={v}" for k, v in step.items() if k != "op")
        parts.append(f"{step['op']}({args})")
    return " -> ".join(parts)


def _decode_text(card: Mapping[str, Any]) -> str:
    """How an image file is decoded before the transform (format 1 did not record it)."""
    side = card.get("decode_shorter_side", "not recorded")
    crop = ((card.get("source") or {}).get("params") or {}).get("cell_crop")
    cropped = (
        f"cropped to a square around its nucleus, which spans {crop:.0%} of the side, then "
        if crop
        else ""
    )
    if side is None:
        return f"decoded, {cropped}at full size"
    return (
        f"decoded, {cropped}with the shorter side downscaled to {side} px (smaller images as "
        "they are)"
    )


def _batchnorm_text(record: Mapping[str, Any] | None) -> str:
    if not record:
        return "not recorded"
    return f"{record.get('applied')}: {record.get('note', '')}".rstrip(": ")


def _precision(card: Mapping[str, Any]) -> str:
    return card.get("weights_precision") or card.get("weights_dtype") or "not recorded"


def card_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """The card's facts, one per row."""
    source, test = card["source"], card.get("test_metrics") or {}
    params = source.get("params") or {}
    rows = {
        "model": f"{card['arch']} ({card['implementation']}), ImageNet weights fine-tuned",
        "classes": ", ".join(card["class_names"]),
        "trained on": f"{source['dataset']}"
        + (" (SYNTHETIC)" if source.get("synthetic") else "")
        + f", train subset {params.get('train_subset') or 'all'}, {params.get('epochs')} epochs",
        "selected": f"epoch {source['epoch']} of run `{source['run_id']}` (best validation "
        "macro-F1; the seed with the best validation macro-F1 of its arm)",
        "input": f"{card['img_size']} px RGB; {_decode_text(card)}; "
        + _transform_text(card["eval_transform"]),
        "decision rule": card.get("decision_rule") or "argmax over the classes",
        "BatchNorm": _batchnorm_text(card.get("batchnorm")),
        "weights": f"{_precision(card)}, {card['bytes'] / 1e6:.1f} MB",
        "test accuracy [95% CI]": with_ci(test.get("accuracy"), test.get("accuracy_ci95") or ()),
        "test balanced accuracy": pct(test.get("balanced_accuracy")),
        "test macro-F1 [95% CI]": with_ci(
            test.get("macro_f1"), test.get("macro_f1_ci95") or (), ".3f"
        ),
        "test images": test.get("n", "n/a"),
    }
    return pd.DataFrame({"": list(rows.values())}, index=list(rows))


def recall_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """Per-class precision, recall and support on the source run's test split."""
    per_class = (card.get("test_metrics") or {}).get("per_class") or {}
    table = pd.DataFrame.from_dict(
        {
            name: {
                "precision": round(v.get("precision", float("nan")), 3),
                "recall": round(v.get("recall", float("nan")), 3),
                "support": v.get("support"),
            }
            for name, v in per_class.items()
        },
        orient="index",
    )
    if "support" in table:  # a count: an integer column, never 160.0
        table["support"] = table["support"].astype("Int64")
    return table


def crossdomain_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The shipped model's source run, and the shipped file itself (``(this file)``: its fp16
    weights, exactly as ``wbcrepro predict`` runs them), on other labs' data: a column each."""
    rows = []
    for rec in records:
        m = rec["metrics"]
        recalls = {
            f"recall {name}": round(v["recall"], 2)
            for name, v in (m.get("per_class") or {}).items()
            if v.get("support")
        }
        shipped = rec["source"].get("kind") == "shipped"
        rows.append(
            {
                "target": rec["target"]["dataset"] + (" (this file)" if shipped else ""),
                "images": m["n"],
                "accuracy [95% CI]": with_ci(m["accuracy"], m["accuracy_ci95"]),
                "macro-F1": f"{m['macro_f1']:.3f}",
                **recalls,
            }
        )
    # Targets as columns, measures as rows: per-class recalls would make a row too wide to read.
    return pd.DataFrame(rows).fillna("").set_index("target").T if rows else pd.DataFrame()


def load_crossdomain(runs_root: str | Path, run_ids: str | Sequence[str]) -> list[dict[str, Any]]:
    """The cross-domain records ``runs_root/<id>/crossdomain.json`` (comma-separated ids) that
    exist."""
    paths = [Path(runs_root) / run_id / "crossdomain.json" for run_id in split_ids(run_ids)]
    return [read_json(p) for p in paths if p.is_file()]


def glue_card(card: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Glue the headline numbers of the card for the page's prose."""
    test = card.get("test_metrics") or {}
    values: dict[str, Any] = {
        "card_test_accuracy": test.get("accuracy", float("nan")),
        "card_test_macro_f1": test.get("macro_f1", float("nan")),
        "card_megabytes": card["bytes"] / 1e6,
    }
    for rec in records:
        values[f"cross_{rec['target']['dataset'].replace('-', '_')}_accuracy"] = rec["metrics"][
            "accuracy"
        ]
    return glue_values(values)


def unsure_markdown(card: Mapping[str, Any]) -> Markdown:
    """The per-image ``unsure`` rule as the file records it (format 3), with what it did on the
    source run's validation split; an older file says it has none."""
    rule = card.get("unsure")
    if not rule:
        return Markdown(
            "This file records no unsure threshold (shipped format "
            f"{card.get('format_version', '?')}): `predict` leaves the `unsure` column empty."
        )
    wrong = rule.get("validation_wrong_unsure_share")
    return Markdown(
        f"`unsure` is true when the model's top probability is below **{rule['threshold']:.3f}**: "
        f"{rule['rule']} ({rule['validation_images']:,} validation images of the source run, "
        f"never its test split). On those images it flags {pct(rule['validation_unsure_share'])} "
        f"of the answers: {pct(rule['validation_correct_unsure_share'])} of the correct ones and "
        + (f"{pct(wrong)} of the wrong ones." if wrong is not None else "no wrong one (none).")
        + " `predict` also prints one warning when a batch holds far more unsure answers than "
        "that, and suggests `--adapt`."
    )


def per_lab_table(runs_root: str | Path, card: Mapping[str, Any]) -> pd.DataFrame:
    """The shipped model's test split per lab (the ``source`` column of a multi-lab run's
    split): images, accuracy with its 95% interval, the classes tested. A single-lab model
    gives one row. These labs were in training (their own train splits), so this is in-domain."""
    folder = Path(runs_root) / card["source"]["run_id"]
    predictions = pd.read_csv(folder / "predictions_test.csv")
    split = pd.read_csv(folder / "split.csv")
    if "source" not in split.columns:
        split["source"] = card["source"]["dataset"]
    table = predictions.merge(split[["path", "source"]], on="path", how="left")
    rows = []
    for lab, part in table.groupby("source", sort=False):
        right = int((part["label"] == part["predicted"]).sum())
        rows.append(
            {
                "lab (its own test split)": lab,
                "images": len(part),
                "accuracy [95% CI]": with_ci(right / len(part), wilson_interval(right, len(part))),
                "classes tested": ", ".join(sorted(part["label"].unique())),
            }
        )
    return pd.DataFrame(rows)


def new_lab_table(runs_root: str | Path, estimate: str, recipe: str) -> pd.DataFrame:
    """Leave-one-lab-out with the shipped model's recipe (``lab=arm,...``): the estimate for a
    lab the model never saw (:mod:`wbcrepro.report.lolo_page`)."""
    if not estimate:
        return pd.DataFrame()
    page = lolo_page.load_page(runs_root, estimate, recipe)
    return lolo_page.matrix_table(page)
