"""Tests for the training recipe (wbcrepro.config): defaults, coercion, validation, schedule."""

from __future__ import annotations

import dataclasses

import pytest

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.config import ConfigError, TrainConfig

# ---------------------------------------------------------------------------------------------
# Defaults = the paper's recipe (Chegodaev 2021)
# ---------------------------------------------------------------------------------------------

PAPER_RECIPE = {
    "arch": "efficientnet_b4",
    "num_classes": 6,
    "img_size": 224,
    "pre_crop_size": 0,  # 0 = auto = 256 at 224
    "batch_size": 16,
    "optimizer": "adam",
    "lr": 0.005,
    "lr_after_switch": 1.5e-6,
    "lr_switch_epoch": 51,
    "epochs": 80,
    "weights": "imagenet",
    "transfer": "finetune",
    "augment": "paper",
    "rrc_scale_min": 0.8,
    "rotation_degrees": 45.0,
    "hflip_p": 0.5,
    "vflip_p": 0.5,
    "brightness": 1.0,
    # the paper uses plain CrossEntropyLoss and plain Adam
    "label_smoothing": 0.0,
    "weight_decay": 0.0,
}


@pytest.mark.parametrize(("field", "expected"), sorted(PAPER_RECIPE.items()))
def test_default_equals_paper_recipe(field: str, expected: object) -> None:
    value = getattr(TrainConfig(), field)
    assert value == expected
    assert type(value) is type(expected)


def test_default_paper_derived_values() -> None:
    cfg = TrainConfig()
    assert cfg.num_classes == len(PAPER_CLASSES) == 6
    assert cfg.resolved_pre_crop_size == 256
    assert cfg.dropout < 0  # keeps the architecture's own dropout
    assert TrainConfig.from_flat({}) == cfg
    assert TrainConfig.from_flat(None) == cfg


# ---------------------------------------------------------------------------------------------
# from_flat: coercion and unknown keys
# ---------------------------------------------------------------------------------------------


def test_from_flat_coerces_strings() -> None:
    cfg = TrainConfig.from_flat(
        {
            "epochs": "2",
            "batch_size": "4",
            "deterministic": "false",
            "channels_last": "true",
            "cache_images": "0",
            "lr": "1e-3",
            "lr_after_switch": "2.5e-7",
            "hflip_p": "0.25",
            "arch": "efficientnet_b0",
        }
    )
    assert cfg.epochs == 2 and type(cfg.epochs) is int
    assert cfg.batch_size == 4
    assert cfg.deterministic is False
    assert cfg.channels_last is True
    assert cfg.cache_images is False
    assert cfg.lr == pytest.approx(0.001) and type(cfg.lr) is float
    assert cfg.lr_after_switch == pytest.approx(2.5e-7)
    assert cfg.hflip_p == 0.25
    assert cfg.arch == "efficientnet_b0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("0", False),
        ("off", False),
    ],
)
def test_from_flat_bool_strings(text: str, expected: bool) -> None:
    assert TrainConfig.from_flat({"deterministic": text}).deterministic is expected


def test_from_flat_accepts_native_types() -> None:
    cfg = TrainConfig.from_flat({"lr": 1, "epochs": 3.0, "deterministic": False})
    assert cfg.lr == 1.0 and type(cfg.lr) is float
    assert cfg.epochs == 3 and type(cfg.epochs) is int
    assert cfg.deterministic is False


def test_unknown_key_raises_naming_it() -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_flat({"learning_rate": "0.1"})


def test_unknown_keys_all_named() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_flat({"epochz": 3, "lr": 0.1, "bach_size": 2})
    assert "epochz" in str(info.value) and "bach_size" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Validation: every bad value raises a ConfigError naming the field
# ---------------------------------------------------------------------------------------------

