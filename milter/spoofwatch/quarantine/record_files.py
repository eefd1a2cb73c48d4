"""The quarantine's record files on disk: written whole or not at all, read back checked.

A record file is written to ``tmp/``, fsynced and renamed into ``msg/`` (rename is atomic,
so ``msg/`` holds complete files only); a file that fails its integrity check is moved to
``damaged/``; temporary files of dead writers are removed. The index side and the order
of the two (file first, then row) are :mod:`.store`'s; the module docstring there says why.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..textsafe import ascii_safe
from .index import IndexUnusable
from .record import Record, RecordFormatError, check_message, read_header

__all__ = ["Damaged", "Problem", "StoreError", "clean_stale_tmp", "describe_error", "fsync_dir",
           "move_aside", "read_record_file", "shown_queue_id", "write_record_file"]

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
class Damaged:
    """A record file that failed its integrity check, and why."""

    reason: str


def fsync_dir(path: Path) -> None:
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


def write_record_file(tmp: Path, final: Path, header: bytes, raw: bytes,
                      own: Callable[[int], None]) -> None:
    """Write ``header`` and ``raw`` to ``tmp``, fsync, rename to ``final``.

    ``own`` gets the open file descriptor first (to hand the file to the store's owner).
    On any failure ``tmp`` is removed and the exception goes on.
    """
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            own(fd)
            _write_all(fd, header)
            _write_all(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_record_file(path: Path, record_id: str,
                     verify: bool) -> tuple[Record, bytes] | Problem | Damaged:
    """The record in ``path`` and (with ``verify``) its checked message bytes.

    Not found is a :class:`Problem`, a file that fails its check :class:`Damaged`; an
    OSError other than not-found (a permission, a failing disk) goes on to the caller.
    """
    try:
        with open(path, "rb") as f:
            record, _ = read_header(f)
            raw = f.read() if verify else b""
    except FileNotFoundError:
        return Problem("not_found", f"no quarantined message with id {record_id}")
    except RecordFormatError as exc:
        return Damaged(str(exc))
    if record.id != record_id:
        return Damaged(f"the file holds record {record.id}")
    if verify:
        try:
            check_message(record, raw)
        except RecordFormatError as exc:
            return Damaged(str(exc))
    return record, raw


def move_aside(source: Path, damaged_dir: Path) -> str:
    """Move a damaged file into ``damaged_dir``: "; the file was moved to ..." or ""."""
    target = damaged_dir / source.name
    try:
        os.rename(source, target)
    except OSError:
        return ""
    return f"; the file was moved to {target}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(tmp_dir: Path) -> int:
    """Remove temporary files of dead writers (or older than a day); how many went."""
    removed = 0
    now = time.time()
    try:
        entries = list(tmp_dir.iterdir())
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


def shown_queue_id(queue_id: str) -> str:
    """A queue id for the log: raw bytes and controls escaped."""
    return ascii_safe(queue_id, 64) if queue_id else "?"


def describe_error(exc: BaseException) -> str:
    """An error as one line for the log: the disk-full cases said plainly."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on device (the disk is full)"
    if isinstance(exc, IndexUnusable) and exc.disk_full:
        return "no space left for the index (the disk is full)"
    if isinstance(exc, OSError) and exc.strerror:
        name = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{name}"
    return str(exc) or type(exc).__name__
