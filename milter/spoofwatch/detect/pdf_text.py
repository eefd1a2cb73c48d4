"""The text of a PDF attachment, read with pypdf within stated bounds; never raising.

A forger who knows we read the mail body puts the threat in an attached PDF, which every
mail client shows with one click. pypdf (maintained, pure Python, no native parser to
crash the worker) reads it; its own resource limits (:class:`pypdf.Configuration`, a
context variable, so one message's settings never leak into another's) are lowered to
bounds that keep a hostile file (a decompression bomb, a content stream of millions of
operators, a page tree thousands deep, a broken cross-reference table that makes pypdf
scan the whole file) to a bounded amount of work. Only operation counts bound the
reading, never the clock: analyze() stays deterministic (the same mail gives the same
verdict on a slow machine). The measured costs are in docs/detection.md ("Attachments
and odd parts").
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)
# pypdf logs a warning for oddities of a file (broken cross-reference entries, each call
# of a cyclic form: hundreds of lines for one hostile PDF) into the mail log. What we
# report of a document is its problem sentence; pypdf's own notes are not needed there.
logging.getLogger("pypdf").setLevel(logging.ERROR)

__all__ = ["MAX_PDF_PAGES", "PdfText", "read_pdf"]

# Work units (content-stream operators and operands) text extraction may visit in one
# document, over all pages and form XObjects. The measured worst case is ~8 us per unit
# (a page of nothing but short "Tj" strings), so 150,000 units bound one document to
# about 1.2 s of CPU; a page of prose from a word processor has some hundreds of units,
# so this is hundreds of pages. Counting units, not pages, matters: a 3 kB PDF can repeat
# one compressed page of 140,000 operators a hundred times.
MAX_PDF_WORK = 150_000
# One content stream's parsing budget in pypdf (its default is 2,000,000). A page that
# fails on it is charged this much: failed parses must not be free either.
_STREAM_WORK = 100_000
# Pages read. A flyer or a letter has one to a few pages; 100 is a long report. Past it
# the rest is reported unread (each page costs up to the per-page work bound below).
MAX_PDF_PAGES = 1_000
# pypdf's limits, lowered (its defaults of 75 MB per stream and 2 million operators per
# content stream allow several seconds of pure-Python work per page). 8 MB of decoded
# stream is more than a page of text ever needs (a dense text page is ~50 kB of content
# stream); 300,000 operands and operators per content stream is ~50 dense pages' worth.
_PYPDF_LIMITS: dict[str, Any] = {
    "maximum_declared_stream_length": 16_000_000,
    "array_based_stream_maximum_output_length": 8_000_000,
    "zlib_maximum_output_length": 8_000_000,
    "lzw_maximum_output_length": 8_000_000,
    "run_length_maximum_output_length": 8_000_000,
    "brotli_maximum_output_length": 8_000_000,
    "jbig2_maximum_output_length": 8_000_000,
    "image_maximum_buffer_size": 8_000_000,
    "stream_decoding_work_maximum_length": 32_000_000,
    "stream_parsing_work_maximum_count": _STREAM_WORK,
    "array_maximum_element_count": 20_000,
    "dictionary_maximum_element_count": 20_000,
    "page_tree_maximum_entries": 10_000,
    "page_tree_maximum_depth": 32,
    "page_tree_maximum_page_entries": 100_000,
    "xform_maximum_invocations_per_extraction": 200,
    "outline_maximum_entries": 1_000,
    "form_fields_maximum_entries": 1_000,
    "named_destinations_maximum_entries": 1_000,
    "jbig2dec_binary": None,  # never start an external program on mail content
}
# Annotations read per document (text boxes, notes, form field values drawn on the page);
# a page has a handful. Hidden ones (flag bit 2) are skipped.
_MAX_ANNOTATIONS = 1_000
_MAX_PAGE_FONTS = 200  # fonts of one page charged (a longer list is refused by the work)
_CMAP_BYTES_PER_UNIT = 16  # about one entry of a character map
_SHOWN_ANNOTATIONS = frozenset({"/FreeText", "/Text", "/Widget"})
_HIDDEN_FLAG = 2
# Cross-reference stream entries and objects tried when recovering a broken file: a
# hostile xref stream can declare millions of entries.
_XREF_ENTRIES = 200_000
_RECOVERY_OBJECTS = 2_000


@dataclass(frozen=True)
class PdfText:
    text: str
    problem: str = ""  # why (part of) the file could not be read; "" when it was read
    pages: int = 0  # pages read


class _OutOfWork(Exception):
    """The document's work budget is spent (raised from inside pypdf's extraction)."""


@dataclass
class _Work:
    left: int = MAX_PDF_WORK
    annotations: int = _MAX_ANNOTATIONS
    font_costs: dict[Any, int] = field(default_factory=dict)  # font object number -> units

    def fonts(self, page: Any) -> None:
        """Charge the page's fonts: pypdf builds each font's character map again for every
        page that uses it, so a 20,000-entry ToUnicode map shared by 1,000 one-word pages
        cost a minute of CPU while the content operators counted 3 units a page (found by a
        red-team review). A map costs one unit per _CMAP_BYTES_PER_UNIT decoded bytes, on
        every page; each map is decoded once to learn its size."""
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        fonts = resources.get("/Font") if isinstance(resources, dict) else None
        fonts = fonts.get_object() if fonts is not None else None
        if not isinstance(fonts, dict):
            return
        for ref in list(fonts.values())[:_MAX_PAGE_FONTS]:
            key = getattr(ref, "idnum", None)
            cost = self.font_costs.get(key) if key is not None else None
            if cost is None:
                cost = _font_cost(ref)
                if key is not None:
                    self.font_costs[key] = cost
            self.left -= cost
        if self.left < 0:
            raise _OutOfWork

    def visit(self, operator: Any, operands: Any, cm: Any, tm: Any) -> None:
        # pypdf calls this before each operator, in pages and in form XObjects alike.
        units = 1
        for operand in operands if isinstance(operands, list) else ():
            units += 1 + (len(operand) if isinstance(operand, list | dict) else 0)
        self.left -= units
        if self.left < 0:
            raise _OutOfWork


def _font_cost(ref: Any) -> int:
    """Work units of building one font's character maps (ToUnicode, and the descendant
    fonts' maps of a composite font)."""
    font = ref.get_object() if hasattr(ref, "get_object") else ref
    if not isinstance(font, dict):
        return 1
    maps = [font.get("/ToUnicode")]
    descendants = font.get("/DescendantFonts")
    descendants = descendants.get_object() if descendants is not None else None
    if isinstance(descendants, list):
        for child in descendants[:4]:
            child = child.get_object() if hasattr(child, "get_object") else child
            if isinstance(child, dict):
                maps.append(child.get("/ToUnicode"))
    size = 0
    for entry in maps:
        stream = entry.get_object() if entry is not None else None
        get_data = getattr(stream, "get_data", None)
        if get_data is not None:
            size += len(get_data())
    return 1 + size // _CMAP_BYTES_PER_UNIT


