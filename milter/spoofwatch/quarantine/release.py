"""Release headers: how a message put back into the mail stream passes spoofwatch once.

When ``spoofwatch quarantine release`` re-injects the stored copy of a held message, it
puts one header field at the very top of it::

    X-Spoofwatch-Release: <record id>; sig=<hex HMAC-SHA256>

The signature covers the record id and a digest of everything *below* that field (the
message exactly as it was held, with the verdict headers spoofwatch added then). The
milter, seeing a valid release, leaves the message alone apart from removing that field,
so the recipient gets the held message byte for byte (plus the MTA's own Received line).

Why this cannot be abused:

* the key is a random file readable by the service user only (created 0600);
* any X-Spoofwatch-* header that arrives from outside is removed by the milter, and a
  release header is only honoured at the top of the message (only Received lines, which
  the MTA itself adds on re-injection, may precede it), so it never reaches a recipient
  and cannot be copied into other mail;
* the digest binds it to this content: different headers or a different body fail.

The digest canonicalizes lightly so that the MTA's handling on re-injection does not break
it: header names are compared case-insensitively, each value's folding and runs of
whitespace are reduced to one space, line endings become CRLF, and trailing empty lines of
the body are ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from ..actions import DeleteHeader
from ..message import Message
from .ownership import fix_command, give_to_owner, needed_owner, owner_of

__all__ = [
    "RELEASE_HEADER",
    "ReleaseKeyError",
    "add_release_header",
    "content_digest",
    "key_path",
    "load_key",
    "load_or_create_key",
    "release_actions",
    "release_header_value",
    "verify_release",
]

log = logging.getLogger("spoofwatch.quarantine")

RELEASE_HEADER = "X-Spoofwatch-Release"
_VALUE_RE = re.compile(r"^\s*([0-9]{14}-[0-9a-f]{10})\s*;\s*sig=([0-9a-f]{64})\s*$")
_WSP = re.compile(r"[ \t\r\n]+")
_BARE_LF = re.compile(rb"(?<!\r)\n")
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


# --- the digest and the signature -----------------------------------------------------------
def _canonical_header(name: str, value: str) -> bytes:
    name = name.rstrip(" \t").lower()
    value = _WSP.sub(" ", value).strip(" ")
    return f"{name}:{value}\r\n".encode("utf-8", "surrogateescape")


def _canonical_body(body: bytes) -> bytes:
    body = _BARE_LF.sub(b"\r\n", body)
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def content_digest(headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    digest = hashlib.sha256()
    for name, value in headers:
        digest.update(_canonical_header(name, value))
    digest.update(b"\r\n")
    digest.update(_canonical_body(body))
    return digest.digest()


def _signature(record_id: str, digest: bytes, key: bytes) -> str:
    return hmac.new(key, record_id.encode("ascii") + b"\0" + digest, hashlib.sha256).hexdigest()


def release_header_value(record_id: str, message: Message, key: bytes) -> str:
    """The release header value for ``message`` (the held message, without release header)."""
    sig = _signature(record_id, content_digest(message.headers, message.body), key)
    return f"{record_id}; sig={sig}"


def add_release_header(record_id: str, raw: bytes, key: bytes) -> bytes:
    """The stored message with the release header put on top, ready to re-inject."""
    value = release_header_value(record_id, Message.from_bytes(raw), key)
    return f"{RELEASE_HEADER}: {value}\r\n".encode("ascii") + _BARE_LF.sub(b"\r\n", raw)


def _release_position(headers: Sequence[tuple[str, str]]) -> int | None:
    """Index of the release field if it is where we put it: first, after Received lines only."""
    for position, (name, _) in enumerate(headers):
        key = name.rstrip(" \t").lower()
        if key == RELEASE_HEADER.lower():
            return position
        if key != "received":
            return None
    return None


def verify_release(message: Message, key: bytes) -> str | None:
    """The record id of a valid release header on ``message``, else None.

    ``message`` is the whole message as the milter received it (headers and body: the
    signature covers both). A missing, misplaced, malformed or wrongly signed header, or
    an empty key, gives None; this never raises.
    """
    if not key:
        return None
    try:
        position = _release_position(message.headers)
        if position is None:
            return None
        match = _VALUE_RE.match(message.headers[position][1])
        if match is None:
            return None
        record_id, sig = match.group(1), match.group(2)
        below = message.headers[position + 1:]
        if any(n.rstrip(" \t").lower() == RELEASE_HEADER.lower() for n, _ in below):
            return None  # two release headers: not something we produce
        expected = _signature(record_id, content_digest(below, message.body), key)
    except Exception:
        log.exception("release header check failed")
        return None
    return record_id if hmac.compare_digest(expected, sig) else None


def release_actions(message: Message) -> tuple[DeleteHeader, ...]:
    """For a verified release: remove the release header(s), change nothing else."""
    count = sum(1 for name, _ in message.headers
                if name.rstrip(" \t").lower() == RELEASE_HEADER.lower())
    return tuple(DeleteHeader(RELEASE_HEADER, index, "release verified")
                 for index in range(count, 0, -1))
