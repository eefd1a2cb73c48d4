"""A seeded generator of hostile messages, for the fuzz harness (see tests/fuzz/README.md).

Every *kind* is one way of malforming mail that a sender controls: the From header, the
header section, the MIME structure, the encodings, the authentication headers, the
envelope. Most kinds hide the 2020 seed threat behind their structure (the threatening
text in a plain part placed *before* the hostile structure, sent from the seed's
unauthenticated address), so the verdict must stay ``threat``: a structure we cannot read
must never switch content scoring off. The other kinds carry no expectation about the
verdict; they only must not crash, stall or skip a check.

``generate(seed, count, scale)`` is deterministic: the same seed, count and scale give the
same messages, byte for byte. ``scale`` (0 < scale <= 1) bounds every size: at 1 the sizes
are those of the hostile-input review (30 KB display names, 1 MB From headers, 100,000
MIME parts, 1,000-deep nesting); a short run in the test suite uses a small scale.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support import seeds

SEED_FROM = seeds.SEED_FROM
THREAT = seeds.THREAT_EN
CLIENT_IP = "203.0.113.66"
HELO = "vps.example"
MAIL_FROM = f"<{SEED_FROM}>"
RCPT = "<voter@recipient.example>"
AUTHSERV_ID = "mx.test.example"  # the authserv-id of the service the runner starts
REPRO_DIR = Path(__file__).resolve().parents[1] / "data" / "repro"


@dataclass(frozen=True)
class Sample:
    """One hostile message with the envelope it is sent with and what must hold for it."""

    kind: str
    index: int
    raw: bytes  # the message as the MTA hands it over (CRLF)
    expect_threat: bool  # the seed threat is behind the structure: the verdict must be threat
    raw_mode: bool = False  # header lines go to the socket as they are (no Postfix splitting)
    expect_checked: bool = True  # a decision with every check is expected
    helo: str = HELO
    mail_from: str = MAIL_FROM
    rcpts: tuple[str, ...] = (RCPT,)
    macros: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Built:
    raw: bytes
    helo: str = HELO
    mail_from: str = MAIL_FROM
    rcpts: tuple[str, ...] = (RCPT,)
    macros: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[random.Random, float], _Built]
    expect_threat: bool
    raw_mode: bool = False
    expect_checked: bool = True
    description: str = ""


# --- building blocks ---------------------------------------------------------------------
def _n(rng: random.Random, full: int, scale: float, least: int = 1) -> int:
    """A size between ``least`` and ``full * scale`` (never below ``least``)."""
    top = max(least, int(full * scale))
    return rng.randint(least, top)


def _word(rng: random.Random, size: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(size))


def _crlf(text: str | bytes) -> bytes:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _head(*lines: str | bytes, from_line: str | bytes | None = None,
          content_type: str = "text/plain; charset=us-ascii") -> bytes:
    """A header section: the seed's From (unless replaced), the given lines, MIME headers."""
    out = [from_line if from_line is not None else f"From: {SEED_FROM}",
           "To: voter@recipient.example", f"Subject: {seeds.SUBJECT}",
           "Date: Tue, 20 Oct 2020 09:14:00 +0000", "Message-ID: <fuzz@vps.example>",
           *lines, "MIME-Version: 1.0", f"Content-Type: {content_type}"]
    data = b"".join(_crlf(x) + b"\r\n" if isinstance(x, bytes) else _crlf(x + "\n")
                    for x in out)
    return data + b"\r\n"


def _threat_message(*lines: str | bytes, from_line: str | bytes | None = None) -> bytes:
    return _head(*lines, from_line=from_line) + _crlf(THREAT)


