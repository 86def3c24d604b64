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


DATA_PREFIX, CACHE_PREFIX = "$DATA/", "$CACHE/"


def portable_path(path: str | os.PathLike, data: Path, cache: Path) -> str:
    """``path`` as a run file records it: ``$DATA/<relative>`` under the data root, ``$CACHE/...``
    under the cache root (BCCD crops), else unchanged. Run folders are committed and read on other
    machines: they must not carry this machine's absolute paths."""
    resolved = Path(path).expanduser().resolve()
    for prefix, root in ((DATA_PREFIX, data), (CACHE_PREFIX, cache)):
        try:
            return prefix + resolved.relative_to(root.expanduser().resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def resolve_portable(text: str, data: Path, cache: Path) -> str:
    """The inverse of :func:`portable_path` on this machine's roots."""
    for prefix, root in ((DATA_PREFIX, data), (CACHE_PREFIX, cache)):
        if text.startswith(prefix):
            return str(root.expanduser() / text[len(prefix) :])
    return text
