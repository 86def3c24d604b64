"""The data page's leakage section, from a hand-made JSON of ``wbcrepro data leakage``'s schema:
``{"kaggle": kaggle_audit(method="both"), "bccd_vs_kaggle": ..., "methods", "environment",
"code_hash"}`` (inner keys as :mod:`wbcrepro.data.leakage` returns them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.recorded_runs import GPU_ENVIRONMENT
from wbcrepro import report
from wbcrepro.report import leakage_page


def _split(n_split: int, n_leaked: int, same: int | None = None) -> dict:
    return {
        "n_split": n_split,
        "n_against": 9957,
        "n_leaked": n_leaked,
        "fraction_leaked": n_leaked / n_split,
        "n_leaked_same_label": n_leaked if same is None else same,
        "per_class": {},
        "examples": [],
    }


DETECTORS = {
    "hash": {"method": "hash", "hash": "dhash", "max_distance": 4},
    "embedding": {
        "method": "embedding",
        "model": "efficientnet_lite0 imagenet, block10",
        "size": 128,
        "min_similarity": 0.985,
    },
}


def _kaggle(method: str, resplit: int, recall: int, sweep: list[tuple[float, float, float]]):
    key = "max_distance" if method == "hash" else "min_similarity"
    return {
        **DETECTORS[method],
        "seed": 0,
        "n_images": {"TEST": 2487, "TEST_SIMPLE": 71, "TRAIN": 9957},
        "published_split": _split(2487, 0),
        "random_resplit": _split(2489, resplit, same=resplit - 1),
        "detector_recall_test_vs_test_simple": {
            "recall": recall / 2487,
            "n_test": 2487,
            "n_detected": recall,
            "n_detected_same_label": recall,
        },
        "detector_false_positive_rate_test_vs_train": 0.0,
        "threshold_sweep": [{key: t, "recall": r, "false_positive_rate": f} for t, r, f in sweep],
        "best_score_to_test_simple": {"p5": 0.944, "p50": 0.976, "p95": 0.989},
        "best_score_to_train_null": {"p5": 0.951, "p50": 0.967, "p95": 0.979},
    }


def _bccd(method: str, matched_simple: int) -> dict:
    return {
        **DETECTORS[method],
        "n_bccd": 364,
        "n_kaggle": 12515,
        "matched": matched_simple + 5,
        "fraction": (matched_simple + 5) / 12515,
        "distinct_bccd_smears": matched_simple,
        "per_split": {
            "TEST_SIMPLE": {
                "n": 71,
                "matched": matched_simple,
                "fraction": matched_simple / 71,
                "distinct_bccd_smears": matched_simple,
            },
        },
        "examples": [],
    }


def audit(bccd_per_method: bool = True) -> dict:
    hash_report = _kaggle("hash", 237, 0, [(4, 0.0, 0.0), (10, 0.05, 0.29)])
    embedding = _kaggle("embedding", 1898, 371, [(0.98, 0.345, 0.039), (0.985, 0.149, 0.0)])
    return {
        "kaggle": {"method": "both", "hash": hash_report, "embedding": embedding},
        "bccd_vs_kaggle": (
            {"hash": _bccd("hash", 71), "embedding": _bccd("embedding", 58)}
            if bccd_per_method
            else _bccd("hash", 71)
        ),
        "methods": ["hash", "embedding"],
        "environment": GPU_ENVIRONMENT,
        "code_hash": "feedc0de",
    }


def _write(tmp_path: Path, content: dict) -> str:
    path = tmp_path / "leakage.json"
    path.write_text(json.dumps(content))
    return str(path)


def test_the_page_shows_the_recorded_audit(tmp_path):
    text = report.leakage_summary(_write(tmp_path, audit())).data
    for part in (
        "| hash: dhash, Hamming distance <= 4 of 64 | published TRAIN / TEST | 0.0% (0 / 2,487) "
        "| 0 |",
        "| random 80/20 re-split of TRAIN + TEST (seed 0) | 9.5% (237 / 2,489) | 236 |",
        "76.3% (1,898 / 2,489)",
        "| embedding: efficientnet_lite0 imagenet, block10, 128 px, cosine >= 0.985 | "
        "14.9% (371 / 2,487) | 0.0% |",
        "| embedding | 0.98 | 34.5% | 3.9% |",
        "| hash | TEST_SIMPLE (copies) | 0.944 | 0.976 | 0.989 |",
        "| hash | 4 | 0.0% | 0.0% |",
        "| TEST_SIMPLE | 81.7% (58 / 71) | 58 |",
        "| TEST_SIMPLE | 100.0% (71 / 71) | 71 |",
        "computed on NVIDIA H100 80GB HBM3",
        "code hash `feedc0de`",
        "uncommitted changes",
    ):
        assert part in text, part


def test_one_bccd_report_reads_like_a_per_method_one(tmp_path):
    text = report.leakage_summary(_write(tmp_path, audit(bccd_per_method=False))).data
    assert "| TEST_SIMPLE | 100.0% (71 / 71) | 71 |" in text and "58 / 71" not in text


def test_a_single_method_kaggle_report(tmp_path):
    content = audit()
    content["kaggle"] = content["kaggle"]["embedding"]
    table = leakage_page.published_vs_resplit(content["kaggle"])
    assert list(table["detector"].str.split(":").str[0]) == ["embedding", "embedding"]
    assert "9.5%" not in report.leakage_summary(_write(tmp_path, content)).data


def test_without_an_audit_the_page_says_how_to_make_one(tmp_path):
    none = report.leakage_summary("").data
    assert "wbcrepro data leakage --out book/runs/<profile>/leakage.json" in none
    absent = str(tmp_path / "nope.json")
    text = report.leakage_summary(absent).data
    assert f"`{absent}` does not exist" in text and f"--out {absent}" in text


def test_a_malformed_audit_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(leakage_page.LeakageFileError, match=r"leakage\.json holds neither"):
        report.leakage_summary(_write(tmp_path, {"methods": []}))
    broken = audit()
    del broken["kaggle"]["hash"]["random_resplit"]
    with pytest.raises(leakage_page.LeakageFileError, match="lacks the key 'random_resplit'"):
        report.leakage_summary(_write(tmp_path, broken))
