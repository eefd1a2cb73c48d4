"""A varied, deterministic mail corpus for the profile (bench/profile.py).

    .venv/bin/python bench/profile_corpus.py [--messages 1000] [--seed 1] [--out DIR]

Everything is derived from ``--seed``: the mix, the texts, the attachment sizes, the
DKIM/ARC keys (RSA-2048 primes and ed25519 seeds drawn from the seed, so the same seed
gives byte-identical messages and signatures; the printed digest says so) and the DNS
zones that publish those keys, SPF and DMARC records (served by tests/support/dnsserver.py).

Kinds of mail: legitimate newsletters (plain, HTML, multipart/alternative; DKIM rsa-2048,
ed25519 or both), authenticated mail of watched organizations (the bundled example
watchlist), multipart/mixed with PDF / DOCX / octet-stream attachments of 4 KB to 5 MB,
mailing-list forwards that break the author's signature and ARC-seal the result, spoofs of
watched domains and display names, lookalike domains, and threats (texts of
tests/data/threat_corpus, ``split=train`` only) in several encodings. ``--out`` writes
the messages (.eml), their envelopes and the zones (JSON) to DIR.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import math
import quopri
import random
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import dkim
import nacl.encoding
import nacl.signing

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support import documents, seeds  # noqa: E402
from support.mailfactory import DkimKey, add_header, arc_seal  # noqa: E402
from support.threat_corpus import Record, load  # noqa: E402

CRLF = b"\r\n"
SIGNED_AT = 1_780_000_000  # every t= (DKIM and ARC): fixed, so signatures are reproducible
RCPT = "reader@recipient.example"
FOREIGN_IP = seeds.FOREIGN_IP  # spoofs and threats come from here (no SPF authorizes it)
LIST_DOMAIN = "lists.listhost.example"  # the ARC sealer (bench/profile.py trusts it)
Zones = dict[str, dict[str, list[str]]]


# --- deterministic keys ------------------------------------------------------------------
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _probable_prime(n: int, rng: random.Random, rounds: int = 12) -> bool:
    """Miller-Rabin with bases from ``rng``."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        # top two bits set: the product of two such primes has exactly 2*bits bits
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if all(n % p for p in _SMALL_PRIMES) and (n - 1) % 65537 and _probable_prime(n, rng):
            return n


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # sign octet kept


_RSA_OID = _der(0x06, bytes.fromhex("2a864886f70d010101")) + _der(0x05, b"")


@functools.cache
def rsa_key(seed: str, bits: int = 2048) -> DkimKey:
    """An RSA key drawn from ``seed``: PKCS#1 PEM (what dkimpy signs with) and the
    SubjectPublicKeyInfo for p=. Pure Python, about a second for 2048 bits."""
    rng = random.Random(f"rsa:{seed}")
    e = 65537
    p, q = _prime(rng, bits // 2), _prime(rng, bits // 2)
    n, d = p * q, pow(e, -1, (p - 1) * (q - 1))
    private = _der(0x30, b"".join(_der_int(v) for v in (
        0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p))))
    b64 = base64.encodebytes(private).decode().replace("\n", "")
    pem = ("-----BEGIN RSA PRIVATE KEY-----\n"
           + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
           + "\n-----END RSA PRIVATE KEY-----\n").encode()
    public = _der(0x30, _der_int(n) + _der_int(e))
    spki = _der(0x30, _der(0x30, _RSA_OID) + _der(0x03, b"\x00" + public))
    return DkimKey("rsa", bits, pem, base64.b64encode(spki).decode())


@functools.cache
def ed25519_key(seed: str) -> DkimKey:
    signing = nacl.signing.SigningKey(hashlib.sha256(f"ed25519:{seed}".encode()).digest())
    return DkimKey("ed25519", 256,
                   signing.encode(encoder=nacl.encoding.Base64Encoder),
                   signing.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode())


# --- senders and the zones they publish ---------------------------------------------------
@dataclass(frozen=True)
class Sender:
    domain: str
    ip: str
    signing: str  # "rsa", "ed25519", "both" or "" (unsigned)
    dmarc: str = "reject"  # p= of its DMARC record; "" publishes none
    name: str = ""  # display name


