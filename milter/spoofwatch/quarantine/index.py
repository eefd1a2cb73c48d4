"""The searchable index of quarantine records, behind a small interface.

The record files are the truth; the index is derived from them (and can be rebuilt from
them), except for the release/delete events and the digest bookkeeping (which records a
``spoofwatch quarantine digest`` already listed), which only the index keeps. ``SqliteIndex``
is the one backend today; another (a shared database for several MX hosts, say) needs only
to implement ``Index``.

SQLite runs in rollback-journal mode, not WAL: reading then creates no files, so ``list``
and ``show`` still work on a full disk, and several processes (the milter, an admin's
command) share the file through SQLite's locks with a busy timeout.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from .record import AlreadyReleased, Record, RecordFormatError, ReleaseEvent, record_from_json

__all__ = ["Filter", "Index", "IndexUnusable", "SqliteIndex", "Stats", "column",
           "subdomain_pattern"]


class IndexUnusable(Exception):
    """The index cannot be used: damaged, locked too long, or the disk is full."""

    def __init__(self, message: str, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


@dataclass(frozen=True)
class Filter:
    since: float | None = None  # records quarantined at or after this time
    levels: tuple[str, ...] = ()
    org: str = ""  # case-insensitive, exact organization name
    from_domain: str = ""  # the sending domain or any subdomain of it
    rcpt: str = ""  # one envelope recipient, case-insensitive
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Stats:
    total: int
    by_level: tuple[tuple[str, int], ...]
    by_org: tuple[tuple[str, int], ...]
    by_domain: tuple[tuple[str, int], ...]
    by_day: tuple[tuple[str, int], ...]  # UTC date "YYYY-MM-DD"
    released: int = 0
    by_host: tuple[tuple[str, int], ...] = ()  # the shared store: records per MX host
    # The shared store with the decision log in it: every host's checked messages.
    checked: int | None = None
    checked_by_level: tuple[tuple[str, int], ...] = ()
    spoofed_orgs: tuple[tuple[str, int], ...] = ()  # suspect/spoof/threat mail per org


class Index(Protocol):
    def add(self, record: Record) -> None: ...
    def remove(self, record_id: str,
               before_commit: Callable[[], None] | None = None) -> bool: ...
    def probe_write(self) -> None: ...
    def get(self, record_id: str) -> Record | None: ...
    def ids(self) -> set[str]: ...
    def query(self, flt: Filter) -> tuple[list[Record], int]: ...
    def older_than(self, when: float) -> list[str]: ...
    def stats(self, since: float | None) -> Stats: ...
    def event(self, record_id: str, event: ReleaseEvent,
              first_release: bool = False) -> contextlib.AbstractContextManager[None]: ...
    def unnotified(self, since: float | None, limit: int) -> tuple[list[Record], int]: ...
    def notifying(self, since: float | None, limit: int, when: float
                  ) -> contextlib.AbstractContextManager[tuple[list[Record], int]]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    time REAL NOT NULL,
    queue_id TEXT NOT NULL,
    level TEXT NOT NULL,
    sending_domain TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_time ON records(time);
CREATE TABLE IF NOT EXISTS record_rcpts (id TEXT NOT NULL, rcpt TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS record_rcpts_id ON record_rcpts(id);
CREATE INDEX IF NOT EXISTS record_rcpts_rcpt ON record_rcpts(rcpt);
CREATE TABLE IF NOT EXISTS record_orgs (id TEXT NOT NULL, org TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS record_orgs_id ON record_orgs(id);
CREATE TABLE IF NOT EXISTS events (
    id TEXT NOT NULL, time REAL NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL,
    method TEXT NOT NULL, recipients TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_id ON events(id);
CREATE TABLE IF NOT EXISTS notified (id TEXT PRIMARY KEY, time REAL NOT NULL);
"""
# Tables every index must have; an index written by an older version lacks the later ones
# and gets them (the schema is all "IF NOT EXISTS") the first time it is opened.
_TABLES = ("events", "notified")


