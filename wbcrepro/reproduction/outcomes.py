"""What one ``reproduce`` call did: each run's outcome, the table printed at the end, and which
call trained each run's model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wbcrepro.fileio import read_json_or_none
from wbcrepro.runfolder import RESULTS

SUBMITTED, WAITING = "submitted", "waiting"
FINAL = ("complete", "failed")
STATUSES = ("complete", "skipped", "failed", SUBMITTED, WAITING)
"""Statuses of a run that executed in this call (its readers re-render after it)."""


@dataclass
class RunOutcome:
    """What happened to one run in this invocation."""

    id: str
    status: str
    """``complete`` (executed now), ``skipped`` (already complete), ``failed``, ``submitted``
    (left running as a SLURM job: ``reproduce --detach``) or ``waiting`` (it reads such a run)."""
    seconds: float = 0.0
    error: str | None = None
    reasons: list[str] = field(default_factory=list)
    """Why the run was executed (empty when skipped)."""

    def line(self, done: int, total: int) -> str:
        """The progress line printed when the run ends (or is left to a later call)."""
        prefix = f"[{done}/{total}] {self.id}"
        why = "; ".join(self.reasons)
        if self.status == "skipped":
            return f"{prefix} ... skipped (complete)"
        if self.status == "complete":
            return f"{prefix} ... done in {self.seconds:.0f} s (executed: {why})"
        if self.status in (SUBMITTED, WAITING):
            return f"{prefix} ... {self.status} ({why})"
        return f"{prefix} ... FAILED after {self.seconds:.0f} s: {self.error}"


@dataclass
class Summary:
    """The outcome of one ``reproduce`` call; ``ok`` is False when any run failed."""

    profile: str
    outcomes: list[RunOutcome] = field(default_factory=list)
    summary_path: Path | None = None
    started: str | None = None  # when the call started (UTC, ISO), as its records' ``call`` say
    git_at_start: dict | None = None
    """The checkout's commit and whether it had local changes when the call started (the code
    its runs ran): the book build rewrites tracked files, so the state at its end says nothing
    about that."""

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def pending(self) -> list[RunOutcome]:
        """Runs left to a later call (submitted to SLURM, or reading such a run)."""
        return [o for o in self.outcomes if o.status in (SUBMITTED, WAITING)]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def table(self) -> str:
        """A plain-text table (id, status, seconds) that names every failure with its error."""
        width = max([len("id"), *(len(o.id) for o in self.outcomes)])
        lines = [f"{'id':<{width}}  {'status':<8}  {'seconds':>8}"]
        lines.append("-" * len(lines[0]))
        for o in self.outcomes:
            seconds = f"{o.seconds:8.1f}" if o.status != "skipped" else f"{'-':>8}"
            lines.append(f"{o.id:<{width}}  {o.status:<8}  {seconds}")
        counts = {s: sum(o.status == s for o in self.outcomes) for s in STATUSES}
        lines.append(
            f"profile {self.profile}: {counts['complete']} executed and complete, "
            f"{counts['skipped']} skipped (already complete), {len(self.failed)} failed"
            + (f", {counts[SUBMITTED]} submitted" if counts[SUBMITTED] else "")
            + (f", {counts[WAITING]} waiting for them" if counts[WAITING] else "")
        )
        for o in self.failed:
            lines.append(f"FAILED {o.id}: {o.error}")
        return "\n".join(lines)


def train_seconds(folder: Path) -> Any:
    """The run folder's recorded training time, or None (no trained model there)."""
    results = read_json_or_none(folder / RESULTS)
    return results.get("train_seconds") if isinstance(results, dict) else None


def trained_by(
    folder: Path, before: Any, record: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The call that trained the run folder's model (``call`` plus when this run finished).

    A training time that changed (or appeared) means this execution trained it; an unchanged one
    means the notebook reloaded the model, and the call that trained it is carried over from the
    previous record. So a call that only re-renders pages never passes for a re-creation of the
    book.
    """
    after = train_seconds(folder)
    if after is None:
        return None
    if after != before:
        return {**record["call"], "finished": record["finished"]}
    return (previous or {}).get("trained")
