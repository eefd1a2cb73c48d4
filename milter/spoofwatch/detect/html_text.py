"""HTML rendered to the text a mail reader shows, in linear time, never raising.

Used by both text readers (:mod:`.textextract`, :mod:`.tolerant_text`). The banner's HTML
handling (:mod:`spoofwatch.banner`) is a different job: it edits markup, this only reads it.

Text the reader cannot see is not rendered (:mod:`.css_hidden` says which inline styles and
attributes hide an element), so junk hidden inside a word (``vo<span
style="font-size:0">xyz</span>te``) does not split it and hidden words are not read as
visible; :func:`render_html` counts the places where hidden words sat inside a visible
word or between the words of one line (the ``hidden_text`` finding).

Text that CSS generates (``content:`` of ``::before``/``::after`` rules in ``<style>``
blocks, :mod:`.css_generated`) is rendered where the reader sees it, around the content
of the visible elements it applies to. Images shown and the length of their alt text are
counted for the ``image_only`` finding.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .css_generated import GeneratedRules, generated_rules
from .css_hidden import Look, element_look

log = logging.getLogger(__name__)

__all__ = ["RenderedHtml", "html_to_text", "render_html"]

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
# Elements without content or end tag: they never enter the stack of open elements.
_VOID_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
# Elements whose alt text stands in for an image, and the elements that show images.
_ALT_TAGS = frozenset({"img", "area", "input", "amp-img", "amp-anim"})
_IMAGE_TAGS = frozenset({"img", "amp-img", "amp-anim"})
# Open elements kept for inherited visibility; deeper nesting inherits from this depth
# (mail never nests this deep; the bound keeps memory constant).
_MAX_OPEN = 512
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


@dataclass(frozen=True)
class RenderedHtml:
    text: str  # what a reader sees
    # places where hidden words were inserted into a visible word or between visible words
    # of one line
    hidden_splits: int = 0
    hidden_chars: int = 0  # characters of hidden text (not in ``text``)
    images: int = 0  # images the reader sees (img, amp-img, image inputs)
    # letters and digits of ``text`` that stand in for images or are tooltips: alt text
    # and title attributes (image_only counts the text around the images)
    alt_chars: int = 0


@dataclass
class _RenderState:
    out: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    dropped: int = 0  # inside script/style
    pre: int = 0  # inside <pre>: whitespace is kept
    # open elements (tag, look, CSS ::after text); the look is inherited (hidden stays
    # hidden)
    open: list[tuple[str, Look, str]] = field(default_factory=list)
    open_count: dict[str, int] = field(default_factory=dict)  # tag -> times open
    last_alnum: bool = False  # the visible text so far ends inside a word
    hidden_pending: bool = False  # hidden words followed visible words of this line
    last_alnum_before_hidden: bool = False
    line_words: bool = False  # the current line has visible words
    hidden_splits: int = 0
    hidden_chars: int = 0
    images: int = 0
    alt_chars: int = 0

    def look(self) -> Look:
        return self.open[-1][1] if self.open else Look()

    def push(self, tag: str, look: Look, after: str = "") -> None:
        if len(self.open) < _MAX_OPEN:
            self.open.append((tag, look, after))
            self.open_count[tag] = self.open_count.get(tag, 0) + 1

    def pop(self, tag: str) -> None:
        # Closes the innermost open element of that name and what is open inside it (as
        # browsers do); an end tag nothing opened is ignored. Each element is pushed and
        # popped once, so this is linear overall.
        if not self.open_count.get(tag):
            return
        while self.open:
            name, look, after = self.open.pop()
            self.open_count[name] -= 1
            if after and not look.hidden:
                self.visible(after)
            if name == tag:
                return

    def visible(self, text: str) -> None:
        if not text:
            return
        if self.hidden_pending:
            # Counted when the reader's line goes on with a word: the hidden text sat inside
            # a word or between words of one line. A line break first (a hidden preheader
            # before the body) ends the pending state; spaces alone keep it.
            line = text.split("\n", 1)
            if (text[0].isalnum() and self.last_alnum_before_hidden) or _has_word(line[0]):
                self.hidden_splits += 1
                self.hidden_pending = False
            elif len(line) > 1:
                self.hidden_pending = False
        self.out.append(text)
        self.last_alnum = text[-1].isalnum()
        head, newline, tail = text.rpartition("\n")
        self.line_words = _has_word(tail) if newline else self.line_words or _has_word(text)

    def hidden(self, text: str) -> None:
        if _has_word(text):
            self.hidden_chars += len(text.strip())
            if not self.hidden_pending and (self.last_alnum or self.line_words):
                self.hidden_pending = True
                self.last_alnum_before_hidden = self.last_alnum


def _word_chars(text: str) -> int:
    return sum(c.isalnum() for c in text)


def _has_word(text: str) -> bool:
    return any(c.isalnum() for c in text)


class _HtmlText(HTMLParser):
    """Renders HTML roughly as a mail client shows it.

    Inline tags add nothing (so ``<b>v</b>ote`` reads "vote"); block tags break lines;
    script and style contents are dropped; ``alt`` text stands in place of its image;
    ``title`` attributes (tooltips) are collected and appended after the body so they
    cannot split a word of the text around them.
    """

    def __init__(self, styles_overridable: bool = False,
                 generated: GeneratedRules | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.state = _RenderState()
        self.styles_overridable = styles_overridable
        self.generated = generated or GeneratedRules()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        st = self.state
        if tag in _DROPPED_TAGS:
            st.dropped += 1
            return
        look = element_look(st.look(), attrs, self.styles_overridable)
        before = after = ""
        if self.generated and tag not in _VOID_TAGS and not look.hidden:
            # CSS ::before/::after text: shown around the element's content.
            before, after = self.generated.for_element(
                tag, {name: value or "" for name, value in attrs})
        if tag not in _VOID_TAGS:
            st.push(tag, look, after)
        if look.hidden:
            # An element that is not displayed makes no line break either.
            for name, value in attrs:
                if value and name == "alt" and tag in _ALT_TAGS:
                    st.hidden(value)
            return
        if tag == "pre":
            st.pre += 1
        if tag in _BLOCK_TAGS:
            st.visible("\n")
        elif tag in _CELL_TAGS:
            st.visible(" ")
        if tag in _IMAGE_TAGS or (tag == "input" and ("type", "image") in attrs):
            st.images += 1
        for name, value in attrs:
            if not value:
                continue
            if name == "alt" and tag in _ALT_TAGS:
                st.visible(f" {value} ")
                st.alt_chars += _word_chars(value)
            elif name == "title":
                st.titles.append(value)
        if before:
            st.visible(before)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <div/> opens nothing in HTML either; only what it shows counts.
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS and tag not in _DROPPED_TAGS:
            self.state.pop(tag)

    def handle_endtag(self, tag: str) -> None:
        st = self.state
        if tag in _DROPPED_TAGS:
            st.dropped = max(0, st.dropped - 1)
            return
        hidden = st.look().hidden
        st.pop(tag)
        if hidden:
            return
        if tag == "pre":
            st.pre = max(0, st.pre - 1)
        if tag in _BLOCK_TAGS:
            st.visible("\n")
        elif tag in _CELL_TAGS:
            st.visible(" ")

    def handle_data(self, data: str) -> None:
        st = self.state
        if st.dropped:
            return
        if st.look().hidden:
            st.hidden(data)
            return
        st.visible(data if st.pre else _HTML_SPACE.sub(" ", data))


def html_to_text(markup: str) -> str:
    """The text of an HTML document as a reader sees it. Never raises; linear time."""
    return render_html(markup).text


def render_html(markup: str) -> RenderedHtml:
    """The text of an HTML document as a reader sees it, and what was hidden from them.
    Never raises; linear time."""
    lowered = markup.lower()
    # A <style> block's !important rules may show what an inline style hides (see
    # css_hidden.element_look); a forger must not hide visible text from us that way.
    generated = generated_rules(markup, lowered)
    parser = _HtmlText(styles_overridable="<style" in lowered and "!important" in lowered,
                       generated=generated)
    try:
        parser.feed(_sanitize_markup(markup))
        parser.close()
    except Exception:
        log.debug("HTML parsing stopped early; keeping what was rendered", exc_info=True)
    st = parser.state
    text = "".join(st.out).strip()
    if st.titles:
        text += "\n\n" + "\n".join(st.titles)
        st.alt_chars += sum(map(_word_chars, st.titles))
    if generated.unplaced:
        # CSS text whose place we cannot tell: after the body, where it splits no word.
        text += "\n\n" + "\n".join(generated.unplaced)
    # Linear form of r"[ \t]*\n[ \t]*" (that one rescans a long run of spaces from each
    # of its positions); same result.
    text = re.sub(r"(?<![ \t])[ \t]*\n[ \t]*|\n[ \t]*", "\n", text)
    return RenderedHtml(re.sub(r"\n{3,}", "\n\n", text).strip(), st.hidden_splits,
                        st.hidden_chars, st.images, st.alt_chars)
