"""The CPU-budget levers: partial fine-tuning, validation every k epochs, larger evaluation
batches. Each is off by default (the paper's recipe) and changes only what it says."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tests.conftest import TINY
from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.data.loading import load_split_data, make_loader, make_table
from wbcrepro.data.transforms import build_eval_transform, build_train_transform
from wbcrepro.model.networks import build_model, head_prefix
from wbcrepro.runfolder import read_results
from wbcrepro.training.fit import fit

LITE = {**TINY, "arch": "efficientnet_lite0", "weights": "imagenet", "transfer": "finetune"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"freeze_fraction": 1.0}, r"freeze_fraction must be in \[0, 1\), got 1.0"),
        ({"freeze_fraction": -0.1}, r"freeze_fraction must be in \[0, 1\)"),
        ({"freeze_fraction": 0.4, "transfer": "frozen"}, "needs transfer='finetune'"),
        ({"val_every": 0}, "val_every must be >= 1, got 0"),
        ({"eval_batch_size": -1}, "eval_batch_size must be >= 0"),
        ({"early_img_size": 24}, "early_img_size .* and early_epochs .* go together"),
        ({"early_epochs": 1}, "go together"),
        (
            {"early_img_size": 64, "early_epochs": 1},
            "early_img_size must be between 0 and img_size",
        ),
        ({"early_img_size": 24, "early_epochs": 3}, "early_epochs must leave at least one epoch"),
    ],
)
def test_bad_lever_values_are_errors_naming_the_key(params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_flat({**LITE, **params})


def test_freeze_fraction_keeps_the_first_backbone_tensors_and_trains_the_rest() -> None:
    cfg = TrainConfig.from_flat({**LITE, "freeze_fraction": 0.4})
    model = build_model(cfg)
    head = head_prefix(cfg.arch, cfg.impl)
    backbone = [(n, p) for n, p in model.named_parameters() if not n.startswith(head)]
    frozen = [n for n, p in backbone if not p.requires_grad]
    assert len(frozen) == round(0.4 * len(backbone))
    assert frozen == [n for n, _ in backbone[: len(frozen)]]  # a prefix: stem and early blocks
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith(head))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    model.train()
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # seeded
    loss = model(images).logsumexp(1).mean()
    loss.backward()
    optimizer.step()
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert not torch.equal(before[backbone[-1][0]], after[backbone[-1][0]])
    untouched = build_model(TrainConfig.from_flat(LITE))
    assert all(p.requires_grad for p in untouched.parameters())  # default: every layer trains


def test_val_every_validates_every_kth_epoch_and_the_last_and_selects_among_them(
    tmp_path,
) -> None:
    params = {**TINY, "epochs": 5, "val_every": 2, "select_metric": "accuracy"}
    fit(TrainConfig.from_flat(params), tmp_path / "run", progress=False)
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    validated = history.loc[history["val_accuracy"].notna(), "epoch"].tolist()
    assert validated == [2, 4, 5]
    assert read_results(tmp_path / "run")["selection"]["selected_epoch"] in validated


def test_eval_batch_size_sets_evaluation_loaders_only() -> None:
    cfg = TrainConfig.from_flat({**TINY, "eval_batch_size": 5})
    data = load_split_data(cfg)
    table = make_table(data, "train", build_eval_transform(cfg), cfg, progress=False)
    assert make_loader(table, cfg, train=False).batch_size == 5
    assert make_loader(table, cfg, train=True).batch_size == cfg.batch_size
    default = cfg.replace(eval_batch_size=0)
    assert make_loader(table, default, train=False).batch_size == cfg.batch_size


def test_progressive_resizing_trains_the_early_epochs_small_and_evaluates_at_img_size(
    tmp_path,
) -> None:
    params = {**TINY, "epochs": 3, "early_img_size": 24, "early_epochs": 2}
    cfg = TrainConfig.from_flat(params)
    assert [cfg.train_size_at(e) for e in (1, 2, 3)] == [24, 24, cfg.img_size]
    data = load_split_data(cfg)
    table = make_table(data, "train", build_train_transform(cfg), cfg, progress=False)
    early = table.with_transform(build_train_transform(cfg, cfg.early_img_size))
    assert early[0][0].shape[-2:] == (24, 24)
    assert table[0][0].shape[-2:] == (cfg.img_size, cfg.img_size)
    fit(cfg, tmp_path / "run", progress=False)
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["train_img_size"].tolist() == [24, 24, cfg.img_size]
    assert read_results(tmp_path / "run")["status"] == "complete"


def test_progressive_resizing_scales_an_explicit_pre_crop_size() -> None:
    cfg = TrainConfig.from_flat({**TINY, "img_size": 32, "pre_crop_size": 48})
    steps = build_train_transform(cfg, 16).transforms
    assert tuple(steps[0].size) in ((24,), (24, 24))  # RandomResizedCrop at 48 * 16 / 32


def test_evaluation_loaders_keep_their_workers_and_the_evaluator_reuses_them() -> None:
    """GPU path: with DataLoader workers an evaluation loader persists across passes (workers
    start once per run); a training loader does not (rebuilt per epoch for exact resume), and
    a reused loader gives the same answers as a fresh one."""
    from torch import nn

    from wbcrepro.training.evaluation import Evaluator

    cfg = TrainConfig.from_flat({**TINY, "num_workers": 2})
    data = load_split_data(cfg)
    val = make_table(data, "val", build_eval_transform(cfg), cfg, progress=False)
    assert make_loader(val, cfg, train=False).persistent_workers is True
    assert make_loader(val, cfg, train=True).persistent_workers is False
    none = cfg.replace(num_workers=0)
    assert make_loader(val, none, train=False).persistent_workers is False
    model = build_model(cfg.replace(num_classes=len(data.class_names))).eval()
    evaluator = Evaluator(cfg, model, torch.device("cpu"), nn.CrossEntropyLoss(), val, ())
    first = evaluator.evaluate(val, "val")
    loader = evaluator._loaders[id(val)]
    second = evaluator.evaluate(val, "val")
    assert evaluator._loaders[id(val)] is loader and len(evaluator._loaders) == 1
    assert first["predictions"].tolist() == second["predictions"].tolist()
    assert first["loss"] == pytest.approx(second["loss"])
