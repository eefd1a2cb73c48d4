"""The seed threat where a forger hopes we do not read, through analyze(): PDF and DOCX
attachments (whatever type and name they are declared with), text/enriched and AMP parts,
CSS-generated text; and image-only mail, which gets the weak image_only finding.

Every message has the seed's envelope and From (officialproudboys.com: spoof evidence), so
the exact level says whether the threat was read: ``threat`` (quarantined) when it was.
Legitimate political mail in the same shapes, from the same forged envelope, stays a plain
``spoof`` with no threat_content; and from an authenticated-looking sender nothing here adds
weight to an ordinary image newsletter.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from spoofwatch.config import Config
from spoofwatch.dns import Resolver
from spoofwatch.results import Level
from support import documents, seeds
from support.analysis import analyze_seed, default_config
from support.dnsserver import DnsTestServer

SPOOF_FINDINGS = ["from_domain_unauthenticated", "non_mail_domain"]
THREAT_FINDINGS = [*SPOOF_FINDINGS, "threat_content"]
THREAT_LINES = [line.strip() + "." for line in seeds.THREAT_EN.split(". ")]
COVER = "Please read the attached notice from the committee."
CANVASS = ("Volunteers from the county party will come to your door this Saturday to talk "
           "about early voting. Polls are open from 7 am to 8 pm on Election Day.")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return default_config(tmp_path_factory.mktemp("odd_parts"))


@pytest.fixture
def seed_dns(dns: DnsTestServer) -> DnsTestServer:
    seeds.publish_seed_zone(dns)
    return dns


def _head(content_type: str, subject: str = "Election notice") -> bytes:
    return (f"From: {seeds.SEED_FROM}\r\nTo: voter@recipient.example\r\nSubject: {subject}\r\n"
            "Date: Tue, 20 Oct 2020 09:14:00 +0000\r\nMessage-ID: <odd@vps.example>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n").encode()


def single(body: str, content_type: str) -> bytes:
    return (_head(content_type) + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            + body.replace("\n", "\r\n").encode())


def with_attachment(data: bytes, content_type: str, filename: str, cover: str = COVER,
                    cte: str = "base64") -> bytes:
    encoded = base64.encodebytes(data) if cte == "base64" else data
    return (_head('multipart/mixed; boundary="b1"') + b"\r\n--b1\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + cover.encode() + b"\r\n"
            b"--b1\r\nContent-Type: " + content_type.encode() + b"\r\n"
            b'Content-Disposition: attachment; filename="' + filename.encode() + b'"\r\n'
            b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n"
            + encoded + b"\r\n--b1--\r\n")


def level_and_names(resolver: Resolver, config: Config, raw: bytes) -> tuple[Level, list[str]]:
    report = analyze_seed(resolver, config, raw)
    return report.level, [f.name for f in report.verdict.findings]


# ------------------------------------------------------------------- PDF and DOCX


def _pdf() -> bytes:
    return with_attachment(documents.pdf([THREAT_LINES]), "application/pdf", "notice.pdf")


def _pdf_compressed_second_page() -> bytes:
    pages = [["Voter information", "Your polling place is listed below."], THREAT_LINES]
    return with_attachment(documents.pdf(pages, compress=True), "application/pdf",
                           "notice.pdf")


def _pdf_disguised_as_image() -> bytes:
    # Declared type and name lie; the reader's client opens it as a PDF all the same.
    return with_attachment(documents.pdf([THREAT_LINES], compress=True), "image/png",
                           "photo.png")


def _pdf_octet_stream_no_name() -> bytes:
    return with_attachment(documents.pdf([THREAT_LINES]), "application/octet-stream", "x")


def _pdf_without_xref() -> bytes:
    # A broken cross-reference table: readers rebuild it, and so does pypdf.
    pdf = documents.pdf([THREAT_LINES])
    return with_attachment(pdf[: pdf.index(b"xref")] + pdf[pdf.index(b"trailer"):],
                           "application/pdf", "notice.pdf")


def _pdf_form_field() -> bytes:
    # No text in the page's content stream: the words are a form field's value.
    value = seeds.THREAT_EN.strip().replace("(", "").replace(")", "").encode()
    pdf = documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Annots [5 0 R] >>", b"<< /Length 0 >>\nstream\n\nendstream",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /Rect [0 0 600 700] /V (" + value
        + b") >>"])
    return with_attachment(pdf, "application/pdf", "form.pdf")


def _docx() -> bytes:
    return with_attachment(documents.docx(THREAT_LINES), "application/vnd.openxmlformats-"
                           "officedocument.wordprocessingml.document", "notice.docx")


def _docx_split_runs() -> bytes:
    # Every word split across formatting runs ("vo" bold + "te"): Word shows whole words.
    runs = [[(line[i:i + 3], False) for i in range(0, len(line), 3)] for line in THREAT_LINES]
    return with_attachment(documents.docx(runs=runs), "application/msword", "notice.doc")


def _docx_in_header() -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    header = (f'<w:hdr xmlns:w="{w}"><w:p><w:r><w:t>{seeds.THREAT_EN.strip()}</w:t></w:r>'
              "</w:p></w:hdr>").encode()
    return with_attachment(documents.docx(["Notice"], extra={"word/header1.xml": header}),
                           "application/octet-stream", "notice.bin")


def _odt() -> bytes:
    return with_attachment(documents.odt(THREAT_LINES), "application/vnd.oasis."
                           "opendocument.text", "notice.odt")


@pytest.mark.parametrize("build", [
    _odt, _pdf, _pdf_compressed_second_page, _pdf_disguised_as_image, _pdf_octet_stream_no_name,
    _pdf_without_xref, _pdf_form_field, _docx, _docx_split_runs, _docx_in_header,
], ids=lambda f: f.__name__.lstrip("_"))
def test_the_seed_threat_in_a_document_attachment_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, build: Callable[[], bytes]
) -> None:
    assert level_and_names(resolver, config, build()) == (Level.THREAT, THREAT_FINDINGS)


def test_a_document_behind_a_thousand_parts_is_still_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # More parts than the MIME limit: the rest is raw text for the tolerant reader, and
    # the PDF in it is found and read all the same (the limit itself is reported).
    padding = b"".join(b"--b1\r\nContent-Type: text/plain\r\n\r\nnotice %d\r\n" % i
                       for i in range(1_200))
    raw = with_attachment(documents.pdf([THREAT_LINES], compress=True),
                          "application/octet-stream", "scan.bin")
    head, _, rest = raw.partition(b"\r\n--b1\r\n")
    raw = head + b"\r\n" + padding + b"--b1\r\n" + rest
    assert level_and_names(resolver, config, raw) == (
        Level.THREAT, [*THREAT_FINDINGS, "unreadable_structure"])


def _attached_message(cte: str) -> bytes:
    inner = (b"From: Proud Boys <info@officialproudboys.com>\r\nSubject: Election notice\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             + seeds.THREAT_EN.replace("\n", "\r\n").encode())
    return with_attachment(inner, "message/rfc822", "notice.eml", cover="Notice attached.",
                           cte=cte)


@pytest.mark.parametrize("cte", ["7bit", "base64"])
def test_the_seed_threat_in_an_attached_message_is_read_however_it_is_encoded(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, cte: str
) -> None:
    # RFC 2046 allows only 7bit, 8bit or binary for message/rfc822; clients decode a base64
    # one and show it all the same.
    assert level_and_names(resolver, config, _attached_message(cte)) == (
        Level.THREAT, THREAT_FINDINGS)


def test_the_threat_in_hidden_docx_runs_is_not_read_as_visible(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    runs = [[("Your polling place is open from 7 to 8.", False), (line, True)]
            for line in THREAT_LINES]
    raw = with_attachment(documents.docx(runs=runs), "application/octet-stream", "a.docx")
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)


def test_a_pdf_that_is_only_a_picture_is_reported(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    content = b"q 612 0 0 792 0 0 cm 0 0 1 1 re f Q"
    pdf = documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"])
    report = analyze_seed(resolver, config, with_attachment(pdf, "application/pdf", "a.pdf"))
    assert (report.level, [f.name for f in report.verdict.findings]) == (
        Level.SPOOF, [*SPOOF_FINDINGS, "unreadable_structure"])
    assert report.verdict.findings[-1].text == (
        "A PDF attachment was not fully read: it has no text (its 1 page(s) hold only "
        "images or drawings).")


def test_a_canvassing_flyer_as_pdf_is_not_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = with_attachment(documents.pdf([[CANVASS]]), "application/pdf", "flyer.pdf")
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)


def test_an_encrypted_pdf_is_reported_not_passed_over(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = with_attachment(documents.encrypted_pdf([THREAT_LINES], "secret"),
                          "application/pdf", "notice.pdf")
    report = analyze_seed(resolver, config, raw)
    assert (report.level, [f.name for f in report.verdict.findings]) == (
        Level.SPOOF, [*SPOOF_FINDINGS, "unreadable_structure"])
    assert [f.text for f in report.verdict.findings][-1] == (
        "A PDF attachment was not fully read: it is encrypted with a password.")


def test_a_pdf_opened_without_a_password_is_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # Encrypted with an owner password only: readers open it without asking.
    raw = with_attachment(documents.encrypted_pdf([THREAT_LINES], ""),
                          "application/pdf", "notice.pdf")
    assert level_and_names(resolver, config, raw) == (Level.THREAT, THREAT_FINDINGS)


# ------------------------------------------------------------------- text/enriched, AMP


def _enriched() -> bytes:
    body = "".join(f"<bold>{line[:4]}</bold>{line[4:]}\n\n" for line in THREAT_LINES)
    return single("<param>Times</param>" + body, "text/enriched; charset=us-ascii")


def _enriched_with_param_junk() -> bytes:
    # Junk inside <param> splits words for a naive reader; clients show "vote".
    body = seeds.THREAT_EN.replace("vote", "vo<param>x-junk</param>te").replace(
        "come", "co<color><param>red</param>me</color>")
    return single(body, "text/enriched")


def _richtext() -> bytes:
    return single(seeds.THREAT_EN.replace(". ", ".<nl>"), "text/richtext")


def _amp_alternative() -> bytes:
    amp = ('<!doctype html><html \u26a14email><head><meta charset="utf-8"></head><body>'
           f"<p>{seeds.THREAT_EN}</p></body></html>")
    return (_head('multipart/alternative; boundary="alt"') + b"\r\n--alt\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello voter.\r\n"
            b"--alt\r\nContent-Type: text/x-amp-html; charset=utf-8\r\n\r\n"
            + amp.encode() + b"\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            b"<p>Hello voter.</p>\r\n--alt--\r\n")


def _calendar() -> bytes:
    # An invitation's description is on the reader's screen as well.
    return single("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Election Day\nDESCRIPTION:"
                  + seeds.THREAT_EN.strip() + "\nEND:VEVENT\nEND:VCALENDAR\n",
                  "text/calendar; method=REQUEST")


def _xhtml() -> bytes:
    return single(f'<html xmlns="http://www.w3.org/1999/xhtml"><p>{seeds.THREAT_EN}</p></html>',
                  "application/xhtml+xml")


@pytest.mark.parametrize("build", [_enriched, _enriched_with_param_junk, _richtext,
                                   _amp_alternative, _calendar, _xhtml],
                         ids=lambda f: f.__name__.lstrip("_"))
def test_the_seed_threat_in_an_enriched_amp_or_other_text_part_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, build: Callable[[], bytes]
) -> None:
    assert level_and_names(resolver, config, build()) == (Level.THREAT, THREAT_FINDINGS)


# ------------------------------------------------------------------- CSS-generated text


def _css_after() -> bytes:
    style = "".join(f".l{i}::after {{ content: \"{line}\"; }}\n"
                    for i, line in enumerate(THREAT_LINES))
    spans = "".join(f'<p><span class="l{i}"></span></p>' for i in range(len(THREAT_LINES)))
    return single(f"<html><head><style>{style}</style></head><body>{spans}</body></html>",
                  "text/html; charset=utf-8")


def _css_escaped_before() -> bytes:
    # CSS escapes ("\76 " is "v") spell the words: no word appears in the source.
    def escaped(text: str) -> str:
        return "".join(f"\\{ord(c):x} " for c in text)
    style = "".join(f"p#x{i}:before{{content:'{escaped(line)}'}}"
                    for i, line in enumerate(THREAT_LINES))
    body = "".join(f'<p id="x{i}"></p>' for i in range(len(THREAT_LINES)))
    return single(f"<style>/* print */@media screen{{{style}}}</style>{body}",
                  "text/html; charset=utf-8")


def _css_attr() -> bytes:
    spans = "".join(f'<p><span class="t" data-t="{line}"></span></p>' for line in THREAT_LINES)
    return single(f"<style>span.t::before{{content: attr(data-t)}}</style>{spans}",
                  "text/html; charset=utf-8")


def _css_descendant_selector() -> bytes:
    style = "".join(f"div.letter p.l{i}::after {{ content: \"{line}\" }}"
                    for i, line in enumerate(THREAT_LINES))
    body = "".join(f'<p class="l{i}"></p>' for i in range(len(THREAT_LINES)))
    return single(f'<style>{style}</style><div class="letter">{body}</div>',
                  "text/html; charset=utf-8")


@pytest.mark.parametrize("build", [_css_after, _css_escaped_before, _css_attr,
                                   _css_descendant_selector],
                         ids=lambda f: f.__name__.lstrip("_"))
def test_the_seed_threat_in_css_generated_text_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, build: Callable[[], bytes]
) -> None:
    assert level_and_names(resolver, config, build()) == (Level.THREAT, THREAT_FINDINGS)


def test_css_generated_text_on_a_hidden_element_is_not_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    style = "".join(f".l{i}::after {{ content: \"{line}\" }}"
                    for i, line in enumerate(THREAT_LINES))
    spans = "".join(f'<span class="l{i}" style="display:none"></span>'
                    for i in range(len(THREAT_LINES)))
    raw = single(f"<style>{style}</style><p>Polls open at 7.</p>{spans}",
                 "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)


# ------------------------------------------------------------------- image-only mail


def _image_part(cid: str = "flyer") -> bytes:
    return (b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-ID: <" + cid.encode() + b">\r\n\r\n"
            + base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(200)) + b"\r\n")


def _related(html: str) -> bytes:
    return (_head('multipart/related; boundary="rel"') + b"\r\n--rel\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode() + b"\r\n"
            b"--rel\r\n" + _image_part() + b"--rel--\r\n")


def test_an_image_only_message_gets_image_only(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = _related('<html><body><img src="cid:flyer"></body></html>')
    assert level_and_names(resolver, config, raw) == (
        Level.SPOOF, [*SPOOF_FINDINGS, "image_only"])


def test_a_bare_image_attachment_gets_image_only(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = _head("image/jpeg") + b"Content-Transfer-Encoding: base64\r\n\r\n" + (
        base64.encodebytes(b"\xff\xd8\xff" + bytes(300)))
    assert level_and_names(resolver, config, raw) == (
        Level.SPOOF, [*SPOOF_FINDINGS, "image_only"])


def test_the_threat_in_image_alt_text_is_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = _related(f'<img src="cid:flyer" alt="{seeds.THREAT_EN.strip()}">')
    assert level_and_names(resolver, config, raw) == (
        Level.THREAT, [*THREAT_FINDINGS, "image_only"])


def test_text_in_hidden_html_does_not_make_an_image_message_carry_text(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    hidden = f'<div style="display:none">{CANVASS}</div>'
    raw = _related(f'{hidden}<img src="cid:flyer"><span title="{CANVASS}"></span>')
    assert level_and_names(resolver, config, raw) == (
        Level.SPOOF, [*SPOOF_FINDINGS, "image_only"])


def test_a_mostly_image_newsletter_with_text_does_not_get_image_only(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    html = ('<img src="cid:flyer" alt="Rally poster"><img src="https://party.example/b.png">'
            "<p>Join us Saturday at the county fairgrounds. Alaska Democratic Party, "
            'PO Box 1, Anchorage. <a href="https://party.example/u">Unsubscribe</a></p>')
    assert level_and_names(resolver, config, _related(html)) == (Level.SPOOF, SPOOF_FINDINGS)


def test_an_image_with_a_text_alternative_does_not_get_image_only(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = (_head('multipart/alternative; boundary="alt"') + b"\r\n--alt\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + CANVASS.encode() + b"\r\n"
           b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b'<img src="https://party.example/flyer.png">\r\n--alt--\r\n')
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)


def test_a_text_message_does_not_get_image_only(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    raw = single("Hi", "text/plain")
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)
