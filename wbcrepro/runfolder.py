"""A run folder's file names and the schema of its ``results.json``, importable without torch.

Pages (:mod:`wbcrepro.report`) read run folders but must never import training code; training
(:mod:`wbcrepro.training.fit`) writes them. Both take the names and the record's shape from here,
so they cannot drift apart: :class:`RunResults` is the one definition of ``results.json``,
:func:`check_results` the one validation (training writes through it, readers read through
:func:`read_results`).

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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

from wbcrepro.fileio import read_json

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


# --- results.json ---------------------------------------------------------------------------------
class ModelRecord(TypedDict):
    arch: str
    implementation: str
    parameters: int
    trainable_parameters: int


class DatasetRecord(TypedDict):
    name: str
    synthetic: bool
    class_names: list[str]
    notes: list[str]
    excluded_by_loader: int
    skipped_unreadable: int
    val_source_disjoint: bool
    counts: dict[str, dict[str, int]]
    """split -> class -> images."""


class SelectionRecord(TypedDict):
    metric: str | None
    """The validation metric that chose the epoch; None when the last epoch is tested."""
    selected_epoch: int
    value: float | None
    reason: str


class GateRecord(TypedDict):
    learned: bool
    reasons: list[str]


Status = Literal["running", "complete", "failed", "interrupted"]


class RunResults(TypedDict, total=False):
    """``results.json``: written at the start (``running``), after the data is loaded, and at the
    end (``complete``), or with the error (``failed`` / ``interrupted``).

    ``final`` holds :func:`wbcrepro.metrics.classification_report` of the selected model
    on ``val`` and ``test`` (and of the last epoch on ``test_last_epoch``); ``baselines`` holds
    ``chance``, ``majority`` and ``linear_probe`` (or ``{"status": "not available", "reason"}``).
    """

    status: Status
    params: dict[str, Any]
    environment: dict[str, Any]
    training_code_hash: str
    error: str | None
    model: ModelRecord
    dataset: DatasetRecord
    eval_geometry: str
    batchnorm: dict[str, Any]
    resumed_from_epoch: int | None
    epochs_completed: int
    train_seconds: float
    selection: SelectionRecord
    final: dict[str, dict[str, Any]]
    baselines: dict[str, Any]
    gate: GateRecord


RESULTS_KEYS = frozenset(RunResults.__annotations__)
STATUSES = ("running", "complete", "failed", "interrupted")
ALWAYS = frozenset({"status", "params", "environment", "training_code_hash", "error"})
"""Keys present from the first write on."""
WHEN_COMPLETE = RESULTS_KEYS - {"resumed_from_epoch"}
"""Keys a complete record must have (``resumed_from_epoch`` is written once the data is loaded,
which a complete run always did; it is None for a run that never resumed)."""
NESTED = {
    "model": ModelRecord,
    "dataset": DatasetRecord,
    "selection": SelectionRecord,
    "gate": GateRecord,
}


def check_results(results: Mapping[str, Any], where: str | Path = "results.json") -> None:
    """Raise :class:`RunFolderError` naming ``where`` and the key when ``results`` does not fit
    :class:`RunResults`: an unknown or missing key, an unknown status, a nested record with
    other keys. A record that fits is what every page may rely on."""
    unknown = sorted(set(results) - RESULTS_KEYS)
    if unknown:
        raise RunFolderError(f"{where}: unknown key(s) {', '.join(unknown)} in a run record")
    status = results.get("status")
    if status not in STATUSES:
        raise RunFolderError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    required = WHEN_COMPLETE if status == "complete" else ALWAYS
    missing = sorted(required - set(results))
    if missing:
        raise RunFolderError(f"{where}: a {status} run record lacks {', '.join(missing)}")
    for key, schema in NESTED.items():
        value = results.get(key)
        if value is None:
            continue
        expected = set(schema.__annotations__)
        if not isinstance(value, Mapping) or set(value) != expected:
            got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
            raise RunFolderError(
                f"{where}: {key!r} must have the keys {', '.join(sorted(expected))}; got {got}"
            )


def read_results(folder: str | Path) -> RunResults:
    """A run folder's ``results.json``, checked against :class:`RunResults`."""
    path = Path(folder) / RESULTS
    results = read_json(path)
    check_results(results, path)
    return results  # type: ignore[return-value]
