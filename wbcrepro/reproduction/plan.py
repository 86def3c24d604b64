"""What a ``reproduce`` call would do, without doing it: ``wbcrepro reproduce --plan``.

Before an hour of training one wants to know whether a change retrains models or only re-renders
pages, and for how long. The plan answers from the records alone (no file written, no kernel
started), with the same rules as the call, in the same order:

* ``skip``: up to date (:func:`~wbcrepro.reproduction.runner.stale_reasons` is empty);
* ``train``: a training notebook (role ``trains`` in :mod:`~wbcrepro.reproduction.roles`) that
  will train: forced, never run, parameters changed (the call deletes the run folder), training
  code changed since the record (:func:`wbcrepro.codehash.training_code_hash`), or a run folder
  whose ``results.json`` is missing, unfinished or from other training code (what
  :func:`wbcrepro.training.experiment.fit_or_load` retrains);
* ``render``: any other stale run, among them a training run stale only for its notebook or the
  report code (it reloads its model), and every page reading a run that will train or render
  (``input main-pbc-s0 will retrain``), transitively.

``estimated_minutes`` comes from the last record: its ``seconds`` for a render (less the training
time when that execution trained); for a training run the recorded ``train_seconds`` of its run
folder plus the render time. None when there is no record to go by. The total is a sum of run
times: with ``jobs`` > 1 the wall time is shorter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from wbcrepro.codehash import training_code_hash
from wbcrepro.fileio import read_json_or_none
from wbcrepro.reproduction.estimate import EVAL_SPEEDUP, Needs, Throughput, estimate_minutes
from wbcrepro.reproduction.outcomes import train_seconds
from wbcrepro.reproduction.profiles import Profile, RunSpec
from wbcrepro.reproduction.roles import TRAINS, role_of
from wbcrepro.reproduction.runner import (
    canonical_parameters,
    ordered_runs,
    read_record,
    record_path,
    stale_reasons,
)
from wbcrepro.runfolder import RESULTS
from wbcrepro.training.experiment import stale_reason as folder_stale_reason

TRAIN, RENDER, SKIP = "train", "render", "skip"
ACTIONS = (TRAIN, RENDER, SKIP)
WILL = {TRAIN: "will retrain", RENDER: "will re-render"}


@dataclass
class PlannedRun:
    """What the call would do with one run, and why."""

    id: str
    notebook: str
    action: str
    reasons: list[str] = field(default_factory=list)
    estimated_minutes: float | None = None
    estimated_from: str = ""
    """``record`` (this machine's last run), ``throughput`` (a measured speed) or empty."""
    missing: list[str] = field(default_factory=list)
    """What the run needs that is not here (a data set, ImageNet weights), for a training run."""
    images: str = ""
    """Where a throughput estimate's image counts come from (counted, or a published size)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    profile: Profile,
    only: Iterable[str] | None = None,
    force: bool = False,
    throughput: Throughput | None = None,
    fallback: Throughput | None = None,
) -> list[PlannedRun]:
    """The plan of ``reproduce(profile, only, force)``, in the order the call would run them.
    With ``throughput`` each training run is estimated from that speed and its missing inputs
    are named (:mod:`~wbcrepro.reproduction.estimate`); ``fallback`` does the same for the
    training runs that have no record to go by."""
    coming: dict[str, str] = {}  # runs that will execute -> what happens to them, for readers
    needs = Needs()
    planned = []
    for spec in ordered_runs(profile, only):
        reasons = ["forced"] if force else stale_reasons(profile, spec, coming)
        action = SKIP if not reasons else RENDER
        if reasons and role_of(spec.notebook).kind == TRAINS:
            retrain = retrain_reasons(profile, spec, force)
            if retrain is not None:
                action = TRAIN
                reasons += [r for r in retrain if r not in reasons]
        if action != SKIP:
            coming[spec.id] = WILL[action]
        seconds = estimate_seconds(profile, spec, action)
        run = PlannedRun(spec.id, spec.notebook, action, reasons)
        run.estimated_minutes = None if seconds is None else round(seconds / 60, 1)
        run.estimated_from = "record" if seconds else ""
        speed = throughput or (fallback if not seconds else None)
        if speed is not None and role_of(spec.notebook).kind == TRAINS:
            params = spec.parameters(profile)
            need = needs.of(params)
            run.missing, run.images = need.missing, need.counted_from
            minutes = estimate_minutes(params, need, speed) if action == TRAIN else None
            if minutes is not None:
                run.estimated_minutes, run.estimated_from = round(minutes, 1), "throughput"
        planned.append(run)
    return planned


def retrain_reasons(profile: Profile, spec: RunSpec, force: bool) -> list[str] | None:
    """Why a stale training run will train (reasons its stale reasons may not say yet), or None
    when it will reload its model and only re-render."""
    if force:
        return []  # the call deletes the run folder
    record = read_record(record_path(profile, spec.id))
    if record is None:
        return []
    if record.get("parameters") != canonical_parameters(spec.parameters(profile)):
        return []  # the folder is another configuration's: deleted, trained anew
    if record.get("training_code_hash") != training_code_hash():
        return []  # its stale reasons say "training code changed"
    results = read_json_or_none(profile.runs_root / spec.id / RESULTS)
    if not isinstance(results, dict):
        return [f"run folder has no {RESULTS}"]
    if results.get("status") != "complete":
        return [f"run folder's training unfinished ({results.get('status', 'no status')})"]
    stale = folder_stale_reason(results)
    return None if stale is None else [f"run folder {stale}"]


def estimate_seconds(profile: Profile, spec: RunSpec, action: str) -> float | None:
    """Seconds the action took last time (see the module doc); 0 for ``skip``."""
    if action == SKIP:
        return 0.0
    record = read_record(record_path(profile, spec.id)) or {}
    seconds = _number(record.get("seconds"))
    trained = _number(train_seconds(profile.runs_root / spec.id))
    last_trained = (record.get("trained") or {}).get("finished") == record.get("finished")
    render = seconds
    if seconds is not None and trained is not None and last_trained and record.get("trained"):
        render = max(seconds - trained, 0.0)
    if action == RENDER:
        return render
    if trained is None:
        return seconds if record.get("trained") and last_trained else None
    return trained + (render or 0.0)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def print_plan(
    profile: Profile,
    only: Iterable[str] | None,
    force: bool,
    as_json: bool,
    asked: bool = True,
    throughput: Throughput | None = None,
    cluster: dict[str, Any] | None = None,
    fallback: Throughput | None = None,
) -> int:
    """``reproduce --plan [--json]``: print the plan (a table, or JSON: the runs as
    :meth:`PlannedRun.as_dict`, the totals and what is missing); the exit status, 0."""
    if not asked:
        raise ValueError("--json goes with --plan")
    planned = plan(profile, only=only, force=force, throughput=throughput, fallback=fallback)
    used = throughput or (
        fallback if any(p.estimated_from == "throughput" for p in planned) else None
    )
    totals = plan_totals(profile, planned, used, cluster)
    if as_json:
        print(json.dumps({**totals, "runs": [p.as_dict() for p in planned]}, indent=2))
    else:
        print(plan_table(profile, planned))
        text = totals_text(totals)
        if text:
            print(text)
    return 0


def plan_totals(
    profile: Profile,
    planned: list[PlannedRun],
    throughput: Throughput | None,
    cluster: dict[str, Any] | None,
) -> dict[str, Any]:
    """Counts per action, the run time in minutes and device-hours, and every missing input
    with the runs that need it."""
    settings = profile.cluster.updated(cluster or {})
    acting = [p for p in planned if p.action != SKIP]
    minutes = sum(p.estimated_minutes or 0.0 for p in acting)
    training = sum(p.estimated_minutes or 0.0 for p in acting if p.action == TRAIN)
    missing: dict[str, list[str]] = {}
    for p in planned:
        for item in p.missing:
            missing.setdefault(item, []).append(p.id)
    return {
        "profile": profile.name,
        "counts": {a: sum(p.action == a for p in planned) for a in ACTIONS},
        "estimated_minutes": round(minutes, 1),
        "not_estimated": [p.id for p in acting if p.estimated_minutes is None],
        "gpus_per_run": settings.gpus_per_run,
        "training_device_hours": round(training * max(1, settings.gpus_per_run) / 60, 1),
        "throughput": None if throughput is None else asdict(throughput),
        "missing": missing,
    }


def totals_text(totals: dict[str, Any]) -> str:
    """The totals below the table: device-hours, the speed they assume, what is missing."""
    speed = totals["throughput"]
    on_cpu = bool(speed) and str(speed["device"]).startswith("cpu")
    unit = "GPU-hours" if totals["gpus_per_run"] and not on_cpu else "CPU-hours (one run each)"
    lines = []
    if totals["counts"][TRAIN]:
        lines.append(f"training: {totals['training_device_hours']} {unit}")
    if speed and lines:
        lines[0] += (
            f", from {speed['img_per_s']:g} img/s of {speed['arch']} at {speed['img_size']} px "
            f"({speed['device']}; scaled by pixels to each run's size; evaluation assumed "
            f"{EVAL_SPEEDUP:g}x faster; BatchNorm recalibration and decoding not counted)"
        )
    for item, ids in totals["missing"].items():
        lines.append(
            f"MISSING {item}: needed by {len(ids)} run(s) ({', '.join(ids[:4])}"
            + (", ..." if len(ids) > 4 else "")
            + ")"
        )
    return "\n".join(lines)


def plan_table(profile: Profile, planned: list[PlannedRun], width: int = 120) -> str:
    """A readable table (id, action, minutes, reasons cut to fit) and the totals per action."""
    id_width = max([len("id"), *(len(p.id) for p in planned)])
    head = f"{'id':<{id_width}}  {'action':<6}  {'min':>6}  reasons"
    lines = [head, "-" * max(len(head), 40)]
    room = max(width - id_width - 20, 30)
    for p in planned:
        minutes = "-" if p.action == SKIP else _minutes(p.estimated_minutes)
        why = "; ".join(p.reasons)
        why = why if len(why) <= room else why[: room - 3] + "..."
        lines.append(f"{p.id:<{id_width}}  {p.action:<6}  {minutes:>6}  {why}".rstrip())
    counts = {a: sum(p.action == a for p in planned) for a in ACTIONS}
    acting = [p for p in planned if p.action != SKIP]
    total = sum(p.estimated_minutes or 0.0 for p in acting)
    unknown = sum(p.estimated_minutes is None for p in acting)
    lines.append(
        f"profile {profile.name}: {counts[TRAIN]} train, {counts[RENDER]} render, "
        f"{counts[SKIP]} skip; estimated {total:.1f} min of run time"
        + (f" (+ {unknown} run(s) never timed)" if unknown else "")
        + "; nothing was run"
    )
    return "\n".join(lines)


def _minutes(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"
