"""The paper's augmentation pipeline, its evaluation counterpart and the ablation variants.

All pipelines accept a PIL image (what the decode cache holds) or a uint8 CHW tensor and return a
normalised float32 tensor, using torchvision transforms v2. The geometric and colour steps come
before the conversion to a tensor: on the CPU they run about twice as fast on PIL images.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from wbcrepro.config import TrainConfig

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
) -> v2.Compose:
    """The paper's training pipeline, in the paper's order and with its arguments by default.

    RandomResizedCrop(256, scale=(0.8, 1.0)) -> RandomRotation(45) -> RandomHorizontalFlip() ->
    RandomVerticalFlip(p=0.5) -> CenterCrop(224) -> ColorJitter(brightness=1), then ImageNet
    normalisation. The CenterCrop after the rotation cuts away most of the black corners that a
    45-degree rotation of a 256 px square leaves.
    """
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(pre_crop_size, scale=(rrc_scale_min, 1.0), antialias=True),
        v2.RandomRotation(rotation_degrees),
        v2.RandomHorizontalFlip(p=hflip_p),
        v2.RandomVerticalFlip(p=vflip_p),
        v2.CenterCrop(img_size),
    ]
    if brightness > 0:
        steps.append(v2.ColorJitter(brightness=brightness))
    return v2.Compose(steps + _to_normalised_tensor(stats))


def eval_transform(
    img_size: int = 224, pre_crop_size: int = 256, stats: Stats = (IMAGENET_MEAN, IMAGENET_STD)
) -> v2.Compose:
    """Evaluation pipeline: Resize(shorter side to 256) -> CenterCrop(224) -> normalise.

    The paper gives no evaluation transform. We read it as the deterministic counterpart of the
    training geometry (the torchvision reference convention 256 -> 224): same scale as the training
    crop at its mean, no rotation, flip or colour change.
    """
    return v2.Compose(
        [
            v2.Resize(pre_crop_size, antialias=True),
            v2.CenterCrop(img_size),
            *_to_normalised_tensor(stats),
        ]
    )


def color_only_transform(
    img_size: int, pre_crop_size: int, brightness: float, stats: Stats
) -> v2.Compose:
    """Ablation: the evaluation geometry plus the paper's ColorJitter only."""
    return v2.Compose(
        [
            v2.Resize(pre_crop_size, antialias=True),
            v2.CenterCrop(img_size),
            v2.ColorJitter(brightness=brightness),
            *_to_normalised_tensor(stats),
        ]
    )


def build_train_transform(cfg: TrainConfig) -> v2.Compose:
    """The training pipeline named by ``cfg.augment``.

    ``paper``: the full pipeline; ``geometric``: the paper's without ColorJitter; ``color``: only
    ColorJitter; ``none``: the evaluation pipeline. ``cfg.brightness`` sets the jitter strength
    (the paper's 1.0 or a milder value).
    """
    pre, stats = cfg.resolved_pre_crop_size, input_stats(cfg.arch)
    if cfg.augment == "none":
        return eval_transform(cfg.img_size, pre, stats)
    if cfg.augment == "color":
        return color_only_transform(cfg.img_size, pre, cfg.brightness, stats)
    return paper_train_transform(
        img_size=cfg.img_size,
        pre_crop_size=pre,
        rrc_scale_min=cfg.rrc_scale_min,
        rotation_degrees=cfg.rotation_degrees,
        hflip_p=cfg.hflip_p,
        vflip_p=cfg.vflip_p,
        brightness=0.0 if cfg.augment == "geometric" else cfg.brightness,
        stats=stats,
    )


def build_eval_transform(cfg: TrainConfig) -> v2.Compose:
    """The evaluation pipeline for ``cfg``'s input size."""
    return eval_transform(cfg.img_size, cfg.resolved_pre_crop_size, input_stats(cfg.arch))
