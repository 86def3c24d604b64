"""One image, one answer: ``wbcrepro predict``, ``wbcrepro evaluate``, cross-domain evaluation
and Grad-CAM load the model and preprocess an image the same way (the run's own evaluation path:
decode downscale, then the recorded transform), and answer by the same decision rule.

The fixture images are 64 px, larger than the run's decode size (43 px at ``img_size`` 32), so a
path that skipped the downscale (as cross-domain evaluation and Grad-CAM once did) fails here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.conftest import SHARED_DATA
from tests.fixtures.model_run_folders import make_run_folder, zheng_layout
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.cli import main
from wbcrepro.data.datasets.zheng import CLASSES as ZHENG
from wbcrepro.data.images import ImageReadError
from wbcrepro.data.loading import ImageTable, cache_side
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.inference import crossdomain, explain, predict
from wbcrepro.inference.checkpoint_eval import evaluate_checkpoint
from wbcrepro.inference.decision import (
    decide,
    identity_map,
    label_space,
    map_to_space,
    merge_probabilities,
)
from wbcrepro.inference.loading import Probabilities, class_probabilities, load_model
from wbcrepro.inference.predict import predict_images
from wbcrepro.inference.shipped import DEFAULT_MODEL, ShippedModelError, export_model
from wbcrepro.runfolder import RunFolderError

SIZE = 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> SimpleNamespace:
    """A six-class run folder whose split.csv names 10 Zheng-layout images (its test split) with
    paper labels, and the run's shipped export."""
    root = tmp_path_factory.mktemp("one-answer")
    run = make_run_folder(root / "run", "efficientnet_lite0")
    data = root / "data"
    zheng_layout(data, per_class=2, size=SIZE)
    images = sorted((data / "segmentation_WBC" / "Dataset 1").glob("*.bmp"))
    labels = [PAPER_CLASSES[i % 6] for i in range(len(images))]
    split = pd.DataFrame(
        {"path": list(map(str, images)), "label": labels, "group": range(10), "split": "test"}
    )
    split.to_csv(run / "split.csv", index=False)
    export_model(run, root / "shipped.pt")
    return SimpleNamespace(root=root, run=run, data=data, images=images, labels=labels)


def _predict_csv(setup, tmp_path: Path, *extra: str, model: Path | None = None) -> pd.DataFrame:
    out = tmp_path / f"predict{len(extra)}.csv"
    files = list(map(str, setup.images))
    checkpoint = str(model or setup.run)
    assert main(["predict", *files, "--checkpoint", checkpoint, "--csv", str(out), *extra]) == 0
    return pd.read_csv(out)


def test_preprocess_is_the_runs_own_data_path(setup) -> None:
    loaded = load_model(setup.run, "cpu")
    cfg = loaded.cfg
    assert loaded.decode_side == cache_side(cfg) == 43 < SIZE
    # The run's evaluation: ImageTable with its decode-once cache, then the eval transform.
    table = ImageTable(setup.images, [0] * 10, build_eval_transform(cfg), cache_side(cfg))
    for i, path in enumerate(setup.images):
        tensor = loaded.preprocess(path)
        assert torch.equal(tensor, table[i][0])
        with Image.open(path) as image:
            assert torch.equal(loaded.preprocess(image), tensor)  # in memory: the same resize
    full_size = build_eval_transform(cfg)(Image.open(setup.images[0]).convert("RGB"))
    assert not torch.equal(full_size, table[0][0])  # the downscale matters for these images


def test_one_image_one_answer_through_predict_evaluate_and_cross_domain(setup, tmp_path) -> None:
    loaded = load_model(setup.run, "cpu")
    reference = class_probabilities(loaded, setup.images).probabilities
    assert len(set(reference.argmax(1))) >= 3, "the fixture must tell images apart"

    predicted = _predict_csv(setup, tmp_path)
    p = predicted.filter(like="p_").to_numpy()
    np.testing.assert_allclose(p, reference, atol=1e-6)
    assert predicted["predicted"].tolist() == [PAPER_CLASSES[i] for i in reference.argmax(1)]

    report = evaluate_checkpoint(setup.run, "test")
    targets = [PAPER_CLASSES.index(label) for label in setup.labels]
    expected = np.zeros((6, 6), dtype=int)
    np.add.at(expected, (targets, reference.argmax(1)), 1)
    assert report["confusion_matrix"] == expected.tolist()
    loss = -np.log(reference[np.arange(10), targets]).mean()
    assert report["loss"] == pytest.approx(loss, rel=1e-5)

    record = crossdomain.evaluate_cross_domain(
        setup.run, "zheng2018", tmp_path / "xd.json", data_root=setup.data
    )
    table = pd.read_csv(crossdomain.predictions_csv_path(tmp_path / "xd.json"))
    mapping = map_to_space(PAPER_CLASSES, "synthetic", label_space("zheng2018"))
    merged = merge_probabilities(reference, PAPER_CLASSES, mapping)
    np.testing.assert_allclose(table.filter(like="p_").to_numpy(), merged, atol=1e-6)
    assert record["preprocessing"]["decode_shorter_side"] == 43
    assert record["target"]["image_shorter_side"] == {"min": SIZE, "median": SIZE, "max": SIZE}
    in_zheng = _predict_csv(setup, tmp_path, "--label-space", "zheng2018")
    assert [Path(p).name for p in table["path"]] == [p.name for p in setup.images]  # same order
    assert in_zheng["predicted"].tolist() == table["predicted"].tolist()
    np.testing.assert_allclose(in_zheng.filter(like="p_").to_numpy(), reference, atol=1e-6)
    np.testing.assert_allclose(in_zheng["confidence"], merged.max(1), atol=1e-6)


