"""The experiment page's pictures (wbcrepro.report.figures) on hand-made run folders: what each
figure draws (values, lines, tiles, titles), not how it looks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from IPython.display import Image as ImageDisplay
from IPython.display import Markdown
from PIL import Image

from tests.fixtures.recorded_runs import write_run
from wbcrepro import report
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.fileio import read_json, write_json
from wbcrepro.report import figures
from wbcrepro.runfolder import RESULTS

SELECTED = {"metric": "val_macro_f1", "selected_epoch": 3, "reason": "best validation macro-F1"}


# --- confusion matrix ----------------------------------------------------------------------------
def _cells(fig) -> np.ndarray:
    ax = fig.axes[0]
    values = np.ma.filled(ax.collections[0].get_array(), np.nan).astype(float)
    n = len(ax.get_xticklabels())
    return values.reshape(n, n)


def test_plot_confusion_shows_row_normalised_shares_with_the_counts(tmp_path):
    rec = report.load_run(tmp_path, write_run(tmp_path, "r", correct=30).name)
    counts = np.array(rec.report("test")["confusion_matrix"])
    fig = report.plot_confusion(rec)
    ax = fig.axes[0]
    drawn = _cells(fig)
    assert ((drawn >= 0) & (drawn <= 1)).all()
    assert drawn.sum(axis=1) == pytest.approx(np.ones(len(counts)))
    assert drawn == pytest.approx(counts / counts.sum(axis=1, keepdims=True))
    assert not np.allclose(drawn, counts)  # not the counts themselves (40 images, 6 classes)
    shares, numbers = zip(
        *(re.fullmatch(r"(\d\.\d\d)\n\((\d+)\)", t.get_text()).groups() for t in ax.texts),
        strict=True,
    )
    assert [int(n) for n in numbers] == counts.ravel().tolist()
    assert [float(s) for s in shares] == pytest.approx(drawn.ravel(), abs=0.005)
    support = counts.sum(axis=1)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == [f"{c} (n={n})" for c, n in zip(PAPER_CLASSES, support, strict=True)]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(PAPER_CLASSES)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert ax.get_title().startswith("r: test confusion matrix (SYNTHETIC)\nrow-normalised")
    assert fig.axes[1].get_ylabel() == "share of the true class"  # the colour bar, 0..1


def test_a_class_without_test_images_is_left_blank_not_divided_by_zero(tmp_path):
    folder = write_run(tmp_path, "r")
    results = read_json(folder / RESULTS)
    matrix = np.array(results["final"]["test"]["confusion_matrix"])
    matrix[2, :] = 0
    results["final"]["test"]["confusion_matrix"] = matrix.tolist()
    write_json(folder / RESULTS, results)
    fig = report.plot_confusion(report.load_run(tmp_path, "r"))
    drawn = _cells(fig)
    assert np.isnan(drawn[2]).all()
    assert np.delete(drawn, 2, axis=0).sum(axis=1) == pytest.approx(np.ones(5))
    assert len(fig.axes[0].texts) == 5 * 6  # no annotation on the empty row
    assert fig.axes[0].get_yticklabels()[2].get_text() == f"{PAPER_CLASSES[2]} (n=0)"


# --- learning curves -----------------------------------------------------------------------------
def _vertical(ax, x: float) -> list:
    return [line for line in ax.get_lines() if list(line.get_xdata()) == [x, x]]


def _legend(fig) -> list[str]:
    return [t.get_text().replace("\n", " ") for t in fig.axes[1].get_legend().get_texts()]


def test_plot_curves_marks_the_selected_epoch_and_the_lr_switch(tmp_path):
    params = {"lr_switch_epoch": 2}
    write_run(tmp_path, "r", epochs=5, params=params, selection=SELECTED)
    rec = report.load_run(tmp_path, "r")
    assert report.selected_epoch(rec) == (3, "selected epoch 3 (best val macro-F1)")
    fig = report.plot_curves(rec)
    for ax in fig.axes[:2]:
        assert len(_vertical(ax, 3)) == 1  # the selected epoch, on the epoch itself
        assert len(_vertical(ax, 1.5)) == 1  # the lr switch, between epochs 1 and 2
        assert not _vertical(ax, 5)  # not the last epoch
    legend = _legend(fig)
    assert "selected epoch 3 (best val macro-F1)" in legend
    assert {"r", "train", "validation"} <= set(legend)  # the curves' own entries kept


@pytest.mark.parametrize(
    ("selection", "reason"),
    [
        (
            {"metric": "val_macro_f1", "selected_epoch": None, "reason": "no validation split"},
            "no validation split",
        ),
    ],
)
def test_without_a_selection_the_last_epoch_is_marked_with_the_reason(tmp_path, selection, reason):
    write_run(tmp_path, "r", epochs=4, selection=selection)
    fig = report.plot_curves(report.load_run(tmp_path, "r"))
    assert len(_vertical(fig.axes[0], 4)) == 1
    assert f"last epoch 4 evaluated (no selection: {reason})" in _legend(fig)


def test_metric_names_read_as_validation_metrics():
    """Selection is on validation; a record without the metric still names the epoch."""
    assert figures.metric_name("val_macro_f1") == "val macro-F1"
    assert figures.metric_name("balanced_accuracy") == "val balanced accuracy"
    assert figures.metric_name("val_top2") == "val top2"
    rec = report.load_run(Path("nowhere"), "r")
    rec.results = {"selection": {"selected_epoch": 7}}
    assert report.selected_epoch(rec) == (7, "selected epoch 7 (best on validation)")


# --- example grid --------------------------------------------------------------------------------
def _write_predictions(folder: Path, data: Path, rows: list[tuple[str, str, str, float]]) -> None:
    """``rows``: (file name, label, predicted, confidence); files under ``data`` (relative paths
    in the CSV, as the run's data root resolves them), the rest of the probability spread."""
    table = []
    for i, (name, label, predicted, confidence) in enumerate(rows):
        if not name.startswith("missing"):
            Image.new("RGB", (60, 40), (i * 20 % 255, 90, 160)).save(data / name)
        rest = (1 - confidence) / (len(PAPER_CLASSES) - 1)
        probs = {f"p_{c}": confidence if c == predicted else rest for c in PAPER_CLASSES}
        table.append({"path": name, "label": label, "predicted": predicted, **probs})
    pd.DataFrame(table).to_csv(folder / "predictions_test.csv", index=False)


@pytest.fixture
def example_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    folder = write_run(tmp_path, "r", params={"data_root": str(data)})
    eos, mono, lym = "eosinophil", "monocyte", "lymphocyte"
    _write_predictions(
        folder,
        data,
        [
            ("e1.png", eos, eos, 0.9),
            ("e2.png", eos, eos, 0.6),
            ("e3.png", eos, eos, 0.7),
            ("e4.png", eos, mono, 0.55),
            ("e5.png", eos, lym, 0.8),
            ("e6.png", eos, mono, 0.4),
            ("e7.png", eos, mono, 0.3),
            ("missing.png", eos, lym, 0.99),  # the most confident mistake, but no file
            ("m1.png", mono, mono, 0.5),
            ("l1.png", lym, eos, 0.65),
        ],
    )
    return report.load_run(tmp_path, "r")


def _tiles(fig) -> dict[tuple[int, int], tuple[str, str]]:
    """(row, column) -> (title, colour) of every axes that shows an image."""
    n_cols = fig.axes[0].get_gridspec().ncols
    return {
        divmod(i, n_cols): (ax.get_title(), ax.title.get_color())
        for i, ax in enumerate(fig.axes)
        if ax.images
    }


def test_plot_examples_shows_the_hardest_right_and_the_surest_wrong_per_class(example_run):
    shown = report.plot_examples(example_run, per_class=2)
    fig = shown.figure
    assert fig.axes[0].get_gridspec().get_geometry() == (6, 4)  # six classes, 2 right + 2 wrong
    tiles = _tiles(fig)
    eos, mono, lym = (PAPER_CLASSES.index(c) for c in ("eosinophil", "monocyte", "lymphocyte"))
    assert tiles == {
        (eos, 0): ("eosinophil 60%", "tab:green"),  # least confident right first
        (eos, 1): ("eosinophil 70%", "tab:green"),
        (eos, 2): ("lymphocyte 80%", "tab:red"),  # most confident wrong first (file present)
        (eos, 3): ("monocyte 55%", "tab:red"),
        (mono, 0): ("monocyte 50%", "tab:green"),
        (lym, 2): ("eosinophil 65%", "tab:red"),
    }
    rows = [fig.axes[r * 4].get_ylabel() for r in range(6)]
    assert rows == [c.replace("_", "\n") for c in PAPER_CLASSES]
    assert all(
        max(ax.images[0].get_array().shape[:2]) <= figures.TILE_PX for ax in fig.axes if ax.images
    )
    title = fig.get_suptitle()
    assert "SYNTHETIC" in title and "6 shown" in title and "1 image file(s) not found" in title


def test_the_example_grid_is_a_small_palette_png(example_run):
    png = report.plot_examples(example_run, per_class=3)._repr_png_()
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.mode == "P"  # 256 colours
        assert 300 < img.width < 1000 and 300 < img.height < 1200
    assert len(png) < 300_000


def test_plot_examples_without_predictions_says_so(tmp_path):
    rec = report.load_run(tmp_path, write_run(tmp_path, "r").name)
    fig = report.plot_examples(rec).figure
    assert not _tiles(fig)
    assert [t.get_text() for t in fig.texts][-1].startswith("no predictions_test.csv in ")


def test_relative_prediction_paths_resolve_under_the_runs_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREPRO_DATA", str(tmp_path / "env"))
    assert figures.image_path("a/b.png", {"data_root": "/d"}) == Path("/d/a/b.png")
    assert figures.image_path("a/b.png", {"data_root": ""}) == tmp_path / "env" / "a/b.png"
    assert figures.image_path("/abs/c.png", {"data_root": "/d"}) == Path("/abs/c.png")


# --- Grad-CAM panel (as the page reads it) -------------------------------------------------------
def test_show_gradcam_reads_the_panel_or_says_why_not(tmp_path):
    rec = report.load_run(tmp_path, write_run(tmp_path, "r").name)
    off = report.show_gradcam(rec, 0)
    assert isinstance(off, Markdown) and "not requested" in off.data
    missing = report.show_gradcam(rec, 3)
    assert isinstance(missing, Markdown) and "gradcam.png` is not there" in missing.data
    assert report.gradcam_caption(rec) is None  # nothing shown, not an empty Markdown
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    (rec.folder / figures.GRADCAM_PNG).write_bytes(png.getvalue())
    write_json(
        rec.folder / figures.GRADCAM_JSON,
        {
            "package": "grad-cam 1.5.7",
            "target_layer": "features.8",
            "feature_map": [2, 2],
            "img_size": 64,
            "n_images": 12,
            "model_file": "best.pt",
            "epoch": 2,
            "model_sha256": "ab" * 32,
        },
    )
    shown = report.show_gradcam(rec, 3)
    assert isinstance(shown, ImageDisplay) and shown.data == png.getvalue()
    caption = report.gradcam_caption(rec).data
    assert "`features.8` (2x2 feature map, upsampled to 64 px), 12 test images" in caption
    assert caption.startswith("**SYNTHETIC data.**") and "`best.pt` (epoch 2" in caption
