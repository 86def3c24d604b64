"""Content hashes of the package's code, so that staleness follows what a result depends on.

A training run depends on exactly the modules :func:`wbcrepro.training.fit.fit` executes: the import
closure of :mod:`wbcrepro.training.fit` (data, datasets, models, transforms, engine, batchnorm,
...), read
from the source by :mod:`wbcrepro.importgraph`. A page depends on the whole package. Hashing them
apart means a change to a page, the runner or the export code re-renders pages but never
retrains, while a change to anything training imports makes every training run stale. The
package version string is no use for this: it stays 0.1.0 across every change.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from wbcrepro.importgraph import closure, import_graph, module_files

PACKAGE_DIR = Path(__file__).resolve().parent
TRAINING_ENTRY = "wbcrepro.training.fit"
RESULTS_KEY = "training_code_hash"
"""The key under which a run's results.json records :func:`training_code_hash` of its code."""


def _python_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def _digest(files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(files):
        sha.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        sha.update(b"\0")
        sha.update(path.read_bytes())
        sha.update(b"\0")
    return sha.hexdigest()[:16]


def training_modules() -> dict[str, Path]:
    """Module name -> file of every module a training run executes."""
    root = PACKAGE_DIR.parent
    graph = import_graph(root, PACKAGE_DIR.name)
    files = module_files(root, PACKAGE_DIR.name)
    return {name: files[name] for name in sorted(closure(graph, TRAINING_ENTRY))}


@cache
def training_code_hash() -> str:
    """Hash of the modules a training run executes: a change here makes trained runs stale."""
    return _digest(list(training_modules().values()))


@cache
def report_code_hash() -> str:
    """Hash of the whole package: a change anywhere re-renders pages; only a
    :func:`training_code_hash` change retrains."""
    return _digest(_python_files())
