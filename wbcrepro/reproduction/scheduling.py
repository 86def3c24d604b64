"""Which runs of a profile may execute side by side, and with how many threads each.

On a 2-core CPU two single-threaded training runs side by side finish about 1.7 times sooner
than the same runs one after another with two threads each (measured on BCCD crops at 224 px:
86 s against 2 x 74 s), because one small-batch EfficientNet does not keep two cores busy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from wbcrepro.reproduction.profiles import RunSpec

SIDE_BY_SIDE_NOTEBOOKS = frozenset({"experiment.ipynb", "data_overview.ipynb"})
"""Notebooks that read no other run's output: with ``jobs`` > 1 they may execute side by side."""


def execution_batches(
    specs: list[RunSpec], jobs: int, seconds: Callable[[RunSpec], float]
) -> list[list[RunSpec]]:
    """The runs in batches, in order; the runs of one batch may execute side by side.

    One run per batch in profile order when ``jobs`` is 1. Otherwise the runs that read no other
    run come first, as one batch sorted longest first by their last recorded ``seconds`` (never
    run: first), so that the workers finish together; every other run follows alone in profile
    order, after everything it can read (a profile lists a page after the runs it reads).
    """
    if jobs <= 1:
        return [[spec] for spec in specs]
    side_by_side = [s for s in specs if s.notebook in SIDE_BY_SIDE_NOTEBOOKS]
    side_by_side.sort(key=seconds, reverse=True)  # stable: ties keep profile order
    rest = [[s] for s in specs if s.notebook not in SIDE_BY_SIDE_NOTEBOOKS]
    return ([side_by_side] if side_by_side else []) + rest


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def kernel_threads(jobs: int) -> Iterator[int | None]:
    """Give each of ``jobs`` side-by-side kernels ``cores // jobs`` threads (they inherit the
    environment): two 2-thread trainings on 2 cores are slower than two 1-thread ones. A thread
    count the user set is kept. Yields the count, or None when nothing is set."""
    if jobs <= 1 or any(name in os.environ for name in THREAD_VARIABLES):
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        yield threads
    finally:
        for name in THREAD_VARIABLES:
            os.environ.pop(name, None)
