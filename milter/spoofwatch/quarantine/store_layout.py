"""The quarantine store's directory: its layout, its creation, and whose it must be.

Layout under the directory (mode 0700, every file 0600)::

    msg/<id>.rec        one complete record: format line, metadata JSON, message bytes
    tmp/<id>.<pid>.tmp  a record being written
    damaged/            record files that failed their integrity check (kept, not shown)
    index.sqlite        the searchable index (see index.py)
    release.key         HMAC key for release headers (see release.py)

What a wrong owner or mode means and the command that fixes it are :mod:`.ownership`'s;
this module applies them to the store's own files.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from .index import IndexUnusable, SqliteIndex
from .ownership import (
    access_problem,
    directory_access_problem,
    fix_command,
    give_to_owner,
    needed_owner,
    owner_of,
)
from .record_files import StoreError

__all__ = ["StoreLayout", "directory_problem"]


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


class StoreLayout:
    """The store's directory and files, for the service (True) or an admin's command.

    ``service`` decides whose the store must be when this process cannot use it, and
    whether root may go on with a store that holds files of another user (the service
    may: it saves and hands its new files to the store's owner; a command must not report
    a store the service cannot use).
    """

    def __init__(self, directory: Path, service: bool = False) -> None:
        self.directory = directory
        self.service = service
        self.msg_dir = directory / "msg"
        self.tmp_dir = directory / "tmp"
        self.damaged_dir = directory / "damaged"
        self.index_path = directory / "index.sqlite"

    def prepare(self, index: SqliteIndex, create: bool = True) -> None:
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
        found = self.access_problem()
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
            self.match_owner(sub)
        if not index.path.exists():
            try:
                with index._connect():
                    pass
            except IndexUnusable as exc:
                raise StoreError("disk_full" if exc.disk_full else "index", str(exc)) from None
            with contextlib.suppress(OSError):
                os.chmod(index.path, 0o600)
            self.match_owner(index.path)

    def access_problem(self) -> tuple[str, bool] | None:
        """What of the store's own files this process cannot use (see ownership)."""
        return access_problem(self.directory, self._entries(), self.service)

    def _entries(self) -> tuple[tuple[Path, int], ...]:
        """The store's own files and the access each needs (see ownership.access_problem)."""
        rwx = os.R_OK | os.W_OK | os.X_OK
        return ((self.msg_dir, rwx), (self.tmp_dir, rwx), (self.damaged_dir, rwx),
                (self.index_path, os.R_OK | os.W_OK), (self.directory / "release.key", os.R_OK))

    def match_owner(self, path: Path | int) -> None:
        """What root (an admin's command) creates must stay usable by the service user."""
        give_to_owner(path, self.directory)

    def unreadable(self, path: Path) -> str:
        """A record another user owns (saved by root before it handed files over)."""
        try:
            owner = owner_of(path).user
            needed = needed_owner(owner_of(self.directory), self.service)
        except OSError:
            return f"cannot read {path}: permission denied"
        return (f"cannot read {path} (owned by {owner}): everything in quarantine store "
                f"{self.directory} must belong to {needed.user}; fix it as root: "
                f"{fix_command(self.directory, needed)}")

    def owner_hint(self) -> str:
        """For a save refused by permissions: whose the store must be, and the fix."""
        needed = needed_owner(owner_of(self.directory), self.service)
        return (f"; the store must belong to the user the service runs as "
                f"({needed.user}): {fix_command(self.directory, needed)}")
