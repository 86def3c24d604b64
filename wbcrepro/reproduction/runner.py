"""Execute a profile's notebooks with papermill, redoing only what is unfinished or out of date.

For every run of a profile (in file order, except that a run always follows the runs it reads,
see :mod:`wbcrepro.reproduction.roles`) the executed notebook goes to
``book/runs/<profile>/<id>.ipynb`` (made portable: no timestamps, repository-relative paths, see
:mod:`wbcrepro.reproduction.executed`) and a record to ``book/runs/<profile>/<id>.run.json``::

    {id, status, started, finished, seconds, notebook, notebook_sha256, parameters,
     package_version, code_hash, training_code_hash, reasons, output, error, [inputs]}

``status`` is ``running`` (written before the kernel starts), then ``complete`` or ``failed``. A run
is skipped only when its record is ``complete`` for the same notebook content (sha256), the same
parameters and the same package code (:mod:`wbcrepro.codehash`), its executed notebook is still
there and (for a page) no run it reads changed since; anything else is executed again and
``reasons`` says why. A page's record keeps in ``inputs`` a fingerprint of the record of each run
it read (:mod:`wbcrepro.reproduction.inputs`), and a page whose input executed earlier in the same
call is re-rendered after it (``input main-pbc-s1 re-executed in this call``), so no page shows
an old model beside a new one. Because the record is replaced
atomically and stays ``running`` if the process is interrupted or killed, the next ``reproduce``
redoes exactly the unfinished runs.

The run folder ``book/runs/<profile>/<id>/`` belongs to the notebook. It is kept when the run is
redone for the same parameters (interrupted, failed, or the notebook or code changed): the
experiment notebook's :func:`wbcrepro.training.experiment.fit_or_load` then resumes an unfinished
run from
its checkpoint, reloads a complete one, and retrains only when the *training* code hash recorded in
the folder differs, so a change to a page re-renders it without retraining. When the parameters
changed (or with ``force``) the folder is another configuration's output and is deleted first.

A failing run does not stop the others: it is recorded ``failed`` with the error (its executed
notebook, with the traceback, stays for inspection), and the summary names it.

With ``jobs`` > 1 (the profile's ``jobs``, or ``--jobs``) the runs that read no other run (training
and data notebooks) execute side by side first, longest first by their last recorded time, each
kernel with ``cores // jobs`` threads; the pages that read them then follow one at a time, each
after its inputs. Each record's ``call`` says when the ``reproduce`` call that executed it started
and with how many jobs, so the book can give the wall time of a whole reproduction from the
records. :mod:`wbcrepro.reproduction.plan` says what a call would do, without doing it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import wbcrepro
from wbcrepro.codehash import report_code_hash, training_code_hash
from wbcrepro.fileio import write_json
from wbcrepro.reproduction.executed import describe_error, papermill_executor
from wbcrepro.reproduction.inputs import changed_inputs, input_reasons, snapshot
from wbcrepro.reproduction.outcomes import RunOutcome, Summary, train_seconds, trained_by
from wbcrepro.reproduction.profiles import Profile, ProfileError, RunSpec, load_profile
from wbcrepro.reproduction.roles import execution_order
from wbcrepro.reproduction.scheduling import execution_batches, kernel_threads

RECORD_SUFFIX = ".run.json"
SUMMARY = "summary.json"

Executor = Callable[[Path, Path, dict[str, Any], Path], None]
"""``executor(input_notebook, output_notebook, parameters, cwd)``; raises if the notebook fails."""


class ReproduceError(ValueError):
    """The request cannot be carried out (for example an unknown run id); nothing was run."""


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


# --- the runner -----------------------------------------------------------------------------------
def select_runs(profile: Profile, only: Iterable[str] | None) -> list[RunSpec]:
    """The runs to consider, in profile order: each id a run, or an arm (a profile entry with
    ``seeds``: all its seed runs); unknown ids are an error listing the known ones."""
    if not only:
        return list(profile.runs)
    wanted = set()
    unknown = []
    for item in dict.fromkeys(only):
        found = {spec.id for spec in profile.runs if item in (spec.id, spec.arm)}
        wanted |= found
        if not found:
            unknown.append(item)
    if unknown:
        raise ReproduceError(
            f"unknown run id(s) {', '.join(unknown)} in profile {profile.name!r}; "
            f"known ids: {', '.join(profile.run_ids)}"
        )
    return [spec for spec in profile.runs if spec.id in wanted]


def ordered_runs(profile: Profile, only: Iterable[str] | None) -> list[RunSpec]:
    """The runs to consider, each after the runs it reads (profile order where consistent)."""
    return execution_order(select_runs(profile, only))


def last_seconds(profile: Profile) -> Callable[[RunSpec], float]:
    """A run's last recorded ``seconds`` (infinite when never run): the longest-first order."""

    def seconds(spec: RunSpec) -> float:
        value = (read_record(record_path(profile, spec.id)) or {}).get("seconds")
        return float(value) if isinstance(value, int | float) else float("inf")

    return seconds


