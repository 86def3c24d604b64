"""The model a run folder stands for: its selected weights, config and class names, checked.

This is the run-folder half of loading a model; :mod:`wbcrepro.inference.loading` turns what it
reads (or a shipped file) into the one :class:`~wbcrepro.inference.loading.LoadedModel` that
prediction, evaluation, cross-domain evaluation, Grad-CAM and export all use.

A run folder may hold two models: ``checkpoint.pt`` (the last epoch, with the optimizer, for
resuming) and ``best.pt`` (the epoch selected on validation). Whatever uses a trained run from the
outside (export, prediction, cross-domain evaluation) must take the one the run reports, so the
choice is made here once: ``best.pt`` when present, else ``checkpoint.pt``. ``best.pt`` need only
hold the weights and the epoch; the config then comes from ``params.json`` and the class names
from ``results.json`` (or a checkpoint), which are the run's own records of them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wbcrepro.config import TrainConfig
from wbcrepro.data.loading import cache_side
from wbcrepro.fileio import read_json, read_json_or_none
from wbcrepro.model.networks import build_network, head_prefix
from wbcrepro.runfolder import BEST, CHECKPOINT, PARAMS, RESULTS, RunFolderError
from wbcrepro.training.run_files import selected_model_file

REPO_ROOT = Path(__file__).resolve().parents[2]


def best_seed_folder(path: str | Path, metric: str = "macro_f1") -> Path:
    """A run folder as given; for an *arm* (``<path>-s<seed>`` folders beside a missing
    ``path``, as a profile entry with ``seeds`` makes) the complete seed run with the best
    *validation* ``metric`` (ties: the lower seed). The test split never picks a model, so a
    shipped or cross-domain model is chosen exactly like a run's own epoch."""
    path = Path(path)
    if path.exists():
        return path
    candidates = []
    for folder in path.parent.glob(f"{path.name}-s*"):
        seed = folder.name[len(path.name) + 2 :]
        results = read_json_or_none(folder / RESULTS) or {}
        val = (results.get("final") or {}).get("val") or {}
        if seed.isdigit() and results.get("status") == "complete" and metric in val:
            candidates.append((-float(val[metric]), int(seed), folder))
    if not candidates:
        raise RunFolderError(
            f"{path} is neither a run folder nor an arm with complete seed runs "
            f"({path.name}-s<seed>) that report validation {metric}"
        )
    return min(candidates)[2]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies the exact weights a result came from)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def check_weights_belong(folder: Path | None, model_file: Path, state: dict[str, Any]) -> None:
    """Raise :class:`RunFolderError` when ``best.pt`` is not the model the folder's records
    describe: its epoch or validation value differs from ``results.json``'s ``selection``.

    Checkpoints are not committed, so a folder can hold the records of one training (committed,
    or copied from another tree) beside the model files of an earlier one; anything made from
    such weights (Grad-CAM, a cross-domain evaluation, a shipped model) would silently belong to
    another run than the page says."""
    results = read_json_or_none(folder / RESULTS) if folder is not None else None
    selection = (results or {}).get("selection") or {}
    if model_file.name != BEST or not selection:
        return
    epoch, value = selection.get("selected_epoch"), selection.get("value")
    same_epoch = epoch is None or state.get("epoch") == epoch
    same_value = (
        value is None
        or state.get("value") is None
        or math.isclose(float(state["value"]), float(value), rel_tol=1e-9)
    )
    if not (same_epoch and same_value):
        raise RunFolderError(
            f"{model_file} is not the model of {folder}'s records: it holds epoch "
            f"{state.get('epoch')} (validation {state.get('value')}), results.json selected "
            f"epoch {epoch} ({value}). It is left from another training; delete {BEST} and "
            f"{CHECKPOINT} there (the records stay) or retrain the run."
        )


def weights_sha256(run_folder: str | Path) -> str | None:
    """SHA-256 of the run's selected model file, or None where no model file is there.

    None is the normal state of a clone: run records are committed, checkpoints are not. A
    derived record (Grad-CAM panel, cross-domain evaluation, shipped model) then cannot be
    checked against the weights, only against the run's records (:func:`keep_committed`).
    """
    model_file = selected_model_file(run_folder)
    if not model_file.is_file():
        return None
    folder = Path(run_folder) if Path(run_folder).is_dir() else None
    check_weights_belong(folder, model_file, _torch_load(model_file))
    return file_sha256(model_file)


def selected_epoch(run_folder: str | Path) -> int | None:
    """The epoch the run selected on validation, as its ``results.json`` reports it."""
    results = read_json_or_none(Path(run_folder) / RESULTS) or {}
    return (results.get("selection") or {}).get("selected_epoch")


