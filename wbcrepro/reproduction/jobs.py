"""Training and data runs as submitit jobs: ``reproduce --executor local|slurm``.

A job runs exactly what ``--executor inline`` runs in a thread: :func:`~wbcrepro.reproduction.
runner.run_one` for one run of the profile, which writes the run's record (``running``, then
``complete`` or ``failed``) into the shared ``book/runs/<profile>/`` folder. So a job's outcome
is the record it leaves, and a later call sees it like any other record. The submitting call
writes ``submitted`` records with the job id first (``call.executor``, ``call.job_id``), so that a
later call adopts a SLURM job still queued or running instead of submitting it twice (``reproduce
--detach`` returns after submitting; the next call collects). Logs go to
``book/runs/<profile>/_jobs/`` (ignored by git).

Requeue: :class:`RunJob` is checkpointable. When SLURM (or the local executor) signals that the
time limit is near or that the job is preempted, submitit requeues it; the requeued job runs the
same run without ``force``, so its run folder is kept and the experiment notebook resumes
training from the last epoch's checkpoint (``results.json`` ``resumed_from_epoch``).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import submitit

from wbcrepro.fileio import write_json
from wbcrepro.reproduction.cluster import JOB_ENVIRONMENT, ClusterSettings, make_executor
from wbcrepro.reproduction.dryrun import DRY_SUFFIX
from wbcrepro.reproduction.outcomes import SUBMITTED, RunOutcome
from wbcrepro.reproduction.profiles import Profile, RunSpec
from wbcrepro.reproduction.records import read_record, record_path, stale_reasons
from wbcrepro.reproduction.scheduling import THREAD_VARIABLES

JOBS_FOLDER = "_jobs"
LIVE = ("submitted", "running")
POLL_S = {"local": 0.5, "slurm": 30.0}


@dataclass
class RunJob(submitit.helpers.Checkpointable):
    """One run of a profile, executed in a job process (see the module doc)."""

    repo: str
    profile: str
    run_id: str
    force: bool
    executed: dict[str, str] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    dry_run: bool = False

    def __call__(self) -> RunOutcome:
        from wbcrepro.reproduction.executed import papermill_executor
        from wbcrepro.reproduction.profiles import load_profile
        from wbcrepro.reproduction.records import run_one

        if self.threads:  # the kernel inherits them: one thread per run when runs share cores
            for name in THREAD_VARIABLES:
                os.environ.setdefault(name, str(self.threads))
        profile = load_profile(self.profile, repo=self.repo)
        if self.dry_run:
            from wbcrepro.reproduction.dryrun import dry_run_profile

            profile = dry_run_profile(profile)
        call = {**self.call, "job_id": submitit.JobEnvironment().job_id}
        spec = profile.run(self.run_id)
        return run_one(profile, spec, self.force, papermill_executor, self.executed, call)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Requeued after a timeout or preemption: resume the run, never force it again."""
        return submitit.helpers.DelayedSubmission(replace(self, force=False))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


Report = Callable[[RunSpec, RunOutcome], None]


