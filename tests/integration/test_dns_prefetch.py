"""The first question of each check goes out at the same time (``BudgetedLookup.prefetch``):
a cold message waits one round trip, not one per check, and the results are the same."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert first_questions(ENVELOPE, sender) == [
        ("campaign.example", "TXT"), ("mail.campaign.example", "TXT"),
        ("_dmarc.campaign.example", "TXT")]


@pytest.mark.parametrize(("client_ip", "mail_from", "helo"), [
    ("198.51.100.10", "<u@[192.0.2.1]>", "[192.0.2.1]"),  # address literals
    ("198.51.100.10", "<u@192.0.2.1>", "::ffff:192.0.2.1"),
    ("198.51.100.10", "<postmaster>", "localhost"),  # no domain, a single label
    ("198.51.100.10", "<u@host.123>", "host.123"),  # a numeric top-level label
    ("unknown", "<u@campaign.example>", "mail.campaign.example"),  # no client address
])
def test_no_question_is_prepared_that_the_checks_would_not_ask(
    client_ip: str, mail_from: str, helo: str
) -> None:
    envelope = Envelope(client_ip=client_ip, helo=helo, mail_from=mail_from,
                        rcpts=("voter@recipient.example",), queue_id="PF2")
    sender = parse_from(Message.from_bytes(b"From: a@[192.0.2.9]\r\n\r\nx\r\n"))
    assert first_questions(envelope, sender) == []


def test_a_silent_name_costs_one_wait_and_is_not_asked_again(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zone(dns)
    dns.never_answer("mail.campaign.example")
    config = load_config(write_config(tmp_path, dns_port=dns_server.port,
                                      socket_spec=f"unix:{tmp_path}/s.sock"))
    resolver = Resolver(nameservers=["127.0.0.1"], port=dns_server.port, timeout=1.0,
                        lifetime=1.0, message_budget=30.0, cache_size=0)
    report = analyze(ENVELOPE, Message.from_bytes(RAW), config, resolver.for_message())
    assert report.spf is not None and report.spf.helo is not None
    assert report.spf.helo.result.value == "temperror"
    assert report.dmarc is not None and report.dmarc.result.value == "pass"  # SPF aligned
    # dnspython retries within its lifetime; what matters: the check did not ask again
    # after the prefetch's wait (a second lifetime), so every query fell in one window
    asked = [q for q in dns.queries if q == ("mail.campaign.example", "TXT")]
    assert asked and resolver.stats.timeouts == 1


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
    assert (pending_in_turn, pending_together) == (1, 3)
