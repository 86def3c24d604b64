"""Executed notebooks as committed outputs: portable, free of per-run noise, clean to read.

Papermill and nbclient stamp every cell with start/end times and the notebook with the absolute
input and output paths of the machine that ran it. Committed under ``book/runs/`` that would make
every re-execution a diff of hundreds of timestamps and leak this machine's folders into the
published book. What a reader needs (the parameters, the outputs, whether a cell failed) stays;
the run's own timing is kept once, in the runner's ``<id>.run.json``. :func:`papermill_executor`
executes a notebook and makes its outputs portable at once, even when it fails.

The book shows these notebooks to readers who came for findings, not plumbing: the parameters
cells (the notebook's defaults and papermill's injected values, which would show b4 at 224 px on a
page about a Lite0 run), and import-only cells are removed from the page (Jupyter Book's
``remove-cell`` tag); every other code cell keeps its output and hides its source
(``remove-input``). The pages list the run's resolved parameters themselves, from the run record.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from wbcrepro.fileio import atomic_write
from wbcrepro.paths import cache_root, data_root

NOTEBOOK_TIMING_KEYS = ("start_time", "end_time", "duration", "environment_variables")
CELL_TIMING_KEYS = ("start_time", "end_time", "duration")
PLUMBING_TAGS = ("parameters", "injected-parameters")
REMOVE_CELL, REMOVE_INPUT = "remove-cell", "remove-input"


def _is_import_only(source: str) -> bool:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith(("import ", "from ")) for line in lines)


def page_tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags with the book's visibility tag added (see the module docstring)."""
    tags = list(cell.metadata.get("tags", []))
    if cell.cell_type != "code" or REMOVE_CELL in tags or REMOVE_INPUT in tags:
        return tags
    plumbing = any(t in tags for t in PLUMBING_TAGS) or _is_import_only(cell.source)
    return [*tags, REMOVE_CELL if plumbing else REMOVE_INPUT]


def _relative(path: str | None, repo: Path) -> str | None:
    if not path:
        return path
    try:
        return Path(path).resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def make_portable(notebook: str | os.PathLike, repo: str | os.PathLike) -> None:
    """Rewrite ``notebook`` in place without timestamps, with repository-relative paths and with
    the book's visibility tags on its code cells."""
    path, repo = Path(notebook), Path(repo)
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        for key in NOTEBOOK_TIMING_KEYS:
            meta.pop(key, None)
        for key in ("input_path", "output_path"):
            if key in meta:
                meta[key] = _relative(meta[key], repo)
    prefix = f"{repo.resolve()}/"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            # warnings and logs name files by absolute path: make them repository-relative
            if output.get("output_type") == "stream" and prefix in output.get("text", ""):
                output["text"] = output["text"].replace(prefix, "")
        cell.metadata["tags"] = page_tags(cell)
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
        cell.metadata.pop("execution", None)
        cell_meta = cell.metadata.get("papermill")
        if cell_meta is not None:
            for key in CELL_TIMING_KEYS:
                cell_meta.pop(key, None)
    atomic_write(path, lambda tmp: nbformat.write(nb, tmp))


GENERIC_TITLES = ("Experiment", "Ablation", "Data overview", "Cross-domain evaluation", "Arm")
"""First headings of notebooks that many runs share: on the page (and in the browser's tab) each
becomes its run's own title from the profile, so no two pages are both called "Experiment"."""


def retitle(notebook: str | os.PathLike, title: str) -> bool:
    """Replace an executed notebook's generic first heading (``GENERIC_TITLES``) by ``title``;
    returns whether it did. A notebook with its own first heading is left as it is."""
    path = Path(notebook)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError, AttributeError, KeyError, nbformat.ValidationError):
        return False  # not a notebook (a test's stand-in for papermill's output)
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        return False
    first, _, rest = nb.cells[0].source.partition("\n")
    if first.strip() not in (f"# {generic}" for generic in GENERIC_TITLES) or not title:
        return False
    nb.cells[0].source = f"# {title}" + (f"\n{rest}" if rest else "")
    atomic_write(path, lambda tmp: nbformat.write(nb, tmp))
    return True


RUN_FILE_PATH_COLUMNS = {"excluded.csv": "item", "skipped.csv": "path"}
"""Run-folder tables whose entries can be this machine's file paths (split.csv and the
predictions files are written portable by training itself)."""


