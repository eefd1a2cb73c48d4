"""spoofwatch's own quarantine store: every held message with the reasons it was held.

Layout under the directory (mode 0700, every file 0600)::

    msg/<id>.rec        one complete record: format line, metadata JSON, message bytes
    tmp/<id>.<pid>.tmp  a record being written
    damaged/            record files that failed their integrity check (kept, not shown)
    index.sqlite        the searchable index (see index.py)
    release.key         HMAC key for release headers (see release.py)

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
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..report import Report
from ..textsafe import ascii_safe
from .index import Filter, IndexUnusable, SqliteIndex, Stats
from .ownership import (
    access_problem,
    directory_access_problem,
    fix_command,
    give_to_owner,
    needed_owner,
    owner_of,
)
from .record import (
    Record,
    RecordFormatError,
    ReleaseEvent,
    check_message,
    encode_record,
    is_record_id,
    new_record_id,
    read_header,
    record_from_report,
)

__all__ = [
    "Filter",
    "Page",
    "Problem",
    "PurgeResult",
    "QuarantineStore",
    "Stats",
    "StoreError",
    "open_service_store",
    "purge_expired",
    "start_retention",
]

log = logging.getLogger("spoofwatch.quarantine")

_STALE_TMP_SECONDS = 24 * 3600  # a temporary file this old belongs to nobody


class StoreError(Exception):
    """The store as a whole cannot be used; ``kind`` says why, the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "permissions", "disk_full", "index", "io"


@dataclass(frozen=True)
class Problem:
    """Why one record cannot be returned."""

    kind: str  # "not_found" or "damaged"
    message: str


@dataclass(frozen=True)
class Page:
    records: tuple[Record, ...]
    total: int  # matching records, all pages together


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


