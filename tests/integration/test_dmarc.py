"""DMARC (RFC 9989) evaluated through the real loopback DNS server and Resolver."""

from __future__ import annotations

from spoofwatch.auth.dmarc import discover_policy, evaluate_dmarc, organizational_domain, tree_walk
from spoofwatch.dns import Resolver
from spoofwatch.results import (
    AuthResult,
    DkimResult,
    DkimSignature,
    SpfCheck,
    SpfResult,
)
from support.dnsserver import DnsTestServer


def spf(domain: str, result: AuthResult = AuthResult.PASS) -> SpfResult:
    return SpfResult(SpfCheck("mailfrom", domain, f"bounce@{domain}", result), helo=None)


NO_SPF = SpfResult(SpfCheck("mailfrom", "", "", AuthResult.NONE), helo=None)


def dkim(*signatures: tuple[str, AuthResult]) -> DkimResult:
    return DkimResult(tuple(DkimSignature(d, "sel", "rsa-sha256", r, "") for d, r in signatures))


NO_DKIM = DkimResult(())


def publish(dns: DnsTestServer, domain: str, record: str) -> None:
    dns.add(f"_dmarc.{domain}", "TXT", record)


def dmarc_queries(dns: DnsTestServer) -> list[str]:
    return [name for name, rdtype in dns.queries if rdtype == "TXT"]


# ---------------------------------------------------------------- pass / fail


