"""Model selection on validation: best epoch tracking, when selection is allowed, best.pt."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import local_paths
from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.data.datasets import REGISTRY, DatasetSpec, Loaded, get_dataset
from wbcrepro.data.loading import load_split_data
from wbcrepro.runfolder import BEST, CHECKPOINT, RunFolderError
from wbcrepro.training.run_files import load_checkpoint, save_best, selected_model_file
from wbcrepro.training.selection import BestEpoch, selection_policy, selection_record


def _rows(metric: str, values: list[float | None]) -> list[dict]:
    return [{"epoch": e, f"val_{metric}": v} for e, v in enumerate(values, start=1)]


# --- BestEpoch -----------------------------------------------------------------------------------


def test_best_epoch_of_a_history_that_peaks_before_the_end() -> None:
    best = BestEpoch.replay("macro_f1", _rows("macro_f1", [0.2, 0.9, 0.5]))
    assert (best.epoch, best.value) == (2, 0.9)


def test_ties_keep_the_earlier_epoch() -> None:
    best = BestEpoch.replay("accuracy", _rows("accuracy", [0.5, 0.7, 0.7, 0.6]))
    assert best.epoch == 2


def test_loss_is_lower_is_better() -> None:
    best = BestEpoch.replay("loss", _rows("loss", [1.0, 0.4, 0.6]))
    assert (best.epoch, best.value) == (2, 0.4)


def test_non_finite_values_never_win() -> None:
    best = BestEpoch.replay("loss", _rows("loss", [math.nan, None, 0.9, math.inf]))
    assert best.epoch == 3
    assert BestEpoch.replay("loss", _rows("loss", [math.nan])).epoch is None


def test_update_reports_improvements_epoch_by_epoch() -> None:
    best = BestEpoch("balanced_accuracy")
    flags = [best.update(r) for r in _rows("balanced_accuracy", [0.3, 0.2, 0.4, 0.4])]
    assert flags == [True, False, True, False]


# --- policy and record ---------------------------------------------------------------------------


def test_policy() -> None:
    cfg = TrainConfig()
    assert selection_policy(cfg, True, True) == ("macro_f1", "")
    metric, reason = selection_policy(cfg, True, False, "kaggle-bloodcells")
    assert metric is None and "'kaggle-bloodcells' is not source-disjoint" in reason
    assert "no validation split" in selection_policy(cfg, False, True)[1]
    last = TrainConfig(select_metric="last")
    assert selection_policy(last, True, True) == (
        None,
        "select_metric=last: the last epoch is tested",
    )
    with pytest.raises(ConfigError, match="select_metric='f1' is not one of"):
        TrainConfig(select_metric="f1")


def test_selection_record() -> None:
    best = BestEpoch.replay("macro_f1", _rows("macro_f1", [0.2, 0.9, 0.5]))
    record = selection_record("macro_f1", "", best, 3)
    assert record["selected_epoch"] == 2 and record["value"] == 0.9
    assert "highest validation macro_f1 (0.9000) at epoch 2 of 3" in record["reason"]
    none = selection_record(None, "why not", None, 3)
    assert none == {"metric": None, "selected_epoch": 3, "value": None, "reason": "why not"}
    nan = selection_record("loss", "", BestEpoch("loss"), 3)
    assert nan["selected_epoch"] == 3 and "no finite validation loss" in nan["reason"]


# --- which datasets may select -------------------------------------------------------------------


def _kaggle(root: Path) -> None:
    images = root / "wbc-classification" / "images"
    rng = np.random.default_rng(0)
    for part, n in {"TRAIN": 8, "TEST": 2, "TEST_SIMPLE": 4}.items():
        for name in ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"):
            for k in range(n):
                path = images / part / name / f"_{k}_{name}.jpeg"
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(path)


def test_kaggle_validation_carved_from_train_may_not_select(tmp_path: Path) -> None:
    _kaggle(tmp_path)
    params = {"data_root": str(tmp_path), "num_classes": 0, "val_fraction": 0.25}
    kaggle = load_split_data(TrainConfig.from_flat({**params, "dataset": "kaggle-bloodcells"}))
    assert (kaggle.manifest["split"] == "val").any()
    assert kaggle.val_source_disjoint is False
    simple = TrainConfig.from_flat(
        {**params, "dataset": "kaggle-bloodcells-simple", "test_fraction": 0.25}
    )
    assert load_split_data(simple).val_source_disjoint is True  # 71 distinct sources
    synthetic = TrainConfig(dataset="synthetic", synthetic_per_class=10, synthetic_size=32)
    assert load_split_data(synthetic).val_source_disjoint is True


def test_a_published_validation_split_may_select_even_without_source_groups(monkeypatch) -> None:
    def loader(root):
        rows = [
            {"path": f"/x/{s}{k}.png", "label": c, "group": f"{s}{k}{c}", "split": s}
            for s in ("train", "val", "test") for k in range(3) for c in ("a", "b")
        ]  # fmt: skip
        return Loaded(pd.DataFrame(rows), ("a", "b"))

    spec = DatasetSpec("fake", ("a", "b"), {}, "", "", "", "", loader, synthetic=True,
                       groups_are_sources=False)  # fmt: skip
    monkeypatch.setitem(REGISTRY, "fake", spec)
    data = load_split_data(TrainConfig(dataset="fake", num_classes=0))
    assert data.val_source_disjoint is True


# --- best.pt on resume ---------------------------------------------------------------------------


def _state(epoch: int, value: float) -> dict:
    return {"model": {"w": torch.full((2,), float(value))}, "epoch": epoch}


def test_resume_repairs_best_file_from_the_checkpoint_of_the_same_epoch(tmp_path: Path) -> None:
    """Killed after the checkpoint of epoch 2 (the new best) but before best.pt was written."""
    from wbcrepro.training.fit import _check_best_file

    cfg = TrainConfig()
    save_best(tmp_path / BEST, {"w": torch.zeros(2)}, 1, "macro_f1", 0.2, cfg, ["a"])
    best = BestEpoch.replay("macro_f1", _rows("macro_f1", [0.2, 0.9]))
    _check_best_file(tmp_path, best, _state(2, 7.0), cfg, ["a"])
    saved = load_checkpoint(tmp_path / BEST)
    assert saved["epoch"] == 2 and saved["value"] == 0.9
    assert torch.equal(saved["model"]["w"], torch.full((2,), 7.0))


def test_resume_refuses_a_best_file_of_another_epoch(tmp_path: Path) -> None:
    from wbcrepro.training.fit import _check_best_file

    cfg = TrainConfig()
    save_best(tmp_path / BEST, {"w": torch.zeros(2)}, 3, "macro_f1", 0.2, cfg, ["a"])
    best = BestEpoch.replay("macro_f1", _rows("macro_f1", [0.2, 0.9, 0.5, 0.4]))
    with pytest.raises(RunFolderError, match=r"best\.pt holds epoch 3, but .* is epoch 2"):
        _check_best_file(tmp_path, best, _state(4, 0.0), cfg, ["a"])


def test_a_run_folder_evaluates_its_best_file_when_there_is_one(tmp_path: Path) -> None:
    assert selected_model_file(tmp_path) == tmp_path / CHECKPOINT
    (tmp_path / BEST).write_bytes(b"")
    assert selected_model_file(tmp_path) == tmp_path / BEST
    assert selected_model_file(tmp_path / CHECKPOINT) == tmp_path / CHECKPOINT


# --- end to end ----------------------------------------------------------------------------------


def _fabricate_val_macro_f1(monkeypatch, values: list[float]) -> None:
    """The per-epoch validation macro-F1 becomes ``values`` (in call order); nothing else
    changes: the final reports are the real ones."""
    from wbcrepro import metrics
    from wbcrepro.training import fit as runs

    real = metrics.classification_report
    fabricated = iter(values)

    def fake(*args, **kwargs):
        report = real(*args, **kwargs)
        if kwargs.get("with_intervals") is False:  # only the per-epoch validation says so
            report["macro_f1"] = next(fabricated)
        return report

    monkeypatch.setattr(runs, "classification_report", fake)


def _test_probabilities(checkpoint: Path) -> np.ndarray:
    """Class probabilities of a saved model on the run's test images, through the shared
    inference path (which must read them as the run read them)."""
    from wbcrepro.inference.loading import class_probabilities, load_model

    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    split = pd.read_csv(folder / "split.csv")
    paths = local_paths(split.loc[split["split"] == "test", "path"])
    return class_probabilities(load_model(checkpoint, "cpu"), paths).probabilities


def _differs(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_best_epoch_is_saved_and_the_test_split_evaluated_on_it(tiny, tmp_path, monkeypatch):
    from wbcrepro.inference.checkpoint_eval import evaluate_checkpoint
    from wbcrepro.training.fit import fit

    _fabricate_val_macro_f1(monkeypatch, [0.2, 0.9, 0.5])
    folder = tmp_path / "run"
    results = fit(TrainConfig.from_flat({**tiny, "epochs": 3, "lr": 0.01}), folder,
                  progress=False)  # fmt: skip
    history = pd.read_csv(folder / "metrics.csv")
    assert history["val_macro_f1"].tolist() == [0.2, 0.9, 0.5]
    assert results["selection"]["metric"] == "macro_f1"
    assert results["selection"]["selected_epoch"] == 2
    best, last = load_checkpoint(folder / BEST), load_checkpoint(folder / CHECKPOINT)
    assert (best["epoch"], best["value"], best["metric"]) == (2, 0.9, "macro_f1")
    assert last["epoch"] == 3
    assert _differs(best["model"], last["model"])

    final = results["final"]
    for name, split, key in ((BEST, "test", "test"), (BEST, "val", "val"),
                             (CHECKPOINT, "test", "test_last_epoch")):  # fmt: skip
        again = evaluate_checkpoint(folder / name, split)
        assert again["confusion_matrix"] == final[key]["confusion_matrix"], (name, split)
        assert again["loss"] == pytest.approx(final[key]["loss"], rel=1e-5)
    predictions = pd.read_csv(folder / "predictions_test.csv")
    probabilities = predictions.filter(like="p_").to_numpy()
    assert np.allclose(_test_probabilities(folder), probabilities, atol=1e-5)  # best.pt's
    assert not np.allclose(_test_probabilities(folder / CHECKPOINT), probabilities, atol=1e-5)
    assert set(results["gate"]) == {"learned", "reasons"}
    assert results["baselines"]["linear_probe"]["status"] == "not available"


@pytest.mark.slow
def test_resumed_run_restores_the_best_epoch(tiny, tmp_path, monkeypatch):
    from wbcrepro.training import fit as runs

    params = {**tiny, "epochs": 3, "lr": 0.01}
    _fabricate_val_macro_f1(monkeypatch, [0.2, 0.9, 0.5])
    reference = runs.fit(TrainConfig.from_flat(params), tmp_path / "ref", progress=False)

    _fabricate_val_macro_f1(monkeypatch, [0.2, 0.9, 0.5])
    real_train = runs.train_one_epoch

    def interrupted(model, loader, optimizer, criterion, device, epoch, *args):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_train(model, loader, optimizer, criterion, device, epoch, *args)

    monkeypatch.setattr(runs, "train_one_epoch", interrupted)
    folder = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        runs.fit(TrainConfig.from_flat(params), folder, progress=False)
    assert load_checkpoint(folder / BEST)["epoch"] == 2
    monkeypatch.setattr(runs, "train_one_epoch", real_train)
    results = runs.fit(TrainConfig.from_flat(params), folder, resume=True, progress=False)
    assert results["resumed_from_epoch"] == 2
    assert results["selection"] == reference["selection"]
    assert results["final"] == reference["final"]
    assert load_checkpoint(folder / BEST)["epoch"] == 2


@pytest.mark.slow
def test_without_source_disjoint_validation_the_last_epoch_is_tested(tiny, tmp_path, monkeypatch):
    from wbcrepro.training.fit import fit

    spec = get_dataset("synthetic")
    monkeypatch.setitem(REGISTRY, "synthetic", dataclasses.replace(spec, groups_are_sources=False))
    folder = tmp_path / "run"
    results = fit(TrainConfig.from_flat({**tiny, "epochs": 2}), folder, progress=False)
    selection = results["selection"]
    assert selection["metric"] is None and selection["selected_epoch"] == 2
    assert "not source-disjoint" in selection["reason"]
    assert results["dataset"]["val_source_disjoint"] is False
    assert not (folder / BEST).exists()
    assert results["final"]["test"] == results["final"]["test_last_epoch"]
    saved = json.loads((folder / "results.json").read_text())
    assert saved["selection"] == selection