def column(text: str) -> str:
    """``text`` as SQLite takes it: bytes that were not UTF-8 shown as ``\\xNN``.

    The service keeps raw bytes of the envelope and headers as lone surrogates
    (``surrogateescape``), which SQLite refuses. The searchable columns hold this visible
    form; the record's exact text stays in ``meta`` (JSON escapes keep every surrogate), and
    a filter goes through the same function, so it finds what it names byte for byte.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_column_char(ch) for ch in text)
    if "\x00" in text:  # PostgreSQL's text refuses NUL; both stores show it the same way
        return text.replace("\x00", "\\x00")
    return text


def _column_char(ch: str) -> str:
    code = ord(ch)
    if code == 0:
        return "\\x00"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return f"\\u{code:04x}"
    return ch


def _is_full(exc: sqlite3.Error) -> bool:
    return "disk is full" in str(exc) or "disk I/O error" in str(exc)


class SqliteIndex:
    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise IndexUnusable(f"cannot open the index {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA synchronous=FULL")
            if not self._has_schema(conn):
                conn.executescript(_SCHEMA)
            yield conn
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise IndexUnusable(f"the disk holding {self.path} is full",
                                    disk_full=True) from None
            raise IndexUnusable(
                f"the index {self.path} is unusable ({exc}); move it away and run any "
                "quarantine command to rebuild it from the record files "
                "(release and delete history is lost then)") from None
        finally:
            conn.close()

    @staticmethod
    def _has_schema(conn: sqlite3.Connection) -> bool:
        marks = ",".join("?" * len(_TABLES))
        row = conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ({marks})",
            _TABLES).fetchone()
        return int(row[0]) == len(_TABLES)

    # --- writes ---------------------------------------------------------------------------
    def add(self, record: Record) -> None:
        meta = json.dumps(record.to_json(), ensure_ascii=True, sort_keys=True)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO records(id, time, queue_id, level, sending_domain, meta)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.id, record.time, column(record.queue_id), column(record.level),
                     column(record.sending_domain.lower()), meta))
                if cur.rowcount:  # a second add of the same record (recovery race) adds nothing
                    rcpts = dict.fromkeys(column(r.lower()) for r in record.rcpts)
                    conn.executemany("INSERT INTO record_rcpts(id, rcpt) VALUES (?, ?)",
                                     [(record.id, r) for r in rcpts])
                    conn.executemany("INSERT INTO record_orgs(id, org) VALUES (?, ?)",
                                     [(record.id, column(o)) for o in dict.fromkeys(record.orgs)])
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    def remove(self, record_id: str, before_commit: Callable[[], None] | None = None) -> bool:
        """Drop a record's rows; ``before_commit`` runs once the journal is written.

        Returns whether there was a row.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
                had_row = cur.rowcount > 0
                for table in ("record_rcpts", "record_orgs"):
                    conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))
                if not had_row:
                    # Nothing was deleted, so nothing was journaled yet: make sure a write
                    # is possible before the caller's irreversible step.
                    conn.execute("INSERT INTO events(id, time, action, actor, method, "
                                 "recipients) VALUES ('', 0, 'probe', '', '', '[]')")
                if before_commit is not None:
                    before_commit()
                if not had_row:
                    conn.execute("DELETE FROM events WHERE action = 'probe'")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return had_row

    def probe_write(self) -> None:
        """Fail (IndexUnusable) unless a write transaction can be journaled now."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO events(id, time, action, actor, method, recipients)"
                             " VALUES ('', 0, 'probe', '', '', '[]')")
            finally:
                _rollback(conn)

    @contextlib.contextmanager
    def event(self, record_id: str, event: ReleaseEvent,
              first_release: bool = False) -> Iterator[None]:
        """Record ``event``; it is committed only if the body (the MTA action) succeeds.

        The row is written first, inside the transaction, so a disk that cannot take the
        journal stops us before Postfix is touched: nothing happens that is not recorded.
        With ``first_release``, a release event already there raises AlreadyReleased: the
        transaction holds SQLite's write lock while the MTA acts, so of two releases at the
        same moment the second waits for the first and then finds its event.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if first_release:
                    row = conn.execute(
                        "SELECT actor, time FROM events WHERE id = ? AND action = 'release' "
                        "ORDER BY time DESC LIMIT 1", (record_id,)).fetchone()
                    if row is not None:
                        raise AlreadyReleased(_released_text(record_id, row[0], row[1]))
                conn.execute(
                    "INSERT INTO events(id, time, action, actor, method, recipients)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record_id, event.time, column(event.action), column(event.actor),
                     column(event.method), json.dumps(list(event.recipients))))
                yield
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    @contextlib.contextmanager
    def notifying(self, since: float | None, limit: int,
                  when: float) -> Iterator[tuple[list[Record], int]]:
        """The records no digest has listed yet, marked as listed if the body succeeds.

        Yields (the oldest ``limit`` of them, how many there are in all). Choosing and
        marking happen in one write transaction held while the body sends the digest, so
        two digest runs at once cannot both list a record, and a digest the MTA refused
        marks nothing: the next run lists those records again.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Rows of records deleted since (purge, delete) are of no more use.
                conn.execute("DELETE FROM notified WHERE id NOT IN (SELECT id FROM records)")
                records, total = self._unnotified(conn, since, limit)
                conn.executemany("INSERT OR IGNORE INTO notified(id, time) VALUES (?, ?)",
                                 [(r.id, when) for r in records])
                yield records, total
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    # --- reads ----------------------------------------------------------------------------
    def _unnotified(self, conn: sqlite3.Connection, since: float | None,
                    limit: int) -> tuple[list[Record], int]:
        where = "WHERE r.id NOT IN (SELECT id FROM notified)"
        params: list[object] = []
        if since is not None:
            where += " AND r.time >= ?"
            params.append(since)
        total = conn.execute(f"SELECT count(*) FROM records r {where}", params).fetchone()[0]
        rows = conn.execute(f"SELECT r.id, r.meta FROM records r {where} "
                            "ORDER BY r.time, r.id LIMIT ?", [*params, limit]).fetchall()
        return self._records(conn, rows), int(total)

    def unnotified(self, since: float | None, limit: int) -> tuple[list[Record], int]:
        """What the next digest would list (oldest first, at most ``limit``), and how many."""
        with self._connect() as conn:
            return self._unnotified(conn, since, limit)

    def _events(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, list[ReleaseEvent]]:
        out: dict[str, list[ReleaseEvent]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT id, time, action, actor, method, recipients FROM events "
                f"WHERE id IN ({marks}) ORDER BY time, rowid", chunk).fetchall()
            for rid, when, action, actor, method, rcpts in rows:
                out[rid].append(ReleaseEvent(action, when, actor, method,
                                             tuple(json.loads(rcpts))))
        return out

    def _records(self, conn: sqlite3.Connection, rows: list[tuple[str, str]]) -> list[Record]:
        events = self._events(conn, [r[0] for r in rows])
        records = []
        for rid, meta in rows:
            try:
                record = record_from_json(json.loads(meta))
            except (RecordFormatError, ValueError):
                continue  # a damaged row: reconcile re-reads it from the file
            records.append(_with_events(record, events.get(rid, [])))
        return records

    def get(self, record_id: str) -> Record | None:
        with self._connect() as conn:
            rows = conn.execute("SELECT id, meta FROM records WHERE id = ?",
                                (record_id,)).fetchall()
            found = self._records(conn, rows)
        return found[0] if found else None

    def ids(self) -> set[str]:
        with self._connect() as conn:
            return {r[0] for r in conn.execute("SELECT id FROM records")}

    def query(self, flt: Filter) -> tuple[list[Record], int]:
        where, params = _where(flt)
        with self._connect() as conn:
            total = conn.execute(f"SELECT count(*) FROM records r {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT r.id, r.meta FROM records r {where} ORDER BY r.time DESC, r.id DESC "
                "LIMIT ? OFFSET ?", [*params, flt.limit, flt.offset]).fetchall()
            return self._records(conn, rows), int(total)

    def older_than(self, when: float) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in conn.execute(
                "SELECT id FROM records WHERE time < ? ORDER BY time", (when,))]

    def stats(self, since: float | None) -> Stats:
        where, params = _where(Filter(since=since))
        with self._connect() as conn:
            def grouped(sql: str) -> tuple[tuple[str, int], ...]:
                return tuple((str(k), int(n)) for k, n in conn.execute(sql, params))

            total = conn.execute(f"SELECT count(*) FROM records r {where}", params).fetchone()[0]
            joined = f"{where} AND" if where else "WHERE"
            released = conn.execute(
                f"SELECT count(DISTINCT r.id) FROM records r JOIN events e ON e.id = r.id "
                f"{joined} e.action = 'release'", params).fetchone()[0]
            return Stats(
                total=int(total),
                by_level=grouped(f"SELECT r.level, count(*) AS n FROM records r {where} "
                                 "GROUP BY r.level ORDER BY n DESC, r.level"),
                by_org=grouped(f"SELECT o.org, count(*) AS n FROM records r JOIN record_orgs o "
                               f"ON o.id = r.id {where} GROUP BY o.org ORDER BY n DESC, o.org"),
                by_domain=grouped(f"SELECT r.sending_domain, count(*) AS n FROM records r "
                                  f"{where} GROUP BY r.sending_domain "
                                  "ORDER BY n DESC, r.sending_domain"),
                by_day=grouped(f"SELECT strftime('%Y-%m-%d', r.time, 'unixepoch') AS d, "
                               f"count(*) FROM records r {where} GROUP BY d ORDER BY d"),
                released=int(released),
            )


def _released_text(record_id: str, actor: str, when: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    return (f"{record_id} was already released by {actor} at {stamp}; use --again to "
            "deliver another copy")


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if SQLite has not already done so itself (it does on SQLITE_FULL)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _with_events(record: Record, events: list[ReleaseEvent]) -> Record:
    return replace(record, events=tuple(events)) if events else record


def _where(flt: Filter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if flt.since is not None:
        clauses.append("r.time >= ?")
        params.append(flt.since)
    if flt.levels:
        clauses.append(f"r.level IN ({','.join('?' * len(flt.levels))})")
        params.extend(column(level) for level in flt.levels)
    if flt.org:
        clauses.append("r.id IN (SELECT id FROM record_orgs WHERE org = ? COLLATE NOCASE)")
        params.append(column(flt.org))
    if flt.from_domain:
        domain = column(flt.from_domain.lower().strip("."))
        clauses.append("(r.sending_domain = ? OR r.sending_domain LIKE ? ESCAPE '\\')")
        params.extend([domain, subdomain_pattern(domain)])
    if flt.rcpt:
        clauses.append("r.id IN (SELECT id FROM record_rcpts WHERE rcpt = ?)")
        params.append(column(flt.rcpt.lower()))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def subdomain_pattern(domain: str) -> str:
    """A LIKE pattern (escape character backslash) for every subdomain of ``domain``."""
    return "%." + domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