def directory_problem(path: Path, service: bool = False) -> str | None:
    """Why ``path`` must not hold quarantined mail, or None when it is fine."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"quarantine directory {path} does not exist"
    except OSError as exc:
        return f"cannot examine quarantine directory {path}: {exc.strerror}"
    if not path.is_dir():
        return f"quarantine path {path} is not a directory"
    mode = st.st_mode & 0o777
    if mode & 0o007:
        # Held mail is evidence and may be personal data: other users must not read it.
        return (f"quarantine directory {path} has mode {mode:04o}, open to every user; "
                f"run: chmod 0700 {path}")
    if mode & 0o020:
        return (f"quarantine directory {path} is group-writable (mode {mode:04o}); "
                f"run: chmod g-w {path}")
    return directory_access_problem(path, st, service)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class QuarantineStore:
    """Quarantined messages and their records under one directory.

    ``save`` never raises (the MTA holds the message whatever happens here); the other
    methods raise ``StoreError`` when the store as a whole is unusable and return a
    ``Problem`` when one record is missing or damaged.
    """

    def __init__(self, directory: str | Path, *, clock: object = time.time,
                 service: bool = False) -> None:
        self.directory = Path(directory)
        # The milter service (True) or an admin's command: decides whose the store must be
        # when this process cannot use it, and whether root may go on with a store that
        # holds files of another user (the service may: it saves and hands its new files
        # to the store's owner; a command must not report a store the service cannot use).
        self.service = service
        self.msg_dir = self.directory / "msg"
        self.tmp_dir = self.directory / "tmp"
        self.damaged_dir = self.directory / "damaged"
        self.index = SqliteIndex(self.directory / "index.sqlite")
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    # --- setup ------------------------------------------------------------------------------
    def prepare(self, create: bool = True) -> None:
        """Check (and with ``create`` make) the directory layout; raises StoreError."""
        if create and not self.directory.exists():
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError("io", f"cannot create quarantine directory {self.directory}: "
                                       f"{exc.strerror}") from None
            give_to_owner(self.directory, self.directory.parent)
        problem = directory_problem(self.directory, self.service)
        if problem:
            raise StoreError("permissions", problem)
        found = access_problem(self.directory, self._entries(), self.service)
        if found is not None and found[1]:
            raise StoreError("permissions", found[0])
        for sub in (self.msg_dir, self.tmp_dir, self.damaged_dir):
            if sub.is_dir():
                continue
            try:
                sub.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                kind = "disk_full" if exc.errno == errno.ENOSPC else "io"
                raise StoreError(kind, f"cannot create {sub}: {exc.strerror}") from None
            self._match_owner(sub)
        if not self.index.path.exists():
            try:
                with self.index._connect():
                    pass
            except IndexUnusable as exc:
                raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None
            with contextlib.suppress(OSError):
                os.chmod(self.index.path, 0o600)
            self._match_owner(self.index.path)

    def _entries(self) -> tuple[tuple[Path, int], ...]:
        """The store's own files and the access each needs (see ownership.access_problem)."""
        rwx = os.R_OK | os.W_OK | os.X_OK
        return ((self.msg_dir, rwx), (self.tmp_dir, rwx), (self.damaged_dir, rwx),
                (self.index.path, os.R_OK | os.W_OK), (self.directory / "release.key", os.R_OK))

    def _match_owner(self, path: Path) -> None:
        """What root (an admin's command) creates must stay usable by the service user."""
        give_to_owner(path, self.directory)

    def _match_owner_fd(self, fd: int) -> None:
        give_to_owner(fd, self.directory)

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
        found = access_problem(self.directory, self._entries(), self.service)
        if found is not None:
            log.warning("%s", found[0])
            return found[0]
        return None

    def path_of(self, record_id: str) -> Path:
        return self.msg_dir / f"{record_id}.rec"

    # --- save -------------------------------------------------------------------------------
    def save(self, raw: bytes, report: Report, queue_id: str) -> str | None:
        """Store a held message with its analysis; the record id, or None (logged) on failure."""
        tmp: Path | None = None
        try:
            self.prepare()
            now = self._now()
            record_id = new_record_id(now)
            record = record_from_report(record_id, now, raw, report, queue_id)
            tmp = self.tmp_dir / f"{record_id}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                self._match_owner_fd(fd)
                _write_all(fd, encode_record(record))
                _write_all(fd, raw)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path_of(record_id))
            tmp = None
        except Exception as exc:  # noqa: BLE001 - save must never fail the message
            self._discard(tmp)
            self._log_save_failure(queue_id, exc)
            return None
        # From here on the record file is in msg/: the store has accepted it, and nothing
        # below may remove it. The index row comes second on purpose: the file is the truth
        # and a file without a row is indexed by the next listing (reconcile), whereas a row
        # written first would describe a file that may never arrive.
        self._after_rename(record, queue_id)
        log.info("quarantine store %s: saved queue id %s as %s (%d bytes)", self.directory,
                 _shown(queue_id), record_id, len(raw))
        return record_id

    def _after_rename(self, record: Record, queue_id: str) -> None:
        try:
            _fsync_dir(self.msg_dir)
        except OSError as exc:
            log.warning("quarantine store %s: could not sync %s after saving %s: %s",
                        self.directory, self.msg_dir, record.id, _describe(exc))
        try:
            self.index.add(record)
        except Exception as exc:  # noqa: BLE001 - the record is saved; the index catches up
            log.warning("quarantine store %s: saved queue id %s as %s but could not index it "
                        "(%s); the next `spoofwatch quarantine list` indexes it",
                        self.directory, _shown(queue_id), record.id, _describe(exc))

    def _log_save_failure(self, queue_id: str, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, StoreError) else _describe(exc)
        if isinstance(exc, PermissionError):
            with contextlib.suppress(OSError):
                needed = needed_owner(owner_of(self.directory), self.service)
                reason += (f"; the store must belong to the user the service runs as "
                           f"({needed.user}): {fix_command(self.directory, needed)}")
        # One line per failing save: the reason and the fix, never a traceback.
        log.error("quarantine store %s: could not save queue id %s: %s; Postfix still "
                  "holds the message", self.directory, _shown(queue_id), reason)

    @staticmethod
    def _discard(*paths: Path | None) -> None:
        for path in paths:
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()

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
        return Reconciled(tuple(indexed), tuple(dropped), tuple(damaged), self._clean_tmp())

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

    def _clean_tmp(self) -> int:
        removed = 0
        now = time.time()
        try:
            entries = list(self.tmp_dir.iterdir())
        except OSError:
            return 0
        for path in entries:
            parts = path.name.split(".")
            try:
                pid = int(parts[1]) if len(parts) == 3 else -1
                age = now - path.stat().st_mtime
            except (ValueError, OSError):
                continue
            if (pid > 0 and not _pid_alive(pid)) or age > _STALE_TMP_SECONDS:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed

    def _load_file(self, record_id: str, verify: bool) -> tuple[Record, bytes] | Problem:
        path = self.path_of(record_id)
        try:
            with open(path, "rb") as f:
                record, _ = read_header(f)
                raw = f.read() if verify else b""
        except FileNotFoundError:
            return Problem("not_found", f"no quarantined message with id {record_id}")
        except RecordFormatError as exc:
            return self._damaged(record_id, str(exc))
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise StoreError("permissions", self._unreadable(path)) from None
            raise StoreError("io", f"cannot read {path}: {exc.strerror}") from None
        if record.id != record_id:
            return self._damaged(record_id, f"the file holds record {record.id}")
        if verify:
            try:
                check_message(record, raw)
            except RecordFormatError as exc:
                return self._damaged(record_id, str(exc))
        return record, raw

    def _unreadable(self, path: Path) -> str:
        """A record another user owns (saved by root before it handed files over)."""
        try:
            owner = owner_of(path).user
            needed = needed_owner(owner_of(self.directory), self.service)
        except OSError:
            return f"cannot read {path}: permission denied"
        return (f"cannot read {path} (owned by {owner}): everything in quarantine store "
                f"{self.directory} must belong to {needed.user}; fix it as root: "
                f"{fix_command(self.directory, needed)}")

    def _damaged(self, record_id: str, reason: str) -> Problem:
        """Move a damaged file aside (kept for inspection, no longer listed)."""
        if not self.damaged_dir.is_dir():
            self.damaged_dir.mkdir(mode=0o700, exist_ok=True)
            self._match_owner(self.damaged_dir)
        source = self.path_of(record_id)
        target = self.damaged_dir / source.name
        moved = ""
        try:
            os.rename(source, target)
            moved = f"; the file was moved to {target}"
        except OSError:
            pass
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
                _fsync_dir(self.msg_dir)

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
    def recording(self, record_id: str, event: ReleaseEvent) -> Iterator[None]:
        """Record ``event`` for a record; committed only if the body succeeds."""
        self._open()
        try:
            with self.index.event(record_id, event):
                yield
        except IndexUnusable as exc:
            raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None

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


def _shown(queue_id: str) -> str:
    """A queue id for the log: raw bytes and controls escaped."""
    return ascii_safe(queue_id, 64) if queue_id else "?"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on device (the disk is full)"
    if isinstance(exc, IndexUnusable) and exc.disk_full:
        return "no space left for the index (the disk is full)"
    if isinstance(exc, OSError) and exc.strerror:
        name = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{name}"
    return str(exc) or type(exc).__name__


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
