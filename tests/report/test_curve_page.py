"""wbcrepro.report.curve_page: the learning curve read from run records, on validation only."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from tests.fixtures.recorded_runs import write_run
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.fileio import read_json, write_json
from wbcrepro.report import curve_page, load_runs

RUNS = "n60,n120,n240,px48"


def _curve_run(
    root: Path, run_id: str, per_class: int, px: int, correct: int, epochs=3, sel=3, **levers
):
    folder = write_run(
        root,
        run_id,
        params={"img_size": px, **levers},
        correct=correct,
        epochs=epochs,
        selection={"metric": "macro_f1", "selected_epoch": sel},
    )
    results = read_json(folder / "results.json")
    results["dataset"]["counts"]["train"] = dict.fromkeys(PAPER_CLASSES, per_class)
    results["train_seconds"] = 60.0 * per_class / 10 * px / 32  # grows with images and size
    write_json(folder / "results.json", results)
    return folder


@pytest.fixture
def curve(tmp_path: Path) -> Path:
    _curve_run(tmp_path, "n60", 10, 32, correct=20, sel=2)
    _curve_run(tmp_path, "n120", 20, 32, correct=30)
    _curve_run(tmp_path, "n240", 40, 32, correct=38)
    _curve_run(tmp_path, "px48", 20, 48, correct=32)
    _curve_run(tmp_path, "other-epochs", 20, 48, correct=40, epochs=5, sel=5)  # not on an axis
    # the same images, size and epochs as n120, but another recipe: not on an axis either
    _curve_run(
        tmp_path,
        "levers",
        20,
        32,
        correct=39,
        freeze_fraction=0.2,
        val_every=2,
        transfer="finetune",
        weights="imagenet",
        arch="efficientnet_lite0",
    )
    write_run(tmp_path, "stopped", status="failed")
    return tmp_path


def test_points_are_the_validation_metric_of_complete_runs(curve: Path) -> None:
    runs = load_runs(curve, RUNS + ",stopped")
    points = curve_page.curve_points(runs)
    assert points["run"].tolist() == ["n60", "n120", "n240", "px48"]  # by size, then images
    assert points["train images"].tolist() == [60, 120, 240, 120]
    for rec in runs[:4]:
        row = points.set_index("run").loc[rec.run_id]
        val = rec.results["final"]["val"]
        assert row["val"] == val["macro_f1"] and [row["low"], row["high"]] == val["macro_f1_ci95"]
    # the test split is never read: spoiling it changes nothing
    results = read_json(curve / "n120" / "results.json")
    results["final"]["test"]["macro_f1"] = 0.0
    write_json(curve / "n120" / "results.json", results)
    again = curve_page.curve_points(load_runs(curve, RUNS))
    assert again["val"].tolist() == points["val"].tolist()


def test_glued_text_gives_each_step_the_reference_and_the_last_epochs(curve: Path) -> None:
    runs = load_runs(curve, RUNS + ",other-epochs")
    points = curve_page.curve_points(runs).set_index("run")["val"]
    glued = curve_page.glue_curve(runs, "n120")
    step = (points["n240"] - points["n120"]) * 100
    assert glued["curve_images"].startswith("60 to 120 images: +")
    assert f"120 to 240 images: {step:+.1f} points" in glued["curve_images"]
    assert glued["curve_sizes"].startswith("32 to 48 px: ")  # other-epochs is not on the axis
    assert "48 to" not in glued["curve_sizes"]
    best = points.idxmax()
    assert best == "other-epochs"
    assert (
        f"n120, is {(points[best] - points['n120']) * 100:.1f} points below"
        in (glued["curve_reference"])
    )
    assert (
        "best point, other-epochs (120 images at 48 px, 5 epochs, levers: none; their intervals"
        in (glued["curve_reference"])
    )
    assert "times its training time" in glued["curve_reference"]
    assert glued["curve_epochs"] == "4 of 5"  # n60 selected epoch 2 of 3


def test_the_best_point_as_reference_and_a_missing_reference(curve: Path) -> None:
    runs = load_runs(curve, RUNS)
    assert curve_page.glue_curve(runs, "n240")["curve_reference"] == (
        "The reference point, n240, is the best point of the curve"
    )
    missing = curve_page.glue_curve(runs, "n999")
    assert set(missing.values()) == {"n999 has no complete record: no curve"}


def test_plot_and_table(curve: Path) -> None:
    runs = load_runs(curve, RUNS)
    fig = curve_page.plot_curve(runs, "n120")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log"
    assert len(fig.axes[0].lines) >= 2  # the curve and the reference marker
    table = curve_page.curve_markdown(runs).data
    assert table.count("\n") == 5  # header, rule, four runs
    assert "[0." in table and "| yes |" in table


def test_a_point_with_other_levers_is_in_the_table_but_on_no_axis(curve: Path) -> None:
    runs = load_runs(curve, RUNS + ",levers")
    points = curve_page.curve_points(runs).set_index("run")
    assert points.loc["levers", "levers"] == "first 0.2 frozen, validated every 2"
    assert points.loc["n120", "levers"] == "none"
    glued = curve_page.glue_curve(runs, "n120")
    assert glued["curve_images"].count(" to ") == 2  # 60 -> 120 -> 240, the levers run left out
    assert "levers" in glued["curve_reference"]  # the best point, named
    assert "first 0.2 frozen" in curve_page.curve_markdown(runs).data
    progressive = {"early_img_size": 128, "early_epochs": 3}
    assert curve_page.levers(progressive) == "128 px for 3 epochs"


def test_lever_table_reads_both_benchmark_records_and_names_a_missing_one(tmp_path: Path) -> None:
    budget = {
        "speedup": 1.734,
        "old": {"settings": {}, "median_val_accuracy": 0.9},
        "new": {"settings": {"freeze_fraction": "0.2", "epochs": "6"}, "median_val_accuracy": 0.91},
        "synthetic": True,
        "environment": {"git": {"commit": "abcdef0123"}},
    }
    seeds = {
        "settings": {"val_every": "2"},
        "seeds": [{"seed": 0}, {"seed": 1}, {"seed": 2}],
        "mean_val_macro_f1": 0.906,
        "v2_mean_val_macro_f1": 0.897,
    }
    write_json(tmp_path / "budget.json", budget)
    write_json(tmp_path / "seeds.json", seeds)
    paths = f"{tmp_path / 'budget.json'}, {tmp_path / 'seeds.json'},{tmp_path / 'gone.json'}"
    table = curve_page.lever_table(paths).data
    rows = table.splitlines()[2:]
    assert len(rows) == 3
    assert "1.73x" in rows[0] and "0.900 -> 0.910" in rows[0] and "abcdef0" in rows[0]
    assert "SYNTHETIC" in rows[0] and "freeze_fraction=0.2, epochs=6" in rows[0]
    assert "3 seeds" in rows[1] and "0.897 -> 0.906" in rows[1]
    assert "gone.json" in rows[2] and "missing" in rows[2]
    assert curve_page.lever_table("").data.count("\n") <= 1  # no records: an empty table