BAD_VALUES = [
    ({"arch": "resnet50"}, "arch"),
    ({"arch": "efficientnet_b8"}, "arch"),
    ({"impl": "timm"}, "impl"),
    ({"transfer": "partial"}, "transfer"),
    ({"augment": "heavy"}, "augment"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"device": "tpu"}, "device"),
    ({"precision": "fp16"}, "precision"),
    ({"epochs": "ten"}, "epochs"),
    ({"epochs": "2.5"}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"batch_size": "0"}, "batch_size"),
    ({"epochs": 0}, "epochs"),
    ({"lr_switch_epoch": 0}, "lr_switch_epoch"),
    ({"img_size": -1}, "img_size"),
    ({"num_classes": 1}, "num_classes"),
    ({"lr": "-0.1"}, "lr"),
    ({"lr": 0}, "lr"),
    ({"lr": "nan"}, "lr"),
    ({"lr": "abc"}, "lr"),
    ({"lr_after_switch": -1e-6}, "lr_after_switch"),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction"),
    ({"val_fraction": 0.6, "test_fraction": 0.45}, "test_fraction"),
    ({"val_fraction": -0.1}, "val_fraction"),
    ({"test_fraction": 1.0}, "test_fraction"),
    ({"hflip_p": 1.5}, "hflip_p"),
    ({"vflip_p": "1.01"}, "vflip_p"),
    ({"hflip_p": -0.1}, "hflip_p"),
    ({"rrc_scale_min": 0}, "rrc_scale_min"),
    ({"rrc_scale_min": 1.2}, "rrc_scale_min"),
    ({"rotation_degrees": -5}, "rotation_degrees"),
    ({"brightness": -0.5}, "brightness"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"dropout": 1.0}, "dropout"),
    ({"num_workers": -1}, "num_workers"),
    ({"pre_crop_size": 200}, "pre_crop_size"),
    ({"img_size": 300, "pre_crop_size": 256}, "pre_crop_size"),
    ({"transfer": "scratch", "weights": "imagenet"}, "weights"),
    ({"transfer": "finetune", "weights": "none"}, "weights"),
    ({"transfer": "frozen", "weights": "none"}, "weights"),
    ({"deterministic": "maybe"}, "deterministic"),
    ({"deterministic": 1}, "deterministic"),
    ({"arch": 4}, "arch"),
]


@pytest.mark.parametrize(("params", "field"), BAD_VALUES, ids=[repr(p) for p, _ in BAD_VALUES])
def test_bad_value_raises_naming_field(params: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_flat(params)
    assert field in str(info.value)


def test_scratch_message_names_transfer_too() -> None:
    with pytest.raises(ConfigError, match="transfer") as info:
        TrainConfig(transfer="scratch", weights="imagenet")
    assert "weights" in str(info.value)


def test_config_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        TrainConfig(arch="vgg16")


@pytest.mark.parametrize(
    "params",
    [
        {"transfer": "scratch", "weights": "none"},
        {"transfer": "frozen", "weights": "imagenet"},
        {"transfer": "finetune", "weights": "/some/local/file.pth"},
        {"val_fraction": 0.0, "test_fraction": 0.0},
        {"val_fraction": 0.45, "test_fraction": 0.5},
        {"hflip_p": 0, "vflip_p": 1},
        {"pre_crop_size": 224},
        {"brightness": 0},
        {"dropout": 0.0},
        {"lr_switch_epoch": 1000},
        {"arch": "efficientnet_lite0", "impl": "efficientnet_pytorch"},
    ],
)
def test_good_edge_values_accepted(params: dict) -> None:
    cfg = TrainConfig.from_flat(params)
    for key, value in params.items():
        assert getattr(cfg, key) == value


def test_label_smoothing_above_one_rejected() -> None:
    with pytest.raises(ConfigError, match="label_smoothing"):
        TrainConfig.from_flat({"label_smoothing": "1.5"})


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("dropout", "nan"),
        ("rotation_degrees", "nan"),
        ("brightness", "inf"),
        ("weight_decay", "nan"),
        ("label_smoothing", "nan"),
    ],
)
def test_non_finite_floats_rejected(field: str, text: str) -> None:
    with pytest.raises(ConfigError, match=field):
        TrainConfig.from_flat({field: text})


