"""The thread that moves this process's spool into the shared store.

One per worker process (:func:`writer_for`), started on first use (after the fork). It
sends spooled records and decision rows, and retries with a growing delay (0.5 s to 30 s)
while the database is down, slow or without its schema; the milter never waits for it.

Decision rows are written to a spool file first and sent from there, like records: a
database that fails mid-batch, or a process that stops, loses no row, and a row sent twice
is one row (each has its own id, inserted ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from typing import Any

from .logrows import decision_values
from .pg_schema import SchemaError, require_latest
from .pg_store import (
    INSERT_RECORD,
    Database,
    close_quietly,
    first_line,
    record_row,
    watchdog,
)
from .record_files import StoreError
from .spool import Spool

__all__ = ["DatabaseWriter", "stop_writers", "writer_for"]

log = logging.getLogger("spoofwatch.quarantine")

_INSERT_DECISION = (
    "INSERT INTO decisions (id, time, host, queue_id, level, outcome, from_domain, orgs, "
    "data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")
_FIRST_DELAY, _MAX_DELAY = 0.5, 30.0
_IDLE_SCAN = 5.0  # look at the spool this often anyway (files of other, stopped processes)
_GATHER = 0.2  # seconds decision rows gather before they go to a spool file
_BATCH = 500  # rows that go at once, without waiting for the rest of _GATHER
_MAX_QUEUED = 50_000  # decision rows waiting in memory; beyond, the oldest go to a file now

_writers: dict[tuple[Database, str, str], DatabaseWriter] = {}
_writers_lock = threading.Lock()


def writer_for(db: Database, host: str, spool: Spool) -> DatabaseWriter:
    """This process's writer for ``db`` (started now if there is none). A writer for other
    settings (a reload changed the database, the host name or the directory) is stopped:
    what it had not sent stays in its spool, for the writer of the settings now in force."""
    key = (db, host, str(spool.directory))
    old: list[DatabaseWriter] = []
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None or writer.pid != os.getpid():
            writer = DatabaseWriter(db, host, spool)
            writer.start()
            _writers[key] = writer
        for other_key in [k for k in _writers if k != key]:
            old.append(_writers.pop(other_key))
    for retired in old:
        if retired.pid == os.getpid():
            threading.Thread(target=retired.stop, args=(10.0,), name="retired-writer",
                             daemon=True).start()
    return writer


def stop_writers(timeout: float) -> None:
    """At the worker's end: rows still in memory go to the spool, a last round is tried."""
    with _writers_lock:
        writers = [w for w in _writers.values() if w.pid == os.getpid()]
        _writers.clear()
    for writer in writers:
        writer.stop(timeout)


class DatabaseWriter:
    def __init__(self, db: Database, host: str, spool: Spool) -> None:
        self.db = db
        self.host = host
        self.spool = spool
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._rows: deque[dict[str, Any]] = deque()
        self._kicked = True  # the first round looks at the spool
        self._stopping = False
        self._conn: Any = None
        self._failing = ""
        self._delay = _FIRST_DELAY
        self._thread = threading.Thread(target=self._run, name="shared-store-writer",
                                        daemon=True)
        self.sent_records = 0
        self.sent_rows = 0
        self._statement_seconds = max(60.0, 10 * db.timeout)
        self._bound = self._statement_seconds + 3 * db.timeout + 2  # the watchdog

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        with self._cond:
            self._kicked = True
            self._cond.notify()

    def add_decision(self, row: dict[str, Any]) -> None:
        overflow: list[dict[str, Any]] = []
        with self._cond:
            self._rows.append({**row, "db_id": str(uuid.uuid4())})
            if len(self._rows) > _MAX_QUEUED:
                overflow = [self._rows.popleft() for _ in range(len(self._rows) // 2)]
            if len(self._rows) in (1, _BATCH):
                # The first row wakes the writer, which then gathers for _GATHER seconds; a
                # wake-up per row would end the gathering at once (a file and an insert per
                # message). A full batch goes without waiting.
                self._cond.notify()
        if overflow:
            self.spool.spill(overflow)

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        with self._cond:
            rows = list(self._rows)
            self._rows.clear()
        if rows:
            self.spool.spill(rows)

    # --- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                wait = self._delay if self._failing else _IDLE_SCAN
                self._cond.wait_for(lambda: self._kicked or self._rows or self._stopping,
                                    timeout=wait)
                if self._rows and not (self._kicked or self._stopping):
                    self._cond.wait(_GATHER)  # a batch per file, not a file per message
                rows = list(self._rows)
                self._rows.clear()
                self._kicked = False
                stopping = self._stopping
            if rows:
                self.spool.spill(rows)  # written ahead: sent from the file, removed when sent
            self._round()
            if stopping:
                self._close()
                return

    def _round(self) -> None:
        import psycopg

        try:
            conn = self._connection()
            records = self._send_records(conn)
            rows = self._send_rows(conn)
        except (StoreError, SchemaError, psycopg.Error, OSError) as exc:
            self._close()
            self._failed(exc)
            return
        if self._failing:
            log.warning("shared store %s answers again: sent %d spooled records and %d "
                        "decision log rows", self.db.shown, records, rows)
            self._failing = ""
        self._delay = _FIRST_DELAY

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            # No one waits for the writer: a large record may take longer than a command.
            conn = self.db.connect(statement_seconds=self._statement_seconds)
            try:
                require_latest(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _send_records(self, conn: Any) -> int:
        import psycopg

        sent = 0
        for path in self.spool.waiting():
            with self.spool.taking(path) as loaded:
                if loaded is None:
                    continue
                record, raw = loaded
                try:
                    with watchdog(conn, self._bound):
                        conn.execute(INSERT_RECORD, record_row(record, raw))
                except (psycopg.DataError, psycopg.IntegrityError,
                        psycopg.ProgrammingError) as exc:
                    # This record, not the database: set it aside so the ones behind it go.
                    self.spool.set_aside(path, f"the shared store refused it: {exc}")
                    continue
                sent += 1
        self.sent_records += sent
        self.spool.clean()
        return sent

    def _send_rows(self, conn: Any) -> int:
        sent = 0
        for path in self.spool.spilled():
            with self.spool.taking_rows(path) as rows:
                if not rows:
                    continue
                with watchdog(conn, self._bound), conn.transaction(), conn.cursor() as cur:
                    cur.executemany(_INSERT_DECISION,
                                    [decision_values(row, self.host) for row in rows])
                sent += len(rows)
        self.sent_rows += sent
        return sent

    def _failed(self, exc: BaseException) -> None:
        reason = first_line(exc)
        if not self._failing:
            log.error("shared store %s cannot take records now (%s); they wait in %s and are "
                      "sent when it answers (Postfix holds the quarantined messages meanwhile)",
                      self.db.shown, reason, self.spool.directory)
        self._failing = reason
        self._delay = min(_MAX_DELAY, self._delay * 2)

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None
