"""Baselines beside every result: majority class, chance, linear probe on frozen embeddings."""

from __future__ import annotations

import pytest
import torch

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import ImageTable, load_split_data, make_table
from wbcrepro.data.transforms import build_eval_transform
from wbcrepro.model.weights import WeightsError
from wbcrepro.training import baselines
from wbcrepro.training.baselines import (
    chance_baseline,
    compute_baselines,
    linear_probe,
    majority_baseline,
)

CPU = torch.device("cpu")
NAMES = ("a", "b", "c")


def test_majority_is_the_training_majority_scored_on_test() -> None:
    train = [0, 1, 1, 1, 2, 2]  # 'b' is the training majority
    test = [0, 0, 0, 1, 2, 2, 2, 2]  # ... but only 1/8 of the test labels
    result = majority_baseline(train, test, NAMES)
    assert result["class"] == "b"
    assert result["accuracy"] == pytest.approx(1 / 8)
    assert result["balanced_accuracy"] == pytest.approx(1 / 3)
    assert result["macro_f1"] == pytest.approx((2 * 1 / (1 + 8)) / 3)


def test_majority_tie_takes_the_first_class_and_empty_test_is_not_available() -> None:
    assert majority_baseline([2, 1, 2, 1], [1, 2], NAMES)["class"] == "b"
    assert majority_baseline([0], [], NAMES)["status"] == "not available"


def test_chance_is_one_over_k() -> None:
    assert chance_baseline(4) == {"accuracy": 0.25, "balanced_accuracy": 0.25}


def _tables(cfg: TrainConfig) -> tuple[ImageTable, ImageTable, tuple[str, ...]]:
    data = load_split_data(cfg)
    transform = build_eval_transform(cfg)
    return (
        make_table(data, "train", transform, cfg),
        make_table(data, "test", transform, cfg),
        data.class_names,
    )


def _tiny(**changes) -> TrainConfig:
    from tests.conftest import TINY

    return TrainConfig.from_flat({**TINY, "synthetic_per_class": 6, **changes})


def test_probe_without_pretrained_weights_is_not_available_and_says_why() -> None:
    cfg = _tiny()  # weights=none
    train, test, names = _tables(cfg)
    result = compute_baselines(cfg, train, test, names, CPU)
    assert result["linear_probe"] == {
        "status": "not available",
        "reason": "weights=none: there are no pretrained embeddings to probe",
    }
    assert result["chance"]["accuracy"] == pytest.approx(1 / 6)
    majority = names.index(result["majority"]["class"])
    counts = [train.targets.count(k) for k in range(len(names))]
    assert counts[majority] == max(counts)
    assert result["majority"]["accuracy"] == pytest.approx(test.targets.count(majority) / len(test))


def test_probe_with_unreachable_weights_is_not_available(monkeypatch) -> None:
    def offline(cfg):
        raise WeightsError("could not download pretrained weights from https://example")

    monkeypatch.setattr(baselines, "embedding_network", offline)
    cfg = _tiny(weights="imagenet", transfer="finetune")
    train, test, names = _tables(cfg)
    result = linear_probe(cfg, train, test, names, CPU)
    assert result["status"] == "not available"
    assert "WeightsError: could not download" in result["reason"]
    assert linear_probe(cfg.replace(linear_probe=False), train, test, names, CPU)["status"] == (
        "not run"
    )


def test_a_failing_baseline_never_fails_the_run(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(baselines, "linear_probe", broken)
    cfg = _tiny()
    train, test, names = _tables(cfg)
    result = compute_baselines(cfg, train, test, names, CPU)
    assert result["linear_probe"] == {"status": "not available", "reason": "RuntimeError: boom"}


@pytest.mark.slow
def test_linear_probe_on_pretrained_lite0_features_records_a_result() -> None:
    """Real ImageNet weights (shipped offline with Lite0) at 64 px on synthetic images."""
    cfg = _tiny(arch="efficientnet_lite0", img_size=64, weights="imagenet", transfer="finetune")
    train, test, names = _tables(cfg)
    rng = torch.get_rng_state()
    result = linear_probe(cfg, train, test, names, CPU)
    assert torch.equal(torch.get_rng_state(), rng)  # building the network drew nothing
    assert result["status"] == "ok"
    assert result["features"] == 1280
    assert result["train_images"] == len(train)
    assert result["test"]["n"] == len(test)
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert 0.0 <= result["test"][key] <= 1.0
    # The synthetic cells differ by colour and shape: frozen ImageNet features beat chance.
    assert result["test"]["accuracy"] > 1 / 6
