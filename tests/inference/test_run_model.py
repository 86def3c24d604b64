"""Which run folder an arm stands for when a model must leave it (export, cross-domain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbcrepro.fileio import write_json
from wbcrepro.inference.run_model import best_seed_folder
from wbcrepro.runfolder import RESULTS, RunFolderError


def seed_run(root: Path, name: str, val_f1: float, test_f1: float, status="complete") -> Path:
    folder = root / name
    final = {"val": {"macro_f1": val_f1}, "test": {"macro_f1": test_f1}}
    write_json(folder / RESULTS, {"status": status, "final": final})
    return folder


def test_an_arm_stands_for_its_best_seed_on_validation_never_test(tmp_path: Path) -> None:
    seed_run(tmp_path, "main-pbc-s0", val_f1=0.80, test_f1=0.99)  # best on test: not chosen
    seed_run(tmp_path, "main-pbc-s1", val_f1=0.90, test_f1=0.70)
    seed_run(tmp_path, "main-pbc-s2", val_f1=0.90, test_f1=0.75)  # tie on val: lower seed wins
    seed_run(tmp_path, "main-pbc-s3", val_f1=0.99, test_f1=0.99, status="failed")
    seed_run(tmp_path, "main-pbc-small-s0", val_f1=1.0, test_f1=1.0)  # another arm
    assert best_seed_folder(tmp_path / "main-pbc") == tmp_path / "main-pbc-s1"
    assert best_seed_folder(tmp_path / "main-pbc-s0") == tmp_path / "main-pbc-s0"


def test_an_unknown_arm_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="nothing-here"):
        best_seed_folder(tmp_path / "nothing-here")


def test_model_files_left_from_another_training_are_refused(tmp_path: Path) -> None:
    """Records of one training beside best.pt of an earlier one (checkpoints are not
    committed): nothing may be made from those weights as if they were the run's."""
    import torch

    from tests.fixtures.model_run_folders import make_run_folder
    from wbcrepro.fileio import read_json
    from wbcrepro.inference.run_model import read_run_model, weights_sha256

    run = make_run_folder(tmp_path / "run", "efficientnet_lite0")
    best = torch.load(run / "best.pt", weights_only=False)
    torch.save({**best, "metric": "macro_f1", "value": 0.75}, run / "best.pt")
    results = read_json(run / RESULTS)
    selection = {"metric": "macro_f1", "selected_epoch": 2, "value": 0.75}
    write_json(run / RESULTS, {**results, "selection": selection})
    assert read_run_model(run).epoch == 2 and weights_sha256(run)  # they belong together
    for stale in ({**selection, "value": 0.7}, {**selection, "selected_epoch": 3}):
        write_json(run / RESULTS, {**results, "selection": stale})
        with pytest.raises(RunFolderError, match=r"best\.pt is not the model of .*records"):
            read_run_model(run)
        with pytest.raises(RunFolderError, match="left from another training"):
            weights_sha256(run)
