"""dkimpy as DKIM and ARC use it: quiet logging, bounded-memory body canonicalization,
header-only parsing, and the tag-list helpers both verifiers share.

Importing this module installs :func:`relaxed_body` as dkimpy's relaxed body
canonicalization (same result in one pass over slices), for DKIM and ARC alike.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dkim

from ..message import with_crlf

__all__ = [
    "MIN_KEY_BITS",
    "QuietDkimpyLog",
    "body_canon",
    "by_lines",
    "canonicalized_once",
    "lenient_tags",
    "parsed_for_dkimpy",
    "relaxed_body",
    "squeeze_blanks",
    "text_of",
    "without_whitespace",
]

MIN_KEY_BITS = 1024  # RFC 8301 section 3.2

_WSP = re.compile(rb"\s+")
_BLANK_RUN = re.compile(rb"[\t ]+")


def without_whitespace(raw: bytes) -> bytes:
    """A tag value with all whitespace (folding included) removed: b=, bh=, d=, s=, p=."""
    return _WSP.sub(b"", raw)


class QuietDkimpyLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """dkimpy logs hostile-input problems at ERROR; they are results, not operator errors.

    Everything dkimpy says goes to ``spoofwatch.auth.dkimpy`` at DEBUG.
    """

    def __init__(self) -> None:
        super().__init__(logging.getLogger("spoofwatch.auth.dkimpy"), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


def squeeze_blanks(body: bytes) -> bytes:
    """Each run of blanks as one space: the same relaxed body canonical form (RFC 6376
    3.4.4), without the runs that make dkimpy's trailing-blank regex quadratic."""
    return by_lines(_squeeze, body)


def _squeeze(text: bytes) -> bytes:
    return _BLANK_RUN.sub(b" ", text)


_SLICE = 1 << 20


def by_lines(transform: Callable[[bytes], bytes], data: bytes) -> bytes:
    """``transform(data)`` for a transform that never looks across a CRLF, run over slices
    of about 1 MiB cut just after a CRLF: the same result, bounded memory. A regular
    expression substitution keeps an object per match until it joins them: about 40
    times the text of a body where every word ends in a blank (1.7 GB for 40 MB)."""
    if len(data) <= _SLICE:
        return transform(data)
    # a bytearray grows in place (a large one is remapped, not copied): the input and
    # the output are all that is held, never a list of pieces beside their join
    out = bytearray()
    start = 0
    while start < len(data):
        cut = data.find(b"\r\n", start + _SLICE)
        end = len(data) if cut < 0 else cut + 2
        out += transform(data[start:end])
        start = end
    return out  # type: ignore[return-value] # bytes-like: dkimpy slices, compares, hashes it


_TRAILING_BLANKS = re.compile(rb"[\t ]+\r\n")


def _relaxed_slice(text: bytes) -> bytes:
    if b"\t" not in text and b"  " not in text:
        # Every blank run is one space already (base64 attachments have none at all):
        # only a space before a line end goes. A byte search, where the two regular
        # expressions below cost about 50 ms per 6 MB each even when nothing matches.
        return text.replace(b" \r\n", b"\r\n") if b" \r\n" in text else text
    # blank runs squeezed first, so the trailing-blank pattern never meets a long run
    return _TRAILING_BLANKS.sub(b"\r\n", _BLANK_RUN.sub(b" ", text))


_MEMO = threading.local()  # per thread: (body, its relaxed form) within canonicalized_once


