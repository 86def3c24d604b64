"""Cross-domain evaluation: class matching by meaning, probability merging, the record, the page."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.metrics import f1_score

from tests.conftest import REPO, SHARED_DATA
from tests.fixtures.model_run_folders import make_run_folder, zheng_layout
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.codehash import training_code_hash
from wbcrepro.data.datasets import get_dataset
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.inference import crossdomain
from wbcrepro.inference.crossdomain import (
    build_class_map,
    evaluate_cross_domain,
    evaluate_or_load,
    merge_probabilities,
    predictions_csv_path,
    score,
)
from wbcrepro.inference.run_model import read_run_model
from wbcrepro.report import crossdomain_page as page
from wbcrepro.runfolder import RunFolderError

ZHENG = ("neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte")
KAGGLE = get_dataset("kaggle-bloodcells").classes  # four classes, no basophil


def _paper_to_zheng():
    return build_class_map(PAPER_CLASSES, ZHENG, get_dataset("synthetic"), get_dataset("zheng2018"))


# --- class matching ---------------------------------------------------------------------------
def test_band_and_segmented_neutrophils_map_onto_neutrophil() -> None:
    mapping = _paper_to_zheng()
    assert mapping.source_to_target == {
        "segmented_neutrophil": "neutrophil",
        "band_neutrophil": "neutrophil",
        "eosinophil": "eosinophil",
        "basophil": "basophil",
        "monocyte": "monocyte",
        "lymphocyte": "lymphocyte",
    }
    assert mapping.columns == ZHENG and mapping.included == ZHENG
    assert mapping.excluded == () and mapping.absent_from_target == ()


def test_a_source_class_the_target_lacks_keeps_its_own_column() -> None:
    mapping = build_class_map(
        PAPER_CLASSES, KAGGLE, get_dataset("synthetic"), get_dataset("kaggle-bloodcells")
    )
    assert mapping.source_to_target["basophil"] is None
    assert mapping.included == KAGGLE and mapping.absent_from_target == ("basophil",)
    assert mapping.columns == (*KAGGLE, "basophil")


def test_a_target_class_no_source_class_maps_onto_is_excluded() -> None:
    mapping = build_class_map(
        KAGGLE, ZHENG, get_dataset("kaggle-bloodcells"), get_dataset("zheng2018")
    )
    assert mapping.excluded == ("basophil",)
    assert "basophil" not in mapping.columns


def test_explicit_class_map_overrides_and_is_checked() -> None:
    mapping = build_class_map(
        PAPER_CLASSES,
        ZHENG,
        get_dataset("synthetic"),
        get_dataset("zheng2018"),
        explicit={"band_neutrophil": None},
    )
    assert mapping.source_to_target["band_neutrophil"] is None
    assert mapping.absent_from_target == ("band_neutrophil",)
    with pytest.raises(ValueError, match=r"unknown source class\(es\) \['neutrofil'\]"):
        build_class_map(PAPER_CLASSES, ZHENG, explicit={"neutrofil": "neutrophil"})
    with pytest.raises(ValueError, match=r"target class\(es\) \['neutro'\]"):
        build_class_map(PAPER_CLASSES, ZHENG, explicit={"basophil": "neutro"})


def test_without_specs_classes_match_by_name() -> None:
    mapping = build_class_map(("a", "b", "c"), ("c", "a", "z"))
    assert mapping.source_to_target == {"a": "a", "b": None, "c": "c"}
    assert mapping.columns == ("c", "a", "b") and mapping.excluded == ("z",)


# --- merging and scoring on known numbers ----------------------------------------------------
def test_merged_probabilities_sum_band_and_segmented() -> None:
    #                seg   band  eos   baso  mono  lymph
    probs = np.array(
        [
            [0.30, 0.30, 0.35, 0.00, 0.05, 0.00],  # neutrophil 0.60 beats eos 0.35
            [0.10, 0.05, 0.20, 0.50, 0.10, 0.05],
            [0.00, 0.00, 0.00, 0.00, 0.40, 0.60],
        ]
    )
    merged = merge_probabilities(probs, PAPER_CLASSES, _paper_to_zheng())
    #                                neut  eos   baso  mono  lymph
    np.testing.assert_allclose(
        merged,
        [
            [0.60, 0.35, 0.00, 0.05, 0.00],
            [0.15, 0.20, 0.50, 0.10, 0.05],
            [0.00, 0.00, 0.00, 0.40, 0.60],
        ],
    )
    assert merged.argmax(1).tolist() == [0, 2, 4]
    assert probs.argmax(1).tolist()[0] == 2  # without merging, row 0 would read eosinophil
    with pytest.raises(ValueError, match="do not fit 6 source classes"):
        merge_probabilities(probs[:, :5], PAPER_CLASSES, _paper_to_zheng())


def test_a_class_the_target_lacks_wins_the_argmax_and_counts_as_wrong() -> None:
    mapping = build_class_map(
        PAPER_CLASSES, KAGGLE, get_dataset("synthetic"), get_dataset("kaggle-bloodcells")
    )
    basophil = mapping.columns.index("basophil")
    y_true = np.array([0, 0, 1, 2, 3, 3])
    y_pred = np.array([0, basophil, 1, 2, 3, basophil])
    metrics = score(y_true, y_pred, mapping)
    assert metrics["n"] == 6 and metrics["correct"] == 4
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["predicted_absent_class"] == {
        "count": 2,
        "fraction": pytest.approx(2 / 6),
        "by_class": {"basophil": 2},
    }
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=[0, 1, 2, 3], average="macro")
    )
    assert metrics["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1 + 0.5) / 4)
    assert list(metrics["per_class"]) == list(KAGGLE)
    assert metrics["per_class"][KAGGLE[0]]["recall"] == 0.5
    assert metrics["confusion_rows"] == list(KAGGLE)
    assert metrics["confusion_columns"] == [*KAGGLE, "basophil"]
    assert metrics["confusion_matrix"][0] == [1, 0, 0, 0, 1]
    lo, hi = metrics["accuracy_ci95"]
    assert lo < 4 / 6 < hi


# --- end to end on a Zheng-2018 layout ---------------------------------------------------------
@pytest.fixture(scope="module")
def zheng_root(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("data")
    return root, zheng_layout(root, per_class=2)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("src") / "six-class", "efficientnet_lite0")


@pytest.fixture(scope="module")
def record(zheng_root, source_run, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("xd") / "zheng.json"
    return evaluate_cross_domain(source_run, "zheng2018", out, data_root=zheng_root[0]), out


def test_record_on_a_zheng_layout(record, source_run) -> None:
    rec, out = record
    assert json.loads(out.read_text()) == json.loads(json.dumps(rec))
    assert rec["kind"] == "cross_domain_evaluation"
    assert rec["source"]["run_id"] == "six-class" and rec["source"]["model_file"] == "best.pt"
    assert rec["source"]["synthetic"] is True and rec["target"]["dataset"] == "zheng2018"
    assert rec["target"]["images"] == 10 and rec["n_images"] == 10
    assert rec["target"]["excluded_by_loader"] == {"segmentation mask": 10}
    assert rec["class_map"]["band_neutrophil"] == "neutrophil"
    assert rec["excluded_classes"] == []
    metrics = rec["metrics"]
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n"] == 10
    assert {row["support"] for row in metrics["per_class"].values()} == {2}
    assert rec["training_code_hash"] == training_code_hash()
    assert "git" in rec["environment"] and rec["predictions_csv"] == "zheng.predictions.csv"


def test_predictions_csv_holds_merged_probabilities_of_the_run_model(
    record, source_run, zheng_root
) -> None:
    rec, out = record
    table = pd.read_csv(predictions_csv_path(out))
    assert table.columns.tolist() == [
        "path",
        "label",
        "predicted",
        "correct",
        *(f"p_{c}" for c in ZHENG),
    ]
    assert table["path"].iloc[0] == "segmentation_WBC/Dataset 1/001.bmp"  # data-root relative
    assert table["label"].iloc[0] == "neutrophil" and table["label"].iloc[-1] == "basophil"
    assert int(table["correct"].sum()) == rec["metrics"]["correct"]
    run = read_run_model(source_run)
    from PIL import Image

    image = Image.open(zheng_root[0] / table["path"].iloc[0]).convert("RGB")
    with torch.inference_mode():
        raw = run.build().eval()(build_eval_transform(run.cfg)(image)[None]).softmax(1)[0]
    assert table["p_neutrophil"].iloc[0] == pytest.approx(float(raw[0] + raw[1]), abs=1e-5)
    assert table["p_monocyte"].iloc[0] == pytest.approx(float(raw[4]), abs=1e-5)


def test_target_classes_without_a_source_class_are_listed_with_counts(zheng_root, tmp_path):
    four = make_run_folder(tmp_path / "four", class_names=KAGGLE, dataset="kaggle-bloodcells")
    rec = evaluate_cross_domain(four, "zheng2018", tmp_path / "x.json", data_root=zheng_root[0])
    assert rec["excluded_classes"] == [
        {"class": "basophil", "images": 2, "reason": "no source class maps onto it"}
    ]
    assert rec["n_images"] == 8 and rec["metrics"]["n"] == 8
    assert "basophil" not in rec["metrics"]["per_class"]


def test_evaluate_or_load_skips_only_a_current_record(
    record, source_run, zheng_root, tmp_path, monkeypatch
) -> None:
    rec, out = record
    calls = []
    real = crossdomain.evaluate_cross_domain

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    def record_at(name: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(rec))
        predictions_csv_path(path).write_text(predictions_csv_path(out).read_text())
        return path

    monkeypatch.setattr(crossdomain, "evaluate_cross_domain", counting)
    assert evaluate_or_load(source_run, "zheng2018", record_at("a.json"), zheng_root[0]) == rec
    copy = make_run_folder(tmp_path / "copy", "efficientnet_lite0")  # the same weights
    evaluate_or_load(copy, "zheng2018", record_at("b.json"), zheng_root[0])
    assert calls == []
    (copy / "best.pt").unlink()  # now checkpoint.pt is the selected model: other weights
    evaluate_or_load(copy, "zheng2018", record_at("c.json"), zheng_root[0])
    assert len(calls) == 1
    evaluate_or_load(source_run, "zheng2018", record_at("d.json"), zheng_root[0], force=True)
    assert len(calls) == 2
    predictions_csv_path(record_at("e.json")).unlink()
    evaluate_or_load(source_run, "zheng2018", tmp_path / "e.json", zheng_root[0])
    assert len(calls) == 3  # the predictions CSV is part of the result
    other_map = {"band_neutrophil": None}
    changed = evaluate_or_load(
        source_run, "zheng2018", record_at("g.json"), zheng_root[0], class_map=other_map
    )
    assert len(calls) == 4 and changed["class_map_requested"] == other_map
    monkeypatch.setattr(crossdomain, "training_code_hash", lambda: "another")
    evaluate_or_load(source_run, "zheng2018", record_at("f.json"), zheng_root[0])
    assert len(calls) == 5  # changed code: evaluated again


def test_a_clone_without_weights_keeps_a_current_record_or_says_to_retrain(
    record, source_run, zheng_root, tmp_path, monkeypatch, capsys
) -> None:
    rec, out = record
    clone = tmp_path / source_run.name  # the same run id, records without weights
    clone.mkdir()
    for name in ("params.json", "results.json"):
        (clone / name).write_bytes((source_run / name).read_bytes())
    target = tmp_path / "zheng.json"
    target.write_text(json.dumps(rec))
    predictions_csv_path(target).write_text(predictions_csv_path(out).read_text())
    monkeypatch.setattr(crossdomain, "evaluate_cross_domain", lambda *a, **k: pytest.fail("ran"))
    assert evaluate_or_load(clone, "zheng2018", target, zheng_root[0]) == rec
    assert "kept the committed cross-domain evaluation" in capsys.readouterr().out
    for kwargs in ({"force": True}, {"class_map": {"band_neutrophil": None}}):
        with pytest.raises(RunFolderError, match="needs the weights"):
            evaluate_or_load(clone, "zheng2018", target, zheng_root[0], **kwargs)
    renamed = tmp_path / "other-run"
    clone.rename(renamed)  # a record of another run does not stand for this one
    with pytest.raises(RunFolderError, match="other-run"):
        evaluate_or_load(renamed, "zheng2018", target, zheng_root[0])


def test_an_unknown_target_dataset_is_an_error(source_run, tmp_path) -> None:
    with pytest.raises(KeyError, match="unknown dataset 'zhengg'"):
        evaluate_cross_domain(source_run, "zhengg", tmp_path / "x.json")


# --- the page ---------------------------------------------------------------------------------
def test_page_tables_and_figures(record) -> None:
    rec, _ = record
    summary = page.summary_table(rec)
    assert summary.loc["images scored", "value"] == "10"
    assert summary.loc["target classes left out", "value"] == "none"
    assert summary.loc["accuracy [95% Wilson]", "value"].endswith("]")
    assert page.per_class_recall(rec).index.tolist() == list(ZHENG)
    assert page.class_map_table(rec)["counts as target class"].tolist()[:2] == [
        "neutrophil",
        "neutrophil",
    ]
    assert page.confusion_frame(rec).shape == (5, 5)
    assert isinstance(page.plot_confusion(rec), Figure)
    assert isinstance(page.plot_recall(rec), Figure)
    header = page.header(rec, "smoke").data
    assert header.startswith("> **SYNTHETIC DATA.**") and "`zheng2018`" in header


def test_page_module_imports_no_training_code() -> None:
    tree = ast.parse((REPO / "wbcrepro" / "report/crossdomain_page.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {m for m in imported if m.startswith("wbcrepro")} == {"wbcrepro.fileio"}
    assert "torch" not in imported


def test_notebook_is_thin_and_parameterised() -> None:
    nb = nbformat.read(REPO / "notebooks" / "crossdomain.ipynb", as_version=4)
    nbformat.validate(nb)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = {t.targets[0].id for t in ast.parse(params[0].source).body}
    assert names == {"profile", "run_id", "runs_root", "source_run", "target_dataset", "data_root"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    # that every call names an existing function is checked for all notebooks in test_notebooks


@pytest.mark.slow
def test_notebook_executes_with_papermill(source_run, zheng_root, tmp_path) -> None:
    import papermill

    runs_root = tmp_path / "runs"
    (runs_root).mkdir()
    import shutil

    shutil.copytree(source_run, runs_root / "src")
    papermill.execute_notebook(
        str(REPO / "notebooks" / "crossdomain.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={
            "run_id": "xd",
            "runs_root": str(runs_root),
            "source_run": "src",
            "target_dataset": "zheng2018",
            "data_root": str(zheng_root[0]),
        },
        kernel_name="python3",
        cwd=str(REPO),
        progress_bar=False,
    )
    rec = json.loads((runs_root / "xd" / "crossdomain.json").read_text())
    assert rec["n_images"] == 10
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    images = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_real_zheng_2018(source_run, tmp_path) -> None:
    rec = evaluate_cross_domain(source_run, "zheng2018", tmp_path / "z.json", SHARED_DATA)
    assert rec["n_images"] == rec["target"]["images"] == 300
    assert rec["target"]["excluded_by_loader"] == {"segmentation mask": 300}
    assert sum(map(sum, rec["metrics"]["confusion_matrix"])) == 300
