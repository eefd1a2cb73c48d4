"""DMARC tree walk, Organizational Domain, policy discovery and evaluation (RFC 9989).

Pure logic against an in-memory StaticLookup; the same behaviours are also
checked through real loopback DNS in tests/integration/test_dmarc.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spoofwatch.auth.dmarc import (
    MAX_TREE_WALK_QUERIES,
    Alignment,
    PolicySource,
    check_alignment,
    discover_policy,
    evaluate_dmarc,
    is_aligned,
    organizational_domain,
    tree_walk,
    walk_targets,
)
from spoofwatch.results import (
    AuthResult,
    DkimResult,
    DkimSignature,
    DmarcResult,
    SpfCheck,
    SpfResult,
)
from support.staticlookup import StaticLookup

Zone = Mapping[str, Mapping[str, Sequence[str]]]


def dmarc_zone(records: Mapping[str, str], **extra: Mapping[str, Sequence[str]]) -> dict:
    """A zone with one DMARC TXT record per domain (keys are domains, not _dmarc names)."""
    zone: dict[str, dict[str, list[str]]] = {
        f"_dmarc.{d}": {"TXT": [t]} for d, t in records.items()}
    for name, by_type in extra.items():
        zone.setdefault(name, {}).update({k: list(v) for k, v in by_type.items()})
    return zone


def txt_queries(lookup: StaticLookup) -> list[str]:
    return [name for name, rdtype in lookup.queries if rdtype == "TXT"]


def spf(domain: str, result: AuthResult = AuthResult.PASS, identity: str = "mailfrom") -> SpfResult:
    local = "postmaster" if identity == "helo" else "bounce"
    check = SpfCheck(identity, domain, f"{local}@{domain}", result)
    return SpfResult(mailfrom=check, helo=None)


NO_SPF = SpfResult(mailfrom=SpfCheck("mailfrom", "", "", AuthResult.NONE), helo=None)


def dkim(*signatures: tuple[str, AuthResult]) -> DkimResult:
    return DkimResult(tuple(DkimSignature(d, "sel", "rsa-sha256", r, "") for d, r in signatures))


NO_DKIM = DkimResult(())


def evaluate(from_domain: str, zone: Zone, spf_result: SpfResult = NO_SPF,
             dkim_result: DkimResult = NO_DKIM, temperror: Sequence[str] = ()) -> DmarcResult:
    return evaluate_dmarc(from_domain, spf_result, dkim_result, StaticLookup(zone, temperror))


# ==================================================================== walk order


def test_deep_name_walk_is_shortened_to_eight_queries() -> None:
    lookup = StaticLookup({})
    walk = tree_walk("a.b.c.d.e.f.g.h.example.com", lookup)
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
    assert txt_queries(lookup) == expected
    assert list(walk.queries) == expected


def test_section_4_10_example_walk_of_thirteen_labels() -> None:
    assert walk_targets("a.b.c.d.e.f.g.h.i.j.mail.example.com") == (
        "a.b.c.d.e.f.g.h.i.j.mail.example.com",
        "g.h.i.j.mail.example.com",
        "h.i.j.mail.example.com",
        "i.j.mail.example.com",
        "j.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    )


def test_no_walk_makes_more_than_eight_queries_whatever_the_depth() -> None:
    for depth in range(1, 40):
        name = ".".join(f"l{i}" for i in range(depth)) + ".example"
        assert len(walk_targets(name)) <= MAX_TREE_WALK_QUERIES


def test_eight_label_name_walks_every_ancestor() -> None:
    assert walk_targets("a.b.c.d.e.f.example.com") == (
        "a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com", "c.d.e.f.example.com",
        "d.e.f.example.com", "e.f.example.com", "f.example.com", "example.com", "com")


def test_nine_label_name_skips_one_label_after_the_first_query() -> None:
    assert walk_targets("x.a.b.c.d.e.f.example.com")[:2] == (
        "x.a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com")


def test_short_name_walks_each_parent() -> None:
    assert walk_targets("mail.example.com") == ("mail.example.com", "example.com", "com")


def test_single_label_name_is_queried_once() -> None:
    assert walk_targets("localhost") == ("localhost",)


def test_walk_never_queries_the_root() -> None:
    lookup = StaticLookup({})
    tree_walk("example.com", lookup)
    assert txt_queries(lookup) == ["_dmarc.example.com", "_dmarc.com"]


def test_walk_continues_past_a_record_without_psd() -> None:
    lookup = StaticLookup(dmarc_zone({"mail.example.com": "v=DMARC1; p=none"}))
    walk = tree_walk("mail.example.com", lookup)
    assert walk.queries == ("_dmarc.mail.example.com", "_dmarc.example.com", "_dmarc.com")


def test_walk_stops_at_psd_n() -> None:
    lookup = StaticLookup(dmarc_zone({"mail.example.com": "v=DMARC1; p=none; psd=n"}))
    walk = tree_walk("a.mail.example.com", lookup)
    assert walk.queries == ("_dmarc.a.mail.example.com", "_dmarc.mail.example.com")


def test_walk_stops_at_psd_y() -> None:
    lookup = StaticLookup(dmarc_zone({"example": "v=DMARC1; p=reject; psd=y"}))
    walk = tree_walk("a.b.example", lookup)
    assert walk.queries == ("_dmarc.a.b.example", "_dmarc.b.example", "_dmarc.example")


def test_walk_stops_at_the_start_when_it_has_psd() -> None:
    lookup = StaticLookup(dmarc_zone({"mail.example.com": "v=DMARC1; p=none; psd=n"}))
    assert tree_walk("mail.example.com", lookup).queries == ("_dmarc.mail.example.com",)


def test_psd_u_does_not_stop_the_walk() -> None:
    lookup = StaticLookup(dmarc_zone({"mail.example.com": "v=DMARC1; p=none; psd=u"}))
    assert len(tree_walk("mail.example.com", lookup).queries) == 3


def test_walk_stops_at_a_dns_error_and_reports_it() -> None:
    lookup = StaticLookup({}, temperror=["_dmarc.example.com"])
    walk = tree_walk("mail.example.com", lookup)
    assert walk.queries == ("_dmarc.mail.example.com", "_dmarc.example.com")
    assert walk.temperror is True
    assert walk.error == "_dmarc.example.com: temperror (static)"
    assert walk.organizational_domain == ""


def test_two_dmarc_records_at_one_name_count_as_none() -> None:
    zone = {"_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}}
    walk = tree_walk("example.com", StaticLookup(zone))
    assert walk.found == ()
    assert walk.steps[0].note == "2 DMARC records published, all discarded"


def test_non_dmarc_txt_beside_one_dmarc_record_is_ignored() -> None:
    zone = {"_dmarc.example.com": {"TXT": ["v=spf1 -all", "hello", "v=DMARC1; p=reject"]}}
    walk = tree_walk("example.com", StaticLookup(zone))
    assert [step.domain for step in walk.found] == ["example.com"]


def test_walk_name_is_normalised() -> None:
    lookup = StaticLookup({})
    assert tree_walk("Mail.Example.COM.", lookup).start == "mail.example.com"


# ======================================================= organizational domain


def test_org_domain_is_the_record_with_fewest_labels() -> None:
    # Section 4.10.2, first example.
    zone = dmarc_zone({"mail.example.com": "v=DMARC1; p=none",
                       "example.com": "v=DMARC1; p=none"})
    assert organizational_domain("a.mail.example.com", StaticLookup(zone)) == "example.com"


def test_org_domain_is_the_record_with_psd_n() -> None:
    # Section 4.10.2, second example.
    zone = dmarc_zone({"mail.example.com": "v=DMARC1; p=none; psd=n",
                       "example.com": "v=DMARC1; p=none"})
    assert organizational_domain("a.mail.example.com", StaticLookup(zone)) == "mail.example.com"


def test_org_domain_is_one_label_below_psd_y() -> None:
    # Section 4.10.2, last example.
    zone = dmarc_zone({"com": "v=DMARC1; p=none; psd=y"})
    assert organizational_domain("a.mail.example.com", StaticLookup(zone)) == "example.com"


def test_org_domain_one_below_psd_y_even_when_that_has_a_record_above_start() -> None:
    # Section 4.10.2 rule 2 text: psd=y at example.com makes mail.example.com the org domain.
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; psd=y"})
    assert organizational_domain("mail.example.com", StaticLookup(zone)) == "mail.example.com"


def test_org_domain_of_a_psd_itself_is_the_psd() -> None:
    # Rule 2 excludes the start domain; the walk stopped there, so rule 3 selects it.
    zone = dmarc_zone({"gov.example": "v=DMARC1; p=reject; psd=y"})
    assert organizational_domain("gov.example", StaticLookup(zone)) == "gov.example"


def test_org_domain_without_any_record_is_the_domain_itself() -> None:
    assert organizational_domain("a.mail.example.com", StaticLookup({})) == "a.mail.example.com"


def test_org_domain_can_be_the_start_when_it_has_the_only_record() -> None:
    zone = dmarc_zone({"mail.example.com": "v=DMARC1; p=none"})
    assert organizational_domain("mail.example.com", StaticLookup(zone)) == "mail.example.com"


def test_tld_record_without_psd_becomes_the_org_domain() -> None:
    # Section 11.8 warns about this: a PSD record lacking psd=y captures everything below.
    zone = dmarc_zone({"com": "v=DMARC1; p=none"})
    assert organizational_domain("mail.example.com", StaticLookup(zone)) == "com"


def test_record_without_policy_still_counts_for_the_org_domain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1"})
    assert organizational_domain("mail.example.com", StaticLookup(zone)) == "example.com"


def test_org_domain_is_empty_on_dns_error() -> None:
    lookup = StaticLookup({}, temperror=["_dmarc.com"])
    assert organizational_domain("mail.example.com", lookup) == ""


def test_zone_cut_record_beyond_the_eight_query_bound_is_never_seen() -> None:
    # Section 5.1.8: psd=n at b.c.d.e.f.g.example.com is skipped by the shortened walk.
    zone = dmarc_zone({"b.c.d.e.f.g.example.com": "v=DMARC1; p=reject; psd=n",
                       "example.com": "v=DMARC1; p=none"})
    lookup = StaticLookup(zone)
    assert organizational_domain("mail.a.b.c.d.e.f.g.example.com", lookup) == "example.com"
    assert "_dmarc.b.c.d.e.f.g.example.com" not in txt_queries(lookup)


# ============================================================ policy discovery


def test_discovery_uses_the_author_domain_record_and_stops() -> None:
    zone = dmarc_zone({"mail.example.com": "v=DMARC1; p=reject",
                       "example.com": "v=DMARC1; p=none"})
    found = discover_policy("mail.example.com", StaticLookup(zone))
    assert (found.policy_domain, found.source) == ("mail.example.com", PolicySource.AUTHOR)
    assert found.queries == ("_dmarc.mail.example.com",)
    assert found.org_domain == ""  # not needed yet


def test_discovery_author_record_with_psd_n_is_also_the_org_domain() -> None:
    zone = dmarc_zone({"mail.example.com": "v=DMARC1; p=reject; psd=n"})
    assert discover_policy("mail.example.com", StaticLookup(zone)).org_domain == "mail.example.com"


def test_discovery_falls_back_to_the_org_domain_record() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    found = discover_policy("a.b.example.com", StaticLookup(zone))
    assert (found.policy_domain, found.source, found.org_domain) == (
        "example.com", PolicySource.ORGANIZATIONAL, "example.com")
    assert found.queries == ("_dmarc.a.b.example.com", "_dmarc.b.example.com",
                             "_dmarc.example.com", "_dmarc.com")


def test_discovery_skips_an_intermediate_record_that_is_not_the_org_domain() -> None:
    zone = dmarc_zone({"b.example.com": "v=DMARC1; p=none",
                       "example.com": "v=DMARC1; p=reject"})
    found = discover_policy("a.b.example.com", StaticLookup(zone))
    assert found.policy_domain == "example.com"


def test_discovery_falls_back_to_the_psd_record() -> None:
    zone = dmarc_zone({"gov.example": "v=DMARC1; p=reject; psd=y"})
    found = discover_policy("ministry.gov.example", StaticLookup(zone))
    assert (found.policy_domain, found.source, found.org_domain) == (
        "gov.example", PolicySource.PUBLIC_SUFFIX, "ministry.gov.example")


def test_discovery_prefers_the_org_domain_record_over_the_psd_record() -> None:
    zone = dmarc_zone({"gov.example": "v=DMARC1; p=reject; psd=y",
                       "ministry.gov.example": "v=DMARC1; p=none"})
    found = discover_policy("mail.ministry.gov.example", StaticLookup(zone))
    assert (found.policy_domain, found.source) == ("ministry.gov.example",
                                                   PolicySource.ORGANIZATIONAL)


def test_discovery_without_any_record_finds_none() -> None:
    found = discover_policy("mail.example.com", StaticLookup({}))
    assert found.record is None
    assert (found.policy_domain, found.source, found.temperror) == ("", PolicySource.NONE, False)


def test_discovery_with_two_records_at_the_author_domain_walks_on() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    zone["_dmarc.mail.example.com"] = {"TXT": ["v=DMARC1; p=none", "v=DMARC1; p=none"]}
    found = discover_policy("mail.example.com", StaticLookup(zone))
    assert found.policy_domain == "example.com"


def test_discovery_dns_error_at_the_author_domain_is_temperror() -> None:
    found = discover_policy("example.com", StaticLookup({}, temperror=["_dmarc.example.com"]))
    assert found.temperror is True
    assert found.error == "_dmarc.example.com: temperror (static)"


def test_discovery_dns_error_later_in_the_walk_is_temperror() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    found = discover_policy("mail.example.com", StaticLookup(zone, temperror=["_dmarc.com"]))
    assert (found.temperror, found.record) == (True, None)


# =================================================================== alignment


def test_identical_domains_are_strictly_aligned_without_queries() -> None:
    lookup = StaticLookup({})
    assert is_aligned("Example.COM", "example.com.", "s", lookup) is True
    assert lookup.queries == []


def test_parent_and_child_are_not_strictly_aligned() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none"})
    assert is_aligned("mail.example.com", "example.com", "s", StaticLookup(zone)) is False


def test_siblings_under_one_org_domain_are_relaxed_aligned() -> None:
    # Section 4.4 table: foo.example.com and news.example.com share example.com.
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none"})
    assert is_aligned("foo.example.com", "news.example.com", "r", StaticLookup(zone)) is True


def test_different_org_domains_are_not_relaxed_aligned() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none", "example.net": "v=DMARC1; p=none"})
    assert is_aligned("foo.example.net", "news.example.com", "r", StaticLookup(zone)) is False


def test_domains_without_a_common_label_need_no_queries() -> None:
    lookup = StaticLookup({})
    assert is_aligned("example.net", "example.com", "r", lookup) is False
    assert lookup.queries == []


def test_relaxed_alignment_respects_psd_n_boundaries() -> None:
    zone = dmarc_zone({"dept.example.com": "v=DMARC1; p=none; psd=n",
                       "example.com": "v=DMARC1; p=none"})
    assert is_aligned("mail.dept.example.com", "example.com", "r", StaticLookup(zone)) is False


def test_relaxed_alignment_with_dns_error_is_temperror_and_not_aligned() -> None:
    lookup = StaticLookup({}, temperror=["_dmarc.example.com"])
    assert check_alignment("a.example.com", "b.example.com", "r", lookup) is Alignment.TEMPERROR
    assert is_aligned("a.example.com", "b.example.com", "r", lookup) is False


# ================================================================== evaluation

REJECT = dmarc_zone({"example.com": "v=DMARC1; p=reject"})


def test_pass_via_spf_only() -> None:
    result = evaluate("example.com", REJECT, spf("example.com"), NO_DKIM)
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, False)


def test_pass_via_dkim_only() -> None:
    result = evaluate("example.com", REJECT, spf("example.com", AuthResult.FAIL),
                      dkim(("example.com", AuthResult.PASS)))
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, False, True)


def test_fail_with_p_reject_applies_reject() -> None:
    result = evaluate("example.com", REJECT, spf("example.com", AuthResult.SOFTFAIL),
                      dkim(("example.com", AuthResult.FAIL)))
    assert (result.result, result.policy, result.requested_policy, result.testing) == (
        AuthResult.FAIL, "reject", "reject", False)
    assert result.policy_domain == "example.com"


def test_passing_but_unaligned_identifiers_fail() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject", "example.net": "v=DMARC1; p=none"})
    result = evaluate("example.com", zone, spf("example.net"),
                      dkim(("example.net", AuthResult.PASS)))
    assert result.result is AuthResult.FAIL
    assert (result.spf_aligned, result.dkim_aligned) == (False, False)


def test_no_authenticated_identifiers_fail() -> None:
    assert evaluate("example.com", REJECT).result is AuthResult.FAIL


def test_relaxed_spf_passes_for_a_subdomain_mail_from() -> None:
    result = evaluate("example.com", REJECT, spf("bounce.example.com"))
    assert result.result is AuthResult.PASS
    assert result.org_domain == "example.com"


def test_strict_spf_fails_for_a_subdomain_mail_from() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; aspf=s"})
    result = evaluate("example.com", zone, spf("bounce.example.com"))
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_strict_spf_passes_for_the_identical_domain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; aspf=s"})
    assert evaluate("example.com", zone, spf("example.com")).result is AuthResult.PASS


def test_strict_dkim_fails_for_a_parent_signing_domain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; adkim=s"})
    result = evaluate("news.example.com", zone, NO_SPF, dkim(("example.com", AuthResult.PASS)))
    assert (result.result, result.dkim_aligned) == (AuthResult.FAIL, False)


def test_relaxed_dkim_passes_for_a_parent_signing_domain() -> None:
    result = evaluate("news.example.com", REJECT, NO_SPF, dkim(("example.com", AuthResult.PASS)))
    assert (result.result, result.dkim_aligned) == (AuthResult.PASS, True)


def test_strict_mode_comes_from_the_applied_record() -> None:
    # adkim=s at the author domain's own record; the org domain's relaxed record is not used.
    zone = dmarc_zone({"news.example.com": "v=DMARC1; p=reject; adkim=s",
                       "example.com": "v=DMARC1; p=reject"})
    result = evaluate("news.example.com", zone, NO_SPF, dkim(("example.com", AuthResult.PASS)))
    assert result.result is AuthResult.FAIL


def test_any_aligned_dkim_signature_is_enough() -> None:
    result = evaluate("example.com", REJECT, NO_SPF,
                      dkim(("example.net", AuthResult.PASS), ("example.com", AuthResult.FAIL),
                           ("mail.example.com", AuthResult.PASS)))
    assert (result.result, result.dkim_aligned) == (AuthResult.PASS, True)


def test_failed_dkim_signature_from_the_author_domain_does_not_align() -> None:
    result = evaluate("example.com", REJECT, NO_SPF, dkim(("example.com", AuthResult.FAIL)))
    assert (result.result, result.dkim_aligned) == (AuthResult.FAIL, False)


def test_helo_identity_is_used_when_it_is_the_mail_from_identity_of_a_null_sender() -> None:
    # RFC 9989 3.2.4: with a null reverse-path the MAIL FROM identity is postmaster@HELO.
    result = evaluate("example.com", REJECT, spf("mx.example.com", identity="helo"))
    assert (result.result, result.spf_aligned) == (AuthResult.PASS, True)
    assert "null MAIL FROM, so postmaster@HELO" in result.reason


def test_separate_helo_check_never_counts_for_alignment() -> None:
    helo = SpfCheck("helo", "example.com", "postmaster@example.com", AuthResult.PASS)
    mailfrom = SpfCheck("mailfrom", "example.net", "bounce@example.net", AuthResult.PASS)
    result = evaluate("example.com", REJECT, SpfResult(mailfrom=mailfrom, helo=helo))
    assert (result.result, result.spf_aligned) == (AuthResult.FAIL, False)


def test_sp_applies_to_an_existing_subdomain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; sp=quarantine"},
                      **{"news.example.com": {"A": ["192.0.2.1"]}})
    result = evaluate("news.example.com", zone)
    assert (result.result, result.policy, result.policy_domain) == (
        AuthResult.FAIL, "quarantine", "example.com")


def test_p_applies_to_a_subdomain_without_sp() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    assert evaluate("news.example.com", zone).policy == "reject"


def test_sp_is_ignored_for_the_domain_itself() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; sp=none; np=none"})
    assert evaluate("example.com", zone).policy == "reject"


def test_sp_of_a_record_at_the_author_domain_does_not_apply_to_it() -> None:
    zone = dmarc_zone({"news.example.com": "v=DMARC1; p=none; sp=reject",
                       "example.com": "v=DMARC1; p=reject"})
    assert evaluate("news.example.com", zone).policy == "none"


def test_np_applies_to_a_non_existent_subdomain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; sp=quarantine; np=reject"})
    result = evaluate("ghost.example.com", zone)
    assert (result.result, result.policy, result.requested_policy) == (
        AuthResult.FAIL, "reject", "reject")


def test_np_does_not_apply_to_an_existing_subdomain_with_only_an_mx() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; sp=quarantine; np=reject"},
                      **{"news.example.com": {"MX": ["10 mx.example.com"]}})
    assert evaluate("news.example.com", zone).policy == "quarantine"


def test_empty_non_terminal_subdomain_exists_so_np_does_not_apply() -> None:
    # NODATA (the name has children) means the name exists (RFC 9989 A.4, RFC 8020).
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; np=reject"},
                      **{"host.news.example.com": {"A": ["192.0.2.1"]}})
    assert evaluate("news.example.com", zone).policy == "none"


def test_np_absent_falls_back_to_sp_for_a_non_existent_subdomain() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; sp=quarantine"})
    assert evaluate("ghost.example.com", zone).policy == "quarantine"


def test_np_absent_and_sp_absent_falls_back_to_p() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    assert evaluate("ghost.example.com", zone).policy == "reject"


def test_np_of_the_author_domains_own_record_is_not_used() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; np=reject"})
    assert evaluate("example.com", zone).policy == "none"


def test_existence_dns_error_on_failure_with_np_is_temperror() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; np=reject"})
    result = evaluate("ghost.example.com", zone, temperror=["ghost.example.com"])
    assert (result.result, result.policy) == (AuthResult.TEMPERROR, "")


def test_existence_dns_error_does_not_spoil_a_pass() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; np=reject"})
    result = evaluate("ghost.example.com", zone, spf("example.com"),
                      temperror=["ghost.example.com"])
    assert (result.result, result.policy) == (AuthResult.PASS, "none")


def test_existence_is_not_queried_when_np_equals_the_subdomain_policy() -> None:
    lookup = StaticLookup(dmarc_zone({"example.com": "v=DMARC1; p=reject; np=reject"}))
    evaluate_dmarc("ghost.example.com", NO_SPF, NO_DKIM, lookup)
    assert [rdtype for _, rdtype in lookup.queries] == ["TXT"] * 3


def test_testing_mode_lowers_reject_to_quarantine() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; t=y"})
    result = evaluate("example.com", zone)
    assert (result.result, result.requested_policy, result.policy, result.testing) == (
        AuthResult.FAIL, "reject", "quarantine", True)


def test_testing_mode_lowers_quarantine_to_none() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=quarantine; t=y"})
    result = evaluate("example.com", zone)
    assert (result.requested_policy, result.policy) == ("quarantine", "none")


def test_testing_mode_leaves_none_as_none() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; t=y"})
    result = evaluate("example.com", zone)
    assert (result.requested_policy, result.policy, result.testing) == ("none", "none", True)


def test_testing_mode_applies_to_np_too() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=none; np=reject; t=y"})
    result = evaluate("ghost.example.com", zone)
    assert (result.requested_policy, result.policy) == ("reject", "quarantine")


def test_no_record_anywhere_is_none() -> None:
    result = evaluate("example.com", {}, spf("example.com"))
    assert (result.result, result.policy, result.policy_domain) == (AuthResult.NONE, "", "")
    assert result.queries == ("_dmarc.example.com", "_dmarc.com")
    assert result.org_domain == "example.com"


def test_record_without_valid_policy_or_rua_is_permerror() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=block"})
    result = evaluate("example.com", zone, spf("example.com"))
    assert (result.result, result.policy, result.policy_domain) == (
        AuthResult.PERMERROR, "", "example.com")


def test_record_without_p_but_with_rua_is_evaluated_as_p_none() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; rua=mailto:agg@example.com"})
    result = evaluate("example.com", zone)
    assert (result.result, result.policy) == (AuthResult.FAIL, "none")


def test_dns_error_during_discovery_is_temperror_not_none() -> None:
    result = evaluate("mail.example.com", {}, spf("mail.example.com"),
                      temperror=["_dmarc.example.com"])
    assert (result.result, result.policy) == (AuthResult.TEMPERROR, "")
    assert result.queries == ("_dmarc.mail.example.com", "_dmarc.example.com")
    assert "_dmarc.example.com" in result.reason


def test_dns_error_in_an_unneeded_walk_does_not_matter() -> None:
    # Strict-identical DKIM needs no tree walk; the broken _dmarc.com is never asked.
    result = evaluate("example.com", REJECT, NO_SPF, dkim(("example.com", AuthResult.PASS)),
                      temperror=["_dmarc.com"])
    assert result.result is AuthResult.PASS
    assert result.queries == ("_dmarc.example.com",)


def test_dns_error_in_a_needed_alignment_walk_is_temperror() -> None:
    result = evaluate("example.com", REJECT, NO_SPF,
                      dkim(("mail.example.com", AuthResult.PASS)), temperror=["_dmarc.com"])
    assert (result.result, result.dkim_aligned) == (AuthResult.TEMPERROR, False)


def test_dns_error_in_one_walk_does_not_hide_another_aligned_pass() -> None:
    result = evaluate("example.com", REJECT, spf("example.com"),
                      dkim(("mail.example.com", AuthResult.PASS)), temperror=["_dmarc.com"])
    assert (result.result, result.spf_aligned, result.dkim_aligned) == (
        AuthResult.PASS, True, False)


def test_spf_temperror_for_an_aligned_domain_is_temperror() -> None:
    result = evaluate("example.com", REJECT, spf("example.com", AuthResult.TEMPERROR))
    assert result.result is AuthResult.TEMPERROR


def test_spf_temperror_for_an_unaligned_domain_is_still_fail() -> None:
    result = evaluate("example.com", REJECT, spf("example.net", AuthResult.TEMPERROR))
    assert result.result is AuthResult.FAIL


def test_dkim_temperror_for_an_aligned_domain_is_temperror() -> None:
    result = evaluate("example.com", REJECT, NO_SPF, dkim(("example.com", AuthResult.TEMPERROR)))
    assert result.result is AuthResult.TEMPERROR


def test_queries_list_each_dmarc_name_once_in_order() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject"})
    result = evaluate("example.com", zone, spf("bounce.example.com"),
                      dkim(("signing.example.com", AuthResult.PASS)))
    assert result.queries == ("_dmarc.example.com", "_dmarc.com",
                              "_dmarc.bounce.example.com", "_dmarc.signing.example.com")


def test_from_domain_is_normalised() -> None:
    result = evaluate("Example.COM.", REJECT, spf("example.com"))
    assert (result.from_domain, result.result) == ("example.com", AuthResult.PASS)


def test_invalid_from_domain_is_permerror_without_queries() -> None:
    result = evaluate("exa..mple.com", REJECT)
    assert (result.result, result.queries) == (AuthResult.PERMERROR, ())


def test_empty_from_domain_is_permerror() -> None:
    assert evaluate("", REJECT).result is AuthResult.PERMERROR


def test_reason_names_the_record_and_the_policy() -> None:
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; t=y"})
    reason = evaluate("example.com", zone, spf("example.net")).reason
    assert reason == (
        "DMARC fail: SPF pass for example.net, not aligned (relaxed); DKIM: no signature. "
        "record at _dmarc.example.com (author domain), policy from p= = reject, "
        "applied as quarantine because of t=y.")


def test_dkim_domains_under_another_tld_need_no_alignment_walk() -> None:
    signatures = [(f"d{i}.example.org", AuthResult.PASS) for i in range(30)]
    lookup = StaticLookup(REJECT)
    evaluate_dmarc("mail.example.com", NO_SPF, dkim(*signatures), lookup)
    # ".org" vs ".com": no common label, so they can never share an Organizational Domain.
    assert txt_queries(lookup) == ["_dmarc.mail.example.com", "_dmarc.example.com", "_dmarc.com"]


def test_dkim_walks_are_bounded_to_ten_signing_domains() -> None:
    signatures = [(f"d{i}.example.com", AuthResult.PASS) for i in range(30)]
    zone = dmarc_zone({"example.com": "v=DMARC1; p=reject; psd=n",
                       **{f"d{i}.example.com": "v=DMARC1; p=none; psd=n" for i in range(30)}})
    lookup = StaticLookup(zone)
    result = evaluate_dmarc("example.com", NO_SPF, dkim(*signatures), lookup)
    assert result.result is AuthResult.FAIL
    assert len(txt_queries(lookup)) == 1 + 10
