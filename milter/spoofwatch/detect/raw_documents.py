"""Document attachments in raw text: base64 parts past the MIME limits, found and read.

Past a MIME limit (more than 1,000 parts, nesting deeper than 32 levels) the tolerant
reader reads the rest of the body as raw text, which keeps the words of text parts but
turns a base64 PDF into noise: a forger would put a thousand tiny parts in front of the
document that carries the threat. :func:`raw_documents` finds base64 bodies in such raw
text (a ``Content-Transfer-Encoding: base64`` field, then the empty line that ends the
header section), tells documents from the rest by their first bytes, as
:mod:`.part_text` does, and reads the documents with the same bounds.

Linear and bounded: one regular expression pass (linear: anchored at line starts, no
nested repetition), the header end looked for within 8 kB of the field, at most
:data:`_MAX_CANDIDATES` bodies sniffed (4 kB decoded each), and documents counted against
the message's :data:`~.attachment_text.MAX_DOCUMENTS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .part_text import PartText, document_text, encoded_cap

__all__ = ["raw_documents"]

_BASE64_FIELD = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*base64[ \t]*\r?$")
_HEADER_WINDOW = 8 * 1024
# Base64 bodies sniffed in one raw text: images and other attachments are skipped after
# 4 kB each, so this bounds the work at about 8 MB of decoding.
_MAX_CANDIDATES = 2_000


def _body_start(data: bytes, after: int) -> int:
    """Where the body after the header field at ``after`` starts; -1 when no header end
    is near."""
    window = data[after:after + _HEADER_WINDOW]
    ends = [i for i in (window.find(b"\n\n"), window.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return -1
    end = min(ends)
    return after + end + (2 if window[end:end + 2] == b"\n\n" else 3)


def raw_documents(data: bytes, room: int, documents_left: int) -> Iterator[PartText]:
    """The documents (PDF, DOCX) among the base64 bodies of ``data``, read as
    :func:`.part_text.document_text` reads an attachment."""
    checked = 0
    pos = 0
    for match in _BASE64_FIELD.finditer(data):
        if match.start() < pos:
            continue  # inside the body of a document already read
        if checked >= _MAX_CANDIDATES or documents_left <= 0:
            return
        checked += 1
        start = _body_start(data, match.end())
        if start < 0:
            continue
        end = data.find(b"\n--", start)
        end = len(data) if end < 0 else end
        part = document_text(data[start:min(end, start + encoded_cap() + 1)], "base64",
                             room, documents_left, end - start)
        if part.document:
            documents_left -= 1
            pos = end
            yield part