NEWSLETTERS = (
    Sender("citybeat-news.example", "192.0.2.25", "rsa", "reject", "City Beat"),
    Sender("gardenclub.example", "192.0.2.26", "rsa", "none", "Garden Club"),
    Sender("localtheatre.example", "192.0.2.27", "ed25519", "quarantine", "Local Theatre"),
    Sender("libraryfriends.example", "192.0.2.28", "both", "reject", "Friends of the Library"),
    Sender("riverrun-outfitters.example", "192.0.2.29", "rsa", "none", "Riverrun Outfitters"),
    Sender("techdigest.example", "192.0.2.30", "both", "none", "Tech Digest"),
)
# Watched organizations (policies/watchlist.example.yaml) sending their own, signed mail.
WATCHED = (
    Sender("democrats.org", "198.51.100.20", "rsa", "reject", "Democratic National Committee"),
    Sender("gop.com", "198.51.100.21", "rsa", "reject", "GOP"),
    Sender("donaldjtrump.com", "198.51.100.22", "both", "reject", "Team Trump"),
    Sender("joebiden.com", "198.51.100.23", "ed25519", "reject", "Team Joe"),
)
# Cheap domains of a forger: some with working SPF (and so SPF pass), some not in DNS.
LOOKALIKES = (
    ("dem0crats.org", True), ("democrats-org.com", True), ("g0p.com", False),
    ("gop-news.com", True), ("donaldjtrump-2024.com", True), ("donaIdjtrump.com", False),
    ("joebidenn.com", False), ("eac-gov.com", True), ("fbi-gov.net", False),
    ("d\u0435mocrats.org".encode("idna").decode(), False),  # Cyrillic e
)
MAILERS = tuple(f"mailer{i}.bulkhost.example" for i in range(5))  # SPF pass, no DKIM
ANONYMOUS = tuple(f"anon{i}.example" for i in range(8))  # not in DNS at all
WATCHED_NAMES = ("Team Trump", "DNC", "Democratic Party", "GOP", "Joe Biden", "FBI",
               "Proud Boys", "Election Assistance Commission", "Florida Division of Elections")


def _keys(sender: Sender) -> list[tuple[str, DkimKey]]:
    """(selector, key) pairs the sender signs with, in signing order."""
    out: list[tuple[str, DkimKey]] = []
    if sender.signing in ("rsa", "both"):
        out.append(("rsa2048", rsa_key(sender.domain)))
    if sender.signing in ("ed25519", "both"):
        out.append(("ed", ed25519_key(sender.domain)))
    return out


def zones() -> Zones:
    """Every record the corpus needs, in DnsTestServer.add_records form."""
    z: Zones = {}

    def add(name: str, rdtype: str, value: str) -> None:
        z.setdefault(name, {}).setdefault(rdtype, []).append(value)

    for sender in (*NEWSLETTERS, *WATCHED):
        add(sender.domain, "TXT", f"v=spf1 ip4:{sender.ip} -all")
        add(sender.domain, "MX", f"10 mx.{sender.domain}")
        add(f"mx.{sender.domain}", "A", sender.ip)
        add(f"mail.{sender.domain}", "A", sender.ip)
        add(f"mail.{sender.domain}", "TXT", f"v=spf1 ip4:{sender.ip} -all")
        if sender.dmarc:
            add(f"_dmarc.{sender.domain}", "TXT", f"v=DMARC1; p={sender.dmarc}")
        for selector, key in _keys(sender):
            add(f"{selector}._domainkey.{sender.domain}", "TXT", key.txt)
    list_ip = "192.0.2.60"
    add(LIST_DOMAIN, "TXT", f"v=spf1 ip4:{list_ip} -all")
    add(LIST_DOMAIN, "MX", f"10 {LIST_DOMAIN}")
    add(LIST_DOMAIN, "A", list_ip)
    add(f"arc._domainkey.{LIST_DOMAIN}", "TXT", rsa_key(LIST_DOMAIN).txt)
    for i, mailer in enumerate(MAILERS):
        add(mailer, "TXT", f"v=spf1 ip4:203.0.113.{10 + i} -all")
        add(mailer, "A", f"203.0.113.{10 + i}")
    for i, (domain, in_dns) in enumerate(LOOKALIKES):
        if in_dns:
            add(domain, "TXT", f"v=spf1 ip4:203.0.113.{30 + i} -all")
            add(domain, "MX", f"10 mail.{domain}")
            add(f"mail.{domain}", "A", f"203.0.113.{30 + i}")
    seeds.publish_seed_zone(_ZoneWriter(add))  # officialproudboys.com as in October 2020
    return z


