"""CPU time of one call, for linear-cost tests that compare ratios, never absolute times."""

from __future__ import annotations

import time
from collections.abc import Callable


def least_cpu(fn: Callable[[], object]) -> float:
    """The least CPU time of three runs of ``fn`` in this thread.

    Thread CPU time, not wall time: other processes share the machine. The least of three
    runs, because a run can only be slowed down by what else happens, never sped up.
    """
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best
