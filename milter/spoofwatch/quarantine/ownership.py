"""Whose a quarantine store is, and what to tell the admin when someone else's files are in it.

The store belongs to the user the service runs as (``spoofwatch`` from
systemd/spoofwatch.sysusers): the service saves into it, and admins run
``spoofwatch quarantine`` on it as root or as that user. The owner of the store directory
says who that user is. Two things go wrong in practice:

* root (running the milter from a checkout, or an admin's command) creates the index, the
  release key or a subdirectory, and the service user then cannot use them ("Permission
  denied" on every save). So whatever root creates in a store is given to the store
  directory's owner (``give_to_owner``), and a store that already has such files is reported
  with the one command that repairs it (``access_problem``).
* a user who is not the owner runs a command: it is told whom the store belongs to.

Every message names the path, the owner it needs and the command that fixes it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SERVICE_USER",
    "Owner",
    "access_problem",
    "directory_access_problem",
    "fix_command",
    "give_to_owner",
    "needed_owner",
    "owner_of",
]

SERVICE_USER = "spoofwatch"  # the system user of systemd/spoofwatch.sysusers


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int

    @property
    def user(self) -> str:
        return _name_or_number(lambda uid: pwd.getpwuid(uid).pw_name, self.uid)

    @property
    def group(self) -> str:
        return _name_or_number(lambda gid: grp.getgrgid(gid).gr_name, self.gid)


def _name_or_number(name_of: Callable[[int], str], number: int) -> str:
    """The user or group name of ``number``, or the number when the system has no name."""
    try:
        return name_of(number)
    except KeyError:
        return str(number)


def owner_of(path: Path) -> Owner:
    st = path.stat()
    return Owner(st.st_uid, st.st_gid)


def _me() -> Owner:
    return Owner(os.geteuid(), os.getegid())


def _service_user() -> Owner | None:
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return Owner(entry.pw_uid, entry.pw_gid)


def needed_owner(directory_owner: Owner, service: bool) -> Owner:
    """Who the store must belong to, as far as this process can tell."""
    if os.geteuid() == 0 or (not service and directory_owner.uid != 0):
        return directory_owner  # the directory's owner says whose store it is
    if service:
        return _me()  # the service saves as whoever it runs as
    # A command run by an ordinary user on a store root owns: it is not the service's
    # store yet; the packaged service user is the best advice.
    return _service_user() or _me()


def fix_command(directory: Path, owner: Owner) -> str:
    return f"chown -R {owner.user}:{owner.group} {directory}"


def _describe(path: Path, st: os.stat_result) -> str:
    kind = "directory " if stat.S_ISDIR(st.st_mode) else ""
    return (f"{kind}{path} (owned by {Owner(st.st_uid, st.st_gid).user}, "
            f"mode {st.st_mode & 0o777:04o})")


def directory_access_problem(directory: Path, st: os.stat_result, service: bool) -> str | None:
    """Why this process cannot enter and write ``directory``, or None."""
    if _can(directory, os.R_OK | os.W_OK | os.X_OK):
        return None
    owner = Owner(st.st_uid, st.st_gid)
    needed = needed_owner(owner, service)
    described = _describe(directory, st)
    if service:
        return (f"no permission to use quarantine {described}: the store must belong to "
                f"the user the service runs as ({needed.user}); fix it as root: "
                f"{fix_command(directory, needed)}")
    if owner.uid != 0:
        return (f"no permission to use quarantine {described}: the store belongs to "
                f"{owner.user}; run this command as root or as {owner.user}")
    return (f"no permission to use quarantine {described}: run this command as root; "
            f"the store must belong to the user the service runs as ({needed.user}): "
            f"{fix_command(directory, needed)}")


def _can(path: Path, mode: int) -> bool:
    # Effective ids: what the kernel checks when the process opens the file.
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def access_problem(directory: Path, entries: tuple[tuple[Path, int], ...],
                   service: bool) -> tuple[str, bool] | None:
    """Whether the store's own files (``entries``: path and the access it needs) are usable.

    Returns (message, fatal) or None. Not running as root, an entry this process cannot use
    is fatal. Running as root everything is usable, so the question is whether the store's
    owner (the service user) can use them: an entry owned by another user is reported;
    that is fatal for an admin's command (it would otherwise report an empty or stale
    store while the service fails), not for a service running as root.
    """
    try:
        dir_st = directory.stat()
    except OSError:
        return None  # directory_problem reports this
    owner = Owner(dir_st.st_uid, dir_st.st_gid)
    needed = needed_owner(owner, service)
    found = [(path, mode, st) for (path, mode), st in zip(entries, _stats(entries), strict=True)
             if st is not None]
    if os.geteuid() == 0:
        foreign = [(path, st) for path, _, st in found if st.st_uid != owner.uid]
        if owner.uid == 0 or not foreign:
            return None
        listed = ", ".join(_describe(path, st) for path, st in foreign)
        one = len(foreign) == 1
        return (f"quarantine store {directory} belongs to {owner.user}, but {listed} "
                f"{'belongs' if one else 'belong'} to another user, so the service (running "
                f"as {owner.user}) cannot use {'it' if one else 'them'}; fix: "
                f"{fix_command(directory, needed)}", not service)
    denied = [(path, mode, st) for path, mode, st in found if not _can(path, mode)]
    if not denied:
        return None
    path, mode, st = denied[0]
    verb = "write" if mode & os.W_OK else "read"
    more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
    whose = (f"the user the service runs as ({needed.user})" if service
             else f"the owner of the store directory ({needed.user})")
    return (f"cannot {verb} {_describe(path, st)}{more} in quarantine store {directory}: "
            f"everything in the store must belong to {whose}; fix it as root: "
            f"{fix_command(directory, needed)}", True)


def _stats(entries: tuple[tuple[Path, int], ...]) -> list[os.stat_result | None]:
    out: list[os.stat_result | None] = []
    for path, _ in entries:
        try:
            out.append(path.lstat())
        except OSError:
            out.append(None)
    return out


def give_to_owner(target: Path | int, directory: Path) -> None:
    """Running as root, give a file or directory root just created (a path or an open
    descriptor) to the owner of ``directory``, so the service user can use it."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        st = directory.stat()
        if st.st_uid == 0 and st.st_gid == 0:
            return
        if isinstance(target, int):
            os.fchown(target, st.st_uid, st.st_gid)
        else:
            os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
