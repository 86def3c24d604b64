"""The call log: one line per ``reproduce`` call that executed runs, with its measured wall time.

Why a log of its own: the cost of re-creating the book is the wall time of one call, from its
start to the built book. The run records end at each run (the last trained run finishes before
the pages that read it are rendered and the book is built), and a sum of run times over several
calls is not a re-creation. ``calls.jsonl`` in the profile's runs folder keeps every call that
executed something (append-only, so a later render-only call never overwrites the measured one);
the cost table on the landing page reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from wbcrepro.environment import git_commit
from wbcrepro.fileio import read_json_or_none
from wbcrepro.reproduction.outcomes import Summary
from wbcrepro.reproduction.profiles import Profile

CALLS = "calls.jsonl"


def log_call(
    profile: Profile,
    summary: Summary,
    *,
    force: bool,
    only: list[str] | None,
    jobs: int | None,
    executor: str,
    book_built: bool,
) -> Path | None:
    """Append this call to ``<runs_root>/calls.jsonl``; None when it executed nothing."""
    executed = [o for o in summary.outcomes if o.status in ("complete", "failed")]
    if not executed or summary.started is None:
        return None
    started = dt.datetime.fromisoformat(summary.started)
    finished = dt.datetime.now(dt.UTC).replace(microsecond=0)
    trained = 0
    for outcome in executed:
        record = read_json_or_none(profile.runs_root / f"{outcome.id}.run.json")
        call = (record or {}).get("trained") if isinstance(record, dict) else None
        trained += bool(call) and call.get("started") == summary.started
    entry: dict[str, Any] = {
        "started": summary.started,
        "finished": finished.isoformat(),
        "wall_seconds": round((finished - started).total_seconds()),
        "force": force,
        "only": list(only or []),
        "jobs": jobs if jobs is not None else profile.jobs,
        "executor": executor,
        "runs_in_profile": len(profile.runs),
        "executed": len(executed),
        "trained": trained,
        "failed": len(summary.failed),
        "book_built": book_built,
        # the tree the runs ran from, at the call's start (the book build changes tracked files)
        "git": summary.git_at_start or git_commit(profile.repo),
        "git_at_end": git_commit(profile.repo),
    }
    path = profile.runs_root / CALLS
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return path