class JobBackend:
    """Submits waves of runs to a submitit executor, waits for them (or not), and reports each
    run's outcome as it ends."""

    def __init__(
        self,
        kind: str,
        profile: Profile,
        settings: ClusterSettings,
        jobs: int,
        jobs_given: bool,
        slots: list[str],
        call: dict[str, Any],
        detach: bool = False,
    ) -> None:
        self.kind, self.profile, self.settings = kind, profile, settings
        self.jobs, self.slots, self.detach = jobs, slots, detach
        self.folder = profile.runs_root / JOBS_FOLDER / "%j"
        parallel = jobs if (kind == "slurm" and jobs_given) else None
        env = {
            k: str(Path(os.environ[k]).expanduser().resolve())
            for k in JOB_ENVIRONMENT
            if os.environ.get(k)
        }
        env["WBCREPRO_REPO"] = str(profile.repo)
        self.executor = make_executor(kind, self.folder, settings, parallel, env)
        # Threads per run as inline: cores // jobs side by side, torch's own choice alone; on
        # SLURM the task's CPUs (torch would otherwise count the whole node's cores).
        self.threads: int | None = None
        if kind == "slurm":
            self.threads = settings.cpus_per_task
        elif jobs > 1:
            self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.call = {**call, "executor": kind, "threads_per_job": self.threads}

    # --- one wave -------------------------------------------------------------------------------
    def run_wave(
        self, specs: list[RunSpec], executed: dict[str, str], force: bool, report: Report
    ) -> set[str]:
        """Execute ``specs`` (runs that do not read each other) as jobs; report each outcome.
        Returns the ids left running on the cluster (``--detach``, or adopted and detached)."""

        adopted: list[tuple[RunSpec, Any]] = []
        to_submit: list[tuple[RunSpec, list[str]]] = []
        for spec in specs:
            record = read_record(record_path(self.profile, spec.id)) or {}
            job = self._slurm_job_of(record)
            if job is not None and not job.done(force_check=True):
                adopted.append((spec, job))  # still queued or running: wait, never resubmit
                continue
            if job is not None:  # ended while its record says submitted/running
                report(spec, self._ended_without_record(spec, record, job.state))
                continue
            reasons = ["forced"] if force else stale_reasons(self.profile, spec, executed)
            if not reasons:
                report(spec, RunOutcome(spec.id, "skipped", float(record.get("seconds") or 0.0)))
                continue
            to_submit.append((spec, reasons))
        if self.kind == "slurm":
            running = adopted + self._submit_array(to_submit, executed, force)
            if self.detach:
                for spec, job in running:
                    why = [f"job {job.job_id} on SLURM; collect it with a later reproduce call"]
                    report(spec, RunOutcome(spec.id, SUBMITTED, 0.0, None, why))
                return {spec.id for spec, _ in running}
            self._wait(running, [], executed, force, report)
        else:
            self._wait(adopted, to_submit, executed, force, report)
        return set()

    def _job(self, spec: RunSpec, executed: dict[str, str], force: bool) -> RunJob:
        return RunJob(
            str(self.profile.repo),
            str(self.profile.path),
            spec.id,
            force,
            dict(executed),
            dict(self.call),
            self.threads,
            self.profile.name.endswith(DRY_SUFFIX),
        )

    def _submit_array(
        self, items: list[tuple[RunSpec, list[str]]], executed: dict[str, str], force: bool
    ) -> list[tuple[RunSpec, Any]]:
        """One job array for the wave; each run's record says ``submitted`` with its job id."""
        if not items:
            return []
        with self.executor.batch():
            jobs = [self.executor.submit(self._job(spec, executed, force)) for spec, _ in items]
        for (spec, reasons), job in zip(items, jobs, strict=True):
            self._write_submitted(spec, reasons, job)
        return [(spec, job) for (spec, _), job in zip(items, jobs, strict=True)]

    def _write_submitted(self, spec: RunSpec, reasons: list[str], job: Any) -> None:
        path = record_path(self.profile, spec.id)
        record = read_record(path) or {"id": spec.id}
        record.update(
            status=SUBMITTED,
            submitted=_now(),
            reasons=reasons,
            error=None,
            call={**self.call, "job_id": str(job.job_id)},
            log=self._log(job),
        )
        write_json(path, record)

    def _log(self, job: Any) -> str:
        try:
            return job.paths.stdout.relative_to(self.profile.repo).as_posix()
        except ValueError:
            return str(job.paths.stdout)

    def _slurm_job_of(self, record: dict[str, Any]) -> Any | None:
        """The SLURM job of a ``submitted``/``running`` record of an earlier SLURM call, or
        None (no job, or not a SLURM call: a local job ends with its call, so its unfinished
        run is simply executed again, as inline ones are)."""
        call = record.get("call") or {}
        if self.kind != "slurm" or call.get("executor") != "slurm":
            return None
        if record.get("status") not in LIVE or not call.get("job_id"):
            return None
        return submitit.SlurmJob(folder=self.folder, job_id=str(call["job_id"]))

    def _ended_without_record(
        self, spec: RunSpec, record: dict[str, Any], state: str
    ) -> RunOutcome:
        """A job that ended while its record still says submitted/running: reported failed, and
        the record says so (the next call executes the run again)."""
        call = record.get("call") or {}
        error = (
            f"job {call.get('job_id')} {state} before the run finished "
            f"(record left '{record.get('status')}'); log: {record.get('log', 'none')}"
        )
        failed = {**record, "status": "failed", "error": error}
        write_json(record_path(self.profile, spec.id), failed)
        return RunOutcome(spec.id, "failed", 0.0, error, ["collected"])

    # --- waiting --------------------------------------------------------------------------------
    def _wait(
        self,
        running: list[tuple[RunSpec, Any]],
        queue: list[tuple[RunSpec, list[str]]],
        executed: dict[str, str],
        force: bool,
        report: Report,
    ) -> None:
        """Wait for ``running`` jobs, starting ``queue``'s runs as room frees up (at most
        ``jobs`` local jobs at once, each on its own GPU slot); report each as it ends."""
        running = [(spec, job, None) for spec, job in running]  # type: ignore[misc]
        free = list(self.slots) if self.slots else [None] * self.jobs
        try:
            while running or queue:
                while queue and free and len(running) < self.jobs:
                    spec, _ = queue.pop(0)
                    slot = free.pop(0)
                    if slot is not None:
                        self.executor.update_parameters(
                            visible_gpus=[int(g) for g in slot.split(",")],
                            gpus_per_node=len(slot.split(",")),
                        )
                    job = self.executor.submit(self._job(spec, executed, force))
                    running.append((spec, job, slot))
                done = [item for item in running if item[1].done()]
                for item in done:
                    running.remove(item)
                    free.append(item[2])
                    report(item[0], self._outcome(item[0], item[1]))
                if not done:
                    time.sleep(POLL_S[self.kind])
        except KeyboardInterrupt:
            if self.kind == "local":
                for _, job, _ in running:
                    job.cancel(check=False)
            raise

    def _outcome(self, spec: RunSpec, job: Any) -> RunOutcome:
        """The run's outcome from the job's return value, or a failure naming the job's state
        and log when the job itself died (killed, out of memory, requeued too often)."""
        try:
            return job.result()
        except Exception as err:  # the job died: the record may still say running
            record = read_record(record_path(self.profile, spec.id)) or {"id": spec.id}
            error = f"job {job.job_id} failed ({type(err).__name__}); log: {self._log(job)}"
            last = str(err).strip().splitlines()[-1:] or [""]
            error += f": {last[0]}" if last[0] else ""
            if record.get("status") != "complete":
                failed = {**record, "status": "failed", "error": error}
                write_json(record_path(self.profile, spec.id), failed)
            return RunOutcome(spec.id, "failed", float(record.get("seconds") or 0.0), error)