def make_run_folder_portable(folder: str | os.PathLike, data: Path, cache: Path) -> list[str]:
    """Rewrite absolute data and cache paths in a run folder's exclusion tables as ``$DATA/...``
    and ``$CACHE/...`` (:func:`wbcrepro.paths.portable_path`); returns the files rewritten.
    Other entries (smear ids, reasons) are kept as they are."""
    import pandas as pd

    from wbcrepro.paths import portable_path

    rewritten = []
    for name, column in RUN_FILE_PATH_COLUMNS.items():
        path = Path(folder) / name
        if not path.is_file():
            continue
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if column not in table.columns:
            continue
        portable = [
            portable_path(v, data, cache) if v.startswith("/") else v for v in table[column]
        ]
        if portable != list(table[column]):
            table[column] = portable
            atomic_write(path, lambda tmp, t=table: t.to_csv(tmp, index=False))
            rewritten.append(name)
    return rewritten


KERNEL_NAME = "python3"
KERNEL_STAGGER_S = 1.0
"""Seconds between two kernel starts of this process: kernels started at the same moment pick
their ports at the same moment, and two can pick the same free port."""
KERNEL_START_TRIES = 3
KERNEL_START_FAILURES = (
    "Kernel died before replying to kernel_info",
    "Kernel didn't respond",
    "Address already in use",
    "kernel_info",
)
"""Messages of a kernel that failed to start (a port taken between choosing and binding it):
such a run is retried, because no cell ran. A failing cell is never retried."""

_last_start = 0.0
_start_lock = threading.Lock()


def stagger_kernel_start(gap: float = KERNEL_STAGGER_S) -> float:
    """Wait until ``gap`` seconds have passed since this process last started a kernel; returns
    the moment this start was granted (``time.monotonic``)."""
    global _last_start
    with _start_lock:
        wait = _last_start + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_start = time.monotonic()
        return _last_start


def is_kernel_start_failure(err: BaseException) -> bool:
    """True for a kernel that never started (see ``KERNEL_START_FAILURES``), not a failed cell."""
    if getattr(err, "ename", None) is not None:  # papermill's PapermillExecutionError: a cell
        return False
    return any(text in str(err) for text in KERNEL_START_FAILURES)


def kernel_manager_with_env(env: Mapping[str, str]) -> type:
    """A kernel manager class whose kernels get ``env`` on top of this process's environment
    (each side-by-side kernel its own ``CUDA_VISIBLE_DEVICES``): ``os.environ`` is process-wide,
    so it cannot differ between two kernels started from two threads."""
    from jupyter_client.manager import AsyncKernelManager

    extra = dict(env)

    class EnvKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw["env"] = {**os.environ, **(kw.get("env") or {}), **extra}
            await super().start_kernel(**kw)

    return EnvKernelManager


def papermill_executor(
    input_path: Path,
    output: Path,
    parameters: dict[str, Any],
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run one notebook with papermill in the ``python3`` kernel, with the repo root as cwd.

    The kernel is started in ``cwd`` through nbclient's ``resources`` rather than papermill's
    ``cwd=``: papermill implements that with ``os.chdir`` around the whole execution, which is
    process-wide, so two notebooks run side by side (``jobs: 2``, one thread each) could restore
    each other's directory and start a kernel in the wrong place (its relative run folder lost).
    ``env`` is added to the kernel's environment. Kernel starts are staggered, and a kernel that
    fails to start is started again (up to ``KERNEL_START_TRIES`` times).
    """
    import papermill

    extra: dict[str, Any] = {}
    if env:
        extra["kernel_manager_class"] = kernel_manager_with_env(env)
    try:
        for attempt in range(1, KERNEL_START_TRIES + 1):
            stagger_kernel_start()
            try:
                papermill.execute_notebook(
                    str(Path(input_path).resolve()),
                    str(Path(output).resolve()),
                    parameters=parameters,
                    kernel_name=KERNEL_NAME,
                    resources={"metadata": {"path": str(Path(cwd).resolve())}},
                    progress_bar=False,
                    log_output=False,
                    **extra,
                )
                return
            except Exception as err:
                if attempt == KERNEL_START_TRIES or not is_kernel_start_failure(err):
                    raise
    finally:  # a failed notebook is committed for inspection too
        if output.is_file():
            make_portable(output, cwd)
        folder = cwd / str(parameters.get("runs_root", "")) / str(parameters.get("run_id", ""))
        if parameters.get("run_id") and folder.is_dir():
            make_run_folder_portable(folder, data_root(), cache_root())


def describe_error(err: BaseException) -> str:
    """One readable line (plus the cell) for a failure; papermill's str() is a long banner."""
    ename = getattr(err, "ename", None)
    if ename is not None:
        cell = getattr(err, "exec_count", None)
        where = f" (cell In [{cell}])" if cell is not None else ""
        return f"{ename}: {getattr(err, 'evalue', '')}{where}".strip()
    return f"{type(err).__name__}: {err}"
