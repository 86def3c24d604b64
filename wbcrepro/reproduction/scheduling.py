"""Which runs of a profile may execute side by side, and with how many threads each.

On a 2-core CPU two single-threaded training runs side by side finish about 1.7 times sooner
than the same runs one after another with two threads each (measured on BCCD crops at 224 px:
86 s against 2 x 74 s), because one small-batch EfficientNet does not keep two cores busy.
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Callable, Iterator

from wbcrepro.reproduction.profiles import RunSpec
from wbcrepro.reproduction.roles import side_by_side


def execution_batches(
    specs: list[RunSpec], jobs: int, seconds: Callable[[RunSpec], float]
) -> list[list[RunSpec]]:
    """The runs in batches, in order; the runs of one batch may execute side by side.

    ``specs`` come in execution order (every run after the runs it reads,
    :func:`wbcrepro.reproduction.roles.execution_order`). One run per batch in that order when
    ``jobs`` is 1. Otherwise the training and data runs that read no other run
    (:func:`~wbcrepro.reproduction.roles.side_by_side`) come first, as one batch sorted longest
    first by their last recorded ``seconds`` (never run: first), so that the workers finish
    together; every other run follows alone, in order, after everything it reads.
    """
    if jobs <= 1:
        return [[spec] for spec in specs]
    first = [s for s in specs if side_by_side(s)]
    first.sort(key=seconds, reverse=True)  # stable: ties keep profile order
    rest = [[s] for s in specs if not side_by_side(s)]
    return ([first] if first else []) + rest


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


class GpuSlots:
    """Gives each side-by-side kernel its own GPU(s) (``CUDA_VISIBLE_DEVICES``) on a box with
    several: a run takes a free slot for as long as it executes. No slots: no environment."""

    def __init__(self, slots: list[str]) -> None:
        self.slots = list(slots)
        self._free: queue.Queue[str] = queue.Queue()
        for slot in self.slots:
            self._free.put(slot)

    @contextlib.contextmanager
    def kernel_env(self) -> Iterator[dict[str, str] | None]:
        if not self.slots:
            yield None
            return
        slot = self._free.get()
        try:
            yield {"CUDA_VISIBLE_DEVICES": slot}
        finally:
            self._free.put(slot)
