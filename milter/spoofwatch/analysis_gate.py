"""The gate that admits large messages into analysis in arrival order, within a byte budget."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Messages larger than milter.spool_threshold enter analysis while the sum of their sizes
# stays within this budget (one at a time when one alone is larger). Analysis needs a few
# times a message's size (the message, its serialization, DKIM's and ARC's canonical
# bodies, the parsed MIME tree), so this bounds the worker's memory however many large
# messages arrive at once. See docs/benchmarks.md (memory).
ANALYSIS_BUDGET = 32 * 1_048_576
# A message waiting for its turn tells the MTA it is alive this often (SMFIR_PROGRESS
# restarts Postfix's milter_content_timeout, 300 s by default).
PROGRESS_SECONDS = 10.0


class AnalysisGate:
    """Admits large messages into analysis in arrival order, within a byte budget.

    A message waits until it is first in line and its size fits beside those being
    analyzed (or nothing else is being analyzed). While it waits, ``tick`` runs every
    PROGRESS_SECONDS (the milter's progress reply), so the MTA does not time out.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._in_use = 0
        self._line: deque[object] = deque()
        self._cond = threading.Condition()

    def _fits(self, ticket: object, size: int) -> bool:
        return self._line[0] is ticket and (
            self._in_use == 0 or self._in_use + size <= self._budget)

    def enter(self, size: int, wait: float, tick: Callable[[], object]) -> bool:
        """Wait (at most ``wait`` seconds) for room; False when there was none in time."""
        ticket = object()
        now = time.monotonic()
        deadline, next_tick = now + wait, now + PROGRESS_SECONDS
        with self._cond:
            self._line.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._fits(ticket, size):
                        self._in_use += size
                        return True
                    now = time.monotonic()
                    if now >= deadline:
                        return False
                    if now < next_tick:
                        self._cond.wait(min(next_tick, deadline) - now)
                        continue
                next_tick = time.monotonic() + PROGRESS_SECONDS
                tick()  # outside the lock: it writes to the MTA
        finally:
            with self._cond:
                self._line.remove(ticket)
                self._cond.notify_all()

    def leave(self, size: int) -> None:
        with self._cond:
            self._in_use -= size
            self._cond.notify_all()

