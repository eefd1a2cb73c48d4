"""Documents, enriched text, CSS-generated text and image counts: what the readers take from
parts that are not plain text or HTML, and how hostile files are bounded.

Hostile files are bounded by operation counts and bytes, never by the clock, so each
expectation here is exact: a decompression bomb, a content stream of a hundred thousand
operators repeated on a hundred pages, a page tree thousands deep, a zip bomb, a billion
laughs, a zip of twenty thousand members each end in a stated problem (an
``unreadable_structure`` finding), never a stall, a crash or silence.
"""

from __future__ import annotations

import base64
import io
import logging
import zipfile
import zlib

import pytest

from spoofwatch.detect import attachment_text, docx_text, pdf_text
from spoofwatch.detect.attachment_text import (
    MAX_ATTACHMENT_BYTES,
    document_kind,
    read_attachment,
)
from spoofwatch.detect.css_generated import generated_rules
from spoofwatch.detect.docx_text import read_docx
from spoofwatch.detect.enriched_text import enriched_to_text
from spoofwatch.detect.html_text import render_html
from spoofwatch.detect.part_text import document_text
from spoofwatch.detect.pdf_text import read_pdf
from spoofwatch.detect.raw_documents import raw_documents
from spoofwatch.detect.text_reading import Unreadable
from spoofwatch.detect.textextract import read_text, read_text_tolerant
from spoofwatch.message import Message
from support import documents
from support.cputime import least_cpu

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
THREAT = "You will vote for Trump on Election Day or we will come after you"


def one_page(content: bytes, pages: int = 1, compress: bool = True) -> bytes:
    """A PDF whose ``pages`` pages all draw the same content stream."""
    data = zlib.compress(content) if compress else content
    flt = b" /Filter /FlateDecode" if compress else b""
    kids = b" ".join(b"4 0 R" for _ in range(pages))
    return documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages, FONT,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d%s >>\nstream\n" % (len(data), flt) + data + b"\nendstream"])


# ----------------------------------------------------------------------------- PDF


def test_pdf_text_is_read_page_by_page() -> None:
    pdf = documents.pdf([["First page"], [THREAT]], compress=True)
    assert read_pdf(pdf, 10_000) == pdf_text.PdfText("First page\n" + THREAT, "", 2)


def test_a_pdf_without_a_cross_reference_table_is_rebuilt_and_read() -> None:
    pdf = documents.pdf([[THREAT]])
    broken = pdf[: pdf.index(b"xref")] + pdf[pdf.index(b"trailer"):]
    assert read_pdf(broken, 10_000).text == THREAT


def test_a_flate_bomb_is_stopped_at_the_decoding_bound() -> None:
    bomb = one_page(b" " * 200_000_000)  # 200 MB of content in a 200 kB file
    assert read_pdf(bomb, 10_000) == pdf_text.PdfText(
        "", "page 1 could not be read (LimitReachedError)", 1)


def test_one_heavy_page_repeated_a_hundred_times_costs_the_work_bound_once() -> None:
    # 45,000 text operators (90,000 units: under the per-stream bound) in a 2 kB file, drawn
    # on 100 pages: the document's work bound stops the reading after the first page.
    pdf = one_page(b"BT /F1 11 Tf " + b"(x) Tj " * 45_000 + b"ET", pages=100)
    result = read_pdf(pdf, 10**9)
    assert (len(result.text), result.problem, result.pages) == (
        45_000, "its text is too complex to read past page 1 (more than 150,000 units of "
                "work: content operations and font maps)", 100)