def reproduce(
    profile: Profile | str,
    only: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
    repo: str | os.PathLike | None = None,
    executor: Executor | None = None,
    jobs: int | None = None,
) -> Summary:
    """Execute the profile's runs (or just ``only``) and return a :class:`Summary`.

    ``force`` re-executes even complete, up-to-date runs. ``jobs`` (default: the profile's) runs
    that many training or data notebooks side by side. ``executor`` replaces papermill (tests).
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile, repo=repo)
    jobs = profile.jobs if jobs is None else jobs
    if jobs < 1:
        raise ReproduceError(f"jobs must be >= 1, got {jobs}")
    specs = ordered_runs(profile, only)
    execute = executor or papermill_executor
    profile.runs_root.mkdir(parents=True, exist_ok=True)
    summary = Summary(profile.name)
    total = len(specs)
    call: dict[str, Any] = {"started": _now(), "jobs": jobs, "threads_per_job": None}
    lock = threading.Lock()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"reproduce {profile.name}", unit="run", file=sys.stderr)

    def report(spec: RunSpec, outcome: RunOutcome) -> None:
        with lock:
            summary.outcomes.append(outcome)
            prefix = f"[{len(summary.outcomes)}/{total}] {spec.id}"
            if not progress:
                return
            if outcome.status == "skipped":
                message = f"{prefix} ... skipped (complete)"
            elif outcome.status == "complete":
                why = "; ".join(outcome.reasons)
                message = f"{prefix} ... done in {outcome.seconds:.0f} s (executed: {why})"
            else:
                message = f"{prefix} ... FAILED after {outcome.seconds:.0f} s: {outcome.error}"
            if bar is not None:
                bar.write(message, file=sys.stdout)
                bar.update(1)

    executed: dict[str, str] = {}  # input id -> what happened to it, for the pages reading it

    def run(spec: RunSpec) -> RunOutcome:
        outcome = _run_one(profile, spec, force, execute, executed, call)
        report(spec, outcome)
        return outcome

    try:
        for batch in execution_batches(specs, jobs, last_seconds(profile)):
            if len(batch) == 1:
                outcomes = [run(batch[0])]
            else:
                with kernel_threads(jobs) as threads, ThreadPoolExecutor(jobs) as pool:
                    call["threads_per_job"] = threads
                    outcomes = list(pool.map(run, batch))
                call["threads_per_job"] = None
            executed.update(
                {o.id: "re-executed in this call" for o in outcomes if o.status != "skipped"}
            )
    finally:
        if bar is not None:
            bar.close()

    order = {spec.id: i for i, spec in enumerate(specs)}
    summary.outcomes.sort(key=lambda o: order[o.id])
    summary.summary_path = write_summary(profile)
    if progress:
        print(summary.table(), flush=True)
    return summary


def _run_one(
    profile: Profile,
    spec: RunSpec,
    force: bool,
    execute: Executor,
    executed: dict[str, str] | None = None,
    call: dict[str, Any] | None = None,
) -> RunOutcome:
    """Execute one run when forced or stale, including a page whose input (in ``executed``, the
    runs this call executed) changed. ``call`` (when the ``reproduce`` call started, its jobs
    and threads) goes into the record."""
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
        execute(source, output, dict(params), profile.repo)
    except Exception as err:  # a failing run must not stop the others
        error = describe_error(err)
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


def write_summary(profile: Profile) -> Path:
    """``summary.json``: every run record of the profile (``not run`` for runs without one)."""
    records = []
    for spec in profile.runs:
        record = read_record(record_path(profile, spec.id))
        records.append(record if record is not None else {"id": spec.id, "status": "not run"})
    path = profile.runs_root / SUMMARY
    summary = {
        "profile": profile.name,
        "title": profile.title,
        "synthetic": profile.synthetic,
        "written": _now(),
        "package_version": wbcrepro.__version__,
        "code_hash": report_code_hash(),
        "runs": records,
    }
    # A rerun that changed nothing leaves the file as it was: its "written" time is when the
    # summary last changed, and a committed book stays clean after `make book`.
    previous = read_record(path)
    if previous is not None and {**previous, "written": None} == json.loads(
        json.dumps({**summary, "written": None})
    ):
        return path
    write_json(path, summary)
    return path
