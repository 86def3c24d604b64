"""Condensed views of audit results: the numbers a reader compares, and score distributions."""

from __future__ import annotations

import numpy as np

from wbcrepro.data.leakage.embedding import DEFAULT_EMBED_LAYER, EMBED_ARCH

HASH_SWEEP = (0, 2, 4, 6, 8, 10, 12)
"""Hamming distances (of 64 bits) at which recall and false-positive rate are reported."""
SIMILARITY_SWEEP = (0.96, 0.97, 0.975, 0.98, 0.9825, 0.985, 0.9875, 0.99)
"""Cosine similarities at which recall and false-positive rate are reported."""


def summary(result: dict) -> dict:
    """The counts of one audit_split result, with three examples (a report shows no more)."""
    keys = ("n_split", "n_against", "n_leaked", "fraction_leaked", "n_leaked_same_label")
    out = {k: result[k] for k in keys}
    out["per_class"] = result["per_class"]
    out["examples"] = result["examples"][:3]
    return out


def threshold_sweep(method: str, positive: np.ndarray, null: np.ndarray) -> list[dict]:
    """Recall (on known copies) and false-positive rate (on a source-disjoint set) per threshold."""
    rows = []
    key = "max_distance" if method == "hash" else "min_similarity"
    for t in HASH_SWEEP if method == "hash" else SIMILARITY_SWEEP:
        hit_pos = positive <= t if method == "hash" else positive >= t
        hit_null = null <= t if method == "hash" else null >= t
        rows.append(
            {key: t, "recall": float(hit_pos.mean()), "false_positive_rate": float(hit_null.mean())}
        )
    return rows


def quantiles(x: np.ndarray) -> dict:
    """Percentiles of the best scores; ``None`` for no score (JSON has no NaN)."""
    levels = (1, 5, 25, 50, 75, 95, 99)
    if not len(x):
        return {f"p{q}": None for q in levels}
    qs = np.percentile(x, levels)
    return {f"p{q}": round(float(v), 4) for q, v in zip(levels, qs, strict=True)}


def side_by_side(reports: dict[str, dict]) -> list[dict]:
    """One row per detector: the four numbers a reader compares."""
    rows = []
    for method, r in reports.items():
        setting = (
            f"{r['hash']} Hamming <= {r['max_distance']}"
            if method == "hash"
            else f"{EMBED_ARCH} {DEFAULT_EMBED_LAYER} {r['size']}px cosine >= {r['min_similarity']}"
        )
        rows.append(
            {
                "method": method,
                "setting": setting,
                "published_split_leaked": r["published_split"]["fraction_leaked"],
                "random_resplit_leaked": r["random_resplit"]["fraction_leaked"],
                "recall_test_vs_test_simple": r["detector_recall_test_vs_test_simple"]["recall"],
                "false_positive_rate_test_vs_train": r[
                    "detector_false_positive_rate_test_vs_train"
                ],
            }
        )
    return rows
