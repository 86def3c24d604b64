"""A profile's own targets judged on its runs: seed means of learned seeds, or one evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.recorded_runs import write_run
from wbcrepro.report import targets_page as targets


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    for seed, correct in enumerate((36, 38, 37)):  # 90%, 95%, 92.5% of 40
        write_run(tmp_path, f"good-s{seed}", correct=correct, synthetic=False)
    write_run(tmp_path, "shaky-s0", correct=30, synthetic=False)
    write_run(tmp_path, "shaky-s1", correct=10, synthetic=False, learned=False)
    folder = tmp_path / "cross"
    folder.mkdir()
    (folder / "crossdomain.json").write_text(json.dumps({"metrics": {"accuracy": 0.28}}))
    return tmp_path


def test_parse_reads_each_item_and_rejects_bad_ones() -> None:
    parsed = targets.parse_targets("a-s:accuracy>=0.95, b:macro_f1>0.9,")
    assert [(t.arm, t.metric, t.op, t.threshold) for t in parsed] == [
        ("a-s", "accuracy", ">=", 0.95),
        ("b", "macro_f1", ">", 0.9),
    ]
    with pytest.raises(targets.TargetError, match=r"'a:accuracy=0\.9'"):
        targets.parse_targets("a:accuracy=0.9")
    with pytest.raises(targets.TargetError, match="unknown metric 'acuracy'"):
        targets.parse_targets("a:acuracy>0.9")


def test_an_arm_is_judged_on_its_seed_mean(runs_root: Path) -> None:
    row = targets.judge(targets.parse_targets("good:accuracy>=0.92")[0], runs_root)
    assert row["status"] == targets.MET
    assert row["measured"] == "92.5% (seeds 90.0% to 95.0%; 3 of 3 seeds learned)"
    row = targets.judge(targets.parse_targets("good:accuracy>0.93")[0], runs_root)
    assert row["status"] == targets.NOT_MET


def test_too_few_learned_seeds_is_inconclusive_and_missing_is_not_run(runs_root: Path) -> None:
    row = targets.judge(targets.parse_targets("shaky:accuracy>0.5")[0], runs_root)
    assert row["status"] == targets.INCONCLUSIVE and "1 of 2 seeds learned" in row["measured"]
    row = targets.judge(targets.parse_targets("nowhere:accuracy>0.5")[0], runs_root)
    assert row["status"] == targets.NOT_RUN


def test_a_crossdomain_run_is_judged_on_its_evaluation(runs_root: Path) -> None:
    row = targets.judge(targets.parse_targets("cross:accuracy>=0.8")[0], runs_root)
    assert row == {
        "target": "cross: accuracy >= 0.8",
        "measured": "28.0% (one evaluation)",
        "status": targets.NOT_MET,
    }


def test_table_adds_the_gate_row_and_glue_counts(runs_root: Path) -> None:
    text = "good:accuracy>=0.92,cross:accuracy>=0.8"
    table = targets.targets_table(text, runs_root)
    assert list(table["status"]) == [targets.MET, targets.NOT_MET, targets.NOT_MET]
    assert table.iloc[-1]["measured"] == "4 of 5 learned; not: shaky-s1"
    assert targets.glue_targets(text, runs_root) == {"targets_total": 3, "targets_met": 1}
    assert "sets no targets" in targets.targets_markdown("", runs_root).data
