"""One run's record: where it lives, whether it is stale, and executing the run to write it.

Used by the runner in this process (``--executor inline``) and by a submitit job in another
(:mod:`wbcrepro.reproduction.jobs`), so both write the same record. The record format and the
staleness rules are described in :mod:`wbcrepro.reproduction.runner`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import wbcrepro
from wbcrepro.codehash import report_code_hash, training_code_hash
from wbcrepro.fileio import write_json
from wbcrepro.reproduction.executed import describe_error, retitle
from wbcrepro.reproduction.inputs import changed_inputs, input_reasons, snapshot
from wbcrepro.reproduction.outcomes import RunOutcome, train_seconds, trained_by
from wbcrepro.reproduction.profiles import Profile, ProfileError, RunSpec

RECORD_SUFFIX = ".run.json"

Executor = Callable[[Path, Path, dict[str, Any], Path], None]
"""``executor(input_notebook, output_notebook, parameters, cwd)``; raises if the notebook fails."""


# --- small helpers --------------------------------------------------------------------------------
def notebook_sha256(path: Path) -> str:
    """Content hash of the source notebook: an edited notebook invalidates its runs."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def canonical_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as they read back from JSON, so a fresh dict compares equal to a stored one."""
    return json.loads(json.dumps(params, sort_keys=True))


def read_record(path: Path) -> dict[str, Any] | None:
    """A run record, or None when absent or unreadable (treated as never run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_path(profile: Profile, run_id: str) -> Path:
    return profile.runs_root / f"{run_id}{RECORD_SUFFIX}"


def output_path(profile: Profile, run_id: str) -> Path:
    return profile.runs_root / f"{run_id}.ipynb"


def _same_params(record: dict[str, Any] | None, params: dict[str, Any]) -> bool:
    """Same parameters: the run folder belongs to this run (it may resume or be reloaded)."""
    return bool(record and record.get("parameters") == params)


def stale_reasons(
    profile: Profile, spec: RunSpec, inputs: dict[str, str] | None = None
) -> list[str]:
    """Why the run must be executed (again); an empty list means it is up to date.

    A run is up to date when its record is ``complete`` for the same notebook content, the same
    parameters and the same package code (:func:`wbcrepro.codehash.report_code_hash`), its
    executed notebook is still there, and no run it reads (``spec.reads``) has a record other than
    the one it read (:func:`wbcrepro.reproduction.inputs.changed_inputs`). A code change
    re-executes the notebook; whether that also retrains is the notebook's
    :func:`wbcrepro.training.experiment.fit_or_load` decision, by the training code hash recorded
    in the run folder, so a change to a page never retrains.

    ``inputs`` maps the inputs that this call executes (or, in a plan, will) to what happens to
    them (``re-executed in this call``, ``will retrain``): those are stale reasons too, named so.
    """
    inputs = inputs or {}
    record = read_record(record_path(profile, spec.id))
    if record is None:
        return ["never run"]
    reasons = []
    if record.get("status") != "complete":
        reasons.append(f"last attempt {record.get('status', 'unknown')}")
    sha = notebook_sha256(profile.repo / "notebooks" / spec.notebook)
    if record.get("notebook_sha256") != sha:
        reasons.append(f"notebook {spec.notebook} changed")
    params = canonical_parameters(spec.parameters(profile))
    old = record.get("parameters") or {}
    changed = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
    if changed:
        reasons.append("parameters changed: " + ", ".join(changed))
    if record.get("code_hash") != report_code_hash():
        if record.get("training_code_hash") != training_code_hash():
            reasons.append("training code changed (trained runs retrain)")
        else:
            reasons.append("report code changed (pages re-render, no retraining)")
    if not output_path(profile, spec.id).is_file():
        reasons.append("executed notebook missing")
    changed = changed_inputs(record, spec.reads, lambda i: read_record(record_path(profile, i)))
    since = {i: "re-executed since this page ran" for i in changed}
    return reasons + input_reasons(spec.reads, {**since, **inputs})


def up_to_date(profile: Profile, spec: RunSpec) -> bool:
    """True when the run's record says complete for exactly the current inputs and code."""
    return not stale_reasons(profile, spec)


def run_one(
    profile: Profile,
    spec: RunSpec,
    force: bool,
    execute: Executor,
    executed: dict[str, str] | None = None,
    call: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunOutcome:
    """Execute one run when forced or stale, including a page whose input (in ``executed``, the
    runs this call executed) changed. ``call`` (when the ``reproduce`` call started, its jobs
    and threads, its executor and job) goes into the record; ``env`` goes to the kernel (its
    GPU)."""
    source = profile.repo / "notebooks" / spec.notebook
    if not source.is_file():
        # The profile was validated at load time; the notebook vanished since.
        raise ProfileError(f"{profile.path}: notebook {source} of run {spec.id!r} does not exist")
    params = canonical_parameters(spec.parameters(profile))
    sha = notebook_sha256(source)
    rec_path = record_path(profile, spec.id)
    previous = read_record(rec_path)
    output = output_path(profile, spec.id)

    reasons = ["forced"] if force else stale_reasons(profile, spec, executed)
    if not reasons:
        return RunOutcome(spec.id, "skipped", float(previous.get("seconds") or 0.0))

    # Keep the run folder unless the parameters changed (it is then another configuration's
    # output) or the run is forced: the notebook resumes an interrupted run from its checkpoint
    # and retrains only when the training code changed (fit_or_load compares the hashes).
    folder = profile.runs_root / spec.id
    if folder.exists() and (force or not _same_params(previous, params)):
        shutil.rmtree(folder)

    record: dict[str, Any] = {
        "id": spec.id,
        "status": "running",
        "started": _now(),
        "finished": None,
        "seconds": None,
        "notebook": f"notebooks/{spec.notebook}",
        "notebook_sha256": sha,
        "parameters": params,
        "package_version": wbcrepro.__version__,
        "code_hash": report_code_hash(),
        "training_code_hash": training_code_hash(),
        "reasons": reasons,
        "output": output.relative_to(profile.repo).as_posix(),
        "error": None,
        "call": dict(call or {}),
    }
    if spec.reads:  # what this page reads now: a later change to one of them makes it stale
        record["inputs"] = snapshot(spec.reads, lambda i: read_record(record_path(profile, i)))
    write_json(rec_path, record)
    before = train_seconds(folder)
    start = time.perf_counter()
    error: str | None = None
    try:
        execute(source, output, dict(params), profile.repo, **({"env": env} if env else {}))
    except Exception as err:  # a failing run must not stop the others
        error = describe_error(err)
    if output.is_file():
        retitle(output, spec.display_title)
    seconds = round(time.perf_counter() - start, 2)
    record.update(
        status="failed" if error else "complete",
        finished=_now(),
        seconds=seconds,
        error=error,
    )
    trained = trained_by(folder, before, record, previous)
    if trained:
        record["trained"] = trained
    write_json(rec_path, record)
    return RunOutcome(spec.id, record["status"], seconds, error, reasons)
