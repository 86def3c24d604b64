"""wbcrepro.training.experiment: the notebook's strict config and its explicit training step.

``fit_or_load`` is tested with :func:`wbcrepro.training.fit.fit` replaced by a recorder that writes
a
complete record: what is tested is the decision (load, refuse, move aside, train), not training,
which the smoke-profile test does for real.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from tests.conftest import TINY
from tests.fixtures.recorded_runs import write_run
from wbcrepro.codehash import RESULTS_KEY, training_code_hash
from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.runfolder import RESULTS, RunFolderError
from wbcrepro.training import experiment

NOTEBOOK_OWN = {"profile": "smoke", "run_id": "x", "runs_root": "book/runs/smoke"}


# --- config_from_parameters -----------------------------------------------------------------------
def test_config_from_parameters_takes_the_config_keys():
    namespace = {
        **TINY,
        **NOTEBOOK_OWN,
        "report": types.ModuleType("report"),  # modules, functions: not parameters
        "helper": len,
        "In": [""],
        "Out": {},
        "get_ipython": print,
        "exit": object(),
        "_": "",
        "_i1": "from wbcrepro import report",
        "__name__": "__main__",
    }
    assert experiment.config_from_parameters(namespace) == TrainConfig.from_flat(TINY)


def test_a_mistyped_parameter_fails():
    namespace = {**TINY, **NOTEBOOK_OWN, "img_szie": 112, "epoch": 3}
    with pytest.raises(ConfigError, match=r"unknown notebook parameter\(s\): epoch, img_szie"):
        experiment.config_from_parameters(namespace)


def test_the_notebooks_own_parameters_are_given_by_the_caller():
    namespace = {**TINY, "profile": "smoke", "title": "mine"}
    with pytest.raises(ConfigError, match="title"):
        experiment.config_from_parameters(namespace)
    cfg = experiment.config_from_parameters(namespace, non_config=("profile", "title"))
    assert cfg.img_size == TINY["img_size"]
    with pytest.raises(ConfigError, match="profile"):
        experiment.config_from_parameters(namespace, non_config=("title",))


def test_none_counts_as_a_parameter_value():
    with pytest.raises(ConfigError, match="stray"):
        experiment.config_from_parameters({**TINY, "stray": None})


# --- fit_or_load ----------------------------------------------------------------------------------
@pytest.fixture
def fits(monkeypatch) -> list[dict]:
    """Replace wbcrepro.training.fit.fit by a recorder that writes a complete record of today's
    code."""
    import wbcrepro.training.fit

    calls: list[dict] = []

    def fake_fit(cfg, out_dir, resume=False, progress=True):
        folder = Path(out_dir)
        calls.append({"folder": folder, "resume": resume, "progress": progress, "cfg": cfg})
        record = {"status": "complete", "params": cfg.to_flat(), RESULTS_KEY: training_code_hash()}
        (folder / RESULTS).write_text(json.dumps(record))
        return record

    monkeypatch.setattr(wbcrepro.training.fit, "fit", fake_fit)
    return calls


def _cfg(**changes) -> TrainConfig:
    return TrainConfig.from_flat({**TINY, "epochs": 3, **changes})


def test_a_current_complete_run_is_loaded_untouched(tmp_path, fits, capsys):
    folder = write_run(tmp_path, "r")
    before = (folder / RESULTS).read_bytes()
    assert experiment.fit_or_load(_cfg(), tmp_path, "r") == folder
    assert fits == []
    assert (folder / RESULTS).read_bytes() == before
    assert "Loaded run r" in capsys.readouterr().out


def test_a_complete_run_with_other_parameters_is_an_error(tmp_path, fits):
    write_run(tmp_path, "r")
    with pytest.raises(RunFolderError, match=r"other parameters \(lr: 0\.001 -> 0\.01, seed"):
        experiment.fit_or_load(_cfg(lr=0.01, seed=4), tmp_path, "r")
    assert fits == []


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [(None, "records no training-code hash"), ("0ld", "was trained with training code 0ld")],
)
def test_a_stale_complete_run_is_moved_aside_and_trained_again(
    tmp_path, fits, capsys, recorded, reason
):
    folder = write_run(tmp_path, "r", code_hash=recorded)
    (tmp_path / "r.stale").mkdir()  # an older stale copy is replaced
    assert experiment.fit_or_load(_cfg(), tmp_path, "r") == folder
    out = capsys.readouterr().out
    assert reason in out and "r.stale" in out and "Training run r" in out
    aside = json.loads((tmp_path / "r.stale" / RESULTS).read_text())
    assert aside.get(RESULTS_KEY) == recorded
    assert [(c["folder"], c["resume"], c["progress"]) for c in fits] == [(folder, True, False)]


def test_no_run_is_trained(tmp_path, fits, capsys):
    folder = experiment.fit_or_load(_cfg(), tmp_path / "runs", "new")
    assert folder == tmp_path / "runs" / "new" and folder.is_dir()
    assert len(fits) == 1 and fits[0]["cfg"] == _cfg()
    assert "Training run new" in capsys.readouterr().out
    experiment.fit_or_load(_cfg(), tmp_path / "runs", "new")  # now complete: loaded
    assert len(fits) == 1


def test_an_unfinished_run_of_todays_code_is_resumed_in_place(tmp_path, fits):
    folder = write_run(tmp_path, "r", status="interrupted")
    experiment.fit_or_load(_cfg(), tmp_path, "r")
    assert [(c["folder"], c["resume"]) for c in fits] == [(folder, True)]
    assert not (tmp_path / "r.stale").exists()


def test_an_unfinished_stale_run_is_not_resumed(tmp_path, fits):
    write_run(tmp_path, "r", status="interrupted", code_hash="0ld")
    experiment.fit_or_load(_cfg(), tmp_path, "r")
    assert (tmp_path / "r.stale").is_dir() and len(fits) == 1