def _annotations_text(page: Any, work: _Work) -> str:
    """Text a reader sees in the page's annotations: free-text boxes, notes and form
    field values (where a forger can put words that are in no content stream)."""
    annotations = page.get("/Annots")
    annotations = annotations.get_object() if annotations is not None else None
    if not isinstance(annotations, list):
        return ""
    found: list[str] = []
    for ref in annotations:
        if work.annotations <= 0:
            break
        work.annotations -= 1
        annotation = ref.get_object()
        if not isinstance(annotation, dict):
            continue
        flags = annotation.get("/F", 0)
        if annotation.get("/Subtype") not in _SHOWN_ANNOTATIONS or (
                isinstance(flags, int) and flags & _HIDDEN_FLAG):
            continue
        parent = annotation.get("/Parent")
        parent = parent.get_object() if parent is not None else {}
        for value in (annotation.get("/Contents"), annotation.get("/V"),
                      parent.get("/V") if isinstance(parent, dict) else None):
            if isinstance(value, str) and value.strip():
                found.append(value)
                break
    return "\n".join(found)


def _pages_text(reader: PdfReader, room: int) -> tuple[list[str], str, int]:
    pieces: list[str] = []
    chars = 0
    problem = ""
    count = len(reader.pages)
    work = _Work()
    for number in range(min(count, MAX_PDF_PAGES)):
        if chars >= room:
            break
        if work.left <= 0:
            problem = problem or (f"its text is too complex to read past page {number} "
                                  f"(more than {MAX_PDF_WORK:,} units of work: content "
                                  "operations and font maps)")
            break
        try:
            page = reader.pages[number]
            work.fonts(page)
            text = page.extract_text(visitor_operand_before=work.visit)
            text = "\n".join(filter(None, (text.strip(), _annotations_text(page, work))))
        except _OutOfWork:
            problem = problem or (f"its text is too complex to read past page {number} "
                                  f"(more than {MAX_PDF_WORK:,} units of work: content "
                                  "operations and font maps)")
            break
        except Exception as exc:  # any defect of one page: go on
            log.debug("PDF page %d unreadable", number + 1, exc_info=True)
            work.left -= _STREAM_WORK
            problem = problem or f"page {number + 1} could not be read ({type(exc).__name__})"
            continue
        pieces.append(text[: room - chars])
        chars += len(pieces[-1])
    if chars >= room and not problem:
        problem = f"only the first {room:,} characters of its text were read"
    if count > MAX_PDF_PAGES and chars < room:
        problem = problem or f"only the first {MAX_PDF_PAGES} of {count} pages were read"
    return pieces, problem, min(count, MAX_PDF_PAGES)


def read_pdf(data: bytes, room: int) -> PdfText:
    """At most ``room`` characters of the text of the PDF ``data``. Never raises."""
    try:
        # Imported on the first PDF, not with the service: pypdf adds about 17 MB to every
        # process that imports it, and most mail carries no PDF.
        from pypdf import PdfReader, apply_configuration

        with apply_configuration(None, **_PYPDF_LIMITS):
            reader = PdfReader(io.BytesIO(data), strict=False,
                               root_object_recovery_limit=_RECOVERY_OBJECTS,
                               xref_stream_maximum_entries=_XREF_ENTRIES)
            if reader.is_encrypted and not reader.decrypt(""):
                # A password the reader must type: the mail gives it in words we do read.
                return PdfText("", "it is encrypted with a password")
            pieces, problem, pages = _pages_text(reader, room)
    except Exception as exc:  # pypdf on hostile input: a result, not a crash
        log.debug("PDF unreadable", exc_info=True)
        return PdfText("", f"it could not be parsed ({type(exc).__name__})")
    text = "\n".join(p.strip() for p in pieces if p.strip())
    if pages and not text and not problem:
        # A scanned letter or a picture of the threat: say we read nothing, not "clean".
        problem = f"it has no text (its {pages} page(s) hold only images or drawings)"
    return PdfText(text, problem, pages)