class _ZoneWriter:
    """The one method of DnsTestServer that seeds.publish_seed_zone calls."""

    def __init__(self, add: Callable[[str, str, str], None]) -> None:
        self.add = add


# --- message building ---------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    kind: str
    shape: str  # how the body is built: plain, html, alternative, mixed+pdf, base64, ...
    client_ip: str
    helo: str
    mail_from: str
    raw: bytes


_WORDS = ("the council meeting on tuesday agenda budget park library volunteers season "
          "tickets members garden spring planting workshop schedule update report new "
          "program community event downtown festival weekend parking road repairs music "
          "children families register online free open house thanks support local school "
          "board election polling place hours early voting mail ballot drop box deadline "
          "candidates forum questions answers recording available website newsletter "
          "issue sale discount members only store hiking gear trail conditions river "
          "levels weather forecast camping permits reservations review article digest "
          "software release security patch download notes feature preview").split()


def _sentences(rng: random.Random, count: int) -> str:
    out = []
    for _ in range(count):
        words = rng.choices(_WORDS, k=rng.randint(8, 20))
        out.append(" ".join(words).capitalize() + rng.choice((".", ".", ".", "!", "?")))
    return " ".join(out)


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    paras: list[str] = []
    while sum(map(len, paras)) < size:
        paras.append(_sentences(rng, rng.randint(2, 6)))
    return paras


def _qp(text: str) -> bytes:
    return quopri.encodestring(text.encode(), quotetabs=False)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def _leaf(ctype: str, payload: bytes, cte: str = "7bit", disposition: str = "") -> bytes:
    """A MIME part (headers, blank line, already transfer-encoded payload); LF endings,
    made CRLF by _message."""
    head = f"Content-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\n"
    return head.encode() + b"\n" + payload


def _multipart(subtype: str, parts: list[bytes], boundary: str) -> tuple[str, bytes]:
    sep = f"--{boundary}\n".encode()
    body = b"".join(sep + part.rstrip(b"\n") + b"\n" for part in parts)
    return f'multipart/{subtype}; boundary="{boundary}"', body + f"--{boundary}--\n".encode()


