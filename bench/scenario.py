"""The one mail flow every benchmark configuration handles: who sends what, and the DNS for it.

A legitimate bulk sender: ``news@benchsender.example`` sends a DKIM-signed (RSA-2048,
relaxed/relaxed) plain-text message from 192.0.2.25, an address its SPF record
authorizes; the domain publishes DMARC ``p=reject``. Every milter therefore does the
whole of its work and every check passes: SPF (MAIL FROM and HELO), one DKIM
verification, DMARC with alignment. Nothing is rejected, so every message reaches the
sink and every configuration delivers the same bytes.

The domain is in no watchlist and resembles no watched domain: spoofwatch runs its
detection checks in full but finds nothing (verdict ``clean``).
"""

from __future__ import annotations

from dataclasses import dataclass

from support.mailfactory import dkim_sign, make_message, rsa_key

DOMAIN = "benchsender.example"
SELECTOR = "bench"
CLIENT_IP = "192.0.2.25"
HELO = f"mail.{DOMAIN}"
MAIL_FROM = f"bounces@{DOMAIN}"
FROM_HEADER = f"Bench Newsletter <news@{DOMAIN}>"
RCPT = "reader@recipient.example"
AUTHSERV_ID = "mx.bench.example"
UNTRUSTED_NETWORK = "10.99.0.0/16"  # what every milter is told to skip: not our clients

_PARAGRAPH = (
    "This is the weekly newsletter of a sender that does everything right: its SPF "
    "record names this server, it signs with DKIM and it publishes a DMARC policy.\n"
)


@dataclass(frozen=True)
class Scenario:
    message: bytes  # the signed message, CRLF line endings, as sent after DATA
    zones: dict[str, dict[str, list[str]]]  # name -> rdtype -> values (DnsTestServer form)


def body_text(size: int) -> str:
    """About ``size`` bytes of plain text in lines of reasonable length."""
    repeats = max(1, size // len(_PARAGRAPH))
    return _PARAGRAPH * repeats


def build(body_size: int = 2000) -> Scenario:
    key = rsa_key(2048, "bench")
    message = make_message(FROM_HEADER, RCPT, "Weekly newsletter", body_text(body_size),
                           message_id=f"<weekly-1@{DOMAIN}>")
    signed = dkim_sign(message, key, SELECTOR, DOMAIN)
    zones = {
        DOMAIN: {
            "TXT": [f"v=spf1 ip4:{CLIENT_IP} -all"],
            "MX": [f"10 mx.{DOMAIN}"],
            "A": [CLIENT_IP],
        },
        f"mx.{DOMAIN}": {"A": [CLIENT_IP]},
        HELO: {"A": [CLIENT_IP], "TXT": [f"v=spf1 ip4:{CLIENT_IP} -all"]},
        f"{SELECTOR}._domainkey.{DOMAIN}": {"TXT": [key.txt]},
        f"_dmarc.{DOMAIN}": {"TXT": ["v=DMARC1; p=reject; adkim=r; aspf=r"]},
    }
    return Scenario(signed, zones)
