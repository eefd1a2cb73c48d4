"""The tolerant MIME reader (spoofwatch.mime) and read_text's choice between readers.

Hostile messages are generated here; the two shipped reproductions are read from
tests/data/repro/. What is asserted: the tolerant reader reads ordinary mail exactly as the
standard parser does, follows broken structure the way a mail client does, never recurses
or raises, states and reports its limits, and costs time linear in the input.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from spoofwatch import mime
from spoofwatch.detect.textextract import (
    TextReading,
    Unreadable,
    extract_text,
    read_text,
    read_text_tolerant,
)
from spoofwatch.message import Message
from spoofwatch.mime import Fields, Leaf, LimitReached, RawText, Subject
from spoofwatch.quarantine.review import body_text
from support.cputime import least_cpu

REPRO = Path(__file__).resolve().parents[1] / "data" / "repro"
HEAD = b"From: a@example.org\r\nSubject: Notice\r\nMIME-Version: 1.0\r\n"


def message(content_type: str, body: bytes, extra: bytes = b"") -> Message:
    return Message.from_bytes(HEAD + f"Content-Type: {content_type}\r\n".encode() + extra
                              + b"\r\n" + body)


def multipart_body(*parts: bytes, boundary: bytes = b"b") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + (
        b"--" + boundary + b"--\r\n")


def text_part(text: bytes, ctype: bytes = b"text/plain; charset=utf-8",
              cte: bytes = b"") -> bytes:
    head = b"Content-Type: " + ctype + b"\r\n"
    if cte:
        head += b"Content-Transfer-Encoding: " + cte + b"\r\n"
    return head + b"\r\n" + text


def flat_parts(count: int, before: bytes = b"first words", after: bytes = b"last words",
               filler: bytes = b"x") -> Message:
    """``count`` one-byte text parts between a part ``before`` and a part ``after``."""
    parts = [text_part(before), *(text_part(filler) for _ in range(count)), text_part(after)]
    return message('multipart/mixed; boundary="b"', multipart_body(*parts))


def nested(depth: int, inner: bytes = b"inner words", after: bytes = b"after words") -> Message:
    """A text part ``depth`` multiparts deep, then a sibling text part at the top."""
    opening = b"".join(b'--n%d\r\nContent-Type: multipart/mixed; boundary="n%d"\r\n\r\n'
                       % (i, i + 1) for i in range(1, depth))
    closing = b"".join(b"--n%d--\r\n" % i for i in range(depth, 1, -1))
    body = (b'--n0\r\nContent-Type: text/plain\r\n\r\nbefore words\r\n'
            b'--n0\r\nContent-Type: multipart/mixed; boundary="n1"\r\n\r\n' + opening
            + b"--n%d\r\nContent-Type: text/plain\r\n\r\n" % depth + inner + b"\r\n"
            + closing + b"--n1--\r\n--n0\r\nContent-Type: text/plain\r\n\r\n" + after
            + b"\r\n--n0--\r\n")
    return message('multipart/mixed; boundary="n0"', body)


def limits(reading_unreadable: tuple[Unreadable, ...]) -> list[str]:
    return [u.limit for u in reading_unreadable]


# ----------------------------------------------------------------------------------------
# The tolerant reader reads ordinary mail exactly as the standard parser does

ORDINARY: dict[str, Callable[[], Message]] = {
    "plain": lambda: message("text/plain; charset=utf-8", "Vota por él\r\n".encode()),
    "base64": lambda: message("text/plain; charset=utf-8",
                              base64.encodebytes("Décodé correctement.\n".encode())
                              .replace(b"\n", b"\r\n"),
                              b"Content-Transfer-Encoding: base64\r\n"),
    "quoted_printable": lambda: message(
        "text/plain; charset=utf-8",
        quopri.encodestring(("s\u00f3lo hoy " * 12 + "\n").encode()).replace(b"\n", b"\r\n"),
        b"Content-Transfer-Encoding: quoted-printable\r\n"),
    "latin1": lambda: message('text/plain; charset="iso-8859-1"', "información".encode(
        "latin-1")),
    "html": lambda: message("text/html; charset=utf-8",
                            b"<html><body><p>v<b>o</b>te</p><p>now</p></body></html>"),
    "alternative": lambda: message(
        'multipart/alternative; boundary="alt"',
        multipart_body(text_part(b"plain words"), text_part(b"<p>html words</p>",
                                                            b"text/html"), boundary=b"alt")),
    "nested_with_attachment": lambda: message(
        "multipart/mixed; boundary=outer",
        multipart_body(
            b'Content-Type: multipart/alternative; boundary="in"\r\n\r\n'
            + multipart_body(text_part(b"one"), text_part(b"<i>two</i>", b"text/html"),
                             boundary=b"in"),
            text_part(base64.b64encode(b"\x89PNG"), b"image/png", b"base64"),
            text_part(b"three"), boundary=b"outer")),
    "forwarded": lambda: message(
        "multipart/mixed; boundary=b",
        multipart_body(text_part(b"see below"),
                       b"Content-Type: message/rfc822\r\n\r\nSubject: Forwarded warning\r\n"
                       b"Content-Type: text/plain\r\n\r\ninner body")),
    "digest": lambda: message(
        "multipart/digest; boundary=d",
        multipart_body(b"\r\nSubject: first\r\n\r\none", b"\r\nSubject: second\r\n\r\ntwo",
                       boundary=b"d")),
    "comments_and_rfc2231": lambda: message(
        'multipart/mixed (a comment); boundary*0="b"; boundary*1=""',
        multipart_body(text_part("caf\u00e9".encode("latin-1"),
                                 b"text/plain; charset*=iso-8859-1''%69so-8859-1"))),
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_tolerant_reader_reads_ordinary_mail_like_the_standard_parser(name: str) -> None:
    msg = ORDINARY[name]()
    standard = extract_text(message_from_bytes(msg.as_bytes(), policy=policy.default))
    assert read_text_tolerant(msg) == TextReading(standard, ())


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_mail_is_read_without_unreadable_structure(name: str) -> None:
    assert read_text(ORDINARY[name]()).unreadable == ()


# ----------------------------------------------------------------------------------------
# Broken structure, followed as a mail client does


def test_a_multipart_without_its_closing_delimiter_ends_at_the_end() -> None:
    msg = message("multipart/mixed; boundary=b", b"--b\r\n\r\none\r\n--b\r\n\r\ntwo")
    assert read_text_tolerant(msg).text == "Notice\n\none\n\ntwo"


def test_an_outer_delimiter_closes_the_inner_multipart() -> None:
    body = (b"--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\ninner\r\n"
            b"--o\r\n\r\nouter\r\n--o--\r\n")
    assert read_text_tolerant(message("multipart/mixed; boundary=o", body)).text == (
        "Notice\n\ninner\n\nouter")


def test_bare_cr_and_bare_lf_line_breaks_delimit_parts() -> None:
    msg = Message((("Content-Type", " multipart/mixed; boundary=b"),),
                  b"--b\r\rone\r--b\n\ntwo\n--b--\n")
    assert read_text_tolerant(msg).text == "one\n\ntwo"


def test_a_delimiter_with_transport_padding_is_a_delimiter() -> None:
    msg = message("multipart/mixed; boundary=b", b"--b \t\r\n\r\none\r\n--b-- \r\n")
    assert read_text_tolerant(msg).text == "Notice\n\none"


def test_preamble_and_epilogue_are_not_read() -> None:
    body = b"preamble\r\n--b\r\n\r\nshown\r\n--b--\r\nepilogue\r\n"
    assert read_text_tolerant(message("multipart/mixed; boundary=b", body)).text == (
        "Notice\n\nshown")


def test_hostile_base64_is_decoded_leniently() -> None:
    encoded = base64.b64encode(b"vote now").rstrip(b"=")  # padding missing
    msg = message("text/plain", b"!!" + encoded[:4] + b"\x00*" + encoded[4:],
                  b"Content-Transfer-Encoding: base64\r\n")
    assert read_text_tolerant(msg).text == "Notice\n\nvote now"


def test_a_content_type_of_400_parentheses_is_parsed_without_recursion() -> None:
    fields = mime.parse_fields(
        [("Content-Type", " text/plain; charset=us-ascii; x=" + "(" * 400)], "text/plain")
    assert fields == Fields("text/plain", "us-ascii", "", "")


def test_an_invalid_content_type_falls_back_to_the_default() -> None:
    assert mime.parse_fields([("Content-Type", " garbage")], "message/rfc822") == Fields(
        "message/rfc822", "", "", "")


def test_walk_yields_leaves_subjects_in_document_order() -> None:
    msg = ORDINARY["forwarded"]()
    events = list(mime.walk(msg.headers, msg.body))
    leaves = [e for e in events if isinstance(e, Leaf)]
    assert [msg.body[leaf.start:leaf.end] for leaf in leaves] == [b"see below", b"inner body"]
    assert [type(e) for e in events] == [Leaf, Subject, Leaf]
    assert [leaf.depth for leaf in leaves] == [1, 2]


# ----------------------------------------------------------------------------------------
# Choosing the reader: the pre-scan


def test_pre_scan_lets_ordinary_mail_through_to_the_standard_parser() -> None:
    assert [mime.exceeds_parser_limits(f().body) for f in ORDINARY.values()] == [
        False] * len(ORDINARY)


def test_pre_scan_diverts_more_parts_than_the_limit() -> None:
    assert mime.exceeds_parser_limits(flat_parts(mime.MAX_MIME_PARTS - 4).body) is False
    assert mime.exceeds_parser_limits(flat_parts(mime.MAX_MIME_PARTS).body) is True


def test_pre_scan_diverts_nesting_that_could_exceed_the_limit() -> None:
    assert mime.exceeds_parser_limits(nested(mime.MAX_MIME_DEPTH // 2 - 2).body) is False
    assert mime.exceeds_parser_limits(nested(mime.MAX_MIME_DEPTH // 2).body) is True


# ----------------------------------------------------------------------------------------
# The shipped reproductions


def test_parameter_of_400_parentheses_is_read_by_the_fallback_and_reported() -> None:
    msg = Message.from_bytes((REPRO / "evasion_content_type_400_parens.eml").read_bytes())
    reading = read_text(msg)
    assert reading.text.startswith("Vote for Trump or else!\n\nWe are in possession of all")
    assert reading.unreadable == (Unreadable(
        "mime_parser", "The standard MIME parser could not read the message "
        "(RecursionError); its text was read by the tolerant reader.",
        (("limit", "mime_parser"), ("error", "RecursionError"))),)


def test_threat_before_1000_nested_multiparts_is_read_and_the_depth_reported() -> None:
    msg = Message.from_bytes(
        (REPRO / "evasion_threat_then_nested_multipart_1000.eml").read_bytes())
    reading = read_text(msg)
    assert reading.text.endswith("Change your party affiliation to Republican so we know "
                                 "you received our message.")
    assert reading.unreadable == (Unreadable(
        "mime_depth", "The MIME structure is nested deeper than 32 levels; the deeper "
        "parts were read as raw text.", (("limit", "mime_depth"), ("max", "32"))),)


# ----------------------------------------------------------------------------------------
# Limits: stated, reported, and the text around them still read


def test_more_parts_than_the_limit_are_reported_and_text_after_the_limit_is_read() -> None:
    reading = read_text(flat_parts(2 * mime.MAX_MIME_PARTS))
    assert limits(reading.unreadable) == ["mime_parts"]
    assert reading.unreadable[0].detail == (("limit", "mime_parts"), ("max", "1000"))
    assert reading.text.startswith("Notice\n\nfirst words\n\nx")
    assert reading.text.endswith("x\nlast words")


def test_a_hundred_thousand_parts_of_padding_do_not_hide_the_text_after_them() -> None:
    reading = read_text(flat_parts(100_000))
    assert limits(reading.unreadable) == ["mime_parts"]
    assert reading.text.startswith("Notice\n\nfirst words")
    assert reading.text.endswith("x\nlast words")


def test_nesting_deeper_than_the_limit_is_reported_and_read_as_raw_text() -> None:
    reading = read_text(nested(1_000))
    assert limits(reading.unreadable) == ["mime_depth"]
    assert reading.text == "Notice\n\nbefore words\n\ninner words\n\nafter words"


def test_nesting_within_the_limit_is_read_by_the_standard_parser_unreported() -> None:
    reading = read_text(nested(10))
    assert reading == TextReading("Notice\n\nbefore words\n\ninner words\n\nafter words", ())


def test_the_tolerant_reader_reads_nesting_within_the_limit_unreported() -> None:
    reading = read_text_tolerant(nested(mime.MAX_MIME_DEPTH - 1))
    assert (reading.text, reading.unreadable) == (
        "Notice\n\nbefore words\n\ninner words\n\nafter words", ())


def test_walk_past_the_part_limit_hands_the_rest_on_as_raw_text() -> None:
    msg = flat_parts(mime.MAX_MIME_PARTS + 10)
    events = list(mime.walk(msg.headers, msg.body))
    assert sum(isinstance(e, Leaf) for e in events) == mime.MAX_MIME_PARTS - 1
    last = events[-1]
    assert isinstance(last, RawText)
    assert msg.body[last.start:].startswith(b"x\r\n--b\r\n")
    assert events[-2:] == [LimitReached("mime_parts", mime.MAX_MIME_PARTS),
                           RawText(last.start, len(msg.body))]


# ----------------------------------------------------------------------------------------
# Linear cost (CPU time ratios, never absolute times)


def test_part_headers_folded_over_many_lines_cost_linear_time() -> None:
    def folded(lines: int) -> Message:
        part = b"Content-Type: text/plain\r\nX-Fold: a\r\n" + b" x\r\n" * lines + b"\r\nhi"
        return message("multipart/mixed; boundary=b", multipart_body(*[part] * 20))

    small, large = folded(1_500), folded(15_000)  # the large one within MAX_HEADER_BLOCK
    assert read_text_tolerant(large) == TextReading("Notice" + "\n\nhi" * 20, ())
    costs = [least_cpu(lambda m=m: read_text_tolerant(m)) for m in (small, large)]
    assert costs[1] < 20 * costs[0]


@pytest.mark.parametrize(("make", "sizes"), [
    (flat_parts, (1_000, 10_000, 100_000)),
    (nested, (100, 1_000, 10_000)),
], ids=["parts", "depth"])
def test_reading_cost_grows_at_most_linearly(make: Callable[[int], Message],
                                             sizes: tuple[int, int, int]) -> None:
    messages = [make(n) for n in sizes]
    costs = [least_cpu(lambda m=m: read_text(m)) for m in messages]
    # ten times the input may cost at most twenty times the CPU (generous: a quadratic
    # reader costs a hundred times)
    assert costs[1] < 20 * costs[0]
    assert costs[2] < 20 * costs[1]


def test_quarantine_show_reads_the_body_of_a_message_nested_1000_deep() -> None:
    # body_text parsed with the standard parser and raised RecursionError on this message,
    # which is quarantined as a threat.
    raw = (REPRO / "evasion_threat_then_nested_multipart_1000.eml").read_bytes()
    assert body_text(raw).startswith("Vote for Trump or else!\n\nWe are in possession of")


# ----------------------------------------------------------------------------------------
# A multipart without a usable boundary (found by the fuzz harness: it hid the text)


@pytest.mark.parametrize("content_type", [
    "multipart/mixed", 'multipart/mixed; boundary=""', "multipart/alternative; boundary",
    "multipart/mixed; boundary=;",
])
def test_a_multipart_without_a_boundary_is_read_as_raw_text_and_reported(
        content_type: str) -> None:
    body = multipart_body(text_part(b"We will come after you."), boundary=b"b1")
    reading = read_text(message(content_type, body))
    assert reading.text == "Notice\n\nWe will come after you."
    assert reading.unreadable == (Unreadable(
        "mime_boundary", "A multipart part declares no usable boundary; its body was read "
        "as raw text.", (("limit", "mime_boundary"),)),)


def test_a_nested_multipart_without_a_boundary_is_read_up_to_the_outer_delimiter() -> None:
    inner = b"Content-Type: multipart/mixed\r\n\r\nhidden words"
    body = multipart_body(text_part(b"first words"), inner, text_part(b"last words"))
    reading = read_text(message('multipart/mixed; boundary="b"', body))
    assert reading.text == "Notice\n\nfirst words\n\nhidden words\n\nlast words"
    assert [u.limit for u in reading.unreadable] == ["mime_boundary"]
