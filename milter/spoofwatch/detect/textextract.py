"""The text a reader sees, and the form threat patterns are matched against.

:func:`extract_text` undoes what hides words from a filter but not from a reader:
transfer encodings, charsets (declared wrongly or not at all), HTML markup between
letters, character references, forwarded messages. :func:`normalize_text` then undoes
the Unicode tricks: zero-width and bidi characters, fullwidth and mathematical letters,
Cyrillic/Greek/other look-alike letters, digits written for letters.

Both functions work on attacker-controlled input and are bounded: they never raise and
their running time is linear in the (capped) size of what they read.

:func:`read_text` is what the threat check uses on a :class:`spoofwatch.message.Message`:
the standard parser reads mail of ordinary shape; mail it must not be given (more parts
or nesting than :mod:`spoofwatch.mime` allows) or cannot read (it raised) is read by the
tolerant reader of :mod:`spoofwatch.mime`, and what could not be read the normal way is
reported, so a message we could not fully read is never rated lower than one we could.
"""

from __future__ import annotations

import binascii
import codecs
import itertools
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from .. import message as rawmessage
from ..mime import (
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    Leaf,
    LimitReached,
    RawText,
    Subject,
    exceeds_parser_limits,
    walk,
)
from ..text import LEET, TYPOGRAPHY, reading
from ..textsafe import decode_words

log = logging.getLogger(__name__)

__all__ = ["TextReading", "Unreadable", "extract_text", "html_to_text", "normalize_text",
           "read_text", "read_text_tolerant"]

# Bounds on hostile structure: the limits of spoofwatch.mime (the reasons are there).
# extract_text skips what lies beyond them; read_text hands such mail to the tolerant
# reader, which reads it as raw text and says so.
_MAX_PARTS = MAX_MIME_PARTS
_MAX_DEPTH = MAX_MIME_DEPTH
# How much of one part's source is read, relative to max_chars. HTML carries markup, so
# its source may be much longer than the text it renders to.
_TEXT_SOURCE_FACTOR = 2
_HTML_SOURCE_FACTOR = 8
_PIECE_SEPARATOR = "\n\n"

# ----------------------------------------------------------------------------------------
# Decoding bytes


# Codecs that are "text encodings" to Python but interpret their input as escape
# sequences or refuse errors="replace"; no real mail charset names them.
_REFUSED_CODECS = frozenset({"unicode_escape", "raw_unicode_escape", "idna", "punycode",
                             "undefined"})