@contextmanager
def canonicalized_once() -> Iterator[None]:
    """Within the block, relaxed_body canonicalizes a body object once: the signatures of
    one message (an RSA and an ed25519 one, or the ARC sets) share the result. The
    result is dropped at the end of the block, so no body outlives its message."""
    _MEMO.on, _MEMO.entry = True, None
    try:
        yield
    finally:
        _MEMO.on, _MEMO.entry = False, None


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalization (RFC 6376 3.4.4), same result, one pass by
    slices: dkimpy's own runs three whole-body substitutions and copies, about 40 times
    a 40 MB body at the peak. Trailing empty lines: exactly one CRLF stays, none for an
    empty body (dkimpy's strip_trailing_lines and correct_empty_body), done in place."""
    on = getattr(_MEMO, "on", False)
    if on and _MEMO.entry is not None and _MEMO.entry[0] is body:
        return _MEMO.entry[1]  # type: ignore[no-any-return]
    result = _relaxed_body(body)
    if on:
        _MEMO.entry = (body, result)
    return result


def _relaxed_body(body: bytes) -> bytes:
    sliced = by_lines(_relaxed_slice, body)
    out = sliced if isinstance(sliced, bytearray) else bytearray(sliced)
    end = len(out)
    while end >= 2 and out[end - 2] == 0x0D and out[end - 1] == 0x0A:
        end -= 2
    if end == len(out):
        out += b"\r\n"
    else:
        del out[end + 2:]
    return b"" if out == b"\r\n" else out  # type: ignore[return-value] # see by_lines


# DKIM and ARC body hashes both go through dkimpy's Relaxed class.
dkim.canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)  # type: ignore[method-assign]


def int_to_bytes(n: int, length: int = -1) -> bytearray:
    """dkimpy's ``crypto.int2str`` (big-endian; ``length`` < 0: as short as the number, at
    least one byte; otherwise its low ``length`` bytes), in C rather than a byte at a time."""
    if length < 0:
        length = max(1, (n.bit_length() + 7) // 8)
    return bytearray((n & ((1 << (8 * length)) - 1)).to_bytes(length, "big"))


def bytes_to_int(data: bytes | bytearray) -> int:
    """dkimpy's ``crypto.str2int``: a big-endian number, in C."""
    return int.from_bytes(bytes(data), "big")


# Every RSA signature check (DKIM and ARC) converts the signature and its result between
# bytes and numbers; dkimpy does it in a Python loop over 256 bytes, a tenth of a newsletter's
# DKIM time. Same results (tests/unit/test_dkimpy_support.py compares them).
dkim.crypto.int2str = int_to_bytes
dkim.crypto.str2int = bytes_to_int

_EMPTY_LINE = re.compile(rb"(?:\A|\n)\r?\n")


def parsed_for_dkimpy(raw: bytes) -> dkim.DKIM:
    """``dkim.DKIM(raw)``, without dkimpy's parser splitting the whole body into lines
    (a list of objects several times the body's size): dkimpy parses the header section,
    the body is cut off at the first empty line and gets CRLF line ends, as dkimpy's
    parser would give it."""
    found = _EMPTY_LINE.search(raw)
    if found is None:
        return dkim.DKIM(raw, logger=QuietDkimpyLog(), minkey=MIN_KEY_BITS)
    head_end = found.start() + (1 if raw[found.start():found.start() + 1] == b"\n" else 0)
    verifier = dkim.DKIM(raw[:head_end] + b"\r\n", logger=QuietDkimpyLog(), minkey=MIN_KEY_BITS)
    verifier.body = with_crlf(raw[found.end():])
    return verifier


def body_canon(c_value: bytes | None) -> bytes:
    """The body canonicalization named by a c= value (default simple, RFC 6376 3.5)."""
    if not c_value:
        return b"simple"
    parts = c_value.strip().lower().split(b"/")
    return parts[1] if len(parts) == 2 else b"simple"


def lenient_tags(value: bytes) -> dict[bytes, bytes]:
    """A tag list parsed forgivingly (first occurrence wins, junk skipped), for reporting."""
    tags: dict[bytes, bytes] = {}
    for spec in value.split(b";"):
        name, sep, tag_value = spec.partition(b"=")
        name = name.strip()
        if sep and name and name not in tags:
            tags[name] = tag_value.strip()
    return tags


def text_of(raw: bytes) -> str:
    """Header bytes as text; bytes that are not UTF-8 survive as lone surrogates."""
    return raw.decode("utf-8", errors="surrogateescape")