def _threat_part(boundary: str) -> str:
    return (f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n{THREAT}\n")


def _mixed(boundary: str, after_threat: str, *lines: str) -> bytes:
    """multipart/mixed: the threat part first, then the hostile structure."""
    body = "This is a multi-part message.\n" + _threat_part(boundary) + after_threat
    return _head(*lines, content_type=f'multipart/mixed; boundary="{boundary}"') + _crlf(body)


# --- the From header ------------------------------------------------------------------------
def from_missing(rng: random.Random, scale: float) -> _Built:
    return _Built(_head(from_line="X-Sender: none") + _crlf(THREAT))


def from_duplicate(rng: random.Random, scale: float) -> _Built:
    second = f"From: Campaign <news@{_word(rng, 8)}.example>"
    return _Built(_threat_message(second))


def from_broken(rng: random.Random, scale: float) -> _Built:
    junk = rng.choice(['<<info@@officialproudboys.com>>', '"unterminated <info@',
                       "info@officialproudboys.com (unclosed comment",
                       "@officialproudboys.com", "info@[999.1.1.1", "<>", ":;", "\\"])
    return _Built(_threat_message(from_line=f"From: {junk}"))


def from_hidden_domain(rng: random.Random, scale: float) -> _Built:
    # OpenDMARC #243 and CVE-2019-16378: a second address or a quoted local part that
    # looks like an address must not let another domain be evaluated.
    form = rng.choice([f'"x <a@{_word(rng, 6)}.example>"@officialproudboys.com',
                       f"{SEED_FROM}, b@{_word(rng, 6)}.example",
                       f"Name <{SEED_FROM}>, <c@{_word(rng, 6)}.example>"])
    return _Built(_threat_message(from_line=f"From: {form}"))


def display_name_huge(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 100_000, scale, 200)
    name = rng.choice([_word(rng, 1) * size, _word(rng, size),
                       ".".join(_word(rng, 3) for _ in range(size // 4)),
                       "-" * size + "a"])
    return _Built(_threat_message(from_line=f'From: "{name}" <{SEED_FROM}>'))


def from_many_addresses(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 40_000, scale, 20)
    addrs = ",\n ".join(f"u{i}@d{i}.{_word(rng, 3)}.example" for i in range(count))
    return _Built(_threat_message(from_line=f"From: {SEED_FROM},\n {addrs}"))


def reply_to_many(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 40_000, scale, 20)
    addrs = ",\n ".join(f"r{i}@rt{i}.example" for i in range(count))
    return _Built(_threat_message(f"Reply-To: {addrs}"))


def from_control_chars(rng: random.Random, scale: float) -> _Built:
    name = rng.choice(["Proud\x1b[2J Boys", "Pr\u202eoud Boys", "Proud\x00Boys",
                       "Pr\x7foud\x9bBoys", "Proud\tBoys\x0b"])
    return _Built(_threat_message(from_line=f'From: "{name}" <{SEED_FROM}>'))


# --- header encodings and header sections ----------------------------------------------------
def encoded_word_abuse(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 5_000, scale, 5)
    words = [rng.choice(["=?utf-8?b?!!!notbase64?=", "=?x-unknown?q?abc?=",
                         "=?utf-8?q?=ZZ=?=", "=?utf-8*en?b?UHJvdWQ=?=", "=?=?utf-8?q?a?=?=",
                         "=?utf-7?b?K0FPRS0=?=", "=?utf-8?q?Proud_Boys?=", "=??b??=",
                         "=?utf-8?b?" + base64.b64encode(b"\xff\xfe\x00").decode() + "?="])
             for _ in range(count)]
    display = " ".join(words)
    return _Built(_threat_message(f"Subject: {display}",
                                  from_line=f"From: {display} <{SEED_FROM}>"))


def headers_8bit(rng: random.Random, scale: float) -> _Built:
    subject = b"Subject: Caf\xe9 \xa0\xff\x9d voter notice"
    from_line = b'From: "Pr\xf6ud B\xf6ys \xc3\x28" <' + SEED_FROM.encode() + b">"
    return _Built(_threat_message(subject, from_line=from_line))


def header_without_colon(rng: random.Random, scale: float) -> _Built:
    # Postfix ends the header section at such a line; the rest becomes body.
    junk = rng.choice(["This line has no colon", "From info@officialproudboys.com Mon Oct 19",
                       " leading space continuation", "X-Bad Name: spaces in the name"])
    return _Built(_threat_message(junk))


def nul_cr_lf(rng: random.Random, scale: float) -> _Built:
    head = _head("X-Nul: a\x00b", "X-Cr: a\rb\rc")
    body = THREAT.encode().replace(b". ", b".\r ") + b"\x00\x00tail\nbare\nlf\r\r\n"
    return _Built(head + body)


def giant_header(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 2_000_000, scale, 1_000)
    folded = rng.random() < 0.5
    chunk = "\n " if folded else ""
    value = chunk.join(_word(rng, 70) for _ in range(size // 70))
    return _Built(_threat_message(f"X-Giant: {value}"))


def many_headers(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 50_000, scale, 100)
    lines = [f"X-H{i}: {_word(rng, 4)}" for i in range(count)]
    return _Built(_threat_message(*lines))


def received_chain(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 5_000, scale, 10)
    lines = [f"Received: from h{i}.example ([198.51.100.{i % 250}]) by mx{i}.example "
             f"with ESMTP id {_word(rng, 10)}; Tue, 20 Oct 2020 09:{i % 60:02d}:00 +0000"
             if rng.random() < 0.8 else f"Received: {_word(rng, 30)} (((( ;;;; [[["
             for i in range(count)]
    return _Built(_threat_message(*lines))


def forged_auth_headers(rng: random.Random, scale: float) -> _Built:
    forged = [f"Authentication-Results: {AUTHSERV_ID}; dmarc=pass header.from={seeds.SEED_DOMAIN}",
              f"Authentication-Results: {AUTHSERV_ID.upper()};\n spf=pass; dkim=pass",
              "X-Spoofwatch-Verdict: clean; score=0; findings=none",
              "X-Spoofwatch-Reasons: No problems found.",
              "x-spoofwatch-release: forged",
              f"Authentication-Results: other.example; dmarc=pass header.from={seeds.SEED_DOMAIN}"]
    rng.shuffle(forged)
    return _Built(_threat_message(*forged))


# --- authentication headers ------------------------------------------------------------------
def dkim_garbage(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 200_000, scale, 100)
    sigs = [
        "DKIM-Signature: v=1; a=rsa-sha256; d=officialproudboys.com; s=s1; "
        "h=from:to; bh=" + "A" * size + "; b=" + "B" * 10,
        "DKIM-Signature: " + "; ".join(f"{_word(rng, 2)}={_word(rng, 5)}"
                                       for _ in range(max(1, size // 20))),
        "DKIM-Signature: v=1; a=rsa-sha256; d=officialproudboys.com; s=s1; l=99999999999999999999; "
        "h=from; bh=!!!!; b=@@@@",
        "DKIM-Signature: v=1; a=ed25519-sha256; d=; s=; h=; bh=; b=",
        "DKIM-Signature: ;;;;====;;;;" + "=" * min(size, 10_000),
        "DKIM-Signature: v=1; a=rsa-sha256; d=officialproudboys.com; s=" + "x." * 200
        + "; h=from; bh=AAAA; b=AAAA; l=-5; x=1; t=99999999999999",
    ]
    picked = rng.sample(sigs, rng.randint(1, len(sigs)))
    return _Built(_threat_message(*picked))


def arc_garbage(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 100_000, scale, 100)
    sets = [
        "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=lists.example.net; s=s1; b=" + "A" * size,
        "ARC-Message-Signature: i=1; a=rsa-sha256; d=lists.example.net; s=s1; h=from; bh=!!; b=",
        "ARC-Authentication-Results: i=1; lists.example.net; dmarc=pass",
        "ARC-Seal: i=999999999999; cv=pass",
        "ARC-Seal: i=0; cv=fail; " + ";" * min(size, 10_000),
        "ARC-Seal: i=-1",
        "ARC-Message-Signature: " + "=" * min(size, 10_000),
        "ARC-Authentication-Results: i=2; " + "(" * min(size, 2_000),
        "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=lists.example.net; s=s1; b=AAAA",
    ]
    picked = [rng.choice(sets) for _ in range(rng.randint(1, 12))]
    return _Built(_threat_message(*picked))


# --- MIME structure ----------------------------------------------------------------------------
def content_type_parens(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 3_000, scale, 300)  # cheap at any size: always past the recursion limit
    junk = f'application/x; name="{"(" * count}"'
    return _Built(_mixed("b1", f"--b1\nContent-Type: {junk}\n\nx\n--b1--\n"))


def deep_nesting(rng: random.Random, scale: float) -> _Built:
    depth = _n(rng, 1_000, scale, 100)
    opening = "".join(f"--n{i}\nContent-Type: multipart/mixed; boundary=\"n{i + 1}\"\n\n"
                      for i in range(depth))
    closing = "".join(f"--n{i}--\n" for i in reversed(range(depth)))
    return _Built(_mixed("n0", opening + f"--n{depth}\nContent-Type: text/plain\n\nx\n"
                         + closing.replace("--n0--\n", "") + "--n0--\n"))


def many_parts(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 100_000, scale, 100)
    parts = "".join("--p\n\nx\n" for _ in range(count))
    return _Built(_mixed("p", parts + "--p--\n"))


def boundary_missing(rng: random.Random, scale: float) -> _Built:
    body = "--b1\nContent-Type: text/plain\n\n" + THREAT + "\n--b1--\n"
    ctype = rng.choice(["multipart/mixed", 'multipart/mixed; boundary=""',
                        "multipart/alternative; boundary", "multipart/mixed; boundary=;"])
    return _Built(_head(content_type=ctype) + _crlf(body))


def boundary_duplicate(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 200, scale, 3)
    inner = "".join('--b1\nContent-Type: multipart/mixed; boundary="b1"\n\n' for _ in range(count))
    tail = rng.choice(["", "--b1--\n--b1--\n", "--b1\n"])  # unclosed, doubled or dangling
    return _Built(_mixed("b1", inner + tail))


def base64_garbage(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 500_000, scale, 100)
    junk = "".join(rng.choice("A!@#$%^&*=\t ~") for _ in range(size))
    part = f"--g\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{junk}\n--g--\n"
    return _Built(_mixed("g", part))


def qp_garbage(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 500_000, scale, 100)
    junk = "".join(rng.choice(["=ZZ", "=", "=\n", "=3", "a", "=00", "\x00"]) for _ in range(size))
    part = ("--g\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
            f"{junk}\n--g--\n")
    return _Built(_mixed("g", part))


def cte_unknown(rng: random.Random, scale: float) -> _Built:
    cte = rng.choice(["x-uuencode", "base65", "7bit; x=(((", "binary", "\x01"])
    part = (f"--g\nContent-Type: text/plain\nContent-Transfer-Encoding: {cte}\n\n"
            "begin 644 x\n!!!!\nend\n--g--\n")
    return _Built(_mixed("g", part))


def bad_charset(rng: random.Random, scale: float) -> _Built:
    charset = rng.choice(["x-unknown-zz", "utf-7", "utf-16", "utf-32", "utf-16le",
                          '"utf-8"; charset=latin1', "iso-8859-99", "\x00", "a" * 500])
    if charset.startswith("utf-16") or charset == "utf-32":
        # the threat really in that charset (base64, so every byte survives): readable
        # to the recipient, so it must be readable to us
        text = base64.encodebytes(THREAT.encode(charset)).decode()
        head = _head("Content-Transfer-Encoding: base64",
                     content_type=f"text/plain; charset={charset}")
        return _Built(head + _crlf(text))
    head = _head(content_type=f"text/plain; charset={charset}")
    return _Built(head + _crlf(THREAT))


def html_bomb(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 300_000, scale, 100)
    html = rng.choice(["<" * size, "&#" + "9" * size + ";", "<div>" * size,
                       "&amp;" * size, "<!--" + "-" * size, "<![CDATA[" + "x" * size,
                       "<a title='" + "'" * size + ">"])
    part = f"--h\nContent-Type: text/html; charset=utf-8\n\n<html><body>{html}\n--h--\n"
    return _Built(_mixed("h", part))


def huge_lines(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 5_000_000, scale, 1_000)
    return _Built(_head() + _crlf(THREAT) + (_word(rng, 1) * size).encode() + b"\r\n")


def binary_body(rng: random.Random, scale: float) -> _Built:
    size = _n(rng, 1_000_000, scale, 100)
    blob = rng.randbytes(size).replace(b"\r", b"").replace(b"\n", b"")
    head = "--bin\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n\n"
    return _Built(_mixed("bin", "") + _crlf(head) + blob + b"\r\n--bin--\r\n")


def rfc822_recursion(rng: random.Random, scale: float) -> _Built:
    depth = _n(rng, 500, scale, 50)
    inner = "From: x@y.example\nSubject: inner\n\ninnermost\n"
    for _ in range(depth):
        inner = f"Content-Type: message/rfc822\n\n{inner}"
    part = f"--r\nContent-Type: message/rfc822\n\n{inner}\n--r--\n"
    return _Built(_mixed("r", part))


def disposition_params(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 5_000, scale, 10)
    params = "; ".join(f"filename*{i}*=utf-8''%{rng.randint(0, 255):02X}" for i in range(count))
    part = (f"--d\nContent-Type: application/pdf\nContent-Disposition: attachment; {params}\n\n"
            "x\n--d--\n")
    return _Built(_mixed("d", part))


# --- kinds without the threat: they only must not crash, stall or skip a check ------------------
def empty_message(rng: random.Random, scale: float) -> _Built:
    return _Built(rng.choice([b"", b"\r\n", b"\r\n\r\n"]))


def headers_only(rng: random.Random, scale: float) -> _Built:
    return _Built(f"From: {SEED_FROM}\r\nSubject: no body".encode())


def binary_only(rng: random.Random, scale: float) -> _Built:
    return _Built(rng.randbytes(_n(rng, 100_000, scale, 10)))


# --- envelope and protocol (raw mode: bytes Postfix would never send as a header name) ----------
def envelope_hostile(rng: random.Random, scale: float) -> _Built:
    helo = rng.choice(["vps.example\r\nX: y", "\x1b]0;pwn\x07", "a" * 2_000, "[300.1.1.1]", ""])
    mail_from = rng.choice([f"<{SEED_FROM}\udcff>", "<>", "<" + "x" * 2_000 + "@e.example>",
                            "<a\r\nb@officialproudboys.com>", f"<{SEED_FROM}> SIZE=99999999999"])
    rcpts = (RCPT, "<bad\udcffrcpt@recipient.example>", "<\udce9l\udce8ve@recipient.example>")
    return _Built(_threat_message(), helo=helo, mail_from=mail_from,
                  rcpts=tuple(rng.sample(rcpts, rng.randint(1, len(rcpts)))))


def many_rcpts(rng: random.Random, scale: float) -> _Built:
    count = _n(rng, 2_000, scale, 10)
    return _Built(_threat_message(), rcpts=tuple(f"<v{i}@recipient.example>"
                                                 for i in range(count)))


def header_name_8bit(rng: random.Random, scale: float) -> _Built:
    name = rng.choice([b"X-\xff\xfe", b"Subj\xe9ct", b"\x80", b"X-\xc3"])
    return _Built(_head(name + b": value") + _crlf(THREAT))


def macro_8bit(rng: random.Random, scale: float) -> _Built:
    stage, name = rng.choice([("mail", "{auth_authen}"), ("connect", "j"),
                              ("mail", "{mail_addr}"), ("rcpt", "{rcpt_addr}"),
                              ("connect", "{client_name}"), ("helo", "{tls_version}")])
    value = rng.choice(["\udcff\udcfeuser", "us\udce9r", "\udc80"])
    return _Built(_threat_message(), macros={stage: {name: value}})


KINDS: tuple[Kind, ...] = (
    Kind("from_missing", from_missing, True, description="no From header"),
    Kind("from_duplicate", from_duplicate, True, description="two From headers"),
    Kind("from_broken", from_broken, True, description="unparseable From"),
    Kind("from_hidden_domain", from_hidden_domain, True,
         description="second address or address-like quoted local part in From"),
    Kind("display_name_huge", display_name_huge, True, description="display name up to 100 KB"),
    Kind("from_many_addresses", from_many_addresses, True,
         description="From with up to 40,000 addresses in distinct domains"),
    Kind("reply_to_many", reply_to_many, True, description="Reply-To with up to 40,000 domains"),
    Kind("from_control_chars", from_control_chars, True,
         description="ESC, bidi override, NUL, DEL, C1 in the display name"),
    Kind("encoded_word_abuse", encoded_word_abuse, True,
         description="thousands of broken RFC 2047 encoded words"),
    Kind("headers_8bit", headers_8bit, True, description="raw Latin-1 and bad UTF-8 values"),
    Kind("header_without_colon", header_without_colon, True,
         description="a header line without a colon"),
    Kind("nul_cr_lf", nul_cr_lf, True, description="NUL, bare CR and bare LF"),
    Kind("giant_header", giant_header, True, description="one header up to 2 MB"),
    Kind("many_headers", many_headers, True, description="up to 50,000 header fields"),
    Kind("received_chain", received_chain, True, description="up to 5,000 Received headers"),
    Kind("forged_auth_headers", forged_auth_headers, True,
         description="forged Authentication-Results and X-Spoofwatch-* headers"),
    Kind("dkim_garbage", dkim_garbage, True,
         description="huge, malformed, bad-base64 and l= abusing DKIM-Signature headers"),
    Kind("arc_garbage", arc_garbage, True, description="malformed ARC sets"),
    Kind("content_type_parens", content_type_parens, True,
         description="Content-Type parameter of up to 2,000 '('"),
    Kind("deep_nesting", deep_nesting, True, description="multipart nested up to 1,000 deep"),
    Kind("many_parts", many_parts, True, description="up to 100,000 MIME parts"),
    Kind("boundary_missing", boundary_missing, True, description="multipart without boundary"),
    Kind("boundary_duplicate", boundary_duplicate, True,
         description="reused, unclosed or doubled boundaries"),
    Kind("base64_garbage", base64_garbage, True, description="invalid base64 up to 500 KB"),
    Kind("qp_garbage", qp_garbage, True, description="invalid quoted-printable up to 500 KB"),
    Kind("cte_unknown", cte_unknown, True, description="unknown transfer encodings"),
    Kind("bad_charset", bad_charset, True, description="unknown or absurd charsets"),
    Kind("html_bomb", html_bomb, True,
         description="unclosed '<', huge character references, deep tags"),
    Kind("huge_lines", huge_lines, True, description="one body line up to 5 MB"),
    Kind("binary_body", binary_body, True, description="an 8-bit binary part up to 1 MB"),
    Kind("rfc822_recursion", rfc822_recursion, True,
         description="message/rfc822 nested up to 500 deep"),
    Kind("disposition_params", disposition_params, True,
         description="thousands of RFC 2231 parameter continuations"),
    Kind("envelope_hostile", envelope_hostile, True,
         description="control characters, 8-bit bytes and huge values in HELO/MAIL/RCPT"),
    Kind("many_rcpts", many_rcpts, True, description="up to 2,000 recipients"),
    Kind("empty_message", empty_message, False, description="no header, no body"),
    Kind("headers_only", headers_only, False, description="no blank line, no body"),
    Kind("binary_only", binary_only, False, description="random bytes, no header section"),
    Kind("header_name_8bit", header_name_8bit, False, raw_mode=True, expect_checked=False,
         description="raw mode: a header name with bytes >= 0x80"),
    Kind("macro_8bit", macro_8bit, False, raw_mode=True, expect_checked=False,
         description="raw mode: a macro ({auth_authen}, j, i, ...) with bytes >= 0x80"),
)
KIND_NAMES = tuple(k.name for k in KINDS)


# --- the reproductions of issue 9 -----------------------------------------------------------------
@dataclass(frozen=True)
class Repro:
    name: str
    raw: bytes
    expect_threat: bool
    raw_mode: bool


def reproductions(directory: Path = REPRO_DIR) -> tuple[Repro, ...]:
    """The .eml files of tests/data/repro, as samples (sorted by name)."""
    out = []
    for path in sorted(directory.glob("*.eml")):
        name = path.stem
        raw_mode = name.startswith("rawmode_")
        # the seed threat behind a structure; the C1 body and the plain 8-bit subject are
        # not threats, and a raw-mode session may be answered before any check runs
        threat = name.startswith(("evasion_", "displayname_", "subject_8bit_threat"))
        out.append(Repro(f"repro:{name}", path.read_bytes(), threat, raw_mode))
    return tuple(out)


def _sample(kind: Kind, index: int, rng: random.Random, scale: float) -> Sample:
    built = kind.build(rng, scale)
    return Sample(kind.name, index, built.raw, kind.expect_threat, kind.raw_mode,
                  kind.expect_checked, built.helo, built.mail_from, built.rcpts, built.macros)


def generate(seed: int, count: int, scale: float = 0.01,
             kinds: tuple[Kind, ...] = KINDS, with_repros: bool = True) -> Iterator[Sample]:
    """``count`` samples: the kinds in turn (each at least once when count allows), each
    from its own random generator seeded by (seed, index), then the reproductions."""
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    repros = reproductions() if with_repros else ()
    for index in range(count):
        if index < len(repros):
            r = repros[index]
            # a raw-mode reproduction is answered per fail_safe, unchecked (issue 9, item 9)
            yield Sample(r.name, index, r.raw, r.expect_threat, r.raw_mode,
                         expect_checked=not r.raw_mode)
            continue
        kind = kinds[(index - len(repros)) % len(kinds)]
        rng = random.Random(f"{seed}:{index}")
        yield _sample(kind, index, rng, scale)