def _shared_cmap_pdf(pages: int, entries: int) -> bytes:
    """One composite font whose ToUnicode map has ``entries`` entries, shared by ``pages``
    pages that each show one glyph: pypdf builds the map again for every page."""
    cmap = [b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def "
            b"1 begincodespacerange <0000> <FFFF> endcodespacerange"]
    for start in range(0, entries, 100):
        cmap += [b"100 beginbfchar", *(b"<%04X> <0041>" % (start + k) for k in range(100)),
                 b"endbfchar"]
    cmap.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
    packed = zlib.compress(b"\n".join(cmap), 9)
    content = b"BT /F1 11 Tf 50 700 Td <0001> Tj ET"
    kids = b" ".join(b"%d 0 R" % (6 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H "
        b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /CIDSystemInfo << /Registry "
        b"(Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
        + b"\nendstream",
        *(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << "
          b"/F1 3 0 R >> >> /Contents %d 0 R >>" % (6 + pages) for _ in range(pages)),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    return documents.pdf_objects(objects)


def test_a_large_font_map_shared_by_many_pages_is_charged_on_every_page() -> None:
    # A red-team review: 1,000 one-glyph pages sharing a 20,000-entry map cost 67 s of CPU
    # (3 work units a page). The map is charged on each page, so the reading stops early.
    result = read_pdf(_shared_cmap_pdf(1000, 20_000), 10**9)
    assert (result.problem, result.pages) == (
        "its text is too complex to read past page 8 (more than 150,000 units of work: "
        "content operations and font maps)", 1000)
    assert result.text == "\n".join("A" * 8)


def test_a_content_stream_over_the_parsing_bound_fails_alone_and_is_charged() -> None:
    # Each failing page is charged the per-stream bound: two of them spend the document's.
    pdf = one_page(b"BT " + b"0 0 Td " * 200_000 + b"ET", pages=100)
    assert read_pdf(pdf, 10_000) == pdf_text.PdfText(
        "", "page 1 could not be read (LimitReachedError)", 100)


def test_a_deep_array_in_a_content_stream_is_a_page_problem_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    result = read_pdf(one_page(b"BT " + deep + b" Tj ET", compress=False), 10_000)
    assert result == pdf_text.PdfText("", "page 1 could not be read (RecursionError)", 1)


def test_pypdf_notes_on_a_hostile_pdf_stay_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    # 5,000 cross-reference entries that point nowhere: pypdf warns about them.
    pdf = documents.pdf([[THREAT]])
    table = b"xref\n0 5001\n0000000000 65535 f \n" + b"0000099999 00000 n \n" * 5000
    broken = pdf[: pdf.index(b"xref")] + table + pdf[pdf.index(b"trailer"):]
    with caplog.at_level(logging.DEBUG, logger="spoofwatch"):
        result = read_pdf(broken, 10_000)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert result.text == THREAT


def test_a_page_tree_thousands_deep_is_refused() -> None:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    objects += [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (i + 3) for i in range(3000)]
    objects.append(b"<< /Type /Page /MediaBox [0 0 1 1] >>")
    assert read_pdf(documents.pdf_objects(objects), 10_000) == pdf_text.PdfText(
        "", "it could not be parsed (LimitReachedError)", 0)


@pytest.mark.parametrize(("data", "problem"), [
    (documents.pdf([[THREAT]])[:200], "it could not be parsed (PdfStreamError)"),
    (b"%PDF-1.4\n" + bytes(100_000), "it could not be parsed (PdfStreamError)"),
    (b"%PDF-" + bytes(range(256)) * 4000, "it could not be parsed (PdfStreamError)"),
], ids=["truncated", "zeros", "noise"])
def test_a_broken_pdf_is_a_problem_not_a_crash(data: bytes, problem: str) -> None:
    assert read_pdf(data, 10_000) == pdf_text.PdfText("", problem, 0)


def _annotated(annotations: list[bytes]) -> bytes:
    refs = b" ".join(b"%d 0 R" % (5 + i) for i in range(len(annotations)))
    return documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Annots ["
        + refs + b"] >>", b"<< /Length 0 >>\nstream\n\nendstream", *annotations])


def test_text_in_shown_annotations_and_form_fields_is_read() -> None:
    pdf = _annotated([
        b"<< /Type /Annot /Subtype /FreeText /Rect [0 0 1 1] /Contents (we will) >>",
        b"<< /Type /Annot /Subtype /Widget /Rect [0 0 1 1] /FT /Tx /V (come after you) >>",
        b"<< /Type /Annot /Subtype /FreeText /F 2 /Rect [0 0 1 1] /Contents (hidden) >>",
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 1 1] /Contents (a link) >>"])
    assert read_pdf(pdf, 10_000) == pdf_text.PdfText("we will\ncome after you", "", 1)


def test_a_pdf_without_text_is_reported_not_taken_for_clean() -> None:
    # A page that only paints (a scanned letter, a picture of the threat).
    pdf = one_page(b"q 612 0 0 792 0 0 cm 0 0 1 1 re f Q", pages=2)
    assert read_pdf(pdf, 10_000) == pdf_text.PdfText(
        "", "it has no text (its 2 page(s) hold only images or drawings)", 2)


def test_pages_past_the_page_bound_are_reported() -> None:
    pdf = documents.pdf([[f"page {i}"] for i in range(pdf_text.MAX_PDF_PAGES + 5)])
    result = read_pdf(pdf, 10**6)
    assert (result.text.count("page"), result.problem) == (
        pdf_text.MAX_PDF_PAGES, "only the first 1000 of 1005 pages were read")


def test_a_password_protected_pdf_is_reported() -> None:
    pdf = documents.encrypted_pdf([[THREAT]], "secret")
    assert read_pdf(pdf, 10_000) == pdf_text.PdfText("", "it is encrypted with a password")


# ----------------------------------------------------------------------------- DOCX


def test_docx_text_boxes_tables_split_runs_and_headers_are_read() -> None:
    body = (f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:pict><w:txbxContent><w:p>'
            "<w:r><w:t>in a text box</w:t></w:r></w:p></w:txbxContent></w:pict></w:r></w:p>"
            "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
            "<w:p><w:r><w:t>vo</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>te</w:t></w:r>"
            "</w:p></w:body></w:document>")
    header = f'<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>header</w:t></w:r></w:p></w:hdr>'
    docx = documents.docx(document=body, extra={"word/header1.xml": header.encode()})
    assert read_docx(docx, 10_000) == docx_text.DocxText(
        "in a text box\ncell\nvote\nheader\n")


def test_docx_text_the_reader_does_not_see_is_not_read() -> None:
    body = (f'<w:document xmlns:w="{W}"><w:body><w:p>'
            "<w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden</w:t></w:r>"
            '<w:r><w:rPr><w:vanish w:val="false"/></w:rPr><w:t>shown </w:t></w:r>'
            "<w:r><w:delText>deleted</w:delText></w:r>"
            "<w:r><w:instrText>HYPERLINK</w:instrText></w:r><w:r><w:t>end</w:t></w:r>"
            "</w:p></w:body></w:document>")
    assert read_docx(documents.docx(document=body), 10_000).text == "shown end\n"


def test_odt_text_is_read_without_what_the_reader_does_not_see() -> None:
    content = documents.odt(["first", "second"], hidden=["not shown"])
    assert read_docx(content, 10_000) == docx_text.DocxText("first\nsecond\n")


def test_a_docx_zip_bomb_is_read_up_to_the_xml_bound() -> None:
    # 200 MB of spaces before the threat, in a 200 kB file: white space counts once, and
    # the reading stops at MAX_DOCX_XML_BYTES, saying so.
    body = (f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>'
            + " " * 200_000_000 + THREAT + "</w:t></w:r></w:p></w:body></w:document>")
    assert read_docx(documents.docx(document=body), 10_000) == docx_text.DocxText(
        "", "only the first 16,000,000 bytes of its XML were read")


def test_white_space_padding_does_not_fill_the_character_budget() -> None:
    body = (f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t xml:space="preserve">'
            + " " * 1_000_000 + THREAT + "</w:t></w:r></w:p></w:body></w:document>")
    assert read_docx(documents.docx(document=body), 1_000).text == f"{THREAT}\n"


def test_a_billion_laughs_docx_is_refused_not_expanded() -> None:
    body = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p>'
            "</w:body></w:document>")
    assert read_docx(documents.docx(document=body), 10_000) == docx_text.DocxText(
        "", "word/document.xml could not be read (EntitiesForbidden)")


def test_broken_docx_xml_keeps_what_was_read_and_says_so() -> None:
    body = f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>{THREAT}</w:t></w:r><w:p'
    assert read_docx(documents.docx(document=body), 10_000) == docx_text.DocxText(
        THREAT, "word/document.xml could not be read (ParseError)")


def test_a_zip_of_twenty_thousand_members_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        for i in range(20_000):
            package.writestr(f"f{i}", b"")
    assert read_docx(out.getvalue(), 10_000) == docx_text.DocxText(
        "", "it has more than 5,000 members")


def test_a_zip_that_is_not_a_document_is_not_reported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("photos/a.txt", "holiday")
    assert read_attachment("docx", out.getvalue(), 100, 10_000) == (
        attachment_text.AttachmentText("docx", ""))


# ----------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(("data", "kind"), [
    (b"%PDF-1.7\n", "pdf"), (b"\x00" * 1000 + b"%PDF-1.4", "pdf"),
    (b"\x00" * 1030 + b"%PDF-1.4", ""), (b"PK\x03\x04rest", "docx"),
    (b"\x89PNG\r\n", ""), (b"", ""),
])
def test_documents_are_recognised_by_their_bytes(data: bytes, kind: str) -> None:
    assert document_kind(data) == kind


