"""The worked examples of RFC 9989 (draft-ietf-dmarc-dmarcbis-41), one test per example.

Each test is named after its section.  Records are published on the loopback
DNS server and every DMARC query is checked in the order the server saw it.
SPF and DKIM verdicts are inputs to DMARC, so the examples give them directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from spoofwatch.auth.dmarc import (
    PolicySource,
    discover_policy,
    evaluate_dmarc,
    is_aligned,
    organizational_domain,
    parse_record,
    tree_walk,
)
from spoofwatch.dns import Resolver
from spoofwatch.results import AuthResult, DkimResult, DkimSignature, SpfCheck, SpfResult
from support.dnsserver import DnsTestServer


def spf(domain: str, result: AuthResult = AuthResult.PASS) -> SpfResult:
    return SpfResult(SpfCheck("mailfrom", domain, f"sender@{domain}", result), helo=None)


NO_SPF = SpfResult(SpfCheck("mailfrom", "", "", AuthResult.NONE), helo=None)


def dkim(*signatures: tuple[str, AuthResult]) -> DkimResult:
    return DkimResult(tuple(DkimSignature(d, "sel", "rsa-sha256", r, "") for d, r in signatures))


NO_DKIM = DkimResult(())


def publish(dns: DnsTestServer, records: Mapping[str, str]) -> None:
    for domain, record in records.items():
        dns.add(f"_dmarc.{domain}", "TXT", record)


def dmarc_queries(dns: DnsTestServer) -> list[str]:
    return [name for name, rdtype in dns.queries if rdtype == "TXT"]


EXAMPLE_COM_RELAXED = {"example.com": "v=DMARC1; p=reject"}


# ================================================= 4.4 Identifier Alignment table


def test_section_4_4_table_relaxed_siblings(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, EXAMPLE_COM_RELAXED)
    assert is_aligned("news.example.com", "foo.example.com", "r", resolver) is True
    assert is_aligned("news.example.com", "foo.example.com", "s", resolver) is False


def test_section_4_4_table_strict_identical(dns: DnsTestServer, resolver: Resolver) -> None:
    assert is_aligned("news.example.com", "news.example.com", "s", resolver) is True


def test_section_4_4_table_no_common_org_domain(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=none", "example.net": "v=DMARC1; p=none"})
    assert is_aligned("news.example.com", "foo.example.net", "r", resolver) is False


# ============================================================ 4.10 DNS Tree Walk


def test_section_4_10_deep_author_domain_eight_queries(dns: DnsTestServer,
                                                       resolver: Resolver) -> None:
    tree_walk("a.b.c.d.e.f.g.h.i.j.mail.example.com", resolver)
    assert dmarc_queries(dns) == [
        "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
        "_dmarc.g.h.i.j.mail.example.com",
        "_dmarc.h.i.j.mail.example.com",
        "_dmarc.i.j.mail.example.com",
        "_dmarc.j.mail.example.com",
        "_dmarc.mail.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    ]


def test_section_4_10_2_example_1_fewest_labels(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"mail.example.com": "v=DMARC1; p=none", "example.com": "v=DMARC1; p=none"})
    assert organizational_domain("a.mail.example.com", resolver) == "example.com"
    assert dmarc_queries(dns) == ["_dmarc.a.mail.example.com", "_dmarc.mail.example.com",
                                  "_dmarc.example.com", "_dmarc.com"]


def test_section_4_10_2_example_2_psd_n(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"mail.example.com": "v=DMARC1; p=none; psd=n",
                  "example.com": "v=DMARC1; p=none"})
    assert organizational_domain("a.mail.example.com", resolver) == "mail.example.com"
    assert dmarc_queries(dns) == ["_dmarc.a.mail.example.com", "_dmarc.mail.example.com"]


def test_section_4_10_2_example_3_psd_y_at_com(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"com": "v=DMARC1; p=none; psd=y"})
    assert organizational_domain("a.mail.example.com", resolver) == "example.com"


def test_section_4_10_2_rule_2_psd_y_at_example_com(dns: DnsTestServer,
                                                    resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=none; psd=y"})
    assert organizational_domain("mail.example.com", resolver) == "mail.example.com"
    assert dmarc_queries(dns) == ["_dmarc.mail.example.com", "_dmarc.example.com"]


def test_section_4_10_2_common_domain_with_own_record_is_its_org_domain(
        dns: DnsTestServer, resolver: Resolver) -> None:
    # "If the common domain is mail.example.com with a record at _dmarc.mail.example.com ..."
    publish(dns, {"mail.example.com": "v=DMARC1; p=reject"})
    result = evaluate_dmarc("mail.example.com", spf("mail.example.com"),
                            dkim(("mail.example.com", AuthResult.PASS)), resolver)
    assert result.result is AuthResult.PASS
    assert dmarc_queries(dns) == ["_dmarc.mail.example.com"]  # no alignment walk needed


# ======================================= 5.1.8 large organisations and zone cuts


def test_section_5_1_8_zone_cut_record_is_never_discovered(dns: DnsTestServer,
                                                           resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=none",
                  "b.c.d.e.f.g.example.com": "v=DMARC1; p=reject; psd=n"})
    result = evaluate_dmarc("mail.a.b.c.d.e.f.g.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy_domain, result.policy) == ("example.com", "none")
    assert dmarc_queries(dns)[:8] == [
        "_dmarc.mail.a.b.c.d.e.f.g.example.com",
        "_dmarc.c.d.e.f.g.example.com",
        "_dmarc.d.e.f.g.example.com",
        "_dmarc.e.f.g.example.com",
        "_dmarc.f.g.example.com",
        "_dmarc.g.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    ]


def test_section_5_1_8_record_at_the_author_domain_is_always_found(dns: DnsTestServer,
                                                                   resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=none",
                  "mail.a.b.c.d.e.f.g.example.com": "v=DMARC1; p=reject"})
    result = evaluate_dmarc("mail.a.b.c.d.e.f.g.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy_domain, result.policy) == ("mail.a.b.c.d.e.f.g.example.com", "reject")


# ============================================== B.1 Identifier Alignment examples


def test_appendix_b_1_1_example_1_spf_strict_alignment(dns: DnsTestServer,
                                                       resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject; aspf=s"})
    result = evaluate_dmarc("example.com", spf("example.com"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.PASS, True)


def test_appendix_b_1_1_example_2_spf_relaxed_alignment(dns: DnsTestServer,
                                                        resolver: Resolver) -> None:
    publish(dns, EXAMPLE_COM_RELAXED)
    result = evaluate_dmarc("example.com", spf("child.example.com"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.PASS, True)


def test_appendix_b_1_1_example_2_is_not_strictly_aligned(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject; aspf=s"})
    result = evaluate_dmarc("example.com", spf("child.example.com"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_appendix_b_1_1_example_3_no_spf_alignment(dns: DnsTestServer,
                                                   resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject", "example.net": "v=DMARC1; p=none"})
    result = evaluate_dmarc("child.example.com", spf("example.net"), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_appendix_b_1_1_spf_without_pass_cannot_align(dns: DnsTestServer,
                                                      resolver: Resolver) -> None:
    publish(dns, EXAMPLE_COM_RELAXED)
    result = evaluate_dmarc("example.com", spf("example.com", AuthResult.FAIL), NO_DKIM, resolver)
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_appendix_b_1_2_example_1_dkim_strict_alignment(dns: DnsTestServer,
                                                        resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject; adkim=s"})
    result = evaluate_dmarc("example.com", NO_SPF, dkim(("example.com", AuthResult.PASS)),
                            resolver)
    assert (result.result, result.dkim_aligned) == (AuthResult.PASS, True)


def test_appendix_b_1_2_example_2_dkim_relaxed_alignment(dns: DnsTestServer,
                                                         resolver: Resolver) -> None:
    publish(dns, EXAMPLE_COM_RELAXED)
    result = evaluate_dmarc("child.example.com", NO_SPF, dkim(("example.com", AuthResult.PASS)),
                            resolver)
    assert (result.result, result.dkim_aligned, result.org_domain) == (
        AuthResult.PASS, True, "example.com")


def test_appendix_b_1_2_example_3_no_dkim_alignment(dns: DnsTestServer,
                                                    resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject", "example.net": "v=DMARC1; p=none"})
    result = evaluate_dmarc("child.example.com", NO_SPF, dkim(("example.net", AuthResult.PASS)),
                            resolver)
    assert (result.result, result.dkim_aligned) == (AuthResult.FAIL, False)


def test_appendix_b_1_2_dkim_without_pass_cannot_align(dns: DnsTestServer,
                                                       resolver: Resolver) -> None:
    publish(dns, EXAMPLE_COM_RELAXED)
    result = evaluate_dmarc("example.com", NO_SPF, dkim(("example.com", AuthResult.FAIL)),
                            resolver)
    assert (result.result, result.dkim_aligned) == (AuthResult.FAIL, False)


# ==================================================== B.2 Domain Owner examples

B_2_1 = "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com"
B_2_2 = B_2_1 + "; ruf=mailto:auth-reports@example.com"
B_2_3 = B_2_1 + "; ruf=mailto:auth-reports@thirdparty.example.net"
B_2_4 = ("v=DMARC1; rua=mailto:aggregate-reports@thirdparty.example.net; "
         "ruf=mailto:failure-reports@thirdparty.example.net")
B_2_5_TESTING = ("v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
                 "mailto:tld-test@thirdparty.example.net; t=y")
B_2_5_ENFORCING = ("v=DMARC1; p=reject; rua=mailto:dmarc-feedback@example.com,"
                   "mailto:tld-test@thirdparty.example.net")


def test_appendix_b_2_1_entire_domain_monitoring_mode(dns: DnsTestServer,
                                                      resolver: Resolver) -> None:
    publish(dns, {"example.com": B_2_1})
    result = evaluate_dmarc("example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.result, result.policy, result.testing) == (AuthResult.FAIL, "none", False)


def test_appendix_b_2_1_covers_subdomains_too(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"example.com": B_2_1})
    dns.add("shop.example.com", "A", "192.0.2.5")
    result = evaluate_dmarc("shop.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy_domain, result.policy) == ("example.com", "none")


def test_appendix_b_2_2_failure_reports_do_not_change_evaluation(dns: DnsTestServer,
                                                                 resolver: Resolver) -> None:
    publish(dns, {"example.com": B_2_2})
    record = discover_policy("example.com", resolver).record
    assert record is not None
    assert (record.p, record.ruf) == ("none", ("mailto:auth-reports@example.com",))


def test_appendix_b_2_3_third_party_failure_reports(dns: DnsTestServer,
                                                    resolver: Resolver) -> None:
    publish(dns, {"example.com": B_2_3})
    dns.add("example.com._report._dmarc.thirdparty.example.net", "TXT", "v=DMARC1;")
    record = discover_policy("example.com", resolver).record
    assert record is not None
    assert (record.p, record.ruf) == ("none", ("mailto:auth-reports@thirdparty.example.net",))
    authorization = parse_record("v=DMARC1;")
    assert authorization is not None and authorization.p is None


def test_appendix_b_2_4_report_override_record_has_no_policy(dns: DnsTestServer,
                                                             resolver: Resolver) -> None:
    record = parse_record(B_2_4)
    assert record is not None
    assert (record.p, record.has_valid_rua) == (None, True)
    applied = record.applicable()  # were it ever found as a policy record: p=none
    assert applied is not None and applied.p == "none"


def test_appendix_b_2_5_subdomain_testing_mode(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"test.example.com": B_2_5_TESTING, "example.com": B_2_1})
    result = evaluate_dmarc("test.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy_domain, result.requested_policy, result.policy, result.testing) == (
        "test.example.com", "quarantine", "none", True)


def test_appendix_b_2_5_subdomain_enforcing(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"test.example.com": B_2_5_ENFORCING, "example.com": B_2_1})
    result = evaluate_dmarc("test.example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.result, result.policy, result.testing) == (AuthResult.FAIL, "reject", False)


def test_appendix_b_2_5_record_applies_only_to_the_subdomain(dns: DnsTestServer,
                                                             resolver: Resolver) -> None:
    publish(dns, {"test.example.com": B_2_5_ENFORCING, "example.com": B_2_1})
    result = evaluate_dmarc("example.com", NO_SPF, NO_DKIM, resolver)
    assert (result.policy_domain, result.policy) == ("example.com", "none")


# ================================================= B.3 Mail Receiver example

B_3_1 = "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com"


def test_appendix_b_3_1_smtp_session_both_identifiers_align(dns: DnsTestServer,
                                                            resolver: Resolver) -> None:
    publish(dns, {"example.com": B_3_1})
    result = evaluate_dmarc("example.com", spf("mail.example.com"),
                            dkim(("example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned, result.policy) == (
        AuthResult.PASS, True, True, "reject")


def test_appendix_b_3_1_no_aligned_identifier_gets_the_reject_policy(dns: DnsTestServer,
                                                                     resolver: Resolver) -> None:
    publish(dns, {"example.com": B_3_1})
    result = evaluate_dmarc("example.com", spf("mail.example.com", AuthResult.FAIL),
                            dkim(("example.com", AuthResult.FAIL)), resolver)
    assert (result.result, result.policy) == (AuthResult.FAIL, "reject")


def test_appendix_b_3_1_transient_dns_error_is_temperror(dns: DnsTestServer,
                                                         resolver: Resolver) -> None:
    dns.servfail("_dmarc.example.com")
    result = evaluate_dmarc("example.com", spf("mail.example.com"),
                            dkim(("example.com", AuthResult.PASS)), resolver)
    assert result.result is AuthResult.TEMPERROR


# ================================= B.4 Organizational and Policy Domain tree walks


def test_appendix_b_4_1_simple_organizational_and_policy_example(dns: DnsTestServer,
                                                                 resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject",
                  "signing.example.com": "v=DMARC1; p=reject"})
    result = evaluate_dmarc("example.com", spf("example.com"),
                            dkim(("signing.example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, True)
    assert (result.policy_domain, result.org_domain) == ("example.com", "example.com")
    # Author Domain walk, then the DKIM domain's walk (example.com and com already known).
    assert dmarc_queries(dns) == ["_dmarc.example.com", "_dmarc.com",
                                  "_dmarc.signing.example.com"]


def test_appendix_b_4_1_dkim_identifier_walk(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject",
                  "signing.example.com": "v=DMARC1; p=reject"})
    walk = tree_walk("signing.example.com", resolver)
    assert walk.queries == ("_dmarc.signing.example.com", "_dmarc.example.com", "_dmarc.com")
    assert walk.organizational_domain == "example.com"


def test_appendix_b_4_1_failure_uses_the_author_domain_record(dns: DnsTestServer,
                                                              resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject",
                  "signing.example.com": "v=DMARC1; p=none"})
    result = evaluate_dmarc("example.com", spf("example.com", AuthResult.FAIL),
                            dkim(("signing.example.com", AuthResult.FAIL)), resolver)
    assert (result.result, result.policy_domain, result.policy) == (
        AuthResult.FAIL, "example.com", "reject")


B_4_2_AUTHOR = "a.b.c.d.e.f.g.h.i.j.k.example.com"


def test_appendix_b_4_2_deep_tree_walk_example(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject",
                  "signing.example.com": "v=DMARC1; p=reject"})
    result = evaluate_dmarc(B_4_2_AUTHOR, spf("example.com"),
                            dkim(("signing.example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, True)
    assert (result.org_domain, result.policy_domain) == ("example.com", "example.com")
    assert dmarc_queries(dns) == [
        "_dmarc.a.b.c.d.e.f.g.h.i.j.k.example.com",
        "_dmarc.g.h.i.j.k.example.com",
        "_dmarc.h.i.j.k.example.com",
        "_dmarc.i.j.k.example.com",
        "_dmarc.j.k.example.com",
        "_dmarc.k.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
        "_dmarc.signing.example.com",
    ]


def test_appendix_b_4_2_failure_uses_the_org_domain_record_with_sp(dns: DnsTestServer,
                                                                   resolver: Resolver) -> None:
    publish(dns, {"example.com": "v=DMARC1; p=reject; sp=quarantine",
                  "signing.example.com": "v=DMARC1; p=none"})
    dns.add(B_4_2_AUTHOR, "A", "192.0.2.7")
    result = evaluate_dmarc(B_4_2_AUTHOR, spf("example.com", AuthResult.FAIL),
                            dkim(("signing.example.com", AuthResult.FAIL)), resolver)
    assert (result.result, result.policy_domain, result.policy) == (
        AuthResult.FAIL, "example.com", "quarantine")


B_4_3 = {"bank.example": "v=DMARC1; p=reject; psd=y",
         "giant.bank.example": "v=DMARC1; p=quarantine"}


def test_appendix_b_4_3_example_with_a_psd_dmarc_policy_record(dns: DnsTestServer,
                                                               resolver: Resolver) -> None:
    publish(dns, B_4_3)
    result = evaluate_dmarc("giant.bank.example", spf("mail.giant.bank.example"),
                            dkim(("mail.mega.bank.example", AuthResult.PASS)), resolver)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, False)
    assert (result.org_domain, result.policy_domain) == ("giant.bank.example",
                                                         "giant.bank.example")
    assert "_dmarc.example" not in dmarc_queries(dns)
    assert dmarc_queries(dns) == ["_dmarc.giant.bank.example", "_dmarc.bank.example",
                                  "_dmarc.mail.giant.bank.example",
                                  "_dmarc.mail.mega.bank.example", "_dmarc.mega.bank.example"]


def test_appendix_b_4_3_organizational_domains(dns: DnsTestServer, resolver: Resolver) -> None:
    publish(dns, B_4_3)
    assert organizational_domain("giant.bank.example", resolver) == "giant.bank.example"
    assert organizational_domain("mail.giant.bank.example", resolver) == "giant.bank.example"
    assert organizational_domain("mail.mega.bank.example", resolver) == "mega.bank.example"


def test_appendix_b_4_3_policy_domain_is_the_author_domain(dns: DnsTestServer,
                                                           resolver: Resolver) -> None:
    publish(dns, B_4_3)
    found = discover_policy("giant.bank.example", resolver)
    assert (found.policy_domain, found.source) == ("giant.bank.example", PolicySource.AUTHOR)


def test_appendix_b_4_3_failure_uses_the_author_domain_p(dns: DnsTestServer,
                                                         resolver: Resolver) -> None:
    publish(dns, B_4_3)
    result = evaluate_dmarc("giant.bank.example", spf("mail.giant.bank.example", AuthResult.FAIL),
                            dkim(("mail.mega.bank.example", AuthResult.PASS)), resolver)
    assert (result.result, result.policy) == (AuthResult.FAIL, "quarantine")


# ====================================== 11.8 Relaxed Alignment Considerations


def test_section_11_8_tree_walk_picks_the_shortest_record(dns: DnsTestServer,
                                                          resolver: Resolver) -> None:
    # The scenario the section warns about: the walk selects example.com, so
    # evil.example.com aligns with mail.example.com under relaxed alignment.
    publish(dns, {"mail.example.com": "v=DMARC1; p=reject", "example.com": "v=DMARC1; p=none"})
    assert organizational_domain("a.mail.example.com", resolver) == "example.com"
    result = evaluate_dmarc("evil.example.com", NO_SPF,
                            dkim(("mail.example.com", AuthResult.PASS)), resolver)
    assert result.result is AuthResult.PASS


def test_section_11_8_psd_n_mitigation_keeps_them_apart(dns: DnsTestServer,
                                                        resolver: Resolver) -> None:
    publish(dns, {"mail.example.com": "v=DMARC1; p=reject; psd=n",
                  "example.com": "v=DMARC1; p=reject"})
    result = evaluate_dmarc("evil.example.com", NO_SPF,
                            dkim(("mail.example.com", AuthResult.PASS)), resolver)
    assert (result.result, result.policy) == (AuthResult.FAIL, "reject")
