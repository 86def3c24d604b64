"""Atomic file writes and JSON records: the one place the package writes files that others read.

A run folder, a runner record and a cache table are read by other processes (a page rendering, a
resumed run, a second ``reproduce``); a killed writer must never leave half a file that reads as a
corrupt or finished record. Every such file is written to a temporary file in the same folder and
renamed over the target (atomic on POSIX and Windows for files on one file system).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and rename the temporary file onto ``path``.

    The parent folder is created when missing; on any error the temporary file is removed and
    ``path`` keeps its previous content (or stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); a record is meant to be read by others, so give
        # it the permissions an ordinary open() would have (0666 minus the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (``default=str`` for paths and the like)."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``; a missing or malformed file raises naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def read_json_or_none(path: str | os.PathLike) -> Any | None:
    """The JSON content of ``path``, or None when it is absent or unreadable (never written, or
    written by an older version that crashed): callers treat that as "no record"."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
