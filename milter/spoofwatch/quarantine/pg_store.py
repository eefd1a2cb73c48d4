"""The shared quarantine store in PostgreSQL, for several MX hosts.

The same operations as :class:`.store.QuarantineStore` (the one-host SQLite store), so
every ``spoofwatch quarantine`` command runs against either; the schema and why bodies
live in the database are :mod:`.pg_schema`'s.

The service never waits for the database: ``save`` writes the record to this host's spool
(one complete, fsynced file, as the SQLite store writes its records) and wakes the
process's :class:`.pg_writer.DatabaseWriter`, which inserts it (``ON CONFLICT DO NOTHING``:
a record replayed twice is one row) and only then removes the file. A database that is down
or slow therefore costs mail nothing: Postfix holds the message, the spool holds our copy,
and the writer replays the spool when the database answers again.

Releases across hosts are exactly-once by a state on the record, changed under its row lock
(``SELECT ... FOR UPDATE``): ``held`` -> ``releasing`` (committed before Postfix is asked)
-> ``released``; a second release waits for the lock, then finds the first one's state and
gives up (AlreadyReleased). A release asked for on a host that does not hold the message
becomes ``release_requested`` and is carried out by the owning host's agent
(:mod:`.agent`), which can run ``postsuper`` there.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..database_url import DatabasePasswordError, read_password_file, shown_url
from ..report import Report
from .index import Filter, Stats, column, subdomain_pattern
from .pg_schema import SchemaError, require_latest
from .record import (
    AlreadyReleased,
    Record,
    RecordFormatError,
    ReleaseEvent,
    check_message,
    encode_meta,
    is_record_id,
    record_from_json,
)
from .record_files import Problem, StoreError
from .spool import Spool
from .store import Page, PurgeResult, Reconciled

__all__ = ["Database", "HoldRemoval", "PostgresStore", "Request", "close_pools",
           "close_quietly", "first_line"]

log = logging.getLogger("spoofwatch.quarantine")

NOTIFY_CHANNEL = "spoofwatch_requests"
_COLUMNS = "id, meta, host, state"


@dataclass(frozen=True)
class Database:
    """How to reach the shared store: the URL, the password file, the time budget."""

    url: str
    password_file: str = ""
    timeout: float = 5.0

    @property
    def shown(self) -> str:
        return shown_url(self.url)

    def _kwargs(self, statement_seconds: float | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        try:
            if self.password_file:
                kwargs["password"] = read_password_file(self.password_file)
        except DatabasePasswordError as exc:
            raise StoreError("database", str(exc)) from None
        budget_ms = int(self.timeout * 1000)
        statement_ms = int((statement_seconds or self.timeout) * 1000)
        # The server enforces statement_timeout; a server that stopped answering (or a
        # network that dropped the connection silently) is noticed by the keepalives and
        # tcp_user_timeout on TCP, and by the watchdog (below) on every kind of socket.
        kwargs.update(connect_timeout=max(1, math.ceil(self.timeout)),
                      application_name="spoofwatch", keepalives=1,
                      keepalives_idle=max(1, math.ceil(self.timeout)), keepalives_interval=1,
                      keepalives_count=3, tcp_user_timeout=budget_ms,
                      options=f"-c statement_timeout={statement_ms} "
                              f"-c lock_timeout={budget_ms}")
        return kwargs

    def connect(self, autocommit: bool = True, statement_seconds: float | None = None) -> Any:
        """A new connection of its own (the writer's, the agent's LISTEN); raises
        StoreError("database", ...) with the reason."""
        import psycopg  # the optional dependency: only a configured database imports it

        try:
            return psycopg.connect(self.url, autocommit=autocommit,
                                   **self._kwargs(statement_seconds))
        except psycopg.Error as exc:
            raise StoreError("database", f"cannot connect to the shared store {self.shown}: "
                                         f"{first_line(exc)}") from None

    @contextlib.contextmanager
    def pooled(self) -> Iterator[Any]:
        """A connection from this process's pool (commands, the agent), given back after.

        A connection kept in the pool may have gone stale (the server restarted): it is
        tried first with a statement bounded by the watchdog (the pool's own check has no
        bound, and hangs on a server that stopped answering), and replaced once if dead.
        """
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        key = (self, os.getpid())
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = ConnectionPool(self.url, min_size=1, max_size=4, open=False,
                                      timeout=self.timeout, name="spoofwatch",
                                      kwargs={"autocommit": True, **self._kwargs()})
                pool.open(wait=False)
                _pools[key] = pool
        for attempt in (1, 2):
            try:
                conn_cm = pool.connection(timeout=self.timeout)
                conn = conn_cm.__enter__()
            except PoolTimeout:
                # The pool says only that it timed out: one direct attempt says why.
                self.connect().close()
                raise StoreError("database", f"the shared store {self.shown} gave no "
                                             f"connection within {self.timeout:g} s") from None
            try:
                with watchdog(conn, 2 * self.timeout + 1):
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError as exc:
                conn_cm.__exit__(type(exc), exc, exc.__traceback__)  # the pool drops it
                if attempt == 2:
                    raise
        try:
            yield conn
        except BaseException as exc:
            conn_cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        conn_cm.__exit__(None, None, None)


_pools: dict[tuple[Database, int], Any] = {}
_pools_lock = threading.Lock()


@contextlib.contextmanager
def watchdog(conn: Any, seconds: float) -> Iterator[threading.Event]:
    """Bound what ``conn`` may take, on the client side: past ``seconds`` its socket is shut
    down, so a call blocked on a server that stopped answering (SIGSTOP, a silent network)
    fails instead of hanging. The event says whether it fired."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        try:
            fd = os.dup(conn.pgconn.socket)
            with socket.socket(fileno=fd) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: BLE001 - closed meanwhile: nothing left to bound
            pass

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def close_pools() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close(timeout=1.0)