def test_a_document_over_the_byte_bound_is_reported_unread() -> None:
    assert read_attachment("pdf", b"%PDF-", MAX_ATTACHMENT_BYTES + 1, 10_000) == (
        attachment_text.AttachmentText("pdf", "", "A PDF attachment of 10,000,001 bytes "
                                                  "was not read (more than 10,000,000)."))


def _message(*attachments: bytes, padding_parts: int = 0) -> Message:
    return Message.from_bytes(_raw_message(*attachments, padding_parts=padding_parts))


def _raw_message(*attachments: bytes, padding_parts: int = 0) -> bytes:
    parts = [b"--b\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(a)
             for a in attachments]
    parts += [b"--b\r\nContent-Type: text/plain\r\n\r\nfiller %d\r\n" % i
              for i in range(padding_parts)]
    raw = (b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"".join(parts)
           + b"--b--\r\n")
    return raw


def test_documents_past_the_per_message_bound_are_reported() -> None:
    pdfs = [documents.pdf([[f"document {i}"]]) for i in range(attachment_text.MAX_DOCUMENTS
                                                               + 1)]
    reading = read_text(_message(*pdfs))
    assert reading.text == "s\n\ndocument 0\n\ndocument 1\n\ndocument 2"
    assert reading.unreadable == (Unreadable(
        "attachment", "A PDF attachment was not read: the message has more documents than "
                      "are read per message.", (("limit", "attachment"), ("kind", "pdf"))),)


