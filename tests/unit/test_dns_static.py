"""StaticLookup semantics, name normalisation and record text formats (no network)."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from spoofwatch.dns import (
    DnsAnswer,
    DnsStatus,
    Lookup,
    _record_text,
    canonical_dns_name,
)
from support.staticlookup import StaticLookup

ZONE = {
    "example.com": {"TXT": ["v=spf1 -all"], "MX": ["10 mx.example.com"]},
    "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject"]},
    "deep.child.example.org": {"A": ["192.0.2.7"]},
    "alias.example.com": {"CNAME": ["example.com"]},
    "empty.example.com": {},
}


@pytest.fixture
def static() -> StaticLookup:
    return StaticLookup(ZONE, temperror=["broken.example.net"])


def test_static_lookup_satisfies_the_lookup_protocol(static: StaticLookup) -> None:
    lookup: Lookup = static
    assert lookup.lookup("example.com", "TXT").status is DnsStatus.OK


def test_present_name_and_type_answers_ok_with_its_records(static: StaticLookup) -> None:
    assert static.lookup("example.com", "TXT") == DnsAnswer(
        "example.com", "TXT", DnsStatus.OK, ("v=spf1 -all",), 300
    )


def test_absent_name_answers_nxdomain(static: StaticLookup) -> None:
    answer = static.lookup("nowhere.example.com", "TXT")
    assert (answer.status, answer.records) == (DnsStatus.NXDOMAIN, ())


def test_present_name_without_the_type_answers_nodata(static: StaticLookup) -> None:
    answer = static.lookup("example.com", "AAAA")
    assert (answer.status, answer.records) == (DnsStatus.NODATA, ())


def test_name_listed_with_no_records_answers_nodata(static: StaticLookup) -> None:
    assert static.lookup("empty.example.com", "TXT").status is DnsStatus.NODATA


def test_empty_non_terminal_answers_nodata(static: StaticLookup) -> None:
    assert static.lookup("child.example.org", "A").status is DnsStatus.NODATA


def test_name_in_temperror_answers_temperror_with_a_reason(static: StaticLookup) -> None:
    answer = static.lookup("broken.example.net", "TXT")
    assert answer.status is DnsStatus.TEMPERROR
    assert answer.error != ""


def test_lookup_normalises_case_and_trailing_dot(static: StaticLookup) -> None:
    answer = static.lookup("_DMARC.Example.COM.", "txt")
    assert (answer.name, answer.rdtype, answer.records) == (
        "_dmarc.example.com", "TXT", ("v=DMARC1; p=reject",)
    )


def test_zone_keys_are_normalised_too() -> None:
    lookup = StaticLookup({"Example.NET.": {"txt": ["hello"]}})
    assert lookup.lookup("example.net", "TXT").records == ("hello",)


def test_cname_in_the_zone_is_followed(static: StaticLookup) -> None:
    answer = static.lookup("alias.example.com", "MX")
    assert (answer.name, answer.status, answer.records) == (
        "alias.example.com", DnsStatus.OK, ("10 mx.example.com",)
    )


def test_asking_for_the_cname_itself_returns_its_target(static: StaticLookup) -> None:
    assert static.lookup("alias.example.com", "CNAME").records == ("example.com",)


def test_invalid_name_answers_nxdomain_and_is_not_looked_up(static: StaticLookup) -> None:
    answer = static.lookup("bad..example.com", "TXT")
    assert answer.status is DnsStatus.NXDOMAIN
    assert static.queries == []


def test_queries_are_logged_in_order(static: StaticLookup) -> None:
    static.lookup("example.com", "TXT")
    static.lookup("Nowhere.Example.com", "A")
    assert static.queries == [("example.com", "TXT"), ("nowhere.example.com", "A")]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        (".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61])),
    ],
)
def test_valid_names_are_lower_cased_without_trailing_dot(raw: str, expected: str) -> None:
    assert canonical_dns_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "example..com",
        ".example.com",
        "example.com..",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 3 + ["b" * 62]),  # 254 octets
        "exa mple.com",
        "example.com ",
        "exa\tmple.com",
        "exa\x00mple.com",
        "bücher.example",
    ],
)
def test_invalid_names_are_rejected(raw: str) -> None:
    assert canonical_dns_name(raw) is None


# ----------------------------------------------------------- record text


def _rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)


def test_txt_character_strings_are_concatenated() -> None:
    assert _record_text(_rdata("TXT", '"v=spf1 " "include:_spf.example.com -all"')) == (
        "v=spf1 include:_spf.example.com -all"
    )


def test_txt_invalid_utf8_survives_as_surrogate_escapes() -> None:
    text = _record_text(_rdata("TXT", '"caf\\233\\255"'))
    assert text == "caf\udce9\udcff"
    assert text.encode("utf-8", "surrogateescape") == b"caf\xe9\xff"


def test_txt_utf8_is_decoded() -> None:
    assert _record_text(_rdata("TXT", '"caf\\195\\169"')) == "café"


def test_mx_is_preference_and_lower_case_exchange_without_dot() -> None:
    assert _record_text(_rdata("MX", "10 MX1.Example.COM.")) == "10 mx1.example.com"


def test_null_mx_keeps_its_dot() -> None:
    assert _record_text(_rdata("MX", "0 .")) == "0 ."


@pytest.mark.parametrize("rdtype", ["PTR", "CNAME", "NS"])
def test_name_targets_are_lower_case_without_dot(rdtype: str) -> None:
    assert _record_text(_rdata(rdtype, "Host.Example.NET.")) == "host.example.net"


def test_addresses_are_their_text() -> None:
    assert _record_text(_rdata("A", "192.0.2.1")) == "192.0.2.1"
    assert _record_text(_rdata("AAAA", "2001:DB8::1")) == "2001:db8::1"
