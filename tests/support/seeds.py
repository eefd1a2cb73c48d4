"""The October 2020 voter-intimidation mail and its variants, rebuilt from the reported facts.

Facts used: the mail claimed to come from info@officialproudboys.com; that domain had one
SPF record (``v=spf1 -all``), no DKIM, no DMARC record and no MX; the mail came from servers
abroad; it told Democratic voters to vote for Trump on Election Day or be "come after",
claimed to hold all their information, and told them to change their party registration.
The wording below is ours.
"""

from __future__ import annotations

import base64
import quopri
from email.header import Header

from .dnsserver import DnsTestServer

SEED_DOMAIN = "officialproudboys.com"
SEED_FROM = f"info@{SEED_DOMAIN}"
FOREIGN_IP = "203.0.113.66"
FOREIGN_HELO = "vps-4821.hosting.example"

THREAT_EN = (
    "We know you are registered as a Democrat. We are in possession of all your "
    "information: your email, your home address, your phone. You will vote for Trump on "
    "Election Day or we will come after you. Change your party registration to Republican "
    "so we know you got this message. We will know which candidate you voted for.\n"
)
THREAT_PARAPHRASE = (
    "Listen carefully. We have every detail about you, including where you live. "
    "If you do not vote for Trump this November we will find you and you will regret it. "
    "Switch your party affiliation to Republican this week.\n"
)
THREAT_ES = (
    "Sabemos que estas registrado como democrata. Tenemos toda tu informacion, incluida tu "
    "direccion. Votaras por Trump el dia de las elecciones o iremos por ti. Cambia tu "
    "afiliacion de partido a republicano.\n"
)
SUBJECT = "Vote for Trump or else!"


def publish_seed_zone(dns: DnsTestServer) -> None:
    """officialproudboys.com as it was: SPF -all, nothing else (no MX, no DMARC, no DKIM)."""
    dns.add(SEED_DOMAIN, "TXT", "v=spf1 -all")
    dns.add(SEED_DOMAIN, "A", "192.0.2.80")


def _headers(subject: str, content_type: str, cte: str = "7bit",
             from_addr: str = SEED_FROM) -> bytes:
    return (
        f"From: {from_addr}\r\n"
        "To: voter@recipient.example\r\n"
        f"Subject: {subject}\r\n"
        "Date: Tue, 20 Oct 2020 09:14:00 +0000\r\n"
        "Message-ID: <seed-1@vps-4821.hosting.example>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode()


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def plain(text: str = THREAT_EN, subject: str = SUBJECT, from_addr: str = SEED_FROM) -> bytes:
    return _headers(subject, "text/plain; charset=us-ascii", from_addr=from_addr) + _crlf(text)


def html_only(text: str = THREAT_EN) -> bytes:
    body = "<html><body><p>" + text.replace(". ", ".</p><p>") + "</p></body></html>\n"
    return _headers(SUBJECT, "text/html; charset=utf-8") + _crlf(body)


def base64_body(text: str = THREAT_EN) -> bytes:
    encoded = base64.encodebytes(text.encode()).decode()
    return _headers(SUBJECT, "text/plain; charset=utf-8", "base64") + _crlf(encoded)


def quoted_printable(text: str = THREAT_EN) -> bytes:
    encoded = quopri.encodestring(text.encode(), quotetabs=True).decode()
    return _headers(SUBJECT, "text/plain; charset=utf-8", "quoted-printable") + _crlf(encoded)


def encoded_word_subject(text: str = THREAT_EN) -> bytes:
    subject = Header("Vote for Trump or else — final warning", "utf-8").encode()
    return _headers(subject, "text/plain; charset=us-ascii") + _crlf(text)


def homoglyphs(text: str = THREAT_EN) -> bytes:
    # Cyrillic а, е, о, р, с in place of the Latin letters
    table = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440",
                           "c": "\u0441"})
    return _headers(SUBJECT, "text/plain; charset=utf-8", "8bit") + _crlf(text.translate(table))


def zero_width(text: str = THREAT_EN) -> bytes:
    hidden = "\u200b".join(text)
    return _headers(SUBJECT, "text/plain; charset=utf-8", "8bit") + _crlf(hidden)


def multipart_alternative(text: str = THREAT_EN) -> bytes:
    html_part = "<html><body><p>" + text + "</p></body></html>\n"
    body = (
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n\n"
        f"{text}\n"
        "--b1\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n\n"
        f"{html_part}\n"
        "--b1--\n"
    )
    return _headers(SUBJECT, 'multipart/alternative; boundary="b1"') + _crlf(body)


VARIANTS = {
    "plain": lambda: plain(),
    "html_only": html_only,
    "base64": base64_body,
    "quoted_printable": quoted_printable,
    "encoded_word_subject": encoded_word_subject,
    "paraphrase": lambda: plain(THREAT_PARAPHRASE),
    "spanish": lambda: plain(THREAT_ES, subject="Vota por Trump o ya veras"),
    "homoglyphs": homoglyphs,
    "zero_width": zero_width,
    "multipart_alternative": multipart_alternative,
}
