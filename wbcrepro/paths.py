"""Where data and caches live.

The data root may be read-only (CI mounts ../shared/data read-only), so anything the package
writes (decoded-image caches, synthetic images) goes under the cache folder instead.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "WBCREPRO_DATA"
CACHE_ENV = "WBCREPRO_CACHE"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The data root: an explicit argument, else ``$WBCREPRO_DATA``, else ``./data``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path("data")


def cache_root() -> Path:
    """The cache folder: ``$WBCREPRO_CACHE``, else ``$XDG_CACHE_HOME/wbcrepro``, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wbcrepro"
