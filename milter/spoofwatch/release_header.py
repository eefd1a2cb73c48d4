"""Release headers, made and checked: pure, so that the milter and ``scan`` agree.

When ``spoofwatch quarantine release`` re-injects the stored copy of a held message, it
puts one header field at the very top of it::

    X-Spoofwatch-Release: <record id>; sig=<hex HMAC-SHA256>

The signature covers the record id and a digest of everything *below* that field (the
message exactly as it was held, with the verdict headers spoofwatch added then). The
milter, seeing a valid release, leaves the message alone apart from removing that field,
so the recipient gets the held message byte for byte (plus the MTA's own Received line).

Why this cannot be abused:

* the key is a random file readable by the service user only (created 0600, by
  ``quarantine/release.py``, which is the only code that touches key files);
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

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence

from .actions import DeleteHeader
from .message import Message

__all__ = [
    "RELEASE_HEADER",
    "add_release_header",
    "content_digest",
    "release_actions",
    "release_header_value",
    "verify_release",
]

log = logging.getLogger("spoofwatch.quarantine")

RELEASE_HEADER = "X-Spoofwatch-Release"
_VALUE_RE = re.compile(r"^\s*([0-9]{14}-[0-9a-f]{10})\s*;\s*sig=([0-9a-f]{64})\s*$")
_WSP = re.compile(r"[ \t\r\n]+")
_BARE_LF = re.compile(rb"(?<!\r)\n")


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