_ASCII_NAMES = frozenset({"", "us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968"})


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text in ``charset``; undecodable bytes become U+FFFD. Never raises.

    An unknown charset name, or none at all, is read as UTF-8: most mail is, and
    ASCII is a subset of it. A declared charset that is wrong yields replacement
    characters where its bytes do not fit, which is what a reader would see.
    """
    name = (charset or "").strip().strip("\"'").strip().lower()
    if name in _ASCII_NAMES:
        # Undeclared or "us-ascii" 8-bit mail is in practice UTF-8 more often than not.
        return data.decode("utf-8", errors="replace")
    try:
        info = codecs.lookup(name)
        if info.name.replace("-", "_") in _REFUSED_CODECS:
            raise LookupError(name)
        return data.decode(info.name, errors="replace")
    except Exception:  # noqa: BLE001 - unknown names, non-text codecs, misbehaving codecs
        log.debug("charset %r not usable; decoding as UTF-8", name[:40])
        return data.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------------------
# HTML to text

# html.parser rescans the rest of the document for every '<' that does not close
# (quadratic: 200 kB of "<a" takes 20 s in CPython 3.11), and for "<![" marked sections.
# A '<' with no '>' before the next '<' cannot start a tag, so it becomes "&lt;"; so does
# every "<![" (conditional comments of Outlook mail live inside <!-- --> and are not
# affected). After this every tag the parser sees ends before the next '<'.
_UNCLOSED_LT = re.compile(r"<(?:(?![^<>]*>)|(?=!\[))")
# A numeric character reference with thousands of digits makes html.unescape raise
# ValueError (int() digit limit). Leading zeros are dropped; what stays too long cannot
# name a character and becomes U+FFFD.
_NUMERIC_REF = re.compile(r"&#(?:([xX])0*([0-9a-fA-F]+)|0*([0-9]+))")

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div",
    "dl", "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "option", "p", "pre", "section", "table",
    "tbody", "thead", "tfoot", "title", "tr", "ul",
})
_CELL_TAGS = frozenset({"td", "th"})
_DROPPED_TAGS = frozenset({"script", "style"})
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")


def _sanitize_markup(markup: str) -> str:
    def numeric(match: re.Match[str]) -> str:
        hexa, hex_digits, dec_digits = match.group(1), match.group(2), match.group(3)
        digits = hex_digits if hexa else dec_digits
        if len(digits) > 8:
            return "&#65533"
        return f"&#{hexa or ''}{digits}"

    markup = _UNCLOSED_LT.sub("&lt;", markup)
    return _NUMERIC_REF.sub(numeric, markup)


@dataclass
class _RenderState:
    out: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    dropped: int = 0  # inside script/style
    pre: int = 0  # inside <pre>: whitespace is kept


class _HtmlText(HTMLParser):
    """Renders HTML roughly as a mail client shows it.

    Inline tags add nothing (so ``<b>v</b>ote`` reads "vote"); block tags break lines;
    script and style contents are dropped; ``alt`` text stands in place of its image;
    ``title`` attributes (tooltips) are collected and appended after the body so they
    cannot split a word of the text around them.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.state = _RenderState()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        st = self.state
        if tag in _DROPPED_TAGS:
            st.dropped += 1
            return
        if tag == "pre":
            st.pre += 1
        if tag in _BLOCK_TAGS:
            st.out.append("\n")
        elif tag in _CELL_TAGS:
            st.out.append(" ")
        for name, value in attrs:
            if not value:
                continue
            if name == "alt" and tag in ("img", "area", "input"):
                st.out.append(f" {value} ")
            elif name == "title":
                st.titles.append(value)

    def handle_endtag(self, tag: str) -> None:
        st = self.state
        if tag in _DROPPED_TAGS:
            st.dropped = max(0, st.dropped - 1)
            return
        if tag == "pre":
            st.pre = max(0, st.pre - 1)
        if tag in _BLOCK_TAGS:
            st.out.append("\n")
        elif tag in _CELL_TAGS:
            st.out.append(" ")

    def handle_data(self, data: str) -> None:
        st = self.state
        if st.dropped:
            return
        st.out.append(data if st.pre else _HTML_SPACE.sub(" ", data))


