"""End-to-end training on the synthetic data: run folders, determinism, resume, failures, CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import local_paths
from wbcrepro.codehash import training_code_hash
from wbcrepro.config import TrainConfig
from wbcrepro.runfolder import RESULTS_KEYS, RunFolderError, read_results
from wbcrepro.training.engine import NonFiniteLossError
from wbcrepro.training.fit import fit
from wbcrepro.training.run_files import load_checkpoint

pytestmark = pytest.mark.slow

TIME_COLUMNS = ["epoch_seconds", "train_images_per_s"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "wbcrepro.cli", *args], capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wbcrepro {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def overrides(params: dict) -> list[str]:
    return [f"{k}={v}" for k, v in params.items()]


def comparable(folder: Path) -> tuple[pd.DataFrame, dict]:
    """What must be identical between two runs of one config: per-epoch metrics and finals."""
    history = pd.read_csv(folder / "metrics.csv").drop(columns=TIME_COLUMNS)
    final = json.loads((folder / "results.json").read_text())["final"]
    return history, final


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory) -> tuple[dict, Path]:
    """One uninterrupted 3-epoch CLI run, the reference for determinism and resume."""
    from tests.conftest import TINY

    params = {**TINY, "epochs": 3, "lr_switch_epoch": 3}
    folder = tmp_path_factory.mktemp("runs") / "reference"
    cli("train", *overrides(params), "--out", str(folder), "--quiet")
    return params, folder


def test_cli_train_writes_a_complete_run_folder(three_epochs) -> None:
    params, folder = three_epochs
    for name in (
        "params.json",
        "split.csv",
        "metrics.csv",
        "checkpoint.pt",
        "results.json",
        "predictions_test.csv",
        "predictions_val.csv",
    ):
        assert (folder / name).is_file(), name
    results = read_results(folder)  # fits the one schema, RunResults
    assert set(results) == RESULTS_KEYS
    assert results["status"] == "complete"
    assert results["dataset"]["synthetic"] is True
    assert results["params"] == TrainConfig.from_flat(params).to_flat()
    assert results["environment"]["packages"]["torch"] == torch.__version__.split("+")[0]
    assert "commit" in results["environment"]["git"]
    history = pd.read_csv(folder / "metrics.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["lr"].tolist() == [0.001, 0.001, 1.5e-6]  # switch at epoch 3
    test = results["final"]["test"]
    for key in (
        "accuracy",
        "accuracy_ci95",
        "balanced_accuracy",
        "balanced_accuracy_ci95",
        "macro_f1",
        "macro_f1_ci95",
        "per_class",
        "confusion_matrix",
    ):
        assert key in test
    assert set(results["final"]) == {"val", "test", "test_last_epoch"}
    assert results["training_code_hash"] == training_code_hash()
    assert results["eval_geometry"] == "shorter_side"
    assert results["batchnorm"]["applied"] == "recompute"
    selection = results["selection"]
    val_f1 = pd.read_csv(folder / "metrics.csv")["val_macro_f1"]
    assert selection["metric"] == "macro_f1"
    assert selection["selected_epoch"] == int(val_f1.idxmax()) + 1  # the first best epoch
    assert load_checkpoint(folder / "best.pt")["epoch"] == selection["selected_epoch"]
    assert set(results["baselines"]) == {"chance", "majority", "linear_probe"}
    assert results["baselines"]["chance"]["accuracy"] == pytest.approx(1 / 6)
    assert results["baselines"]["linear_probe"]["status"] == "not available"  # weights=none
    assert isinstance(results["gate"]["learned"], bool)
    assert (
        sum(map(sum, test["confusion_matrix"]))
        == test["n"]
        == len(pd.read_csv(folder / "predictions_test.csv"))
    )
    split = pd.read_csv(folder / "split.csv")
    assert set(split["split"]) == {"train", "val", "test"}
    assert split.groupby("group")["split"].nunique().max() == 1


def test_same_config_twice_gives_identical_metrics(three_epochs, tmp_path) -> None:
    params, reference = three_epochs
    again = tmp_path / "again"
    fit(TrainConfig.from_flat(params), again, progress=False)
    ref_history, ref_final = comparable(reference)
    history, final = comparable(again)
    pd.testing.assert_frame_equal(ref_history, history)
    assert final == ref_final


def test_run_killed_in_second_epoch_resumes_to_the_same_metrics(three_epochs, tmp_path) -> None:
    params, reference = three_epochs
    folder = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "wbcrepro.cli",
        "train",
        *overrides(params),
        "--out",
        str(folder),
        "--quiet",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (folder / "metrics.csv").is_file():  # epoch 1 checkpointed: now in epoch 2
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(folder)["epoch"] == 1
    assert json.loads((folder / "results.json").read_text())["status"] == "running"

    cli("train", *overrides(params), "--out", str(folder), "--resume", "--quiet")
    results = json.loads((folder / "results.json").read_text())
    assert results["status"] == "complete"
    assert results["resumed_from_epoch"] == 1
    ref_history, ref_final = comparable(reference)
    history, final = comparable(folder)
    pd.testing.assert_frame_equal(ref_history, history)
    assert final == ref_final


def test_existing_run_folder_is_not_overwritten_and_resume_checks_parameters(
    three_epochs, tmp_path
) -> None:
    params, reference = three_epochs
    with pytest.raises(RunFolderError, match="already holds a run"):
        fit(TrainConfig.from_flat(params), reference, progress=False)
    with pytest.raises(RunFolderError, match=r"parameters differ \(epochs: 3 -> 5\)"):
        fit(TrainConfig.from_flat({**params, "epochs": 5}), reference, resume=True, progress=False)


def test_nan_loss_stops_the_run_and_the_folder_says_so(tiny, tmp_path, monkeypatch) -> None:
    from wbcrepro.training import fit as runs

    real = runs.make_optimizer

    def poisoned(cfg, model):  # every weight becomes NaN after the first step
        optimizer = real(cfg, model)
        for group in optimizer.param_groups:
            group["lr"] = float("nan")
        return optimizer

    monkeypatch.setattr(runs, "make_optimizer", poisoned)
    monkeypatch.setattr(runs, "set_lr", lambda optimizer, lr: None)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 2"):
        fit(TrainConfig.from_flat({**tiny, "batch_size": 4}), tmp_path / "nan", progress=False)
    results = read_results(tmp_path / "nan")
    assert results["status"] == "failed"
    assert "NonFiniteLossError" in results["error"]


def test_cli_evaluate_and_predict_a_checkpoint(three_epochs, tmp_path, capsys) -> None:
    """In-process (``run_main``): the entry point as a process is the ``three_epochs`` run's."""
    _, folder = three_epochs
    out = tmp_path / "eval.json"
    code, stdout, _ = run_main(
        capsys, "evaluate", str(folder), "--split", "test", "--json", str(out)
    )
    assert code == 0
    report = json.loads(out.read_text())
    results = json.loads((folder / "results.json").read_text())
    assert report["accuracy"] == results["final"]["test"]["accuracy"]
    assert "accuracy" in stdout and "macro-F1" in stdout

    split = pd.read_csv(folder / "split.csv")
    recorded = split[split["split"] == "test"]["path"].tolist()[:3]
    assert all(p.startswith("$CACHE/") for p in recorded)  # portable: no absolute path
    images = local_paths(recorded)
    csv_path = tmp_path / "pred.csv"
    args = ["predict", *images, "--checkpoint", str(folder), "--csv", str(csv_path)]
    assert run_main(capsys, *args)[0] == 0  # the selected model
    table = pd.read_csv(csv_path)
    assert table["path"].tolist() == images
    probs = table.filter(like="p_")
    assert probs.shape[1] == 6
    assert ((probs.sum(axis=1) - 1).abs() < 1e-4).all()
    expected = pd.read_csv(folder / "predictions_test.csv").set_index("path")
    assert table.set_index("path")["predicted"].to_dict() == {
        local: expected.loc[p, "predicted"] for p, local in zip(recorded, images, strict=True)
    }


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (no torch import per call): exit code, stdout, stderr."""
    from wbcrepro.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse's --help and usage errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_reports_bad_input_clearly(three_epochs, tmp_path, capsys) -> None:
    _, folder = three_epochs
    code, _, err = run_main(capsys, "train", "epochz=3", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown config key(s): epochz" in err
    code, _, err = run_main(capsys, "train", "lr=fast", "--out", str(tmp_path / "x"))
    assert code == 2 and "lr must be a finite number, got 'fast'" in err
    code, _, err = run_main(capsys, "evaluate", str(tmp_path / "missing.pt"))
    assert code == 2 and f"no run folder, checkpoint or shipped model at {tmp_path}" in err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    code, _, err = run_main(capsys, "predict", str(broken), "--checkpoint", str(folder))
    assert code == 1 and f"skipped {broken}: cannot read image {broken}" in err
    code, _, err = run_main(
        capsys, "predict", str(tmp_path / "nowhere"), "--checkpoint", str(folder)
    )
    assert code == 2 and "no such image or folder" in err


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_every_command_has_help(command: str, capsys) -> None:
    code, out, _ = run_main(capsys, command, "--help")
    assert code == 0 and f"usage: wbcrepro {command}" in out


@pytest.mark.slow
def test_readme_example_trains_b0_at_64px_for_two_epochs(tmp_path) -> None:
    """The README's example runs as written (its duration is a benchmark's business, not a
    test's: benchmarks/train_throughput.py)."""
    cli(
        "train",
        "dataset=synthetic",
        "synthetic_per_class=20",
        "arch=efficientnet_b0",
        "img_size=64",
        "epochs=2",
        "weights=none",
        "transfer=scratch",
        "--out",
        str(tmp_path / "demo"),
        "--quiet",
    )
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert results["status"] == "complete" and results["epochs_completed"] == 2
    predictions = pd.read_csv(tmp_path / "demo" / "predictions_test.csv")
    assert results["final"]["test"]["n"] == len(predictions)