def _message(from_: str, subject: str, ctype: str, body: bytes, rng: random.Random,
             cte: str = "7bit", extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    msgid = f"<{rng.getrandbits(64):016x}@{from_.rsplit('@', 1)[-1].rstrip('>')}>"
    head = [("From", from_), ("To", RCPT), ("Subject", subject),
            ("Date", "Tue, 20 Oct 2026 09:14:00 +0000"), ("Message-ID", msgid),
            ("MIME-Version", "1.0"), ("Content-Type", ctype),
            ("Content-Transfer-Encoding", cte), *extra]
    text = b"".join(f"{k}: {v}\n".encode() for k, v in head) + b"\n" + body
    return text.replace(CRLF, b"\n").replace(b"\n", CRLF)


def _html(paras: list[str], rng: random.Random) -> str:
    """A newsletter's HTML: a hidden preheader, a layout table, styled paragraphs, links,
    images and a tracking pixel."""
    cells = "".join(f'<tr><td style="padding:8px;font-family:Arial">{p}'
                    f' <a href="https://example.org/r/{rng.getrandbits(32):x}">more</a></td></tr>'
                    for p in paras)
    return ('<!DOCTYPE html><html><head><style>td{color:#333}.x{display:none}</style></head>'
            '<body><div class="x" style="display:none">This week in brief</div>'
            '<table width="600" cellpadding="0">'
            '<tr><td><img src="https://example.org/logo.png" alt="Logo"></td></tr>'
            f'{cells}</table><img src="https://example.org/p.gif" width="1" height="1">'
            '</body></html>\n')


def _body(shape: str, paras: list[str], rng: random.Random) -> tuple[str, bytes, str]:
    """(Content-Type, body, Content-Transfer-Encoding) of a text-only message."""
    text = "\n\n".join(paras) + "\n"
    if shape == "plain":
        return "text/plain; charset=utf-8", text.encode(), "8bit"
    if shape == "qp":
        return "text/plain; charset=utf-8", _qp(text), "quoted-printable"
    if shape == "base64":
        return "text/plain; charset=utf-8", _b64(text.encode()), "base64"
    if shape == "html":
        return "text/html; charset=utf-8", _qp(_html(paras, rng)), "quoted-printable"
    if shape == "alternative":
        ctype, body = _multipart("alternative", [
            _leaf("text/plain; charset=utf-8", _qp(text), "quoted-printable"),
            _leaf("text/html; charset=utf-8", _qp(_html(paras, rng)), "quoted-printable")],
            f"alt-{rng.getrandbits(48):x}")
        return ctype, body, "7bit"
    if shape == "homoglyphs":  # Cyrillic letters in place of Latin ones
        table = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441"})
        return "text/plain; charset=utf-8", text.translate(table).encode(), "8bit"
    if shape == "zero_width":
        return "text/plain; charset=utf-8", "\u200b".join(text).encode(), "8bit"
    raise ValueError(shape)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _pdf(lines: list[str], size: int, rng: random.Random) -> bytes:
    """A one-page PDF with ``lines`` of text, padded to about ``size`` bytes with an image
    (random bytes, as a JPEG would be) the way a flyer is."""
    content = b"BT /F1 11 Tf 14 TL 50 780 Td\n" + b"\n".join(
        b"(" + line.encode("latin-1", "replace").replace(b"(", b"").replace(b")", b"")
        + b") Tj T*" for line in lines) + b"\nET\n/Im1 Do"
    image = rng.randbytes(max(0, size - len(content) - 600))
    return documents.pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R"
        b" >> /XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width 800 /Height 600 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % len(image)
        + image + b"\nendstream",
    ])