def test_the_tolerant_reader_reads_documents_too() -> None:
    # More parts than the standard parser is given: the tolerant reader reads the message.
    message = _message(documents.docx([THREAT]), padding_parts=1_200)
    reading = read_text(message)
    assert reading.text.startswith(f"s\n\n{THREAT}\n\nfiller 0")
    assert [u.limit for u in reading.unreadable] == ["mime_parts"]
    assert read_text_tolerant(_message(documents.pdf([[THREAT]]))).text == f"s\n\n{THREAT}"


def test_documents_in_raw_text_are_found_by_their_base64_bodies() -> None:
    pdf = base64.encodebytes(documents.pdf([[THREAT]]))
    image = base64.encodebytes(b"\x89PNG\r\n" + bytes(3000))
    raw = (b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + image + b"--b\r\nContent-Transfer-Encoding: base64\nContent-Type: x/y\n\n"
           + pdf + b"--b--\r\n")
    found = list(raw_documents(raw, 10_000, 3))
    assert [(p.text, p.problem, p.document) for p in found] == [(THREAT, "", True)]
    assert list(raw_documents(raw, 10_000, 0)) == []


def _encoded_message(inner: bytes, levels: int) -> bytes:
    """``inner`` attached base64-encoded inside ``levels`` messages."""
    for level in range(levels):
        inner = (b"From: a@example.org\r\nSubject: level %d\r\nMIME-Version: 1.0\r\n"
                 b'Content-Type: multipart/mixed; boundary="e"\r\n\r\n--e\r\n'
                 b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 % (levels - level) + base64.encodebytes(inner) + b"--e--\r\n")
    return inner


def test_encoded_attached_messages_are_read_to_a_bounded_depth() -> None:
    inner = b"Subject: inner\r\n\r\n" + THREAT.encode() + b"\r\n"
    reading = read_text(Message.from_bytes(_encoded_message(inner, 3)))
    assert (reading.text, reading.unreadable) == (
        f"level 1\n\nlevel 2\n\nlevel 3\n\ninner\n\n{THREAT}", ())
    deeper = read_text(Message.from_bytes(_encoded_message(inner, 5)))
    assert deeper.text == "level 1\n\nlevel 2\n\nlevel 3\n\nlevel 4"
    assert [u.limit for u in deeper.unreadable] == ["encoded_message"]


