"""On-disk cache tables of the leakage detectors: one ``.npz`` per (store, kind), key -> row.

Hashing 12,500 images or embedding them with a CNN takes minutes to half an hour on 2 CPU cores;
re-running an audit must take seconds. A table lives under ``cache_root()/<store>/<kind>.npz``,
never next to the images (the data root may be read-only). A row's key holds the file's absolute
path, size and mtime and the kind (detector settings + version), so a changed file or a changed
detector is computed again. The cache is only a cache: a missing or corrupt table reads as empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbcrepro.fileio import atomic_write
from wbcrepro.paths import cache_root


def table_file(store: str, kind: str) -> Path:
    return cache_root() / store / f"{kind}.npz"


def load_table(store: str, kind: str, field: str) -> dict[str, np.ndarray]:
    """key -> row of a cached table (hash codes or embeddings); missing or corrupt: empty."""
    file = table_file(store, kind)
    if not file.is_file():
        return {}
    try:
        with np.load(file, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data[field], strict=True))
    except (OSError, ValueError, KeyError):
        return {}


def save_table(
    store: str, kind: str, field: str, table: dict[str, np.ndarray], dtype: np.dtype | type
) -> None:
    """Write the whole table atomically, so a concurrent reader never sees half a file."""
    keys = np.array(list(table), dtype=str)
    values = np.stack(list(table.values())).astype(dtype) if table else np.zeros((0, 0), dtype)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to a name
            np.savez(handle, keys=keys, **{field: values})

    atomic_write(table_file(store, kind), write)


def cache_key(path: Path, kind: str) -> str:
    """(absolute path, size, mtime, kind): a changed or replaced file is computed again."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{kind}"
