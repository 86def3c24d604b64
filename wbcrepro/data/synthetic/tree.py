"""The synthetic data set on disk: an ImageFolder tree drawn once, atomically, and its manifest.

Every image has its own random generator (seed, class, index), so a tree is reproducible file by
file; ``synthetic.json`` records the parameters and generator version and marks a complete tree.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from wbcrepro.classes import PAPER_CLASSES
from wbcrepro.data.synthetic.cells import draw_cell

SYNTHETIC_NAME = "synthetic"
# Bump whenever the drawing changes, so that cached trees drawn by an older generator are redrawn.
SYNTHETIC_VERSION = 1
SYNTHETIC_NOTE = "synthetic images drawn by wbcrepro.data.synthetic; not real blood cells"
METADATA_FILE = "synthetic.json"


def image_rng(seed: int, class_index: int, index: int) -> np.random.Generator:
    """Random generator for one image, independent of every other image.

    Seeding per (seed, class, index) makes each file reproducible on its own, so per_class can be
    changed without altering the images that both sizes share, and generation order is irrelevant.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, index]))


def _metadata(per_class: int, size: int, seed: int) -> dict:
    return {
        "name": SYNTHETIC_NAME,
        "per_class": per_class,
        "size": size,
        "seed": seed,
        "classes": list(PAPER_CLASSES),
        "generator_version": SYNTHETIC_VERSION,
        "note": SYNTHETIC_NOTE,
    }


def _file_name(class_name: str, index: int) -> str:
    return f"{class_name}_{index:04d}.png"


def _manifest(root: Path, per_class: int) -> pd.DataFrame:
    """Manifest of a complete tree; a missing file is an error rather than a silently short set."""
    rows = []
    for class_name in PAPER_CLASSES:
        for index in range(per_class):
            path = (root / class_name / _file_name(class_name, index)).resolve()
            if not path.is_file():
                raise FileNotFoundError(
                    f"synthetic dataset in {root} is incomplete: missing {path}; "
                    f"delete {root} to regenerate it"
                )
            rows.append(
                {
                    "path": str(path),
                    "label": class_name,
                    "group": f"{SYNTHETIC_NAME}-{class_name}-{index:04d}",
                }
            )
    return pd.DataFrame(rows, columns=["path", "label", "group"])


def _read_metadata(root: Path) -> dict | None:
    try:
        return json.loads((root / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None


def generate_synthetic(
    out_dir: str | os.PathLike, per_class: int = 100, size: int = 128, seed: int = 0
) -> pd.DataFrame:
    """Write (or reuse) the synthetic ImageFolder tree and return its manifest.

    Layout: ``out_dir/<class>/<class>_<index:04d>.png`` plus ``out_dir/synthetic.json``. The
    manifest has columns ``path`` (absolute), ``label`` (class name) and ``group`` (one id per
    image: every synthetic image is its own independent source, so group-aware splits are trivial).

    If ``synthetic.json`` already records the same parameters and generator version, nothing is
    redrawn. Otherwise the tree is drawn in a sibling temporary directory and renamed into place,
    so an interrupted run never leaves a half-written tree that looks complete.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # np.random.SeedSequence only accepts non-negative integers.
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    per_class, size, seed = int(per_class), int(size), int(seed)
    root = Path(out_dir)
    wanted = _metadata(per_class, size, seed)

    if _read_metadata(root) == wanted:
        return _manifest(root, per_class)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and _read_metadata(root) is None:
        # Never delete something we did not create.
        raise FileExistsError(
            f"{root} is not empty and has no {METADATA_FILE}; refusing to overwrite it with the "
            "synthetic dataset (choose an empty or new directory)"
        )

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        for class_index, class_name in enumerate(PAPER_CLASSES):
            class_dir = tmp / class_name
            class_dir.mkdir()
            for index in range(per_class):
                img = draw_cell(class_name, image_rng(seed, class_index, index), size)
                # Fast zlib level: the noisy images barely compress further at higher levels.
                img.save(class_dir / _file_name(class_name, index), format="PNG", compress_level=1)
        # Written last: its presence marks a complete tree.
        (tmp / METADATA_FILE).write_text(json.dumps(wanted, indent=2) + "\n")
        if root.exists():
            # A stale synthetic tree (other parameters / version): move it aside, then swap in.
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, old / "tree")
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, root)
            except OSError:
                # Another process finished the same tree first; use it if it matches.
                if _read_metadata(root) != wanted:
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _manifest(root, per_class)
