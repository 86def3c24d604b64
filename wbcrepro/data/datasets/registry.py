"""The registry's types: a dataset's description (:class:`DatasetSpec`), what a loader returns
(:class:`Loaded`) and the table of registered datasets.

Kept apart from the package ``__init__`` (which imports every loader module to fill the table) so
that a loader module imports only this and never its own package: the import graph stays a tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from wbcrepro.config import TrainConfig
from wbcrepro.paths import data_root

MANIFEST_COLUMNS = ("path", "label", "group")


class DatasetError(ValueError):
    """A dataset is missing, incomplete or malformed; the message names the file or class."""


@dataclass(frozen=True)
class Download:
    """One file of a dataset with a stable public URL."""

    url: str
    filename: str
    sha256: str | None = None
    """Checksum of the published file; ``None`` where the publisher gives none (then recorded)."""
    unpack_to: str | None = None
    """Folder (relative to the data root) the archive unpacks into; ``None``: kept as is."""


@dataclass(frozen=True)
class Loaded:
    """What a loader read: the manifest, the class order, and everything it left out."""

    manifest: pd.DataFrame
    classes: tuple[str, ...]
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["item", "reason"]))
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in MANIFEST_COLUMNS if c not in self.manifest.columns]
        if missing:
            raise DatasetError(f"manifest lacks column(s) {', '.join(missing)}")
        present = set(self.manifest["label"])
        unknown = sorted(present - set(self.classes))
        if unknown:
            raise DatasetError(f"labels {unknown} are not among the classes {list(self.classes)}")
        empty = [c for c in self.classes if c not in present]
        if empty:
            raise DatasetError(f"class(es) with no image: {', '.join(empty)}")


Loader = Callable[..., Loaded]
"""``loader(root, **options)``: the data root, plus one keyword per name in ``spec.options``."""

_CONFIG_FIELDS = frozenset(f.name for f in fields(TrainConfig))


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: metadata, and a loader from the data root (and options) to :class:`Loaded`."""

    name: str
    classes: tuple[str, ...] | None
    """Class names in label order; ``None`` where the data defines them (folder, csv)."""
    to_paper: dict[str, tuple[str, ...]]
    """Own class -> the paper's class(es) it covers (a 'neutrophil' covers band and segmented)."""
    citation: str
    licence: str
    source: str
    folder: str
    """Where the upstream files sit under the data root (as the publisher names it)."""
    loader: Loader = field(repr=False)
    description: str = ""
    synthetic: bool = False
    downloads: tuple[Download, ...] = ()
    official_split: str = ""
    """How the publisher splits it, if at all (used instead of a random split)."""
    required: tuple[str, ...] = ()
    """Further paths (relative to the data root) that must exist besides ``folder``."""
    whole_frames: bool = False
    """The images are whole-smear frames (Kaggle's 320x240) with the cell anywhere in them, not
    cell-centred crops: ``eval_geometry=auto`` then squashes the whole frame, as the training
    crop does, instead of centre-cropping away a third of its width (and often the cell)."""
    groups_are_sources: bool = True
    """Whether the manifest's ``group`` names a real source (smear, patient). False where file
    names carry no source id (Kaggle: every augmented copy of a smear is its own group): a
    validation set carved from training then shares sources with it and must not select models."""
    options: tuple[str, ...] = ()
    """The :class:`TrainConfig` fields the loader reads, passed to it as keyword arguments: what a
    dataset depends on is declared here instead of hidden in a whole config object."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - _CONFIG_FIELDS)
        if unknown:
            raise ValueError(f"dataset {self.name!r}: options {unknown} are not TrainConfig fields")

    def present(self, root: Path) -> bool:
        """Whether all upstream files are under ``root`` (always true for generated data)."""
        if self.synthetic or not self.folder:
            return True
        return all((root / path).exists() for path in (self.folder, *self.required))

    def missing(self, root: Path) -> list[str]:
        """The upstream paths (relative to ``root``) that are not there."""
        if self.synthetic or not self.folder:
            return []
        return [p for p in (self.folder, *self.required) if not (root / p).exists()]

    def read(self, root: Path, **options: Any) -> Loaded:
        """Load from the data root ``root``; ``options`` are the loader's keywords (``options``).

        A dataset that is not there raises a :class:`DatasetError` naming the missing paths and
        how to get them.
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"dataset {self.name!r} takes no option(s) {', '.join(unknown)}")
        root = Path(root)
        missing = self.missing(root)
        if missing:
            raise DatasetError(
                f"dataset {self.name!r} not found: expected "
                f"{', '.join(str(root / p) for p in missing)} "
                f"(data root {root}; set WBCREPRO_DATA or data_root=). "
                + (
                    f"Get it with: wbcrepro data download {self.name}"
                    if self.downloads
                    else f"Download it by hand from {self.source} and unpack it there."
                )
            )
        return self.loader(root, **options)

    def load(self, cfg: TrainConfig) -> Loaded:
        """Load for a run: the data root and the loader's options come from ``cfg``."""
        return self.read(data_root(cfg.data_root), **{k: getattr(cfg, k) for k in self.options})


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    REGISTRY[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset ``name``; an unknown name raises listing the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]
