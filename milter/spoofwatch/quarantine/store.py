"""spoofwatch's own quarantine store: every held message with the reasons it was held.

The directory layout and whose it must be are :mod:`.store_layout`'s, the record files
on disk :mod:`.record_files`', the searchable index :mod:`.index`'s, and the daily
retention run :mod:`.retention`'s. This module keeps the two sides, files and index, in
step.

Why no partial record can be seen, whenever the writer dies:

1. the record is written to ``tmp/``, fsynced, then renamed into ``msg/`` (rename is
   atomic: ``msg/`` holds complete files only), and ``msg/`` is fsynced;
2. only then the index row is added.

A crash between 1 and 2 leaves a complete file without a row, and so does a failure of 2
(the index locked, damaged or refusing a value): the file the store accepted in 1 is never
removed for it. A crash during 1 leaves a
temporary file that is never listed. Deleting goes the other way round (file first, then
row), so a crash in between leaves a row without a file. Every listing first reconciles
the two: files without rows are indexed (they are complete), rows without files are dropped
(their deletion was interrupted), stale temporary files of dead writers are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..report import Report
from .index import Filter, IndexUnusable, SqliteIndex, Stats
from .record import (
    Record,
    ReleaseEvent,
    encode_record,
    is_record_id,
    new_record_id,
    record_from_report,
)
from .record_files import (
    Damaged,
    Problem,
    StoreError,
    clean_stale_tmp,
    describe_error,
    fsync_dir,
    move_aside,
    read_record_file,
    shown_queue_id,
    write_record_file,
)
from .store_layout import StoreLayout, directory_problem

__all__ = [
    "Filter",
    "Page",
    "Problem",
    "PurgeResult",
    "QuarantineStore",
    "Stats",
    "StoreError",
    "directory_problem",
    "open_service_store",
]

log = logging.getLogger("spoofwatch.quarantine")


@dataclass(frozen=True)
class Page:
    records: tuple[Record, ...]
    total: int  # matching records, all pages together
    damaged: tuple[str, ...] = ()  # ids on this page whose record cannot be read


@dataclass(frozen=True)
class PurgeResult:
    removed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reconciled:
    indexed: tuple[str, ...] = ()  # complete files whose row was missing
    dropped: tuple[str, ...] = ()  # rows whose file was gone
    damaged: tuple[str, ...] = ()  # files moved to damaged/
    temp_removed: int = 0


class QuarantineStore:
    """Quarantined messages and their records under one directory.

    ``save`` never raises (the MTA holds the message whatever happens here); the other
    methods raise ``StoreError`` when the store as a whole is unusable and return a
    ``Problem`` when one record is missing or damaged.
    """

    def __init__(self, directory: str | Path, *, clock: object = time.time,
                 service: bool = False) -> None:
        # service: the milter service (True) or an admin's command (see StoreLayout).
        self.layout = StoreLayout(Path(directory), service)
        self.directory = self.layout.directory
        self.service = service
        self.msg_dir = self.layout.msg_dir
        self.tmp_dir = self.layout.tmp_dir
        self.damaged_dir = self.layout.damaged_dir
        self.index = SqliteIndex(self.layout.index_path)
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    # --- setup ------------------------------------------------------------------------------
    def prepare(self, create: bool = True) -> None:
        """Check (and with ``create`` make) the directory layout; raises StoreError."""
        self.layout.prepare(self.index, create)

    def check_at_start(self) -> str | None:
        """For the service at start (and reload): make the store, log once what is wrong.

        Returns the problem (also logged) or None. A store the service cannot use does not
        stop it: the MTA still holds quarantined mail, only our copy and its reasons are
        missing until the admin runs the command the message names.
        """
        try:
            self.prepare()
        except StoreError as exc:
            log.error("quarantine store %s cannot be used: %s; quarantined messages stay in "
                      "Postfix's hold queue but are not saved here until this is fixed",
                      self.directory, exc)
            return str(exc)
        found = self.layout.access_problem()
        if found is not None:
            log.warning("%s", found[0])
            return found[0]
        return None

    def path_of(self, record_id: str) -> Path:
        return self.msg_dir / f"{record_id}.rec"

    # --- save -------------------------------------------------------------------------------
    def save(self, raw: bytes, report: Report, queue_id: str) -> str | None:
        """Store a held message with its analysis; the record id, or None (logged) on failure."""
        try:
            self.prepare()
            now = self._now()
            record_id = new_record_id(now)
            record = record_from_report(record_id, now, raw, report, queue_id)
            write_record_file(self.tmp_dir / f"{record_id}.{os.getpid()}.tmp",
                              self.path_of(record_id), encode_record(record), raw,
                              self.layout.match_owner)
        except Exception as exc:  # noqa: BLE001 - save must never fail the message
            self._log_save_failure(queue_id, exc)
            return None
        # From here on the record file is in msg/: the store has accepted it, and nothing
        # below may remove it. The index row comes second on purpose: the file is the truth
        # and a file without a row is indexed by the next listing (reconcile), whereas a row
        # written first would describe a file that may never arrive.
        self._after_rename(record, queue_id)
        log.info("quarantine store %s: saved queue id %s as %s (%d bytes)", self.directory,
                 shown_queue_id(queue_id), record_id, len(raw))
        return record_id

    def _after_rename(self, record: Record, queue_id: str) -> None:
        try:
            fsync_dir(self.msg_dir)
        except OSError as exc:
            log.warning("quarantine store %s: could not sync %s after saving %s: %s",
                        self.directory, self.msg_dir, record.id, describe_error(exc))
        try:
            self.index.add(record)
        except Exception as exc:  # noqa: BLE001 - the record is saved; the index catches up
            log.warning("quarantine store %s: saved queue id %s as %s but could not index it "
                        "(%s); the next `spoofwatch quarantine list` indexes it",
                        self.directory, shown_queue_id(queue_id), record.id,
                        describe_error(exc))

    def _log_save_failure(self, queue_id: str, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, StoreError) else describe_error(exc)
        if isinstance(exc, PermissionError):
            with contextlib.suppress(OSError):
                reason += self.layout.owner_hint()
        # One line per failing save: the reason and the fix, never a traceback.
        log.error("quarantine store %s: could not save queue id %s: %s; Postfix still "
                  "holds the message", self.directory, shown_queue_id(queue_id), reason)

    # --- reading ----------------------------------------------------------------------------
    def _open(self) -> None:
        self.prepare(create=False)

    def _index_call(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except IndexUnusable as exc:
            raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None

    def reconcile(self) -> Reconciled:
        """Make the index agree with the record files (see the module docstring)."""
        self._open()
        indexed_ids = self._index_call(self.index.ids)  # before listing files: see docstring
        try:
            files = {p.name[:-4] for p in self.msg_dir.iterdir()
                     if p.name.endswith(".rec") and is_record_id(p.name[:-4])}
        except OSError as exc:
            raise StoreError("io", f"cannot list {self.msg_dir}: {exc.strerror}") from None
        indexed, dropped, damaged = [], [], []
        for record_id in sorted(files - indexed_ids):
            loaded = self._load_file(record_id, verify=True)
            if isinstance(loaded, Problem):
                if loaded.kind == "damaged":
                    damaged.append(record_id)
                continue
            if not self._repair(self.index.add, loaded[0]):
                continue
            indexed.append(record_id)
            log.warning("quarantine store %s: indexed record %s whose index row was missing "
                        "(an interrupted save)", self.directory, record_id)
        for record_id in sorted(indexed_ids - files):
            if self.path_of(record_id).exists():  # saved while we were looking
                continue
            if not self._repair(self.index.remove, record_id):
                continue
            dropped.append(record_id)
            log.warning("quarantine store %s: dropped index row %s whose message file is gone "
                        "(an interrupted delete)", self.directory, record_id)
        return Reconciled(tuple(indexed), tuple(dropped), tuple(damaged),
                          clean_stale_tmp(self.tmp_dir))

    def _repair(self, fn, arg) -> bool:  # type: ignore[no-untyped-def]
        """One reconciling write; on a full disk reading goes on without it."""
        try:
            self._index_call(fn, arg)
        except StoreError as exc:
            if exc.kind != "disk_full":
                raise
            log.warning("quarantine store %s: index not repaired: %s", self.directory, exc)
            return False
        return True

    def _load_file(self, record_id: str, verify: bool) -> tuple[Record, bytes] | Problem:
        path = self.path_of(record_id)
        try:
            loaded = read_record_file(path, record_id, verify)
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise StoreError("permissions", self.layout.unreadable(path)) from None
            raise StoreError("io", f"cannot read {path}: {exc.strerror}") from None
        if isinstance(loaded, Damaged):
            return self._damaged(record_id, loaded.reason)
        return loaded

    def _damaged(self, record_id: str, reason: str) -> Problem:
        """Move a damaged file aside (kept for inspection, no longer listed)."""
        if not self.damaged_dir.is_dir():
            self.damaged_dir.mkdir(mode=0o700, exist_ok=True)
            self.layout.match_owner(self.damaged_dir)
        moved = move_aside(self.path_of(record_id), self.damaged_dir)
        with contextlib.suppress(IndexUnusable):
            self.index.remove(record_id)
        log.error("quarantine store %s: record %s is damaged: %s%s", self.directory, record_id,
                  reason, moved)
        return Problem("damaged", f"record {record_id} is damaged: {reason}{moved}")

    def get(self, record_id: str) -> Record | Problem:
        """A record's metadata (with its events); the message file must exist."""
        loaded = self.read(record_id, verify=False)
        return loaded if isinstance(loaded, Problem) else loaded[0]

    def read(self, record_id: str, verify: bool = True) -> tuple[Record, bytes] | Problem:
        """A record and its message bytes, checked against the stored size and digest."""
        if not is_record_id(record_id):
            return Problem("not_found", f"{record_id!r} is not a quarantine record id "
                                        "(they look like 20240131120000-0123456789)")
        self._open()
        loaded = self._load_file(record_id, verify)
        if isinstance(loaded, Problem):
            if loaded.kind == "not_found":
                self._drop_row(record_id)
            return loaded
        indexed = self._index_call(self.index.get, record_id)
        if indexed is None:  # an interrupted save: the file is complete, index it now
            self._repair(self.index.add, loaded[0])
            return loaded
        return indexed, loaded[1]

    def _drop_row(self, record_id: str) -> None:
        if self._index_call(self.index.get, record_id) is not None:
            self._repair(self.index.remove, record_id)
            log.warning("quarantine store %s: dropped index row %s whose message file is gone",
                        self.directory, record_id)

    def list(self, flt: Filter | None = None) -> Page:
        self.reconcile()
        records, total = self._index_call(self.index.query, flt or Filter())
        # A row whose file vanished and could not be dropped (full disk) is not shown.
        return Page(tuple(r for r in records if self.path_of(r.id).exists()), total)

    def stats(self, since: float | None = None) -> Stats:
        self.reconcile()
        result: Stats = self._index_call(self.index.stats, since)
        return result

    # --- changes ----------------------------------------------------------------------------
    def delete(self, record_id: str) -> Problem | None:
        """Remove a record: the file first, then the row (see the module docstring).

        Both happen inside one index transaction that has already written its journal, so
        a disk too full for the index fails the delete before the file is touched.
        """
        if not is_record_id(record_id):
            return Problem("not_found", f"{record_id!r} is not a quarantine record id")
        self._open()
        path = self.path_of(record_id)
        existed = {"file": True}

        def unlink() -> None:
            try:
                path.unlink()
            except FileNotFoundError:
                existed["file"] = False
                return
            with contextlib.suppress(OSError):
                fsync_dir(self.msg_dir)

        try:
            had_row = self._index_call(self.index.remove, record_id, unlink)
        except OSError as exc:
            raise StoreError("io", f"cannot delete {path}: {exc.strerror}") from None
        if not had_row and not existed["file"]:
            return Problem("not_found", f"no quarantined message with id {record_id}")
        return None

    def writable_check(self) -> None:
        """Raise StoreError unless the index can take a write now (e.g. the disk is full).

        Called before anything irreversible happens elsewhere (Postfix deleting its copy),
        so that a store that cannot record the change stops the command first.
        """
        self._open()
        self._index_call(self.index.probe_write)

    @contextlib.contextmanager
    def recording(self, record_id: str, event: ReleaseEvent,
                  first_release: bool = False) -> Iterator[None]:
        """Record ``event`` for a record; committed only if the body succeeds. With
        ``first_release`` the body runs only if no release was recorded before it
        (AlreadyReleased; see ``SqliteIndex.event``)."""
        self._open()
        try:
            with self.index.event(record_id, event, first_release):
                yield
        except IndexUnusable as exc:
            raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None

    def releasing(self, record: Record, event: ReleaseEvent, again: bool = False,
                  requested: bool = False) -> contextlib.AbstractContextManager[None]:
        """Release ``record`` once: the body (the MTA action) runs only if no other release
        got there first (AlreadyReleased), and the release is recorded only if it succeeds.

        ``requested`` is the shared store's (a release asked for on another host); here
        every release is this host's own.
        """
        return self.recording(record.id, event, first_release=not again)

    def pending_digest(self, since: float | None, limit: int) -> Page:
        """Records no digest has listed yet (oldest first): a preview, nothing is marked."""
        self.reconcile()
        records, total = self._index_call(self.index.unnotified, since, limit)
        return Page(tuple(r for r in records if self.path_of(r.id).exists()), total)

    @contextlib.contextmanager
    def digesting(self, since: float | None, limit: int) -> Iterator[Page]:
        """Records no digest has listed yet, marked as listed only if the body succeeds."""
        self.reconcile()
        try:
            with self.index.notifying(since, limit, self._now()) as (records, total):
                yield Page(tuple(r for r in records if self.path_of(r.id).exists()), total)
        except IndexUnusable as exc:
            raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None

    def purge(self, older_than: float, now: float | None = None) -> PurgeResult:
        """Delete records quarantined more than ``older_than`` seconds before ``now``."""
        self.reconcile()
        cutoff = (self._now() if now is None else now) - older_than
        removed, failed = [], []
        for record_id in self._index_call(self.index.older_than, cutoff):
            try:
                problem = self.delete(record_id)
            except StoreError as exc:
                log.error("quarantine store %s: purge could not delete %s: %s",
                          self.directory, record_id, exc)
                failed.append(record_id)
                continue
            if problem is None:
                removed.append(record_id)
        if removed:
            log.info("quarantine store %s: purged %d records older than %s", self.directory,
                     len(removed), time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cutoff)))
        return PurgeResult(tuple(removed), tuple(failed))


def open_service_store(directory: str) -> QuarantineStore:
    """The service's store, checked (and its problems logged) once at start."""
    store = QuarantineStore(directory, service=True)
    store.check_at_start()
    return store
