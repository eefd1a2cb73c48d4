"""Make attacker-controlled text safe to show, log and put into header fields.

Every string that came from a message (display names, subjects, domains, DKIM
tags, ...) may carry CR/LF (header injection), control characters, terminal
escape sequences, bidi overrides or bytes that are not UTF-8 (kept as lone
surrogates by the ``surrogateescape`` decoding in :mod:`spoofwatch.message`).
These helpers never raise on such input.

Folding for milters
-------------------
libmilter's ``smfi_addheader``/``smfi_chgheader`` (pymilter ``addheader`` /
``chgheader``) take the header *value* only. A multi-line value must separate
its lines with a bare LF followed by whitespace; the MTA (Postfix, Sendmail)
turns each LF into CRLF when it writes the message. Sending CRLF yourself
leaves a stray CR in the queue file. So :func:`fold_header` defaults to
``linesep="\\n"``; pass ``linesep="\\r\\n"`` when writing a message file
yourself.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

__all__ = ["ascii_safe", "decode_words", "fold_header", "terminal_safe", "utf8_safe"]

_ELLIPSIS = "..."

_NAMED_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\\": "\\\\"}


def _escape_char(ch: str) -> str:
    """One character as printable ASCII; escapes are unambiguous because '\\' is escaped too."""
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return ch
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not valid UTF-8, kept by surrogateescape: show the byte.
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def ascii_safe(text: str, max_len: int = 200) -> str:
    """Return ``text`` as printable ASCII of at most ``max_len`` characters.

    Non-ASCII characters are escaped as ``\\uXXXX`` (``\\UXXXXXXXX`` beyond the
    BMP), undecodable bytes as ``\\xNN``, controls as ``\\r``, ``\\n``, ``\\t``
    or ``\\xNN``, and a backslash as ``\\\\``. We escape rather than
    transliterate on purpose: transliteration would turn a Cyrillic "а" into
    nothing or into "a" and hide exactly the homoglyph a reader needs to see.
    A result that would be longer than ``max_len`` is cut at a whole escape
    and ends with "...".
    """
    if max_len <= 0:
        return ""
    pieces: list[str] = []
    length = 0
    for ch in text:
        piece = _escape_char(ch)
        pieces.append(piece)
        length += len(piece)
        if length > max_len:
            return _truncate(pieces, max_len)
    return "".join(pieces)


def utf8_safe(text: str) -> str:
    """``text`` with each lone surrogate escaped, so it always encodes as UTF-8.

    A byte that was not UTF-8 (kept as U+DC80-U+DCFF by ``surrogateescape``, as DNS TXT
    records are) is shown as the byte, ``\\xff``; any other lone surrogate as ``\\udXXX``.
    Everything else stays as it is (for HTML, which escapes its own markup).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape_char(ch) if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def _truncate(pieces: list[str], max_len: int) -> str:
    if max_len <= len(_ELLIPSIS):
        return _ELLIPSIS[:max_len]
    budget = max_len - len(_ELLIPSIS)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > budget:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + _ELLIPSIS


# ECMA-48 sequences introduced by ESC: CSI (ESC [) with parameters and a final
# byte; OSC/DCS/SOS/PM/APC strings (ESC ] P X ^ _) ended by BEL or ST (ESC \ or
# U+009C); two-character escapes (ESC + one byte, with optional intermediates).
# A string without its terminator is not swallowed to the end of the text (that
# hid the rest of a message from the reviewer): only ESC and its introducer go
# (third branch) and the rest, plain text once the ESC is gone, is shown.
# Linear time: a string body cannot contain ESC, so the bodies scanned from
# successive ESCs never overlap, and no other part can repeat.
# The 8-bit C1 forms (U+009B CSI, U+009D OSC ...) are not treated as sequences:
# in mail they are almost always mislabelled Windows-1252 or ISO-8859-1 text, so
# terminal_safe shows each one escaped ("\x9d") and keeps what follows it.
_TERMINAL_SEQUENCE = re.compile(
    r"""
      \x1b\[ [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?
    | \x1b[\]PX^_] [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)
    | \x1b [\x20-\x2f]* [\x30-\x7e]?
    """,
    re.VERBOSE,
)

