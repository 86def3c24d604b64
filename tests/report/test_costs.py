"""The training time each run recorded, per arm and in total (the landing page's "What it cost")."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures.recorded_runs import write_run
from wbcrepro.report import costs_page


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    write_run(tmp_path, "main-x-s0", epochs=2)  # fake_runs records 90 s per epoch
    write_run(tmp_path, "main-x-s1", epochs=4)
    write_run(tmp_path, "other", epochs=1)
    evaluation = tmp_path / "crossdomain-x"  # a cross-domain folder: no training time
    evaluation.mkdir()
    (evaluation / "crossdomain.json").write_text(json.dumps({"status": "complete"}))
    return tmp_path


def test_run_times_read_each_trained_run(runs_root: Path) -> None:
    times = costs_page.run_times(runs_root).set_index("run")
    assert sorted(times.index) == ["main-x-s0", "main-x-s1", "other"]
    assert times.loc["main-x-s1", "minutes"] == pytest.approx(6.0)
    assert times.loc["main-x-s0", "arm"] == "main-x" and times.loc["other", "arm"] == "other"
    assert times.loc["other", "commit"] == "0123456789"  # the recorded commit, not today's


def test_arm_times_sum_the_seeds(runs_root: Path) -> None:
    arms = costs_page.arm_times(costs_page.run_times(runs_root)).set_index("arm")
    assert arms.loc["main-x", "runs"] == 2
    assert arms.loc["main-x", "min"] == "9" and arms.loc["main-x", "min/run"] == "4.5"
    assert arms.loc["other", "min"] == "2"


def _measured(root: Path) -> pd.Series:
    return costs_page.cost_table(root).set_index("")["measured"]


def test_cost_table_totals(runs_root: Path) -> None:
    table = _measured(runs_root)
    assert table["training runs"] == "3"
    assert table["their training loops, summed"] == f"{(3 + 6 + 1.5) / 60:.1f} h"
    assert "H100" in table["hardware"]


def test_an_empty_book_says_so(tmp_path: Path) -> None:
    assert "No trained run" in costs_page.arm_times_markdown(tmp_path).data
    table = _measured(tmp_path)
    assert table["training runs"] == "0"
    assert table["one measured re-creation"] == "no record says which call trained the runs"


def _record(root: Path, run_id: str, trained: dict | None, finished: str) -> None:
    record = {"id": run_id, "status": "complete", "finished": finished, "seconds": 90.0}
    if trained is not None:
        record["trained"] = {**trained, "finished": finished}
    (root / f"{run_id}.run.json").write_text(json.dumps(record))


CALL = {"started": "2026-01-01T10:00:00+00:00", "jobs": 2, "threads_per_job": 1}


def test_several_calls_are_listed_in_start_order_and_said_not_to_be_one_re_creation(
    tmp_path: Path,
) -> None:
    _record(tmp_path, "a", CALL, "2026-01-01T11:10:00+00:00")
    _record(tmp_path, "c", CALL, "2026-01-01T10:40:00+00:00")
    other = {**CALL, "started": "2026-01-02T09:00:00+00:00", "threads_per_job": 2}
    _record(tmp_path, "b", other, "2026-01-02T09:30:00+00:00")
    table = costs_page.cost_table(tmp_path)
    calls = table[table[""].str.startswith("`reproduce` call")]
    assert list(calls[""]) == [  # in the order the calls started
        "`reproduce` call of 2026-01-01 10:00 UTC",
        "`reproduce` call of 2026-01-02 09:00 UTC",
    ]
    assert list(calls["measured"]) == [
        "2 runs, 2 job(s) x 1 thread(s), 70 min wall",
        "1 runs, 2 job(s) x 2 thread(s), 30 min wall",
    ]
    assert _measured(tmp_path)["one measured re-creation"] == "no: 2 calls (100 min summed)"


def test_the_cost_is_a_small_table_that_says_whether_one_call_re_created_the_book(
    tmp_path: Path,
) -> None:
    _record(tmp_path, "a", CALL, "2026-01-01T11:10:00+00:00")
    _record(tmp_path, "b", CALL, "2026-01-01T11:41:00+00:00")
    _record(tmp_path, "page", None, "2026-01-02T08:00:00+00:00")
    table = costs_page.cost_table(tmp_path).set_index("")["measured"]
    assert (
        table["`reproduce` call of 2026-01-01 10:00 UTC"]
        == "2 runs, 2 job(s) x 1 thread(s), 101 min wall"
    )
    assert table["one measured re-creation"] == "yes: 101 min wall"
    assert table["other runs (pages, data), last render"] == "1 runs, 2 min"
    other = {**CALL, "started": "2026-01-02T09:00:00+00:00"}
    _record(tmp_path, "c", other, "2026-01-02T09:30:00+00:00")
    table = _measured(tmp_path)
    assert table["one measured re-creation"] == "no: 2 calls (131 min summed)"
    assert "| one measured re-creation |" in costs_page.cost_markdown(tmp_path).data


def _log(root: Path, **call) -> None:
    entry = {
        "started": CALL["started"], "finished": "2026-01-01T11:45:00+00:00", "wall_seconds": 6300,
        "force": True, "only": [], "jobs": 2, "executor": "inline", "runs_in_profile": 3,
        "executed": 3, "trained": 2, "failed": 0, "book_built": True,
        "git": {"commit": "abcdef0123456789", "dirty": False},
    }  # fmt: skip
    with (root / "calls.jsonl").open("a") as handle:
        handle.write(json.dumps({**entry, **call}) + "\n")


def test_a_logged_forced_call_gives_the_wall_time_to_the_built_book_and_the_target(
    tmp_path: Path,
) -> None:
    _record(tmp_path, "a", CALL, "2026-01-01T11:10:00+00:00")
    _record(tmp_path, "b", CALL, "2026-01-01T11:41:00+00:00")
    _log(tmp_path, force=False, started="2025-12-31T10:00:00+00:00")  # an earlier, other call
    _log(tmp_path)
    table = _measured(tmp_path)
    assert (
        table["one measured re-creation"]
        == "yes: 1 h 45 min wall, from its start to the built book"
    )
    assert "3 runs (2 trained), 2 job(s), commit abcdef0123" in table["that call"]
    assert table["target"] == "2 h 30 min: met"
    _log(tmp_path, wall_seconds=10_000, started="2026-01-01T10:00:00+00:00")
    assert _measured(tmp_path)["target"] == "2 h 30 min: met"  # the first full call counts


def test_a_call_that_ran_over_says_by_how_much_and_a_partial_call_is_no_re_creation(
    tmp_path: Path,
) -> None:
    _record(tmp_path, "a", CALL, "2026-01-01T11:10:00+00:00")
    _log(tmp_path, executed=2)  # left a run out: not a re-creation of the book
    assert "target" not in _measured(tmp_path)
    (tmp_path / "calls.jsonl").unlink()
    _log(tmp_path, wall_seconds=9_600)
    assert _measured(tmp_path)["target"] == "2 h 30 min: missed by 10 min"
    (tmp_path / "calls.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match=r"calls\.jsonl: line 1 is not JSON"):
        costs_page.cost_table(tmp_path)
