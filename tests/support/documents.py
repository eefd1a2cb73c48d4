"""PDF and DOCX files built in the tests, byte by byte (nothing downloaded).

``pdf`` writes a minimal PDF 1.4 (one Helvetica text line per paragraph, content streams
optionally Flate-compressed, a correct cross-reference table); ``docx`` writes the parts a
word processor needs to open a document (``[Content_Types].xml``, the package relations,
``word/document.xml``), with optional hidden (``w:vanish``) runs.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from xml.sax.saxutils import escape

__all__ = ["docx", "encrypted_pdf", "odt", "pdf", "pdf_objects"]


def _pdf_string(text: str) -> bytes:
    data = text.encode("latin-1", errors="replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(lines: list[str]) -> bytes:
    out = [b"BT /F1 11 Tf 14 TL 50 780 Td"]
    for line in lines:
        out.append(_pdf_string(line) + b" Tj T*")
    out.append(b"ET")
    return b"\n".join(out)


def pdf_objects(objects: list[bytes], root: int = 1, xref: bool = True) -> bytes:
    """A PDF file of ``objects`` (numbered from 1), with a trailer naming ``root``."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    start = out.tell()
    if xref:
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, root, start))
    return out.getvalue()


def _stream(data: bytes, compress: bool) -> bytes:
    if compress:
        data = zlib.compress(data)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + (
            b"\nendstream")
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def pdf(pages: list[list[str]], compress: bool = False) -> bytes:
    """A PDF with one page per item of ``pages``, each a list of text lines."""
    count = len(pages)
    # 1 catalog, 2 page tree, 3 font, then (page, content) pairs
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, lines in enumerate(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                       % (5 + 2 * i))
        objects.append(_stream(_content(lines), compress))
    return pdf_objects(objects)


def encrypted_pdf(pages: list[list[str]], user_password: str) -> bytes:
    """``pdf(pages)`` encrypted with RC4-128 (pypdf's own, no crypto library needed); an
    empty ``user_password`` opens without asking, as with an owner password only."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(pages))))
    writer.encrypt(user_password, "owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>')


def _run(text: str, hidden: bool) -> str:
    props = "<w:rPr><w:vanish/></w:rPr>" if hidden else ""
    return f'<w:r>{props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def document_xml(paragraphs: list[list[tuple[str, bool]]], prolog: str = "") -> str:
    body = "".join("<w:p>" + "".join(_run(t, h) for t, h in runs) + "</w:p>"
                   for runs in paragraphs)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
            f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>')


def docx(paragraphs: list[str] | None = None, *, runs: list[list[tuple[str, bool]]] | None
         = None, document: str | bytes | None = None,
         extra: dict[str, bytes] | None = None) -> bytes:
    """A DOCX with one paragraph per string of ``paragraphs`` (or the given ``runs``: text
    and whether it is hidden, per paragraph; or a whole ``document`` XML)."""
    if document is None:
        document = document_xml(runs if runs is not None else
                                [[(p, False)] for p in paragraphs or []])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        package.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            package.writestr(name, data)
    return out.getvalue()


_ODT_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')


def odt(paragraphs: list[str], hidden: list[str] | None = None) -> bytes:
    """An OpenDocument text with one paragraph per string (and ``hidden`` ones, marked
    ``text:hidden-paragraph``)."""
    body = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    body += "".join(f"<text:hidden-paragraph><text:p>{escape(p)}</text:p>"
                    "</text:hidden-paragraph>" for p in hidden or [])
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODT_NS}>'
               f"<office:body><office:text>{body}</office:text></office:body>"
               "</office:document-content>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", content)
    return out.getvalue()
