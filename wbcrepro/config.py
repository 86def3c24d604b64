"""The training recipe as one frozen dataclass, built from flat scalars.

A papermill ``parameters`` cell, a CLI ``key=value`` list and a profile YAML all produce a flat dict
of scalars; :meth:`TrainConfig.from_flat` turns it into a validated, immutable config. The defaults
are the paper's recipe (Chegodaev 2021), so an empty dict *is* the paper's setting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from wbcrepro.classes import PAPER_CLASSES

ARCHS = (*tuple(f"efficientnet_b{i}" for i in range(8)), "efficientnet_lite0")
IMPLS = ("torchvision", "efficientnet_pytorch")
TRANSFER_MODES = ("finetune", "frozen", "scratch")
AUGMENTATIONS = ("paper", "none", "geometric", "color")
OPTIMIZERS = ("adam", "sgd", "adamw")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
BN_MODES = ("recompute", "momentum", "keep")
SELECT_METRICS = ("macro_f1", "balanced_accuracy", "accuracy", "loss", "last")
EVAL_GEOMETRIES = ("auto", "shorter_side", "squash")


class ConfigError(ValueError):
    """A parameter is unknown or has a value the recipe cannot use; the message names it."""


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of one training run. Defaults reproduce the paper's recipe."""

    # --- data ---------------------------------------------------------------------------------
    dataset: str = "synthetic"
    """Registered dataset name (``synthetic`` is the embedded default, drawn procedurally)."""
    data_root: str = ""
    """Where datasets live; empty means $WBCREPRO_DATA, else ./data."""
    data_path: str = ""
    """For ``dataset='folder'`` an ImageFolder tree, for ``'csv'`` a path,label[,group] file."""
    crop_margin: int = 16
    """Pixels kept around a detector box when cropping cells out of whole smears (BCCD)."""
    train_subset: int = 0
    """Train on a stratified, seeded subsample of this many training images (0 = all); for
    CPU-sized runs on large sets. Validation and test stay whole."""
    exclude_classes: str = ""
    """Comma-separated classes to leave out (for example ``basophil`` on BCCD, which has 2
    images: too few to appear in train, validation and test); listed as excluded in the run."""
    skip_bad_files: bool = False
    """Skip unreadable images instead of stopping; every skipped file is listed in the run."""
    synthetic_per_class: int = 100
    """Images per class when ``dataset='synthetic'``."""
    synthetic_size: int = 128
    """Side of the drawn synthetic images (they are then resized like any other image)."""
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    n_folds: int = 0
    """k of a stratified group k-fold (fold ``fold`` is the test set); 0 = one random split."""
    fold: int = 0
    labs: str = ""
    """``dataset=labs`` (:mod:`wbcrepro.data.datasets.labs`): training sets, comma-separated."""
    test_lab: str = ""
    """``dataset=labs``: the held-out set, tested whole ("" = each set split on its own)."""
    lab_images: int = 0
    """``dataset=labs``: at most this many images per training set (stratified); 0 = all."""
    lab_classes: str = "five"
    """``dataset=labs``: ``five`` (neutrophil one class) or ``six`` (the paper's; other labs'
    neutrophils, not told band from segmented, left out)."""
    group_near_copies: bool = False
    """Before splitting, join the groups of images that the leakage audit's hash detector finds
    to be near-copies (dHash distance <= 4 under rotations and flips), so that no cell lands on
    both sides of the split (:mod:`wbcrepro.data.leakage.groups`; the LISC crops hold such
    copies). results.json's dataset notes say how many groups were joined."""
    split_seed: int = 0
    """Seed of the split (and of the synthetic drawing); apart from ``seed`` so that several
    training seeds share one split."""
    # --- model --------------------------------------------------------------------------------
    arch: str = "efficientnet_b4"
    impl: str = "torchvision"
    """``torchvision`` (faster on CPU) or ``efficientnet_pytorch`` (the paper's implementation)."""
    num_classes: int = len(PAPER_CLASSES)
    """Outputs of the new head; must match the dataset's classes (0 = take the dataset's)."""
    weights: str = "imagenet"
    """``imagenet`` (each implementation's own download), ``none``, or a path to a local file."""
    transfer: str = "finetune"
    """``finetune`` trains all layers (the paper), ``frozen`` only the new head, ``scratch``
    starts from random initialisation."""
    dropout: float = -1.0
    """Dropout before the head; negative keeps the architecture's own value (0.4 for b4)."""
    freeze_fraction: float = 0.0
    """With ``transfer=finetune``: the first fraction of the backbone's parameter tensors (stem
    and early blocks, in the network's order) keep their pretrained values; the rest and the head
    train. Their BatchNorm layers still normalise with batch statistics. No gradient flows below
    the first trainable tensor, so a training step costs less: about 1.8 times faster at 0.4 for
    Lite0 at 160 px on one CPU thread. 0 trains every layer (the paper)."""
    # --- input and augmentation -----------------------------------------------------------------
    img_size: int = 224
    """The network input (CenterCrop size). The paper uses 224, below b4's native 380."""
    pre_crop_size: int = 0
    """RandomResizedCrop size before the CenterCrop; 0 keeps the paper's ratio 256/224."""
    early_img_size: int = 0
    """Progressive resizing: the first ``early_epochs`` epochs train on inputs of this size (the
    same pipeline, every size scaled with it), the rest at ``img_size``. Small inputs cost less
    per image (Lite0, one CPU thread: about 1.8 times the images per second at 128 px as at
    160 px) and the last epochs at the final size let the network adjust to it. Validation, the
    BatchNorm statistics and the test always use ``img_size``. 0 = off."""
    early_epochs: int = 0
    """Epochs trained at ``early_img_size`` (counted from the first); 0 = off."""
    augment: str = "paper"
    rrc_scale_min: float = 0.8
    rotation_degrees: float = 45.0
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    brightness: float = 1.0
    """ColorJitter brightness; the paper's 1.0 draws a factor in [0, 2] (down to a black image)."""
    cell_crop: float = 0.0
    """Scale normalisation (:mod:`wbcrepro.data.cellcrop`, also in ``predict``): each image cropped
    around its nucleus, which then spans this share of the side. 0 = off."""
    stain_jitter: float = 0.0
    """Stain augmentation in training (:mod:`wbcrepro.data.stain`): HED densities scaled by
    U(1-s, 1+s) and shifted by U(-s, s) (Tellez et al. 2018). 0 = off."""
    eval_geometry: str = "auto"
    """How evaluation frames the image. ``shorter_side``: Resize(shorter side to the pre-crop
    size) -> CenterCrop(img_size), which cuts the long side of a 4:3 frame to 66 % of its width
    and can cut the cell out. ``squash``: Resize the whole frame to a pre-crop square ->
    CenterCrop(img_size): the field of view the training RandomResizedCrop sees on a whole
    frame. ``auto``: ``squash`` for datasets of whole-smear frames (Kaggle), else
    ``shorter_side``. The resolved value is in results.json."""
    # --- optimisation ---------------------------------------------------------------------------
    epochs: int = 80
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 0.005
    lr_after_switch: float = 1.5e-6
    lr_switch_epoch: int = 51
    """First epoch (1-based) trained at ``lr_after_switch``. The paper gives 0.005 for "epochs 1-50"
    and 1.5e-6 for "epochs 30-80", which overlap: 51 reads the first range literally (default),
    30 reads the second one literally. A value above ``epochs`` never switches."""
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    # --- BatchNorm, model selection, baselines --------------------------------------------------
    bn_mode: str = "recompute"
    """BatchNorm running statistics. ``recompute`` (default): before every evaluation they are
    reset and recomputed over the training images (evaluation transform), because EfficientNet's
    momentum of 0.01 leaves them mostly ImageNet's after a short fine-tune and the evaluated
    network collapses to one class. ``momentum``: every BatchNorm layer updates with
    ``bn_momentum`` instead. ``keep``: the architecture's own momentum. ``transfer=frozen``
    always keeps the pretrained statistics."""
    bn_momentum: float = 0.1
    """BatchNorm momentum for ``bn_mode=momentum`` (PyTorch's convention: the weight of each new
    batch; EfficientNet's TF-ported 0.99 decay is 0.01 here)."""
    bn_recalibration_batches: int = 0
    """Batches (of ``batch_size``, a fixed seeded sample) for ``bn_mode=recompute``; 0 = every
    training image. Each recomputation costs a forward pass over them, before every validation:
    bound it on large sets (a few thousand images estimate the statistics well)."""
    val_every: int = 1
    """Validate (after recomputing BatchNorm statistics) every ``val_every``-th epoch and after
    the last; only validated epochs can be selected. Each validation costs a forward pass over
    the validation images and the recalibration sample."""
    select_metric: str = "macro_f1"
    """Validation metric that picks the tested epoch (``best.pt``): ``macro_f1``,
    ``balanced_accuracy``, ``accuracy`` (higher is better), ``loss`` (lower); ties keep the
    earlier epoch. ``last`` tests the last epoch. Where validation is not source-disjoint from
    training (Kaggle) the last epoch is tested whatever this says, and results.json says why."""
    test_adapt_bn: bool = False
    """Also test with BatchNorm statistics from the test images (AdaBN, no labels), as
    ``final.test_adapted_bn``: test-time adaptation to another lab (``dataset=labs``)."""
    linear_probe: bool = True
    """Add a linear-probe baseline: logistic regression on frozen pretrained embeddings (not
    available without pretrained weights; never fails the run)."""
    # --- execution ----------------------------------------------------------------------------
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    precision: str = "auto"
    """``auto`` = bf16 autocast on CUDA, fp32 elsewhere."""
    channels_last: bool = True
    num_workers: int = 0
    eval_batch_size: int = 0
    """Batch size of the evaluation passes (validation, test, linear-probe embeddings); 0 =
    ``batch_size``. Larger batches run faster and change predictions only by float rounding;
    BatchNorm recalibration keeps ``batch_size``, whose batch statistics it averages."""
    cache_images: bool = True
    """Decode and resize every image once, keep the uint8 tensors in memory."""

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_flat(cls, params: dict[str, Any] | None = None) -> TrainConfig:
        """Build a config from flat scalars, rejecting unknown keys and coercing strings.

        Strings are accepted for every field (they come from the command line); anything else must
        already have the field's type (ints are accepted for floats).
        """
        params = dict(params or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown config key(s): {', '.join(unknown)}. Known keys: {', '.join(known)}"
            )
        hints = typing.get_type_hints(cls)
        values = {name: _coerce(name, value, hints[name]) for name, value in params.items()}
        return cls(**values)

    def __post_init__(self) -> None:
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("impl", self.impl, IMPLS)
        _check_choice("transfer", self.transfer, TRANSFER_MODES)
        _check_choice("augment", self.augment, AUGMENTATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("device", self.device, DEVICES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("bn_mode", self.bn_mode, BN_MODES)
        _check_choice("select_metric", self.select_metric, SELECT_METRICS)
        _check_choice("eval_geometry", self.eval_geometry, EVAL_GEOMETRIES)
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ConfigError(f"bn_momentum must be in (0, 1], got {self.bn_momentum}")
        if self.bn_recalibration_batches < 0:
            raise ConfigError(
                f"bn_recalibration_batches must be >= 0 (0 = all), got "
                f"{self.bn_recalibration_batches}"
            )
        for name in (
            "synthetic_per_class",
            "synthetic_size",
            "img_size",
            "epochs",
            "batch_size",
            "lr_switch_epoch",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.num_classes == 1 or self.num_classes < 0:
            raise ConfigError(f"num_classes must be >= 2 (or 0 = auto), got {self.num_classes}")
        if self.train_subset < 0:
            raise ConfigError(f"train_subset must be >= 0 (0 = all), got {self.train_subset}")
        if self.crop_margin < 0:
            raise ConfigError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if self.n_folds == 1 or self.n_folds < 0:
            raise ConfigError(f"n_folds must be 0 (no k-fold) or >= 2, got {self.n_folds}")
        if self.n_folds and not 0 <= self.fold < self.n_folds:
            raise ConfigError(f"fold must be in [0, n_folds={self.n_folds}), got {self.fold}")
        if self.dataset in ("folder", "csv") and not self.data_path:
            raise ConfigError(f"dataset={self.dataset!r} needs data_path= (the tree or the file)")
        if self.pre_crop_size and self.pre_crop_size < self.img_size:
            raise ConfigError(
                f"pre_crop_size ({self.pre_crop_size}) must be 0 (auto) or >= img_size "
                f"({self.img_size}): the CenterCrop cannot be larger than the image"
            )
        for name in ("lr", "lr_after_switch"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("val_fraction + test_fraction must leave some training data (< 1)")
        for name in ("hflip_p", "vflip_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        if not 0.0 < self.rrc_scale_min <= 1.0:
            raise ConfigError(f"rrc_scale_min must be in (0, 1], got {self.rrc_scale_min}")
        for name in ("rotation_degrees", "brightness", "weight_decay", "label_smoothing"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.label_smoothing > 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1], got {self.label_smoothing}")
        if self.dropout >= 1.0:
            raise ConfigError(
                f"dropout must be < 1 (negative = architecture default), got {self.dropout}"
            )
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.eval_batch_size < 0:
            raise ConfigError(
                f"eval_batch_size must be >= 0 (0 = batch_size), got {self.eval_batch_size}"
            )
        if bool(self.early_img_size) != bool(self.early_epochs):
            raise ConfigError(
                f"early_img_size ({self.early_img_size}) and early_epochs ({self.early_epochs}) "
                "go together: set both (progressive resizing) or neither"
            )
        if self.early_img_size and not 0 < self.early_img_size < self.img_size:
            raise ConfigError(
                f"early_img_size must be between 0 and img_size ({self.img_size}), "
                f"got {self.early_img_size}"
            )
        if self.early_epochs and not 0 < self.early_epochs < self.epochs:
            raise ConfigError(
                f"early_epochs must leave at least one epoch at img_size: between 0 and "
                f"epochs ({self.epochs}), got {self.early_epochs}"
            )
        if not 0.0 <= self.cell_crop <= 1.0:
            raise ConfigError(f"cell_crop must be 0 (off) or in (0, 1], got {self.cell_crop}")
        if not 0.0 <= self.stain_jitter < 1.0:
            raise ConfigError(f"stain_jitter must be in [0, 1), got {self.stain_jitter}")
        if self.val_every < 1:
            raise ConfigError(f"val_every must be >= 1, got {self.val_every}")
        if not 0.0 <= self.freeze_fraction < 1.0:
            raise ConfigError(f"freeze_fraction must be in [0, 1), got {self.freeze_fraction}")
        if self.freeze_fraction and self.transfer != "finetune":
            raise ConfigError(
                f"freeze_fraction={self.freeze_fraction} needs transfer='finetune' (frozen "
                f"already freezes the whole backbone, scratch has nothing pretrained to keep), "
                f"got transfer={self.transfer!r}"
            )
        if self.transfer == "scratch" and self.weights != "none":
            raise ConfigError(
                f"transfer='scratch' trains from random initialisation, but "
                f"weights={self.weights!r}; "
                "set weights='none' (or choose transfer='finetune' / 'frozen')"
            )
        if self.transfer != "scratch" and self.weights == "none":
            raise ConfigError(
                f"transfer={self.transfer!r} needs pretrained weights, but weights='none'; "
                "set weights='imagenet' or a local file, or choose transfer='scratch'"
            )

    # ------------------------------------------------------------------------------------------
    @property
    def resolved_pre_crop_size(self) -> int:
        """RandomResizedCrop size: the paper's 256 at 224, scaled with ``img_size`` otherwise."""
        return self.pre_crop_size or round(self.img_size * 256 / 224)

    def train_size_at(self, epoch: int) -> int:
        """Training input size of a 1-based epoch: ``early_img_size`` for the first
        ``early_epochs`` epochs (progressive resizing), ``img_size`` after them."""
        return self.early_img_size if epoch <= self.early_epochs else self.img_size

    def lr_at(self, epoch: int) -> float:
        """Learning rate of a 1-based epoch: ``lr`` before the switch, then ``lr_after_switch``."""
        return self.lr if epoch < self.lr_switch_epoch else self.lr_after_switch

    def to_flat(self) -> dict[str, Any]:
        """The config as the flat dict it can be rebuilt from (written to the run folder)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated like a new config)."""
        return TrainConfig.from_flat({**self.to_flat(), **changes})


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Coerce one flat value to its field's type, or raise a ConfigError naming the key."""
    if isinstance(hint, types.UnionType):  # not used today, kept strict
        raise ConfigError(f"{name}: union types are not supported in flat configs")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f"{name} must be a boolean (true/false), got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        number = None
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None or not math.isfinite(number):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name} must be a string, got {value!r}")
    raise ConfigError(f"{name}: unsupported field type {hint!r}")  # pragma: no cover
