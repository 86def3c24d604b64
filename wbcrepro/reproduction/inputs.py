"""Has a page's input changed since the page was rendered? Fingerprints of run records.

A page (a run that reads other runs, see :mod:`wbcrepro.reproduction.roles`) stores in its record
``inputs``: for each run it reads, the fingerprint of that run's record when the page started.
Later the page is stale when an input's record has another fingerprint now, for example after
``reproduce --only main-pbc-s0`` retrained a model without re-rendering the pages that show it.

The fingerprint is a hash of the input's whole record (canonical JSON), not its ``finished``
time alone: a record is rewritten on every execution, and its ``started``, ``finished``,
``seconds`` and ``call`` together differ between two executions even within one second, while
re-reading or re-formatting the file changes nothing. A record from before ``inputs`` existed
falls back to times: an input that finished after the page started changed since.

Within one ``reproduce`` call the runner needs no fingerprints: a page whose input executed in
this call is re-rendered after it (the reasons say ``re-executed in this call``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RecordOf = Callable[[str], dict[str, Any] | None]
"""``record_of(run_id)`` -> the run's record, or None when it has none."""


def fingerprint(record: Mapping[str, Any] | None) -> str | None:
    """A short hash of a run record's content; None for a run without a record."""
    if record is None:
        return None
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot(reads: Sequence[str], record_of: RecordOf) -> dict[str, str | None]:
    """``{input id: fingerprint}`` for the record of a page that starts now."""
    return {run_id: fingerprint(record_of(run_id)) for run_id in reads}


def changed_inputs(page: Mapping[str, Any], reads: Sequence[str], record_of: RecordOf) -> list[str]:
    """The inputs whose record changed since ``page`` (the page's record) was rendered."""
    recorded = page.get("inputs")
    changed = []
    for run_id in reads:
        record = record_of(run_id)
        if isinstance(recorded, dict):
            if run_id in recorded and recorded[run_id] != fingerprint(record):
                changed.append(run_id)
            elif run_id not in recorded and record is not None:
                changed.append(run_id)  # read now, not when the page was rendered
        elif _finished_after(record, page.get("started")):
            changed.append(run_id)
    return changed


def _finished_after(record: Mapping[str, Any] | None, started: Any) -> bool:
    """An older page record without ``inputs``: compare ISO times (all UTC, same format)."""
    finished = (record or {}).get("finished")
    return isinstance(finished, str) and isinstance(started, str) and finished > started


def input_reasons(reads: Sequence[str], what: Mapping[str, str]) -> list[str]:
    """One reason per kind of change, naming the inputs: ``what`` maps an input id to what
    happened to it (``re-executed in this call``, ``will retrain``, ...); ids in ``reads`` order.
    """
    groups: dict[str, list[str]] = {}
    for run_id in reads:
        if run_id in what:
            groups.setdefault(what[run_id], []).append(run_id)
    return [
        f"{'input' if len(ids) == 1 else 'inputs'} {', '.join(ids)} {change}"
        for change, ids in groups.items()
    ]
