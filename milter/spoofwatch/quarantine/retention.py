"""The quarantine's retention: records older than the configured days are purged daily.

Runs in the service (a thread, :func:`start_retention`); never raises, logs what it did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .store import QuarantineStore, StoreError

__all__ = ["RetentionResult", "purge_expired", "start_retention"]

log = logging.getLogger("spoofwatch.quarantine")


@dataclass(frozen=True)
class RetentionResult:
    removed: int = 0
    error: str = ""
    ids: tuple[str, ...] = field(default=(), compare=False)


def purge_expired(directory: str, retention_days: int, now: float | None = None) -> RetentionResult:
    """The daily retention run for the service: never raises, logs what it did."""
    if not directory or retention_days <= 0:
        return RetentionResult()
    store = QuarantineStore(directory)
    try:
        if not store.directory.exists():
            return RetentionResult()
        result = store.purge(retention_days * 86400.0, now)
    except StoreError as exc:
        log.error("quarantine retention run failed: %s", exc)
        return RetentionResult(error=str(exc))
    except Exception as exc:
        log.exception("quarantine retention run failed")
        return RetentionResult(error=str(exc))
    return RetentionResult(len(result.removed), "", result.removed)


def start_retention(settings: Callable[[], tuple[str, int]], stop: threading.Event,
                    interval: float = 86400.0) -> threading.Thread:
    """Run ``purge_expired`` now and then every ``interval`` seconds until ``stop`` is set.

    ``settings`` returns (directory, retention_days) each time, so a reload that changes
    them takes effect at the next run.
    """
    def loop() -> None:
        while True:
            directory, days = settings()
            purge_expired(directory, days)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="quarantine-retention", daemon=True)
    thread.start()
    return thread
