"""The MIME header fields of one entity, read leniently from raw bytes; never raising.

The header-field half of the tolerant reader (:mod:`spoofwatch.mime` walks the
structure): :func:`read_headers` finds an entity's header section in the body bytes, and
:func:`parse_fields` reads its Content-Type (type, charset, boundary, RFC 2231 parameters)
and Content-Transfer-Encoding. Both are linear in the (capped) sizes they read.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EOL", "MAX_FIELD_CHARS", "MAX_HEADER_BLOCK", "Fields", "parse_fields",
           "read_headers"]

# One part's header section: real ones are a few hundred bytes. Beyond this the rest is
# read as the part's body (the way a header section without its empty line ends).
MAX_HEADER_BLOCK = 64 * 1024
# A Content-Type value longer than this is hostile; only its start is read.
MAX_FIELD_CHARS = 8 * 1024

EOL = re.compile(rb"\r\n|\r|\n")
_HEADER_START = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_PARAM = re.compile(r'[ \t]*([^\s=;"]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


@dataclass(frozen=True)
class Fields:
    """What the reader needs of one entity's header section, parsed leniently."""

    content_type: str  # "type/subtype", lower case; the default when absent or invalid
    charset: str  # "" when not declared
    boundary: str  # "" when not declared
    cte: str  # Content-Transfer-Encoding, lower case; "" when absent

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]


def _strip_comments(value: str) -> str:
    """``value`` without RFC 5322 comments (nested parentheses), iteratively."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if not depth:
                out.append(char)
            continue
        if depth:
            depth += 1 if char == "(" else -1 if char == ")" else 0
            continue
        if char == '"':
            quoted = not quoted
        elif char == "(" and not quoted:
            depth = 1
            continue
        out.append(char)
    return "".join(out)


def _params(text: str) -> dict[str, str]:
    """Parameters after the type, RFC 2231 continuations and charsets included."""
    plain: dict[str, str] = {}
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    pos = 0
    while pos < len(text):
        semi = text.find(";", pos)
        match = _PARAM.match(text, pos)
        if match is None or (semi >= 0 and match.start(1) > semi):
            if semi < 0:
                break
            pos = semi + 1
            continue
        key = match.group(1).lower()
        quoted = match.group(2)
        value = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else (
            match.group(3) or "").strip()
        pos = match.end()
        name, star, rest = key.partition("*")
        if not star:
            plain.setdefault(name, value)
            continue
        index_text, _, extended = rest.partition("*")
        index = int(index_text) if index_text.isdigit() and len(index_text) < 4 else 0
        sections.setdefault(name, []).append((index, bool(extended) or not index_text,
                                              value))
    for name, pieces in sections.items():
        if name in plain:
            continue
        pieces.sort(key=lambda piece: piece[0])
        charset = ""
        decoded: list[str] = []
        for number, (_, extended, value) in enumerate(pieces):
            if extended:
                if number == 0 and value.count("'") >= 2:
                    charset, _language, value = value.split("'", 2)
                usable = charset if _codec_ok(charset) else ""
                value = urllib.parse.unquote(value, encoding=usable or "utf-8",
                                             errors="replace")
            decoded.append(value)
        plain[name] = "".join(decoded)
    return plain


def _codec_ok(name: str) -> bool:
    if not name:
        return True
    try:
        "".encode(name)
    except (LookupError, ValueError):
        return False
    return True


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "").strip(" \t")


def parse_fields(headers: Sequence[tuple[str, str]], default: str) -> Fields:
    """The MIME fields of one entity; never raises, linear in the (capped) field sizes.

    The first Content-Type and Content-Transfer-Encoding count, as in the standard parser.
    A Content-Type that is not ``type/subtype`` gives ``default`` (RFC 2045 5.2).
    """
    ctype_raw: str | None = None
    cte_raw: str | None = None
    for name, value in headers:
        key = name.rstrip(" \t").lower()
        if key == "content-type" and ctype_raw is None:
            ctype_raw = value[:MAX_FIELD_CHARS]
        elif key == "content-transfer-encoding" and cte_raw is None:
            cte_raw = value[:MAX_FIELD_CHARS]
    content_type, params = default, {}
    if ctype_raw is not None:
        head, _, rest = _strip_comments(_unfold(ctype_raw)).partition(";")
        head = head.strip().lower()
        if _TYPE.fullmatch(head):
            content_type = head
            params = _params(rest)
    cte = ""
    if cte_raw is not None:
        words = _strip_comments(_unfold(cte_raw)).split()
        cte = words[0].lower() if words else ""
    return Fields(content_type, params.get("charset", "").strip(), params.get("boundary", ""),
                  cte)


def read_headers(body: bytes, pos: int) -> tuple[list[tuple[str, str]], int]:
    """(fields, body start) of the entity whose header section starts at ``pos``.

    The section ends at an empty line (consumed) or at the first line that is not a
    header field (which then starts the body), or after MAX_HEADER_BLOCK bytes.
    """
    # (name, lines of the value): joined once at the end, since appending to a string
    # per continuation line would copy it every time (quadratic in a folded field)
    fields: list[tuple[bytes, list[bytes]]] = []
    limit = min(len(body), pos + MAX_HEADER_BLOCK)
    while pos < limit:
        eol = EOL.search(body, pos, limit)
        end, after = (eol.start(), eol.end()) if eol else (limit, limit)
        line = body[pos:end]
        if not line:
            return _joined(fields), after
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
        else:
            match = _HEADER_START.match(line)
            if match is None:
                return _joined(fields), pos
            fields.append((match.group(1), [line[match.end():]]))
        pos = after
    return _joined(fields), pos


def _joined(fields: list[tuple[bytes, list[bytes]]]) -> list[tuple[str, str]]:
    return [(_text(name), _text(b"\r\n".join(lines))) for name, lines in fields]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
