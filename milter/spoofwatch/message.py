"""The message model every check reads: header fields in order, body as bytes.

Header values are kept *raw*: the exact text after the colon, with its leading
whitespace and folding CRLFs, so that DKIM/ARC canonicalization and a byte
exact re-serialization are possible. Values are ``str`` decoded from the wire
bytes as UTF-8 with ``errors="surrogateescape"``: valid UTF-8 (RFC 6532
headers) reads naturally and any other byte survives as a lone surrogate and
encodes back to the same byte.

Header section parsing (:meth:`Message.from_bytes`), chosen to match what
Postfix and Python's email package do with broken input:

* bare LF line endings are turned into CRLF first (files saved on Unix);
  bare CR is left alone;
* a line ``field-name *WSP ":" ...`` starts a header field, where
  field-name is printable ASCII without ":" (RFC 5322 2.2 plus the obsolete
  whitespace before the colon, which is kept in the stored name so bytes
  round-trip);
* a line starting with space or tab continues the previous field;
* an empty line ends the header section; the body is what follows it;
* any other line (no colon, a name with spaces or 8-bit bytes, a
  continuation line with no field before it, an mbox "From " line) ends the
  header section *without* a separator: that line is the first body line.
  This is what Postfix's cleanup does and why :attr:`Message.separator` exists.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.feedparser import BytesFeedParser
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.policy import default as default_policy

__all__ = ["Message", "with_crlf"]

_CRLF = b"\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_START = re.compile(rb"([\x21-\x39\x3b-\x7e]+[ \t]*):")
_FOLD = re.compile(r"\r?\n")
_PARSE_SLICE = 1 << 20


# Header values up to this long are parsed once and the parsed header shared: a MIME walk
# asks for Content-Type and Content-Transfer-Encoding several times per part, and the
# header registry's parser costs more than the rest of a small message's walk. Parsed
# headers are immutable (str subclasses with read-only attributes), so messages and
# threads can share them; longer values (rare, and attacker-sized) are parsed each time.
_REMEMBERED_VALUE_MAX = 512


@functools.lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> object:
    return default_policy.header_fetch_parse(name, value)


class _RememberingPolicy(EmailPolicy):
    """policy.default, with short header values parsed once (see above)."""

    def header_fetch_parse(self, name: str, value: str) -> object:  # type: ignore[override]
        if len(value) <= _REMEMBERED_VALUE_MAX and not hasattr(value, "name"):
            return _parsed_header(name, value)
        return super().header_fetch_parse(name, value)


_PARSE_POLICY = _RememberingPolicy()


def with_crlf(data: bytes) -> bytes:
    """``data`` with every bare LF made CRLF (bare CR left alone). Mail from an MTA has CRLF
    line ends already: two counts in C tell, and the copy by regular expression (costly on
    a large body) is made only for a file saved on Unix."""
    if data.count(b"\n") == data.count(_CRLF):
        return data
    return _BARE_LF.sub(_CRLF, data)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _field(current: tuple[bytes, list[bytes]]) -> tuple[str, str]:
    name, lines = current
    return _decode(name), _decode(_CRLF.join(lines))


def _canonical_name(name: str) -> str:
    """Header names compare case-insensitively, ignoring obsolete WSP before the colon."""
    return name.rstrip(" \t").lower()


@dataclass(frozen=True)
class Message:
    """An immutable message: ``headers`` in order, ``body`` bytes exactly as received.

    ``headers`` holds (name, raw value) pairs; raw value is everything after
    the colon up to, not including, the CRLF that ends the field.
    ``separator`` is the blank line between header section and body: CRLF
    normally, empty when the input had none (see the module docstring), so
    that :meth:`as_bytes` reproduces any CRLF input exactly.
    """

    headers: tuple[tuple[str, str], ...]
    body: bytes
    separator: bytes = _CRLF

    @classmethod
    def from_bytes(cls, raw: bytes) -> Message:
        """Parse a whole message. Never raises; junk becomes body."""
        data = with_crlf(raw)
        headers: list[tuple[str, str]] = []
        # The open field: its name and the lines of its value, joined when it is complete
        # (appending to the value per continuation line would copy it every time, which
        # is quadratic in a field folded over thousands of lines).
        current: tuple[bytes, list[bytes]] | None = None
        pos = 0
        size = len(data)
        while pos < size:
            end = data.find(_CRLF, pos)
            if end < 0:
                end = size
            line = data[pos:end]
            if not line:
                if current is not None:
                    headers.append(_field(current))
                return cls(tuple(headers), data[end + 2 :], _CRLF)
            if line[:1] in (b" ", b"\t") and current is not None:
                current[1].append(line)
            else:
                match = _HEADER_START.match(line)
                if match is None:
                    break
                if current is not None:
                    headers.append(_field(current))
                current = (match.group(1), [line[match.end() :]])
            pos = end + 2
        if current is not None:
            headers.append(_field(current))
        return cls(tuple(headers), data[pos:] if pos < size else b"", b"")

    @classmethod
    def from_milter(
        cls,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        leading_space_included: bool = False,
    ) -> Message:
        """Rebuild a message from milter header callbacks and the body chunks joined.

        libmilter delivers each value without the one space after the colon
        (Postfix and Sendmail eat it unless the milter negotiated
        SMFIP_HDR_LEADSPC; pass ``leading_space_included=True`` then), and
        with folded lines separated by "\\n" (sometimes "\\r\\n"). We put CRLF
        folding back and restore the eaten space. That space is ambiguous
        (``Name:x`` and ``Name: x`` arrive alike), so we assume the common
        form: a space before a value that starts with a visible character or
        with a space, none before an empty value or one that starts with a
        tab or a line break.
        """
        rebuilt: list[tuple[str, str]] = []
        for name, value in headers:
            value = value.replace("\r\n", "\n").replace("\n", "\r\n")
            if not leading_space_included and _space_was_eaten(value):
                value = " " + value
            rebuilt.append((name, value))
        return cls(tuple(rebuilt), body, _CRLF)

    def as_bytes(self) -> bytes:
        """The message on the wire: header fields with CRLF, separator, body."""
        parts = [_encode(name) + b":" + _encode(value) + _CRLF for name, value in self.headers]
        parts.append(self.separator)
        parts.append(self.body)
        return b"".join(parts)

    def get_all(self, name: str) -> list[str]:
        """Unfolded values of every field called ``name`` (case-insensitive), in order."""
        wanted = _canonical_name(name)
        return [
            _FOLD.sub("", value).strip(" \t")
            for field_name, value in self.headers
            if _canonical_name(field_name) == wanted
        ]

    def get(self, name: str) -> str | None:
        """The unfolded value of the first field called ``name``, or None."""
        wanted = _canonical_name(name)
        for field_name, value in self.headers:
            if _canonical_name(field_name) == wanted:
                return _FOLD.sub("", value).strip(" \t")
        return None

    def count(self, name: str) -> int:
        wanted = _canonical_name(name)
        return sum(1 for field_name, _ in self.headers if _canonical_name(field_name) == wanted)

    def email(self) -> EmailMessage:
        """The message parsed by Python's email package (policy.default), for MIME walking.

        Parsed once per Message and cached; treat the result as read-only,
        since every caller shares it. The parser raises on some hostile
        structure (RecursionError) and is slow on very many parts: mail from
        outside is read through ``detect.textextract.read_text``, which checks
        the shape first.
        """
        parsed = self.__dict__.get("_parsed")
        if parsed is None:
            if len(self.body) > _PARSE_SLICE:
                parsed = self._parse_in_slices()
            else:
                parsed = BytesParser(policy=_PARSE_POLICY).parsebytes(self.as_bytes())
            # A plain memo in the instance __dict__ (a frozen dataclass without slots
            # allows it; eq/hash only look at fields), not functools.cached_property:
            # on Python 3.11 that takes one lock per class, so one slow parse would
            # hold up every other message in every thread. Two threads parsing the
            # same Message at once both parse; the later result is kept.
            object.__setattr__(self, "_parsed", parsed)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def _parse_in_slices(self) -> EmailMessage:
        """Parse a large message without serializing it first: the parser gets the header
        section, then the body in 1 MiB slices (it decodes what it is fed to text, so one
        large input would be held three times: bytes, text and lines)."""
        parser = BytesFeedParser(policy=_PARSE_POLICY)
        parser.feed(Message(self.headers, b"", self.separator).as_bytes())
        for start in range(0, len(self.body), _PARSE_SLICE):
            parser.feed(self.body[start : start + _PARSE_SLICE])
        parsed = parser.close()
        assert isinstance(parsed, EmailMessage)
        return parsed

    def without_headers(self, predicate: Callable[[str, str], bool]) -> Message:
        """A copy without the fields for which ``predicate(name, raw_value)`` is true.

        ``name`` is passed without obsolete whitespace before the colon (as
        written otherwise), so a forged ``X-Header :`` can not slip past a
        name comparison.
        """
        kept = tuple(
            (name, value)
            for name, value in self.headers
            if not predicate(name.rstrip(" \t"), value)
        )
        return Message(kept, self.body, self.separator)


def _space_was_eaten(value: str) -> bool:
    if not value:
        return False
    return value[0] not in "\t\r\n"
