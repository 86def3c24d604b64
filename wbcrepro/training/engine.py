"""One epoch of training and one pass of evaluation, as plain functions returning dicts.

Modelled on torchvision's references/classification: the loop knows nothing about run folders or
configs beyond what it is handed, so a student can call it from their own script.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from wbcrepro.model.networks import train_mode


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training cannot meaningfully continue."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; other names are taken as they are."""
    if name != "auto":
        if name == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' requested but torch sees no CUDA GPU")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """bf16 autocast on CUDA by default (no loss scaling needed); fp32 elsewhere."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cuda":
        return torch.bfloat16
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN (to expose reads of
        # uninitialised memory), which costs ~20 % of a CPU training step and adds nothing to
        # reproducibility: our kernels never read uninitialised memory.
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


def _to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return images.to(device, non_blocking=True, memory_format=fmt)


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    device: torch.device,
    epoch: int = 1,
    channels_last: bool = True,
    amp_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train for one pass over ``loader``; returns loss, accuracy, images and images/s.

    Raises :class:`NonFiniteLossError` at the first NaN/inf loss, naming the epoch and step.
    """
    train_mode(model)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch} train", disable=not progress, leave=False)
    for step, (images, targets) in enumerate(bar, start=1):
        images = _to_device(images, device, channels_last)
        targets = targets.to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = model(images)
            loss = criterion(logits, targets)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at epoch {epoch}, step {step}: lower the learning rate "
                "or check the inputs"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        batch = targets.shape[0]
        seen += batch
        total_loss += loss.detach() * batch
        correct += (logits.detach().argmax(1) == targets).sum()
        if progress:
            elapsed = time.perf_counter() - start
            bar.set_postfix(
                loss=f"{total_loss.item() / seen:.3f}",
                acc=f"{correct.item() / seen:.3f}",
                img_s=f"{seen / elapsed:.1f}",
            )
    seconds = time.perf_counter() - start
    return {
        "loss": total_loss.item() / max(seen, 1),
        "accuracy": correct.item() / max(seen, 1),
        "images": seen,
        "seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else math.nan,
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module | None,
    device: torch.device,
    channels_last: bool = True,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
    desc: str = "evaluate",
) -> dict[str, Any]:
    """Predict every image of ``loader``; returns loss, accuracy, targets, predictions and
    class probabilities (numpy arrays, in loader order)."""
    model.eval()
    losses, targets_all, probs_all = [], [], []
    for images, targets in tqdm(loader, desc=desc, disable=not progress, leave=False):
        images = _to_device(images, device, channels_last)
        targets = targets.to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = model(images)
        logits = logits.float()
        if criterion is not None:
            losses.append(criterion(logits, targets).item() * targets.shape[0])
        targets_all.append(targets.cpu())
        probs_all.append(logits.softmax(1).cpu())
    targets_np = torch.cat(targets_all).numpy() if targets_all else np.zeros(0, dtype=int)
    probs = torch.cat(probs_all).numpy() if probs_all else np.zeros((0, 0))
    preds = probs.argmax(1) if len(probs) else np.zeros(0, dtype=int)
    n = len(targets_np)
    return {
        "loss": sum(losses) / n if n and criterion is not None else math.nan,
        "accuracy": float((preds == targets_np).mean()) if n else math.nan,
        "targets": targets_np,
        "predictions": preds,
        "probabilities": probs,
    }
