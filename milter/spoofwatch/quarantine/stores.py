"""Which quarantine store the configuration names: the SQLite store of one host, or the
PostgreSQL store several MX hosts share (``quarantine.database``)."""

from __future__ import annotations

from pathlib import Path

from ..config import QuarantineConfig
from .pg_store import Database, PostgresStore
from .store import QuarantineStore

__all__ = ["AnyStore", "admin_store", "database_of", "service_store"]

AnyStore = QuarantineStore | PostgresStore


def database_of(q: QuarantineConfig) -> Database:
    return Database(q.database, q.database_password_file, q.database_timeout)


def service_store(q: QuarantineConfig) -> AnyStore | None:
    """The service's store (None = our own store is off), its problems logged once."""
    if q.database:
        store: AnyStore = PostgresStore(database_of(q), q.host_name, Path(q.directory),
                                        service=True)
    elif q.directory:
        store = QuarantineStore(q.directory, service=True)
    else:
        return None
    store.check_at_start()
    return store


def admin_store(q: QuarantineConfig) -> AnyStore | None:
    """The store an admin's command works on (None = off in the configuration)."""
    if q.database:
        return PostgresStore(database_of(q), q.host_name, None)
    return QuarantineStore(q.directory) if q.directory else None
