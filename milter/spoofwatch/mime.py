"""A tolerant MIME reader over raw bytes, for mail the standard parser must not be given.

Python's ``email`` parser is the normal reader (see :mod:`spoofwatch.detect.textextract`),
but hostile structure breaks it in two ways: it *raises* (RecursionError on a parameter of
hundreds of ``(``, or on a thousand nested multiparts) and it is *slow* (about 0.5 ms per
nesting level and 60-140 us per part: 88,000 one-byte parts take 12 s). An exception
there must not switch content scoring off, and a slow parse must not hold a worker.

So :func:`exceeds_parser_limits` looks at the bytes first (a few ``bytes.count`` calls and
one regular expression, linear) and says whether the structure could exceed the stated
limits; such mail, and mail the standard parser raised on, is read by :func:`walk`:

* iterative (an explicit stack of open multiparts, never recursion on attacker-chosen
  depth) and linear in the size of the body: every byte is looked at a bounded number of
  times, delimiter lines are found with one regular expression and looked up in a dict;
* tolerant like a mail client: a missing closing delimiter closes the part at the end,
  a delimiter of an outer multipart closes the inner ones, a part without a header end
  starts its body at the first line that is not a header field;
* bounded: at most :data:`MAX_MIME_PARTS` parts and :data:`MAX_MIME_DEPTH` levels are
  followed. Past a limit the bytes are handed on as :class:`RawText` (read as plain text
  by the caller) and a :class:`LimitReached` event says so: never a silent truncation.

It yields events in document order and decodes nothing itself; the caller decides what
to read (and can stop early when it has read enough).

An entity's header section and its MIME fields are read by :mod:`spoofwatch.mime_fields`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .mime_fields import EOL, Fields, parse_fields, read_headers

__all__ = [
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "Fields",
    "LimitReached",
    "Leaf",
    "RawText",
    "Subject",
    "exceeds_parser_limits",
    "parse_fields",
    "walk",
]

# Limits on hostile structure. Real mail has a handful of parts; a newsletter with inline
# images or a mailing-list digest has some dozens to a few hundred. 1,000 leaves room for
# any of them, and at ~60 us per part keeps the standard parser under about 0.1 s.
MAX_MIME_PARTS = 1_000
# Nesting: a forwarded message inside a digest inside a multipart/mixed, forwarded again
# a few times, reaches 10 to 15 levels; no mail client produces more than that. At
# ~0.5 ms per level in the standard parser, 32 levels cost it about 16 ms, and Python's
# recursion limit (1,000 frames, several per level) is far away.
MAX_MIME_DEPTH = 32

_IDENTITY_CTE = frozenset({"", "7bit", "8bit", "binary"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})

# A line that starts with "--": at the start of the body or after CR or LF (the standard
# parser ends lines at CRLF, CR or LF alike). Fixed-width look-behind: linear search.
_DASH_LINE = re.compile(rb"(?<![^\r\n])--")
# A Content-Type field that opens a container (multipart or message) in the raw bytes,
# for the pre-scan. Whitespace (including folding) may stand between colon and value.
_CONTAINER = re.compile(rb"content-type[ \t]*:[ \t\r\n]*(?:multipart|message)/", re.I)


# ----------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class Leaf:
    """A part that is not a container: its body is ``body[start:end]`` (still encoded)."""

    fields: Fields
    start: int
    end: int
    depth: int


@dataclass(frozen=True)
class Subject:
    """The raw Subject value of an attached message (message/rfc822), as readers show it."""

    value: str


@dataclass(frozen=True)
class RawText:
    """``body[start:end]`` could not be followed as structure: read it as plain text."""

    start: int
    end: int


@dataclass(frozen=True)
class LimitReached:
    """A stated limit stopped the walk; what follows is handed on as :class:`RawText`."""

    limit: str  # "mime_parts", "mime_depth" or "mime_boundary" (a multipart without one)
    value: int


Event = Leaf | Subject | RawText | LimitReached


# ----------------------------------------------------------------------------------------
# The pre-scan


def exceeds_parser_limits(body: bytes) -> bool:
    """Could this body hold more parts or nesting than the stated limits? Linear, cheap.

    Upper bounds, not counts: every part starts with a line beginning with "--", and
    every nesting level needs a Content-Type of a container (multipart/digest adds one
    level without a header of its own, hence the factor 2). False means the standard
    parser can be given the message without risk of it being slow or recursing deeply.
    """
    dashes = body.count(b"\n--") + body.count(b"\r--") + int(body.startswith(b"--"))
    if dashes + 1 > MAX_MIME_PARTS:
        return True
    containers = 0
    for _ in _CONTAINER.finditer(body):
        containers += 1
        if 2 * (containers + 1) > MAX_MIME_DEPTH:  # +1: the root's own Content-Type
            return True
    return False


# ----------------------------------------------------------------------------------------
# The walk


@dataclass(frozen=True)
class _Frame:
    """An open multipart: its delimiter, its depth, what its parts default to."""

    boundary: bytes
    depth: int
    child_default: str
    shadowed: int | None  # the index this boundary had in an outer frame, if any


@dataclass(frozen=True)
class _Delimiter:
    index: int  # of the frame in the stack
    closing: bool
    start: int  # where the line break before the delimiter line starts
    after: int  # where the line after the delimiter line starts


class _Walk:
    """State of one walk: the stack of open multiparts and the boundaries they own."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.stack: list[_Frame] = []
        self.owner: dict[bytes, int] = {}

    def push(self, boundary: str, depth: int, subtype: str) -> None:
        key = boundary.encode("utf-8", "surrogateescape")
        child = "message/rfc822" if subtype == "digest" else "text/plain"
        self.stack.append(_Frame(key, depth, child, self.owner.get(key)))
        self.owner[key] = len(self.stack) - 1

    def pop_to(self, size: int) -> None:
        """Close the frames above ``size`` (inner multiparts closed by an outer delimiter)."""
        while len(self.stack) > size:
            frame = self.stack.pop()
            if frame.shadowed is None:
                del self.owner[frame.boundary]
            else:
                self.owner[frame.boundary] = frame.shadowed

    def next_delimiter(self, pos: int) -> _Delimiter | None:
        """The next delimiter line of any open multipart at or after ``pos``."""
        body = self.body
        if not self.owner:
            return None
        while True:
            match = _DASH_LINE.search(body, pos)
            if match is None:
                return None
            start = match.start()
            eol = EOL.search(body, start)
            end, after = (eol.start(), eol.end()) if eol else (len(body), len(body))
            key = body[start + 2:end].rstrip(b" \t")
            closing = key.endswith(b"--") and key[:-2] in self.owner
            index = self.owner.get(key[:-2] if closing else key)
            if index is not None:
                return _Delimiter(index, closing, _line_break_before(body, start), after)
            pos = max(after, start + 2)


