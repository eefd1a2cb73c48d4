"""The shared store's schema in PostgreSQL: versioned, created and upgraded by
``spoofwatch quarantine migrate``.

Each entry of ``MIGRATIONS`` is applied once, in order, and recorded in
``spoofwatch_schema``. A run takes a transaction-level advisory lock first, so two hosts
migrating at the same moment take turns: the second finds the work done and applies
nothing. Everything of one run is one transaction: a failure leaves the schema as it was.

What is stored, and why there:

* ``quarantine_records``: one row per held message, its metadata, the searchable columns
  and the message itself (``bytea``). Body and record are one row, so one commit makes both
  visible or neither, with no shared file system to mount on every MX host and one backup
  (``pg_dump``) holding everything. ``host`` is the MX host whose Postfix holds the
  message; ``state`` is the release state machine (held -> release_requested -> releasing
  -> released), changed only by conditional updates, so one release wins.
* ``quarantine_events``: who released or deleted what, when, how, from which host.
* ``quarantine_hold_removals``: a copy left in a host's hold queue that must go (its record
  was released from the stored copy, or deleted, on another host); that host's agent
  removes it. ``envelope`` is the sender and recipients as ASCII JSON (an address may hold
  bytes that are not UTF-8, which PostgreSQL's text refuses).
* ``quarantine_tombstones``: ids of deleted and purged records, kept as long as records
  are, so that a spooled copy replayed after its record was deleted (a writer that stopped
  between the insert and removing its file) does not bring it back.
* ``decisions``: the decision log, one row per message from every host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LATEST", "MIGRATIONS", "MigrateResult", "SchemaError", "current_version",
           "migrate", "require_latest"]

# pg_advisory_xact_lock key: "spoofwat" read as a number; any fixed value would do.
_LOCK_KEY = 0x73706F6F66776174 - (1 << 63)

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE quarantine_records (
    id text PRIMARY KEY,
    time double precision NOT NULL,
    host text NOT NULL,
    queue_id text NOT NULL,
    level text NOT NULL,
    sending_domain text NOT NULL,
    rcpts text[] NOT NULL,
    orgs text[] NOT NULL,
    meta text NOT NULL,
    message bytea NOT NULL,
    state text NOT NULL DEFAULT 'held'
        CHECK (state IN ('held', 'release_requested', 'releasing', 'released')),
    state_time double precision NOT NULL DEFAULT 0,
    request text NOT NULL DEFAULT '',
    notified double precision
);
CREATE INDEX quarantine_records_time ON quarantine_records (time);
CREATE INDEX quarantine_records_domain ON quarantine_records (sending_domain);
CREATE INDEX quarantine_records_level ON quarantine_records (level);
CREATE INDEX quarantine_records_orgs ON quarantine_records USING gin (orgs);
CREATE INDEX quarantine_records_rcpts ON quarantine_records USING gin (rcpts);
CREATE INDEX quarantine_records_requests ON quarantine_records (host)
    WHERE state = 'release_requested';
CREATE TABLE quarantine_events (
    seq bigserial PRIMARY KEY,
    record_id text NOT NULL REFERENCES quarantine_records (id) ON DELETE CASCADE,
    time double precision NOT NULL,
    action text NOT NULL,
    actor text NOT NULL,
    method text NOT NULL,
    host text NOT NULL,
    recipients text NOT NULL
);
CREATE INDEX quarantine_events_record ON quarantine_events (record_id);
CREATE TABLE quarantine_hold_removals (
    seq bigserial PRIMARY KEY,
    host text NOT NULL,
    record_id text NOT NULL,
    queue_id text NOT NULL,
    envelope text NOT NULL,
    reason text NOT NULL,
    time double precision NOT NULL,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX quarantine_hold_removals_host ON quarantine_hold_removals (host, attempts, seq);
CREATE TABLE quarantine_tombstones (
    id text PRIMARY KEY,
    time double precision NOT NULL
);
CREATE TABLE decisions (
    id uuid PRIMARY KEY,
    time timestamptz NOT NULL,
    host text NOT NULL,
    queue_id text NOT NULL,
    level text NOT NULL,
    outcome text NOT NULL,
    from_domain text NOT NULL,
    orgs text[] NOT NULL,
    data text NOT NULL
);
CREATE INDEX decisions_time ON decisions (time);
CREATE INDEX decisions_level_time ON decisions (level, time);
CREATE INDEX decisions_from_domain_time ON decisions (from_domain, time);
CREATE INDEX decisions_orgs ON decisions USING gin (orgs);
"""),
)
LATEST = MIGRATIONS[-1][0]


class SchemaError(Exception):
    """The database has no schema, an older one or a newer one; the message says what to do."""


@dataclass(frozen=True)
class MigrateResult:
    before: int  # the version found (0 = no schema)
    after: int
    applied: tuple[int, ...]


def current_version(conn: Any) -> int:
    """The schema version of the database ``conn`` is connected to (0 = none)."""
    row = conn.execute("SELECT to_regclass('spoofwatch_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM spoofwatch_schema").fetchone()
    return int(row[0])


def migrate(conn: Any, applied_by: str) -> MigrateResult:
    """Bring the schema to ``LATEST`` in one transaction; safe to run from two hosts at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS spoofwatch_schema ("
                     "version integer PRIMARY KEY, applied_at timestamptz NOT NULL "
                     "DEFAULT now(), applied_by text NOT NULL)")
        before = current_version(conn)
        if before > LATEST:
            raise SchemaError(f"the database has schema version {before}, newer than this "
                              f"spoofwatch knows ({LATEST}): upgrade spoofwatch on this host")
        applied = []
        for version, sql in MIGRATIONS:
            if version <= before:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO spoofwatch_schema (version, applied_by) VALUES (%s, %s)",
                         (version, applied_by))
            applied.append(version)
    return MigrateResult(before, max(before, LATEST), tuple(applied))


def require_latest(conn: Any) -> None:
    """Raise SchemaError (with the fix) unless the schema is the one this version uses."""
    version = current_version(conn)
    if version == LATEST:
        return
    if version == 0:
        raise SchemaError("the database has no spoofwatch schema yet: run "
                          "`spoofwatch quarantine migrate` once (from any host)")
    if version < LATEST:
        raise SchemaError(f"the database has schema version {version}, this spoofwatch needs "
                          f"{LATEST}: run `spoofwatch quarantine migrate`")
    raise SchemaError(f"the database has schema version {version}, newer than this "
                      f"spoofwatch knows ({LATEST}): upgrade spoofwatch on this host")
