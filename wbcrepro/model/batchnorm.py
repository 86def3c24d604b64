"""BatchNorm running statistics that describe the fine-tuned network, not ImageNet.

EfficientNet's BatchNorm layers update their running statistics with momentum 0.01 (the TF
decay 0.99): after a few epochs of fine-tuning they are still mostly ImageNet's, while the weights
have moved on. Training looks fine (train mode normalises with batch statistics), but evaluation
normalises with the stale running statistics and can collapse to one class. Recomputing the
statistics over the training images before evaluating fixes that (measured on the committed
cpu runs: test accuracy 25 % one class -> 63 %). See ``TrainConfig.bn_mode``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from wbcrepro.config import TrainConfig

BatchNorm = nn.modules.batchnorm._BatchNorm


def bn_layers(model: nn.Module) -> list[BatchNorm]:
    """Every BatchNorm layer of ``model`` (1d/2d/3d, SyncBatchNorm)."""
    return [m for m in model.modules() if isinstance(m, BatchNorm)]


def effective_bn_mode(cfg: TrainConfig) -> str:
    """What happens to the statistics: ``transfer=frozen`` always keeps the pretrained ones (its
    backbone, BatchNorm included, must not change), otherwise ``cfg.bn_mode``."""
    return "keep" if cfg.transfer == "frozen" else cfg.bn_mode


def describe_bn(cfg: TrainConfig) -> dict:
    """The results.json record of how BatchNorm statistics were handled."""
    mode = effective_bn_mode(cfg)
    record: dict = {"requested": cfg.bn_mode, "applied": mode}
    if mode == "recompute":
        record["recalibration_batches"] = cfg.bn_recalibration_batches or "all"
        record["note"] = (
            "running statistics recomputed over the training images (evaluation transform) "
            "before every evaluation"
        )
    elif mode == "momentum":
        record["momentum"] = cfg.bn_momentum
    elif cfg.transfer == "frozen":
        record["note"] = "transfer=frozen: the pretrained (ImageNet) statistics are kept"
    else:
        record["note"] = "the architecture's own momentum; statistics as training left them"
    return record


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """Set every BatchNorm layer's momentum (``bn_mode=momentum``, applied at build time)."""
    for layer in bn_layers(model):
        layer.momentum = momentum


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    batches: Iterable[torch.Tensor | tuple],
    device: torch.device,
    channels_last: bool = True,
    amp_dtype: torch.dtype | None = None,
    max_batches: int = 0,
) -> int:
    """Reset every BatchNorm layer's running statistics and recompute them as the plain
    (cumulative) average over ``batches``; returns the number of images seen.

    Only the BatchNorm layers are put in train mode: dropout and drop-connect stay off, so the
    activations match evaluation and no random number is drawn (a resumed run stays exact). This
    differs from ``torch.optim.swa_utils.update_bn``, which puts the whole model in train mode.
    Parameters never change (no gradient, no optimizer); each layer's momentum and every
    module's train/eval flag are restored afterwards. ``max_batches`` > 0 stops early.
    """
    layers = bn_layers(model)
    if not layers:
        return 0
    modes = {module: module.training for module in model.modules()}
    momenta = {layer: layer.momentum for layer in layers}
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch weighs the same
    model.eval()
    for layer in layers:
        layer.train()
    seen = 0
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
    try:
        for index, batch in enumerate(batches):
            if max_batches and index >= max_batches:
                break
            images = batch[0] if isinstance(batch, tuple | list) else batch
            with autocast:
                model(images.to(device, non_blocking=True, memory_format=fmt))
            seen += images.shape[0]
    finally:
        for layer, momentum in momenta.items():
            layer.momentum = momentum
        for module, training in modes.items():
            module.train(training)
    return seen
