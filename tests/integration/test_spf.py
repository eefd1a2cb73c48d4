"""check_spf against the loopback DNS server through a real Resolver."""

from __future__ import annotations

import time

from spoofwatch.auth.spf import check_spf
from spoofwatch.dns import Resolver
from spoofwatch.results import AuthResult, SpfCheck, SpfResult
from support.dnsserver import DnsTestServer

CLIENT = "192.0.2.10"
OTHER_CLIENT = "198.51.100.99"
SENDER = "alice@example.com"
HELO = "mail.example.org"


def publish(dns: DnsTestServer, record: str, name: str = "example.com") -> None:
    dns.add(name, "TXT", record)


def check(resolver: Resolver, client_ip: str = CLIENT, mail_from: str = SENDER,
          helo: str = HELO) -> SpfResult:
    return check_spf(resolver.for_message(), client_ip, mail_from, helo)


def test_pass_when_client_is_listed(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.0/24 -all")
    assert check(resolver).mailfrom == SpfCheck(
        "mailfrom", "example.com", SENDER, AuthResult.PASS, "sender SPF authorized")


def test_fail_for_unlisted_client_and_minus_all(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.0/24 -all")
    assert check(resolver, client_ip=OTHER_CLIENT).mailfrom.result is AuthResult.FAIL


def test_fail_explanation_comes_from_exp_record(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 -all exp=why.example.com")
    dns.add("why.example.com", "TXT", "%{i} may not send mail for %{d}")
    mailfrom = check(resolver).mailfrom
    assert mailfrom.result is AuthResult.FAIL
    assert mailfrom.explanation == "192.0.2.10 may not send mail for example.com"


def test_softfail_for_unlisted_client_and_tilde_all(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.0/24 ~all")
    assert check(resolver, client_ip=OTHER_CLIENT).mailfrom.result is AuthResult.SOFTFAIL


def test_neutral_for_unlisted_client_and_question_all(dns: DnsTestServer,
                                                      resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.0/24 ?all")
    assert check(resolver, client_ip=OTHER_CLIENT).mailfrom.result is AuthResult.NEUTRAL


def test_none_when_domain_publishes_no_spf(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "some-site-verification=12345")
    assert check(resolver).mailfrom.result is AuthResult.NONE


def test_pass_through_include_mx_and_a(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 include:_spf.provider.net -all")
    publish(dns, "v=spf1 a:out.provider.net mx -all", name="_spf.provider.net")
    dns.add("_spf.provider.net", "MX", "10 mx.provider.net")
    dns.add("mx.provider.net", "A", CLIENT)
    assert check(resolver).mailfrom.result is AuthResult.PASS


def test_permerror_beyond_ten_dns_querying_terms(dns: DnsTestServer,
                                                 resolver: Resolver) -> None:
    publish(dns, "v=spf1 " + " ".join(f"include:i{n}.example.com" for n in range(11)) + " -all")
    for n in range(11):
        publish(dns, "v=spf1 ?all", name=f"i{n}.example.com")
    mailfrom = check(resolver).mailfrom
    assert mailfrom.result is AuthResult.PERMERROR
    assert mailfrom.explanation == "SPF Permanent Error: Too many DNS lookups"
    # pyspf stops at the eleventh term: i10's record is never fetched.
    assert ("i10.example.com", "TXT") not in dns.queries


def test_permerror_for_syntax_error(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.300 -all")
    mailfrom = check(resolver).mailfrom
    assert mailfrom.result is AuthResult.PERMERROR
    assert "192.0.2.300" in mailfrom.explanation


def test_temperror_within_budget_for_never_answering_name(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    dns.never_answer("example.com")
    started = time.monotonic()
    result = check_spf(resolver.for_message(budget=1.0), CLIENT, SENDER, HELO)
    elapsed = time.monotonic() - started
    assert result.mailfrom.result is AuthResult.TEMPERROR
    assert elapsed < 2.0
    # The budget is spent, so the HELO check cannot query either.
    assert result.helo is not None and result.helo.result is AuthResult.TEMPERROR


def test_temperror_for_servfail_on_included_domain(dns: DnsTestServer,
                                                   resolver: Resolver) -> None:
    publish(dns, "v=spf1 include:spf.provider.net -all")
    dns.servfail("spf.provider.net")
    mailfrom = check(resolver).mailfrom
    assert mailfrom.result is AuthResult.TEMPERROR
    assert "SERVFAIL" in mailfrom.explanation


def test_helo_identity_is_checked_separately(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 -all")
    publish(dns, "v=spf1 ip4:192.0.2.10 -all", name=HELO)
    result = check(resolver)
    assert result.mailfrom.result is AuthResult.FAIL
    assert result.helo == SpfCheck("helo", HELO, f"postmaster@{HELO}", AuthResult.PASS,
                                   "sender SPF authorized")


def test_address_literal_helo_is_not_queried(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 +all")
    result = check(resolver, helo="[192.0.2.10]")
    assert result.helo is not None and result.helo.result is AuthResult.NONE
    assert dns.queries == [("example.com", "TXT")]


def test_null_mail_from_uses_postmaster_at_helo(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:192.0.2.0/24 -all", name=HELO)
    result = check(resolver, mail_from="<>")
    assert result.mailfrom == SpfCheck("helo", HELO, f"postmaster@{HELO}", AuthResult.PASS,
                                       "sender SPF authorized")
    assert result.helo == result.mailfrom
    assert dns.queries == [(HELO, "TXT")]


def test_ipv6_client_passes_by_aaaa_of_a_mechanism(dns: DnsTestServer,
                                                   resolver: Resolver) -> None:
    publish(dns, "v=spf1 a:out.example.com -all")
    dns.add("out.example.com", "AAAA", "2001:db8::25")
    dns.add("out.example.com", "A", CLIENT)
    result = check(resolver, client_ip="2001:db8::25")
    assert result.mailfrom.result is AuthResult.PASS
    assert ("out.example.com", "AAAA") in dns.queries
    assert ("out.example.com", "A") not in dns.queries


def test_ipv6_client_fails_against_ipv4_only_record(dns: DnsTestServer,
                                                    resolver: Resolver) -> None:
    publish(dns, "v=spf1 ip4:0.0.0.0/0 -all")
    assert check(resolver, client_ip="2001:db8::25").mailfrom.result is AuthResult.FAIL


def test_long_record_split_into_several_strings_is_joined(dns: DnsTestServer,
                                                         resolver: Resolver) -> None:
    filler = " ".join(f"ip4:203.0.113.{n}" for n in range(40))  # well over 255 octets
    publish(dns, f"v=spf1 {filler} ip4:192.0.2.10 -all")
    assert check(resolver).mailfrom.result is AuthResult.PASS
