"""Executed notebooks as committed outputs: portable, and free of per-execution noise.

Papermill and nbclient stamp every cell with start/end times and the notebook with the absolute
input and output paths of the machine that ran it. Committed under ``book/runs/`` that would make
every re-execution a diff of hundreds of timestamps and leak this machine's folders into the
published book. What a reader needs (the parameters, the outputs, whether a cell failed) stays;
the run's own timing is kept once, in the runner's ``<id>.run.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

from wbcrepro.fileio import atomic_write

NOTEBOOK_TIMING_KEYS = ("start_time", "end_time", "duration", "environment_variables")
CELL_TIMING_KEYS = ("start_time", "end_time", "duration")


def _relative(path: str | None, repo: Path) -> str | None:
    if not path:
        return path
    try:
        return Path(path).resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def make_portable(notebook: str | os.PathLike, repo: str | os.PathLike) -> None:
    """Rewrite ``notebook`` in place without timestamps and with repository-relative paths."""
    path, repo = Path(notebook), Path(repo)
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        for key in NOTEBOOK_TIMING_KEYS:
            meta.pop(key, None)
        for key in ("input_path", "output_path"):
            if key in meta:
                meta[key] = _relative(meta[key], repo)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell_meta = cell.metadata.get("papermill")
        if cell_meta is not None:
            for key in CELL_TIMING_KEYS:
                cell_meta.pop(key, None)
    atomic_write(path, lambda tmp: nbformat.write(nb, tmp))
