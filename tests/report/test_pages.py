"""wbcrepro.report on hand-made run folders: records, headers, tables, plots, ledger, data page
(the experiment page's single-run pictures: ``test_figures.py``).

The run folders are written by :mod:`tests.fixtures.recorded_runs` the way
:func:`wbcrepro.training.fit.fit` writes them (the smoke profile test renders the same pages from
records of real training). Plots are checked for what
they draw: axes, labels, lines, bars, tick labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.lines import Line2D

from tests.conftest import REPO
from tests.fixtures.recorded_runs import GPU_ENVIRONMENT, write_run
from wbcrepro import report
from wbcrepro.analysis import paper
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.codehash import training_code_hash
from wbcrepro.runfolder import RunFolderError

TRAINING_MODULES = (
    "wbcrepro.training.fit",
    "wbcrepro.training.engine",
    "wbcrepro.model.networks",
    "wbcrepro.data.loading",
)
FORBIDDEN = (
    *TRAINING_MODULES,
    "wbcrepro.inference.explain",
    "torch",
    "torchvision",
    "pytorch_grad_cam",
)


@pytest.mark.slow
def test_importing_report_loads_no_training_code_and_no_torch():
    code = (
        "import sys, wbcrepro.report, wbcrepro.analysis.verdicts; "
        "print([m for m in "
        f"{FORBIDDEN!r}"
        " if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """``s0`` (30/40 right) and ``s1`` (36/40, seed 1) on synthetic data, ``s0`` with its executed
    notebook beside it; ``broken`` stopped before finishing."""
    root = tmp_path_factory.mktemp("runs")
    write_run(root, "s0", params={"lr_switch_epoch": 2}, notebook=True)
    write_run(root, "s1", params={"seed": 1}, correct=36)
    clean = {**GPU_ENVIRONMENT, "git": {"commit": "fedcba9876543210", "dirty": False}}
    write_run(root, "broken", status="failed", environment=clean)
    return root


@pytest.fixture
def glued(monkeypatch) -> dict:
    import myst_nb

    store: dict = {}
    monkeypatch.setattr(myst_nb, "glue", lambda k, v, display=True: store.__setitem__(k, v))
    return store


# --- records --------------------------------------------------------------------------------------
def test_an_arm_id_stands_for_its_seed_runs(tmp_path):
    for seed in (10, 2, 0):
        write_run(tmp_path, f"main-s{seed}", params={"seed": seed})
    write_run(tmp_path, "main-sx")  # not a seed suffix
    write_run(tmp_path, "main-small-s0")  # another arm whose id starts alike
    assert report.arm_run_ids(tmp_path, "main") == ["main-s0", "main-s2", "main-s10"]
    assert report.arm_run_ids(tmp_path, "main-s2") == ["main-s2"]  # a run id is itself
    ids = [r.run_id for r in report.load_runs(tmp_path, "main,main-small,nothing")]
    assert ids == ["main-s0", "main-s2", "main-s10", "main-small-s0", "nothing"]
    assert report.load_runs(tmp_path, "nothing")[0].status == "missing"


def test_load_run(runs_root):
    rec = report.load_run(runs_root, "s0")
    assert rec.complete and rec.synthetic and rec.dataset == "synthetic"
    assert list(rec.history["epoch"]) == [1, 2, 3]
    assert rec.metric("accuracy") == 0.75 and rec.interval("accuracy")[0] < 0.75
    assert rec.as_result().name == "[s0](s0.ipynb)"  # its notebook is there: a link
    assert report.load_run(runs_root, "s1").as_result().name == "`s1`"
    missing = report.load_run(runs_root, "nothing-here")
    assert missing.status == "missing" and np.isnan(missing.metric("accuracy"))
    assert [r.run_id for r in report.load_runs(runs_root, " s0, ,s1")] == ["s0", "s1"]


# --- headers --------------------------------------------------------------------------------------
def test_run_header_shows_the_recorded_machine_and_a_dirty_tree(runs_root):
    text = report.header_for_run(report.load_run(runs_root, "s0"), "smoke").data
    assert text.startswith(report.SYNTHETIC_BANNER)
    for part in (
        "| profile | smoke |",
        "NVIDIA H100 80GB HBM3 (device cuda, CUDA 12.4) (recorded when it trained)",
        "Python 3.11.9, torch 2.4.1, torchvision 0.19.1",
        "git `0123456789`",
        "uncommitted changes (dirty tree)",
        f"; training code `{training_code_hash()}`",  # what the dirty tree ran: today's code
        "| resolution | 32 px |",
        "efficientnet_b0 (torchvision), weights none, scratch",
        "`s0` (complete)",
    ):
        assert part in text, part
    # The resolved parameters, collapsed, from the record (s0 switched its lr at epoch 2).
    block = text[text.index(":::{admonition} Run parameters") :]
    assert ":class: dropdown" in block and "| lr_switch_epoch | 2 |" in block
    assert block.rstrip().endswith(":::") and "data_root" not in block
    broken = report.header_for_run(report.load_run(runs_root, "broken"), "smoke").data
    assert "git `fedcba9876`" in broken and "dirty" not in broken
    missing = report.header_for_run(report.load_run(runs_root, "gone"), "smoke").data
    assert "no results.json" in missing


def test_runs_header_lists_distinct_recorded_settings(runs_root):
    runs = report.load_runs(runs_root, "s0,s1,broken,gone")
    text = report.header_for_runs(runs, "smoke", {"ablation": "seeds"}).data
    assert text.count("NVIDIA H100 80GB HBM3 (device cuda, CUDA 12.4)") == 1
    assert "git `0123456789` **with uncommitted" in text and "git `fedcba9876`" in text
    assert "| ablation | seeds |" in text
    assert "`s0` (complete), `s1` (complete), `broken` (failed), `gone` (missing)" in text
    assert "SYNTHETIC" in text
    none = report.header_for_runs([], "smoke").data
    assert "none (no run found)" in none and "SYNTHETIC" not in none


def test_data_header_says_no_model_was_trained():
    text = report.header_for_data("synthetic", 64, "smoke").data
    assert "no model was trained" in text and "| resolution | 64 px |" in text
    assert text.startswith(report.SYNTHETIC_BANNER)
    assert "SYNTHETIC" not in report.header_for_data("bccd", 64, "cpu").data


# --- one experiment -------------------------------------------------------------------------------
def test_run_status_reads_the_training_code_state(tmp_path):
    write_run(tmp_path, "today")
    write_run(tmp_path, "old", code_hash="0ld")
    text = report.run_status(report.load_run(tmp_path, "today")).data
    assert "**complete** (3 epochs, 4.5 min of training; trained with today's training code" in text
    assert "other training code (`0ld`" in report.run_status(report.load_run(tmp_path, "old")).data
    results = json.loads((tmp_path / "old" / "results.json").read_text())
    del results["training_code_hash"]  # a record without it does not fit the one schema
    (tmp_path / "old" / "results.json").write_text(json.dumps(results))
    with pytest.raises(RunFolderError, match="lacks training_code_hash"):
        report.load_run(tmp_path, "old")


def test_experiment_tables(runs_root, glued):
    rec = report.load_run(runs_root, "s0")
    per_class = report.per_class_table(rec)
    assert list(per_class.index) == list(PAPER_CLASSES)
    assert per_class["support"].sum() == 40
    metrics = report.metrics_table(rec)
    assert list(metrics.index) == ["val", "test"] and list(metrics["images"]) == [20, 40]
    assert metrics.loc["test", "accuracy [95% Wilson CI]"].startswith("75.00% [")
    values = report.glue_run(rec)
    assert values["test_n"] == 40 and values["test_accuracy"] == 0.75
    assert values["paper_gap_points"] == pytest.approx(99.64 - 75)
    assert glued == values and all(type(v) in (int, float) for v in glued.values())
    side = report.paper_vs_ours(rec)
    assert side.loc["test accuracy"].iloc[0] == "99.64% (no interval reported)"
    assert side.loc["data"].iloc[1] == "SYNTHETIC: synthetic, 6 classes"
    assert side.loc["hardware"].iloc[1].startswith("NVIDIA H100")
    assert "train/val/test 60/0/0 images" in side.loc["split"].iloc[1]


def _data_lines(ax) -> list[Line2D]:
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def test_plot_curves_draws_train_and_validation_with_the_lr_switch(runs_root):
    fig = report.plot_curves(report.load_run(runs_root, "s0"))
    loss, acc = fig.axes[:2]
    assert (loss.get_title(), acc.get_title()) == ("loss", "accuracy")
    assert (loss.get_xlabel(), loss.get_ylabel(), acc.get_ylabel()) == ("epoch", "loss", "accuracy")
    lines = _data_lines(loss)
    assert len(lines) == 2  # train and validation of one run
    drawn = sorted(np.round(line.get_ydata(), 3).tolist() for line in lines)
    assert drawn == [[2.0, 1.0, 0.667], [2.5, 1.25, 0.833]]  # train 2/epoch, validation 2.5/epoch
    assert all(line.get_xdata().tolist() == [1, 2, 3] for line in lines)
    drawn = sorted(np.round(line.get_ydata(), 3).tolist() for line in _data_lines(acc))
    assert drawn == [[0.15, 0.3, 0.45], [0.2, 0.4, 0.6]]
    switch = [line for line in loss.get_lines() if list(line.get_xdata()) == [1.5, 1.5]]
    assert len(switch) == 1  # lr_switch_epoch 2: drawn between epochs 1 and 2
    legend = [t.get_text() for t in acc.get_legend().get_texts()]
    assert {"s0", "train", "validation"} <= set(legend)
    assert fig._suptitle.get_text() == "SYNTHETIC data"


def test_plot_curves_overlay_draws_every_run(runs_root):
    runs = report.load_runs(runs_root, "s0,s1,broken")
    fig = report.plot_curves_overlay(runs, "seed")
    assert len(_data_lines(fig.axes[0])) == 6  # three runs x (train, validation)
    legend = {t.get_text() for t in fig.axes[1].get_legend().get_texts()}
    assert {"s0 (seed=0)", "s1 (seed=1)", "broken (seed=0)"} <= legend
    empty = report.plot_curves_overlay([report.load_run(runs_root, "gone")])
    assert [t.get_text() for t in empty.axes[0].texts] == ["no finished epoch"]


# --- ablations ------------------------------------------------------------------------------------
def test_ablation_table_and_seed_summary(runs_root, tmp_path):
    runs = report.load_runs(runs_root, "s0,s1,broken")
    table = report.ablation_table(runs, "seed")
    assert list(table.index) == ["s0", "s1", "broken"]
    # Narrow: no per-class column (those are in the recall table).
    assert list(table.columns) == ["seed", "learned?", "accuracy [95% CI]", "macro-F1 [95% CI]"]
    assert list(table["seed"]) == [0, 1, 0]
    assert list(table["learned?"]) == ["yes", "yes", "run failed"]
    assert table.loc["s1", "accuracy [95% CI]"].startswith("90.00% [")
    assert table.loc["broken", "accuracy [95% CI]"] == ""
    by_lr = report.ablation_table(runs, "lr_switch_epoch")
    assert list(by_lr.columns[:3]) == ["lr_switch_epoch", "seed", "learned?"]
    recall = report.ablation_recall_table(runs)
    assert list(recall.columns) == ["s0", "s1"]  # complete runs only, one column each
    assert list(recall.index[:2]) == ["test images", "balanced accuracy"]
    assert list(recall.index[2:]) == [c.replace("_", " ") for c in PAPER_CLASSES]
    assert recall.loc["test images", "s1"] == 40 and recall.loc["band neutrophil", "s0"] != ""
    # Many runs: several tables of at most four run columns, balanced (9 -> 3 + 3 + 3).
    for seed in range(9):
        write_run(tmp_path, f"r-s{seed}", params={"seed": seed})
    many = report.load_runs(tmp_path, "r")
    assert len(many) == 9
    text = report.ablation_recall_markdown(many).data
    tables = text.split("\n\n")
    assert len(tables) == 3
    assert all(t.splitlines()[0].startswith("| test recall |") for t in tables)
    assert [t.splitlines()[0].count("|") for t in tables] == [5, 5, 5]  # 3 runs + the labels
    assert "No complete run" in report.ablation_recall_markdown(runs[2:]).data
    seeds = report.seed_summary(runs, "seed")
    assert seeds.loc["test accuracy", "seeds"] == 2
    assert seeds.loc["test accuracy", "mean"] == pytest.approx(0.825)
    assert seeds.loc["test accuracy", "min"] == 0.75 and seeds.loc["test accuracy", "max"] == 0.9
    # An ablation of another setting: one line per value and measure, over its seeds.
    for seed, correct in enumerate((30, 34, 32)):
        write_run(tmp_path, f"a-s{seed}", params={"seed": seed, "lr": 0.001}, correct=correct)
        write_run(tmp_path, f"b-s{seed}", params={"seed": seed, "lr": 0.01}, correct=20)
    lines = report.seed_summary(report.load_runs(tmp_path, "a,b"), "lr").data.splitlines()
    assert lines[0] == "| lr | measure | seeds learned | mean [95% t] | range |"
    assert lines[2].startswith("| 0.001 | test accuracy | 3 of 3 | 80.00% [")
    assert lines[2].endswith("| 75.00% to 85.00% |")
    assert lines[3].startswith("| 0.01 | test accuracy | 3 of 3 | 50.00%")
    assert "nothing to summarise" in report.seed_summary(runs[2:], "transfer").data


def test_plot_ablation_draws_one_bar_per_complete_run(runs_root):
    runs = report.load_runs(runs_root, "s0,s1,broken")
    fig = report.plot_ablation(runs, "seed")
    acc, f1 = fig.axes
    assert acc.get_title() == "test accuracy (95% Wilson CI)"
    assert f1.get_title() == "test macro-F1 (95% bootstrap CI)"
    assert [round(p.get_height(), 3) for p in acc.patches] == [0.75, 0.9]
    labels = [t.get_text() for t in acc.get_xticklabels()]
    assert labels == ["s0\nseed=0", "s1\nseed=1"]
    assert len(f1.patches) == 2 and fig._suptitle.get_text() == "SYNTHETIC data"


def test_glue_ablation(runs_root, glued):
    runs = report.load_runs(runs_root, "s0,s1,broken")
    verdict = report.glue_ablation(runs, "seed", "accuracy")["verdict"]
    assert verdict.startswith("Over 2 seeds that learned, test accuracy is 82.50% on average")
    assert "SYNTHETIC" in verdict and verdict.endswith("Not complete: broken.")
    assert (glued["n_runs"], glued["n_complete"]) == (3, 2)


# --- Table 1 and the claims ledger ----------------------------------------------------------------
def test_table1(tmp_path, glued):
    # Three seeds of a recipe on BCCD (one did not learn), and a PBC arm beside the paper's row.
    for seed, correct in enumerate((36, 38, 10)):
        write_run(
            tmp_path,
            f"main-bccd-s{seed}",
            params={"seed": seed},
            correct=correct,
            synthetic=False,
            learned=seed < 2,
        )
    for seed in range(3):
        write_run(tmp_path, f"main-pbc-s{seed}", params={"seed": seed}, correct=39, synthetic=False)
    table = report.table1("bccd=main-bccd|paper-bccd,pbc=main-pbc,zheng2018=main-zheng", tmp_path)
    liang = table[table["study"].str.startswith("Liang")]
    assert len(liang) == 2  # one line per arm
    ours = liang.iloc[0]
    assert ours["paper"] == "90.79%" and ours["ours"].startswith("`main-bccd-s0` (main-bccd)")
    # The mean over the seeds that learned, their range, and how many learned.
    assert ours["our accuracy"] == "92.50% (90.00%-95.00%); 2 of 3 seed(s) learned"
    assert ours["vs paper"] == "inconclusive (2 seed(s) learned, 3 needed)"
    assert liang.iloc[1]["ours"] == "arm `paper-bccd`: no complete run"
    own = table[table["study"].str.startswith("Chegodaev")].iloc[0]
    assert "closest public equivalent" in own["ours"]
    assert own["vs paper"] == "below (-2.1 points) (other data: not the same test)"
    assert table[table["study"].str.startswith("Su")].iloc[0]["ours"].startswith("not run: ")
    assert table.iloc[-1]["study"] == "(not in Table 1) zheng2018"
    assert list(table.columns) == list(report.table1_page.MAIN_COLUMNS)
    first, second = report.table1_details_markdown("bccd=main-bccd", tmp_path).data.split("\n\n")
    assert first.splitlines()[0] == "| ours | data | split | model |"
    assert second.splitlines()[0].startswith("| ours | size | epochs | hardware |")
    details = report.table1_details("bccd=main-bccd,pbc=main-pbc", tmp_path)
    assert list(details["ours"]) == ["main-bccd", "main-pbc"]
    assert details.iloc[0]["size"] == "32 px" and details.iloc[0]["hardware"].startswith("NVIDIA")
    report.glue_table1("bccd=main-bccd|paper-bccd,pbc=main-pbc", tmp_path)
    assert glued["n_compared"] == 2 and glued["n_paper_rows"] == len(paper.TABLE1)
    with pytest.raises(ValueError, match="dataset=arm_id"):
        report.parse_pairs("bccd")
    assert report.parse_pairs("a=x|y, b=z") == {"a": ["x", "y"], "b": ["z"]}
    ids = [r.run_id for r in report.records_of_pairs("bccd=main-bccd,pbc=main-pbc", tmp_path)]
    assert ids == [f"main-bccd-s{i}" for i in range(3)] + [f"main-pbc-s{i}" for i in range(3)]


def test_claims_ledger(runs_root, glued):
    ledger = report.claims_ledger("accuracy=s0|s1;band_vs_segmented=broken;bogus=s0", runs_root)
    assert len(ledger) == len(paper.CLAIMS) + 1
    status = dict(zip(ledger["claim"], ledger["status"], strict=True))
    # Two seeds of a recipe: too few for a verdict (3 needed), so inconclusive, with the reason.
    assert status["`accuracy`"] == "**tested on synthetic data only (inconclusive there)**"
    evidence = dict(zip(ledger["claim"], ledger["evidence"], strict=True))["`accuracy`"]
    assert evidence.count("1 of 1 seed(s) learned, 3 needed") == 2  # s0, s1 differ in lr_switch
    assert status["`private_set`"] == "**not testable here**"
    assert status["`transfer`"] == "**not run**"
    assert status["`band_vs_segmented`"] == "**not run**"
    assert status["`bogus`"] == "**unknown claim id**"
    text = report.ledger_markdown(ledger).data
    assert "[s0](s0.ipynb)" in text and "[s1]" not in text  # links only where a notebook is
    assert text.splitlines()[0] == "| claim | status | evidence |"  # three columns fit a page
    assert "| `private_set`: EfficientNet-b4 with transfer learning reaches" in text
    tests = report.ledger_tests_markdown(ledger).data
    assert tests.splitlines()[0] == "| claim | how we test it |"
    assert len(tests.splitlines()) == len(ledger) + 2
    report.glue_ledger(ledger)
    assert glued["n_synthetic_only"] == 1 and glued["n_claims"] == len(ledger)
    assert glued["n_untestable"] == 1
    assert report.parse_evidence("a=x|y; b=z") == {"a": ["x", "y"], "b": ["z"]}
    ids = [r.run_id for r in report.records_of_evidence("a=s0|s1;b=s1|broken", runs_root)]
    assert ids == ["s0", "s1", "broken"]


# --- the data page --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overview():
    return report.load_overview("synthetic", "", 32, synthetic_per_class=4, synthetic_size=40)


def test_data_overview_tables(overview, glued):
    balance = report.class_balance(overview)
    assert list(balance.index) == list(overview.classes)
    assert balance.iloc[:, 0].tolist() == [4] * 6 and balance["share"].tolist() == [0.167] * 6
    sizes = report.image_sizes(overview)
    assert sizes.to_dict("records") == [{"width": 40, "height": 40, "images": 24, "share": 1.0}]
    assert report.exclusions(overview).to_dict("records") == [
        {"reason": "(nothing excluded)", "items": 0}
    ]
    card = report.dataset_card(overview).data
    assert card.startswith(report.SYNTHETIC_BANNER) and "`synthetic` (**SYNTHETIC**)" in card
    report.glue_overview(overview)
    assert (glued["n_images"], glued["n_classes"], glued["n_excluded"]) == (24, 6, 0)


def test_plot_class_balance_draws_one_bar_per_class(overview):
    ax = report.plot_class_balance(overview).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(overview.classes)
    assert [p.get_width() for p in ax.patches] == [4] * 6
    assert ax.get_xlabel() == "images"
    assert ax.get_title() == "synthetic (SYNTHETIC): images per class"


def test_sample_grid_shows_images_at_the_input_size(overview):
    fig = report.sample_grid(overview, per_class=3)
    assert len(fig.axes) == 6 * 3
    assert all(ax.images[0].get_array().shape == (32, 32, 3) for ax in fig.axes)
    first_column = [ax.get_ylabel() for ax in fig.axes[::3]]
    assert first_column == [name.replace("_", "\n") for name in overview.classes]
    assert "SYNTHETIC" in fig._suptitle.get_text()


def test_eval_view_frames_like_the_evaluation_transform(tmp_path):
    """Same region as torchvision's Resize(pre) -> CenterCrop(size) (up to resampling)."""
    from PIL import Image
    from torchvision.transforms import v2

    yy, xx = np.mgrid[0:200, 0:300]
    pixels = np.stack([xx * 255 // 299, yy * 255 // 199, (xx + yy) % 256], -1).astype(np.uint8)
    path = tmp_path / "gradient.png"
    Image.fromarray(pixels).save(path)
    ours = np.asarray(report.data_page.eval_view(str(path), 64, 73), dtype=float)
    reference = v2.Compose([v2.Resize(73, antialias=True), v2.CenterCrop(64)])
    theirs = np.asarray(reference(Image.open(path).convert("RGB")), dtype=float)
    assert ours.shape == theirs.shape == (64, 64, 3)
    assert np.abs(ours[..., :2] - theirs[..., :2]).mean() < 2.0  # the smooth channels


def test_table1_details_show_the_recorded_baselines(tmp_path):
    """The shapes training records: majority accuracy at the top, the linear probe's under test."""
    from wbcrepro.fileio import read_json, write_json

    folder = write_run(tmp_path, "main-bccd", params={"dataset": "bccd"}, synthetic=False)
    results = read_json(folder / "results.json")
    results["baselines"] = {
        "majority": {"class": "neutrophil", "accuracy": 0.5882},
        "linear_probe": {"status": "ok", "test": {"n": 68, "accuracy": 0.75}},
    }
    write_json(folder / "results.json", results)
    write_run(tmp_path, "main-pbc", params={"dataset": "pbc"}, synthetic=False)
    details = report.table1_details("bccd=main-bccd,pbc=main-pbc", tmp_path).set_index("ours")
    assert details.loc["main-bccd", "majority class"] == "58.82%"
    assert details.loc["main-bccd", "linear probe"] == "75.00%"
    assert details.loc["main-pbc", "linear probe"] == "not recorded"


def test_how_a_claim_is_tested_here_comes_from_its_runs() -> None:
    """The ledger's settings are read from the evidence runs: 94 vs 160 px here, never a typed
    '224 vs 132' that no run used."""
    from types import SimpleNamespace

    from wbcrepro.analysis import paper
    from wbcrepro.report.claims_page import settings_here

    runs = [
        SimpleNamespace(params={"img_size": size}, dataset="bccd-cropped")
        for size in (160, 160, 160, 94, 94, 94)
    ]
    text = settings_here(paper.get_claim("input_size"), runs)
    assert text == ". Here: img_size 94 px (3 run(s)) vs 160 px (3 run(s)), on bccd-cropped"
    assert "132" not in paper.get_claim("input_size").how
    accuracy = settings_here(paper.get_claim("accuracy"), runs[:2])
    assert accuracy == ". Here: 2 run(s) on bccd-cropped at 160 px"
    assert settings_here(paper.get_claim("accuracy"), []) == ""


def test_a_folded_header_keeps_the_synthetic_banner_in_view() -> None:
    from wbcrepro import report
    from wbcrepro.report.records import SYNTHETIC_BANNER

    table = report.header("smoke", "synthetic", "Lite0", 32, 2, "cpu", synthetic=True)
    folded = report.collapsed(table).data
    assert folded.startswith(SYNTHETIC_BANNER)  # in view, above the fold
    assert "<details><summary>Provenance" in folded and folded.endswith("</details>")
    assert "| profile | smoke |" in folded.split("<details>")[1]
    real = report.collapsed(report.header("cpu", "pbc", "Lite0", 160, 6, "cpu")).data
    assert real.startswith("<details>") and SYNTHETIC_BANNER not in real


def test_the_synthetic_note_is_nothing_at_all_for_real_runs() -> None:
    """A notebook cell returning None shows nothing; an empty Markdown would show its repr."""
    from types import SimpleNamespace

    from wbcrepro import report

    real = [SimpleNamespace(synthetic=False, status="complete")]
    assert report.synthetic_note(real) is None
    drawn = [SimpleNamespace(synthetic=True, status="complete")]
    assert "SYNTHETIC DATA" in report.synthetic_note(drawn).data
