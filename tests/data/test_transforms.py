"""Tests for the augmentation pipelines (wbcrepro.data.transforms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from wbcrepro.config import ARCHS, TrainConfig
from wbcrepro.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE_MEAN,
    LITE_STD,
    build_eval_transform,
    build_train_transform,
    eval_transform,
    input_stats,
    paper_train_transform,
    resolve_eval_geometry,
)

RANDOM_TYPES = (
    v2.RandomResizedCrop,
    v2.RandomRotation,
    v2.RandomHorizontalFlip,
    v2.RandomVerticalFlip,
    v2.ColorJitter,
)


def _types(compose: v2.Compose) -> list[type]:
    return [type(t) for t in compose.transforms]


def _of_type(compose: v2.Compose, cls: type) -> list:
    return [t for t in compose.transforms if type(t) is cls]


def _pil_image(width: int = 300, height: int = 260, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _uint8_chw(width: int = 300, height: int = 260, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (3, height, width), dtype=np.uint8))


# ---------------------------------------------------------------------------------------------
# The paper's pipeline
# ---------------------------------------------------------------------------------------------


def test_paper_pipeline_order() -> None:
    assert _types(paper_train_transform()) == [
        v2.RandomResizedCrop,
        v2.RandomRotation,
        v2.RandomHorizontalFlip,
        v2.RandomVerticalFlip,
        v2.CenterCrop,
        v2.ColorJitter,
        v2.ToImage,
        v2.ToDtype,
        v2.Normalize,
    ]


def test_paper_pipeline_arguments() -> None:
    t = paper_train_transform().transforms
    rrc, rot, hflip, vflip, crop, jitter, _, todtype, norm = t
    assert tuple(rrc.size) == (256, 256)
    assert tuple(rrc.scale) == pytest.approx((0.8, 1.0))
    assert list(rot.degrees) == [-45.0, 45.0]
    assert hflip.p == 0.5
    assert vflip.p == 0.5
    assert tuple(crop.size) == (224, 224)
    assert tuple(jitter.brightness) == pytest.approx((0.0, 2.0))
    assert jitter.contrast is None and jitter.saturation is None and jitter.hue is None
    assert todtype.dtype == torch.float32 and todtype.scale is True
    assert list(norm.mean) == pytest.approx(IMAGENET_MEAN)
    assert list(norm.std) == pytest.approx(IMAGENET_STD)


def test_build_train_transform_default_is_paper_pipeline() -> None:
    built = build_train_transform(TrainConfig())
    ref = paper_train_transform()
    assert _types(built) == _types(ref)
    for a, b in zip(built.transforms, ref.transforms, strict=True):
        assert repr(a) == repr(b)


def test_imagenet_constants() -> None:
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("make_input", [_pil_image, _uint8_chw], ids=["pil", "uint8_tensor"])
@pytest.mark.parametrize("which", ["train", "eval"])
def test_output_shape_and_dtype(make_input, which: str) -> None:
    cfg = TrainConfig()
    transform = build_train_transform(cfg) if which == "train" else build_eval_transform(cfg)
    torch.manual_seed(0)
    out = transform(make_input())
    assert isinstance(out, torch.Tensor)
    assert out.shape == (3, 224, 224)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_small_img_size_output_shape() -> None:
    cfg = TrainConfig(img_size=64)
    torch.manual_seed(0)
    assert build_train_transform(cfg)(_uint8_chw(90, 80)).shape == (3, 64, 64)
    assert build_eval_transform(cfg)(_uint8_chw(90, 80)).shape == (3, 64, 64)
    rrc = _of_type(build_train_transform(cfg), v2.RandomResizedCrop)[0]
    assert tuple(rrc.size) == (73, 73)


def test_normalisation_values_on_uniform_image() -> None:
    """A uniform grey image comes out as (v/255 - mean) / std per channel, exactly."""
    value = 200
    img = torch.full((3, 300, 300), value, dtype=torch.uint8)
    out = build_eval_transform(TrainConfig())(img)
    for c in range(3):
        expected = (value / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert out[c].mean().item() == pytest.approx(expected, abs=1e-5)
        assert out[c].std().item() == pytest.approx(0.0, abs=1e-5)


def test_pil_and_tensor_inputs_agree_in_eval() -> None:
    pil = _pil_image()
    tensor = torch.from_numpy(np.array(pil)).permute(2, 0, 1).contiguous()
    transform = build_eval_transform(TrainConfig())
    # PIL resamples in uint8, tensors in float: they may differ by a grey level or two, not more
    diff = (transform(pil) - transform(tensor)).abs()
    assert diff.max().item() < 3 / 255 / min(IMAGENET_STD)
    assert diff.mean().item() < 0.01


# ---------------------------------------------------------------------------------------------
# Evaluation pipeline
# ---------------------------------------------------------------------------------------------


def test_eval_transform_has_no_random_transforms() -> None:
    compose = build_eval_transform(TrainConfig())
    assert _types(compose) == [v2.Resize, v2.CenterCrop, v2.ToImage, v2.ToDtype, v2.Normalize]
    assert not any(isinstance(t, RANDOM_TYPES) for t in compose.transforms)
    resize = _of_type(compose, v2.Resize)[0]
    assert list(resize.size) == [256]
    assert tuple(_of_type(compose, v2.CenterCrop)[0].size) == (224, 224)


def test_eval_transform_is_deterministic() -> None:
    compose = eval_transform()
    img = _pil_image(seed=3)
    torch.manual_seed(1)
    first = compose(img)
    torch.manual_seed(2)
    second = compose(img)
    assert torch.equal(first, second)


# ---------------------------------------------------------------------------------------------
# Ablation variants
# ---------------------------------------------------------------------------------------------


def test_augment_none_equals_eval_pipeline() -> None:
    cfg = TrainConfig(augment="none")
    built, ref = build_train_transform(cfg), build_eval_transform(cfg)
    assert _types(built) == _types(ref)
    assert not any(isinstance(t, RANDOM_TYPES) for t in built.transforms)
    img = _pil_image()
    assert torch.equal(built(img), ref(img))


def test_augment_geometric_has_no_color_jitter() -> None:
    types = _types(build_train_transform(TrainConfig(augment="geometric")))
    assert v2.ColorJitter not in types
    assert types[:5] == [
        v2.RandomResizedCrop,
        v2.RandomRotation,
        v2.RandomHorizontalFlip,
        v2.RandomVerticalFlip,
        v2.CenterCrop,
    ]


def test_augment_color_has_only_color_jitter() -> None:
    compose = build_train_transform(TrainConfig(augment="color"))
    types = _types(compose)
    assert v2.ColorJitter in types
    assert v2.RandomRotation not in types
    assert v2.RandomResizedCrop not in types
    assert v2.RandomHorizontalFlip not in types and v2.RandomVerticalFlip not in types
    assert tuple(_of_type(compose, v2.ColorJitter)[0].brightness) == pytest.approx((0.0, 2.0))
    torch.manual_seed(0)
    assert compose(_uint8_chw()).shape == (3, 224, 224)


@pytest.mark.parametrize("augment", ["paper", "color"])
def test_milder_brightness_passed_through(augment: str) -> None:
    compose = build_train_transform(TrainConfig(augment=augment, brightness=0.3))
    (jitter,) = _of_type(compose, v2.ColorJitter)
    assert tuple(jitter.brightness) == pytest.approx((0.7, 1.3))


def test_zero_brightness_drops_jitter_in_paper_pipeline() -> None:
    types = _types(build_train_transform(TrainConfig(brightness=0.0)))
    assert v2.ColorJitter not in types


def test_config_knobs_reach_paper_pipeline() -> None:
    cfg = TrainConfig(
        rotation_degrees=10, hflip_p=0.0, vflip_p=1.0, rrc_scale_min=0.5, img_size=128
    )
    compose = build_train_transform(cfg)
    assert list(_of_type(compose, v2.RandomRotation)[0].degrees) == [-10.0, 10.0]
    assert _of_type(compose, v2.RandomHorizontalFlip)[0].p == 0.0
    assert _of_type(compose, v2.RandomVerticalFlip)[0].p == 1.0
    rrc = _of_type(compose, v2.RandomResizedCrop)[0]
    assert tuple(rrc.scale) == pytest.approx((0.5, 1.0))
    assert tuple(rrc.size) == (146, 146)  # round(128 * 256 / 224)
    assert tuple(_of_type(compose, v2.CenterCrop)[0].size) == (128, 128)


# ---------------------------------------------------------------------------------------------
# Normalisation statistics per backbone
# ---------------------------------------------------------------------------------------------


def test_lite0_uses_its_own_stats() -> None:
    mean, std = input_stats("efficientnet_lite0")
    assert mean == pytest.approx((127 / 255,) * 3)
    assert std == pytest.approx((128 / 255,) * 3)
    assert (mean, std) == (LITE_MEAN, LITE_STD)
    cfg = TrainConfig(arch="efficientnet_lite0")
    for compose in (build_train_transform(cfg), build_eval_transform(cfg)):
        norm = _of_type(compose, v2.Normalize)[0]
        assert list(norm.mean) == pytest.approx([127 / 255] * 3)
        assert list(norm.std) == pytest.approx([128 / 255] * 3)


def test_lite0_normalisation_maps_pixel_values() -> None:
    """(x - 127) / 128 on the 0..255 scale: 127 -> 0, 255 -> 1."""
    compose = build_eval_transform(TrainConfig(arch="efficientnet_lite0"))
    for value, expected in ((127, 0.0), (255, 1.0), (0, -127 / 128)):
        out = compose(torch.full((3, 260, 260), value, dtype=torch.uint8))
        assert out.mean().item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "efficientnet_lite0"])
def test_b_models_use_imagenet_stats(arch: str) -> None:
    assert input_stats(arch) == (IMAGENET_MEAN, IMAGENET_STD)
    norm = _of_type(build_train_transform(TrainConfig(arch=arch)), v2.Normalize)[0]
    assert list(norm.mean) == pytest.approx(IMAGENET_MEAN)
    assert list(norm.std) == pytest.approx(IMAGENET_STD)


# ---------------------------------------------------------------------------------------------
# Seeded randomness
# ---------------------------------------------------------------------------------------------


def test_train_transform_reproducible_with_seed() -> None:
    compose = build_train_transform(TrainConfig())
    img = _uint8_chw(seed=5)
    torch.manual_seed(123)
    first = compose(img)
    torch.manual_seed(123)
    second = compose(img)
    assert torch.equal(first, second)


def test_train_transform_differs_across_seeds() -> None:
    compose = build_train_transform(TrainConfig())
    img = _uint8_chw(seed=5)
    outs = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        outs.append(compose(img))
    assert not torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[1], outs[2])
    assert not torch.equal(outs[0], outs[2])


def test_train_transform_is_random_without_reseeding() -> None:
    compose = build_train_transform(TrainConfig())
    img = _pil_image(seed=7)
    torch.manual_seed(0)
    assert not torch.equal(compose(img), compose(img))


# ---------------------------------------------------------------------------------------------
# Evaluation geometry: keeping the cell of a whole 4:3 frame
# ---------------------------------------------------------------------------------------------


def _frame_with_mark_near_left_edge() -> Image.Image:
    """A grey 320x240 frame (Kaggle's size) with a red 20x20 mark 30 px from the left edge."""
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    frame[110:130, 30:50] = (255, 0, 0)
    return Image.fromarray(frame, "RGB")


def _red_pixels(geometry: str) -> int:
    unit = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # no normalisation: values stay in [0, 1]
    out = eval_transform(224, 256, unit, geometry)(_frame_with_mark_near_left_edge())
    assert out.shape == (3, 224, 224)
    red = (out[0] > 0.8) & (out[1] < 0.2) & (out[2] < 0.2)
    return int(red.sum())


def test_squash_keeps_an_object_near_the_left_edge_and_shorter_side_cuts_it() -> None:
    # squash: 320 -> 256 wide (x 24..40), CenterCrop(224) drops 16 px: the mark sits at x 8..24.
    assert _red_pixels("squash") > 100
    # shorter side: 240 -> 256 tall, 341 wide (x 32..53), CenterCrop(224) drops 58 px: gone.
    assert _red_pixels("shorter_side") == 0


def test_eval_geometry_steps() -> None:
    assert _of_type(eval_transform(geometry="squash"), v2.Resize)[0].size == [256, 256]
    assert _of_type(eval_transform(geometry="shorter_side"), v2.Resize)[0].size == [256]
    with pytest.raises(ValueError, match="eval geometry 'crop'"):
        eval_transform(geometry="crop")


def test_auto_geometry_squashes_whole_smear_frames_only() -> None:
    assert resolve_eval_geometry(TrainConfig(dataset="kaggle-bloodcells")) == "squash"
    assert resolve_eval_geometry(TrainConfig(dataset="kaggle-bloodcells-simple")) == "squash"
    assert resolve_eval_geometry(TrainConfig(dataset="bccd")) == "shorter_side"
    assert resolve_eval_geometry(TrainConfig(dataset="synthetic")) == "shorter_side"
    forced = TrainConfig(dataset="kaggle-bloodcells", eval_geometry="shorter_side")
    assert resolve_eval_geometry(forced) == "shorter_side"
    squash = build_eval_transform(TrainConfig(dataset="synthetic", eval_geometry="squash"))
    assert _of_type(squash, v2.Resize)[0].size == [256, 256]


@pytest.mark.parametrize("augment", ["none", "color"])
def test_augment_variants_use_the_resolved_eval_geometry(augment: str) -> None:
    cfg = TrainConfig(dataset="kaggle-bloodcells", augment=augment)
    assert _of_type(build_train_transform(cfg), v2.Resize)[0].size == [256, 256]


def test_unknown_eval_geometry_is_rejected() -> None:
    from wbcrepro.config import ConfigError

    with pytest.raises(ConfigError, match="eval_geometry='center' is not one of"):
        TrainConfig.from_flat({"eval_geometry": "center"})