def test_pass_via_spf_only(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    result = evaluate_dmarc("example.com", spf("example.com"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, False)


def test_pass_via_dkim_only(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    result = evaluate_dmarc("example.com", spf("example.net"),
                            dkim(("example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, False, True)


def test_relaxed_dkim_alignment_passes_through_the_tree_walk(dns: DnsTestServer,
                                                             resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    result = evaluate_dmarc("news.example.com", NO_SPF,
                            dkim(("mail.example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.org_domain) == (AuthResult.PASS, "example.com")


def test_strict_dkim_alignment_fails_for_a_sibling(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject; adkim=s")
    result = evaluate_dmarc("news.example.com", NO_SPF,
                            dkim(("mail.example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.dkim_aligned) == (AuthResult.FAIL, False)


def test_strict_spf_alignment_fails_for_a_subdomain(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject; aspf=s")
    result = evaluate_dmarc("example.com", spf("bounce.example.com"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_fail_with_p_reject(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    result = evaluate_dmarc("example.com", spf("example.com", AuthResult.FAIL),
                            dkim(("example.com", AuthResult.FAIL)), resolver)
    assert (result.result, result.policy, result.requested_policy) == (
        AuthResult.FAIL, "reject", "reject")


def test_no_record_is_none(dns: DnsTestServer, resolver: Resolver) -> None:
    result = evaluate_dmarc("example.com", spf("example.com"), NO_DKIM, resolver)
    assert (result.result, result.policy) == (AuthResult.NONE, "")
    assert dmarc_queries(dns) == ["_dmarc.example.com", "_dmarc.com"]


# -------------------------------------------------------------- sp, np, psd, t


def test_sp_applies_to_an_existing_subdomain(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject; sp=quarantine; np=none")
    dns.add("news.example.com", "MX", "10 mx.example.com")
    result = evaluate_dmarc("news.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy, result.policy_domain) == ("quarantine", "example.com")


def test_np_applies_to_a_non_existent_subdomain(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=none; sp=quarantine; np=reject")
    result = evaluate_dmarc("ghost.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.result, result.policy, result.policy_domain) == (
        AuthResult.FAIL, "reject", "example.com")
    assert ("ghost.example.com", "A") in dns.queries


def test_psd_record_applies_np_under_a_public_suffix(dns: DnsTestServer,
                                                     resolver: Resolver) -> None:
    publish(dns, "gov.example", "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y")
    result = evaluate_dmarc("ministry.gov.example", NO_SPF, NO_DKIM, resolver)
    assert (result.result, result.policy, result.policy_domain, result.org_domain) == (
        AuthResult.FAIL, "reject", "gov.example", "ministry.gov.example")
    assert dmarc_queries(dns) == ["_dmarc.ministry.gov.example", "_dmarc.gov.example"]


def test_psd_record_applies_sp_to_an_existing_registered_domain(dns: DnsTestServer,
                                                                resolver: Resolver) -> None:
    publish(dns, "gov.example", "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y")
    dns.add("ministry.gov.example", "A", "192.0.2.10")
    result = evaluate_dmarc("ministry.gov.example", NO_SPF, NO_DKIM, resolver)
    assert (result.policy, result.policy_domain) == ("quarantine", "gov.example")


def test_psd_boundary_keeps_sibling_registrants_unaligned(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    publish(dns, "gov.example", "v=DMARC1; p=reject; psd=y")
    publish(dns, "ministry.gov.example", "v=DMARC1; p=reject")
    result = evaluate_dmarc("ministry.gov.example", spf("fake.gov.example"),
                            dkim(("fake.gov.example", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.FAIL, False, False)


def test_psd_registrant_subdomain_aligns_with_its_registered_domain(dns: DnsTestServer,
                                                                   resolver: Resolver) -> None:
    publish(dns, "gov.example", "v=DMARC1; p=reject; psd=y")
    result = evaluate_dmarc("ministry.gov.example", NO_SPF,
                            dkim(("mail.ministry.gov.example", AuthResult.PASS)), resolver)
    assert (result.result, result.org_domain) == (AuthResult.PASS, "ministry.gov.example")


def test_testing_mode_applies_one_level_lower(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject; t=y")
    result = evaluate_dmarc("example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.result, result.requested_policy, result.policy, result.testing) == (
        AuthResult.FAIL, "reject", "quarantine", True)


# ----------------------------------------------------------------- DNS details


def test_deep_author_domain_walk_order_seen_by_the_server(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    walk = tree_walk("a.b.c.d.e.f.g.h.example.com", resolver)
    expected = [
        "_dmarc.a.b.c.d.e.f.g.h.example.com",
        "_dmarc.d.e.f.g.h.example.com",
        "_dmarc.e.f.g.h.example.com",
        "_dmarc.f.g.h.example.com",
        "_dmarc.g.h.example.com",
        "_dmarc.h.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    ]
    assert dmarc_queries(dns) == expected
    assert list(walk.queries) == expected


def test_record_longer_than_255_bytes_is_reassembled(dns: DnsTestServer,
                                                     resolver: Resolver) -> None:
    rua = ",".join(f"mailto:aggregate-{i}@reports.example.com" for i in range(10))
    publish(dns, "example.com", f"v=DMARC1; rua={rua}; p=reject")
    assert discover_policy("example.com", resolver).record.p == "reject"  # type: ignore[union-attr]


def test_two_records_at_the_author_domain_are_discarded(dns: DnsTestServer,
                                                        resolver: Resolver) -> None:
    publish(dns, "mail.example.com", "v=DMARC1; p=none")
    publish(dns, "mail.example.com", "v=DMARC1; p=quarantine")
    publish(dns, "example.com", "v=DMARC1; p=reject")
    result = evaluate_dmarc("mail.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy, result.policy_domain) == ("reject", "example.com")


def test_servfail_during_discovery_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.servfail("_dmarc.example.com")
    result = evaluate_dmarc("mail.example.com", spf("mail.example.com"), NO_DKIM, resolver)
    assert (result.result, result.policy) == (AuthResult.TEMPERROR, "")
    assert result.queries == ("_dmarc.mail.example.com", "_dmarc.example.com")


def test_timeout_during_discovery_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.never_answer("_dmarc.example.com")
    result = evaluate_dmarc("example.com", spf("example.com"), NO_DKIM, resolver)
    assert result.result is AuthResult.TEMPERROR


def test_servfail_in_a_needed_alignment_walk_is_temperror(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    dns.servfail("_dmarc.com")
    result = evaluate_dmarc("example.com", NO_SPF, dkim(("mail.example.com", AuthResult.PASS)),
                            resolver)
    assert result.result is AuthResult.TEMPERROR


def test_second_evaluation_is_served_from_the_resolver_cache(dns: DnsTestServer,
                                                             resolver: Resolver) -> None:
    publish(dns, "example.com", "v=DMARC1; p=reject")
    first = evaluate_dmarc("news.example.com", NO_SPF, NO_DKIM, resolver.for_message())
    asked = len(dns.queries)
    second = evaluate_dmarc("news.example.com", NO_SPF, NO_DKIM, resolver.for_message())
    assert first == second
    assert len(dns.queries) == asked


def test_org_domain_via_real_dns(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, "mail.example.com", "v=DMARC1; p=none; psd=n")
    publish(dns, "example.com", "v=DMARC1; p=reject")
    assert organizational_domain("a.mail.example.com", resolver) == "mail.example.com"
