"""The paper profile before any GPU time: ``--plan`` from a measured speed names every run, its
minutes and what is missing; ``--dry-run`` executes every one of its notebooks at tiny scale on
the CPU, so a parameter error, a missing key or a bad path shows here, not in a queue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_DATA
from wbcrepro.cli import main
from wbcrepro.reproduction.dryrun import DRY_IMG_SIZE, dry_run_profile, dry_size
from wbcrepro.reproduction.estimate import (
    EVAL_SPEEDUP,
    RunNeeds,
    Throughput,
    ThroughputError,
    estimate_minutes,
    read_throughput,
)
from wbcrepro.reproduction.profiles import load_profile
from wbcrepro.reproduction.roles import TRAINS, role_of


def test_minutes_follow_images_epochs_and_pixels() -> None:
    speed = Throughput(100.0, "efficientnet_b4", 224)
    needs = RunNeeds(train_images=1000, val_images=300, test_images=600)
    params = {"arch": "efficientnet_b4", "img_size": 224, "epochs": 2}
    expected = (2 * 1000 / 100 + (2 * 300 + 600) / (EVAL_SPEEDUP * 100)) / 60
    assert estimate_minutes(params, needs, speed) == pytest.approx(expected)
    bigger = estimate_minutes({**params, "img_size": 448}, needs, speed)
    assert bigger == pytest.approx(4 * expected)  # four times the pixels, a quarter the speed
    assert estimate_minutes({**params, "arch": "resnet50"}, needs, speed) is None  # no measure


def test_throughput_file_is_read_or_refused_naming_it(tmp_path: Path) -> None:
    good = tmp_path / "speed.json"
    good.write_text(
        json.dumps(
            {
                "device": "cuda",
                "device_name": "NVIDIA H100",
                "config": {"arch": "efficientnet_b4", "img_size": 224},
                "median": {"ours": {"images_per_s": 612.5}, "plain": {"images_per_s": 300.0}},
            }
        )
    )
    assert read_throughput(good) == Throughput(612.5, "efficientnet_b4", 224, "NVIDIA H100")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ThroughputError, match=r"bad\.json: not a train_throughput\.py --json"):
        read_throughput(bad)


def test_paper_plan_lists_every_run_with_minutes_and_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """No data and no weights here (an empty data root and hub cache): every training run is
    estimated from published sizes, and the plan names the missing sets and weights."""
    monkeypatch.setenv("WBCREPRO_REPO", str(REPO))
    monkeypatch.setenv("WBCREPRO_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    argv = ["reproduce", "--profile", "paper", "--plan", "--json", "--img-per-s", "400"]
    assert main(argv) == 0
    answer = json.loads(capsys.readouterr().out)
    profile = load_profile("paper", repo=REPO)
    assert sorted(r["id"] for r in answer["runs"]) == sorted(profile.run_ids)  # every run once
    training = [r for r in answer["runs"] if role_of(r["notebook"]).kind == TRAINS]
    assert training and all(r["action"] == "train" for r in training)
    assert all(r["estimated_from"] == "throughput" and r["estimated_minutes"] > 0 for r in training)
    assert all(r["images"].startswith("published size") for r in training)
    by_id = {r["id"]: r for r in training}  # 380 px costs (380/224)^2 times 224 px
    ratio = by_id["size-380-s0"]["estimated_minutes"] / by_id["main-pbc-s0"]["estimated_minutes"]
    assert ratio == pytest.approx((380 / 224) ** 2, rel=0.05)
    missing = answer["missing"]
    assert any(key.startswith("data raabin") for key in missing)
    weights = [key for key in missing if key.startswith("weights efficientnet_b4 ImageNet")]
    assert weights and len(missing[weights[0]]) == len(training) - 3  # not the scratch arm
    assert answer["gpus_per_run"] == 1 and answer["training_device_hours"] > 0
    assert answer["throughput"]["img_per_s"] == 400


def test_plan_table_says_gpu_hours_and_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WBCREPRO_REPO", str(REPO))
    monkeypatch.setenv("WBCREPRO_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["reproduce", "--profile", "paper", "--plan", "--img-per-s", "400"]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours, from 400 img/s of efficientnet_b4 at 224 px" in out
    assert "MISSING data raabin" in out and "MISSING weights efficientnet_b4" in out
    assert main(["reproduce", "--profile", "paper", "--plan", "--img-per-s", "-3"]) == 2


def test_dry_run_profile_keeps_every_notebook_and_arm_and_shrinks_training() -> None:
    paper = load_profile("paper", repo=REPO)
    dry = dry_run_profile(paper)
    assert dry.name == "paper-dryrun" and dry.cluster.gpus_per_run == 0
    assert {s.notebook for s in dry.runs} == {s.notebook for s in paper.runs}
    assert {s.arm for s in dry.runs} == {s.arm for s in paper.runs}  # one seed of each arm
    assert len(dry.runs) < len(paper.runs)
    for spec in dry.runs:
        params = spec.parameters(dry)
        assert all(r in dry.run_ids for r in spec.reads)
        if role_of(spec.notebook).kind == TRAINS:
            assert params["dataset"] == "synthetic" and params["epochs"] <= 2
            assert params["img_size"] == dry_size(paper.run(spec.id).parameters(paper)["img_size"])
            assert params["weights"] in ("none",) or Path(str(params["weights"])).is_file()
    assert dry_size(224) == DRY_IMG_SIZE and dry_size(380) > DRY_IMG_SIZE


# One run of each notebook of the paper profile that the smoke book does not execute with the
# same code (the real and a missing data set's page, the training of two arms, one of them with
# Grad-CAM, their ablation and label-noise pages); the pages read what of their inputs ran. The
# arm, Table 1, claims and findings pages are executed by the smoke profile (SMOKE_EXECUTES), and
# the paper profile's page parameters are checked for every run by the configuration test above
# (every run id a page reads is a run of the profile).
DRY_SUBSET = (
    "data-pbc",
    "data-raabin",
    "main-pbc-s0",
    "tuned-pbc-s0",
    "label-noise-pbc",
    "ablation-lr",
)
SMOKE_EXECUTES = ("arm.ipynb", "table1.ipynb", "claims.ipynb", "findings.ipynb")


def test_every_dry_run_parameter_set_is_a_valid_configuration() -> None:
    """Every run of the dry profile, not only the executed subset: its parameters are declared by
    its notebook (checked when the profile loads), and every training run's parameters make a
    valid TrainConfig whose weights file exists. A misspelt or missing parameter of any arm fails
    here, in milliseconds."""
    from wbcrepro.training.experiment import config_from_parameters

    dry = dry_run_profile(load_profile("paper", repo=REPO))
    training = [s for s in dry.runs if role_of(s.notebook).kind == TRAINS]
    assert len(training) == len({s.arm for s in load_profile("paper", repo=REPO).runs
                                  if role_of(s.notebook).kind == TRAINS})  # fmt: skip
    for spec in training:
        params = spec.parameters(dry)
        cfg = config_from_parameters(params)
        assert cfg.arch == params["arch"] and cfg.img_size == params["img_size"], spec.id
        assert cfg.weights in ("none",) or Path(cfg.weights).is_file(), spec.id


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the data pages read ../shared/data")
def test_paper_dry_run_executes_every_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run of every notebook of the paper profile that the smoke book does not execute, with
    the paper's parameters shrunk as ``--dry-run`` shrinks them (``DRY_SUBSET``): a notebook that
    fails on the paper's parameters fails here. The other arms of a notebook differ from these in
    parameter values only, which the test above checks for every run; ``wbcrepro reproduce
    --profile paper --dry-run`` executes all of them (43 notebooks, ten minutes on two cores)."""
    from wbcrepro.reproduction.runner import reproduce

    root = tmp_path / "repo"
    for folder in ("notebooks", "profiles", "book"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("runs"))
    monkeypatch.setenv("WBCREPRO_REPO", str(root))
    monkeypatch.setenv("WBCREPRO_DATA", str(SHARED_DATA))
    dry = dry_run_profile(load_profile("paper"))
    here = {dry.run(i).notebook for i in DRY_SUBSET}
    assert here | set(SMOKE_EXECUTES) == {s.notebook for s in dry.runs}
    smoke = load_profile("smoke", repo=REPO)
    assert set(SMOKE_EXECUTES) <= {s.notebook for s in smoke.runs}  # with the same code
    summary = reproduce(dry, only=DRY_SUBSET, progress=False, jobs=2)
    assert summary.ok, summary.table()
    assert sorted(o.id for o in summary.outcomes) == sorted(DRY_SUBSET)
    assert {o.status for o in summary.outcomes} == {"complete"}
    assert not (root / "book" / "runs" / "paper").exists()  # never over the profile's runs
    gradcam = root / "book" / "runs" / "paper-dryrun" / "main-pbc-s0" / "gradcam.json"
    assert gradcam.is_file()  # the arm with Grad-CAM computed it


def test_paper_plan_without_a_speed_uses_the_committed_reference_and_says_whose_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WBCREPRO_REPO", str(REPO))
    monkeypatch.setenv("WBCREPRO_DATA", str(tmp_path / "no-data"))
    assert main(["reproduce", "--profile", "paper", "--plan", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    training = [r for r in answer["runs"] if role_of(r["notebook"]).kind == TRAINS]
    assert all(r["estimated_from"] == "throughput" and r["estimated_minutes"] for r in training)
    assert (
        "the reference in benchmarks/results/train_throughput_reference.json, not your device"
        in (answer["throughput"]["device"])
    )
    assert answer["throughput"]["arch"] == "efficientnet_b4"
