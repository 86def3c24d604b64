"""Shared fixtures: an isolated cache folder and a tiny, fast training configuration."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WBCREPRO_SHARED_DATA", REPO.parent / "shared" / "data"))

# Small enough to train an epoch in about a second on 2 CPU cores.
TINY = {
    "dataset": "synthetic",
    "synthetic_per_class": 10,
    "synthetic_size": 48,
    "arch": "efficientnet_b0",
    "img_size": 32,
    "epochs": 1,
    "batch_size": 8,
    "weights": "none",
    "transfer": "scratch",
    "lr": 0.001,
    "val_fraction": 0.2,
    "test_fraction": 0.2,
}


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every cache the package writes goes to a temporary folder (never ~/.cache or the data)."""
    cache = tmp_path_factory.mktemp("wbcrepro-cache")
    os.environ["WBCREPRO_CACHE"] = str(cache)
    return cache


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


def local_paths(paths) -> list[str]:
    """Paths of a run's split.csv / predictions_*.csv (``$DATA/...``, ``$CACHE/...``) as files on
    this machine."""
    from wbcrepro.paths import cache_root, data_root, resolve_portable

    return [resolve_portable(str(p), data_root(), cache_root()) for p in paths]


# --- the smoke profile, executed once per session ------------------------------------------------
@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the suite reads (never the real book/runs), with the smoke profile run.

    Session-scoped and shared (test_smoke_profile.py, test_browser.py): executing the profile
    takes minutes, so CI does it once. Only slow tests request it, all of them in the
    ``xdist_group("smoke")``, so that under ``pytest -n`` (``make test``) one worker builds it.
    """
    from wbcrepro.reproduction.runner import reproduce

    root = tmp_path_factory.mktemp("repo")
    for folder in ("notebooks", "profiles", "book"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("runs"))
    for name in ("_config.yml",):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREPRO_REPO", str(root))
        summary = reproduce("smoke", progress=False)
    assert summary.ok, summary.table()
    return root


@pytest.fixture(scope="session")
def smoke_book(smoke_repo: Path) -> Path:
    """The smoke profile's book built (JB1, warnings as errors) from ``smoke_repo``: its HTML
    folder ``_build/smoke/_build/html``."""
    from wbcrepro.reproduction.book import build_book

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREPRO_REPO", str(smoke_repo))
        index = build_book("smoke", quiet=True)
    return index.parent
