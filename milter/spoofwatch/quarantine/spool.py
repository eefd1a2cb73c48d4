"""This host's spool for the shared store: what waits for the database.

Layout under ``quarantine.directory/spool`` (mode 0700, files 0600)::

    msg/<id>.rec                a held message's record, complete (the SQLite store's format)
    tmp/<id>.<pid>.tmp          a record being written
    damaged/                    spooled records that failed their check (kept, not sent)
    decisions/<pid>-<n>.jsonl   decision log rows the database did not take in time

A record is written whole (temporary file, fsync, rename) before the milter answers, so it
survives the process, the database and a reboot; the writer removes it only after the
database has committed it. Several worker processes share the spool: whoever sends a file
holds an exclusive ``flock`` on it, and the insert is idempotent anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..report import Report
from .record import Record, encode_record, is_record_id, new_record_id, record_from_report
from .record_files import (
    Damaged,
    Problem,
    clean_stale_tmp,
    describe_error,
    fsync_dir,
    move_aside,
    read_record_file,
    shown_queue_id,
    write_record_file,
)

__all__ = ["Spool"]

log = logging.getLogger("spoofwatch.quarantine")


def _no_owner_change(_fd: int) -> None:
    """The spool is the service's own: its files keep the service's user."""


class Spool:
    def __init__(self, base: Path, host: str) -> None:
        self.base = base
        self.directory = base / "spool"
        self.host = host
        self.msg_dir = self.directory / "msg"
        self.tmp_dir = self.directory / "tmp"
        self.damaged_dir = self.directory / "damaged"
        self.decisions_dir = self.directory / "decisions"

    def prepare(self) -> str | None:
        """Make the directories; the problem in words, or None."""
        try:
            for path in (self.base, self.directory, self.msg_dir, self.tmp_dir,
                         self.damaged_dir, self.decisions_dir):
                path.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            return describe_error(exc)
        return None

    # --- records ----------------------------------------------------------------------------
    def save(self, raw: bytes, report: Report, queue_id: str, now: float) -> str | None:
        """Spool a held message; its record id, or None (logged) when the spool failed."""
        try:
            problem = self.prepare()
            if problem:
                raise OSError(problem)
            record_id = new_record_id(now)
            record = replace(record_from_report(record_id, now, raw, report, queue_id),
                             host=self.host)
            write_record_file(self.tmp_dir / f"{record_id}.{os.getpid()}.tmp",
                              self.msg_dir / f"{record_id}.rec", encode_record(record), raw,
                              _no_owner_change)
            fsync_dir(self.msg_dir)
        except Exception as exc:  # noqa: BLE001 - the MTA holds the message whatever happens
            log.error("quarantine spool %s: could not save queue id %s: %s; Postfix still "
                      "holds the message", self.directory, shown_queue_id(queue_id),
                      describe_error(exc))
            return None
        log.info("quarantine spool %s: saved queue id %s as %s (%d bytes) for the shared "
                 "store", self.directory, shown_queue_id(queue_id), record_id, len(raw))
        return record_id

    def waiting(self) -> list[Path]:
        """Spooled records, oldest first."""
        try:
            names = sorted(p.name for p in self.msg_dir.iterdir())
        except OSError:
            return []
        return [self.msg_dir / n for n in names
                if n.endswith(".rec") and is_record_id(n[:-4])]

    @contextlib.contextmanager
    def taking(self, path: Path) -> Iterator[tuple[Record, bytes] | None]:
        """A spooled record, locked against the other writers; None when another has it, it
        is gone, or it is damaged (moved aside, logged). Removed when the body succeeds."""
        with _locked(path) as fd:
            if fd is None:
                yield None
                return
            loaded = read_record_file(path, path.name[:-4], verify=True)
            if isinstance(loaded, Problem):
                yield None
                return
            if isinstance(loaded, Damaged):
                moved = move_aside(path, self.damaged_dir)
                log.error("quarantine spool %s: %s is damaged (%s)%s; not sent to the shared "
                          "store", self.directory, path.name, loaded.reason, moved)
                yield None
                return
            yield loaded
            with contextlib.suppress(FileNotFoundError):  # set aside by the body
                path.unlink()

    def set_aside(self, path: Path, reason: str) -> None:
        """A spooled record the database refuses for what it is: kept, no longer sent."""
        moved = move_aside(path, self.damaged_dir)
        log.error("quarantine spool %s: %s not sent: %s%s", self.directory, path.name,
                  reason, moved)

    def clean(self) -> None:
        clean_stale_tmp(self.tmp_dir)

    # --- decision rows ----------------------------------------------------------------------
    def spill(self, rows: list[dict[str, Any]]) -> bool:
        """Keep decision rows the database could not take; False (logged) when that failed."""
        # A name no other process (nor this one, from two threads) can take: a PID is reused
        # after a restart, in a new PID namespace even at once.
        path = self.decisions_dir / f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex}.jsonl"
        tmp = self.decisions_dir / f".{path.name}.tmp"  # renamed whole: no half file is read
        try:
            self.prepare()
            with open(tmp, "w", encoding="ascii") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=True, separators=(",", ":")) + "\n")
            os.rename(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.error("quarantine spool %s: could not keep %d decision log rows for the "
                      "shared store: %s", self.directory, len(rows), describe_error(exc))
            return False
        return True

    def spilled(self) -> list[Path]:
        try:
            return sorted(p for p in self.decisions_dir.iterdir() if p.suffix == ".jsonl")
        except OSError:
            return []

    @contextlib.contextmanager
    def taking_rows(self, path: Path) -> Iterator[list[dict[str, Any]] | None]:
        """Spilled decision rows, locked; the file is removed when the body succeeds."""
        with _locked(path) as fd:
            if fd is None:
                yield None
                return
            rows = []
            with open(fd, encoding="ascii", errors="replace", closefd=False) as f:
                for line in f:
                    with contextlib.suppress(ValueError):
                        row = json.loads(line)
                        if isinstance(row, dict):
                            rows.append(row)
            yield rows
            path.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int | None]:
    """``path`` opened and under an exclusive flock, or None when it is gone (sent and removed
    by another writer, also while we waited) or another writer holds it now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd if path.exists() else None
    finally:
        os.close(fd)
