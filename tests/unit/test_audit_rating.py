"""The audit's rating rules (docs/audit.md), on DNS facts built by hand, and the SPF survey."""

from __future__ import annotations

import dataclasses

from spoofwatch.audit.posture import DmarcFacts, DomainFacts, Known, MxFacts
from spoofwatch.audit.rating import Rating, rate
from spoofwatch.audit.spf_survey import SpfFacts, survey_spf
from spoofwatch.detect.posture import MailPosture
from support.staticlookup import StaticLookup

ENFORCING = DmarcFacts(Known.YES, record="v=DMARC1; p=reject", policy_domain="example.org",
                       source="author", p="reject", tag="p", requested="reject",
                       applied="reject")


def facts(**changes: object) -> DomainFacts:
    base = DomainFacts(
        domain="example.org", org="Example", listed_sends_mail=True, signing_domains=(),
        exists=Known.YES, mx=MxFacts(Known.YES, hosts=("mx.example.org",)),
        spf=SpfFacts("yes", "v=spf1 mx -all", True, final="-all", dns_lookups=1),
        dmarc=ENFORCING, dkim=(), dkim_probed=9, mta_sts=Known.NO, bimi=Known.NO,
        posture=MailPosture("example.org", ""),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def dmarc(**changes: object) -> DmarcFacts:
    return dataclasses.replace(ENFORCING, **changes)  # type: ignore[arg-type]


def test_reject_applying_to_the_domain_is_enforced() -> None:
    result = rate(facts())
    assert (result.rating, result.spoofable) == (Rating.ENFORCED, False)
    assert result.reasons == ("DMARC p=reject in its own record at _dmarc.example.org: "
                              "receivers reject unauthenticated mail claiming this domain",)


def test_quarantine_is_enforced() -> None:
    result = rate(facts(dmarc=dmarc(p="quarantine", requested="quarantine",
                                    applied="quarantine")))
    assert result.rating is Rating.ENFORCED


def test_reject_in_testing_mode_still_quarantines_so_it_is_enforced() -> None:
    result = rate(facts(dmarc=dmarc(testing=True, applied="quarantine")))
    assert result.rating is Rating.ENFORCED
    assert result.reasons[1] == "t=y (testing): receivers apply quarantine instead of reject"


def test_quarantine_in_testing_mode_is_monitor_only() -> None:
    result = rate(facts(dmarc=dmarc(p="quarantine", requested="quarantine", testing=True,
                                    applied="none")))
    assert (result.rating, result.spoofable) == (Rating.MONITOR_ONLY, True)


def test_p_none_is_monitor_only() -> None:
    result = rate(facts(dmarc=dmarc(p="none", requested="none", applied="none")))
    assert result.rating is Rating.MONITOR_ONLY
    assert result.reasons[0].startswith("DMARC p=none in its own record")


def test_a_subdomain_policy_none_makes_a_subdomain_monitor_only() -> None:
    result = rate(facts(dmarc=dmarc(source="organizational", sp="none", tag="sp",
                                    requested="none", applied="none")))
    assert result.rating is Rating.MONITOR_ONLY
    assert result.reasons[0].startswith(
        "DMARC sp=none in the organizational domain's record at _dmarc.example.org")


def test_no_dmarc_record_is_unprotected() -> None:
    result = rate(facts(dmarc=DmarcFacts(Known.NO)))
    assert (result.rating, result.spoofable) == (Rating.UNPROTECTED, True)
    assert result.reasons == ("no DMARC record: receivers accept unauthenticated mail "
                              "claiming this domain",)


def test_a_dmarc_lookup_failure_is_unknown_never_unprotected_or_enforced() -> None:
    result = rate(facts(dmarc=DmarcFacts(Known.UNKNOWN, error="_dmarc.example.org: timeout")))
    assert (result.rating, result.spoofable) == (Rating.UNKNOWN, None)
    assert result.reasons[0] == ("the DMARC lookup failed (_dmarc.example.org: timeout): "
                                 "whether receivers accept forged mail is unknown")


def test_spf_plus_all_defeats_an_enforcing_policy() -> None:
    result = rate(facts(spf=SpfFacts("yes", "v=spf1 +all", True, final="+all")))
    assert result.rating is Rating.UNPROTECTED


def test_sends_mail_false_is_non_mail_and_keeps_the_dmarc_protection() -> None:
    result = rate(facts(listed_sends_mail=False, dmarc=DmarcFacts(Known.NO)))
    assert (result.rating, result.protection, result.spoofable) == (
        Rating.NON_MAIL, Rating.UNPROTECTED, True)
    assert result.reasons[0] == "the watchlist says it sends no mail (sends_mail: false)"


def test_a_null_mx_is_non_mail() -> None:
    reason = "example.org publishes a null MX: it accepts and sends no mail"
    result = rate(facts(mx=MxFacts(Known.NO, null_mx=True),
                        posture=MailPosture("example.org", reason)))
    assert (result.rating, result.protection) == (Rating.NON_MAIL, Rating.ENFORCED)
    assert result.reasons[0] == reason


def test_a_domain_that_does_not_exist_is_rated_by_its_np_policy() -> None:
    result = rate(facts(exists=Known.NO, mx=MxFacts(Known.NO, error="NXDOMAIN"),
                        posture=MailPosture("example.org", "example.org does not exist in DNS"),
                        dmarc=dmarc(source="organizational", np="reject", tag="np")))
    assert result.rating is Rating.ENFORCED
    assert result.reasons[-1] == "example.org does not exist in DNS (NXDOMAIN)"


# --- the SPF survey ------------------------------------------------------------------------

def test_spf_survey_counts_lookups_and_authorized_addresses_through_includes() -> None:
    lookup = StaticLookup({
        "example.org": {"TXT": ["v=spf1 ip4:192.0.2.0/24 include:_spf.example.net a ~all"],
                        "A": ["198.51.100.1"]},
        "_spf.example.net": {"TXT": [
            "v=spf1 ip4:203.0.113.0/25 ip6:2001:db8::/48 -ip4:10.0.0.0/8 -all"]},
    })
    result = survey_spf("example.org", lookup)
    assert (result.present, result.valid, result.final, result.dns_lookups) == (
        "yes", True, "~all", 2)
    assert (result.ipv4_addresses, result.ipv6_networks) == (256 + 128 + 1, 2 ** 16)


def test_spf_survey_reports_more_than_ten_lookups_as_invalid() -> None:
    zone = {"example.org": {"TXT": ["v=spf1 " + " ".join(f"include:i{n}.example.net"
                                                        for n in range(11)) + " -all"]}}
    zone.update({f"i{n}.example.net": {"TXT": ["v=spf1 ip4:192.0.2.1 -all"]} for n in range(11)})
    result = survey_spf("example.org", StaticLookup(zone))
    assert (result.valid, result.dns_lookups) == (False, 11)
    assert result.problems == ("more than 10 DNS lookups (at include:i10.example.net): "
                               "receivers answer permerror",)


def test_spf_survey_follows_redirect_for_the_final_qualifier() -> None:
    lookup = StaticLookup({"example.org": {"TXT": ["v=spf1 redirect=_spf.example.org"]},
                           "_spf.example.org": {"TXT": ["v=spf1 ip4:192.0.2.0/30 -all"]}})
    result = survey_spf("example.org", lookup)
    assert (result.final, result.dns_lookups, result.ipv4_addresses) == ("-all", 1, 4)


def test_spf_survey_dns_failure_is_unknown_not_absent() -> None:
    result = survey_spf("example.org", StaticLookup({}, temperror=("example.org",)))
    assert (result.present, result.valid) == ("unknown", None)


def test_spf_survey_marks_macros_and_exists_as_unsized_and_hostile_terms_invalid() -> None:
    lookup = StaticLookup({"example.org": {"TXT": [
        "v=spf1 exists:%{i}.bl.example.org <script>alert(1)</script> -all"]}})
    result = survey_spf("example.org", lookup)
    assert result.unsized == ("exists:%{i}.bl.example.org",)
    assert result.valid is False
    assert result.problems == ("example.org: unknown term '<script>alert(1)</script>': "
                               "receivers answer permerror",)


# --- SPF that lets everyone through, failed lookups, loops (review items 1, 4, 7) -----------

def test_an_include_of_a_plus_all_record_authorizes_everyone() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 include:_spf.evil.example -all"]},
        "_spf.evil.example": {"TXT": ["v=spf1 +all"]}}))
    assert (result.final, result.everyone, result.authorizes_everyone) == (
        "-all", ("include:_spf.evil.example",), True)
    rated = rate(facts(spf=result))
    assert (rated.rating, rated.spoofable) == (Rating.UNPROTECTED, True)
    assert rated.reasons[0] == (
        "SPF authorizes every address (include:_spf.evil.example): anyone passes SPF for this "
        "domain, and with it DMARC, whatever its policy")


