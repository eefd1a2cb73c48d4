"""A cheap domain of the forger's own: working SPF and MX, no DKIM, no watched display name,
and the 2020 threat text saying "We are the Proud Boys" (issue 12). Everything about the
envelope and the headers checks out; the text's own claim of identity (``identity_claim``)
is the spoof evidence that, with the threat, makes it a threat.

analyze() with the loopback DNS server and the bundled watchlist and default policy, as in
``test_detection.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.actions import Quarantine
from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Envelope, Level
from support import seeds
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FORGER_IP = "203.0.113.5"
DNC_IP = "198.51.100.20"
CHEAP_DOMAINS = ("proud-boys-usa.com", "proudboys.com", "the-proud-boys.com",
                 "proudboysofficial.com", "proudboys-news.com")
CLAIMED_THREAT = "We are the Proud Boys.\n" + seeds.THREAT_EN


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("cheap") / "spoofwatch.yaml"
    path.write_text("authserv_id: mx.test.example\n"
                    f"policy: {POLICIES / 'default.yaml'}\n"
                    f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n", encoding="utf-8")
    return load_config(path)


def _own_domain(dns: DnsTestServer, domain: str, ip: str = FORGER_IP) -> None:
    """What the forger sets up for a few dollars: MX and an SPF record that passes."""
    dns.add(domain, "MX", f"10 mx.{domain}")
    dns.add(domain, "TXT", f"v=spf1 ip4:{ip} -all")


def _run(resolver: Resolver, config: Config, raw: bytes, ip: str, mail_from: str,
         all_checks: bool = False) -> Report:
    envelope = Envelope(client_ip=ip, helo=f"mail.{mail_from.partition('@')[2]}",
                        mail_from=mail_from, rcpts=("voter@recipient.example",))
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(),
                   all_checks=all_checks)


def _names(report: Report) -> list[str]:
    # lookalike_domain is left out: whether names make lookalike candidates is another
    # part of issue 12 (item 5), and the verdict here must not depend on it.
    return [f.name for f in report.verdict.findings if f.name != "lookalike_domain"]


@pytest.mark.parametrize("domain", CHEAP_DOMAINS)
def test_the_threat_from_a_cheap_domain_of_ones_own_is_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config, domain: str
) -> None:
    _own_domain(dns, domain)
    raw = make_message(f"info@{domain}", "voter@recipient.example", seeds.SUBJECT,
                       CLAIMED_THREAT)
    report = _run(resolver, config, raw, FORGER_IP, f"info@{domain}")
    assert (report.level, _names(report)) == (Level.THREAT, ["identity_claim",
                                                             "threat_content"])
    claim = next(f for f in report.verdict.findings if f.name == "identity_claim")
    assert (claim.org, claim.weight, dict(claim.detail)) == (
        "Proud Boys", 4.0, {"alias": "Proud Boys", "form": "opener"})
    assert [a for a in report.actions if isinstance(a, Quarantine)] != []


def test_the_claim_alone_is_the_spoof_evidence_on_a_domain_that_imitates_nothing(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # A domain named after nothing watched: no lookalike, no display name, SPF passes.
    # Before identity_claim this message was delivered clean, score 0: threatening content
    # counts for nothing without spoof evidence.
    _own_domain(dns, "patriot-mail.example")
    raw = make_message("info@patriot-mail.example", "voter@recipient.example", seeds.SUBJECT,
                       CLAIMED_THREAT)
    report = _run(resolver, config, raw, FORGER_IP, "info@patriot-mail.example")
    assert (report.level, report.verdict.score,
            [f.name for f in report.verdict.findings]) == (
        Level.THREAT, 10, ["identity_claim", "threat_content"])
    assert [a for a in report.actions if isinstance(a, Quarantine)] != []


def test_without_the_claim_the_cheap_domain_gives_no_spoof_evidence_from_the_text(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # The contrast: the same threat without "We are the Proud Boys" has nothing here that
    # says who is speaking (whatever lookalike_domain decides about the domain).
    _own_domain(dns, "proudboys-news.com")
    raw = make_message("info@proudboys-news.com", "voter@recipient.example", seeds.SUBJECT,
                       seeds.THREAT_EN)
    report = _run(resolver, config, raw, FORGER_IP, "info@proudboys-news.com")
    assert _names(report) == ["threat_content"]


def _dnc_zone(dns: DnsTestServer) -> None:
    _own_domain(dns, "democrats.org", DNC_IP)
    dns.add("_dmarc.democrats.org", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "s1", "democrats.org", rsa_key())


def test_the_organization_may_say_who_it_is_when_signed_and_aligned(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # Threatening words from the authenticated organization (it quotes the threat in a
    # warning) carry no weight, and "This is the DNC" from the DNC is no claim to doubt.
    _dnc_zone(dns)
    raw = dkim_sign(make_message("info@democrats.org", "voter@recipient.example",
                                 "A warning", "This is the DNC.\n" + seeds.THREAT_EN),
                    rsa_key(), "s1", "democrats.org")
    report = _run(resolver, config, raw, DNC_IP, "info@democrats.org", all_checks=True)
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.CLEAN, 0, ["threat_content"])
    # The milter does not even read the threat: it could not count.
    report = _run(resolver, config, raw, DNC_IP, "info@democrats.org")
    assert (report.level, report.verdict.score, _names(report), report.skipped_checks) == (
        Level.CLEAN, 0, [], ("threat_content",))


def test_the_organizations_signature_counts_on_another_from_domain(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # A campaign site of the DNC's own, signed with democrats.org's key (signed_by).
    _dnc_zone(dns)
    _own_domain(dns, "iwillvote.example", DNC_IP)
    raw = dkim_sign(make_message("info@iwillvote.example", "voter@recipient.example",
                                 "Vote", "This is the DNC. Find your polling place.\n"),
                    rsa_key(), "s1", "democrats.org")
    report = _run(resolver, config, raw, DNC_IP, "info@iwillvote.example")
    assert (report.level, report.verdict.score, _names(report)) == (Level.CLEAN, 0, [])


def test_the_dnc_claimed_from_a_cheap_domain_is_a_threat(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    _own_domain(dns, "dnc-voter-desk.example")
    raw = make_message("desk@dnc-voter-desk.example", "voter@recipient.example",
                       seeds.SUBJECT, seeds.THREAT_EN + "\nSincerely,\nDemocratic National "
                       "Committee\n")
    report = _run(resolver, config, raw, FORGER_IP, "desk@dnc-voter-desk.example")
    assert (report.level, _names(report)) == (Level.THREAT, ["identity_claim",
                                                             "threat_content"])


def test_a_voter_forwarding_the_threat_asking_is_this_real_is_not_a_claim(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    _own_domain(dns, "voter-isp.example", "198.51.100.77")
    dns.add("_dmarc.voter-isp.example", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "v1", "voter-isp.example", rsa_key(name="voter"))
    body = ("Is this real? Should I call the police?\n\n"
            "---------- Forwarded message ---------\n"
            "From: <info@proudboys.com>\nSubject: Vote for Trump or else!\n\n"
            + CLAIMED_THREAT)
    raw = dkim_sign(make_message("Pat Voter <pat@voter-isp.example>",
                                 "help@recipient.example", "Fwd: Vote for Trump or else!",
                                 body), rsa_key(name="voter"), "v1", "voter-isp.example")
    report = _run(resolver, config, raw, "198.51.100.77", "pat@voter-isp.example")
    # (whether threat_content records the forwarded threat, at weight 0, is the threat
    # check's business: it leaves forwarded text out since the concept scoring)
    assert (report.level, report.verdict.score) == (Level.CLEAN, 0)
    assert "identity_claim" not in _names(report)