def test_documents_in_encoded_messages_count_against_the_message() -> None:
    pdfs = _raw_message(*[documents.pdf([[f"document {i}"]]) for i in range(3)])
    reading = read_text(Message.from_bytes(_encoded_message(pdfs, 1)))
    assert reading.text.count("document") == 3
    outer = _encoded_message(pdfs, 1)
    both = (b"From: a@example.org\r\nSubject: two\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
            + b"".join(b"--o\r\nContent-Type: message/rfc822\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n"
                       + base64.encodebytes(outer) for _ in range(2)) + b"--o--\r\n")
    reading = read_text(Message.from_bytes(both))
    assert reading.text.count("document") == 3
    assert [u.limit for u in reading.unreadable] == ["attachment"] * 3


def test_a_broken_document_in_the_message_is_an_unreadable_entry() -> None:
    reading = read_text(_message(b"%PDF-1.4\n" + bytes(1000)))
    assert reading.unreadable == (Unreadable(
        "attachment", "A PDF attachment was not fully read: it could not be parsed "
                      "(PdfStreamError).", (("limit", "attachment"), ("kind", "pdf"))),)


# ----------------------------------------------------------------------------- enriched


@pytest.mark.parametrize(("source", "text"), [
    ("<bold>v</bold>ote", "vote"),
    ("a <<b> c", "a <b> c"),
    ("<color><param>red</param>we</color> will", "we will"),
    ("one\r\ntwo\r\n\r\nthree", "one two\nthree"),
    ("<nofill>one\ntwo</nofill>", "one\ntwo"),
    ("<param>never closed: the rest is not text", ""),
    ("a < b and </ c", "a < b and </ c"),
])
def test_enriched_text_is_read_as_clients_show_it(source: str, text: str) -> None:
    assert enriched_to_text(source) == text


def test_richtext_has_its_own_escapes() -> None:
    assert enriched_to_text("a<lt>b<nl>c\nd<bold>e</bold>", richtext=True) == "a<b\nc de"


def test_enriched_reading_is_linear() -> None:
    unit = "<bold><<</bold>\r\n<param>x</param>"
    small, large = unit * 2_000, unit * 200_000
    ratio = least_cpu(lambda: enriched_to_text(large)) / least_cpu(
        lambda: enriched_to_text(small))
    assert ratio < 500  # linear: about 100; quadratic: about 10,000


# ----------------------------------------------------------------------------- CSS text


def test_css_generated_text_is_read_where_the_element_is() -> None:
    markup = ('<style>.a::before{content:"we "} span.b:after { content: "come" " after" }'
              '#c::after{content:"\\79 ou"}</style><p><span class="a">will</span> '
              '<span class="b"></span> <i id="c"></i></p>')
    assert render_html(markup).text == "we will come after you"


def test_css_generated_text_of_hidden_elements_and_hidden_rules_is_not_read() -> None:
    markup = ('<style>.a::after{content:"hidden"} .b::after{content:"also"; display:none}'
              '</style><p>shown<span class="a" style="display:none"></span>'
              '<span class="b"></span></p>')
    assert render_html(markup).text == "shown"


def test_css_rules_inside_media_blocks_and_after_comments_are_read() -> None:
    markup = ('<style>/* a } comment */@media screen { .x::after { content: "inside" } }'
              '</style><b class="x"></b>')
    assert render_html(markup).text == "inside"


def test_css_attr_content_reads_the_elements_attribute() -> None:
    markup = ('<style>.t::after { content: attr(data-t) "." }</style>'
              '<p><span class="t" data-t="we will come after you"></span></p>')
    assert render_html(markup).text == "we will come after you."


def test_css_rules_are_matched_on_the_whole_compound() -> None:
    markup = ('<style>span.a.b::after{content:"both"} .a::before{content:"any "}</style>'
              '<p><span class="a b">1</span> <span class="a">2</span> '
              '<i class="b">3</i></p>')
    assert render_html(markup).text == "any 1both any 2 3"


def test_css_text_we_cannot_place_is_read_after_the_body_never_inside_words() -> None:
    # A descendant rule that applies to nothing must not split "vote" for us; a rule with
    # an attribute selector that does apply must still be read.
    markup = ('<style>.nope .z::after{content:"qq"} b[title]::after{content:"come"}</style>'
              '<p>vo<b class="z">te</b></p>')
    assert render_html(markup).text == "vote\n\nqq\ncome"


def test_css_generated_text_is_bounded_by_the_markup() -> None:
    markup = "<style>*::after{content:'" + "x" * 2000 + "'}</style>" + "<b></b>" * 10_000
    assert len(render_html(markup).text) <= len(markup)