def _fixed_dates(package: bytes) -> bytes:
    """The zip ``package`` with every member dated the same (zipfile stamps the time of
    writing, which would make each run's DOCX different)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, (2026, 10, 20, 9, 14, 0)),
                         src.read(info), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _attachment(rng: random.Random, text: list[str]) -> tuple[str, bytes, int]:
    """(kind, MIME part, decoded size): a PDF, DOCX or octet-stream of 4 KB to 5 MB."""
    size = _log_uniform(rng, 4_000, 5_000_000)
    kind = rng.choices(("pdf", "docx", "octet-stream"), (45, 30, 25))[0]
    if kind == "pdf":
        data = _pdf([s for p in text for s in p.split(". ")], size, rng)
        part = _leaf('application/pdf; name="report.pdf"', _b64(data), "base64",
                     'attachment; filename="report.pdf"')
    elif kind == "docx":
        media = {"word/media/image1.jpeg": rng.randbytes(max(0, size - 3000))}
        data = _fixed_dates(documents.docx(text, extra=media))
        part = _leaf("application/vnd.openxmlformats-officedocument.wordprocessingml.document;"
                     ' name="minutes.docx"', _b64(data), "base64",
                     'attachment; filename="minutes.docx"')
    else:
        data = rng.randbytes(size)
        part = _leaf('application/octet-stream; name="archive.bin"', _b64(data), "base64",
                     'attachment; filename="archive.bin"')
    return kind, part, len(data)


class _SignedAt:
    """Stands in for the time module inside dkimpy while it signs: a fixed t=."""

    @staticmethod
    def time() -> float:
        return float(SIGNED_AT)


def dkim_sign(raw: bytes, key: DkimKey, selector: str, domain: str) -> bytes:
    """``raw`` with a DKIM-Signature (relaxed/relaxed, dkimpy's default header list).

    dkimpy's own signer, not mailfactory.dkim_sign: that one joins h= without spaces, and
    dkimpy then folds a long h= inside a header name ("content-tra nsfer-encoding"),
    which no verifier accepts."""
    saved = dkim.time
    dkim.time = _SignedAt  # only dkimpy's reference to the time module is replaced
    try:
        signature = dkim.sign(raw, selector.encode(), domain.encode(), key.private,
                              canonicalize=(b"relaxed", b"relaxed"),
                              signature_algorithm=key.signature_algorithm)
    finally:
        dkim.time = saved
    return signature + raw


def _sign(raw: bytes, sender: Sender) -> bytes:
    for selector, key in _keys(sender):
        raw = dkim_sign(raw, key, selector, sender.domain)
    return raw


def _envelope_of(sender: Sender) -> tuple[str, str, str]:
    return sender.ip, f"mail.{sender.domain}", f"bounces@{sender.domain}"


class _Texts:
    """The threat corpus's train split (never heldout), by label."""

    def __init__(self) -> None:
        records = load(split="train")
        self.threat: list[Record] = [r for r in records if r.label == "threat"]
        self.legit: list[Record] = [r for r in records if r.label == "legit"]


# Each maker: (rng, texts) -> Sample.
def _newsletter(rng: random.Random, texts: _Texts, shape: str = "") -> Sample:
    sender = rng.choice(NEWSLETTERS)
    shape = shape or rng.choice(("plain", "plain", "qp", "html", "alternative"))
    paras = _paragraphs(rng, _log_uniform(rng, 1_500, 60_000))
    ctype, body, cte = _body(shape, paras, rng)
    raw = _message(f"{sender.name} <news@{sender.domain}>", "This week: " +
                   " ".join(rng.choices(_WORDS, k=4)), ctype, body, rng, cte,
                   extra=(("List-Unsubscribe", f"<https://{sender.domain}/u>"),))
    return Sample("newsletter", shape, *_envelope_of(sender), _sign(raw, sender))


def _watched_legit(rng: random.Random, texts: _Texts) -> Sample:
    sender = rng.choice(WATCHED)
    shape = rng.choice(("plain", "html", "alternative"))
    paras = [r.text for r in rng.sample(texts.legit, rng.randint(1, 4))]
    paras += _paragraphs(rng, rng.randint(200, 4000))
    ctype, body, cte = _body(shape, paras, rng)
    raw = _message(f"{sender.name} <info@{sender.domain}>", "An update from us", ctype,
                   body, rng, cte)
    return Sample("watched_legit", shape, *_envelope_of(sender), _sign(raw, sender))


def _attachments(rng: random.Random, texts: _Texts) -> Sample:
    sender = rng.choice((*NEWSLETTERS, *WATCHED))
    paras = _paragraphs(rng, rng.randint(300, 3000))
    kind, part, _ = _attachment(rng, _paragraphs(rng, rng.randint(500, 20_000)))
    intro = _leaf("text/plain; charset=utf-8", _qp("\n\n".join(paras) + "\n"),
                  "quoted-printable")
    ctype, body = _multipart("mixed", [intro, part], f"mix-{rng.getrandbits(48):x}")
    raw = _message(f"{sender.name} <office@{sender.domain}>", "Documents for the meeting",
                   ctype, body, rng)
    return Sample("attachment", f"mixed+{kind}", *_envelope_of(sender), _sign(raw, sender))


def _arc_forward(rng: random.Random, texts: _Texts) -> Sample:
    """A list receives a signed newsletter, tags the subject and adds a footer (the
    author's signature breaks), maybe signs it itself, and ARC-seals it."""
    original = _newsletter(rng, texts, rng.choice(("plain", "alternative"))).raw
    head, _, body = original.partition(CRLF + CRLF)
    head = head.replace(b"\r\nSubject: ", b"\r\nSubject: [civic-list] ", 1)
    raw = head + CRLF + CRLF + body + b"--\r\nYou are subscribed to civic-list.\r\n"
    key = rsa_key(LIST_DOMAIN)
    shape = "arc"
    if rng.random() < 0.5:
        raw, shape = dkim_sign(raw, key, "arc", LIST_DOMAIN), "arc+dkim"
    author = original.split(b"\r\nFrom: ", 1)[1].split(b"\r\n", 1)[0].decode()
    domain = author.rsplit("@", 1)[1].rstrip(">")
    results = f"spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; " \
              f"dmarc=pass header.from={domain}"
    raw = arc_seal(raw, key, "arc", LIST_DOMAIN, LIST_DOMAIN, results, timestamp=SIGNED_AT)
    raw = add_header(raw, "Received", f"from mail.{domain} by {LIST_DOMAIN}; "
                     "Tue, 20 Oct 2026 09:14:01 +0000")
    return Sample("arc_forward", shape, "192.0.2.60", LIST_DOMAIN,
                  f"civic-list-bounces@{LIST_DOMAIN}", raw)


def _spoof_domain(rng: random.Random, texts: _Texts) -> Sample:
    """From: a watched domain, sent from elsewhere, unsigned: DMARC fails."""
    sender = rng.choice(WATCHED)
    shape = rng.choice(("plain", "html", "alternative"))
    paras = [r.text for r in rng.sample(texts.legit, rng.randint(1, 3))]
    ctype, body, cte = _body(shape, paras + ["Donate now: https://donate-now.example/x"], rng)
    raw = _message(f"{sender.name} <alerts@{sender.domain}>", "Urgent: your membership",
                   ctype, body, rng, cte)
    anon = rng.choice(ANONYMOUS)
    return Sample("spoof_domain", shape, FOREIGN_IP, f"vps.{anon}", f"x@{anon}", raw)


def _spoof_display(rng: random.Random, texts: _Texts) -> Sample:
    """A watched name in the display name, a bulk mailer's address (SPF pass, no DKIM)."""
    index = rng.randrange(len(MAILERS))
    mailer = MAILERS[index]
    shape = rng.choice(("plain", "html"))
    paras = [r.text for r in rng.sample(texts.legit, 2)] + _paragraphs(rng, 500)
    ctype, body, cte = _body(shape, paras, rng)
    name = rng.choice(WATCHED_NAMES)
    raw = _message(f'"{name}" <news@{mailer}>', f"A message from {name}", ctype, body, rng,
                   cte, extra=(("Reply-To", f"reply@{rng.choice(ANONYMOUS)}"),))
    return Sample("spoof_display", shape, f"203.0.113.{10 + index}", mailer,
                  f"bounce@{mailer}", raw)


def _lookalike(rng: random.Random, texts: _Texts) -> Sample:
    index = rng.randrange(len(LOOKALIKES))
    domain, in_dns = LOOKALIKES[index]
    shape = rng.choice(("plain", "html", "alternative"))
    record = rng.choice(texts.threat if rng.random() < 0.3 else texts.legit)
    ctype, body, cte = _body(shape, [record.text, *_paragraphs(rng, 400)], rng)
    raw = _message(f"Election Team <team@{domain}>", "Please confirm your registration",
                   ctype, body, rng, cte)
    ip = f"203.0.113.{30 + index}" if in_dns else FOREIGN_IP
    return Sample("lookalike", shape, ip, f"mail.{domain}", f"team@{domain}", raw)


def _threat(rng: random.Random, texts: _Texts) -> Sample:
    """A threat text (train split) from the 2020 seed's domain, a lookalike or a throwaway
    domain; plain, encoded, obfuscated, or in a PDF attachment."""
    records = rng.sample(texts.threat, rng.randint(1, 2))
    shape = rng.choice(("plain", "plain", "html", "alternative", "base64", "qp",
                        "homoglyphs", "zero_width", "pdf"))
    where = rng.random()
    if where < 0.4:
        from_, ip, helo, mail_from = seeds.SEED_FROM, FOREIGN_IP, seeds.FOREIGN_HELO, \
            seeds.SEED_FROM
    elif where < 0.7:
        index = rng.randrange(len(LOOKALIKES))
        domain, in_dns = LOOKALIKES[index]
        from_, mail_from = f"info@{domain}", f"info@{domain}"
        ip, helo = (f"203.0.113.{30 + index}" if in_dns else FOREIGN_IP), f"mail.{domain}"
    else:
        anon = rng.choice(ANONYMOUS)
        from_, ip, helo, mail_from = f"patriot@{anon}", FOREIGN_IP, f"vps.{anon}", \
            f"patriot@{anon}"
    paras = [r.text for r in records]
    subject = rng.choice(("Vote carefully", "Informacion electoral", "We are watching",
                          "Election Day"))
    if shape == "pdf":
        data = _pdf([s for p in paras for s in p.split(". ")], rng.randint(3_000, 40_000), rng)
        ctype, body = _multipart("mixed", [
            _leaf("text/plain; charset=utf-8", b"See the attached notice.\n"),
            _leaf('application/pdf; name="notice.pdf"', _b64(data), "base64",
                  'attachment; filename="notice.pdf"')], f"thr-{rng.getrandbits(48):x}")
        raw = _message(from_, subject, ctype, body, rng)
    else:
        ctype, body_bytes, cte = _body(shape, paras, rng)
        raw = _message(from_, subject, ctype, body_bytes, rng, cte)
    return Sample("threat", shape, ip, helo, mail_from, raw)


# kind -> (share of the corpus in percent, maker)
MIX: dict[str, tuple[int, Callable[[random.Random, _Texts], Sample]]] = {
    "newsletter": (30, _newsletter),
    "watched_legit": (8, _watched_legit),
    "attachment": (12, _attachments),
    "arc_forward": (8, _arc_forward),
    "spoof_domain": (8, _spoof_domain),
    "spoof_display": (7, _spoof_display),
    "lookalike": (10, _lookalike),
    "threat": (17, _threat),
}


def generate(seed: int, messages: int) -> list[Sample]:
    """``messages`` samples; the n-th depends only on (seed, n)."""
    texts = _Texts()
    kinds = random.Random(f"mix:{seed}").choices(
        list(MIX), [share for share, _ in MIX.values()], k=messages)
    return [MIX[kind][1](random.Random(f"msg:{seed}:{n}"), texts)
            for n, kind in enumerate(kinds)]


def _news_quote(rng: random.Random, texts: _Texts) -> Sample:
    """An authenticated newsletter that quotes a threat (a news report): threatening words
    from a sender who is not in doubt. Not in MIX (the profile corpus stays as it was);
    tests/integration/test_verdicts_pinned.py adds these to check the skipped threat
    reading on the mail it is skipped for."""
    sender = rng.choice(NEWSLETTERS)
    quoted = rng.choice(texts.threat).text
    paras = ["Voters in several counties reported a message that read:", quoted,
             *_paragraphs(rng, rng.randint(200, 2000))]
    ctype, body, cte = _body(rng.choice(("plain", "html")), paras, rng)
    raw = _message(f"{sender.name} <news@{sender.domain}>", "Reports of threatening mail",
                   ctype, body, rng, cte)
    return Sample("news_quote", "quote", *_envelope_of(sender), _sign(raw, sender))


def news_quotes(seed: int, messages: int) -> list[Sample]:
    """``messages`` authenticated newsletters quoting threats (``_news_quote``)."""
    texts = _Texts()
    return [_news_quote(random.Random(f"quote:{seed}:{n}"), texts) for n in range(messages)]


def digest(samples: list[Sample]) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(s.raw)
    return h.hexdigest()[:16]


def describe(samples: list[Sample]) -> str:
    """The mix: messages and sizes per kind and shape."""
    lines = [f"{'kind':14} {'shape':18} {'msgs':>5} {'mean KB':>9} {'max KB':>9}"]
    groups: dict[tuple[str, str], list[int]] = {}
    for s in samples:
        groups.setdefault((s.kind, s.shape), []).append(len(s.raw))
    for (kind, shape), sizes in sorted(groups.items()):
        lines.append(f"{kind:14} {shape:18} {len(sizes):5} {sum(sizes) / len(sizes) / 1e3:9.1f} "
                     f"{max(sizes) / 1e3:9.1f}")
    sizes = [len(s.raw) for s in samples]
    kinds = Counter(s.kind for s in samples)
    lines.append(f"total {len(samples)} messages, {sum(sizes) / 1e6:.1f} MB, median "
                 f"{sorted(sizes)[len(sizes) // 2] / 1e3:.1f} KB; by kind: "
                 + ", ".join(f"{k} {v}" for k, v in kinds.most_common())
                 + f"; digest {digest(samples)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write NNNN.eml, envelopes.json, zones.json")
    args = parser.parse_args(argv)
    samples = generate(args.seed, args.messages)
    print(describe(samples))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for n, s in enumerate(samples):
            (args.out / f"{n:05d}.eml").write_bytes(s.raw)
        (args.out / "envelopes.json").write_text(json.dumps(
            [{k: v for k, v in asdict(s).items() if k != "raw"} for s in samples], indent=1))
        (args.out / "zones.json").write_text(json.dumps(zones(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
