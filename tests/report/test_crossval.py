"""Fold arms joined by '+' read as one pooled record per seed (Table 1, ablations, claims)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures.recorded_runs import write_run
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.fileio import read_json, write_json
from wbcrepro.report import load_runs
from wbcrepro.reproduction.roles import derived_reads

SPEC = "cv-main-f0+cv-main-f1"


def _fold_run(root: Path, fold: int, seed: int, wrong: int, learned: bool = True) -> Path:
    folder = write_run(
        root,
        f"cv-main-f{fold}-s{seed}",
        params={"n_folds": 2, "fold": fold, "seed": seed},
        n_test=6,
        correct=6 - wrong,
        learned=learned,
    )
    labels = [PAPER_CLASSES[i % 6] for i in range(6)]
    predicted = [PAPER_CLASSES[(i + (i < wrong)) % 6] for i in range(6)]
    paths = [f"$DATA/set/f{fold}_{i}.png" for i in range(6)]
    pd.DataFrame({"path": paths, "label": labels, "predicted": predicted}).to_csv(
        folder / "predictions_test.csv", index=False
    )
    results = read_json(folder / "results.json")
    results["baselines"]["majority"] = {"accuracy": 0.5 if fold == 0 else 0.25}
    write_json(folder / "results.json", results)
    return folder


@pytest.fixture
def cv(tmp_path: Path) -> Path:
    _fold_run(tmp_path, 0, 0, wrong=0)
    _fold_run(tmp_path, 1, 0, wrong=3)
    _fold_run(tmp_path, 0, 1, wrong=1)
    _fold_run(tmp_path, 1, 1, wrong=1, learned=False)
    _fold_run(tmp_path, 0, 2, wrong=0)  # seed 2 lacks fold 1
    return tmp_path


def test_each_seed_pools_its_folds(cv: Path) -> None:
    records = load_runs(cv, SPEC)
    assert [r.run_id for r in records] == ["cv-main-cv-s0", "cv-main-cv-s1", "cv-main-cv-s2"]
    s0, s1, s2 = records
    assert s0.complete and s0.metric("accuracy") == pytest.approx(9 / 12)
    assert s0.report()["folds"] == {0: 6, 1: 6} and s0.params["fold"] == "all"
    assert s0.results["baselines"]["majority"]["accuracy"] == pytest.approx(0.375)
    assert s0.results["crossval"]["runs"] == ["cv-main-f0-s0", "cv-main-f1-s0"]
    assert s0.as_result().usable
    assert s1.metric("accuracy") == pytest.approx(10 / 12)
    assert not s1.as_result().usable  # fold 1 of seed 1 did not learn
    assert s1.results["gate"]["reasons"] == ["fold run cv-main-f1-s1 did not learn"]
    assert not s2.complete and "cv-main-f1" in s2.results["error"]
    plain = load_runs(cv, "cv-main-f0")  # a fold arm alone is still its seed runs
    assert [r.run_id for r in plain] == ["cv-main-f0-s0", "cv-main-f0-s1", "cv-main-f0-s2"]


def test_a_page_reading_a_cross_validation_reads_each_fold_arm() -> None:
    class Run:
        id, notebook, arm, reads = "table1", "table1.ipynb", "table1", ()

    pairs = {"pairs": f"lisc-crops={SPEC}|cv-paper-f0+cv-paper-f1,pbc=main-pbc"}
    reads = derived_reads(Run(), pairs, [])
    assert reads == ["cv-main-f0", "cv-main-f1", "cv-paper-f0", "cv-paper-f1", "main-pbc"]


def test_a_target_on_a_cross_validation_is_judged_on_its_pooled_seeds(cv: Path) -> None:
    from wbcrepro.report.targets_page import judge, parse_targets

    (target,) = parse_targets(f"{SPEC}:accuracy>0.7")
    assert target.arm == SPEC
    row = judge(target, cv)
    assert row["status"] == "inconclusive"  # seed 1 failed its gate, seed 2 lacks a fold
    assert "1 of 3 seeds learned (need 3)" in row["measured"]
