"""The first question of each check goes out at the same time (``BudgetedLookup.prefetch``):
a cold message waits one round trip, not one per check, and the results are the same."""

from __future__ import annotations

from pathlib import Path

from spoofwatch.addresses import parse_from
from spoofwatch.analyze import analyze, first_questions
from spoofwatch.config import load_config
from spoofwatch.dns import DnsAnswer, Resolver
from spoofwatch.message import Message
from spoofwatch.results import Envelope
from support.dnsserver import DnsTestServer
from support.milterproc import write_config

RAW = (b"From: News <news@campaign.example>\r\nTo: voter@recipient.example\r\n"
       b"Subject: Rally on Saturday\r\nDKIM-Signature: v=1; a=rsa-sha256; d=campaign.example;"
       b"\r\n s=mail2026; h=from; bh=AAAA; b=AAAA\r\n\r\nSee you there.\r\n")
ENVELOPE = Envelope(client_ip="198.51.100.10", helo="mail.campaign.example",
                    mail_from="<news@campaign.example>", rcpts=("voter@recipient.example",),
                    queue_id="PF1")


class _InTurn:
    """The resolver's lookup without prefetch: every check asks in turn, as before."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        return self._inner.lookup(name, rdtype)  # type: ignore[attr-defined, no-any-return]

    def nxdomain_trusted(self) -> bool:
        return self._inner.nxdomain_trusted()  # type: ignore[attr-defined, no-any-return]


def _zone(dns: DnsTestServer) -> None:
    dns.add("campaign.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("mail.campaign.example", "TXT", "v=spf1 a -all")
    dns.add("mail.campaign.example", "A", "198.51.100.10")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")
    dns.add("mail2026._domainkey.campaign.example", "TXT", "v=DKIM1; k=rsa; p=")


def test_the_first_questions_are_the_ones_each_check_asks_first() -> None:
    sender = parse_from(Message.from_bytes(RAW))
    assert first_questions(ENVELOPE, Message.from_bytes(RAW), sender) == [
        ("campaign.example", "TXT"), ("mail.campaign.example", "TXT"),
        ("mail2026._domainkey.campaign.example", "TXT"), ("_dmarc.campaign.example", "TXT")]


def test_a_cold_message_asks_its_first_questions_together_with_the_same_results(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zone(dns)
    config = load_config(write_config(tmp_path, dns_port=dns_server.port,
                                      socket_spec=f"unix:{tmp_path}/s.sock"))

    def run(prefetch: bool) -> tuple[object, int, list[tuple[str, str]]]:
        resolver = Resolver(nameservers=["127.0.0.1"], port=dns_server.port, timeout=5.0,
                            lifetime=10.0, message_budget=30.0, cache_size=0)
        dns.clear()
        _zone(dns)
        dns.udp_delay = 0.2  # answers wait: questions asked in turn never overlap
        lookup = resolver.for_message()
        report = analyze(ENVELOPE, Message.from_bytes(RAW), config,
                         lookup if prefetch else _InTurn(lookup))  # type: ignore[arg-type]
        summary = (report.level, report.spf.mailfrom.result if report.spf else None,
                   report.spf.helo.result if report.spf and report.spf.helo else None,
                   tuple(s.result for s in report.dkim.signatures) if report.dkim else (),
                   report.dmarc.result if report.dmarc else None,
                   report.verdict.names)
        return summary, dns.max_pending, sorted(set(dns.queries))

    in_turn, pending_in_turn, asked_in_turn = run(prefetch=False)
    together, pending_together, asked_together = run(prefetch=True)
    assert together == in_turn
    assert asked_together == asked_in_turn  # nothing asked that the checks would not ask
    assert (pending_in_turn, pending_together) == (1, 4)
