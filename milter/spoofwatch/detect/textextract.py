"""The text a reader sees: decoded parts, rendered HTML, normalized Unicode.

Threat patterns run on this text, so every trick that hides words from a pattern but not
from a reader is undone here: transfer encodings, charsets, HTML tags between letters,
entities, zero-width characters, and letters from other scripts that look Latin.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from ..textsafe import decode_words

log = logging.getLogger(__name__)

_MAX_PARTS = 100
_MAX_DEPTH = 12

# Characters that render as nothing: zero-width, joiners, bidi and other format controls,
# soft hyphen. Removed before matching.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)

# Letters of other scripts that are drawn like Latin letters (Unicode TR39 confusables,
# limited to the letters people use to dodge word filters). NFKC already folds fullwidth
# and mathematical alphanumerics; this handles what NFKC leaves alone. The table is small
# and hand-checked rather than the full confusables data because here the target is
# always a lower-case Latin letter.
_LOOKALIKES = str.maketrans({
    # Cyrillic
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043a": "k", "\u043c": "m",
    "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y",
    "\u0445": "x", "\u0455": "s", "\u0456": "i", "\u0457": "i", "\u0458": "j", "\u04bb": "h",
    "\u0501": "d", "\u051b": "q", "\u051d": "w", "\u0261": "g",
    # Greek
    "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v",
    "\u03bf": "o", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u03c7": "x", "\u03f2": "c",
    # Latin look-alikes outside ASCII
    "\u0131": "i", "\u0237": "j", "\u1d00": "a", "\u0299": "b", "\u1d04": "c", "\u1d05": "d",
    "\u1d07": "e", "\u0262": "g", "\u029c": "h", "\u026a": "i", "\u1d0b": "k", "\u029f": "l",
    "\u1d0d": "m", "\u0274": "n", "\u1d0f": "o", "\u1d18": "p", "\u0280": "r", "\ua731": "s",
    "\u1d1b": "t", "\u1d1c": "u", "\u1d20": "v", "\u1d21": "w", "\u028f": "y", "\u1d22": "z",
})


class _HtmlText(HTMLParser):
    """HTML to text: drops script/style, keeps alt and title text, breaks at blocks."""

    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5",
                        "h6", "table", "blockquote", "section", "article", "hr"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        if tag in self._BLOCK:
            self.out.append("\n")
        for name, value in attrs:
            if name in ("alt", "title") and value:
                self.out.append(f" {value} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser can assert on hostile input
        log.debug("HTML parsing gave up; using what was read", exc_info=True)
    return "".join(parser.out)


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        text = payload.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text


def _walk(part: Message, depth: int, budget: list[int], out: list[str], limit: int) -> None:
    if depth > _MAX_DEPTH or budget[0] <= 0 or sum(map(len, out)) >= limit:
        return
    budget[0] -= 1
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for child in payload:
                if isinstance(child, Message):
                    _walk(child, depth + 1, budget, out, limit)
        return
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            subject = inner.get("Subject")
            if subject:
                out.append(decode_words(str(subject)))
            _walk(inner, depth + 1, budget, out, limit)
        return
    if part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", "html"):
        out.append(_part_text(part))


def extract_text(msg: EmailMessage | Message, max_chars: int = 200_000) -> str:
    """Subject plus the decoded text of every text/plain and text/html part. Never raises."""
    out: list[str] = []
    try:
        subject = msg.get("Subject")
        if subject:
            out.append(decode_words(str(subject)))
        _walk(msg, 0, [_MAX_PARTS], out, max_chars)
    except Exception:  # noqa: BLE001 - the email package can fail on hostile structure
        log.debug("text extraction stopped early", exc_info=True)
    return "\n".join(out)[:max_chars]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_text(text: str) -> str:
    """NFKC, invisible characters removed, look-alike letters folded to Latin, accents
    removed (patterns are written without them), case folded, whitespace collapsed."""
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_LOOKALIKES)
    text = _strip_accents(text).casefold()
    text = text.translate(_LOOKALIKES)  # casefold can expose more look-alikes
    text = re.sub(r"[\u2018\u2019\u201b\u2032]", "'", text)
    text = re.sub(r"[\u201c\u201d\u201f\u2033]", '"', text)
    return re.sub(r"\s+", " ", text).strip()


__all__ = ["extract_text", "html_to_text", "normalize_text"]
