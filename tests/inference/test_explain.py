"""wbcrepro.inference.explain: Grad-CAM panels of a run's selected model, on run folders built
without training (:mod:`tests.fixtures.model_run_folders`: random networks whose BatchNorm
statistics tell images apart) at 64 px, where the last block's feature map is 2x2."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import REPO, TINY
from tests.fixtures.model_run_folders import cell_image, make_run_folder, spread_model
from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.config import TrainConfig
from wbcrepro.fileio import read_json, write_json
from wbcrepro.inference import explain
from wbcrepro.runfolder import RunFolderError

SIZE = 64


# --- choosing the images (no model) --------------------------------------------------------------
def _table(rows: list[tuple[str, str, str, float, bool]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["path", "label", "predicted", "confidence", "exists"])
    table["correct"] = table["label"] == table["predicted"]
    return table


def test_choose_images_takes_correct_ones_then_the_surest_mistake_per_class():
    table = _table(
        [
            ("a1", "a", "a", 0.9, True),
            ("a2", "a", "a", 0.8, True),
            ("a3", "a", "a", 0.7, True),
            ("a4", "a", "b", 0.6, True),
            ("a5", "a", "b", 0.95, False),  # the surest mistake, but its file is gone
            ("a6", "a", "c", 0.7, True),
            ("b1", "b", "a", 0.5, True),  # b: only mistakes
            ("b2", "b", "c", 0.6, True),
            ("c1", "c", "c", 0.5, True),  # c: only one image, right
        ]
    )
    chosen = explain.choose_images(table, ["a", "b", "c", "d"], per_class=3, seed=0)
    a = chosen[chosen["label"] == "a"]
    assert list(a["correct"]) == [True, True, False] and a["path"].iloc[-1] == "a6"
    assert set(a["path"].iloc[:2]) < {"a1", "a2", "a3"}
    assert list(chosen[chosen["label"] == "b"]["path"]) == ["b2", "b1"]
    assert list(chosen[chosen["label"] == "c"]["path"]) == ["c1"]
    again = explain.choose_images(table, ["a", "b", "c", "d"], per_class=3, seed=0)
    assert list(again["path"]) == list(chosen["path"])  # deterministic
    seeds = {
        tuple(explain.choose_images(table, ["a"], per_class=3, seed=s)["path"]) for s in range(20)
    }
    assert len(seeds) > 1  # the seed picks among the correct ones


def test_gradcam_off_computes_and_writes_nothing(tmp_path, capsys):
    assert explain.gradcam_panel(tmp_path / "no-run", per_class=0) == {"requested": False}
    assert "not requested" in capsys.readouterr().out
    assert not (tmp_path / "no-run").exists()


@pytest.mark.slow
def test_gradcam_off_imports_neither_torch_nor_grad_cam():
    code = (
        "import sys; from wbcrepro.inference import explain; "
        "explain.gradcam_panel('x', per_class=0); "
        "print([m for m in ('torch', 'pytorch_grad_cam') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- the panel -----------------------------------------------------------------------------------
def _gradcam_run(root: Path, arch: str = "efficientnet_b0", per_class: int = 3) -> Path:
    """A run folder (best.pt, checkpoint.pt) at 64 px whose predictions_test.csv names real image
    files: per class ``per_class - 1`` predicted right, one wrong; half the paths relative to the
    run's data root."""
    folder = make_run_folder(root / "run", arch=arch)
    data = root / "data"
    params = read_json(folder / "params.json")
    write_json(folder / "params.json", {**params, "img_size": SIZE, "data_root": str(data)})
    rows = []
    for c, label in enumerate(PAPER_CLASSES):
        for k in range(per_class):
            relative = Path(label) / f"{k}.png"
            (data / label).mkdir(parents=True, exist_ok=True)
            cell_image(100 * c + k, 80).save(data / relative)
            wrong = k == per_class - 1
            predicted = PAPER_CLASSES[(c + 1) % 6] if wrong else label
            probs = {f"p_{n}": 0.75 if n == predicted else 0.05 for n in PAPER_CLASSES}
            path = str(relative) if k % 2 else str(data / relative)
            rows.append({"path": path, "label": label, "predicted": predicted, **probs})
    pd.DataFrame(rows).to_csv(folder / "predictions_test.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def panel(tmp_path_factory) -> tuple[Path, dict]:
    folder = _gradcam_run(tmp_path_factory.mktemp("gradcam"))
    return folder, explain.gradcam_panel(folder, per_class=2)


@pytest.mark.slow
def test_gradcam_panel_writes_one_png_and_a_record_naming_the_layer(panel):
    from wbcrepro.inference.run_model import file_sha256

    folder, record = panel
    assert read_json(folder / "gradcam.json") == record
    assert record["target_layer"] == "features.8"  # torchvision: the last conv block
    assert record["feature_map"] == [SIZE // 32, SIZE // 32]
    assert record["model_file"] == "best.pt" and record["epoch"] == 2
    assert record["model_sha256"] == file_sha256(folder / "best.pt")
    assert record["package"] == "grad-cam 1.5.7"
    assert record["n_images"] == len(record["images"]) == 12  # 2 per class, 6 classes
    assert [i["label"] for i in record["images"]] == [c for c in PAPER_CLASSES for _ in (0, 1)]
    recorded_right = [i["recorded_predicted"] == i["label"] for i in record["images"]]
    assert recorded_right == [True, False] * 6  # per class: a correct one, then the mistake
    for image in record["images"]:
        assert image["cam_std"] > 0.05 and image["cam_max"] > image["cam_min"]  # not constant
        assert 0 < image["confidence"] <= 1 and image["predicted"] in PAPER_CLASSES
    png = (folder / "gradcam.png").read_bytes()
    assert 20_000 < len(png) < 400_000
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        assert 400 < img.width < 1200 and 500 < img.height < 1400  # 4 tiles wide, 6 rows


@pytest.mark.slow
def test_a_current_panel_is_kept_and_a_changed_model_recomputes_it(panel, monkeypatch, capsys):
    import torch

    folder, record = panel
    png = (folder / "gradcam.png").read_bytes()

    def recompute(*args):
        raise AssertionError("recomputed")

    monkeypatch.setattr(explain, "compute_cams", recompute)
    assert explain.gradcam_panel(folder, per_class=2) == record
    assert "is current" in capsys.readouterr().out
    assert (folder / "gradcam.png").read_bytes() == png
    with pytest.raises(AssertionError, match="recomputed"):
        explain.gradcam_panel(folder, per_class=1)  # other settings
    with pytest.raises(AssertionError, match="recomputed"):
        explain.gradcam_panel(folder, per_class=2, seed=1)
    best = torch.load(folder / "best.pt", weights_only=False)
    name = next(k for k, v in best["model"].items() if v.is_floating_point())
    best["model"][name] = best["model"][name] + 0.01  # other weights of the same epoch
    torch.save(best, folder / "best.pt")
    with pytest.raises(AssertionError, match="recomputed"):
        explain.gradcam_panel(folder, per_class=2)


@pytest.mark.slow
def test_a_clone_without_weights_keeps_the_committed_panel_or_says_to_retrain(
    panel, tmp_path, monkeypatch, capsys
):
    """Checkpoints are not committed: re-rendering a page on a clone must not need them."""
    import shutil

    source, record = panel
    clone = tmp_path / source.name
    shutil.copytree(source, clone)
    for name in ("best.pt", "checkpoint.pt"):
        (clone / name).unlink()
    monkeypatch.setattr(explain, "compute_cams", lambda *a: pytest.fail("computed"))
    assert explain.gradcam_panel(clone, per_class=2) == record
    out = capsys.readouterr().out
    assert "weights are not here" in out and record["model_sha256"][:12] in out
    with pytest.raises(RunFolderError, match=r"needs the weights of .*best\.pt"):
        explain.gradcam_panel(clone, per_class=1)  # another panel: cannot be made
    results = read_json(clone / "results.json")
    write_json(clone / "results.json", {**results, "selection": {"selected_epoch": 3}})
    with pytest.raises(RunFolderError, match="reproduce --only"):
        explain.gradcam_panel(clone, per_class=2)  # the panel is of another epoch's model


@pytest.mark.slow
def test_without_usable_predictions_gradcam_fails_naming_the_file(tmp_path):
    folder = _gradcam_run(tmp_path)
    (folder / "predictions_test.csv").unlink()
    with pytest.raises(RunFolderError, match=r"predictions_test\.csv"):
        explain.gradcam_panel(folder, per_class=2)
    assert not (folder / "gradcam.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "impl", "layer"),
    [
        ("efficientnet_lite0", "torchvision", "_bn1"),
        ("efficientnet_b0", "efficientnet_pytorch", "_bn1"),
        ("efficientnet_b0", "torchvision", "features.8"),
    ],
)
def test_the_last_conv_block_gives_a_varying_cam(arch, impl, layer):
    import torch

    from wbcrepro.data.transforms import build_eval_transform

    cfg = TrainConfig.from_flat({**TINY, "arch": arch, "impl": impl, "img_size": SIZE})
    model = spread_model(cfg, 6, seed=3)
    name, module = explain.target_layer(model, cfg.arch, cfg.impl)
    assert name == layer and isinstance(module, torch.nn.Module)
    transform = build_eval_transform(cfg)
    batch = torch.stack([transform(cell_image(s, 80)) for s in range(3)])
    cams, probs, fmap = explain.compute_cams(model, module, batch)
    assert cams.shape == (3, SIZE, SIZE) and fmap == (2, 2)
    assert probs.shape == (3, 6) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert cams.min() >= 0 and cams.max() <= 1
    assert all(cam.std() > 0.05 for cam in cams)  # the map varies over the image