# Bidi embedding/override/isolate controls and marks: they reorder what the
# reader sees ("moc.kcabyap" shown as "paypal.com").
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def terminal_safe(text: str) -> str:
    """Strip terminal escape sequences, bidi controls and other control characters.

    Newlines and tabs stay (the text may be multi-line); CR goes because it
    lets text overwrite what was printed before it on the same line. Printable
    non-ASCII stays. C1 controls (U+0080-U+009F) are shown escaped as ``\\x9d``
    and undecodable bytes (lone surrogates from ``surrogateescape``) as the
    byte, ``\\xff``: the reader sees that something odd is there, a terminal
    never acts on it, printing cannot fail with an encoding error, and the text
    after it is shown.
    """
    text = _TERMINAL_SEQUENCE.sub("", text)
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in ("\n", "\t"):
            out.append(ch)
        elif 0x80 <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            continue
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


# Blanks before a line break are taken only from the start of their run (the second
# branch takes a break whose blanks the previous match used): a bare leading "[ \t]*"
# rescans a long run of spaces from each of its positions (quadratic).
_LINE_BREAKS = re.compile(r"(?<![ \t])[ \t]*(?:\r\n|\r|\n)[ \t]*|(?:\r\n|\r|\n)[ \t]*")


def fold_header(name: str, value: str, width: int = 78, linesep: str = "\n") -> str:
    """Fold ``value`` for a header called ``name`` at whitespace (RFC 5322 2.2.3).

    Returns the value only (what a milter's addheader wants), with ``linesep``
    inserted before a space or tab wherever the line, counting "Name: " on the
    first line, would pass ``width``. Unfolding (removing ``linesep``) gives the
    input back. Line breaks already in the value are collapsed to one space and
    anything not printable ASCII is escaped as by :func:`ascii_safe`, so the
    result can never start a new header field. A word longer than ``width``
    stays whole: RFC 5322 allows folding only at whitespace.
    """
    value = _LINE_BREAKS.sub(" ", value)
    if not _is_printable_ascii(value):
        value = "".join(_escape_char(ch) if ch != "\t" else ch for ch in value)
    width = max(width, 1)
    lines: list[str] = []
    current = ""
    current_start = len(name) + 2  # "Name: "
    for token in re.findall(r"[ \t]*[^ \t]+|[ \t]+$", value):
        if current and current_start + len(current) + len(token) > width and token[0] in " \t":
            lines.append(current)
            current = token
            current_start = 0
        else:
            current += token
    lines.append(current)
    return linesep.join(lines)


def _is_printable_ascii(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F or ch == "\t" for ch in value)


# RFC 2047 encoded-word; RFC 2231 allows "charset*language".
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words in ``value``; never raises.

    Whitespace between two adjacent encoded-words is dropped (RFC 2047 6.2).
    An encoded-word with an unknown charset or broken encoding is left as it
    is, and bytes that do not decode in the declared charset become U+FFFD.
    Encoded-words are decoded wherever they appear (also inside quoted
    strings, which RFC 2047 forbids but common mail clients display decoded),
    because what matters here is what a reader is shown.
    """
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if "=?" not in value:
        return value
    parts: list[str] = []
    pos = 0
    previous_decoded = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        decoded = _decode_one(match)
        if decoded is not None and previous_decoded and gap.strip(" \t") == "":
            gap = ""
        parts.append(gap)
        parts.append(match.group(0) if decoded is None else decoded)
        previous_decoded = decoded is not None
        pos = match.end()
    parts.append(value[pos:])
    return "".join(parts)


def _decode_one(match: re.Match[str]) -> str | None:
    charset, encoding, text = match.group(1), match.group(2).upper(), match.group(3)
    try:
        codecs.lookup(charset)
        data = _decode_b(text) if encoding == "B" else _decode_q(text)
        if data is None:
            return None
        return data.decode(charset, errors="replace")
    except Exception:  # noqa: BLE001 - any codec failure leaves the word undecoded
        # Unknown charset, a codec that is not a text encoding (e.g. "zlib"),
        # one that refuses errors="replace" (e.g. "idna"), or any other codec
        # registered in the process misbehaving on hostile input.
        return None


def _decode_b(text: str) -> bytes | None:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        return None


def _decode_q(text: str) -> bytes | None:
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "_":
            out.append(0x20)
        elif ch == "=" and _is_hex(text[i + 1 : i + 3]):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 2
        elif ord(ch) < 0x80 and not (0xDC80 <= ord(ch) <= 0xDCFF):
            out.append(ord(ch))
        else:
            return None
        i += 1
    return bytes(out)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)