def test_an_include_of_an_include_of_plus_all_authorizes_everyone() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 include:a.example.net -all"]},
        "a.example.net": {"TXT": ["v=spf1 include:b.example.net -all"]},
        "b.example.net": {"TXT": ["v=spf1 redirect=c.example.net"]},
        "c.example.net": {"TXT": ["v=spf1 +all"]}}))
    # b passes everyone, so a does, so the domain does: the term found is the innermost
    assert (result.final, result.everyone) == ("-all", ("include:b.example.net",))
    assert result.authorizes_everyone


def test_a_fail_qualified_include_authorizes_nobody_whatever_its_target_lists() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 -include:wide.example.net ~include:open.example.net "
                                "ip4:192.0.2.0/24 ~all"]},
        "wide.example.net": {"TXT": ["v=spf1 ip4:0.0.0.0/0 ip6:::/0 -all"]},
        "open.example.net": {"TXT": ["v=spf1 +all"]}}))
    assert (result.ipv4_addresses, result.ipv6_networks, result.everyone) == (256, 0, ())
    assert not result.authorizes_everyone
    assert rate(facts(spf=result)).rating is Rating.ENFORCED


def test_all_of_ipv4_or_all_of_ipv6_authorizes_everyone() -> None:
    for record, cause in (("v=spf1 ip6:::/0 -all", "all of IPv6"),
                          ("v=spf1 ip4:0.0.0.0/0 -all", "all of IPv4")):
        result = survey_spf("example.org", StaticLookup({"example.org": {"TXT": [record]}}))
        assert result.authorizes_everyone, record
        rated = rate(facts(spf=result))
        assert rated.rating is Rating.UNPROTECTED
        assert rated.reasons[0].startswith(f"SPF authorizes every address ({cause}): ")


