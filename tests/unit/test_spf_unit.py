"""check_spf over an in-memory zone: identities, results, input handling, hostile data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from spoofwatch.auth.spf import check_spf
from spoofwatch.dns import DnsAnswer, DnsStatus
from spoofwatch.results import AuthResult, SpfCheck
from support.staticlookup import StaticLookup

Zone = Mapping[str, Mapping[str, Sequence[str]]]

CLIENT = "192.0.2.10"
OTHER_CLIENT = "198.51.100.99"
HELO = "mail.example.org"


def spf_zone(record: str, extra: Zone | None = None) -> dict[str, Mapping[str, Sequence[str]]]:
    """example.com publishing `record`, plus the `extra` names."""
    return {"example.com": {"TXT": [record]}, **(extra or {})}


def mailfrom(zone: Zone, client_ip: str = CLIENT, sender: str = "alice@example.com",
             helo: str = HELO, temperror: Sequence[str] = ()) -> SpfCheck:
    return check_spf(StaticLookup(zone, temperror), client_ip, sender, helo).mailfrom


# ------------------------------------------------------------------ results


def test_matching_ip4_mechanism_passes() -> None:
    assert mailfrom(spf_zone("v=spf1 ip4:192.0.2.0/24 -all")).result is AuthResult.PASS


def test_unlisted_client_with_minus_all_fails() -> None:
    check = mailfrom(spf_zone("v=spf1 ip4:192.0.2.0/24 -all"), client_ip=OTHER_CLIENT)
    assert check.result is AuthResult.FAIL
    assert check.explanation == "SPF fail - not authorized"


def test_unlisted_client_with_tilde_all_softfails() -> None:
    check = mailfrom(spf_zone("v=spf1 ip4:192.0.2.0/24 ~all"), client_ip=OTHER_CLIENT)
    assert check.result is AuthResult.SOFTFAIL


def test_unlisted_client_with_question_all_is_neutral() -> None:
    check = mailfrom(spf_zone("v=spf1 ip4:192.0.2.0/24 ?all"), client_ip=OTHER_CLIENT)
    assert check.result is AuthResult.NEUTRAL


def test_domain_without_spf_record_is_none() -> None:
    check = mailfrom({"example.com": {"TXT": ["google-site-verification=abc"]}})
    assert check.result is AuthResult.NONE
    assert check.explanation == "no SPF record found for example.com"


def test_nonexistent_domain_is_none() -> None:
    assert mailfrom({}).result is AuthResult.NONE


def test_two_spf_records_are_a_permerror() -> None:
    zone = {"example.com": {"TXT": ["v=spf1 -all", "v=spf1 +all"]}}
    assert mailfrom(zone).result is AuthResult.PERMERROR


def test_unknown_mechanism_is_a_permerror() -> None:
    check = mailfrom(spf_zone("v=spf1 ip4:192.0.2.0/24 frobnicate -all"))
    assert check.result is AuthResult.PERMERROR
    assert "frobnicate" in check.explanation


def test_eleventh_dns_querying_term_is_a_permerror() -> None:
    includes = " ".join(f"include:i{n}.example.com" for n in range(11))
    zone = spf_zone(f"v=spf1 {includes} -all",
                    {f"i{n}.example.com": {"TXT": ["v=spf1 -all"]} for n in range(11)})
    check = mailfrom(zone)
    assert check.result is AuthResult.PERMERROR
    assert "Too many DNS lookups" in check.explanation


def test_third_void_lookup_is_a_permerror() -> None:
    check = mailfrom(spf_zone("v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com -all"))
    assert check.result is AuthResult.PERMERROR
    assert "Void lookup limit" in check.explanation


def test_dns_error_on_the_spf_record_is_a_temperror() -> None:
    check = mailfrom(spf_zone("v=spf1 -all"), temperror=["example.com"])
    assert check.result is AuthResult.TEMPERROR
    assert "example.com" in check.explanation


def test_dns_error_inside_an_include_is_a_temperror() -> None:
    zone = spf_zone("v=spf1 include:spf.provider.net -all")
    check = mailfrom(zone, temperror=["spf.provider.net"])
    assert check.result is AuthResult.TEMPERROR


def test_mx_mechanism_matches_an_exchange_address() -> None:
    zone = {"example.com": {"TXT": ["v=spf1 mx -all"], "MX": ["10 mx.example.com"]},
            "mx.example.com": {"A": [CLIENT]}}
    assert mailfrom(zone).result is AuthResult.PASS


def test_null_mx_matches_nothing() -> None:
    zone = {"example.com": {"TXT": ["v=spf1 mx ?all"], "MX": ["0 ."]}}
    assert mailfrom(zone).result is AuthResult.NEUTRAL


def test_ptr_lookup_dns_error_means_no_match_not_temperror() -> None:
    # RFC 7208 5.5: a DNS error on the PTR query makes "ptr" not match.
    zone = spf_zone("v=spf1 ptr ~all")
    check = mailfrom(zone, temperror=["10.2.0.192.in-addr.arpa"])
    assert check.result is AuthResult.SOFTFAIL


def test_ptr_name_whose_address_lookup_fails_is_skipped() -> None:
    zone = spf_zone("v=spf1 ptr -all", {
        "10.2.0.192.in-addr.arpa": {"PTR": ["broken.example.com", "mail.example.com"]},
        "mail.example.com": {"A": [CLIENT]},
    })
    check = mailfrom(zone, temperror=["broken.example.com"])
    assert check.result is AuthResult.PASS


# -------------------------------------------------------- MAIL FROM identity


def test_mailfrom_check_reports_identity_domain_and_sender() -> None:
    check = mailfrom(spf_zone("v=spf1 +all"), sender="Alice@Example.COM")
    assert check == SpfCheck("mailfrom", "example.com", "Alice@example.com", AuthResult.PASS,
                             "sender SPF authorized")


def test_angle_brackets_around_mail_from_are_ignored() -> None:
    check = mailfrom(spf_zone("v=spf1 +all"), sender="<alice@example.com>")
    assert (check.domain, check.sender) == ("example.com", "alice@example.com")


def test_sender_without_local_part_is_checked_as_postmaster() -> None:
    zone = spf_zone("v=spf1 -all exp=why.example.com", {"why.example.com": {"TXT": ["%{l}"]}})
    check = mailfrom(zone, sender="@example.com")
    assert check.sender == "postmaster@example.com"
    assert check.explanation == "postmaster"


def test_trailing_dot_in_mail_from_domain_is_dropped() -> None:
    assert mailfrom(spf_zone("v=spf1 +all"), sender="a@example.com.").domain == "example.com"


def test_domain_is_taken_after_the_last_at_sign() -> None:
    check = mailfrom(spf_zone("v=spf1 +all"), sender='"odd@local"@example.com')
    assert check.domain == "example.com"
    assert check.result is AuthResult.PASS


def test_internationalized_domain_is_queried_as_a_label() -> None:
    lookup = StaticLookup({"xn--bcher-kva.example": {"TXT": ["v=spf1 +all"]}})
    check = check_spf(lookup, CLIENT, "anna@bücher.example", "").mailfrom
    assert check.result is AuthResult.PASS
    assert check.domain == "xn--bcher-kva.example"


@pytest.mark.parametrize("sender", [
    "a@exa mple.com", "a@example..com", "a@" + "x" * 64 + ".com", "a@bad\x00.com",
    "a@[192.0.2.1]", "a@localhost", "a@",
])
def test_malformed_mail_from_domain_is_none_without_dns(sender: str) -> None:
    lookup = StaticLookup({})
    check = check_spf(lookup, CLIENT, sender, "").mailfrom
    assert (check.result, check.domain) == (AuthResult.NONE, "")
    assert check.explanation.startswith("MAIL FROM domain is not a valid domain name: ")
    assert lookup.queries == []


# ------------------------------------------------------------ HELO identity


def test_helo_domain_is_checked_as_postmaster_at_helo() -> None:
    zone = {"mail.example.org": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]}}
    result = check_spf(StaticLookup(zone), CLIENT, "alice@example.com", "Mail.Example.Org")
    assert result.helo == SpfCheck("helo", "mail.example.org", "postmaster@mail.example.org",
                                   AuthResult.PASS, "sender SPF authorized")
    assert result.mailfrom.result is AuthResult.NONE


def test_no_helo_means_no_helo_check() -> None:
    result = check_spf(StaticLookup(spf_zone("v=spf1 +all")), CLIENT, "alice@example.com", "")
    assert result.helo is None


@pytest.mark.parametrize("helo", [
    "[192.0.2.10]", "[IPv6:2001:db8::1]", "192.0.2.10", "localhost", "my host.example",
])
def test_helo_that_is_not_a_domain_is_none_without_dns(helo: str) -> None:
    lookup = StaticLookup({})
    result = check_spf(lookup, CLIENT, "", helo)
    assert result.helo is not None
    assert (result.helo.result, result.helo.domain) == (AuthResult.NONE, "")
    assert result.helo.explanation.startswith("HELO is not checked: ")
    assert lookup.queries == []


# ------------------------------------------------------ null reverse-path


def test_null_mail_from_checks_postmaster_at_helo() -> None:
    zone = {"mail.example.org": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]}}
    result = check_spf(StaticLookup(zone), CLIENT, "", "mail.example.org")
    assert result.mailfrom == SpfCheck("helo", "mail.example.org", "postmaster@mail.example.org",
                                       AuthResult.PASS, "sender SPF authorized")


def test_angle_bracket_null_sender_is_a_null_sender() -> None:
    zone = {"mail.example.org": {"TXT": ["v=spf1 -all"]}}
    result = check_spf(StaticLookup(zone), CLIENT, "<>", "mail.example.org")
    assert result.mailfrom.identity == "helo"
    assert result.mailfrom.result is AuthResult.FAIL


def test_null_mail_from_evaluates_the_helo_only_once() -> None:
    lookup = StaticLookup({"mail.example.org": {"TXT": ["v=spf1 -all"]}})
    result = check_spf(lookup, CLIENT, "", "mail.example.org")
    assert result.helo is result.mailfrom
    assert lookup.queries == [("mail.example.org", "TXT")]


def test_null_mail_from_with_address_literal_helo_is_none() -> None:
    result = check_spf(StaticLookup({}), CLIENT, "", "[192.0.2.10]")
    assert result.mailfrom.identity == "helo"
    assert result.mailfrom.result is AuthResult.NONE


def test_null_mail_from_without_helo_is_none() -> None:
    result = check_spf(StaticLookup({}), CLIENT, "", "")
    assert result.mailfrom == SpfCheck("helo", "", "", AuthResult.NONE,
                                       "null MAIL FROM and no HELO: there is no identity to check")
    assert result.helo is None


# ------------------------------------------------------------- client IP


def test_ipv6_client_matches_ip6_mechanism() -> None:
    zone = spf_zone("v=spf1 ip6:2001:db8:1::/48 -all")
    assert mailfrom(zone, client_ip="2001:db8:1::25").result is AuthResult.PASS


def test_ipv4_mapped_ipv6_client_matches_ip4_mechanism() -> None:
    zone = spf_zone("v=spf1 ip4:192.0.2.0/24 -all")
    assert mailfrom(zone, client_ip="::ffff:192.0.2.10").result is AuthResult.PASS


def test_sendmail_style_ipv6_client_address_is_accepted() -> None:
    zone = spf_zone("v=spf1 ip6:2001:db8:1::/48 -all")
    assert mailfrom(zone, client_ip="IPv6:2001:db8:1::25").result is AuthResult.PASS


def test_invalid_client_ip_is_none_without_dns() -> None:
    lookup = StaticLookup(spf_zone("v=spf1 +all"))
    result = check_spf(lookup, "not-an-ip", "alice@example.com", HELO)
    assert result.mailfrom.result is AuthResult.NONE
    assert result.mailfrom.explanation == "invalid client IP address 'not-an-ip'"
    assert result.helo is not None and result.helo.result is AuthResult.NONE
    assert lookup.queries == []


def test_empty_client_ip_is_none() -> None:
    check = mailfrom(spf_zone("v=spf1 +all"), client_ip="")
    assert check.result is AuthResult.NONE
    assert check.explanation == "no client IP address, SPF cannot be evaluated"


# ------------------------------------------------------------ hostile data


def test_control_character_inside_record_is_a_permerror() -> None:
    assert mailfrom(spf_zone("v=spf1 a:x.example.com\rptr -all")).result is AuthResult.PERMERROR


def test_non_ascii_record_is_a_permerror() -> None:
    assert mailfrom(spf_zone("v=spf1 \udc80a -all")).result is AuthResult.PERMERROR


def test_huge_record_gives_a_bounded_result_and_explanation() -> None:
    check = mailfrom(spf_zone("v=spf1 " + "x" * 100_000))
    assert check.result is AuthResult.PERMERROR
    assert len(check.explanation) <= 512


def test_control_characters_in_explanation_text_are_replaced() -> None:
    zone = spf_zone("v=spf1 -all exp=why.example.com",
                    {"why.example.com": {"TXT": ["go\x07 away\x1b"]}})
    assert mailfrom(zone).explanation == "go? away?"


def test_lookup_that_raises_gives_temperror() -> None:
    class Exploding:
        def lookup(self, name: str, rdtype: str) -> DnsAnswer:
            raise ConnectionError("socket gone")

    check = check_spf(Exploding(), CLIENT, "alice@example.com", "").mailfrom
    assert check.result is AuthResult.TEMPERROR
    assert "socket gone" in check.explanation


def test_unexpected_exception_inside_pyspf_gives_permerror() -> None:
    class Nonsense:
        """Answers with a record pyspf cannot digest (not text at all)."""

        def lookup(self, name: str, rdtype: str) -> DnsAnswer:
            return DnsAnswer(name, rdtype, DnsStatus.OK, (None,))  # type: ignore[arg-type]

    check = check_spf(Nonsense(), CLIENT, "alice@example.com", "").mailfrom
    assert check.result is AuthResult.PERMERROR
    assert check.explanation == (
        "SPF Permanent Error: record could not be evaluated (AttributeError)")
