"""One Unicode domain is one A-label in every check: SPF, DKIM, DMARC, the watchlist,
the allowlist and the look-alike detector, whether it is written in U-labels or A-labels,
in mixed case or with a trailing dot.

``faß.de`` is ``xn--fa-hia.de`` under IDNA 2008 (what registries and browsers use) and
``fass.de`` under the standard library's IDNA 2003 codec, a different domain that
someone else may own. The loopback DNS server logs every query, so the tests see which
name each check really asked about.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.addresses import parse_from
from spoofwatch.analyze import Report, analyze
from spoofwatch.auth.dkim import verify_dkim
from spoofwatch.auth.dmarc import evaluate_dmarc
from spoofwatch.auth.spf import check_spf
from spoofwatch.config import load_config
from spoofwatch.detect.lookalike import LookalikeMatcher, WatchedDomain
from spoofwatch.detect.watchlist import load_watchlist
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import AuthResult, DkimResult, Envelope, FromAddress, SpfCheck, SpfResult
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key
from support.milterproc import write_config

A_LABEL = "xn--fa-hia.de"  # faß.de under IDNA 2008
IDNA2003 = "fass.de"  # what the standard library's codec makes of it: another domain
CLIENT = "192.0.2.10"
SPELLINGS = ["faß.de", "FAß.DE", "faß.de.", "FAß.DE.", A_LABEL, "XN--FA-HIA.DE."]


def _txt_queries(dns: DnsTestServer) -> list[str]:
    return [name for name, rdtype in dns.queries if rdtype == "TXT"]


def _no_spf() -> SpfResult:
    check = SpfCheck("mailfrom", "", "", AuthResult.NONE, "")
    return SpfResult(mailfrom=check, helo=None)


# --- SPF ------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", SPELLINGS)
def test_spf_asks_about_the_idna_2008_a_label(
    domain: str, dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add(A_LABEL, "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add(IDNA2003, "TXT", "v=spf1 -all")

    result = check_spf(resolver.for_message(), CLIENT, f"alice@{domain}", f"mail.{domain}")

    assert result.mailfrom == SpfCheck("mailfrom", A_LABEL, f"alice@{A_LABEL}", AuthResult.PASS,
                                       "sender SPF authorized")
    assert result.helo is not None
    assert (result.helo.domain, result.helo.result) == (f"mail.{A_LABEL}", AuthResult.NONE)
    assert _txt_queries(dns) == [A_LABEL, f"mail.{A_LABEL}"]


# --- DKIM -----------------------------------------------------------------------------


@pytest.mark.parametrize("signing_domain", ["faß.de", "FAß.DE", A_LABEL])
def test_dkim_fetches_the_key_at_the_a_label_and_reports_it(
    signing_domain: str, dns: DnsTestServer, resolver: Resolver
) -> None:
    publish_key(dns, "s1", A_LABEL, rsa_key())
    message = make_message("Alice <alice@faß.de>", "bob@example.net", "Hello", "Hi.\n")
    signed = dkim_sign(message, rsa_key(), "s1", signing_domain)

    signature = verify_dkim(signed, resolver.for_message()).signatures[0]

    assert (signature.domain, signature.result, signature.reason) == (
        A_LABEL, AuthResult.PASS, "signature verified")
    assert _txt_queries(dns) == [f"s1._domainkey.{A_LABEL}"]


def test_dkim_d_with_a_trailing_dot_is_not_a_domain_name(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    publish_key(dns, "s1", A_LABEL, rsa_key())
    message = make_message("Alice <alice@faß.de>", "bob@example.net", "Hello", "Hi.\n")
    signed = dkim_sign(message, rsa_key(), "s1", "faß.de.")

    signature = verify_dkim(signed, resolver.for_message()).signatures[0]

    assert (signature.domain, signature.result, signature.reason) == (
        A_LABEL, AuthResult.NEUTRAL, "invalid d=")
    assert dns.queries == []


# --- DMARC ----------------------------------------------------------------------------


@pytest.mark.parametrize("from_domain", SPELLINGS)
def test_dmarc_queries_the_a_label(
    from_domain: str, dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add(f"_dmarc.{A_LABEL}", "TXT", "v=DMARC1; p=reject")

    result = evaluate_dmarc(from_domain, _no_spf(), DkimResult(()), resolver.for_message())

    assert (result.result, result.from_domain, result.policy_domain, result.policy) == (
        AuthResult.FAIL, A_LABEL, A_LABEL, "reject")
    assert result.queries == (f"_dmarc.{A_LABEL}",)
    assert _txt_queries(dns) == [f"_dmarc.{A_LABEL}"]


@pytest.mark.parametrize("author", ["alice@faß.de", "alice@FAß.DE.", f"alice@{A_LABEL}"])
@pytest.mark.parametrize("signing_domain", ["faß.de", A_LABEL])
def test_dkim_signature_of_the_unicode_domain_aligns_with_the_from_domain(
    author: str, signing_domain: str, dns: DnsTestServer, resolver: Resolver
) -> None:
    publish_key(dns, "s1", A_LABEL, rsa_key())
    dns.add(f"_dmarc.{A_LABEL}", "TXT", "v=DMARC1; p=reject; adkim=s")
    signed = dkim_sign(make_message(author, "bob@example.net", "Hello", "Hi.\n"),
                       rsa_key(), "s1", signing_domain)
    sender = parse_from(Message.from_bytes(signed))
    assert isinstance(sender, FromAddress)
    lookup = resolver.for_message()

    result = evaluate_dmarc(sender.domain, _no_spf(), verify_dkim(signed, lookup), lookup)

    assert (result.result, result.dkim_aligned, result.from_domain) == (
        AuthResult.PASS, True, A_LABEL)


# --- watchlist and look-alikes --------------------------------------------------------


def _watchlist_file(tmp_path: Path, domain: str = "faß.de") -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(f"organizations:\n  - name: Fass\n    domains: [{domain}]\n"
                    "    distinct: [straße.example]\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("listed", ["faß.de", "FAß.DE.", A_LABEL])
@pytest.mark.parametrize("domain", [*SPELLINGS, f"mail.{A_LABEL}", "Mail.Faß.De."])
def test_watchlist_owns_every_spelling_of_its_domain(
    listed: str, domain: str, tmp_path: Path
) -> None:
    watchlist = load_watchlist(_watchlist_file(tmp_path, listed))

    owner = watchlist.owner_of(domain)

    assert owner is not None
    assert (owner[0].name, owner[1].domain) == ("Fass", A_LABEL)


def test_watchlist_does_not_own_the_idna_2003_spelling(tmp_path: Path) -> None:
    watchlist = load_watchlist(_watchlist_file(tmp_path))
    assert watchlist.owner_of(IDNA2003) is None
    assert watchlist.is_distinct("STRAßE.example.")
    assert not watchlist.is_distinct("strasse.example")


@pytest.mark.parametrize("candidate", ["straße.de", "STRAßE.DE.", "xn--strae-oqa.de"])
def test_lookalike_sees_the_same_a_label_in_every_spelling(candidate: str) -> None:
    matcher = LookalikeMatcher([WatchedDomain("strasse.de", "Strasse")])

    match = matcher.match(candidate)

    # IDNA 2003 made straße.de the watched strasse.de itself, and so never a look-alike
    assert match is not None
    assert (match.domain, match.unicode, match.target) == (
        "xn--strae-oqa.de", "straße.de", "strasse.de")


@pytest.mark.parametrize("candidate", SPELLINGS)
def test_a_watched_unicode_domain_is_never_its_own_lookalike(candidate: str) -> None:
    matcher = LookalikeMatcher([WatchedDomain(A_LABEL, "Fass")])
    assert matcher.match(candidate) is None
    assert matcher.match(IDNA2003) is not None  # fass.de imitates faß.de


# --- the whole analysis -------------------------------------------------------------


def _analyze(tmp_path: Path, dns_port: int, author: str, *, signed: bool,
             extra: str = "") -> Report:
    config = load_config(write_config(tmp_path, dns_port=dns_port,
                                      socket_spec=f"unix:{tmp_path}/s.sock",
                                      watchlist=_watchlist_file(tmp_path), extra=extra))
    raw = make_message(f"Fass <{author}>", "v@recipient.example", "Notice", "Hello.\n")
    if signed:
        raw = dkim_sign(raw, rsa_key(), "s1", "faß.de")
    resolver = Resolver(nameservers=["127.0.0.1"], port=dns_port, timeout=1.0, lifetime=2.0,
                        cache_size=0)
    envelope = Envelope(client_ip="203.0.113.66", helo="mail.example",
                        mail_from="bounce@faß.de")
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(4.0))


def _zones(dns: DnsTestServer) -> None:
    publish_key(dns, "s1", A_LABEL, rsa_key())
    dns.add(A_LABEL, "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add(A_LABEL, "MX", f"10 mx.{A_LABEL}")
    dns.add(f"_dmarc.{A_LABEL}", "TXT", "v=DMARC1; p=reject")


@pytest.mark.parametrize("author", ["news@faß.de", "news@FAß.DE", f"news@{A_LABEL}"])
def test_signed_mail_of_a_watched_unicode_domain_is_authenticated(
    author: str, dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _analyze(tmp_path, dns_server.port, author, signed=True)
    assert report.dmarc is not None
    assert (report.dmarc.result, report.dmarc.from_domain) == (AuthResult.PASS, A_LABEL)
    assert "from_domain_unauthenticated" not in report.verdict.names
    assert IDNA2003 not in {name.removeprefix("_dmarc.") for name, _ in dns.queries}


@pytest.mark.parametrize("author", ["news@faß.de", f"news@{A_LABEL}"])
def test_unsigned_mail_of_a_watched_unicode_domain_is_flagged(
    author: str, dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _analyze(tmp_path, dns_server.port, author, signed=False)
    assert report.dmarc is not None and report.spf is not None
    assert (report.dmarc.result, report.dmarc.policy) == (AuthResult.FAIL, "reject")
    assert "from_domain_unauthenticated" in report.verdict.names
    assert (report.spf.mailfrom.domain, report.spf.mailfrom.result) == (A_LABEL, AuthResult.FAIL)


def test_allowlist_entry_in_u_labels_clears_mail_signed_in_u_labels(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _analyze(tmp_path, dns_server.port, "news@FAß.DE", signed=True,
                      extra="allowlist: [faß.de]\n")
    assert report.verdict.names == ("allowlisted",)
