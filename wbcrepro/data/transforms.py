"""The paper's augmentation pipeline, its evaluation counterpart and the ablation variants.

All pipelines accept a PIL image (what the decode cache holds) or a uint8 CHW tensor and return a
normalised float32 tensor, using torchvision transforms v2. The geometric and colour steps come
before the conversion to a tensor: on the CPU they run about twice as fast on PIL images.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from wbcrepro.config import TrainConfig
from wbcrepro.data.stain import HEDJitter

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128, not ImageNet mean/std.
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3
Stats = tuple[tuple[float, ...], tuple[float, ...]]


def input_stats(arch: str) -> Stats:
    """Normalisation mean and std that the backbone's pretrained weights expect."""
    return (LITE_MEAN, LITE_STD) if arch == "efficientnet_lite0" else (IMAGENET_MEAN, IMAGENET_STD)


def _to_normalised_tensor(stats: Stats) -> list[v2.Transform]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(*stats)]


def paper_train_transform(
    img_size: int = 224,
    pre_crop_size: int = 256,
    rrc_scale_min: float = 0.8,
    rotation_degrees: float = 45.0,
    hflip_p: float = 0.5,
    vflip_p: float = 0.5,
    brightness: float = 1.0,
    stats: Stats = (IMAGENET_MEAN, IMAGENET_STD),
    stain_jitter: float = 0.0,
) -> v2.Compose:
    """The paper's training pipeline, in the paper's order and with its arguments by default.

    RandomResizedCrop(256, scale=(0.8, 1.0)) -> RandomRotation(45) -> RandomHorizontalFlip() ->
    RandomVerticalFlip(p=0.5) -> CenterCrop(224) -> ColorJitter(brightness=1), then ImageNet
    normalisation. The CenterCrop after the rotation cuts away most of the black corners that a
    45-degree rotation of a 256 px square leaves. ``stain_jitter`` > 0 adds HED stain jitter
    (:class:`wbcrepro.data.stain.HEDJitter`, not the paper's) after the CenterCrop.
    """
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(pre_crop_size, scale=(rrc_scale_min, 1.0), antialias=True),
        v2.RandomRotation(rotation_degrees),
        v2.RandomHorizontalFlip(p=hflip_p),
        v2.RandomVerticalFlip(p=vflip_p),
        v2.CenterCrop(img_size),
    ]
    if stain_jitter > 0:
        steps.append(HEDJitter(stain_jitter))
    if brightness > 0:
        steps.append(v2.ColorJitter(brightness=brightness))
    return v2.Compose(steps + _to_normalised_tensor(stats))


def _eval_geometry_steps(img_size: int, pre_crop_size: int, geometry: str) -> list[v2.Transform]:
    if geometry == "squash":
        resize = v2.Resize((pre_crop_size, pre_crop_size), antialias=True)
    elif geometry == "shorter_side":
        resize = v2.Resize(pre_crop_size, antialias=True)
    else:
        raise ValueError(f"eval geometry {geometry!r} is not 'shorter_side' or 'squash'")
    return [resize, v2.CenterCrop(img_size)]


def eval_transform(
    img_size: int = 224,
    pre_crop_size: int = 256,
    stats: Stats = (IMAGENET_MEAN, IMAGENET_STD),
    geometry: str = "shorter_side",
) -> v2.Compose:
    """Evaluation pipeline: Resize -> CenterCrop(224) -> normalise.

    The paper gives no evaluation transform. We read it as the deterministic counterpart of the
    training geometry (the torchvision reference convention 256 -> 224): same scale as the training
    crop at its mean, no rotation, flip or colour change. ``geometry`` picks the Resize:
    ``shorter_side`` scales the shorter side to ``pre_crop_size`` (the reference convention; on a
    4:3 frame the CenterCrop then keeps 66 % of the width), ``squash`` scales the whole frame to a
    ``pre_crop_size`` square, which is what the training RandomResizedCrop (aspect ratios 3/4 to
    4/3) does to a whole 4:3 frame: nothing of the frame is cut but the CenterCrop's border.
    """
    return v2.Compose(
        [*_eval_geometry_steps(img_size, pre_crop_size, geometry), *_to_normalised_tensor(stats)]
    )


def color_only_transform(
    img_size: int,
    pre_crop_size: int,
    brightness: float,
    stats: Stats,
    geometry: str = "shorter_side",
) -> v2.Compose:
    """Ablation: the evaluation geometry plus the paper's ColorJitter only."""
    return v2.Compose(
        [
            *_eval_geometry_steps(img_size, pre_crop_size, geometry),
            v2.ColorJitter(brightness=brightness),
            *_to_normalised_tensor(stats),
        ]
    )


def resolve_eval_geometry(cfg: TrainConfig) -> str:
    """``cfg.eval_geometry`` with ``auto`` resolved: ``squash`` for datasets whose images are
    whole-smear frames (the dataset spec's ``whole_frames``), else ``shorter_side``."""
    if cfg.eval_geometry != "auto":
        return cfg.eval_geometry
    from wbcrepro.data.datasets import get_dataset  # late: the registry imports the loaders

    return "squash" if get_dataset(cfg.dataset).whole_frames else "shorter_side"


def build_train_transform(cfg: TrainConfig, img_size: int = 0) -> v2.Compose:
    """The training pipeline named by ``cfg.augment``.

    ``paper``: the full pipeline; ``geometric``: the paper's without ColorJitter; ``color``: only
    ColorJitter; ``none``: the evaluation pipeline. ``cfg.brightness`` sets the jitter strength
    (the paper's 1.0 or a milder value). ``none`` and ``color`` use the evaluation geometry.
    ``img_size`` (0 = ``cfg.img_size``) gives the same pipeline at another output size, every
    size scaled with it, for progressive resizing's early epochs (``cfg.early_img_size``).
    """
    size = img_size or cfg.img_size
    pre = round(cfg.resolved_pre_crop_size * size / cfg.img_size)
    stats = input_stats(cfg.arch)
    if cfg.augment == "none":
        return eval_transform(size, pre, stats, resolve_eval_geometry(cfg))
    if cfg.augment == "color":
        return color_only_transform(size, pre, cfg.brightness, stats, resolve_eval_geometry(cfg))
    return paper_train_transform(
        img_size=size,
        pre_crop_size=pre,
        rrc_scale_min=cfg.rrc_scale_min,
        rotation_degrees=cfg.rotation_degrees,
        hflip_p=cfg.hflip_p,
        vflip_p=cfg.vflip_p,
        brightness=0.0 if cfg.augment == "geometric" else cfg.brightness,
        stats=stats,
        stain_jitter=cfg.stain_jitter,
    )


def build_eval_transform(cfg: TrainConfig) -> v2.Compose:
    """The evaluation pipeline for ``cfg``'s input size and (resolved) evaluation geometry."""
    return eval_transform(
        cfg.img_size, cfg.resolved_pre_crop_size, input_stats(cfg.arch), resolve_eval_geometry(cfg)
    )
