"""The leakage section of a data page, read from the JSON that ``wbcrepro data leakage`` writes.

The audit itself (:mod:`wbcrepro.data.leakage`) takes about half an hour on two CPU cores the first
time, so a page never runs it: it shows a recorded result. The file holds::

    {"kaggle": <leakage.kaggle_audit(...)>,          one method, or method="both":
                                                     {"hash": {...}, "embedding": {...}, ...}
     "bccd_vs_kaggle": <leakage.bccd_vs_kaggle(...)>, one method, or {method: {...}}
     "methods": [...], "environment": {...}, "code_hash": "..."}

Every number on the page comes from that file; nothing is typed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from wbcrepro.fileio import read_json
from wbcrepro.report.headers import code_text, hardware_text
from wbcrepro.report.records import markdown_table

COMMAND = "wbcrepro data leakage --out {path}"
PARTS = ("kaggle", "bccd_vs_kaggle")


class LeakageFileError(ValueError):
    """The leakage JSON lacks what the page shows; the message names the file (and the key)."""


def by_method(part: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{method: report}`` from one flat report (it has ``"method"``), a ``method="both"``
    report, or a mapping of method -> report."""
    if not part:
        return {}
    if part.get("method") not in (None, "both"):
        return {str(part["method"]): dict(part)}
    return {k: dict(v) for k, v in part.items() if isinstance(v, Mapping) and "method" in v}


def setting(report: Mapping[str, Any]) -> str:
    """The detector's settings in words (from the report, as the audit recorded them)."""
    if report.get("method") == "hash":
        return f"{report.get('hash', '?')}, Hamming distance <= {report.get('max_distance')} of 64"
    return (
        f"{report.get('model', '?')}, {report.get('size', '?')} px, "
        f"cosine >= {report.get('min_similarity')}"
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part:,} / {whole:,})" if whole else "n/a (0 images)"


def published_vs_resplit(kaggle: Mapping[str, Any]) -> pd.DataFrame:
    """Per detector: test images with a near-copy in train, published split vs random re-split."""
    rows = []
    for method, rep in by_method(kaggle).items():
        for key, title in (
            ("published_split", "published TRAIN / TEST"),
            ("random_resplit", f"random 80/20 re-split of TRAIN + TEST (seed {rep.get('seed')})"),
        ):
            part = rep[key]
            rows.append(
                {
                    "detector": f"{method}: {setting(rep)}",
                    "split": title,
                    "test images with a near-copy in train": _share(
                        part["n_leaked"], part["n_split"]
                    ),
                    "of them with the same label": part["n_leaked_same_label"],
                }
            )
    return pd.DataFrame(rows)


def detector_check(kaggle: Mapping[str, Any]) -> pd.DataFrame:
    """Per detector: recall on known copies (TEST vs TEST_SIMPLE: every TEST image is an
    augmented copy of a TEST_SIMPLE smear) and false positives on the source-disjoint TEST vs
    TRAIN."""
    rows = []
    for method, rep in by_method(kaggle).items():
        recall = rep["detector_recall_test_vs_test_simple"]
        rows.append(
            {
                "detector": f"{method}: {setting(rep)}",
                "recall on known copies": _share(recall["n_detected"], recall["n_test"]),
                "false-positive rate (TEST vs TRAIN)": (
                    f"{rep['detector_false_positive_rate_test_vs_train']:.1%}"
                ),
            }
        )
    return pd.DataFrame(rows)


def threshold_sweep(kaggle: Mapping[str, Any]) -> pd.DataFrame:
    """Recall and false-positive rate of every detector at each threshold the audit swept."""
    rows = []
    for method, rep in by_method(kaggle).items():
        for row in rep.get("threshold_sweep", []):
            threshold = row.get("max_distance", row.get("min_similarity"))
            rows.append(
                {
                    "detector": method,
                    "threshold": str(threshold),  # as recorded: 4 stays 4, not 4.0
                    "recall on known copies": f"{row['recall']:.1%}",
                    "false-positive rate": f"{row['false_positive_rate']:.1%}",
                }
            )
    return pd.DataFrame(rows)


