"""The names of a run folder's files, importable without torch.

Pages (:mod:`wbcrepro.report`) read run folders but must never import training code; training
(:mod:`wbcrepro.training.fit`) writes them. Both take the names from here, so they cannot drift
apart.

A run folder holds::

    params.json     the resolved config (rebuilds the run: TrainConfig.from_flat)
    split.csv       the manifest with its train/val/test split (re-read on resume)
    excluded.csv    what the dataset loader left out, with reasons
    skipped.csv     unreadable images skipped (only with skip_bad_files=true; else they stop)
    metrics.csv     one row per finished epoch
    checkpoint.pt   model + optimizer + history of the last epoch, replaced atomically
    best.pt         the model selected on validation (when selection is allowed)
    results.json    status, parameters, environment, code hash, dataset counts, final metrics
    predictions_<split>.csv   per-image predictions of the evaluated model
"""

from __future__ import annotations

PARAMS = "params.json"
SPLIT = "split.csv"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
RESULTS = "results.json"
EXCLUDED = "excluded.csv"
SKIPPED = "skipped.csv"


class RunFolderError(RuntimeError):
    """The run folder is in a state that does not fit the request (exists, differs, missing)."""


def predictions_file(split: str) -> str:
    """File name of the per-image predictions on ``split``."""
    return f"predictions_{split}.csv"
