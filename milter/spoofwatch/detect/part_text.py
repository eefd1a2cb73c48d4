"""The text of one MIME leaf, whatever its type: the part both text readers share.

:mod:`.textextract` (standard parser) and :mod:`.tolerant_text` (raw walker) find the
leaves; this module says what each one shows the reader:

* ``text/html``, ``text/x-amp-html`` (the AMP version of a mail, which Gmail shows
  instead of the HTML one) and XHTML rendered by :mod:`.html_text`; ``text/enriched``
  and ``text/richtext`` by :mod:`.enriched_text`; every other ``text/*`` type as plain
  text;
* any other leaf whose bytes are a PDF or DOCX document (:mod:`.attachment_text`),
  whatever type and name the sender declared for it.

A document that could not be read, or only in part, comes back with a ``problem``
sentence (an ``unreadable_structure`` finding), never as silence.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from .attachment_text import MAX_ATTACHMENT_BYTES, document_kind, read_attachment
from .charsets import decode_bytes
from .enriched_text import enriched_to_text
from .html_text import render_html
from .text_reading import HTML_SOURCE_FACTOR, TEXT_SOURCE_FACTOR, Unreadable

__all__ = ["HTML_TYPES", "PartText", "is_text", "document_text", "document_unreadable",
           "encoded_cap", "source_factor", "text_part", "transfer_decode"]

HTML_TYPES = frozenset({"text/html", "text/x-amp-html", "application/xhtml+xml"})
_ENRICHED_TYPES = frozenset({"text/enriched", "text/richtext"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")
# Encoded bytes decoded to tell whether a part is a document (PDF looks for its header in
# the first 1,024 bytes; base64 gives 3,000 from 4,096).
_SNIFF_BYTES = 4096
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]*")  # what base64 decoders skip, at the start


@dataclass(frozen=True)
class PartText:
    text: str
    hidden_splits: int = 0  # words of the visible text that hidden HTML text split
    problem: str = ""  # what of a document could not be read ("" when all was)
    document: bool = False  # a PDF or DOCX document (read or not)
    images: int = 0  # images shown by an HTML part (for image_only)
    alt_chars: int = 0  # characters of the text that are image alt text


def document_unreadable(problem: str) -> Unreadable:
    """The unreadable_structure for a document not (fully) read: ``problem`` says why."""
    kind = "pdf" if " PDF " in problem else "docx"
    return Unreadable("attachment", problem, (("limit", "attachment"), ("kind", kind)))


def _sniff_window(encoded: bytes, cte: str) -> bytes:
    """The encoded bytes that decode to at least the start of the document, whatever comes
    before it: base64 after any run of line breaks, spaces or junk (which decoders skip;
    a red-team review hid a PDF behind 6,000 spaces), and quoted-printable up to seven
    encoded bytes a decoded one ("=XX=" and a soft line break each)."""
    if cte == "base64":
        start = _BASE64_JUNK.match(encoded).end()  # type: ignore[union-attr]
        return encoded[start:start + _SNIFF_BYTES]
    if cte == "quoted-printable":
        return encoded[:_SNIFF_BYTES * 7]
    return encoded[:_SNIFF_BYTES]


def transfer_decode(data: bytes, cte: str) -> bytes:
    """Undo a transfer encoding leniently (junk characters skipped, padding repaired)."""
    if cte == "base64":
        clean = data.translate(None, b"\r\n")  # line breaks in C; junk is rare
        if _NOT_BASE64.search(clean) is not None:
            clean = _NOT_BASE64.sub(b"", clean)
        rest = len(clean) % 4
        if rest == 1:
            clean = clean[:-1]
        elif rest:
            clean += b"=" * (4 - rest)
        return binascii.a2b_base64(clean)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def is_text(ctype: str) -> bool:
    """Whether a leaf of type ``ctype`` is read as text: every ``text/*`` type (clients
    show unknown ones as plain text, and a calendar invitation's description is on the
    screen too) and XHTML."""
    return ctype.startswith("text/") or ctype in HTML_TYPES


def source_factor(ctype: str) -> int:
    return HTML_SOURCE_FACTOR if ctype in HTML_TYPES or ctype in _ENRICHED_TYPES else (
        TEXT_SOURCE_FACTOR)


def text_part(ctype: str, payload: bytes, charset: str | None) -> PartText:
    """The text of a leaf whose type :func:`is_text` (``payload`` transfer-decoded,
    capped)."""
    text = decode_bytes(payload, charset)
    if ctype in HTML_TYPES:
        rendered = render_html(text)
        return PartText(rendered.text, rendered.hidden_splits, images=rendered.images,
                        alt_chars=rendered.alt_chars)
    if ctype in _ENRICHED_TYPES:
        return PartText(enriched_to_text(text, richtext=ctype == "text/richtext"))
    return PartText(text)


def encoded_cap() -> int:
    """Encoded bytes of a part that can hold MAX_ATTACHMENT_BYTES decoded (base64 is 4:3
    plus line breaks)."""
    return MAX_ATTACHMENT_BYTES * 3 // 2 + 1024


def document_text(encoded: bytes, cte: str, room: int, documents_left: int,
                  total: int) -> PartText:
    """The text of a leaf that is not text, if its bytes are a document.

    ``encoded`` is the start of the part's body as sent (at most :func:`encoded_cap` bytes
    are needed), ``total`` the length of all of it; ``documents_left``: how many more may be
    read in this message. Never raises on document content (a transfer-decoding error is
    the caller's).
    """
    too_large = total > encoded_cap()
    # Told from the first bytes: images and other attachments are never decoded whole.
    kind = document_kind(transfer_decode(_sniff_window(encoded, cte), cte))
    if not kind:
        return PartText("")
    data = b"" if too_large else transfer_decode(encoded, cte)
    label = "PDF" if kind == "pdf" else "DOCX or ODT"
    if documents_left <= 0:
        return PartText("", problem=f"A {label} attachment was not read: the message has "
                                    "more documents than are read per message.",
                        document=True)
    size = len(data) if not too_large else total * 3 // 4
    result = read_attachment(kind, data, size, room)
    if kind == "docx" and not result.text and not result.problem:
        return PartText("")  # a zip file that is not a document
    return PartText(result.text, problem=result.problem, document=True)
