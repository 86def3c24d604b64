"""Content hashes of the package's code, so that staleness follows what a result depends on.

A training run depends on the training code (data, models, transforms, engine, ...); a page depends
on the report code. Hashing them apart means a change to a page's wording re-renders pages but
never retrains, while a change to a loader or the training loop makes every training run stale.
The package version string is no use for this: it stays 0.1.0 across every change.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESULTS_KEY = "training_code_hash"
"""The key under which a run's results.json records :func:`training_code_hash` of its code."""

# Code that only renders records, judges them (verdicts), decides whether to train (experiment),
# builds the book or drives the runner: it never changes what a training run computes. Paths
# relative to the package folder; a folder stands for all it holds.
PRESENTATION_PARTS = (
    "report",
    "report/crossdomain_page.py",
    "verdicts.py",
    "arms.py",
    "seedstats.py",
    "leakage",
    "experiment.py",
    "book.py",
    "reproduce.py",
    "profiles.py",
    "notebook_params.py",
    "executed.py",
    "cli.py",
    "paper.py",
)


def _is_presentation(relative: Path) -> bool:
    first = relative.parts[0]
    return first in PRESENTATION_PARTS


def _python_files() -> list[Path]:
    return sorted(
        p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts
    )


def _digest(files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in files:
        sha.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        sha.update(b"\0")
        sha.update(path.read_bytes())
        sha.update(b"\0")
    return sha.hexdigest()[:16]


@cache
def training_code_hash() -> str:
    """Hash of every module a training run executes (all of ``wbcrepro/**/*.py`` except the
    presentation layer): a change here makes trained runs stale."""
    files = [p for p in _python_files() if not _is_presentation(p.relative_to(PACKAGE_DIR))]
    return _digest(files)


@cache
def report_code_hash() -> str:
    """Hash of the whole package (pages import the records' readers too): a change anywhere
    re-renders pages; only a :func:`training_code_hash` change retrains."""
    return _digest(_python_files())
