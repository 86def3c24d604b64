"""The experiment notebook's two steps before any page is drawn: its config, and its training.

Pages (:mod:`wbcrepro.report`) only read run folders. Training is this explicit step, so a page
never trains by accident while it renders and the notebook shows where the training happened::

    cfg = experiment.config_from_parameters(globals())
    folder = experiment.fit_or_load(cfg, runs_root, run_id)   # the "Training" section
    run = report.load_run(runs_root, run_id)

A run is trained again only when its record is stale: a different training code (the hash of
:func:`wbcrepro.codehash.training_code_hash`, recorded in results.json) means different numbers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from wbcrepro.codehash import RESULTS_KEY, training_code_hash
from wbcrepro.config import ConfigError, TrainConfig
from wbcrepro.fileio import read_json, read_json_or_none
from wbcrepro.runfolder import CHECKPOINT, PARAMS, RESULTS, RunFolderError

NON_CONFIG = ("profile", "run_id", "runs_root", "gradcam_per_class")
"""The experiment notebook's own parameters: where its run goes and what the page explains
(:func:`wbcrepro.inference.explain.gradcam_panel`), not how it trains."""
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
SCALARS = (str, int, float, bool, type(None))
STALE_SUFFIX = ".stale"


def config_from_parameters(
    namespace: Mapping[str, Any], non_config: Iterable[str] = NON_CONFIG
) -> TrainConfig:
    """The :class:`TrainConfig` of a notebook's parameters (pass its ``globals()``).

    Strict, so that a mistyped papermill parameter (``-p img_szie 112``) fails the run instead of
    training the default: every global scalar (str, int, float, bool, None) that is not private
    (``_x``), not an IPython name and not one of ``non_config`` must be a config field. Modules,
    functions and other objects are not parameters and are ignored.
    """
    known = {f.name for f in fields(TrainConfig)}
    skip = set(non_config) | IPYTHON_NAMES
    params, unknown = {}, []
    for name, value in namespace.items():
        if name.startswith("_") or name in skip or not isinstance(value, SCALARS):
            continue
        if name in known:
            params[name] = value
        else:
            unknown.append(name)
    if unknown:
        raise ConfigError(
            f"unknown notebook parameter(s): {', '.join(sorted(unknown))}; a parameter must be a "
            f"TrainConfig field or one of {', '.join(sorted(set(non_config)))}"
        )
    return TrainConfig.from_flat(params)


def _check_same_params(cfg: TrainConfig, saved: Mapping[str, Any], folder: Path) -> None:
    """Raise naming the config keys whose recorded value differs (keys the record lacks are not
    compared: a config field added since then changed the training code, so it is stale)."""
    mine = cfg.to_flat()
    old = saved.get("params") or read_json(folder / PARAMS)
    differ = sorted(k for k in mine if k in old and old[k] != mine[k])
    if differ:
        details = ", ".join(f"{k}: {old[k]!r} -> {mine[k]!r}" for k in differ)
        raise RunFolderError(
            f"{folder} holds a complete run with other parameters ({details}); "
            "delete the folder or choose another run_id"
        )


def stale_reason(saved: Mapping[str, Any]) -> str | None:
    """Why a record cannot stand for today's code (``None`` when it can)."""
    recorded, today = saved.get(RESULTS_KEY), training_code_hash()
    if recorded is None:
        return "records no training-code hash"
    if recorded != today:
        return f"was trained with training code {recorded}, today's is {today}"
    return None


def _move_aside(folder: Path, reason: str) -> Path:
    aside = folder.with_name(folder.name + STALE_SUFFIX)
    if aside.exists():
        shutil.rmtree(aside)
    folder.rename(aside)
    print(f"Run folder {folder} {reason}:\nmoved to {aside} (replacing any older copy there).")
    return aside


def fit_or_load(cfg: TrainConfig, runs_root: str | Path, run_id: str) -> Path:
    """The run folder ``runs_root/run_id``, trained unless it already holds this run.

    * complete, same parameters, same training-code hash: nothing is trained or written;
    * complete with other parameters: :class:`RunFolderError` naming the differing keys;
    * complete or unfinished but stale (another or no training-code hash): moved aside to
      ``<run_id>.stale`` with the reason printed, then trained from scratch;
    * otherwise (no run, or an unfinished run of today's code): trained with
      :func:`wbcrepro.training.fit.fit`, resuming from its checkpoint where there is one.

    Prints one line saying which it was, so the page shows whether the run was trained now.
    """
    folder = Path(runs_root) / run_id
    saved = read_json_or_none(folder / RESULTS)
    if saved is not None:
        complete = saved.get("status") == "complete"
        if complete:
            _check_same_params(cfg, saved, folder)
        reason = stale_reason(saved)
        if reason is None and complete:
            print(
                f"Loaded run {run_id} from {folder}:\ncomplete, same parameters and training "
                f"code ({saved[RESULTS_KEY]}); nothing trained."
            )
            return folder
        if reason is not None:
            _move_aside(folder, reason)
    from wbcrepro.training.fit import fit  # imported only when there is training to do

    how = "resuming from its checkpoint" if (folder / CHECKPOINT).is_file() else "from scratch"
    print(f"Training run {run_id} in {folder} now\n({how}).")
    folder.mkdir(parents=True, exist_ok=True)
    fit(cfg, folder, resume=True, progress=False)
    return folder
