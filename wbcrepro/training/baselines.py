"""What a result must beat: the majority class, chance, and a linear probe on frozen features.

A fine-tuned accuracy means little alone: on an imbalanced test set predicting the training
majority class scores its share, and a logistic regression on frozen ImageNet embeddings shows how
much of the task the pretrained features already solve. Every run records these beside its own
numbers (results.json ``baselines``). A baseline that cannot be computed (no pretrained weights)
is recorded as not available with the reason; it never fails the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import ImageTable, make_loader
from wbcrepro.metrics import classification_report
from wbcrepro.model.networks import build_model, implementation_of, to_device
from wbcrepro.training.engine import autocast_dtype

PROBE_MAX_ITER = 5000
"""Iterations for lbfgs on standardised features: enough to converge on a few thousand images."""


def not_available(reason: str) -> dict[str, str]:
    return {"status": "not available", "reason": reason}


def majority_baseline(
    train_targets: Sequence[int], test_targets: Sequence[int], class_names: Sequence[str]
) -> dict[str, Any]:
    """Predict the training split's most frequent class (the first in class order on a tie) for
    every test image: its accuracy is that class's share of the test labels."""
    if not len(train_targets) or not len(test_targets):
        return not_available("needs training and test images")
    counts = np.bincount(np.asarray(train_targets), minlength=len(class_names))
    majority = int(counts.argmax())
    report = classification_report(
        test_targets, [majority] * len(test_targets), class_names, with_intervals=False
    )
    return {
        "class": class_names[majority],
        "accuracy": report["accuracy"],
        "balanced_accuracy": report["balanced_accuracy"],
        "macro_f1": report["macro_f1"],
    }


def chance_baseline(num_classes: int) -> dict[str, float]:
    """Uniform guessing: accuracy and balanced accuracy 1/K (in expectation)."""
    return {"accuracy": 1.0 / num_classes, "balanced_accuracy": 1.0 / num_classes}


def embedding_network(cfg: TrainConfig) -> nn.Module:
    """``cfg``'s architecture with its pretrained weights and the head replaced by the identity:
    it returns the global-average-pooled features (dropout is off in eval mode)."""
    model = build_model(cfg.replace(transfer="finetune", dropout=-1.0))
    if implementation_of(cfg.arch, cfg.impl) == "torchvision":
        model.classifier = nn.Identity()
    else:
        model._fc = nn.Identity()
    return model.eval()


@torch.inference_mode()
def extract_features(
    model: nn.Module, table: ImageTable, cfg: TrainConfig, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) of every image of ``table`` (its own transform), in table order."""
    amp = autocast_dtype(device, cfg.precision)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    features, targets = [], []
    for images, labels in make_loader(table, cfg, train=False):
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            out = model(images.to(device, memory_format=fmt))
        features.append(out.float().flatten(1).cpu().numpy())
        targets.append(labels.numpy())
    return np.concatenate(features), np.concatenate(targets)


def linear_probe(
    cfg: TrainConfig,
    train_table: ImageTable,
    test_table: ImageTable,
    class_names: Sequence[str],
    device: torch.device,
) -> dict[str, Any]:
    """Logistic regression (standardised features, no selection) on the frozen pretrained
    embeddings of the training images, scored on the test images. Both tables must carry the
    evaluation transform at the run's ``img_size``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not cfg.linear_probe:
        return {"status": "not run", "reason": "linear_probe=false"}
    if cfg.weights == "none":
        return not_available("weights=none: there are no pretrained embeddings to probe")
    if not len(train_table) or not len(test_table):
        return not_available("needs training and test images")
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # building the network draws random numbers
        try:
            model = to_device(embedding_network(cfg), device, cfg.channels_last)
        except Exception as err:  # offline b0..b7 without a cached file, a bad path, ...
            return not_available(f"pretrained weights unavailable ({type(err).__name__}: {err})")
        x_train, y_train = extract_features(model, train_table, cfg, device)
        x_test, y_test = extract_features(model, test_table, cfg, device)
    if len(set(y_train.tolist())) < 2:
        return not_available("the training split holds a single class")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITER))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probe.fit(x_train, y_train)
    report = classification_report(y_test, probe.predict(x_test), class_names, seed=cfg.seed)
    return {
        "status": "ok",
        "weights": cfg.weights,
        "features": int(x_train.shape[1]),
        "train_images": len(y_train),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "test": {
            key: report[key]
            for key in (
                "n",
                "accuracy",
                "accuracy_ci95",
                "balanced_accuracy",
                "balanced_accuracy_ci95",
                "macro_f1",
                "macro_f1_ci95",
            )
        },
    }


def compute_baselines(
    cfg: TrainConfig,
    train_table: ImageTable,
    test_table: ImageTable,
    class_names: Sequence[str],
    device: torch.device,
) -> dict[str, Any]:
    """results.json ``baselines``: majority class, chance and the linear probe. Any failure of
    one baseline is recorded as its reason, never raised."""
    out: dict[str, Any] = {"chance": chance_baseline(len(class_names))}
    try:
        out["majority"] = majority_baseline(train_table.targets, test_table.targets, class_names)
    except Exception as err:
        out["majority"] = not_available(f"{type(err).__name__}: {err}")
    try:
        out["linear_probe"] = linear_probe(cfg, train_table, test_table, class_names, device)
    except Exception as err:
        out["linear_probe"] = not_available(f"{type(err).__name__}: {err}")
    return out
