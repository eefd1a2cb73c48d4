"""The quarantine release key: where it lives, reading it, and creating it (0600, random).

What the key signs, and how a release header is checked, is ``spoofwatch.release_header``
(pure, used by the analysis); this module is the part that touches files, so the core
never imports it. ``spoofwatch quarantine release`` signs with the key, the service reads
(or first creates) it at start, ``scan`` only reads it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .ownership import fix_command, give_to_owner, needed_owner, owner_of

__all__ = ["ReleaseKeyError", "key_path", "load_key", "load_or_create_key"]

_KEY_BYTES = 32


class ReleaseKeyError(Exception):
    """The release key cannot be read or created."""


def key_path(directory: str, release_key_file: str = "") -> Path:
    """Where the key lives: the configured file, else DIRECTORY/release.key."""
    return Path(release_key_file) if release_key_file else Path(directory) / "release.key"


def _parse_key(text: bytes, path: Path) -> bytes:
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ReleaseKeyError(f"release key {path} is not a hex string") from None
    if len(key) < 16:
        raise ReleaseKeyError(
            f"release key {path} is too short ({len(key)} bytes, need 16 or more)")
    return key


def load_key(path: Path) -> bytes:
    try:
        st = path.stat()
        text = path.read_bytes()
    except OSError as exc:
        raise ReleaseKeyError(f"cannot read release key {path}: {exc.strerror}"
                              f"{_ownership_hint(path, exc)}") from None
    if st.st_mode & 0o077:
        raise ReleaseKeyError(f"release key {path} has mode {st.st_mode & 0o777:04o}; "
                        f"it must be readable by its owner only: chmod 0600 {path}")
    return _parse_key(text, path)


def load_or_create_key(path: Path) -> bytes:
    """Read the key, creating it (0600, random) first if there is none.

    The new key is written to a temporary file and linked into place, so two processes
    creating it at once end up using the same complete key.
    """
    if path.exists():
        return load_key(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            give_to_owner(path.parent, path.parent.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            # Root (an admin's command, the milter run from a checkout) creating the key
            # gives it to the directory's owner before it appears: the service must read it.
            give_to_owner(fd, path.parent)
            os.write(fd, (secrets.token_hex(_KEY_BYTES) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(tmp, path)
    except OSError as exc:
        raise ReleaseKeyError(f"cannot create release key {path}: {exc.strerror}"
                              f"{_ownership_hint(path, exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return load_key(path)


def _ownership_hint(path: Path, exc: OSError) -> str:
    """For "Permission denied": whose the key must be, and the command that makes it so."""
    if not isinstance(exc, PermissionError):
        return ""
    try:
        # The key lives with the store by default: it is the store directory owner's, the
        # user the service runs as (needed_owner says who that is when root owns it).
        needed = needed_owner(owner_of(path.parent), service=True)
    except OSError:
        return ""
    if not path.exists():
        return (f"; the directory {path.parent} must belong to the user the service runs as "
                f"({needed.user}); fix it as root: {fix_command(path.parent, needed)}")
    try:
        owned = f" (owned by {owner_of(path).user})"
    except OSError:
        owned = ""
    return (f"{owned}; it must belong to the user the service runs as ({needed.user}), like "
            f"{path.parent}; fix it as root: chown {needed.user}:{needed.group} {path}")