# ---------------------------------------------------------------------------------------------
# Learning-rate schedule and derived sizes
# ---------------------------------------------------------------------------------------------


def test_lr_at_default_switch_51() -> None:
    cfg = TrainConfig()
    assert cfg.lr_at(1) == 0.005
    assert cfg.lr_at(50) == 0.005
    assert cfg.lr_at(51) == 1.5e-6
    assert cfg.lr_at(80) == 1.5e-6
    assert sum(cfg.lr_at(e) == 0.005 for e in range(1, cfg.epochs + 1)) == 50


def test_lr_at_alternative_switch_30() -> None:
    cfg = TrainConfig.from_flat({"lr_switch_epoch": "30"})
    assert cfg.lr_at(1) == 0.005
    assert cfg.lr_at(29) == 0.005
    assert cfg.lr_at(30) == 1.5e-6
    assert cfg.lr_at(80) == 1.5e-6
    assert sum(cfg.lr_at(e) == 0.005 for e in range(1, cfg.epochs + 1)) == 29


def test_lr_at_switch_beyond_epochs_never_switches() -> None:
    cfg = TrainConfig(epochs=5, lr_switch_epoch=6, lr=0.01, lr_after_switch=0.001)
    assert [cfg.lr_at(e) for e in range(1, 6)] == [0.01] * 5


@pytest.mark.parametrize(
    ("img_size", "pre_crop_size", "expected"),
    [(224, 0, 256), (64, 0, 73), (380, 0, 434), (112, 0, 128), (224, 300, 300), (64, 64, 64)],
)
def test_resolved_pre_crop_size(img_size: int, pre_crop_size: int, expected: int) -> None:
    cfg = TrainConfig(img_size=img_size, pre_crop_size=pre_crop_size)
    assert cfg.resolved_pre_crop_size == expected


# ---------------------------------------------------------------------------------------------
# Round trip, replace, immutability
# ---------------------------------------------------------------------------------------------


def test_to_flat_round_trips() -> None:
    cfg = TrainConfig.from_flat(
        {"epochs": 3, "lr": 0.01, "augment": "geometric", "deterministic": False, "dropout": 0.2}
    )
    flat = cfg.to_flat()
    assert set(flat) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(isinstance(v, str | int | float | bool) for v in flat.values())
    assert TrainConfig.from_flat(flat) == cfg


def test_to_flat_round_trips_through_strings() -> None:
    """What a CLI ``key=value`` list (or a YAML of strings) would give back."""
    cfg = TrainConfig(lr=3e-4, lr_after_switch=1.5e-6, deterministic=False, epochs=7, hflip_p=0.3)
    rebuilt = TrainConfig.from_flat({k: str(v) for k, v in cfg.to_flat().items()})
    assert rebuilt == cfg


def test_replace_validates_and_copies() -> None:
    cfg = TrainConfig()
    other = cfg.replace(epochs=2, lr_switch_epoch="2")
    assert other.epochs == 2 and other.lr_switch_epoch == 2
    assert cfg.epochs == 80  # original untouched
    with pytest.raises(ConfigError, match="hflip_p"):
        cfg.replace(hflip_p=2.0)
    with pytest.raises(ConfigError, match="nonsense"):
        cfg.replace(nonsense=1)


def test_config_is_frozen() -> None:
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 1  # type: ignore[misc]
    assert cfg.lr == 0.005 and cfg.epochs == 80


def test_config_hashable_and_equal_by_value() -> None:
    assert TrainConfig(epochs=3) == TrainConfig.from_flat({"epochs": "3"})
    assert hash(TrainConfig(epochs=3)) == hash(TrainConfig.from_flat({"epochs": "3"}))
    assert TrainConfig(epochs=3) != TrainConfig(epochs=4)
