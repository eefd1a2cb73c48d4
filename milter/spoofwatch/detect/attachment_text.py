"""The text of document attachments (PDF, DOCX) a reader opens with one click; bounded.

Which parts are documents is decided by their bytes, not by what the sender declares: a
forger can label a PDF ``application/octet-stream`` or ``image/png`` and name it
``photo.jpg``, and the reader's mail client still opens it as a PDF (by its name or by
sniffing), so a declared type must not switch the reading off. A PDF starts with
``%PDF-`` within its first 1,024 bytes (as PDF readers accept); a DOCX is a zip file
with a ``word/`` part (the name is checked once the zip is open).

A document we could not read, or read only in part, is reported (:class:`AttachmentText`
``problem``), never passed over in silence: the caller turns it into an
``unreadable_structure`` finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from .docx_text import read_docx
from .pdf_text import read_pdf

__all__ = ["MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENT_CHARS", "AttachmentText",
           "document_kind", "read_attachment"]

# Decoded bytes of one attachment that are read. At the measured cost (about 0.5 s of CPU
# per MB of PDF text content, docs/detection.md), 10 MB bounds one document's reading;
# a larger one is reported unread rather than holding a worker for tens of seconds.
MAX_ATTACHMENT_BYTES = 10_000_000
# Characters taken from one document: ~100 pages of prose. A threat hidden behind more
# than that in a document nobody reads to the end is reported (pages or bytes not read).
MAX_ATTACHMENT_CHARS = 2_000_000
# Documents read per message: an attacker's hundred attached PDFs must not multiply the
# per-document bound; the ones after are reported unread.
MAX_DOCUMENTS = 3
_PDF_MAGIC_WINDOW = 1024


@dataclass(frozen=True)
class AttachmentText:
    kind: str  # "pdf" or "docx"
    text: str
    problem: str = ""  # a plain sentence saying what could not be read; "" when all was


def document_kind(data: bytes) -> str:
    """"pdf", "docx" (a zip: the caller finds out whether it is one) or ""."""
    if b"%PDF-" in data[:_PDF_MAGIC_WINDOW]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    return ""


def read_attachment(kind: str, data: bytes, size: int, room: int) -> AttachmentText:
    """The text of the document ``data`` (its first bytes, of ``size`` in all).

    ``kind`` is what :func:`document_kind` said. Never raises.
    """
    label = "PDF" if kind == "pdf" else "DOCX or ODT"
    room = min(room, MAX_ATTACHMENT_CHARS)
    if size > MAX_ATTACHMENT_BYTES:
        return AttachmentText(kind, "", f"A {label} attachment of {size:,} bytes was not "
                                        f"read (more than {MAX_ATTACHMENT_BYTES:,}).")
    if kind == "pdf":
        # Bytes before the header (readers skip up to a kilobyte of them) would make every
        # offset in the file wrong for pypdf: read from the header, and let it rebuild.
        data = data[max(0, data.find(b"%PDF-", 0, _PDF_MAGIC_WINDOW)):]
    result = read_pdf(data, room) if kind == "pdf" else read_docx(data, room)
    if kind == "docx" and result.problem == "it has no word/document.xml":
        return AttachmentText(kind, "")  # a zip that is not a document: not ours to read
    problem = f"A {label} attachment was not fully read: {result.problem}." if (
        result.problem) else ""
    return AttachmentText(kind, result.text, problem)
