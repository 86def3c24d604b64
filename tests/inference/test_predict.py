"""``wbcrepro predict``: the shipped model by default, folders searched by suffix, unreadable files
listed and skipped (exit status 1), usage errors (exit status 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from tests.fixtures.model_run_folders import DS_STORE, cell_image, make_run_folder, truncated_jpeg
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.cli import main
from wbcrepro.inference import predict as predict_module
from wbcrepro.inference import shipped
from wbcrepro.inference.loading import Probabilities, load_model
from wbcrepro.inference.predict import (
    NoImagesError,
    collect_images,
    parse_extensions,
    predict_images,
    skipped_csv_path,
    write_predictions,
)
from wbcrepro.inference.shipped import export_model

COLUMNS = [
    "path",
    "predicted",
    "confidence",
    "unsure",
    *(f"p_{c}" for c in PAPER_CLASSES),
    "merged_neutrophil",  # band + segmented: another lab's "neutrophil"
]
CLASS_COLUMNS = [f"p_{c}" for c in PAPER_CLASSES]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, its shipped export)."""
    root = tmp_path_factory.mktemp("predict-model")
    run = make_run_folder(root / "run", "efficientnet_lite0")
    export_model(run, root / "shipped.pt")
    return run, root / "shipped.pt"


@pytest.fixture
def cells(tmp_path) -> Path:
    """A folder as users have them: good JPEGs (one in a subfolder), a PNG mask, a truncated
    JPEG, a .DS_Store renamed .jpg, and a text file."""
    folder = tmp_path / "cells"
    (folder / "sub").mkdir(parents=True)
    cell_image(1).save(folder / "a.jpg")
    cell_image(2).save(folder / "sub" / "b.JPG", format="JPEG")
    cell_image(3).convert("L").save(folder / "mask.png")
    truncated_jpeg(folder / "broken.jpg")
    (folder / ".DS_169665.jpg").write_bytes(DS_STORE)
    (folder / "notes.txt").write_text("not an image")
    return folder


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unreadable_files_are_listed_skipped_and_fail_the_exit_status(
    model_files, cells, tmp_path, capsys
) -> None:
    csv_path = tmp_path / "out" / "pred.csv"
    code, out, err = run_main(
        capsys, "predict", str(cells), "--checkpoint", str(model_files[1]), "--csv", str(csv_path)
    )
    assert code == 1
    table = pd.read_csv(csv_path)
    assert table.columns.tolist() == COLUMNS
    good = [cells / "a.jpg", cells / "mask.png", cells / "sub" / "b.JPG"]
    assert sorted(table["path"]) == sorted(map(str, good))
    assert set(table["predicted"]) <= set(PAPER_CLASSES)
    assert ((table[CLASS_COLUMNS].sum(axis=1) - 1).abs() < 1e-4).all()
    assert (table["confidence"] == table[CLASS_COLUMNS].max(axis=1)).all()
    merged = (table["p_segmented_neutrophil"] + table["p_band_neutrophil"]).round(6)
    assert (table["merged_neutrophil"] == merged).all()
    bad = {str(cells / "broken.jpg"), str(cells / ".DS_169665.jpg")}
    skipped = pd.read_csv(skipped_csv_path(csv_path))
    assert skipped_csv_path(csv_path) == tmp_path / "out" / "pred.skipped.csv"
    assert skipped.columns.tolist() == ["path", "error"] and set(skipped["path"]) == bad
    assert skipped["error"].str.startswith("cannot read image").all()
    for path in bad:
        assert f"skipped {path}: cannot read image" in err
    assert "read 3 image(s), skipped 2 unreadable" in err
    assert f"wrote 3 predictions to {csv_path}" in out


