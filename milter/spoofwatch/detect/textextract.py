"""The text a reader sees, and the form threat patterns are matched against.

:func:`extract_text` undoes what hides words from a filter but not from a reader:
transfer encodings, charsets (declared wrongly or not at all), HTML markup between
letters, character references, forwarded messages. :func:`normalize_text` then undoes
the Unicode tricks: zero-width and bidi characters, fullwidth and mathematical letters,
Cyrillic/Greek/other look-alike letters, digits written for letters.

Both functions work on attacker-controlled input and are bounded: they never raise and
their running time is linear in the (capped) size of what they read.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from ..textsafe import decode_words

log = logging.getLogger(__name__)

__all__ = ["extract_text", "html_to_text", "normalize_text"]

# Bounds on hostile structure. Real mail has a handful of parts and rarely more than
# three or four levels of nesting (a forwarded message inside a digest inside a
# multipart/mixed); anything beyond these is skipped, not an error.
_MAX_PARTS = 256
_MAX_DEPTH = 24
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
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ----------------------------------------------------------------------------------------
# Walking the MIME tree


@dataclass
class _Budget:
    max_chars: int
    parts_left: int = _MAX_PARTS
    chars: int = 0
    pieces: list[str] = field(default_factory=list)

    def full(self) -> bool:
        return self.chars >= self.max_chars or self.parts_left <= 0

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
            self.pieces.append(text)
            self.chars += len(text) + len(_PIECE_SEPARATOR)


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


def _leaf_text(part: Message, max_chars: int) -> str:
    """Decoded text of a text/plain or text/html leaf part ("" for anything else)."""
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
        return ""
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
    """Depth-first, iteratively (no recursion on attacker-chosen depth)."""
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
            else:
                budget.add(_leaf_text(part, budget.max_chars - budget.chars))
        except Exception:
            log.debug("part skipped", exc_info=True)
            continue
        if depth + 1 > _MAX_DEPTH:
            continue
        # Reversed so the stack pops children in document order.
        stack.extend((child, depth + 1) for child in reversed(children))


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
    return _PIECE_SEPARATOR.join(budget.pieces)[:max_chars]


# ----------------------------------------------------------------------------------------
# Normalization

# Characters that draw nothing but split words: zero-width space/joiners, bidi marks,
# embeddings, overrides and isolates, word joiner and invisible operators, soft hyphen,
# combining grapheme joiner, Hangul fillers, Khmer/Mongolian invisibles, variation
# selectors, BOM, interlinear annotation controls, tag characters; plus C0/C1 control
# characters (a NUL between letters hides a word as well as a zero-width space does).
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)

# Letters drawn like Latin letters (the subset of Unicode TR39 confusables that people use
# to dodge word filters), folded to the lower-case Latin letter they imitate.
#
# Why a table and not a library: NFKC (in the standard library) already folds fullwidth
# and mathematical alphanumerics. For the rest, the packages on PyPI do not fit:
# confusable-homoglyphs only *detects* confusables (no fold-to-Latin function) and its
# TR39 data maps lower-case Cyrillic т, к, м, н and Greek ε, κ, τ to nothing Latin (TR39
# maps them to small capitals and the like), though casefolding produces exactly those
# from the capitals "Т", "К", "М", "Н" that imitate T, K, M, H; confusables 1.2.0 (last
# release 2021) normalizes by enumerating every combination of alternatives, exponential
# in the text length. unidecode/anyascii transliterate by sound (Cyrillic "р" -> "r", "у"
# -> "u"), the opposite of what a look-alike means ("р" looks like "p", "у" like "y"), and
# would also strip the Spanish accents we keep.
_LOOKALIKES: dict[int, str] = str.maketrans({
    # Cyrillic capitals (folded before casefold, so "Т" becomes "t", not "т")
    "А": "a", "В": "b", "Е": "e", "Ѕ": "s", "І": "i", "Ј": "j", "К": "k", "М": "m", "Н": "h",
    "О": "o", "Р": "p", "С": "c", "Т": "t", "У": "y", "Х": "x", "Ү": "y", "Һ": "h", "Ԛ": "q",
    "Ԝ": "w", "Ӏ": "l", "Ԍ": "g",
    # Cyrillic small letters
    "а": "a", "в": "b", "е": "e", "ѐ": "è", "ё": "ë", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "ï", "ј": "j",
    "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ү": "y", "ԍ": "g", "ѡ": "w",
    # Greek capitals
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "Ϲ": "c", "Ϳ": "j",
    # Greek small letters
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ί": "í", "ό": "ó",
    # Armenian
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "զ": "q", "ց": "g",
    # Cherokee capitals (casefold maps Cherokee small letters to these)
    "Ꭺ": "a", "Ᏼ": "b", "Ꮯ": "c", "Ꭼ": "e", "Ꮋ": "h", "Ꭻ": "j", "Ꮶ": "k", "Ꮮ": "l",
    "Ꮇ": "m", "Ꮲ": "p", "Ꮪ": "s", "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w", "Ꮓ": "z",
    # Latin letters outside ASCII that read as ASCII ones: dotless i/j, script g, alpha,
    # and the small capitals
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d",
    "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n",
    "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y",
    "ᴢ": "z",
    # Punctuation variants that patterns write in ASCII: apostrophes, quotes, dashes
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u00b4": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-",
    "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})

# Leetspeak-lite: a digit is read as a letter only inside a word that is mostly letters
# ("y0u", "c0me", "1nformation", "w1ll", "wh0"), never in numbers, codes with many
# digits, names ending in a number ("covid19", "win10"), or ordinals, times and units
# ("3rd", "10am", "5k"). "vote 4 trump" is left alone: the patterns accept "4" for "for"
# themselves.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
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
    return word.translate(_LEET)


def normalize_text(text: str) -> str:
    """The form threat patterns match: NFKC, case folded, invisible characters removed,
    look-alike letters folded to Latin, in-word leet digits read as letters, curly
    quotes and dashes made ASCII, whitespace collapsed to single spaces.

    Accents are kept ("votarás" stays "votarás"): pattern matching folds them away on
    both sides, so Spanish patterns match text written with or without them.
    """
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = text.translate(_LOOKALIKES)
    text = text.casefold()
    if not text.isascii():
        # Casefolding turns capitals into small letters, some of them look-alikes too.
        text = unicodedata.normalize("NFC", text.translate(_LOOKALIKES))
    text = _WORD_WITH_DIGIT.sub(_unleet_word, text)
    return _WHITESPACE.sub(" ", text).strip()