@pytest.mark.parametrize("unit", ["{", "}", ".a::after{content:'x'}", "/*", "\\", "'",
                                  "@media{", ".a:after{content:\"\\41"])
def test_css_rule_reading_is_linear(unit: str) -> None:
    def rules(size: int) -> object:
        markup = "<style>" + unit * (size // len(unit)) + "</style>"
        return lambda: generated_rules(markup, markup.lower())
    ratio = least_cpu(rules(200_000)) / least_cpu(rules(2_000))
    assert ratio < 500  # linear: about 100 (the style text read is capped besides)


# ----------------------------------------------------------------------------- images


def test_html_counts_images_and_the_characters_of_their_alt_text() -> None:
    rendered = render_html('<img src="a.png" alt="Rally 2024"><amp-img alt="x"></amp-img>'
                           '<img src="b.png" style="display:none" alt="gone"><p>Hi</p>')
    assert (rendered.text, rendered.images, rendered.alt_chars) == ("Rally 2024  x\nHi", 2, 10)


# ---------------------------------------------------------------- a red-team review's cases

def test_a_tracked_formatting_change_does_not_hide_what_word_shows() -> None:
    # w:rPrChange holds the run's *old* formatting: its w:vanish hid nothing on screen
    body = (f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:rPr><w:rPrChange w:id="1">'
            "<w:rPr><w:vanish/></w:rPr></w:rPrChange></w:rPr>"
            f"<w:t>{THREAT}</w:t></w:r></w:p></w:body></w:document>")
    assert read_docx(documents.docx(document=body), 10_000).text == f"{THREAT}\n"


def test_an_office_package_whose_text_is_not_read_is_reported_not_silent() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/main.xml", f"<w:document xmlns:w='{W}'/>")
    assert read_docx(out.getvalue(), 10_000) == docx_text.DocxText(
        "", "it is an office document whose text is not read (no word/document.xml or "
            "text content.xml)")


@pytest.mark.parametrize(("encoded", "cte"), [
    (b"\r\n" * 3000 + base64.encodebytes(documents.pdf([[THREAT]])), "base64"),
    (b" " * 6000 + base64.encodebytes(documents.pdf([[THREAT]])), "base64"),
    ("".join(f"={b:02X}=\r\n" for b in b"x" * 1000).encode()
     + documents.pdf([[THREAT]]), "quoted-printable"),
], ids=["line_breaks", "spaces", "quoted_printable_junk"])
def test_a_document_behind_what_decoders_skip_is_still_recognised(encoded: bytes,
                                                                  cte: str) -> None:
    result = document_text(encoded, cte, 10_000, 3, len(encoded))
    assert (result.document, THREAT in result.text) == (True, True)


@pytest.mark.parametrize("css", [
    '.a::after{content:";" "%s"}',  # a semicolon inside a string
    ".a::after{content:\"\"}" * 8 + '.a::after{content:"%s"}',  # the later rule wins
    '.A::after{content:"%s"}',  # quirks mode: classes match without case
], ids=["semicolon_in_string", "ninth_rule", "class_case"])
def test_css_generated_text_a_reader_sees_is_read(css: str) -> None:
    html = ('<html><head><style>' + css % THREAT + '</style></head><body>'
            '<p class="a">Hello</p></body></html>')
    assert THREAT in render_html(html).text


def test_a_document_is_read_once_per_message_by_both_readers(monkeypatch) -> None:
    """The threat check (read_text) and the identity claim (own_text) read the same parsed
    message: each document is converted once, and both get its text and its problems."""
    from spoofwatch.detect import part_text
    from spoofwatch.detect.claim_reading import own_text

    calls: list[str] = []
    real = part_text.read_attachment
    monkeypatch.setattr(part_text, "read_attachment",
                        lambda kind, *a: calls.append(kind) or real(kind, *a))
    message = _message(documents.pdf([["We are the Proud Boys."]]),
                       documents.docx([THREAT]), documents.pdf([["a"]], compress=True))
    first = read_text(message).text
    assert own_text(message, 1_000_000) == first.replace("\n\n", "\n")
    assert read_text(message).text == first
    assert sorted(calls) == ["docx", "pdf", "pdf"]
    # a smaller room than the text it read: read again, cut to the room
    assert first.startswith(read_text(message, max_chars=10).text)
    assert len(calls) == 4