@pytest.mark.slow
def test_gradcam_explains_the_input_and_answer_the_run_evaluated(setup, monkeypatch) -> None:
    loaded = load_model(setup.run, "cpu")
    result = class_probabilities(loaded, setup.images)
    names = [PAPER_CLASSES[i] for i in result.probabilities.argmax(1)]
    rows = {"path": list(map(str, setup.images)), "label": names, "predicted": names}
    probs = {f"p_{c}": result.probabilities[:, i] for i, c in enumerate(PAPER_CLASSES)}
    pd.DataFrame({**rows, **probs}).to_csv(setup.run / "predictions_test.csv", index=False)
    seen = []
    real = explain.compute_cams

    def spy(model, layer, batch):
        seen.append(batch)
        return real(model, layer, batch)

    monkeypatch.setattr(explain, "compute_cams", spy)
    record = explain.gradcam_panel(setup.run, out_png=setup.root / "cam.png", per_class=1)
    chosen = [setup.images.index(Path(i["path"])) for i in record["images"]]
    expected = torch.stack([loaded.preprocess(setup.images[i]) for i in chosen])
    assert torch.equal(seen[0].cpu(), expected)
    assert record["decode_shorter_side"] == 43
    for image, i in zip(record["images"], chosen, strict=True):
        assert image["predicted"] == names[i] == image["recorded_predicted"]
        assert image["confidence"] == pytest.approx(result.probabilities[i].max(), abs=1e-5)


def test_the_shipped_file_answers_like_its_run(setup, tmp_path) -> None:
    by_run = _predict_csv(setup, tmp_path)
    by_file = _predict_csv(setup, tmp_path, "--batch-size", "3", model=setup.root / "shipped.pt")
    assert by_file["predicted"].tolist() == by_run["predicted"].tolist()
    diff = (by_file.filter(like="p_") - by_run.filter(like="p_")).abs().to_numpy()
    assert diff.max() < 5e-3  # fp16 convolutions: the real model moves by up to 0.003


# --- the decision rule -------------------------------------------------------------------------
TIE = np.array([[0.3, 0.3, 0.0, 0.0, 0.4, 0.0]])
"""Band and segmented neutrophil 0.3 each, monocyte 0.4: the top class is monocyte, the
neutrophil mass (0.6) is larger."""


def test_sum_then_argmax_differs_from_argmax_then_relabel() -> None:
    mapping = map_to_space(PAPER_CLASSES, "pbc", label_space("zheng2018"))
    assert mapping.columns == ZHENG
    merged, answer = decide(TIE, PAPER_CLASSES, mapping)
    assert mapping.columns[answer[0]] == "neutrophil" and merged[0, 0] == pytest.approx(0.6)
    relabelled = mapping.source_to_target[PAPER_CLASSES[TIE.argmax(1)[0]]]
    assert relabelled == "monocyte"  # the rule predict once used
    five = map_to_space(PAPER_CLASSES, "pbc", label_space("five-class"))
    assert five.columns[decide(TIE, PAPER_CLASSES, five)[1][0]] == "neutrophil"


def test_the_identity_mapping_is_the_plain_argmax() -> None:
    probs = np.random.default_rng(0).dirichlet(np.ones(6), size=50)
    merged, answers = decide(probs, PAPER_CLASSES, identity_map(PAPER_CLASSES))
    assert (answers == probs.argmax(1)).all() and np.allclose(merged, probs)


def test_predict_answers_in_the_label_space_by_the_rule(setup, monkeypatch) -> None:
    def fixed(loaded, images, *args, **kwargs):
        return Probabilities([0], np.zeros((1, 6)), TIE.astype(np.float32), [])

    monkeypatch.setattr(predict, "class_probabilities", fixed)
    loaded = load_model(setup.run, "cpu")
    own = predict_images(loaded, setup.images[:1]).table
    assert own["predicted"].tolist() == ["monocyte"]
    zheng = predict_images(loaded, setup.images[:1], label_space="zheng2018").table
    assert zheng["predicted"].tolist() == ["neutrophil"]
    assert zheng["confidence"].tolist() == [pytest.approx(0.6)]
    assert zheng["p_band_neutrophil"].tolist() == [pytest.approx(0.3)]  # the model's own


