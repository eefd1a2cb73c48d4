"""The warning banner: only displayed text leaves change, everything else stays byte-exact."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri

import pytest

from spoofwatch.banner import add_banner
from spoofwatch.banner_html import insert_banner
from spoofwatch.message import Message

TEXT = "WARNING: spoofwatch could not verify the sender."
HTML = "<div class=\"sw\">WARNING: spoofwatch could not verify the sender.</div>"
TEXT_8BIT = "ACHTUNG: Absender nicht bestätigt - prüfen Sie die Nachricht."

PDF = base64.encodebytes(bytes(range(256)) * 4).replace(b"\n", b"\r\n")


def _msg(head: str, body: bytes) -> Message:
    return Message.from_bytes(
        b"From: a@sender.example\r\nTo: b@recipient.example\r\nSubject: s\r\n"
        b"MIME-Version: 1.0\r\n" + head.encode() + b"\r\n\r\n" + body)


def _parse(message: Message, body: bytes, content_type: str = "", cte: str = ""):
    """The message as a reader gets it after the milter applied the result."""
    headers = [(n, v) for n, v in message.headers
               if not (content_type and n.lower() == "content-type")
               and not (cte and n.lower() == "content-transfer-encoding")]
    if content_type:
        headers.append(("Content-Type", " " + content_type))
    if cte:
        headers.append(("Content-Transfer-Encoding", " " + cte))
    raw = Message(tuple(headers), body).as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)


def _content(part) -> str:
    """Decoded text with line ends as a reader sees them (the parser keeps CRLF)."""
    return part.get_content().replace("\r\n", "\n")


def _segments(body: bytes, boundary: bytes) -> list[bytes]:
    return body.split(b"--" + boundary)


MIXED = (
    b"This is a MIME message.\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=FC=DFe aus K=F6ln, eine sehr lange Zeile die weiter geht als sechsundsiebzig Z=\r\n"
    b"eichen.\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes("<html><head><title>t</title></head><body bgcolor=white>"
                         "<p>Grüße aus Köln</p></body></html>".encode()).replace(b"\n", b"\r\n")
    + b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name=\"a.pdf\"\r\n"
    b"Content-Disposition: attachment;\r\n\tfilename=\"a.pdf\"\r\n"
    b"X-Odd:   spaced   value  \r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + PDF +
    b"--outer\r\n"
    b"Content-Type: text/plain; name=notes.txt\r\n"
    b"Content-Disposition: attachment; filename=notes.txt\r\n\r\n"
    b"attached notes\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n\r\n"
    b"From: x@y.example\r\nSubject: forwarded\r\n\r\nthe forwarded text\r\n"
    b"--outer--\r\n"
    b"epilogue\r\n"
)


@pytest.fixture
def mixed() -> Message:
    return _msg('Content-Type: multipart/mixed; boundary="outer"', MIXED)


def test_multipart_structure_and_attachments_stay_byte_identical(mixed: Message) -> None:
    result = add_banner(mixed, TEXT_8BIT, HTML)
    assert result is not None and result.parts_changed == 2
    assert (result.content_type, result.content_transfer_encoding) == ("", "")
    before, after = _segments(MIXED, b"outer"), _segments(result.body, b"outer")
    assert len(before) == len(after) == 6
    assert after[0] == before[0]  # preamble
    assert after[2:] == before[2:]  # the PDF, the text attachment, the forwarded message, epilogue
    assert result.body.count(b"--inner") == MIXED.count(b"--inner")


def test_banner_is_in_plain_and_html_parts_and_decodes_back(mixed: Message) -> None:
    result = add_banner(mixed, TEXT_8BIT, HTML)
    parsed = _parse(mixed, result.body)
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    # the banner fits in iso-8859-1: charset and quoted-printable kept
    assert plain.get_content_charset() == "iso-8859-1"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert _content(plain).startswith(TEXT_8BIT + "\n\nGrüße aus Köln, eine sehr lange")
    assert html["Content-Transfer-Encoding"] == "base64"
    assert _content(html) == (
        "<html><head><title>t</title></head><body bgcolor=white>" + HTML
        + "<p>Grüße aus Köln</p></body></html>")
    for part in (plain, html):  # re-encoded lines stay within the limits
        raw = part.as_bytes()
        assert max(len(line) for line in raw.split(b"\n")) <= 78


def test_text_that_does_not_fit_the_charset_becomes_utf8() -> None:
    msg = _msg("Content-Type: multipart/alternative; boundary=b",
               b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nplain\r\n--b--\r\n")
    result = add_banner(msg, "Внимание: отправитель не подтверждён", HTML)
    plain = _parse(msg, result.body).get_body(("plain",))
    assert plain.get_content_charset() == "utf-8"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert _content(plain) == "Внимание: отправитель не подтверждён\n\nplain"


def test_single_part_ascii_message_keeps_its_headers() -> None:
    msg = _msg("Content-Type: text/plain; charset=us-ascii", b"Hello\r\n")
    result = add_banner(msg, TEXT, HTML)
    assert result.body == TEXT.encode() + b"\r\n\r\nHello\r\n"
    assert (result.content_type, result.content_transfer_encoding) == ("", "")


def test_single_part_utf8_8bit_message_keeps_its_headers() -> None:
    msg = _msg("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
               "Grüße\r\n".encode())
    result = add_banner(msg, TEXT_8BIT, HTML)
    assert result.body == (TEXT_8BIT + "\r\n\r\nGrüße\r\n").encode()
    assert (result.content_type, result.content_transfer_encoding) == ("", "")


def test_single_part_ascii_message_gaining_non_ascii_text_changes_charset_and_cte() -> None:
    msg = _msg("Content-Type: text/plain", b"Hello\r\n")
    result = add_banner(msg, TEXT_8BIT, HTML)
    assert result.content_type == 'text/plain; charset="utf-8"'
    assert result.content_transfer_encoding == "quoted-printable"
    parsed = _parse(msg, result.body, result.content_type, result.content_transfer_encoding)
    assert _content(parsed) == TEXT_8BIT + "\n\nHello\n"
    assert result.body.isascii()


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_single_part_encoded_message_is_re_encoded_in_its_encoding(cte: str) -> None:
    text = "Grüße aus Köln\r\n" * 10
    encoded = (base64.encodebytes(text.encode()) if cte == "base64"
               else quopri.encodestring(text.encode()))
    msg = _msg(f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}",
               encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    result = add_banner(msg, TEXT_8BIT, HTML)
    assert (result.content_type, result.content_transfer_encoding) == ("", "")
    assert result.body.isascii()
    parsed = _parse(msg, result.body)
    assert _content(parsed) == TEXT_8BIT + "\n\n" + text.replace("\r\n", "\n")


def test_html_only_message_without_body_tag_gets_the_banner_first() -> None:
    msg = _msg("Content-Type: text/html; charset=utf-8", b"<p>Hi</p>\r\n")
    result = add_banner(msg, TEXT, HTML)
    assert result.body == HTML.encode() + b"\r\n<p>Hi</p>\r\n"


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ("Content-Type: application/pdf", b"%PDF-1.4\r\n"),
        ("Content-Type: text/plain; charset=x-unknown-charset", b"Hello\r\n"),
        ("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode",
         b"begin 644 x\r\n`\r\nend\r\n"),
        ("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt",
         b"Hello\r\n"),
        ('Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=s',
         b"--s\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--s\r\n"
         b"Content-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n"),
    ],
    ids=["not-text", "unknown-charset", "unknown-cte", "attachment", "signed"],
)
def test_parts_a_banner_must_not_touch_leave_the_message_unchanged(head: str,
                                                                   body: bytes) -> None:
    assert add_banner(_msg(head, body), TEXT, HTML) is None


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ("Content-Type: multipart/mixed", b"no boundary at all\r\n"),
        ('Content-Type: multipart/mixed; boundary="zz"', b"the boundary never appears\r\n"),
        ('Content-Type: multipart/mixed; boundary="zz"', b"--zz--\r\n"),
        ("Content-Type: multipart/mixed; boundary=a",
         b"".join(b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" for _ in range(300))),
        ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64",
         b"!!!! not base64 ????\r\n"),
        ("Content-Type: =?utf-8?q?\xff?=; boundary", b"\x00\xff\r\n"),
    ],
    ids=["no-boundary", "boundary-missing", "only-closing", "deep-nesting", "bad-base64",
         "garbage-header"],
)
def test_broken_mime_does_not_crash(head: str, body: bytes) -> None:
    msg = Message.from_bytes(b"From: a@b.example\r\n" + head.encode("latin-1")
                             + b"\r\n\r\n" + body)
    result = add_banner(msg, TEXT, HTML)
    assert result is None or isinstance(result.body, bytes)


def test_multipart_without_boundary_is_left_alone() -> None:
    assert add_banner(_msg("Content-Type: multipart/mixed", b"--x\r\n\r\nhi\r\n"), TEXT,
                      HTML) is None


# --------------------------------------------------------------------------- HTML placement
# The place in HTML is decided by an HTML5 parser: a forger's comment, script, template or
# attribute holding "<body>" must not receive the warning. Each case is the whole part
# before and after; tests/integration/test_banner_chromium.py renders them in a browser.

B = "<div>WARNING</div>"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<html><!-- <body> --><body>Hi", "<html><!-- <body> --><body>" + B + "Hi"),
        ("<script>'<body>'</script><p>Hi", "<script>'<body>'</script>" + B + "<p>Hi"),
        ("<template><body>x</template><body>Hi", "<template><body>x</template><body>" + B + "Hi"),
        ('<head><meta content="<body>"></head><body>Hi',
         '<head><meta content="<body>"></head><body>' + B + "Hi"),
        ("<head><title>t</title></head><p title='a>b'>Hi",
         "<head><title>t</title></head>" + B + "<p title='a>b'>Hi"),
        ("<!--[if mso]><body><![endif]--><body>Hi", "<!--[if mso]><body><![endif]--><body>" + B
         + "Hi"),
        ("<svg><![CDATA[<body>]]></svg><p>Hi", B + "\n<svg><![CDATA[<body>]]></svg><p>Hi"),
        ("<head><noscript><body></noscript></head><body>Hi",
         "<head><noscript><body></noscript></head><body>" + B + "Hi"),
        ("<body>Hi<body class=x>there", "<body>" + B + "Hi<body class=x>there"),
        ("\ufeff<!DOCTYPE html><body>Hi", "\ufeff<!DOCTYPE html><body>" + B + "Hi"),
        ("<head><title>x</title></head>\nHi <b>there</b>",
         "<head><title>x</title></head>" + B + "\nHi <b>there</b>"),
    ],
    ids=["comment", "script", "template", "attribute", "attribute-gt", "conditional-comment",
         "cdata", "noscript-in-head", "two-bodies", "bom-doctype", "implied-body"],
)
def test_html_banner_goes_where_the_parser_opens_the_body(html: str, expected: str) -> None:
    assert insert_banner(html, B) == expected


def test_html_banner_in_a_mime_part_lands_after_the_real_body_tag() -> None:
    msg = _msg("Content-Type: text/html; charset=utf-8",
               b"<html><!-- <body> --><body>Hi</body></html>\r\n")
    result = add_banner(msg, TEXT, HTML)
    assert result.body == (b"<html><!-- <body> --><body>" + HTML.encode()
                           + b"Hi</body></html>\r\n")


def test_html_too_deep_to_parse_gets_the_banner_first_and_stays_otherwise_unchanged() -> None:
    # 100,000 nested <div>: the parser reads only the beginning (its time grows with the
    # square of the depth), and the banner goes first, where it opens the body itself.
    html = "<head><title>t</title></head>" + "<div>" * 100_000 + "Hi"
    assert insert_banner(html, B) == "<head><title>t</title></head>" + B + html[29:]


def test_html_decoys_past_the_parsed_beginning_put_the_banner_first() -> None:
    html = "<!--" + "<body>" * 10_000 + "--><body>Hi"
    assert insert_banner(html, B) == B + "\n" + html


def test_html_whose_offsets_all_change_the_tree_is_serialized_with_the_banner_first() -> None:
    # Without scripting (mail readers) the <p> in the head's <noscript> opens the body and
    # shows; with scripting it is hidden text of the head. Every offset before it moves the
    # <noscript> for one of them, every offset after it puts "n" before the warning: the
    # parsed tree is written out again, the banner the first child of <body>.
    html = "<head><style>x</style><noscript><p>n</p></noscript></head>Hi"
    assert insert_banner(html, B) == (
        "<html><head><style>x</style><noscript></noscript></head><body>" + B
        + "<p>n</p>Hi</body></html>")


def test_html_where_readers_open_the_body_at_different_tags_keeps_its_bytes() -> None:
    # The <img> in the head's <noscript> opens the body only without scripting; after
    # </head> the banner is first for both (the pixel shows nothing).
    html = '<head><noscript><img src="p.gif"></noscript><link rel="x" href="/a"></head>Hi'
    assert insert_banner(html, B) == html[:-2] + B + "Hi"


# --------------------------------------------------------------------------- hostile structure
# A hostile part elsewhere in the message must not take the banner off the parts a reader
# sees first. Before the fix, each of these left the whole message without a banner.

ALTERNATIVE = (
    b"--mix\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"
    b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n--alt--\r\n"
)


def _with_hostile_part(part: bytes) -> Message:
    return _msg('Content-Type: multipart/mixed; boundary="mix"',
                ALTERNATIVE + part + b"--mix--\r\n")


HOSTILE_PARTS = {
    # 25 levels of multipart below the displayed alternative (the limit is 20)
    "deep-nesting": b"--mix\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n" % (i, i)
        for i in range(25)) + b"Content-Type: text/plain\r\n\r\ndeep\r\n",
    # 250 parts after it (the limit is 200)
    "many-parts": b"".join(b"--mix\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n"
                           for _ in range(250)),
    # 8-bit bytes in a parameter: the email package's set_param raises TypeError
    "8bit-parameter": b'--mix\r\nContent-Type: text/plain; format="\xff"\r\n\r\nx\r\n',
    # 8-bit boundary of a nested multipart
    "8bit-boundary": b'--mix\r\nContent-Type: multipart/mixed; boundary="\xff"\r\n\r\n'
                     b"--\xff\r\n\r\nx\r\n--\xff--\r\n",
    # a NUL byte in a charset parameter
    "nul-charset": b'--mix\r\nContent-Type: text/plain; charset="utf-8\x00"\r\n\r\nx\r\n',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PARTS))
def test_a_hostile_part_does_not_take_the_banner_off_the_displayed_parts(name: str) -> None:
    msg = _with_hostile_part(HOSTILE_PARTS[name])
    result = add_banner(msg, TEXT_8BIT, HTML)
    assert result is not None and result.parts_changed == 2
    parsed = _parse(msg, result.body)
    assert _content(parsed.get_body(("plain",))) == TEXT_8BIT + "\n\nHello"
    assert _content(parsed.get_body(("html",))) == HTML + "\n<p>Hello</p>"
    # the hostile part itself is left byte for byte as it came
    assert result.body.endswith(HOSTILE_PARTS[name] + b"--mix--\r\n")
