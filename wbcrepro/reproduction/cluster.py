"""Where a profile's training runs execute: in this process, as local jobs, or on SLURM.

``wbcrepro reproduce --executor inline|local|slurm``:

* ``inline`` (the default): papermill kernels started by this process, ``jobs`` side by side in
  threads; on a box with several GPUs each kernel sees one of them (``CUDA_VISIBLE_DEVICES``).
* ``local``: each training or data run is a job of submitit's ``LocalExecutor`` (its own
  subprocess on this machine, at most ``jobs`` at once, one GPU each where the profile asks for
  GPUs). The same records as ``inline``; it runs the cluster path without a cluster.
* ``slurm``: each wave of independent runs is one SLURM job array (submitit's
  ``SlurmExecutor``), one run per array task, with the resources of the profile's ``cluster:``
  block or the command line. A job that hits its time limit or is preempted is requeued and the
  run resumes from its checkpoint.

Pages (notebooks that read other runs) always execute on the submitting host, after their inputs.
Everything that can be checked before a job starts is checked here (:func:`preflight`): a missing
``sbatch``, settings SLURM rejects (``sbatch --test-only``), a profile that asks for GPUs on a
machine without one. A profile's ``cluster:`` block::

    cluster: {gpus_per_run: 1, cpus_per_task: 8, mem_gb: 48, time_min: 720, partition: gpu,
              account: '', max_requeues: 3, setup: 'module load cuda'}
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

EXECUTORS = ("inline", "local", "slurm")


class ClusterError(ValueError):
    """The executor or its settings cannot work here; raised before any job starts."""


@dataclass(frozen=True)
class ClusterSettings:
    """Resources of one training run as a job (a profile's ``cluster:`` block, then the flags)."""

    gpus_per_run: int = 0
    """GPUs each training run needs (0: a CPU profile)."""
    cpus_per_task: int = 2
    mem_gb: int = 16
    time_min: int = 120
    """The job's time limit; past it the job is requeued and resumes from its checkpoint."""
    partition: str = ""
    account: str = ""
    max_requeues: int = 3
    """How often a timed-out or preempted run may be requeued before it counts as failed."""
    setup: str = ""
    """Shell lines run before each SLURM job (``module load ...``), separated by ``;``."""

    def updated(self, overrides: Mapping[str, Any]) -> ClusterSettings:
        """These settings with the given (non-None) values replaced, each checked."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return parse_cluster({**self.as_dict(), **given}, _raise)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _raise(message: str) -> ClusterError:
    return ClusterError(message)


def parse_cluster(raw: Any, fail: Callable[[str], Exception]) -> ClusterSettings:
    """A validated :class:`ClusterSettings` from a mapping; unknown keys and wrong types fail,
    naming the key (``fail(message)`` builds the exception, so a profile names its file)."""
    if not isinstance(raw, Mapping):
        raise fail(f"key 'cluster' must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(ClusterSettings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise fail(f"cluster: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(known)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("partition", "account", "setup"):
            if not isinstance(value, str):
                raise fail(f"cluster: key {key!r} must be a string, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail(f"cluster: key {key!r} must be a whole number >= 0, got {value!r}")
        values[key] = value
    settings = replace(ClusterSettings(), **values)
    for key in ("time_min", "cpus_per_task", "mem_gb"):
        if getattr(settings, key) < 1:
            raise fail(f"cluster: key {key!r} must be >= 1, got {getattr(settings, key)}")
    return settings


# --- what this machine has ---------------------------------------------------------------------
def visible_gpus() -> list[int]:
    """The CUDA devices this process may use, as indices for ``CUDA_VISIBLE_DEVICES``: the
    listed ones when that variable is set, else ``range(torch.cuda.device_count())``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [int(x) for x in listed.split(",") if x.strip().isdigit()]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return []
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def default_jobs(profile_jobs: int | None, settings: ClusterSettings, gpus: list[int]) -> int:
    """Runs side by side when ``--jobs`` is not given: the profile's ``jobs``, else one per
    visible GPU for a GPU profile, else 1."""
    if profile_jobs is not None:
        return profile_jobs
    if settings.gpus_per_run and gpus:
        return max(1, len(gpus) // settings.gpus_per_run)
    return 1


def gpu_slots(jobs: int, settings: ClusterSettings, gpus: list[int]) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each of ``jobs`` workers: ``gpus_per_run`` devices each, in
    turn (more workers than GPUs share them round-robin); empty for a CPU profile."""
    per = settings.gpus_per_run
    if not per or not gpus:
        return []
    slots = []
    for worker in range(jobs):
        first = (worker * per) % len(gpus)
        chosen = [gpus[(first + k) % len(gpus)] for k in range(min(per, len(gpus)))]
        slots.append(",".join(str(g) for g in chosen))
    return slots


# --- checks before anything starts -------------------------------------------------------------
def preflight(
    executor: str,
    settings: ClusterSettings,
    profile_name: str,
    detach: bool = False,
    gpus: list[int] | None = None,
) -> None:
    """Refuse, naming the thing, what would fail only once jobs run (see the module doc)."""
    if executor not in EXECUTORS:
        raise ClusterError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if detach and executor != "slurm":
        raise ClusterError(
            f"--detach needs --executor slurm: {executor} runs end with this call, so nothing "
            "could collect them later"
        )
    if executor == "slurm":
        check_slurm(settings)
        return
    gpus = visible_gpus() if gpus is None else gpus
    if settings.gpus_per_run and not gpus:
        raise ClusterError(
            f"profile {profile_name!r} asks for {settings.gpus_per_run} GPU(s) per run "
            "(cluster: gpus_per_run), but this machine shows none to torch. Run it on a GPU "
            "box or with --executor slurm; check it here with `wbcrepro reproduce --profile "
            f"{profile_name} --dry-run`, or pass --gpus-per-run 0 to train on the CPU anyway"
        )
    if settings.gpus_per_run > len(gpus):
        raise ClusterError(
            f"profile {profile_name!r} asks for {settings.gpus_per_run} GPU(s) per run, but "
            f"only {len(gpus)} are visible ({','.join(map(str, gpus))})"
        )


def sbatch_options(settings: ClusterSettings) -> list[str]:
    """The resource options of one run's job, as ``sbatch`` takes them."""
    options = [
        f"--time={settings.time_min}",
        f"--cpus-per-task={settings.cpus_per_task}",
        f"--mem={settings.mem_gb}G",
    ]
    if settings.gpus_per_run:
        options.append(f"--gpus-per-node={settings.gpus_per_run}")
    if settings.partition:
        options.append(f"--partition={settings.partition}")
    if settings.account:
        options.append(f"--account={settings.account}")
    return options


def check_slurm(settings: ClusterSettings) -> None:
    """``sbatch`` is on PATH and accepts the job's settings (``sbatch --test-only``, which
    validates partition, account, time and GPUs without queueing anything)."""
    for tool in ("sbatch", "srun", "sacct"):
        if shutil.which(tool) is None:
            raise ClusterError(
                f"--executor slurm needs SLURM's `{tool}` on PATH, and it is not there (run this "
                "on the cluster's login node, or use --executor local)"
            )
    command = ["sbatch", "--test-only", *sbatch_options(settings), "--wrap=true"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ClusterError(f"could not run `{' '.join(command)}`: {err}") from err
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise ClusterError(
            f"SLURM rejects the job settings ({' '.join(sbatch_options(settings))}): {said}. "
            "Fix the profile's cluster: block or the --partition/--account/--time-min flags"
        )


# --- submitit executors ------------------------------------------------------------------------
SIGNAL_DELAY_S = 120
"""Seconds before the time limit at which a job is told to checkpoint (SIGUSR2): one epoch's
checkpoint is on disk already, this is the time to write the requeue."""


JOB_ENVIRONMENT = ("WBCREPRO_REPO", "WBCREPRO_DATA", "WBCREPRO_CACHE", "TORCH_HOME")
"""Variables a SLURM job gets exported explicitly (a cluster may not pass the submitting
environment on): the repository, the data, the caches and the ImageNet weights."""


def make_executor(
    executor: str,
    folder: os.PathLike,
    settings: ClusterSettings,
    jobs: int | None,
    env: Mapping[str, str] | None = None,
):
    """A submitit executor for ``local`` or ``slurm`` with the run's resources; logs in
    ``folder``. The local executor's default time limit (2 min) is replaced by ``time_min``.
    A SLURM job's script exports ``env`` before it starts, then runs the ``setup`` lines."""
    import shlex

    import submitit

    delay = min(SIGNAL_DELAY_S, max(1, settings.time_min * 60 // 10))
    if executor == "local":
        local = submitit.LocalExecutor(folder=folder, max_num_timeout=settings.max_requeues)
        local.update_parameters(timeout_min=settings.time_min, signal_delay_s=delay)
        return local
    slurm = submitit.SlurmExecutor(folder=folder, max_num_timeout=settings.max_requeues)
    params: dict[str, Any] = {
        "time": settings.time_min,
        "cpus_per_task": settings.cpus_per_task,
        "mem": f"{settings.mem_gb}GB",
        "signal_delay_s": delay,
        "job_name": "wbcrepro",
    }
    if settings.gpus_per_run:
        params["gpus_per_node"] = settings.gpus_per_run
    if settings.partition:
        params["partition"] = settings.partition
    if settings.account:
        params["account"] = settings.account
    setup = [f"export {key}={shlex.quote(value)}" for key, value in (env or {}).items()]
    setup += [line.strip() for line in settings.setup.split(";") if line.strip()]
    if setup:
        params["setup"] = setup
    if jobs:
        params["array_parallelism"] = jobs
    slurm.update_parameters(**params)
    return slurm
