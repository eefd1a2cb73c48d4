"""The 2020 seed message in new disguises, through analyze() with the loopback DNS server.

tests/integration/test_detection.py runs seeds.VARIANTS (encodings, languages, Unicode
tricks). Here the sender changes: the same threat from a lookalike domain, from a domain
nobody watches, under a watched name on a free-mail address, and with a forged From that
cannot be parsed. Each must still be a threat; the same words from an authenticated
sender must not be.
"""

from __future__ import annotations

import pytest

from spoofwatch.analyze import analyze
from spoofwatch.config import Config
from spoofwatch.detect.checks import DetectionInput, detect
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Envelope, FromProblem, Level
from support import seeds
from support.analysis import default_config
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, publish_key, rsa_key


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return default_config(tmp_path_factory.mktemp("seeds"))


def _run(resolver: Resolver, config: Config, raw: bytes, mail_from: str,
         ip: str = seeds.FOREIGN_IP, all_checks: bool = False) -> Report:
    envelope = Envelope(client_ip=ip, helo=seeds.FOREIGN_HELO, mail_from=mail_from)
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(),
                   all_checks=all_checks)


def _names(report: Report) -> list[str]:
    return [f.name for f in report.verdict.findings]


def test_the_seed_from_a_lookalike_of_the_watched_domain_is_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    dns.add("officialproudboys.net", "MX", "10 mx.officialproudboys.net")
    raw = seeds.plain(from_addr="Proud Boys <info@officialproudboys.net>")
    report = _run(resolver, config, raw, "info@officialproudboys.net")
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 15, ["display_name_impersonation", "lookalike_domain", "threat_content"])


def test_the_seed_from_an_unwatched_domain_that_sends_no_mail_is_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    dns.add("patriot-notice.example", "TXT", "v=spf1 -all")
    raw = seeds.plain(from_addr="info@patriot-notice.example")
    report = _run(resolver, config, raw, "info@patriot-notice.example")
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 10, ["non_mail_domain", "threat_content"])


def test_the_seed_under_a_watched_name_on_a_free_mail_address_is_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    dns.add("freemail.example", "MX", "10 mx.freemail.example")
    raw = seeds.plain(from_addr="The Proud Boys <proud.boys.1776@freemail.example>")
    report = _run(resolver, config, raw, "proud.boys.1776@freemail.example")
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 10, ["display_name_impersonation", "threat_content"])


def test_the_seed_text_signed_by_an_unwatched_sender_is_not_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # someone forwarding the threat they received, from their own authenticated domain
    dns.add("citizen.example", "MX", "10 mx.citizen.example")
    dns.add("citizen.example", "TXT", "v=spf1 ip4:198.51.100.70 -all")
    dns.add("_dmarc.citizen.example", "TXT", "v=DMARC1; p=quarantine")
    publish_key(dns, "c1", "citizen.example", rsa_key(name="citizen"))
    raw = dkim_sign(seeds.plain(from_addr="Alice <alice@citizen.example>"),
                    rsa_key(name="citizen"), "c1", "citizen.example")
    report = _run(resolver, config, raw, "alice@citizen.example", ip="198.51.100.70",
                  all_checks=True)
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.CLEAN, 0, ["threat_content"])
    report = _run(resolver, config, raw, "alice@citizen.example", ip="198.51.100.70")
    assert (report.level, report.verdict.score, _names(report), report.skipped_checks) == (
        Level.CLEAN, 0, [], ("threat_content",))


def test_threatening_content_is_scored_even_when_the_from_header_is_unusable(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # Two From headers: DMARC cannot be evaluated and the sender checks cannot run, but the
    # content must still be judged (analyze() passes such messages to detect()).
    seeds.publish_seed_zone(dns)
    raw = b"From: info@officialproudboys.com\r\n" + seeds.plain()
    message = Message.from_bytes(raw)
    problem = FromProblem("multiple_headers", "2 From header fields")
    inp = DetectionInput(Envelope(client_ip=seeds.FOREIGN_IP), message, problem, None, None)
    found = detect(inp, config, resolver.for_message()).findings
    assert [f.name for f in found] == ["threat_content"]
