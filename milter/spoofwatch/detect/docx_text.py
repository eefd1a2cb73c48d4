"""The text of a DOCX (Office Open XML word-processing) attachment, bounded; never raising.

Read from the zip container with :mod:`zipfile` and streamed through defusedxml's expat
parser (no DTDs, no entity expansion: a "billion laughs" file is refused, not expanded).
Chosen over python-docx, measured: python-docx loads the whole document tree with lxml
(memory proportional to the file, unbounded by us) and skips text boxes; streaming
``word/document.xml`` reads text boxes, tables and everything else in document order, and
stops at a byte bound however large the entry claims to decompress to (a zip bomb costs
the bound, not its declared size).

What Word shows is read: body, tables, text boxes, headers, footers, footnotes and
endnotes. What it does not show is skipped: runs marked hidden (``w:vanish``), deleted
text of tracked changes (``w:delText``) and field instructions (``w:instrText``).

OpenDocument text (ODT, which LibreOffice and Word open alike) is the same kind of zip
with ``content.xml``: its body is read the same way, without hidden text and paragraphs
(``text:hidden-text``, ``text:hidden-paragraph``) and tracked deletions.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, field

from defusedxml.ElementTree import DefusedXMLParser

log = logging.getLogger(__name__)

__all__ = ["MAX_DOCX_XML_BYTES", "DocxText", "read_docx"]

# Decompressed XML read, over all parts. Markup is ~5-10x the text it carries: 16 MB of
# XML is well over a thousand pages of prose; a zip bomb stops here.
MAX_DOCX_XML_BYTES = 16_000_000
# Zip members looked at: a document has a few dozen; a file with a hundred thousand
# (a central directory bomb) is refused before it is listed.
_MAX_MEMBERS = 5_000
_CHUNK = 64 * 1024
_VISIBLE_PARTS = ("word/document.xml", "word/header", "word/footer", "word/footnotes.xml",
                  "word/endnotes.xml")
_OFF = frozenset({"0", "false", "off"})


@dataclass(frozen=True)
class DocxText:
    text: str
    problem: str = ""  # why (part of) the file could not be read; "" when it was read


_FORMAT_CHANGES = frozenset({"rPrChange", "pPrChange"})


@dataclass
class _Collector:
    """expat target: text of visible runs; paragraphs and breaks as line ends."""

    room: int
    out: list[str] = field(default_factory=list)
    chars: int = 0
    in_text: bool = False
    run_hidden: bool = False
    last_space: bool = True  # the text so far ends in white space (or is empty)
    # inside a tracked formatting change (w:rPrChange, w:pPrChange): the *old* formatting,
    # not what Word shows; a "vanish" in it hides nothing (a red-team review)
    in_change: int = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        name = tag.rpartition("}")[2]
        if name in _FORMAT_CHANGES:
            self.in_change += 1
        elif name == "r":
            self.run_hidden = False
        elif name == "vanish" and not self.in_change:
            value = next((v for k, v in attrs.items() if k.rpartition("}")[2] == "val"), "")
            self.run_hidden = value.lower() not in _OFF
        elif name == "t":
            self.in_text = True
        elif name in ("tab", "br", "cr"):
            self._add(" " if name == "tab" else "\n")

    def end(self, tag: str) -> None:
        name = tag.rpartition("}")[2]
        if name in _FORMAT_CHANGES:
            self.in_change = max(0, self.in_change - 1)
        elif name == "t":
            self.in_text = False
        elif name in ("p", "tc"):
            self._add("\n" if name == "p" else " ")

    def data(self, text: str) -> None:
        if self.in_text and not self.run_hidden:
            # Runs of white space count as one: a megabyte of spaces (a zip bomb's
            # favourite) must not fill the character budget before the words after it.
            words = " ".join(text.split())
            if text[:1].isspace() and not self.last_space:
                words = " " + words
            if words and text[-1:].isspace():
                words += " "
            self._add(words)

    def close(self) -> None:
        return None

    def _add(self, text: str) -> None:
        if text and self.chars < self.room:
            if text.isspace() and self.last_space:
                return
            text = text[: self.room - self.chars]
            self.out.append(text)
            self.chars += len(text)
            self.last_space = text[-1].isspace()


# ODT elements whose content the reader does not see.
_ODT_SKIPPED = frozenset({"tracked-changes", "hidden-text", "hidden-paragraph",
                          "sequence-decls", "variable-decls", "user-field-decls"})


@dataclass
class _OdtCollector(_Collector):
    """expat target for ODT content.xml: all character data of the body except what the
    reader does not see; paragraphs and headings end lines."""

    body: int = 0  # inside office:body
    skipped: int = 0  # inside an element whose content is not shown

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        name = tag.rpartition("}")[2]
        if name == "body":
            self.body += 1
        elif name in _ODT_SKIPPED or self.skipped:
            self.skipped += 1
        elif name in ("s", "tab"):
            self._add(" ")
        elif name == "line-break":
            self._add("\n")

    def end(self, tag: str) -> None:
        name = tag.rpartition("}")[2]
        if name == "body":
            self.body = max(0, self.body - 1)
        elif self.skipped:
            self.skipped -= 1
        elif name in ("p", "h"):
            self._add("\n")
        elif name == "table-cell":
            self._add(" ")

    def data(self, text: str) -> None:
        if self.body and not self.skipped:
            self.in_text = True
            super().data(text)


def _read_part(package: zipfile.ZipFile, name: str, collector: _Collector,
               budget: int) -> int:
    """Feed one XML part to the collector; the bytes read (at most ``budget``)."""
    parser = DefusedXMLParser(target=collector)
    used = 0
    with package.open(name) as stream:
        while used < budget and collector.chars < collector.room:
            chunk = stream.read(min(_CHUNK, budget - used))
            if not chunk:
                parser.close()
                break
            used += len(chunk)
            parser.feed(chunk)
    collector._add("\n")
    return used


def _parts(package: zipfile.ZipFile) -> list[str]:
    names = [i.filename for i in package.infolist()]
    body = [n for n in names if n == "word/document.xml"]
    rest = sorted(n for n in names if n != "word/document.xml" and n.endswith(".xml")
                  and n.startswith(_VISIBLE_PARTS))
    return body + rest


# Members every OOXML or OpenDocument package has: a zip with one is an office document.
_OFFICE_MARKERS = frozenset({"[Content_Types].xml", "META-INF/manifest.xml", "mimetype"})


def _is_odt(package: zipfile.ZipFile) -> bool:
    names = {i.filename for i in package.infolist()}
    if "content.xml" not in names or "mimetype" not in names:
        return False
    with package.open("mimetype") as stream:
        return stream.read(100).startswith(b"application/vnd.oasis.opendocument.text")


def read_docx(data: bytes, room: int) -> DocxText:
    """At most ``room`` characters of the visible text of the DOCX ``data``. Never raises."""
    collector = _Collector(room)
    problem = ""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            if len(package.infolist()) > _MAX_MEMBERS:
                return DocxText("", f"it has more than {_MAX_MEMBERS:,} members")
            parts = _parts(package)
            if not parts and _is_odt(package):
                parts, collector = ["content.xml"], _OdtCollector(room)
            if not parts:
                names = {i.filename for i in package.infolist()}
                if names & _OFFICE_MARKERS:
                    # an office package we do not read (main part elsewhere, a slide deck,
                    # a spreadsheet): said, never silence (a red-team review)
                    return DocxText("", "it is an office document whose text is not read "
                                        "(no word/document.xml or text content.xml)")
                return DocxText("", "it has no word/document.xml")
            left = MAX_DOCX_XML_BYTES
            for name in parts:
                if left <= 0 or collector.chars >= room:
                    break
                try:
                    left -= _read_part(package, name, collector, left)
                except Exception as exc:  # one broken part: read the others
                    log.debug("DOCX part %s unreadable", name, exc_info=True)
                    problem = problem or f"{name} could not be read ({type(exc).__name__})"
            if left <= 0 and not problem:
                problem = f"only the first {MAX_DOCX_XML_BYTES:,} bytes of its XML were read"
            elif collector.chars >= room and not problem:
                problem = f"only the first {room:,} characters of its text were read"
    except Exception as exc:  # a broken zip: a result, not a crash
        log.debug("DOCX unreadable", exc_info=True)
        return DocxText("".join(collector.out),
                        f"it could not be opened as a zip file ({type(exc).__name__})")
    return DocxText("".join(collector.out), problem)