def first_line(exc: BaseException) -> str:
    """An error as one line for the log and the admin (the driver's are several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def close_quietly(conn: object) -> None:
    """Drop a connection that may be broken already, whatever closing it says."""
    if conn is None:
        return
    try:
        conn.close()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a broken connection is dropped whatever it says
        pass


@dataclass(frozen=True)
class Request:
    """A release asked for on one host, to be carried out by the host holding the message."""

    actor: str
    host: str  # where it was asked for
    time: float
    recipients: tuple[str, ...]

    def to_text(self) -> str:
        return json.dumps({"actor": self.actor, "host": self.host, "time": self.time,
                           "recipients": list(self.recipients)}, ensure_ascii=True)

    @classmethod
    def from_text(cls, text: str) -> Request | None:
        try:
            data = json.loads(text)
            return cls(str(data["actor"]), str(data["host"]), float(data["time"]),
                       tuple(str(r) for r in data["recipients"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class HoldRemoval:
    """A copy in this host's hold queue whose record was released or deleted elsewhere."""

    seq: int
    record_id: str
    queue_id: str
    mail_from: str
    rcpts: tuple[str, ...]
    reason: str


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


class PostgresStore:
    """Quarantined messages of every MX host in one PostgreSQL database."""

    shared = True

    def __init__(self, db: Database, host: str, spool_dir: str | Path | None = None, *,
                 clock: object = time.time, service: bool = False) -> None:
        self.db = db
        self.host = host
        self.directory = db.shown  # what messages name as "the store"
        self.spool = Spool(Path(spool_dir), host) if spool_dir else None
        self.service = service
        self._clock = clock
        self._schema_checked = False

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    @contextlib.contextmanager
    def _conn(self, extra: float = 0.0) -> Iterator[Any]:
        """A pooled connection, bounded by a watchdog (``extra``: seconds the caller's own
        work inside the block may take, as a digest's sendmail)."""
        import psycopg

        fired = threading.Event()
        try:
            with self.db.pooled() as conn, watchdog(conn, 3 * self.db.timeout + 2 + extra
                                                    ) as fired:
                if not self._schema_checked:
                    try:
                        require_latest(conn)
                    except SchemaError as exc:
                        raise StoreError("schema", f"{self.db.shown}: {exc}") from None
                    self._schema_checked = True
                yield conn
        except psycopg.errors.QueryCanceled:
            raise StoreError("database", f"the shared store {self.db.shown} did not answer "
                                         f"within {self.db.timeout:g} s") from None
        except psycopg.Error as exc:
            if fired.is_set():
                raise StoreError("database", f"the shared store {self.db.shown} stopped "
                                             "answering") from None
            raise StoreError("database", f"the shared store {self.db.shown}: "
                                         f"{first_line(exc)}") from None

    # --- setup ------------------------------------------------------------------------------
    def prepare(self, create: bool = True) -> None:
        with self._conn():
            pass

    def check_at_start(self) -> str | None:
        """The service's start: the spool must be usable; the database may be down (the
        writer says so in the log and replays the spool when it answers)."""
        if self.spool is None:
            return None
        problem = self.spool.prepare()
        if problem:
            log.error("quarantine spool %s cannot be used: %s; quarantined messages stay in "
                      "Postfix's hold queue but are not saved until this is fixed",
                      self.spool.directory, problem)
            return problem
        from .pg_writer import writer_for

        # Started now, not at the first held message: records a stopped process left in the
        # spool go out at once, and a database that cannot be reached is said at start.
        writer_for(self.db, self.host, self.spool)
        return None

    # --- save (the service) -----------------------------------------------------------------
    def save(self, raw: bytes, report: Report, queue_id: str) -> str | None:
        """Spool the held message; the database writer inserts it. Never raises."""
        if self.spool is None:
            log.error("quarantine store %s: no spool directory; Postfix still holds queue id "
                      "%s", self.directory, queue_id)
            return None
        record_id = self.spool.save(raw, report, queue_id, self._now())
        if record_id is not None:
            from .pg_writer import writer_for  # the process's writer, started on first use

            writer_for(self.db, self.host, self.spool).kick()
        return record_id

    def log_decision(self, row: dict[str, Any]) -> None:
        """One decision log line to the database (queued; never waits, never raises)."""
        if self.spool is None:
            return
        from .pg_writer import writer_for

        writer_for(self.db, self.host, self.spool).add_decision(row)

    # --- reading ----------------------------------------------------------------------------
    def reconcile(self) -> Reconciled:
        return Reconciled()  # one database: nothing to reconcile

    def _record(self, row: tuple[Any, ...]) -> Record | None:
        _rid, meta, host, state = row[:4]
        try:
            record = record_from_json(json.loads(meta))
        except (RecordFormatError, ValueError, TypeError, AttributeError):
            return None
        return replace(record, host=host, state=state)

    def _with_events(self, conn: Any, records: builtins.list[Record]) -> builtins.list[Record]:
        if not records:
            return records
        events: dict[str, builtins.list[ReleaseEvent]] = {r.id: [] for r in records}
        rows = conn.execute(
            "SELECT record_id, time, action, actor, method, host, recipients FROM "
            "quarantine_events WHERE record_id = ANY(%s) ORDER BY time, seq",
            ([r.id for r in records],)).fetchall()
        for rid, when, action, actor, method, host, rcpts in rows:
            shown_actor = actor if host == self.host or not host else f"{actor} on {host}"
            events[rid].append(ReleaseEvent(action, when, shown_actor, method,
                                            _recipients(rcpts)))
        return [replace(r, events=tuple(events[r.id])) for r in records]

    def _damaged(self, record_id: str) -> Problem:
        return Problem("damaged", f"record {record_id} is damaged: its metadata cannot be "
                                  f"read; `spoofwatch quarantine delete {record_id}` removes it")

    def get(self, record_id: str) -> Record | Problem:
        if not is_record_id(record_id):
            return _bad_id(record_id)
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM quarantine_records WHERE id = %s",
                               (record_id,)).fetchone()
            if row is None:
                return Problem("not_found", f"no quarantined message with id {record_id}")
            record = self._record(row)
            if record is None:
                return self._damaged(record_id)
            return self._with_events(conn, [record])[0]

    def read(self, record_id: str, verify: bool = True) -> tuple[Record, bytes] | Problem:
        if not is_record_id(record_id):
            return _bad_id(record_id)
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_COLUMNS}, message FROM quarantine_records "
                               "WHERE id = %s", (record_id,)).fetchone()
            if row is None:
                return Problem("not_found", f"no quarantined message with id {record_id}")
            record = self._record(row)
            if record is None:
                return self._damaged(record_id)
            raw = bytes(row[4])
            if verify:
                try:
                    check_message(record, raw)
                except RecordFormatError as exc:
                    return Problem("damaged", f"record {record_id} is damaged: {exc}")
            return self._with_events(conn, [record])[0], raw

    def list(self, flt: Filter | None = None) -> Page:
        flt = flt or Filter()
        where, params = _where(flt)
        with self._conn() as conn:
            total = conn.execute(f"SELECT count(*) FROM quarantine_records r {where}",
                                 params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM quarantine_records r {where} "
                "ORDER BY r.time DESC, r.id DESC LIMIT %s OFFSET %s",
                [*params, flt.limit, flt.offset]).fetchall()
            records, damaged = [], []
            for row in rows:
                record = self._record(row)
                if record is None:
                    damaged.append(str(row[0]))
                else:
                    records.append(record)
            return Page(tuple(self._with_events(conn, records)), int(total), tuple(damaged))

    def stats(self, since: float | None = None) -> Stats:
        where, params = _where(Filter(since=since))
        with self._conn() as conn:
            def grouped(sql: str, args: builtins.list[Any] = params
                        ) -> tuple[tuple[str, int], ...]:
                return tuple((str(k), int(n)) for k, n in conn.execute(sql, args))

            total = conn.execute(f"SELECT count(*) FROM quarantine_records r {where}",
                                 params).fetchone()[0]
            joined = f"{where} AND" if where else "WHERE"
            released = conn.execute(
                f"SELECT count(DISTINCT r.id) FROM quarantine_records r JOIN quarantine_events"
                f" e ON e.record_id = r.id {joined} e.action = 'release'", params).fetchone()[0]
            dwhere, dparams = ("WHERE time >= to_timestamp(%s)", [since]) if since else ("", [])
            checked = conn.execute(f"SELECT count(*) FROM decisions {dwhere}",
                                   dparams).fetchone()[0]
            djoined = f"{dwhere} AND" if dwhere else "WHERE"
            return Stats(
                total=int(total),
                by_level=grouped(f"SELECT r.level, count(*) AS n FROM quarantine_records r "
                                 f"{where} GROUP BY r.level ORDER BY n DESC, r.level"),
                by_org=grouped(f"SELECT o, count(*) AS n FROM quarantine_records r, "
                               f"unnest(r.orgs) o {where} GROUP BY o ORDER BY n DESC, o"),
                by_domain=grouped(f"SELECT r.sending_domain, count(*) AS n FROM "
                                  f"quarantine_records r {where} GROUP BY r.sending_domain "
                                  "ORDER BY n DESC, r.sending_domain"),
                by_day=grouped(f"SELECT to_char(to_timestamp(r.time) AT TIME ZONE 'UTC', "
                               f"'YYYY-MM-DD') AS d, count(*) FROM quarantine_records r "
                               f"{where} GROUP BY d ORDER BY d"),
                released=int(released),
                by_host=grouped(f"SELECT r.host, count(*) AS n FROM quarantine_records r "
                                f"{where} GROUP BY r.host ORDER BY n DESC, r.host"),
                checked=int(checked),
                checked_by_level=grouped(f"SELECT level, count(*) AS n FROM decisions "
                                         f"{dwhere} GROUP BY level ORDER BY n DESC, level",
                                         dparams),
                spoofed_orgs=grouped(
                    f"SELECT o, count(*) AS n FROM decisions, unnest(orgs) o {djoined} "
                    "level IN ('suspect', 'spoof', 'threat') GROUP BY o ORDER BY n DESC, o",
                    dparams),
            )

    # --- changes ----------------------------------------------------------------------------
    def writable_check(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1")

    def delete(self, record_id: str) -> Problem | None:
        """Remove a record (its metadata need not be readable). Held on another host: that
        host's agent removes its copy (if it is still in the hold queue there)."""
        if not is_record_id(record_id):
            return _bad_id(record_id)
        with self._conn() as conn, conn.transaction():
            row = conn.execute("SELECT host, queue_id, meta, state, rcpts FROM "
                               "quarantine_records WHERE id = %s FOR UPDATE",
                               (record_id,)).fetchone()
            if row is None:
                return Problem("not_found", f"no quarantined message with id {record_id}")
            host, queue_id, meta, state, rcpts = row
            if state == "releasing":
                return Problem("busy", f"{record_id} is being released right now; try again "
                                       "when that has finished")
            conn.execute("DELETE FROM quarantine_records WHERE id = %s", (record_id,))
            self._tombstone(conn, [record_id])
            if host != self.host:
                self._remove_hold_copy(conn, record_id, host, queue_id,
                                       _envelope(meta, rcpts), f"deleted on {self.host}")
        return None

    def _tombstone(self, conn: Any, ids: builtins.list[str]) -> None:
        conn.execute("INSERT INTO quarantine_tombstones (id, time) SELECT unnest(%s::text[]), "
                     "%s ON CONFLICT (id) DO NOTHING", (ids, self._now()))

    def _remove_hold_copy(self, conn: Any, record_id: str, host: str, queue_id: str,
                          envelope: str, reason: str) -> None:
        conn.execute(
            "INSERT INTO quarantine_hold_removals (host, record_id, queue_id, envelope, reason,"
            " time) VALUES (%s, %s, %s, %s, %s, %s)",
            (host, record_id, queue_id, envelope, reason, self._now()))
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, host))

    @contextlib.contextmanager
    def releasing(self, record: Record, event: ReleaseEvent, again: bool = False,
                  requested: bool = False) -> Iterator[None]:
        """Release ``record`` exactly once across hosts; the body is the MTA action.

        The claim (state ``releasing``) is committed before the body runs; a second release
        waits for the row lock and then raises AlreadyReleased. A release asked for on
        another host and not yet carried out does not stop one here: doing it fulfils the
        request. When the body fails the state goes back (a requested release goes back to
        ``held``, with the failure recorded for the admin who asked). The outcome is
        recorded on a fresh connection, retried while the database restarts: the message is
        on its way by then. A release from the stored copy to the original recipients on a
        host that does not hold the message asks the holding host to remove its copy.
        """
        if requested:
            allowed = {"release_requested"}
        elif again:
            allowed = {"held", "released", "releasing", "release_requested"}
        else:
            allowed = {"held", "release_requested"}
        with self._conn() as conn, conn.transaction():
            state, _request, host, queue_id, meta, rcpts = self._move(
                conn, record.id, allowed, "releasing", event)
        try:
            yield
        except BaseException as exc:
            back = "held" if requested or state == "release_requested" else state
            failure = ReleaseEvent("release_failed", self._now(), event.actor,
                                   first_line(exc)[:500], event.recipients)

            def undo(conn: Any) -> None:
                conn.execute("UPDATE quarantine_records SET state = %s, state_time = %s, "
                             "request = '' WHERE id = %s AND state = 'releasing'",
                             (back, self._now(), record.id))
                if requested or state == "release_requested":
                    self._event(conn, record.id, failure)

            self._finish(record.id, undo, "the release failed; putting the record back")
            raise
        original = set(event.recipients) == set(record.rcpts)

        def done(conn: Any) -> None:
            self._event(conn, record.id, event)
            conn.execute("UPDATE quarantine_records SET state = 'released', "
                         "state_time = %s, request = '' WHERE id = %s",
                         (self._now(), record.id))
            if host != self.host and state in ("held", "release_requested") and original:
                self._remove_hold_copy(conn, record.id, host, queue_id,
                                       _envelope(meta, rcpts),
                                       f"released from the stored copy on {self.host}")

        self._finish(record.id, done, "the message was delivered")

    def _move(self, conn: Any, record_id: str, allowed: set[str], to: str,
              event: ReleaseEvent) -> tuple[Any, ...]:
        """Under the record's row lock (inside the caller's transaction): from a state in
        ``allowed`` to ``to``, the release ``event`` (who, from this host, to whom) noted
        as the request. Returns the row as it was: state, request, host, queue id, meta,
        recipients. AlreadyReleased when the record is gone or in another state."""
        row = conn.execute(
            "SELECT state, request, host, queue_id, meta, rcpts FROM quarantine_records "
            "WHERE id = %s FOR UPDATE", (record_id,)).fetchone()
        if row is None:
            raise AlreadyReleased(f"{record_id} is no longer in the quarantine store "
                                  "(deleted or purged meanwhile)")
        if row[0] not in allowed:
            raise AlreadyReleased(self._taken(conn, record_id, row[0], row[1]))
        request = Request(event.actor, self.host, event.time, event.recipients)
        conn.execute("UPDATE quarantine_records SET state = %s, state_time = %s, "
                     "request = %s WHERE id = %s",
                     (to, self._now(), request.to_text(), record_id))
        return tuple(row)

    def _finish(self, record_id: str, step: Any, what: str) -> None:
        """Run ``step(conn)`` in one transaction on a fresh connection, retried for up to
        about a minute (a database restart); then StoreError saying ``what`` happened."""
        deadline = time.monotonic() + 60.0
        delay = 0.5
        while True:
            try:
                with self._conn() as conn, conn.transaction():
                    step(conn)
                return
            except StoreError as exc:
                if time.monotonic() + delay > deadline:
                    raise StoreError("database", f"{record_id}: {what}, but the shared store "
                                                 f"could not record it ({exc}); the record "
                                                 "shows 'releasing' until it can") from None
                log.warning("%s: %s; recording it failed (%s), trying again", record_id,
                            what, exc)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)

    def _event(self, conn: Any, record_id: str, event: ReleaseEvent) -> None:
        conn.execute(
            "INSERT INTO quarantine_events (record_id, time, action, actor, method, host, "
            "recipients) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (record_id, event.time, column(event.action), column(event.actor),
             column(event.method), self.host, json.dumps(list(event.recipients))))

    def _taken(self, conn: Any, record_id: str, state: str, request_text: str) -> str:
        request = Request.from_text(request_text)
        who = (f"{request.actor} on {request.host} at {_stamp(request.time)}" if request
               else "someone")
        if state == "release_requested":
            return (f"{record_id}: a release was already requested by {who}; the host "
                    "holding the message carries it out (or release it with --reinject)")
        if state == "releasing":
            return (f"{record_id} is being released by {who}; if that did not finish (see "
                    "that host's Postfix log), use --again to deliver anyway")
        row = conn.execute(
            "SELECT actor, host, time FROM quarantine_events WHERE record_id = %s AND "
            "action = 'release' ORDER BY time DESC, seq DESC LIMIT 1", (record_id,)).fetchone()
        if row is not None:
            who = f"{row[0]} on {row[1]} at {_stamp(row[2])}"
        return f"{record_id} was already released by {who}; use --again to deliver another copy"

    def request_release(self, record: Record, event: ReleaseEvent, again: bool = False) -> int:
        """Ask the host holding ``record`` to release it (its agent does); AlreadyReleased
        when a release was asked for or done already. Returns the position in the event
        log from which to look for the outcome (a sequence, not a clock: the hosts' clocks
        may differ)."""
        allowed = {"held", "released"} if again else {"held"}
        with self._conn() as conn, conn.transaction():
            host = self._move(conn, record.id, allowed, "release_requested", event)[2]
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM quarantine_events "
                               "WHERE record_id = %s", (record.id,)).fetchone()[0]
            conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, host))
        return int(seq)

    def release_outcome(self, record_id: str,
                        after: int) -> tuple[str, ReleaseEvent | None]:
        """The record's state now, and the first release (or failure) recorded after the
        event sequence ``after``."""
        with self._conn() as conn:
            row = conn.execute("SELECT state FROM quarantine_records WHERE id = %s",
                               (record_id,)).fetchone()
            if row is None:
                return "gone", None
            found = conn.execute(
                "SELECT action, time, actor, method, host, recipients FROM quarantine_events "
                "WHERE record_id = %s AND seq > %s AND action IN ('release', "
                "'release_failed') ORDER BY seq LIMIT 1", (record_id, after)).fetchone()
            if found is None:
                return str(row[0]), None
            action, when, actor, method, host, rcpts = found
            return str(row[0]), ReleaseEvent(action, when, f"{actor} on {host}", method,
                                              _recipients(rcpts))

    # --- the agent's side (the host holding the messages) -----------------------------------
    def requested_here(self, limit: int = 100) -> builtins.list[tuple[Record, Request]]:
        """Releases asked for (anywhere) of messages this host holds, oldest first. A
        request whose record cannot be read is failed (recorded for the admin who asked)
        rather than left to block the ones behind it."""
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS}, request FROM quarantine_records WHERE host = %s AND "
                    "state = 'release_requested' ORDER BY state_time LIMIT %s",
                    (self.host, limit)).fetchall()
            out = []
            for row in rows:
                record = self._record(row)
                request = Request.from_text(row[4])
                if record is None or request is None:
                    self.fail_request(str(row[0]), request.actor if request else "",
                                      "the record is damaged: its metadata cannot be read")
                    continue
                out.append((record, request))
            if out or len(rows) < limit:  # a page of damaged ones only: the next page
                return out

    def fail_request(self, record_id: str, actor: str, reason: str) -> None:
        """A requested release this host cannot carry out: back to held, the reason kept."""
        with self._conn() as conn, conn.transaction():
            cur = conn.execute("UPDATE quarantine_records SET state = 'held', state_time = %s, "
                               "request = '' WHERE id = %s AND state = 'release_requested'",
                               (self._now(), record_id))
            if cur.rowcount:
                self._event(conn, record_id, ReleaseEvent("release_failed", self._now(),
                                                          actor, reason[:500]))

    def hold_removals_here(self, limit: int = 100) -> builtins.list[HoldRemoval]:
        """Copies this host must remove, the least tried first (one that keeps failing does
        not starve the others)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, record_id, queue_id, envelope, reason FROM "
                "quarantine_hold_removals WHERE host = %s ORDER BY attempts, seq LIMIT %s",
                (self.host, limit)).fetchall()
        out = []
        for seq, record_id, queue_id, envelope, reason in rows:
            mail_from, rcpts = _from_envelope(envelope)
            out.append(HoldRemoval(int(seq), record_id, queue_id, mail_from, rcpts, reason))
        return out

    def hold_removal_done(self, seq: int) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM quarantine_hold_removals WHERE seq = %s", (seq,))

    def hold_removal_failed(self, seq: int) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE quarantine_hold_removals SET attempts = attempts + 1 "
                         "WHERE seq = %s", (seq,))

    def wait_for_work(self, conn: Any, timeout: float,
                      stop: threading.Event | None = None) -> None:
        """Wait (on a connection that LISTENs) until someone names this host, ``stop`` is
        set, or ``timeout`` passes; in slices of a second, so a stop is seen at once."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if stop is not None and stop.is_set():
                return
            for note in conn.notifies(timeout=min(1.0, left)):
                if note.payload == self.host:
                    return

    # --- digest and retention ---------------------------------------------------------------
    def pending_digest(self, since: float | None, limit: int) -> Page:
        with self._conn() as conn:
            records, total = self._unnotified(conn, since, limit, lock=False)
            return Page(tuple(records), total)

    def _unnotified(self, conn: Any, since: float | None, limit: int,
                    lock: bool) -> tuple[builtins.list[Record], int]:
        where, params = "WHERE notified IS NULL", []
        if since is not None:
            where += " AND time >= %s"
            params.append(since)
        total = conn.execute(f"SELECT count(*) FROM quarantine_records {where}",
                             params).fetchone()[0]
        rows = conn.execute(f"SELECT {_COLUMNS} FROM quarantine_records {where} "
                            f"ORDER BY time, id LIMIT %s{' FOR UPDATE' if lock else ''}",
                            [*params, limit]).fetchall()
        records = [r for r in (self._record(row) for row in rows) if r is not None]
        return self._with_events(conn, records), int(total)

    @contextlib.contextmanager
    def digesting(self, since: float | None, limit: int) -> Iterator[Page]:
        """Records no digest has listed yet, marked as listed only if the body succeeds;
        the rows stay locked meanwhile, so two hosts' digests never list one record twice."""
        with self._conn(extra=150.0) as conn, conn.transaction():  # the body runs sendmail
            records, total = self._unnotified(conn, since, limit, lock=True)
            conn.execute("UPDATE quarantine_records SET notified = %s WHERE id = ANY(%s)",
                         (self._now(), [r.id for r in records]))
            yield Page(tuple(records), total)

    def purge(self, older_than: float, now: float | None = None) -> PurgeResult:
        cutoff = (self._now() if now is None else now) - older_than
        with self._conn() as conn, conn.transaction():
            rows = conn.execute(
                "DELETE FROM quarantine_records WHERE time < %s AND state NOT IN "
                "('releasing', 'release_requested') RETURNING id", (cutoff,)).fetchall()
            removed = tuple(sorted(r[0] for r in rows))
            self._tombstone(conn, list(removed))
            # a tombstone is needed as long as a spooled copy could still be replayed
            conn.execute("DELETE FROM quarantine_tombstones WHERE time < %s", (cutoff,))
        if removed:
            log.info("quarantine store %s: purged %d records older than %s", self.directory,
                     len(removed), _stamp(cutoff))
        return PurgeResult(removed, ())

    def decision_lines(self, since: float) -> Iterator[str]:
        """Every host's decision log lines since ``since``, oldest first (read in pages
        through a server-side cursor: the table may be large)."""
        with self._conn() as conn, conn.transaction(), conn.cursor(name="decisions") as cur:
            cur.itersize = 2000
            cur.execute("SELECT data FROM decisions WHERE time >= to_timestamp(%s) "
                        "ORDER BY time", (since,))
            for (data,) in cur:
                yield str(data)

    def purge_decisions(self, older_than: float, now: float | None = None) -> int:
        cutoff = (self._now() if now is None else now) - older_than
        with self._conn() as conn:
            cur = conn.execute("DELETE FROM decisions WHERE time < to_timestamp(%s)", (cutoff,))
            return int(cur.rowcount)


