"""benchmarks/cpu_budget.py runs end to end and writes what the issue asks of it (timings are
its output, never asserted here)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import REPO


def _load():
    spec = importlib.util.spec_from_file_location("cpu_budget", REPO / "benchmarks/cpu_budget.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cpu_budget_writes_speedup_and_validation_of_both_sides(tmp_path) -> None:
    out = tmp_path / "budget.json"
    argv = ["--dataset", "synthetic", "--train-subset", "0", "--epochs", "2", "--img-size", "32"]
    argv += ["--synthetic-per-class", "12", "--repeats", "1"]
    argv += ["--new", "freeze_fraction=0.2,val_every=2", "--json", str(out)]
    assert _load().main(argv) == 0
    record = json.loads(out.read_text())
    assert record["synthetic"] is True and record["speedup"] > 0
    assert record["new"]["settings"] == {"freeze_fraction": "0.2", "val_every": "2"}
    for side in ("old", "new"):
        (run,) = record[side]["runs"]
        assert run["epochs"] == 2 and 0 < run["train_images"] < 72  # 12 per class, split
        assert 0 <= run["val_accuracy"] <= 1
    # selection among the validated epochs: both for old, only the last for val_every=2
    assert record["old"]["runs"][0]["selected_epoch"] in (1, 2)
    assert record["new"]["runs"][0]["selected_epoch"] == 2
    assert (
        record["new"]["runs"][0]["trainable_parameters"]
        < record["old"]["runs"][0]["trainable_parameters"]
    )


def test_bad_settings_are_refused_naming_them() -> None:
    with pytest.raises(SystemExit, match="settings must be key=value, got freeze"):
        _load().parse_settings("freeze,val_every=2")