def _line_break_before(body: bytes, start: int) -> int:
    """The delimiter's line break belongs to it, not to the part before (RFC 2046 5.1.1)."""
    if start >= 2 and body[start - 2:start] == b"\r\n":
        return start - 2
    if start >= 1 and body[start - 1:start] in (b"\r", b"\n"):
        return start - 1
    return start


def walk(headers: Sequence[tuple[str, str]], body: bytes) -> Iterator[Event]:
    """The entities of a message (root ``headers``, ``body``) in document order.

    Containers are followed (multipart with a boundary; message/rfc822 whose transfer
    encoding is the identity), everything else is a :class:`Leaf`. Never raises on any
    input; linear in ``len(body)``.
    """
    state = _Walk(body)
    entity_headers: Sequence[tuple[str, str]] = headers
    depth, default, pos = 0, "text/plain", 0
    parts = 0
    depth_reported = False
    while True:
        parts += 1
        if parts > MAX_MIME_PARTS:
            yield LimitReached("mime_parts", MAX_MIME_PARTS)
            yield RawText(pos, len(body))
            return
        fields = parse_fields(entity_headers, default)
        container = (fields.maintype == "multipart" and fields.boundary) or (
            fields.content_type in _MESSAGE_TYPES and fields.cte in _IDENTITY_CTE)
        if fields.maintype == "multipart" and not fields.boundary:
            # No usable boundary: no parts can be told apart, and readers show the body
            # as it is; so read it as raw text (a threat behind it must still be seen).
            yield LimitReached("mime_boundary", 0)
            delimiter = state.next_delimiter(pos)
            yield RawText(pos, delimiter.start if delimiter else len(body))
        elif container and depth >= MAX_MIME_DEPTH:
            if not depth_reported:
                depth_reported = True
                yield LimitReached("mime_depth", MAX_MIME_DEPTH)
            delimiter = state.next_delimiter(pos)
            yield RawText(pos, delimiter.start if delimiter else len(body))
        elif container and fields.maintype == "multipart":
            state.push(fields.boundary, depth, fields.content_type.partition("/")[2])
            delimiter = state.next_delimiter(pos)  # the preamble is not shown to readers
        elif container:
            entity_headers, pos = read_headers(body, pos)
            for name, value in entity_headers:
                if name.rstrip(" \t").lower() == "subject":
                    yield Subject(value)
                    break
            depth, default = depth + 1, "text/plain"
            continue
        else:
            delimiter = state.next_delimiter(pos)
            yield Leaf(fields, pos, max(pos, delimiter.start) if delimiter else len(body),
                       depth)
        # Past closing delimiters (the epilogue is not shown either) to the next part.
        while delimiter is not None and delimiter.closing:
            state.pop_to(delimiter.index)
            delimiter = state.next_delimiter(delimiter.after)
        if delimiter is None:
            return
        state.pop_to(delimiter.index + 1)
        frame = state.stack[delimiter.index]
        entity_headers, pos = read_headers(body, delimiter.after)
        depth, default = frame.depth + 1, frame.child_default
