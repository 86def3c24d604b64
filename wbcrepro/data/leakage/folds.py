"""The leakage audit of a k-fold cross-validation: near-copies between each test fold and the
rest.

A cross-validated accuracy on a small set (LISC: 255 crops) is only as good as its folds are
disjoint: one cell photographed twice, or a crop and its resized copy, in a test fold and in the
training folds inflates it. This runs :func:`wbcrepro.data.leakage.audits.audit_split` on the
exact folds a run builds (:func:`wbcrepro.data.loading.load_split_data` with ``n_folds`` and
``fold``): each test fold against the other folds (training and validation images alike). As
with every detector here, a hit count is a lower bound; zero does not prove the folds clean.

Record (``wbcrepro data leakage --dataset NAME --folds K --out FILE.json``): ``dataset``,
``n_folds``, ``split_seed``, ``group_near_copies``, ``method``, ``folds`` (one
:func:`audit_split` record per fold, with ``fold``), ``n_images``, ``n_leaked`` (summed over
folds), ``environment`` and ``training_code_hash``; paths relative to the data root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wbcrepro.config import TrainConfig
from wbcrepro.data.leakage.audits import audit_split
from wbcrepro.data.loading import load_split_data


def fold_audit(
    root: Path,
    dataset: str,
    n_folds: int,
    method: str = "hash",
    split_seed: int = 0,
    progress: bool = False,
    group_near_copies: bool = False,
) -> dict[str, Any]:
    """Audit every fold of ``dataset``'s ``n_folds``-fold split (the split a run with these
    settings, ``group_near_copies`` included, trains on)."""
    from wbcrepro.codehash import training_code_hash
    from wbcrepro.environment import collect_environment

    if n_folds < 2:
        raise ValueError(f"a fold audit needs n_folds >= 2, got {n_folds}")
    folds = []
    for fold in range(n_folds):
        cfg = TrainConfig.from_flat(
            {
                "dataset": dataset,
                "data_root": str(root),
                "n_folds": n_folds,
                "fold": fold,
                "split_seed": split_seed,
                "group_near_copies": group_near_copies,
                "num_classes": 0,
            }
        )
        manifest = load_split_data(cfg).manifest.copy()
        manifest.loc[manifest["split"] != "test", "split"] = "rest"
        record = audit_split(
            manifest, against="rest", method=method, progress=progress, relative_to=Path(root)
        )
        folds.append({"fold": fold, **record})
    return {
        "dataset": dataset,
        "n_folds": n_folds,
        "split_seed": split_seed,
        "group_near_copies": group_near_copies,
        "method": method,
        "folds": folds,
        "n_images": sum(f["n_split"] for f in folds),
        "n_leaked": sum(f["n_leaked"] for f in folds),
        "environment": collect_environment(),
        "training_code_hash": training_code_hash(),
    }
