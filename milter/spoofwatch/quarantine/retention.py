"""The quarantine's retention: records older than the configured days are purged daily.

Runs in the service (a thread, :func:`start_retention`); never raises, logs what it did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Config
from .pg_store import PostgresStore
from .store import QuarantineStore, StoreError

__all__ = ["RetentionResult", "purge_expired", "purge_shared", "start_retention"]

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


def purge_shared(store: PostgresStore, retention_days: int,
                 decision_days: int) -> RetentionResult:
    """The shared store's retention run (every host's service runs it; deleting what is
    gone already is no work): records and decision log rows. Never raises."""
    removed: tuple[str, ...] = ()
    try:
        if retention_days > 0:
            removed = store.purge(retention_days * 86400.0).removed
        if decision_days > 0:
            rows = store.purge_decisions(decision_days * 86400.0)
            if rows:
                log.info("shared store %s: purged %d decision log rows older than %d days",
                         store.directory, rows, decision_days)
    except StoreError as exc:
        log.error("quarantine retention run failed: %s", exc)
        return RetentionResult(error=str(exc))
    return RetentionResult(len(removed), "", removed)


def start_retention(settings: Callable[[], Config], store: Callable[[], object],
                    stop: threading.Event, interval: float = 86400.0) -> threading.Thread:
    """Run the retention now and then every ``interval`` seconds until ``stop`` is set.

    ``settings`` returns the configuration and ``store`` the store in use each time, so a
    reload that changes them takes effect at the next run.
    """
    def loop() -> None:
        while True:
            config = settings()
            current = store()
            if isinstance(current, PostgresStore):
                purge_shared(current, config.quarantine.retention_days,
                             config.logging.database_retention_days)
            else:
                purge_expired(config.quarantine.directory, config.quarantine.retention_days)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="quarantine-retention", daemon=True)
    thread.start()
    return thread