def _recipients(text: object) -> tuple[str, ...]:
    """An event's recipients (JSON), or none when the stored text is not such a list."""
    try:
        value = json.loads(str(text))
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _envelope(meta: str, rcpts: builtins.list[str]) -> str:
    """Sender and recipients for a hold removal, as ASCII JSON (exact bytes kept as escapes).
    From the metadata; from the searchable column when the metadata is damaged."""
    try:
        data = json.loads(meta)
        pair = {"mail_from": str(data["mail_from"]), "rcpts": [str(r) for r in data["rcpts"]]}
    except (ValueError, KeyError, TypeError):
        pair = {"mail_from": "", "rcpts": [str(r) for r in rcpts or []]}
    return json.dumps(pair, ensure_ascii=True)


def _from_envelope(text: str) -> tuple[str, tuple[str, ...]]:
    try:
        data = json.loads(text)
        return str(data["mail_from"]), tuple(str(r) for r in data["rcpts"])
    except (ValueError, KeyError, TypeError):
        return "", ()


def _bad_id(record_id: str) -> Problem:
    return Problem("not_found", f"{record_id!r} is not a quarantine record id "
                                "(they look like 20240131120000-0123456789)")


def _where(flt: Filter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        clauses.append("r.time >= %s")
        params.append(flt.since)
    if flt.levels:
        clauses.append("r.level = ANY(%s)")
        params.append([column(level) for level in flt.levels])
    if flt.org:
        clauses.append("EXISTS (SELECT 1 FROM unnest(r.orgs) o WHERE lower(o) = lower(%s))")
        params.append(column(flt.org))
    if flt.from_domain:
        domain = column(flt.from_domain.lower().strip("."))
        clauses.append("(r.sending_domain = %s OR r.sending_domain LIKE %s)")
        params.extend([domain, subdomain_pattern(domain)])
    if flt.rcpt:
        clauses.append("%s = ANY(r.rcpts)")
        params.append(column(flt.rcpt.lower()))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def record_row(record: Record, raw: bytes) -> tuple[Any, ...]:
    """The insert's values for one record (the writer's, and the tests')."""
    return (record.id, record.time, record.host, column(record.queue_id), column(record.level),
            column(record.sending_domain.lower()),
            list(dict.fromkeys(column(r.lower()) for r in record.rcpts)),
            list(dict.fromkeys(column(o) for o in record.orgs)),
            encode_meta(record).decode("ascii"), raw, record.id)


# Idempotent, and a record deleted or purged meanwhile (its tombstone) is not brought back.
INSERT_RECORD = (
    "INSERT INTO quarantine_records (id, time, host, queue_id, level, sending_domain, rcpts, "
    "orgs, meta, message) SELECT %s, %s::double precision, %s, %s, %s, %s, %s::text[], "
    "%s::text[], %s, %s::bytea WHERE NOT EXISTS (SELECT 1 FROM quarantine_tombstones "
    "WHERE id = %s) ON CONFLICT (id) DO NOTHING")