def score_quantiles(kaggle: Mapping[str, Any]) -> pd.DataFrame:
    """Quantiles of each TEST image's best score to TEST_SIMPLE (its copies) and to TRAIN (no
    copy: the null), per detector (Hamming distance for the hash, cosine for the embedding)."""
    rows = []
    for method, rep in by_method(kaggle).items():
        for key, against in (
            ("best_score_to_test_simple", "TEST_SIMPLE (copies)"),
            ("best_score_to_train_null", "TRAIN (null)"),
        ):
            if key in rep:
                rows.append({"detector": method, "best score of TEST to": against, **rep[key]})
    return pd.DataFrame(rows)


def bccd_table(bccd: Mapping[str, Any]) -> pd.DataFrame:
    """Kaggle images that are near-copies of a BCCD smear, per detector and Kaggle split."""
    rows = []
    for method, rep in by_method(bccd).items():
        parts = {"all": rep, **rep.get("per_split", {})}
        for split, part in parts.items():
            n = part.get("n", part.get("n_kaggle", 0))
            rows.append(
                {
                    "detector": f"{method}: {setting(rep)}",
                    "Kaggle images": split,
                    "near-copy of a BCCD smear": _share(part["matched"], n),
                    "distinct BCCD smears": part["distinct_bccd_smears"],
                }
            )
    return pd.DataFrame(rows)


def _provenance(audit: Mapping[str, Any], path: Path) -> str:
    env = audit.get("environment") or {}
    methods = ", ".join(audit.get("methods") or []) or "as recorded"
    return (
        f"Read from `{path}` (methods: {methods}); computed on {hardware_text(env)}, "
        f"{code_text(env)}, code hash `{audit.get('code_hash', 'not recorded')}`."
    )


def _missing(path: str, reason: str) -> Markdown:
    target = path or "book/runs/<profile>/leakage.json"
    return Markdown(
        f"No leakage audit on this page: {reason}. The audit takes about half an hour on two CPU "
        f"cores the first time (cached re-runs take seconds); produce it with "
        f"`{COMMAND.format(path=target)}` and pass the file as the notebook's `leakage_json` "
        "parameter (a path relative to the repository root)."
    )


def load_audit(path: str | Path) -> dict[str, Any]:
    """The audit JSON at ``path``; an error names the file when it lacks both parts."""
    audit = read_json(path)
    if not isinstance(audit, dict) or not any(audit.get(p) for p in PARTS):
        raise LeakageFileError(f"{path} holds neither of {', '.join(PARTS)}")
    return audit


def leakage_summary(leakage_json: str) -> Markdown:
    """The recorded audit's tables, or how to produce one when ``leakage_json`` is ``''`` or
    names no file."""
    if not leakage_json.strip():
        return _missing("", "none attached (`leakage_json = ''`)")
    path = Path(leakage_json)
    if not path.is_file():
        return _missing(leakage_json, f"`{leakage_json}` does not exist")
    audit = load_audit(path)
    try:
        return Markdown("\n\n".join(_sections(audit, path)))
    except KeyError as err:
        raise LeakageFileError(f"{path}: a report lacks the key {err}") from err


def _sections(audit: Mapping[str, Any], path: Path) -> list[str]:
    parts = [_provenance(audit, path)]
    kaggle = audit.get("kaggle")
    if kaggle:
        parts += [
            "**Kaggle set: published split vs a random re-split.** Test images with a near-copy "
            "on the training side; the published TRAIN/TEST folders are source-disjoint.",
            markdown_table(published_vs_resplit(kaggle)),
            "**How much the detectors see.** Counts above are lower bounds: a detector finds "
            "only part of the known copies.",
            markdown_table(detector_check(kaggle)),
        ]
        sweep = threshold_sweep(kaggle)
        if len(sweep):
            parts += ["**Threshold sweep.**", markdown_table(sweep)]
        scores = score_quantiles(kaggle)
        if len(scores):
            parts += ["**Best-score distributions.**", markdown_table(scores)]
    bccd = audit.get("bccd_vs_kaggle")
    if bccd:
        parts += [
            "**BCCD vs Kaggle.** The Kaggle images are augmented copies of BCCD smears: never "
            "train on one and test on the other.",
            markdown_table(bccd_table(bccd)),
        ]
    return parts
