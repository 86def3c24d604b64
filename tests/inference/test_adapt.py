"""``wbcrepro predict --adapt``: BatchNorm statistics from the user's images (AdaBN), refused
below the minimum number of readable images, weights never touched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.fixtures.model_run_folders import DS_STORE, cell_image, make_run_folder
from wbcrepro.cli import main
from wbcrepro.inference.adapt import MIN_ADAPT_IMAGES, AdaptError, adapt_batchnorm
from wbcrepro.inference.loading import load_model
from wbcrepro.inference.shipped import export_model
from wbcrepro.model.batchnorm import bn_layers


@pytest.fixture(scope="module")
def shipped_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adapt-model")
    run = make_run_folder(root / "run", "efficientnet_lite0")
    export_model(run, root / "shipped.pt")
    return root / "shipped.pt"


def _folder(root: Path, good: int, bad: int = 0) -> Path:
    """``good`` readable cell images and ``bad`` unreadable ones (a renamed .DS_Store)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        cell_image(100 + i).save(root / f"cell{i:03d}.png")
    for i in range(bad):
        (root / f"broken{i}.jpg").write_bytes(DS_STORE)
    return root


def _first_bn_input_mean(loaded, paths) -> torch.Tensor:
    """Per-channel mean of the first BatchNorm layer's input over all images (eval mode)."""
    first = bn_layers(loaded.model)[0]
    seen: list[torch.Tensor] = []
    hook = first.register_forward_pre_hook(lambda _, args: seen.append(args[0].mean((0, 2, 3))))
    with torch.inference_mode():
        for i in range(0, len(paths), 16):  # batches of 16: the mean of means is the mean
            batch = torch.stack([loaded.preprocess(p) for p in paths[i : i + 16]])
            loaded.logits(batch)
    hook.remove()
    return torch.stack(seen).mean(0)


def test_adapt_sets_the_statistics_to_the_images_and_leaves_the_weights(
    shipped_file, tmp_path
) -> None:
    paths = sorted(_folder(tmp_path / "lab", MIN_ADAPT_IMAGES, bad=1).iterdir())
    loaded = load_model(shipped_file)
    weights = {k: v.clone() for k, v in loaded.model.named_parameters()}
    before = bn_layers(loaded.model)[0].running_mean.clone()
    expected = _first_bn_input_mean(loaded, [p for p in paths if p.suffix == ".png"])
    done = adapt_batchnorm(loaded, paths, batch_size=16)
    assert done.images == MIN_ADAPT_IMAGES and done.layers == len(bn_layers(loaded.model))
    assert [error for _, error in done.skipped] and len(done.skipped) == 1
    after = bn_layers(loaded.model)[0].running_mean
    assert not torch.allclose(after, before)
    assert torch.allclose(after, expected, atol=1e-5)
    assert all(torch.equal(weights[k], v) for k, v in loaded.model.named_parameters())
    assert not loaded.model.training  # ready to predict


def test_too_few_readable_images_are_refused_naming_the_number_and_change_nothing(
    shipped_file, tmp_path
) -> None:
    paths = sorted(_folder(tmp_path / "few", MIN_ADAPT_IMAGES - 1, bad=2).iterdir())
    loaded = load_model(shipped_file)
    state = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    with pytest.raises(AdaptError, match=rf"at least {MIN_ADAPT_IMAGES} readable.*got 31 \(2 more"):
        adapt_batchnorm(loaded, paths)
    assert all(torch.equal(state[k], v) for k, v in loaded.model.state_dict().items())


def test_cli_predict_adapt_writes_predictions_and_refuses_a_small_batch(
    shipped_file, tmp_path, capsys
) -> None:
    folder = _folder(tmp_path / "lab", MIN_ADAPT_IMAGES)
    plain, adapted = tmp_path / "plain.csv", tmp_path / "adapted.csv"
    assert (
        main(["predict", str(folder), "--checkpoint", str(shipped_file), "--csv", str(plain)]) == 0
    )
    args = ["predict", "--adapt", str(folder), "--checkpoint", str(shipped_file)]
    assert main([*args, "--csv", str(adapted)]) == 0
    err = capsys.readouterr().err
    assert f"recomputed over {MIN_ADAPT_IMAGES} image(s)" in err
    a, b = pd.read_csv(plain), pd.read_csv(adapted)
    assert a["path"].tolist() == b["path"].tolist()
    assert not a.filter(like="p_").equals(b.filter(like="p_"))  # the statistics moved the answers
    small = _folder(tmp_path / "small", 5)
    assert main(["predict", "--adapt", str(small), "--checkpoint", str(shipped_file)]) == 2
    assert f"at least {MIN_ADAPT_IMAGES} readable images" in capsys.readouterr().err
