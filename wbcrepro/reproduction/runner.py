"""Execute a profile's notebooks with papermill, redoing only what is unfinished or out of date.

For every run of a profile (in file order, except that a run always follows the runs it reads,
see :mod:`wbcrepro.reproduction.roles`) the executed notebook goes to
``book/runs/<profile>/<id>.ipynb`` (made portable: no timestamps, repository-relative paths, see
:mod:`wbcrepro.reproduction.executed`) and a record to ``book/runs/<profile>/<id>.run.json``::

    {id, status, started, finished, seconds, notebook, notebook_sha256, parameters,
     package_version, code_hash, training_code_hash, reasons, output, error, [inputs]}

``status`` is ``running`` (written before the kernel starts), then ``complete`` or ``failed``
(``submitted`` for a SLURM job not started yet). A run is skipped only when its record is
``complete`` for the same notebook content (sha256), parameters and package code
(:mod:`wbcrepro.codehash`), its executed notebook is still there and (for a page) no run it reads
changed since (:mod:`wbcrepro.reproduction.inputs`); otherwise ``reasons`` says why it runs. A page
whose input executed earlier in the same call is re-rendered after it. A record stays ``running``
if the process is killed, so the next ``reproduce`` redoes exactly the unfinished runs.

The run folder ``book/runs/<profile>/<id>/`` belongs to the notebook. It is kept when the run is
redone for the same parameters: :func:`wbcrepro.training.experiment.fit_or_load` then resumes an
unfinished run from its checkpoint, reloads a complete one, and retrains only when the *training*
code hash differs. When the parameters changed (or with ``force``) the folder is deleted first.
A failing run does not stop the others: it is recorded ``failed`` with the error.

With ``jobs`` > 1 the runs that read no other run (training and data notebooks) execute side by
side first, longest first, each kernel with ``cores // jobs`` threads (and one GPU each on a
GPU box); the pages follow, each after its inputs. ``execution`` ``local`` or ``slurm`` runs those
as submitit jobs instead (:mod:`~wbcrepro.reproduction.jobs`); pages stay on this host. Each
record's ``call`` says when and how the call that executed it ran, so the book can give the wall
time of a whole reproduction from the records.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import wbcrepro
from wbcrepro.codehash import report_code_hash
from wbcrepro.environment import git_commit
from wbcrepro.fileio import write_json
from wbcrepro.reproduction.cluster import default_jobs, gpu_slots, preflight, visible_gpus
from wbcrepro.reproduction.executed import papermill_executor
from wbcrepro.reproduction.jobs import JobBackend
from wbcrepro.reproduction.outcomes import FINAL, WAITING, RunOutcome, Summary
from wbcrepro.reproduction.profiles import Profile, RunSpec, load_profile
from wbcrepro.reproduction.records import (  # noqa: F401  (the runner's API, used by plan and tests)
    RECORD_SUFFIX,
    Executor,
    _now,
    canonical_parameters,
    notebook_sha256,
    output_path,
    read_record,
    record_path,
    run_one,
    stale_reasons,
    up_to_date,
)
from wbcrepro.reproduction.roles import PAGE, execution_order, role_of
from wbcrepro.reproduction.scheduling import GpuSlots, execution_batches, kernel_threads

SUMMARY = "summary.json"


class ReproduceError(ValueError):
    """The request cannot be carried out (for example an unknown run id); nothing was run."""


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
    execution: str = "inline",
    cluster: Mapping[str, Any] | None = None,
    detach: bool = False,
) -> Summary:
    """Execute the profile's runs (or just ``only``) and return a :class:`Summary`.

    ``force`` re-executes even complete, up-to-date runs. ``jobs`` (default: the profile's, else
    one per visible GPU for a GPU profile, else 1) runs that many training or data notebooks side
    by side. ``execution`` is ``inline``, ``local`` or ``slurm``
    (:mod:`~wbcrepro.reproduction.cluster`), with ``cluster`` overriding the profile's
    ``cluster:`` settings and ``detach`` returning once SLURM jobs are submitted.
    ``executor`` replaces papermill (tests; inline only).
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile, repo=repo)
    settings = profile.cluster.updated(cluster or {})
    gpus = visible_gpus() if settings.gpus_per_run and execution != "slurm" else []
    preflight(execution, settings, profile.name, detach, gpus)
    jobs_given = jobs is not None or profile.jobs is not None
    jobs = default_jobs(profile.jobs, settings, gpus) if jobs is None else jobs
    if jobs < 1:
        raise ReproduceError(f"jobs must be >= 1, got {jobs}")
    specs = ordered_runs(profile, only)
    execute = executor or papermill_executor
    profile.runs_root.mkdir(parents=True, exist_ok=True)
    summary = Summary(profile.name)
    total = len(specs)
    call: dict[str, Any] = {"started": _now(), "jobs": jobs, "threads_per_job": None}
    summary.started = call["started"]
    summary.git_at_start = git_commit(profile.repo)
    lock = threading.Lock()
    slots = gpu_slots(jobs, settings, gpus)
    gpu = GpuSlots(slots)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"reproduce {profile.name}", unit="run", file=sys.stderr)

    def report(spec: RunSpec, outcome: RunOutcome) -> None:
        with lock:
            summary.outcomes.append(outcome)
            if bar is not None:
                bar.write(outcome.line(len(summary.outcomes), total), file=sys.stdout)
                bar.update(1)

    executed: dict[str, str] = {}  # input id -> what happened to it, for the pages reading it
    pending: set[str] = set()  # submitted to SLURM and not collected (--detach), and their readers
    backend = None
    if execution != "inline":
        backend = JobBackend(execution, profile, settings, jobs, jobs_given, slots, call, detach)

    def run(spec: RunSpec) -> RunOutcome:
        with gpu.kernel_env() as env:
            outcome = run_one(profile, spec, force, execute, executed, call, env)
        report(spec, outcome)
        return outcome

    try:
        waves = max(jobs, 2) if backend else jobs  # jobs form waves; the executor bounds them
        for batch in execution_batches(specs, waves, last_seconds(profile)):
            for spec in [s for s in batch if pending.intersection(s.reads)]:
                pending.add(spec.id)
                report(spec, RunOutcome(spec.id, WAITING, reasons=["inputs still on SLURM"]))
            batch = [s for s in batch if s.id not in pending]
            if backend is not None and any(role_of(s.notebook).kind != PAGE for s in batch):
                before = len(summary.outcomes)
                pending |= backend.run_wave(batch, executed, force, report)
                outcomes = summary.outcomes[before:]
            elif len(batch) == 1:
                outcomes = [run(batch[0])]
            elif batch:
                with kernel_threads(jobs) as threads, ThreadPoolExecutor(jobs) as pool:
                    call["threads_per_job"] = threads
                    outcomes = list(pool.map(run, batch))
                call["threads_per_job"] = None
            else:
                outcomes = []
            executed.update(
                {o.id: "re-executed in this call" for o in outcomes if o.status in FINAL}
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