def html_to_text(markup: str) -> str:
    """The text of an HTML document as a reader sees it. Never raises; linear time."""
    parser = _HtmlText()
    try:
        parser.feed(_sanitize_markup(markup))
        parser.close()
    except Exception:
        log.debug("HTML parsing stopped early; keeping what was rendered", exc_info=True)
    st = parser.state
    text = "".join(st.out).strip()
    if st.titles:
        text += "\n\n" + "\n".join(st.titles)
    # Linear form of r"[ \t]*\n[ \t]*" (that one rescans a long run of spaces from each
    # of its positions); same result.
    text = re.sub(r"(?<![ \t])[ \t]*\n[ \t]*|\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ----------------------------------------------------------------------------------------
# Walking the MIME tree


@dataclass
class _Budget:
    max_chars: int
    parts_left: int = _MAX_PARTS
    chars: int = 0
    pieces: list[str] = field(default_factory=list)
    # what the standard parser's walk could not read: "limit" or "part" per occurrence
    failures: list[str] = field(default_factory=list)

    def full(self) -> bool:
        return self.chars >= self.max_chars or self.parts_left <= 0

    def room(self) -> int:
        return max(0, self.max_chars - self.chars)

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
            self.pieces.append(text)
            self.chars += len(text) + len(_PIECE_SEPARATOR)

    def text(self) -> str:
        return _PIECE_SEPARATOR.join(self.pieces)[: self.max_chars]


def _subject(msg: Message) -> str:
    """The Subject as shown to a reader: RFC 2047 encoded-words decoded, never raising.

    The raw header value is used (not the policy's parsed header object) because the
    email package's header parsing can raise or recurse deeply on hostile values.
    """
    try:
        for name, value in msg.raw_items():
            if name.lower() == "subject" and isinstance(value, str):
                return decode_words(value[: 16 * 1024])
    except Exception:
        log.debug("subject unreadable", exc_info=True)
    return ""


def _leaf_text(part: Message, max_chars: int) -> str | None:
    """Decoded text of a text/plain or text/html leaf part ("" for anything else).

    None when the part is text but its payload could not be read.
    """
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001 - hostile Content-Type values
        ctype = "text/plain"
    if ctype not in ("text/plain", "text/html"):
        return ""
    is_html = ctype == "text/html"
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        log.debug("payload not decodable", exc_info=True)
        return None
    if isinstance(payload, str):
        payload = payload.encode("utf-8", errors="replace")
    if not isinstance(payload, bytes):
        return ""
    factor = _HTML_SOURCE_FACTOR if is_html else _TEXT_SOURCE_FACTOR
    payload = payload[: max_chars * factor]
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - hostile parameter syntax
        charset = None
    text = _decode_bytes(payload, charset)
    return html_to_text(text) if is_html else text


def _walk(root: Message, budget: _Budget) -> None:
    """Depth-first, iteratively (no recursion on attacker-chosen depth).

    A part that raises is skipped and noted in ``budget.failures`` ("part"), and so are a
    limit reached ("limit") and a multipart without a boundary ("boundary"): the caller
    decides whether another reader must take over.
    """
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack and not budget.full():
        part, depth = stack.pop()
        budget.parts_left -= 1
        children: list[Message] = []
        try:
            if part.is_multipart():
                payload = part.get_payload()
                children = [p for p in payload if isinstance(p, Message)] if isinstance(
                    payload, list) else []
                if part.get_content_type() == "message/rfc822":
                    # A forwarded message: its subject is part of what the reader sees.
                    for inner in children:
                        budget.add(_subject(inner))
            elif part.get_content_maintype() == "multipart":
                # multipart without a usable boundary (the parser keeps its body as one
                # string): only the tolerant reader reads such a body, and reports it.
                budget.failures.append("boundary")
            else:
                text = _leaf_text(part, budget.max_chars - budget.chars)
                if text is None:
                    budget.failures.append("part")
                budget.add(text or "")
        except Exception:
            log.debug("part skipped", exc_info=True)
            budget.failures.append("part")
            continue
        if depth + 1 > _MAX_DEPTH:
            if children:
                budget.failures.append("limit")
            continue
        # Reversed so the stack pops children in document order.
        stack.extend((child, depth + 1) for child in reversed(children))
    if stack and budget.parts_left <= 0:
        budget.failures.append("limit")


def extract_text(msg: EmailMessage | Message, max_chars: int = 200_000) -> str:
    """The decoded Subject and the text of every text/plain and text/html part.

    Transfer encodings and charsets are decoded (unknown or wrong charsets give U+FFFD,
    never an error), HTML is rendered to text, attached message/rfc822 parts are read
    recursively (their Subject too). At most ``max_chars`` characters are returned and
    at most a bounded number of parts and nesting levels are visited. Never raises.
    """
    budget = _Budget(max_chars=max(0, max_chars))
    try:
        budget.add(_subject(msg))
        _walk(msg, budget)
    except Exception:
        log.debug("text extraction stopped early", exc_info=True)
        budget.failures.append("part")
    return budget.text()


# ----------------------------------------------------------------------------------------
# Reading a whole message: the standard parser where it is safe, else the tolerant reader


@dataclass(frozen=True)
class Unreadable:
    """Something that stopped the normal reading of a message (an unreadable_structure)."""

    limit: str  # "mime_parts", "mime_depth", "mime_boundary", "mime_parser", "mime_part",
    # "mime_reader"
    sentence: str  # a plain sentence for the reasons
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TextReading:
    text: str
    unreadable: tuple[Unreadable, ...] = ()


_LIMIT_SENTENCES = {
    "mime_parts": (MAX_MIME_PARTS, "The message has more than {n} MIME parts; the parts "
                                   "after the {n}th were read as raw text."),
    "mime_depth": (MAX_MIME_DEPTH, "The MIME structure is nested deeper than {n} levels; "
                                   "the deeper parts were read as raw text."),
    "mime_boundary": (0, "A multipart part declares no usable boundary; its body was read "
                         "as raw text."),
}
# Raw text (past a limit, or a part that could not be decoded) is read at most this many
# times the remaining character budget, after MIME delimiter and header lines are dropped.
_RAW_SOURCE_FACTOR = 32
_RAW_STRUCTURE_LINE = re.compile(
    rb"(?im)^(?:--[^\r\n]*|(?:content-[a-z0-9-]*|mime-version)[ \t]*:[^\r\n]*)(?:\r\n|\r|\n)?")
_LOOKS_LIKE_HTML = re.compile(rb"<(?:[a-zA-Z][a-zA-Z0-9]*[\s/>]|!--)")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")


def _limit_unreadable(event: LimitReached) -> Unreadable:
    value, sentence = _LIMIT_SENTENCES[event.limit]
    detail = (("limit", event.limit),) + ((("max", str(event.value)),) if value else ())
    return Unreadable(event.limit, sentence.format(n=value), detail)


def _raw_text(data: bytes, room: int) -> str:
    """Bytes read as plain text, the last resort: MIME delimiter and header lines dropped,
    HTML rendered if it looks like HTML, empty lines and repeats of the line before dropped.

    Dropping repeats loses nothing a threat score counts (a category counts fifty copies
    like one) and keeps padding (a hundred thousand parts of "x" in front of the threat)
    from filling the character budget before the text that matters.
    """
    data = _RAW_STRUCTURE_LINE.sub(b"", data[: room * _RAW_SOURCE_FACTOR])
    data = data[: room * _HTML_SOURCE_FACTOR]
    text = data.decode("utf-8", errors="replace")
    if _LOOKS_LIKE_HTML.search(data):
        text = html_to_text(text)
    lines = (line for line, _ in itertools.groupby(filter(None, map(str.strip,
                                                                     text.splitlines()))))
    return "\n".join(lines)[: room * 2]


def _transfer_decode(data: bytes, cte: str) -> bytes:
    """Undo a transfer encoding leniently (junk characters skipped, padding repaired)."""
    if cte == "base64":
        clean = _NOT_BASE64.sub(b"", data)
        rest = len(clean) % 4
        if rest == 1:
            clean = clean[:-1]
        elif rest:
            clean += b"=" * (4 - rest)
        return binascii.a2b_base64(clean)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _tolerant_leaf_text(leaf: Leaf, body: bytes, room: int) -> str:
    ctype = leaf.fields.content_type
    if ctype not in ("text/plain", "text/html"):
        return ""
    is_html = ctype == "text/html"
    cap = room * (_HTML_SOURCE_FACTOR if is_html else _TEXT_SOURCE_FACTOR)
    # Encoded source is longer than what it decodes to (base64 4:3, plus line breaks).
    source = body[leaf.start:min(leaf.end, leaf.start + 2 * cap + 1024)]
    payload = _transfer_decode(source, leaf.fields.cte)[:cap]
    text = _decode_bytes(payload, leaf.fields.charset or None)
    return html_to_text(text) if is_html else text


def _root_subject(headers: tuple[tuple[str, str], ...]) -> str:
    for name, value in headers:
        if name.rstrip(" \t").lower() == "subject":
            return _subject_text(value)
    return ""


def _subject_text(value: str) -> str:
    try:
        return decode_words(re.sub(r"\r?\n", "", value[: 16 * 1024]))
    except Exception:  # a subject never stops the reading
        log.debug("subject unreadable", exc_info=True)
        return ""


def _read_tolerant(message: rawmessage.Message, budget: _Budget,
                   problems: list[Unreadable]) -> None:
    """Read ``message`` with the tolerant walker; failures are caught per part."""
    body = message.body
    budget.add(_root_subject(message.headers))
    try:
        for event in walk(message.headers, body):
            if budget.full():
                return
            if isinstance(event, LimitReached):
                problems.append(_limit_unreadable(event))
            elif isinstance(event, Subject):
                budget.add(_subject_text(event.value))
            elif isinstance(event, RawText):
                budget.add(_raw_text(body[event.start:event.end], budget.room()))
            else:
                _read_leaf(event, body, budget, problems)
    except Exception:
        # A defect of the walker itself must not cost the text: read the body as raw text.
        log.warning("tolerant MIME reader failed; reading the raw text", exc_info=True)
        problems.append(Unreadable(
            "mime_reader", "The MIME structure could not be followed; the message was read "
            "as raw text.", (("limit", "mime_reader"),)))
        budget.add(_raw_text(body, budget.room()))


def _read_leaf(leaf: Leaf, body: bytes, budget: _Budget, problems: list[Unreadable]) -> None:
    try:
        budget.add(_tolerant_leaf_text(leaf, body, budget.room()))
    except Exception as exc:
        log.debug("MIME part not decodable; reading its raw text", exc_info=True)
        problems.append(Unreadable(
            "mime_part", f"A {leaf.fields.content_type} part could not be decoded "
            f"({type(exc).__name__}); its raw text was read instead.",
            (("limit", "mime_part"), ("error", type(exc).__name__))))
        budget.add(_raw_text(body[leaf.start:leaf.end], budget.room()))


def _read_standard(message: rawmessage.Message, budget: _Budget,
                   problems: list[Unreadable]) -> bool:
    """Read ``message`` with the standard parser; False when the tolerant reader must."""
    try:
        parsed = message.email()
    except Exception as exc:  # noqa: BLE001 - RecursionError on hostile parameters or nesting
        log.info("standard MIME parser failed (%s); using the tolerant reader",
                 type(exc).__name__)
        problems.append(Unreadable(
            "mime_parser", f"The standard MIME parser could not read the message "
            f"({type(exc).__name__}); its text was read by the tolerant reader.",
            (("limit", "mime_parser"), ("error", type(exc).__name__))))
        return False
    budget.add(_subject(parsed))
    try:
        _walk(parsed, budget)
    except Exception:
        log.debug("standard walk stopped", exc_info=True)
        budget.failures.append("part")
    if not budget.failures:
        return True
    failed = budget.failures.count("part")
    if failed:
        problems.append(Unreadable(
            "mime_part", f"{failed} MIME part(s) could not be read by the standard parser; "
            "the message was read by the tolerant reader.",
            (("limit", "mime_part"), ("parts", str(failed)))))
    # A limit reached here is reported by the tolerant reader, which reads past it.
    return False


def read_text(message: rawmessage.Message, max_chars: int = 200_000) -> TextReading:
    """The text a reader sees (as :func:`extract_text`), and what could not be read.

    Mail whose shape could exceed the MIME limits never reaches the standard parser (it
    is what is slow on such mail); mail on which it raises or a part of which it cannot
    read is read again by the tolerant reader. Never raises; linear time.
    """
    problems: list[Unreadable] = []
    if not exceeds_parser_limits(message.body):
        budget = _Budget(max_chars=max(0, max_chars))
        if _read_standard(message, budget, problems):
            return TextReading(budget.text())
    return read_text_tolerant(message, max_chars, tuple(problems))


def read_text_tolerant(message: rawmessage.Message, max_chars: int = 200_000,
                       problems: tuple[Unreadable, ...] = ()) -> TextReading:
    """The text a reader sees, read by the tolerant reader alone (``problems``: what was
    found before; what this reading meets is added). Never raises; linear time."""
    found = list(problems)
    # parts are counted by the walker itself (mime.MAX_MIME_PARTS), not by the budget
    budget = _Budget(max_chars=max(0, max_chars), parts_left=2**62)
    _read_tolerant(message, budget, found)
    return TextReading(budget.text(), tuple(found))


# ----------------------------------------------------------------------------------------
# Normalization

# Invisible characters, look-alike letters, accents and the reading of digits are the text
# layer's (spoofwatch.text), shared with the look-alike domain and display-name checks.

# Leetspeak-lite: a digit is read as a letter only inside a word that is mostly letters
# ("y0u", "c0me", "1nformation", "w1ll", "wh0"), never in numbers, codes with many
# digits, names ending in a number ("covid19", "win10"), or ordinals, times and units
# ("3rd", "10am", "5k"). "vote 4 trump" is left alone: the patterns accept "4" for "for"
# themselves.
# Anchored at a word start so a long word without digits is scanned once, not once per
# letter.
_WORD_WITH_DIGIT = re.compile(r"(?<![^\W_])[^\W_]*\d[^\W_]*")
_NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:st|nd|rd|th|am|pm|a|p|k|m|h|s|x|px|pt|kb|mb|gb|min|mins|hr|hrs|yr|yrs|sec|ft"
    r"|lb|lbs|oz|kg|km|mi|mph|cm|mm|d)"
    r"|[^\W\d_]+\d{2,}"
)
_WHITESPACE = re.compile(r"\s+")


def _unleet_word(match: re.Match[str]) -> str:
    word = match.group(0)
    letters = sum(1 for c in word if c.isalpha())
    digits = len(word) - letters
    if not letters or digits > letters or _NUMBER_WITH_UNIT.fullmatch(word):
        return word
    return word.translate(LEET)


def normalize_text(text: str) -> str:
    """The form threat patterns match: NFKC, case folded, invisible characters removed,
    look-alike letters folded to Latin, in-word leet digits read as letters, curly
    quotes and dashes made ASCII, whitespace collapsed to single spaces.

    Accents are kept ("votarás" stays "votarás"): pattern matching folds them away on
    both sides, so Spanish patterns match text written with or without them.
    """
    text = reading(text, keep_accents=True).translate(TYPOGRAPHY)
    text = _WORD_WITH_DIGIT.sub(_unleet_word, text)
    return _WHITESPACE.sub(" ", text).strip()