def test_an_unknown_label_space_is_a_usage_error(setup, capsys) -> None:
    code = main(["predict", str(setup.images[0]), "--label-space", "zhengg"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown label space 'zhengg'" in err and "zheng2018" in err


# --- errors name the file ----------------------------------------------------------------------
def test_a_missing_or_corrupt_model_file_is_named(setup, tmp_path, capsys) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(RunFolderError, match=r"no run folder, checkpoint or shipped .*nope\.pt"):
        load_model(missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a model at all")
    with pytest.raises(RunFolderError, match=r"cannot read checkpoint .*corrupt\.pt"):
        load_model(corrupt)
    cut = tmp_path / "cut.pt"
    data = (setup.root / "shipped.pt").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFolderError, match=r"cut\.pt"):
        load_model(cut)
    code = main(["predict", str(setup.images[0]), "--checkpoint", str(corrupt)])
    assert code == 2 and str(corrupt) in capsys.readouterr().err


def test_a_missing_default_model_is_named(monkeypatch, tmp_path) -> None:
    from wbcrepro.inference import shipped

    monkeypatch.setattr(shipped, "DEFAULT_MODEL", tmp_path / "assets" / "pbc6.pt")
    with pytest.raises(ShippedModelError, match=r"assets/pbc6\.pt.*wbcrepro export-model"):
        load_model()


def test_an_unreadable_image_is_named_unless_skipping(setup, tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    loaded = load_model(setup.run, "cpu")
    with pytest.raises(ImageReadError, match=r"bad\.jpg"):
        class_probabilities(loaded, [setup.images[0], bad])
    result = class_probabilities(loaded, [setup.images[0], bad], skip_unreadable=True)
    assert result.indices == [0] and result.skipped[0][0] == 1


# --- the real data -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")
@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the shipped model is not exported")
def test_predict_on_zheng_2018_scores_what_cross_domain_evaluation_scores(tmp_path) -> None:
    """The issue's acceptance check: ``wbcrepro predict`` of the shipped model on Zheng 2018
    Dataset 1 with ``--label-space zheng2018`` has the cross-domain accuracy of the same file."""
    record = crossdomain.evaluate_cross_domain(
        DEFAULT_MODEL, "zheng2018", tmp_path / "xd.json", data_root=SHARED_DATA
    )
    truth = pd.read_csv(crossdomain.predictions_csv_path(tmp_path / "xd.json"))
    folder = SHARED_DATA / "segmentation_WBC" / "Dataset 1"
    out = tmp_path / "zheng.csv"
    args = ["predict", str(folder), "--extensions", ".bmp", "--label-space", "zheng2018"]
    assert main([*args, "--csv", str(out), "--batch-size", "64"]) == 0
    predicted = pd.read_csv(out)
    by_name = dict(zip(truth["path"].map(lambda p: Path(p).name), truth["label"], strict=True))
    labels = predicted["path"].map(lambda p: by_name[Path(p).name])
    assert len(predicted) == record["n_images"] == 300
    accuracy = float((predicted["predicted"] == labels).mean())
    assert accuracy == record["metrics"]["accuracy"]
    answers = dict(zip(truth["path"].map(lambda p: Path(p).name), truth["predicted"], strict=True))
    assert predicted["predicted"].tolist() == [answers[Path(p).name] for p in predicted["path"]]


def test_a_cross_domain_page_of_the_shipped_file_scores_what_predict_answers(
    setup, tmp_path, monkeypatch
) -> None:
    """``source_run: wbcrepro/assets/pbc6.pt`` in a profile: the page evaluates the file itself
    (its sha256 decides when the record is current), and ``predict --label-space`` agrees."""
    shipped = setup.root / "shipped.pt"
    assert crossdomain.source_path("book/runs/cpu", str(shipped)) == shipped
    assert crossdomain.source_path("book/runs/cpu", "main-pbc") == Path("book/runs/cpu/main-pbc")
    out = tmp_path / "page" / "crossdomain.json"
    record = crossdomain.evaluate_or_load(shipped, "zheng2018", out, data_root=setup.data)
    assert record["source"]["kind"] == "shipped"
    calls = []
    monkeypatch.setattr(crossdomain, "evaluate_cross_domain", lambda *a, **k: calls.append(a))
    assert crossdomain.evaluate_or_load(shipped, "zheng2018", out, data_root=setup.data) == record
    assert calls == []  # current for the same file: read back, not evaluated again
    monkeypatch.setenv("WBCREPRO_DATA", str(setup.data))
    answers = _predict_csv(setup, tmp_path, "--label-space", "zheng2018", model=shipped)
    page = pd.read_csv(out.parent / record["predictions_csv"])
    by_name = dict(zip(page["path"].map(lambda p: Path(p).name), page["predicted"], strict=True))
    assert [by_name[Path(p).name] for p in answers["path"]] == answers["predicted"].tolist()