def keep_committed(
    run_folder: str | Path, what: str, made_from: dict[str, Any] | None, matches: bool
) -> None:
    """For a run whose weights are not here: return (printing so) when the committed derived
    record made from ``made_from`` (its ``run_id``, ``epoch`` and ``model_sha256``) may stand for
    the run, else raise the error that says to retrain it.

    It may when ``matches`` (the caller's own request agrees with the record: same settings,
    same code, not forced), it names this run where it names one, and it names the epoch the run
    selected. Training always writes the model file, so a folder without one holds the records
    of the training that made the derived record, committed together; the epoch is what can
    still be checked without the weights."""
    folder, made_from = Path(run_folder), made_from or {}
    epoch = selected_epoch(folder)
    names_run = made_from.get("run_id", folder.name) == folder.name
    if matches and names_run and epoch is not None and made_from.get("epoch") == epoch:
        sha = str(made_from.get("model_sha256", ""))[:12]
        print(
            f"{folder.name}: its weights are not here (checkpoints are not committed); "
            f"kept the committed {what}, made from its epoch-{epoch} model (sha256 {sha}...)."
        )
        return
    raise RunFolderError(
        f"the {what} needs the weights of {folder} ({BEST} or {CHECKPOINT}), which are not "
        f"there; a committed {what} is kept only when it matches this request and names this "
        f"run and the epoch it selected. Retrain the run (wbcrepro reproduce --only "
        f"{folder.name.rsplit('-s', 1)[0]} --force) to make them."
    )


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository when inside it (records stay portable), else its
    folder name only (a shipped file must not carry a user's absolute paths)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise RunFolderError(f"cannot read checkpoint {path}: {err}") from err


@dataclass(frozen=True)
class RunModel:
    """A run's selected model as stored: weights (CPU), config, class names and provenance."""

    model_file: Path
    folder: Path | None
    cfg: TrainConfig
    class_names: tuple[str, ...]
    state_dict: dict[str, torch.Tensor]
    epoch: int | None
    results: dict[str, Any] | None

    @property
    def run_id(self) -> str:
        return (self.folder or self.model_file.parent).name

    def provenance(self) -> dict[str, Any]:
        """Which weights a derived record (a shipped file, a cross-domain evaluation) came from:
        run, portable folder, model file with its sha256, epoch, dataset and synthetic flag."""
        dataset = (self.results or {}).get("dataset") or {}
        return {
            "run_id": self.run_id,
            "run_folder": repo_relative(self.folder or self.model_file.parent),
            "model_file": self.model_file.name,
            "model_sha256": file_sha256(self.model_file),
            "epoch": self.epoch,
            "dataset": dataset.get("name", self.cfg.dataset),
            "synthetic": dataset.get("synthetic"),
        }

    def build(self, device: torch.device | str = "cpu") -> nn.Module:
        """The network with these weights, float32, in eval mode, on ``device``."""
        cfg = self.cfg
        model = build_network(cfg.arch, cfg.impl, len(self.class_names), cfg.dropout)
        model.load_state_dict({k: _float(v) for k, v in self.state_dict.items()})
        return model.to(device).eval()


def _float(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() if tensor.is_floating_point() else tensor


def _class_names(folder: Path | None, state: dict, results: dict | None) -> tuple[str, ...]:
    names = ((results or {}).get("dataset") or {}).get("class_names") or state.get("class_names")
    if not names and folder is not None and (folder / CHECKPOINT).is_file():
        names = _torch_load(folder / CHECKPOINT).get("class_names")
    if not names:
        where = folder or "the checkpoint"
        raise RunFolderError(
            f"no class names for {where}: neither results.json['dataset']['class_names'] nor "
            "'class_names' in a checkpoint"
        )
    return tuple(names)


def read_run_model(path: str | Path) -> RunModel:
    """The selected model of a run folder (or the given checkpoint file), ready to build.

    Every missing piece raises :class:`RunFolderError` naming the file it looked for.
    """
    path = Path(path)
    if not path.exists():
        raise RunFolderError(f"no run folder or checkpoint at {path}")
    model_file = selected_model_file(path)
    # A checkpoint file belongs to a run folder when the run's records sit beside it.
    folder: Path | None = path if path.is_dir() else path.parent
    if not path.is_dir() and not any((folder / f).is_file() for f in (PARAMS, RESULTS)):
        folder = None
    if not model_file.is_file():
        raise RunFolderError(f"{path} holds no model: neither {BEST} nor {CHECKPOINT}")
    state = _torch_load(model_file)
    if not isinstance(state, dict) or "model" not in state:
        raise RunFolderError(f"{model_file} is not a wbcrepro checkpoint (no 'model' entry)")
    check_weights_belong(folder, model_file, state)
    params_file = folder / PARAMS if folder is not None else None
    if params_file is not None and params_file.is_file():
        params = read_json(params_file)
    elif "config" in state:
        params = state["config"]
    else:
        raise RunFolderError(f"no config for {model_file}: no {PARAMS} beside it, none inside")
    cfg = TrainConfig.from_flat(params)
    results = read_json_or_none(folder / RESULTS) if folder is not None else None
    class_names = _class_names(folder, state, results)
    head = head_prefix(cfg.arch, cfg.impl) + "weight"
    if head in state["model"] and state["model"][head].shape[0] != len(class_names):
        raise RunFolderError(
            f"{model_file}: the head has {state['model'][head].shape[0]} outputs but the run "
            f"names {len(class_names)} classes ({', '.join(class_names)})"
        )
    return RunModel(
        model_file=model_file,
        folder=folder,
        cfg=cfg,
        class_names=class_names,
        state_dict=state["model"],
        epoch=state.get("epoch"),
        results=results,
    )


def run_decode_side(cfg: TrainConfig) -> int | None:
    """The shorter side the run's data path decoded images to: its image cache's
    (:func:`~wbcrepro.data.loading.cache_side`), or None when it read them at full size."""
    return cache_side(cfg) if cfg.cache_images else None