def test_exists_of_a_fixed_name_that_resolves_authorizes_everyone() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 exists:always.example.net -all"]},
        "always.example.net": {"A": ["127.0.0.2"]}}))
    assert (result.everyone, result.unsized, result.dns_lookups) == (
        ("exists:always.example.net",), (), 1)
    assert rate(facts(spf=result)).rating is Rating.UNPROTECTED


def test_exists_of_a_fixed_name_that_does_not_resolve_authorizes_nobody() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 exists:never.example.net -all"]}}))
    assert (result.everyone, result.void_lookups, result.authorizes_everyone) == ((), 1, False)


def test_an_include_that_cannot_be_read_makes_an_enforcing_policy_unknown() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 include:_spf.broken.example -all"]}},
        temperror=("_spf.broken.example",)))
    assert result.valid is None
    rated = rate(facts(spf=result))
    assert (rated.rating, rated.spoofable) == (Rating.UNKNOWN, None)
    assert rated.reasons[0] == (
        "an SPF lookup failed: the part of the SPF record that could not be read may "
        "authorize every address, so whether forged mail passes DMARC is unknown")


def test_an_spf_lookup_failure_makes_an_enforcing_policy_unknown() -> None:
    rated = rate(facts(spf=SpfFacts("unknown")))
    assert (rated.rating, rated.spoofable) == (Rating.UNKNOWN, None)


def test_a_diamond_include_is_not_a_loop() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 include:a.example.net include:b.example.net -all"]},
        "a.example.net": {"TXT": ["v=spf1 include:c.example.net -all"]},
        "b.example.net": {"TXT": ["v=spf1 include:c.example.net -all"]},
        "c.example.net": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}}))
    assert (result.valid, result.problems, result.dns_lookups, result.ipv4_addresses) == (
        True, (), 4, 256)


def test_an_include_back_onto_the_current_path_is_a_loop() -> None:
    result = survey_spf("example.org", StaticLookup({
        "example.org": {"TXT": ["v=spf1 include:a.example.net -all"]},
        "a.example.net": {"TXT": ["v=spf1 include:example.org -all"]}}))
    assert result.valid is False
    assert result.problems == ("include:example.org loops back to example.org: receivers "
                               "answer permerror",)


# --- subdomains (review item 5) -------------------------------------------------------------

def test_subdomains_are_rated_by_sp_and_np_whatever_p_says() -> None:
    rated = rate(facts(dmarc=dmarc(sp="none", np="none")))
    assert (rated.rating, rated.subdomains, rated.subdomains_spoofable) == (
        Rating.ENFORCED, Rating.MONITOR_ONLY, True)
    assert rated.subdomain_reason == ("DMARC sp=none at _dmarc.example.org: receivers accept "
                                      "unauthenticated mail claiming its subdomains")


def test_a_weaker_np_decides_for_subdomains_since_the_forger_picks_the_name() -> None:
    rated = rate(facts(dmarc=dmarc(np="none")))
    assert rated.subdomains is Rating.MONITOR_ONLY
    assert rated.subdomain_reason.startswith("DMARC np=none at _dmarc.example.org")


def test_subdomains_without_sp_or_np_get_p() -> None:
    rated = rate(facts())
    assert (rated.subdomains, rated.subdomain_reason) == (
        Rating.ENFORCED, "DMARC p=reject at _dmarc.example.org: receivers reject "
                         "unauthenticated mail claiming its subdomains")


def test_subdomains_in_testing_mode_get_one_level_lower() -> None:
    rated = rate(facts(dmarc=dmarc(sp="quarantine", testing=True)))
    assert rated.subdomains is Rating.MONITOR_ONLY
