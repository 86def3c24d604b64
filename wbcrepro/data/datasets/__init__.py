"""The dataset registry: every dataset the package can load, by name.

Each entry knows its class names, how they map onto the paper's six classes, where the data comes
from (citation, licence, URL) and how to read its **upstream on-disk layout as published** into a
manifest (one row per image: ``path``, ``label``, ``group`` and, where the publisher fixed one,
``split``). Loaders never drop anything silently: whatever they leave out is listed in
``Loaded.excluded`` with its reason, and that list is written into every run folder.

The types live in :mod:`wbcrepro.data.datasets.registry`; importing this package imports every
loader module, and each registers its datasets on import.
"""

from __future__ import annotations

from wbcrepro.data.datasets import (  # noqa: F401  (imported to register their datasets)
    bccd,
    bccd_cropped,
    bloodmnist,
    custom,
    kaggle,
    labs,
    lisc,
    pbc,
    raabin,
    synthetic,
    zheng,
)
from wbcrepro.data.datasets.registry import (
    MANIFEST_COLUMNS,
    REGISTRY,
    DatasetError,
    DatasetSpec,
    Download,
    Loaded,
    Loader,
    get_dataset,
    register,
)

__all__ = [
    "MANIFEST_COLUMNS",
    "REGISTRY",
    "DatasetError",
    "DatasetSpec",
    "Download",
    "Loaded",
    "Loader",
    "get_dataset",
    "register",
]
