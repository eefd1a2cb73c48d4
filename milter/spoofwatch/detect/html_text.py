"""HTML rendered to the text a mail reader shows, in linear time, never raising.

Used by both text readers (:mod:`.textextract`, :mod:`.tolerant_text`). The banner's HTML
handling (:mod:`spoofwatch.banner`) is a different job: it edits markup, this only reads it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

log = logging.getLogger(__name__)

__all__ = ["html_to_text"]

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
