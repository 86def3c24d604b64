"""The dataset registry: every dataset the package can load, by name.

Each entry knows its class names, how they map onto the paper's six classes, where the data comes
from (citation, licence, URL) and how to read its upstream on-disk layout into a manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from wbcrepro.config import TrainConfig


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: metadata plus a loader from a config to a manifest."""

    name: str
    classes: tuple[str, ...]
    to_paper: dict[str, str]
    """Own class name -> one of the paper's classes (PAPER_CLASSES)."""
    citation: str
    licence: str
    source: str
    loader: Callable[[TrainConfig], pd.DataFrame] = field(repr=False)
    synthetic: bool = False

    def load(self, cfg: TrainConfig) -> pd.DataFrame:
        """The manifest (``path``, ``label``, ``group`` and maybe ``split``) for ``cfg``."""
        return self.loader(cfg)


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    REGISTRY[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset ``name``; an unknown name raises listing the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


from wbcrepro.datasets import synthetic as _synthetic  # noqa: E402,F401  (registers itself)
