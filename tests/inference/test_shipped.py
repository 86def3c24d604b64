"""The shipped model: export of a run's selected model into one small file, and loading it back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO, TINY, local_paths
from tests.fixtures.model_run_folders import CODE_HASH, TEST_REPORT, cell_image, make_run_folder
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.cli import main
from wbcrepro.config import TrainConfig
from wbcrepro.data.transforms import build_eval_transform, input_stats
from wbcrepro.inference import shipped
from wbcrepro.inference.loading import load_model
from wbcrepro.inference.run_model import read_run_model
from wbcrepro.inference.shipped import (
    MAX_BYTES,
    ShippedModelError,
    describe_transform,
    export_model,
    read_shipped,
    rebuild_transform,
)
from wbcrepro.runfolder import RunFolderError


@pytest.fixture(scope="module")
def lite0_run(tmp_path_factory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("runs") / "lite0-run", "efficientnet_lite0")


@pytest.fixture(scope="module")
def exported(lite0_run, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ship") / "model.pt"
    return out, export_model(lite0_run, out)


def _probabilities(model: torch.nn.Module, transform, images) -> np.ndarray:
    batch = torch.stack([transform(image) for image in images])
    with torch.inference_mode():
        return model(batch).softmax(1).numpy()


def test_export_writes_one_file_under_the_limit_with_its_metadata(lite0_run, exported) -> None:
    out, meta = exported
    # the weights, and their metadata as JSON for pages that do not import torch; no temporary
    assert sorted(out.parent.iterdir()) == [out.with_suffix(".json"), out]
    assert json.loads(out.with_suffix(".json").read_text())["bytes"] == meta["bytes"]
    assert out.stat().st_size == meta["bytes"] <= MAX_BYTES
    content = torch.load(out, map_location="cpu", weights_only=True)  # plain data only
    assert content["metadata"] == {k: v for k, v in meta.items() if k != "bytes"}
    assert meta["format"] == "wbcrepro-shipped-model"
    assert meta["format_version"] == shipped.FORMAT_VERSION == 3
    assert meta["arch"] == "efficientnet_lite0"
    assert meta["implementation"] == "efficientnet_lite_pytorch"
    assert meta["class_names"] == list(PAPER_CLASSES)
    assert meta["num_classes"] == 6
    assert meta["img_size"] == TINY["img_size"] and meta["pre_crop_size"] == 37
    assert meta["decode_shorter_side"] == 43  # ceil(37 * 1.15): the run's image cache
    assert "summed" in meta["decision_rule"]
    assert meta["weights_precision"].startswith("float16 convolution weights")
    mean, std = input_stats("efficientnet_lite0")
    assert meta["normalisation"] == {"mean": list(mean), "std": list(std)}
    assert [s["op"] for s in meta["eval_transform"]] == [
        "Resize",
        "CenterCrop",
        "ToImage",
        "ToDtype",
        "Normalize",
    ]
    source = meta["source"]
    assert source["run_id"] == "lite0-run" and source["model_file"] == "best.pt"
    assert source["epoch"] == 2 and source["dataset"] == "synthetic" and source["synthetic"]
    best_sha = hashlib.sha256((lite0_run / "best.pt").read_bytes()).hexdigest()
    assert source["model_sha256"] == best_sha
    assert "data_root" not in source["params"] and source["params"]["arch"] == "efficientnet_lite0"
    assert meta["test_metrics"] == TEST_REPORT
    assert meta["training_code_hash"] == CODE_HASH
    assert dt.datetime.fromisoformat(meta["exported"]).date() == dt.datetime.now(dt.UTC).date()


def test_weights_are_fp16_large_convolutions_and_fp32_batchnorm_head_and_small_tensors(
    exported,
) -> None:
    content = torch.load(exported[0], map_location="cpu", weights_only=True)
    dtypes = {name: t.dtype for name, t in content["state_dict"].items()}
    assert dtypes["_conv_head.weight"] == torch.float16  # 409,600 weights
    assert dtypes["_conv_stem.weight"] == torch.float32  # 864: small tensors stay exact
    assert dtypes["_fc.weight"] == dtypes["_fc.bias"] == torch.float32
    assert dtypes["_bn1.weight"] == dtypes["_bn1.bias"] == torch.float32
    assert dtypes["_bn1.running_var"] == torch.float32
    assert dtypes["_bn1.num_batches_tracked"] == torch.int64
    halves = sum(t.numel() for t in content["state_dict"].values() if t.dtype == torch.float16)
    total = sum(t.numel() for t in content["state_dict"].values() if t.is_floating_point())
    assert halves / total > 0.95  # the bulk stays fp16: the file stays small


def test_shipped_model_predicts_like_the_fp32_run_model(lite0_run, exported) -> None:
    images = [cell_image(seed) for seed in range(16)]
    run = read_run_model(lite0_run)
    reference = _probabilities(run.build("cpu"), build_eval_transform(run.cfg), images)
    assert len(set(reference.argmax(1))) >= 3, "the fixture must tell images apart"
    loaded = load_model(exported[0], device="cpu")
    assert not loaded.model.training and loaded.provenance["kind"] == "shipped"
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    assert loaded.class_names == run.class_names and loaded.shipped["arch"] == "efficientnet_lite0"
    probabilities = _probabilities(loaded.model, loaded.transform, images)
    np.testing.assert_allclose(probabilities, reference, atol=1e-2)
    assert (probabilities.argmax(1) == reference.argmax(1)).all()


def test_export_takes_best_pt_over_checkpoint_pt(lite0_run, exported) -> None:
    content = torch.load(exported[0], map_location="cpu", weights_only=True)["state_dict"]
    best = torch.load(lite0_run / "best.pt", weights_only=False)["model"]
    last = torch.load(lite0_run / "checkpoint.pt", weights_only=False)["model"]
    name = "_fc.weight"
    assert torch.allclose(content[name].float(), best[name], atol=1e-3)
    assert not torch.allclose(content[name].float(), last[name], atol=1e-3)


def test_export_if_changed_skips_the_same_weights(lite0_run, tmp_path) -> None:
    out = tmp_path / "ship.pt"
    meta, now = shipped.export_if_changed(lite0_run, out)
    assert now and out.is_file()
    again, now = shipped.export_if_changed(lite0_run, out)
    assert not now and again["source"]["model_sha256"] == meta["source"]["model_sha256"]
    old = json.loads(out.with_suffix(".json").read_text())
    out.with_suffix(".json").write_text(json.dumps({**old, "format_version": 1}))
    _, now = shipped.export_if_changed(lite0_run, out)  # same weights, an older format
    assert now and json.loads(out.with_suffix(".json").read_text())["format_version"] == 3


def test_a_format_1_file_is_still_read_with_the_same_preprocessing(exported, tmp_path) -> None:
    content = torch.load(exported[0], map_location="cpu", weights_only=True)
    meta = {k: v for k, v in content["metadata"].items() if k != "decode_shorter_side"}
    torch.save({**content, "metadata": {**meta, "format_version": 1}}, tmp_path / "v1.pt")
    old, new = load_model(tmp_path / "v1.pt", "cpu"), load_model(exported[0], "cpu")
    assert old.decode_side == new.decode_side == 43
    two = {k: v for k, v in content["metadata"].items() if k != "unsure"}
    torch.save({**content, "metadata": {**two, "format_version": 2}}, tmp_path / "v2.pt")
    assert load_model(tmp_path / "v2.pt", "cpu").unsure is None  # format 2: no unsure rule
    torch.save({**content, "metadata": {**meta, "format_version": 9}}, tmp_path / "v9.pt")
    with pytest.raises(ShippedModelError, match=r"v9\.pt has shipped-model format version 9"):
        load_model(tmp_path / "v9.pt")


def test_a_clone_without_weights_keeps_the_shipped_file_of_its_run(lite0_run, tmp_path) -> None:
    out = tmp_path / "ship.pt"
    meta, _ = shipped.export_if_changed(lite0_run, out)
    clone = tmp_path / lite0_run.name
    clone.mkdir()
    for name in ("params.json", "results.json"):
        (clone / name).write_bytes((lite0_run / name).read_bytes())
    kept, now = shipped.export_if_changed(clone, out)
    assert not now and kept == meta
    other = tmp_path / "another-run"
    clone.rename(other)
    with pytest.raises(RunFolderError, match=r"needs the weights of .*another-run"):
        shipped.export_if_changed(other, out)


def test_export_without_best_pt_takes_the_checkpoint(tmp_path) -> None:
    run = make_run_folder(tmp_path / "run", best=False)
    meta = export_model(run, tmp_path / "out" / "m.pt")
    assert meta["source"]["model_file"] == "checkpoint.pt" and meta["source"]["epoch"] == 3
    assert meta["arch"] == "efficientnet_b0" and meta["bytes"] <= MAX_BYTES


def test_class_names_come_from_results_json_when_best_pt_has_none(tmp_path) -> None:
    names = ["a", "b", "c", "d", "e", "f"]
    run = make_run_folder(tmp_path / "run")
    results = json.loads((run / "results.json").read_text())
    results["dataset"]["class_names"] = names
    (run / "results.json").write_text(json.dumps(results))
    assert read_run_model(run).class_names == tuple(names)  # results.json before checkpoint.pt
    del results["dataset"]
    (run / "results.json").write_text(json.dumps(results))
    assert read_run_model(run).class_names == PAPER_CLASSES  # from checkpoint.pt
    (run / "checkpoint.pt").unlink()  # best.pt alone holds no class names
    with pytest.raises(RunFolderError, match="no class names"):
        read_run_model(run)


def test_a_head_that_does_not_fit_the_class_names_is_an_error(tmp_path) -> None:
    run = make_run_folder(tmp_path / "run")
    results = json.loads((run / "results.json").read_text())
    results["dataset"]["class_names"] = ["a", "b"]
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(RunFolderError, match="head has 6 outputs but the run names 2 classes"):
        read_run_model(run)


def test_a_folder_without_a_model_is_an_error(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="holds no model"):
        export_model(tmp_path / "empty", tmp_path / "m.pt")
    with pytest.raises(RunFolderError, match="no run folder or checkpoint"):
        export_model(tmp_path / "nowhere", tmp_path / "m.pt")


def test_too_large_a_model_raises_and_writes_nothing(lite0_run, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shipped, "MAX_BYTES", 1_000_000)
    out = tmp_path / "m.pt"
    with pytest.raises(ShippedModelError, match=r"would be 7\.\d MB, over the 1 MB limit"):
        export_model(lite0_run, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_default_model_says_which_file_and_how_to_make_it(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "models" / "pbc6.pt"
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", missing)
    with pytest.raises(ShippedModelError) as err:
        load_model()
    assert str(missing) in str(err.value)
    assert "wbcrepro export-model RUN_FOLDER" in str(err.value)


def test_a_checkpoint_is_not_a_shipped_model(lite0_run) -> None:
    with pytest.raises(ShippedModelError, match="not a wbcrepro shipped model"):
        read_shipped(lite0_run / "best.pt")
    assert load_model(lite0_run / "best.pt", "cpu").provenance["kind"] == "checkpoint"


def test_default_model_is_package_data_of_the_wheel() -> None:
    assert shipped.DEFAULT_MODEL == REPO / "wbcrepro" / "assets" / "pbc6.pt"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["wbcrepro"]
    assert any(shipped.DEFAULT_MODEL.relative_to(REPO / "wbcrepro").match(p) for p in patterns)


@pytest.mark.parametrize("arch", ["efficientnet_b0", "efficientnet_lite0"])
@pytest.mark.parametrize("size", [(48, 48), (90, 60)])
def test_the_recorded_transform_rebuilds_the_evaluation_pipeline(arch, size) -> None:
    cfg = TrainConfig.from_flat({**TINY, "arch": arch, "img_size": 40})
    original = build_eval_transform(cfg)
    steps = describe_transform(original)
    assert json.loads(json.dumps(steps)) == steps
    image = Image.fromarray(np.asarray(cell_image(3, 96))[: size[1], : size[0]])
    assert torch.equal(rebuild_transform(steps)(image), original(image))


def test_a_random_step_cannot_be_recorded() -> None:
    from torchvision.transforms import v2

    with pytest.raises(ShippedModelError, match="cannot record"):
        describe_transform(v2.Compose([v2.RandomHorizontalFlip()]))


def test_cli_export_model(lite0_run, tmp_path, capsys) -> None:
    out = tmp_path / "cli.pt"
    assert main(["export-model", str(lite0_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "efficientnet_lite0" in printed and "best.pt" in printed
    assert load_model(out, "cpu").provenance["run_id"] == "lite0-run"
    assert main(["export-model", str(tmp_path / "nowhere")]) == 2
    assert "is neither a run folder nor an arm" in capsys.readouterr().err


@pytest.mark.slow
def test_export_of_a_trained_run_reproduces_its_test_predictions(tiny, tmp_path) -> None:
    """A real run folder written by fit(): the shipped file predicts its test images as the run
    did (the run evaluated the last epoch's checkpoint.pt)."""
    import pandas as pd

    from wbcrepro.inference.predict import predict_images
    from wbcrepro.training.fit import fit

    folder = tmp_path / "run"
    fit(TrainConfig.from_flat(tiny), folder, progress=False)
    meta = export_model(folder, tmp_path / "m.pt")
    assert meta["source"]["model_file"] in ("best.pt", "checkpoint.pt")
    expected = pd.read_csv(folder / "predictions_test.csv")
    result = predict_images(load_model(tmp_path / "m.pt", "cpu"), local_paths(expected["path"]))
    assert result.skipped.empty
    # fp16 weights move a probability now and then on a tiny, barely trained model (one image of
    # 12 by 0.28 once); the class must not move, and the probabilities must agree on the whole.
    ours, theirs = result.table.filter(like="p_").to_numpy(), expected.filter(like="p_").to_numpy()
    assert (ours.argmax(1) == theirs.argmax(1)).all()
    assert np.abs(ours - theirs).mean() < 1e-2
