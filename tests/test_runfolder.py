"""wbcrepro.runfolder: the one schema of results.json, on the committed records and on bad ones."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import REPO
from wbcrepro.fileio import write_json
from wbcrepro.runfolder import (
    RESULTS,
    RESULTS_KEYS,
    RunFolderError,
    check_results,
    read_results,
)

COMMITTED = sorted((REPO / "book" / "runs").glob(f"*/*/{RESULTS}"))


def test_every_committed_run_record_fits_the_schema() -> None:
    assert len(COMMITTED) >= 40  # the cpu book's training runs
    for path in COMMITTED:
        results = read_results(path.parent)
        if results["status"] == "complete":
            assert set(results) == RESULTS_KEYS, path


@pytest.fixture
def complete() -> dict:
    return json.loads(COMMITTED[0].read_text())


def test_unknown_key_is_an_error_naming_it_and_the_file(complete, tmp_path) -> None:
    complete["accuracy"] = 0.9  # a key no page knows
    write_json(tmp_path / RESULTS, complete)
    with pytest.raises(RunFolderError, match=r"results\.json: unknown key\(s\) accuracy"):
        read_results(tmp_path)


def test_complete_record_without_its_selection_is_an_error(complete) -> None:
    del complete["selection"]
    with pytest.raises(RunFolderError, match="a complete run record lacks selection"):
        check_results(complete)


def test_running_record_needs_only_the_first_keys(complete) -> None:
    first = {k: complete[k] for k in ("params", "environment", "training_code_hash", "error")}
    check_results({"status": "running", **first})
    with pytest.raises(RunFolderError, match="lacks environment"):
        check_results(
            {"status": "running", **{k: v for k, v in first.items() if k != "environment"}}
        )


def test_unknown_status_and_bad_nested_record_are_errors(complete) -> None:
    with pytest.raises(RunFolderError, match="status 'done' is not one of"):
        check_results({**complete, "status": "done"})
    broken = copy.deepcopy(complete)
    broken["selection"]["epoch"] = broken["selection"].pop("selected_epoch")
    with pytest.raises(RunFolderError, match="'selection' must have the keys"):
        check_results(broken)
