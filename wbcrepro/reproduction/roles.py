"""The one table of notebook roles: what each notebook is, and which other runs it reads.

``reproduce`` needs to know, for every run of a profile, whether it trains, draws a data set or
renders a page from other runs, and *which* runs a page reads: a page must come after its inputs
and be re-rendered whenever one of them changes, or the book shows an old model beside a new one.
Inferring that from file names in several places went wrong (``label_noise``, ``crossdomain`` and
``model_card`` read ``main-pbc`` but were not refreshed when it retrained), so the knowledge lives
here, next to each notebook's parameter names:

=====================  =======  ================================================================
notebook               role     runs it reads (from its parameters)
=====================  =======  ================================================================
experiment.ipynb       trains   none
data_overview.ipynb    data     none
ablation.ipynb         page     ``run_ids`` (comma-separated)
table1.ipynb           page     ``pairs`` (``dataset=arm|arm,...``)
claims.ipynb           page     ``evidence`` (``claim=arm|arm;...``)
findings.ipynb         page     every other run of the profile
crossdomain.ipynb      page     ``source_run``
model_card.ipynb       page     ``source_run``, ``crossdomain_runs``, ``new_lab_estimate``
label_noise.ipynb      page     ``arms``
learning_curve.ipynb   page     ``run_ids`` and ``reference``
lolo.ipynb             page     ``matrix`` (``lab=arm|arm,...``)
=====================  =======  ================================================================

A notebook missing from the table is a page that reads only what its profile entry's ``reads:``
names. Ids may name a run or an arm (an entry with ``seeds``), which stands for its seed runs
(``main-pbc`` -> ``main-pbc-s0``, ``-s1``, ``-s2``), as the pages themselves read them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

TRAINS, DATA, PAGE = "trains", "data", "page"

Reads = Callable[[Mapping[str, Any]], list[str]]
"""``reads(parameters)`` -> the run or arm ids the notebook reads with those parameters."""


class RoleError(ValueError):
    """A run reads an id that is no run of its profile, or runs read each other in a cycle."""


MODEL_FILE_SUFFIXES = (".pt", ".pth")
"""A parameter naming a model file (the shipped model) reads a file of the repository, no run."""


def _ids(*keys: str) -> Reads:
    """Comma-separated ids in each of ``keys`` (model files left out)."""

    def reads(params: Mapping[str, Any]) -> list[str]:
        ids = [i for key in keys for i in _split(params.get(key), ",")]
        return [i for i in ids if not i.endswith(MODEL_FILE_SUFFIXES)]

    return reads


def _mapping(key: str, separator: str) -> Reads:
    """``name=id|id<sep>name=id``: table1's ``pairs`` (``,``), claims' ``evidence`` (``;``)."""

    def reads(params: Mapping[str, Any]) -> list[str]:
        out: list[str] = []
        for item in _split(params.get(key), separator):
            out += _split(item.partition("=")[2], "|")
        return out

    return reads


def _all(*parts: Reads) -> Reads:
    """Every id that each of ``parts`` reads, in order."""

    def reads(params: Mapping[str, Any]) -> list[str]:
        return [i for part in parts for i in part(params)]

    return reads


def _nothing(params: Mapping[str, Any]) -> list[str]:
    return []


def _split(value: Any, separator: str) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(separator) if part.strip()]


@dataclass(frozen=True)
class Role:
    """What a notebook does: ``kind`` (trains, data or page) and the ids it reads."""

    kind: str
    reads: Reads = _nothing
    reads_all: bool = False
    """Reads every other run of the profile (the findings page summarises them all)."""
    groups: bool = False
    """Presents the runs it reads as parts of itself (an ablation its arms, leave-one-lab-out its
    held-out labs): in the book's table of contents they hang under it (``book.toc_parent``)."""


ROLES: dict[str, Role] = {
    "experiment.ipynb": Role(TRAINS),
    "data_overview.ipynb": Role(DATA),
    "ablation.ipynb": Role(PAGE, _ids("run_ids"), groups=True),
    "table1.ipynb": Role(PAGE, _mapping("pairs", ",")),
    "claims.ipynb": Role(PAGE, _mapping("evidence", ";")),
    "findings.ipynb": Role(PAGE, reads_all=True),
    "crossdomain.ipynb": Role(PAGE, _ids("source_run")),
    "model_card.ipynb": Role(
        PAGE, _all(_ids("source_run", "crossdomain_runs"), _mapping("new_lab_estimate", ","))
    ),
    "label_noise.ipynb": Role(PAGE, _ids("arms")),
    "learning_curve.ipynb": Role(PAGE, _ids("run_ids", "reference"), groups=True),
    "lolo.ipynb": Role(PAGE, _mapping("matrix", ","), groups=True),
    "arm.ipynb": Role(PAGE, _ids("arm"), groups=True),
}
ARM_NOTEBOOK = "arm.ipynb"
ARM_SUFFIX = "-arm"
"""Every profile entry with ``seeds`` also gets a page of its own, ``<entry id>-arm``
(:data:`ARM_NOTEBOOK`): the seeds together. A suffix, not the entry's id, because that id
already stands for the seed runs wherever a page reads it."""
UNLISTED = Role(PAGE)
"""A notebook not in :data:`ROLES`: a page that reads only what ``reads:`` declares."""


