"""Large bodies are read in bounded memory with exactly the results of the whole-body code."""

from __future__ import annotations

import random
from email.parser import BytesParser
from email.policy import default

import dkim
import pytest
from dkim import canonicalization as canon

from spoofwatch.auth.dkimpy_support import by_lines, parsed_for_dkimpy, relaxed_body
from spoofwatch.message import Message


def _dkimpy_relaxed(body: bytes) -> bytes:
    """dkimpy's own relaxed body canonicalization, from its parts."""
    return canon.correct_empty_body(canon.strip_trailing_lines(
        canon.compress_whitespace(canon.strip_trailing_whitespace(body))))


def _bodies() -> list[bytes]:
    rnd = random.Random(7)
    pieces = [b"a", b" ", b"\t", b"\r\n", b"\r", b"\n", b"x y", b"  \r\n", b"\r\n\r\n"]
    bodies = [b"", b"\r\n", b"\r\n\r\n", b" ", b"a", b"a \r\n\r\n", b" \r\n", b"a\r\n \t \r\n"]
    for size in (10, 300, 3_000_000):  # the last is cut into slices
        for _ in range(3):
            bodies.append(b"".join(rnd.choice(pieces) for _ in range(size // 3)))
    # blank runs and CRLFs right where a slice would end
    bodies.append(b"w " * (1 << 19) + b" \t \r\n" + b"v\t" * (1 << 19) + b"   ")
    # no tab and no two blanks in a row: the byte-search path (base64 attachments,
    # plain text with single spaces, a single trailing space, a lone CR before a line end)
    words = [b"ab", b"a ", b"\r\n", b"x", b"\r", b"\n", b" \r\n"]
    for size in (10, 300, 3_000_000):
        for _ in range(3):
            body = b"".join(rnd.choice(words) for _ in range(size // 2))
            bodies.append(body.replace(b"  ", b" ").replace(b"  ", b" "))
    bodies.append(b"QUJD" * 19 + b"\r\n" + (b"QUJD" * 19 + b"\r\n") * 40_000 + b"\r\n\r\n")
    bodies.append(b"end of line \r\n" * 100_000 + b"last \r \r\n")
    return bodies


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: f"{len(b)}B")
def test_relaxed_body_is_dkimpys_relaxed_canonical_form(body: bytes) -> None:
    assert bytes(relaxed_body(body)) == _dkimpy_relaxed(body)


def test_relaxed_body_is_linear_on_one_long_blank_run() -> None:
    # dkimpy's trailing-blank pattern is quadratic here; ours squeezes the run first
    assert bytes(relaxed_body(b"a" + b" " * 3_000_000 + b"b\r\n")) == b"a b\r\n"


def test_by_lines_cuts_only_after_a_crlf() -> None:
    data = b"x" * (1 << 20) + b"\r\nyz"
    seen: list[bytes] = []
    assert by_lines(lambda s: seen.append(s) or s, data) == data
    assert seen == [b"x" * (1 << 20) + b"\r\n", b"yz"]


@pytest.mark.parametrize("raw", [
    b"A: b\r\n\r\nbody\nx\r\n", b"A: b\r\nC: d\r\n e\r\n\r\n\r\nbody\n", b"\r\nbody",
    b"\nbody\r\n", b"A: b\n\nbo\ndy\n", b"A: b\r\n", b"A: b\r\nFrom x\r\n\r\nq",
])
def test_parsed_for_dkimpy_matches_dkimpys_parser(raw: bytes) -> None:
    reference = dkim.DKIM(raw)
    ours = parsed_for_dkimpy(raw)
    assert (ours.headers, ours.body) == (reference.headers, reference.body)


def test_large_message_parses_in_slices_to_the_same_tree() -> None:
    part = b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"line of text\r\n" * 50_000
    raw = (b"From: a@b.example\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + part * 3 + b"--b--\r\n")
    message = Message.from_bytes(raw)
    assert len(message.body) > 2 << 20
    parsed = message.email()
    assert [p.get_content_type() for p in parsed.walk()] == ["multipart/mixed"] + [
        "text/plain"] * 3
    whole = BytesParser(policy=default).parsebytes(message.as_bytes())
    assert parsed.as_bytes() == whole.as_bytes()
    assert [p.get_content() for p in list(parsed.walk())[1:]] == [
        p.get_content() for p in list(whole.walk())[1:]]
