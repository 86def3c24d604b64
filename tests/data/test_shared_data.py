"""Integration tests on the real public datasets under ``conftest.SHARED_DATA`` (read-only).

The expected numbers are facts of the upstream files (see ``../shared/data/README.md``). The
module is skipped, with the reason, where the data is not there.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from wbcrepro.config import TrainConfig
from wbcrepro.data.datasets import Loaded, get_dataset
from wbcrepro.data.loading import load_split_data
from wbcrepro.paths import CACHE_ENV

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}"),
]


def _cfg(name: str, **extra: object) -> TrainConfig:
    return TrainConfig.from_flat(
        {"dataset": name, "data_root": str(SHARED_DATA), "num_classes": 0, **extra}
    )


_LOADED: dict[str, Loaded] = {}


def _load(name: str) -> Loaded:
    """Each dataset is read once per session (the BCCD crops are cut once, into the cache)."""
    if name not in _LOADED:
        _LOADED[name] = get_dataset(name).load(_cfg(name))
    return _LOADED[name]


def _top_listing() -> dict[str, tuple[str, ...]]:
    return {
        str(folder.relative_to(SHARED_DATA)): tuple(sorted(p.name for p in folder.iterdir()))
        for folder in [SHARED_DATA, *(p for p in SHARED_DATA.iterdir() if p.is_dir())]
    }


@pytest.fixture(scope="module")
def listing_before() -> dict[str, tuple[str, ...]]:
    return _top_listing()


def test_bccd_crops_and_classes(listing_before: dict) -> None:
    loaded = _load("bccd")
    m = loaded.manifest
    assert len(m) == 341
    assert Counter(m["label"]) == {
        "neutrophil": 202,
        "eosinophil": 84,
        "lymphocyte": 33,
        "monocyte": 20,
        "basophil": 2,
    }
    assert m["group"].is_unique
    assert m["group"].str.fullmatch(r"BloodImage_\d{5}").all()
    assert all(Path(p).is_file() for p in m["path"])


def test_bccd_excluded_reasons(listing_before: dict) -> None:
    excluded = _load("bccd").excluded
    assert len(excluded) == 70
    kinds = Counter(
        excluded["reason"]
        .str.replace(r":.*", "", regex=True)
        .replace(
            {
                "empty label in labels.csv": "empty",
                "label names several cells": "several cells",
                "no WBC box": "no WBC box",
                "labelled, but no image/annotation in BCCD_Dataset": "no image",
                "2 WBC boxes": "two boxes",
            }
        )
    )
    assert kinds == {
        "empty": 44,
        "several cells": 15,
        "no WBC box": 6,
        "no image": 4,
        "two boxes": 1,
    }
    assert excluded["item"].is_unique
    assert not set(excluded["item"]) & set(_load("bccd").manifest["group"])


def test_kaggle_published_train_test(listing_before: dict) -> None:
    m = _load("kaggle-bloodcells").manifest
    assert Counter(m["split"]) == {"train": 9957, "test": 2487}
    counts = pd.crosstab(m["label"], m["split"])
    expected = {
        "eosinophil": (2497, 623),
        "lymphocyte": (2483, 620),
        "monocyte": (2478, 620),
        "neutrophil": (2499, 624),
    }
    for label, (train, test) in expected.items():
        assert (counts.loc[label, "train"], counts.loc[label, "test"]) == (train, test), label
    assert not m["path"].str.contains("TEST_SIMPLE").any()


def test_kaggle_simple(listing_before: dict) -> None:
    m = _load("kaggle-bloodcells-simple").manifest
    assert len(m) == 71
    assert "split" not in m.columns
    assert Counter(m["label"]) == {
        "eosinophil": 13,
        "lymphocyte": 6,
        "monocyte": 4,
        "neutrophil": 48,
    }


def test_zheng2018(listing_before: dict) -> None:
    loaded = _load("zheng2018")
    assert len(loaded.manifest) == 300
    assert set(loaded.manifest["label"]) == set(loaded.classes)
    assert Counter(loaded.excluded["reason"]) == {"segmentation mask": 300}
    assert loaded.manifest["path"].str.endswith(".bmp").all()


def test_bccd_cropped(listing_before: dict) -> None:
    m = _load("bccd-cropped").manifest
    assert len(m) == 351
    assert m["group"].str.fullmatch(r"BloodImage_\d{5}").all()
    assert set(m["label"]) == {"neutrophil", "eosinophil", "basophil", "monocyte", "lymphocyte"}


def test_lisc_crops(listing_before: dict) -> None:
    loaded = _load("lisc-crops")
    m = loaded.manifest
    assert Counter(m["label"]) == {
        "basophil": 55,
        "eosinophil": 39,
        "lymphocyte": 55,
        "monocyte": 53,
        "neutrophil": 53,
    }
    assert m["group"].is_unique and m["path"].str.endswith(".png").all()
    assert loaded.excluded.empty
    folds = load_split_data(_cfg("lisc-crops", n_folds=5, fold=0, val_fraction=0.15)).manifest
    assert (folds["split"] == "test").sum() in (51, 52)  # a fifth of 255 per fold


def test_bccd_split_without_basophil(listing_before: dict) -> None:
    _load("bccd")  # crops already cut
    data = load_split_data(
        _cfg("bccd", exclude_classes="basophil", val_fraction=0.15, test_fraction=0.15)
    )
    m = data.manifest
    assert len(m) == 339
    assert data.class_names == ("neutrophil", "eosinophil", "monocyte", "lymphocyte")
    assert (m.groupby("group")["split"].nunique() == 1).all()
    for split in ("train", "val", "test"):
        assert set(m.loc[m["split"] == split, "label"]) == set(data.class_names), split
    assert (data.excluded["reason"] == "class excluded by exclude_classes").sum() == 2


def test_loaders_never_write_into_the_data_root(listing_before: dict) -> None:
    for name in ("bccd", "kaggle-bloodcells", "kaggle-bloodcells-simple", "zheng2018"):
        _load(name)
    assert _top_listing() == listing_before
    cache = Path(os.environ[CACHE_ENV])
    assert not cache.is_relative_to(SHARED_DATA)
    for path in _load("bccd").manifest["path"]:
        assert Path(path).is_relative_to(cache)
    for name in ("kaggle-bloodcells", "zheng2018", "bccd-cropped"):
        assert _load(name).manifest["path"].map(lambda p: Path(p).is_relative_to(SHARED_DATA)).all()