def role_of(notebook: str) -> Role:
    return ROLES.get(notebook, UNLISTED)


class Run(Protocol):
    """What the graph needs of a :class:`~wbcrepro.reproduction.profiles.RunSpec`."""

    id: str
    notebook: str
    arm: str
    reads: tuple[str, ...]


def expand(ids: Iterable[str], runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """(run ids, unknown ids): each id as a run id, else as an arm's seed runs, in order."""
    known = [run.id for run in runs]
    out: list[str] = []
    unknown: list[str] = []
    for item in ids:
        found = [item] if item in known else [r.id for r in runs if r.arm == item]
        if not found:
            unknown.append(item)
        out += [run_id for run_id in found if run_id not in out]
    return out, unknown


def derived_reads(run: Run, params: Mapping[str, Any], runs: Sequence[Run]) -> list[str]:
    """The ids a run reads by its notebook's role, from ``params`` (the notebook's own defaults
    under the run's parameters: what the kernel will actually see), not yet expanded."""
    role = role_of(run.notebook)
    if role.reads_all:
        return [other.id for other in runs if other.id != run.id]
    # a cross-validation read as one arm joins its fold arms with "+": each is read
    return [part for item in role.reads(params) for part in item.split("+") if part]


R = TypeVar("R", bound=Run)


def resolve_reads(runs: Sequence[R], params_of: Callable[[R], Mapping[str, Any]]) -> list[R]:
    """Each run with its ``reads``: the ids its role derives from ``params_of(run)``, then the
    ids its ``reads`` already holds (a profile entry's ``reads:``), expanded to run ids. An id
    naming no run or arm, a run reading itself, or a cycle raises :class:`RoleError`."""
    resolved = []
    for run in runs:
        ids, unknown = expand([*derived_reads(run, params_of(run), runs), *run.reads], runs)
        if unknown:
            source = "key 'reads'" if unknown[0] in run.reads else f"{run.notebook} parameters"
            raise RoleError(
                f"run {run.id!r} reads {unknown[0]!r} ({source}), which names no run or arm of "
                "the profile"
            )
        if run.id in ids:
            raise RoleError(f"run {run.id!r} reads itself")
        resolved.append(replace(run, reads=tuple(ids)))  # type: ignore[type-var]
    execution_order(resolved)  # a cycle fails here, at load time
    return resolved


def side_by_side(run: Run) -> bool:
    """May execute beside others (``jobs`` > 1): a training or data run that reads no run."""
    return role_of(run.notebook).kind != PAGE and not run.reads


def execution_order(runs: Sequence[Run]) -> list[Run]:
    """The runs in an order where every run comes after the runs it reads.

    Profile order where it is consistent (a topological sort that always takes the earliest
    listed run that is ready), so a page listed before its inputs is moved after them instead of
    failing. Reads of runs outside ``runs`` (not selected with ``--only``) impose nothing.
    """
    index = {run.id: i for i, run in enumerate(runs)}
    waiting = {run.id: {r for r in run.reads if r in index and r != run.id} for run in runs}
    readers: dict[str, list[str]] = {run.id: [] for run in runs}
    for run_id, inputs in waiting.items():
        for input_id in inputs:
            readers[input_id].append(run_id)
    ready = [index[run_id] for run_id, inputs in waiting.items() if not inputs]
    heapq.heapify(ready)
    order: list[Run] = []
    while ready:
        run = runs[heapq.heappop(ready)]
        order.append(run)
        for reader in readers[run.id]:
            waiting[reader].discard(run.id)
            if not waiting[reader]:
                heapq.heappush(ready, index[reader])
    if len(order) < len(runs):
        stuck = sorted((r for r in waiting if waiting[r]), key=index.__getitem__)
        raise RoleError(f"runs read each other in a cycle: {', '.join(stuck)}")
    return order