def test_extensions_choose_the_files_searched(model_files, cells, tmp_path, capsys) -> None:
    csv_path = tmp_path / "jpg.csv"
    code, _, err = run_main(
        capsys,
        "predict",
        str(cells),
        "--checkpoint",
        str(model_files[1]),
        "--extensions",
        ".jpg",
        "--csv",
        str(csv_path),
    )
    assert code == 1 and "read 2 image(s), skipped 2" in err
    assert not pd.read_csv(csv_path)["path"].str.endswith(".png").any()
    code, _, err = run_main(
        capsys,
        "predict",
        str(cells),
        "--checkpoint",
        str(model_files[1]),
        "--extensions",
        "png",
        "--csv",
        str(csv_path),
    )
    assert code == 0 and "read 1 image(s), skipped 0" in err
    assert pd.read_csv(csv_path)["path"].tolist() == [str(cells / "mask.png")]
    assert pd.read_csv(skipped_csv_path(csv_path)).empty  # the earlier list does not survive


def test_without_checkpoint_the_shipped_model_is_used(
    model_files, cells, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", model_files[1])
    code, out, err = run_main(capsys, "predict", str(cells / "a.jpg"))
    assert code == 0 and "read 1 image(s), skipped 0" in err
    assert "a.jpg" in out and "p_band_neutrophil" in out  # the table, on stdout
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", tmp_path / "models" / "pbc6.pt")
    code, _, err = run_main(capsys, "predict", str(cells / "a.jpg"))
    assert code == 2
    assert str(tmp_path / "models" / "pbc6.pt") in err and "wbcrepro export-model" in err


def test_a_run_folder_predicts_with_its_selected_model(model_files, cells, tmp_path, capsys):
    run, shipped_file = model_files
    by_run, by_file = tmp_path / "run.csv", tmp_path / "file.csv"
    assert main(["predict", str(cells), "--checkpoint", str(run), "--csv", str(by_run)]) == 1
    assert (
        main(["predict", str(cells), "--checkpoint", str(shipped_file), "--csv", str(by_file)]) == 1
    )
    a, b = pd.read_csv(by_run), pd.read_csv(by_file)
    assert a["path"].tolist() == b["path"].tolist()
    assert (a.filter(like="p_") - b.filter(like="p_")).abs().max().max() < 1e-2
    last = tmp_path / "last.csv"  # checkpoint.pt (the last epoch) is another model
    main(["predict", str(cells), "--checkpoint", str(run / "checkpoint.pt"), "--csv", str(last)])
    assert (pd.read_csv(last).filter(like="p_") - a.filter(like="p_")).abs().max().max() > 1e-2


def test_usage_errors_exit_2_naming_the_problem(model_files, tmp_path, capsys) -> None:
    model = str(model_files[1])
    code, _, err = run_main(capsys, "predict", str(tmp_path / "cell.jpg"), "--checkpoint", model)
    assert code == 2 and f"no such image or folder: {tmp_path / 'cell.jpg'}" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(capsys, "predict", str(tmp_path / "empty"), "--checkpoint", model)
    assert code == 2 and "no images (.jpg, .jpeg, .png, .bmp, .tif, .tiff)" in err
    code, _, err = run_main(capsys, "predict", str(tmp_path), "--extensions", ",")
    assert code == 2 and "names no file suffix" in err
    code, _, _ = run_main(capsys, "predict")
    assert code == 2  # argparse: PATH is required


def test_old_positional_checkpoint_form_is_now_an_error(model_files, cells, capsys) -> None:
    """``predict RUN IMAGE`` (the old form) treats RUN as an input folder and finds no images."""
    code, _, err = run_main(
        capsys, "predict", str(model_files[0]), "--checkpoint", str(model_files[1])
    )
    assert code == 2 and "no images" in err


def test_parse_extensions() -> None:
    assert parse_extensions("jpg, .PNG,.jpg") == (".jpg", ".png")
    assert ".bmp" in parse_extensions(None)
    with pytest.raises(NoImagesError):
        parse_extensions(" , ")


def test_collect_images_keeps_order_and_names_each_file_once(cells) -> None:
    found = collect_images([cells / "a.jpg", cells], (".jpg",))
    assert found[0] == cells / "a.jpg" and found.count(cells / "a.jpg") == 1
    assert cells / "notes.txt" not in found
    assert collect_images([cells / "notes.txt"], (".jpg",)) == [cells / "notes.txt"]


def test_predict_images_when_every_file_is_unreadable(model_files, cells) -> None:
    result = predict_images(
        load_model(model_files[1], "cpu"), [cells / "broken.jpg", cells / ".DS_169665.jpg"]
    )
    assert result.table.empty and result.table.columns.tolist() == COLUMNS
    assert len(result.skipped) == 2


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_pbc_neutrophil_folder_lists_the_renamed_ds_store(model_files, tmp_path, capsys) -> None:
    folder = SHARED_DATA / "PBC_dataset_normal_DIB" / "neutrophil"
    csv_path = tmp_path / "pbc.csv"
    code, _, err = run_main(
        capsys,
        "predict",
        str(folder),
        "--checkpoint",
        str(model_files[1]),
        "--csv",
        str(csv_path),
        "--batch-size",
        "128",
    )
    assert code == 1
    skipped = pd.read_csv(skipped_csv_path(csv_path))
    assert skipped["path"].tolist() == [str(folder / ".DS_169665.jpg")]
    assert f"skipped {folder / '.DS_169665.jpg'}: cannot read image" in err
    n_images = sum(1 for p in folder.iterdir() if p.suffix == ".jpg") - 1
    assert len(pd.read_csv(csv_path)) == n_images
    assert f"read {n_images} image(s), skipped 1 unreadable" in err


# --- one probability, one value -----------------------------------------------------------------
def known_probabilities(n: int) -> np.ndarray:
    """Seeded float32 softmax rows, as the model returns them. Among 400 of them, float32 and
    float64 copies of one probability round to different sixth decimals (checked below): the
    rows on which ``confidence`` and its ``p_<class>`` column used to disagree."""
    rows = np.random.default_rng(7).dirichlet(np.ones(len(PAPER_CLASSES)), size=n)
    return rows.astype(np.float32)


@pytest.mark.parametrize("label_space", [None, "five-class"])
def test_every_probability_is_written_once_and_confidence_is_that_value(
    model_files, tmp_path, monkeypatch, label_space
) -> None:
    """A model whose outputs are known (the probabilities are given): after the CSV round trip,
    ``confidence`` equals the answer's column exactly, ``merged_neutrophil`` is the rounded sum
    of the two neutrophil columns the CSV shows, and in the five-class space the neutrophil
    answer's confidence is that same merged value."""
    probs = known_probabilities(400)
    old_f32 = pd.Series(probs.ravel().round(6)).astype(str).astype(float).to_numpy()
    assert (old_f32 != probs.ravel().astype(np.float64).round(6)).any()  # the data can fail
    images = [tmp_path / f"cell{i}.jpg" for i in range(len(probs))]
    known = Probabilities(list(range(len(probs))), np.log(probs), probs, [])
    monkeypatch.setattr(predict_module, "class_probabilities", lambda *a, **k: known)
    result = predict_images(load_model(model_files[1]), images, label_space=label_space)
    csv_path = tmp_path / "pred.csv"
    write_predictions(result, csv_path)
    table = pd.read_csv(csv_path)

    merged = (table["p_segmented_neutrophil"] + table["p_band_neutrophil"]).round(6)
    assert (table["merged_neutrophil"] == merged).all()
    assert (table[CLASS_COLUMNS] == probs.astype(np.float64).round(6)).all().all()
    if label_space is None:
        answer = probs.argmax(1)  # decided on the model's probabilities, as evaluation does
        assert table["predicted"].tolist() == [PAPER_CLASSES[i] for i in answer]
        assert (table["confidence"] == table[CLASS_COLUMNS].max(axis=1)).all()
    else:
        neutrophil = table["predicted"] == "neutrophil"
        assert neutrophil.any() and (~neutrophil).any()
        assert (
            table.loc[neutrophil, "confidence"] == table.loc[neutrophil, "merged_neutrophil"]
        ).all()
        others = table.loc[~neutrophil]
        shown = [others.at[i, f"p_{c}"] for i, c in others["predicted"].items()]
        assert (others["confidence"] == shown).all()
