"""What produced a number: interpreter, libraries, hardware and the code's git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = (
    "wbcrepro",
    "torch",
    "torchvision",
    "efficientnet-pytorch",
    "efficientnet-lite-pytorch",
    "numpy",
    "pillow",
    "scikit-learn",
    "scikit-image",
    "scipy",
    "pandas",
    "papermill",
)


RUN_OUTPUTS = "book/runs"
"""Where ``reproduce`` writes executed notebooks and run records (tracked, so that the book is
committed). They are outputs, not code: a reproduction rewrites them run by run, and counting them
would mark every run after the first of a ``reproduce`` call as run from a dirty tree."""


def git_commit(path: str | Path | None = None) -> dict[str, Any]:
    """The commit of the checkout holding this package, and whether it had local changes
    (to tracked files other than the run outputs under :data:`RUN_OUTPUTS`)."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ":/",
                f":(top,exclude){RUN_OUTPUTS}",
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return {"commit": sha, "dirty": bool(dirty.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def hardware(device: torch.device | None = None) -> dict[str, Any]:
    """A short description of where the run executes (shown next to every result)."""
    info: dict[str, Any] = {
        "device": str(device) if device is not None else None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }
    info["summary"] = info["gpu"] or f"CPU ({info['cpu_count']} cores)"
    return info


def collect_environment(device: torch.device | None = None) -> dict[str, Any]:
    """The environment record written into every run's ``results.json``."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "hardware": hardware(device),
        "git": git_commit(),
    }
