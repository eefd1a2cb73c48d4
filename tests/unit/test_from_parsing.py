"""The strict From parser: one author domain, or a named problem, never an attacker's pick."""

from __future__ import annotations

import random

import pytest

from spoofwatch.addresses import (
    ParsedMailbox,
    ParseError,
    domain_of,
    parse_address_header,
    parse_from,
)
from spoofwatch.domains import is_dns_domain, normalize_domain
from spoofwatch.message import Message
from spoofwatch.results import FromAddress, FromProblem


def from_message(*values: str) -> Message:
    """A message whose From field(s) carry exactly these raw values."""
    headers = tuple(("From", " " + v) for v in values) + (("Subject", " test"),)
    return Message(headers, b"body\r\n")


def author(value: str) -> FromAddress | FromProblem:
    return parse_from(from_message(value))


# (From value, expected domain) for values that must yield one FromAddress.
DOMAIN_CASES = [
    ("plain", "a@example.com", "example.com"),
    ("angle", "<a@example.com>", "example.com"),
    ("name_addr", "Alice <alice@example.com>", "example.com"),
    ("uppercase_domain", "a@ExAmPlE.CoM", "example.com"),
    # OpenDMARC #243: the quoted local part hides a "<...@junk.com>"; the
    # addr-spec's domain is what follows the quoted-string.
    ("quoted_local_part_with_fake_address", '"x <a@junk.com>"@victim.org', "victim.org"),
    ("quoted_local_part_in_angle", 'Name <"x <a@junk.com>"@victim.org>', "victim.org"),
    ("comment_is_not_an_address", "a@example.com (b@victim.org)", "example.com"),
    ("comment_before_address", "(b@victim.org) a@example.com", "example.com"),
    ("nested_comment", "a@example.com (x (b@victim.org) y)", "example.com"),
    ("quoted_display_name_holds_victim_address", '"a@victim.org" <x@evil.com>', "evil.com"),
    ("dotted_display_name_looks_like_domain", "victim.org <x@evil.com>", "evil.com"),
    ("encoded_word_display_name", "=?utf-8?q?a=40victim.org?= <x@evil.com>", "evil.com"),
    ("encoded_word_local_part_stays_raw", "=?utf-8?q?victim?=@evil.com", "evil.com"),
    ("source_route_is_ignored", "<@victim.org,@relay.example:a@evil.com>", "evil.com"),
    ("utf8_local_part", "jösé@example.com", "example.com"),
    ("idn_domain", "x@münchen.de", "xn--mnchen-3ya.de"),
    ("idn_domain_uppercase", "x@MÜNCHEN.DE", "xn--mnchen-3ya.de"),
    ("idna2008_sharp_s_not_mapped_to_ss", "x@faß.de", "xn--fa-hia.de"),
    ("fullwidth_letters_map_to_ascii", "x@ｖｉｃｔｉｍ。org", "victim.org"),
    ("a_label_domain_kept", "x@xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
    ("trailing_dot_is_root", "a@victim.org.", "victim.org"),
    ("trailing_dot_in_angle", "V <a@victim.org.>", "victim.org"),
    ("obsolete_spaces_around_dots", "a . b @ victim . org", "victim.org"),
    ("dots_anywhere_in_local_part", "a..b.@docomo.ne.jp", "docomo.ne.jp"),
    ("same_domain_twice", "a@victim.org, b@victim.org", "victim.org"),
    ("same_domain_after_normalization", "a@Victim.ORG, b@victim.org.", "victim.org"),
    ("trailing_comma_null_member", "a@victim.org,", "victim.org"),
    ("group_members_are_authors", "team: a@victim.org, b@victim.org;", "victim.org"),
    ("underscore_label", "a@mail_out.example.com", "mail_out.example.com"),
    ("tab_whitespace", "Alice\t<a@example.com>", "example.com"),
    ("long_display_name_100k", '"' + "A" * 100_000 + '" <x@victim.org>', "victim.org"),
    ("many_same_domain_mailboxes_100k", "a@example.com, " * 7000 + "b@example.com", "example.com"),
]


@pytest.mark.parametrize(
    ("value", "domain"), [c[1:] for c in DOMAIN_CASES], ids=[c[0] for c in DOMAIN_CASES]
)
def test_from_value_yields_exactly_this_domain(value: str, domain: str) -> None:
    result = author(value)
    assert isinstance(result, FromAddress), result
    assert result.domain == domain


# (From value, expected problem code) for values that must not yield a domain.
PROBLEM_CASES = [
    # CVE-2019-16378: two domains in one From is no domain at all.
    ("two_domains", "a@example.com, b@victim.org", "multiple_addresses"),
    ("two_domains_reversed", "b@victim.org, a@example.com", "multiple_addresses"),
    ("two_domains_with_names", "A <a@example.com>, V <b@victim.org>", "multiple_addresses"),
    ("group_with_two_domains", "g: a@example.com, b@victim.org;", "multiple_addresses"),
    ("literal_and_domain", "a@[192.0.2.1], b@victim.org", "multiple_addresses"),
    ("two_angle_addresses", "<a@example.com> <b@victim.org>", "unparseable"),
    ("addr_spec_then_angle", "a@example.com <b@victim.org>", "unparseable"),
    ("two_addr_specs_without_comma", "a@example.com b@victim.org", "unparseable"),
    ("double_at", "a@victim.org@evil.com", "unparseable"),
    ("unquoted_at_in_display_name", "a@victim.org <x@evil.com>", "unparseable"),
    ("unquoted_words_before_at", "Victim Org@evil.com", "unparseable"),
    ("encoded_word_alone", "=?utf-8?q?a=40victim.org?=", "unparseable"),
    ("encoded_word_as_domain", "x@=?utf-8?q?victim.org?=", "unparseable"),
    ("name_without_address", "Victim Org", "unparseable"),
    ("unterminated_quote", '"x <a@junk.com>@victim.org', "unparseable"),
    ("unterminated_angle", "V <a@victim.org", "unparseable"),
    ("unterminated_comment", "a@victim.org (x", "unparseable"),
    ("stray_close_paren", "a@example.org)<b@victim.org>", "unparseable"),
    ("empty_local_part", "@victim.org", "unparseable"),
    ("empty_domain", "a@", "unparseable"),
    ("empty_label", "a@victim..org", "unparseable"),
    ("two_trailing_dots", "a@victim.org..", "unparseable"),
    ("leading_dot_domain", "a@.victim.org", "unparseable"),
    ("null_path", "<>", "unparseable"),
    ("nested_group", "a: b: c@victim.org;;", "unparseable"),
    ("unclosed_group", "team: a@victim.org", "unparseable"),
    ("nul_in_local_part", "a\x00@victim.org", "unparseable"),
    ("nul_in_display_name", '"V\x00" <a@victim.org>', "unparseable"),
    ("escape_char", "\x1b[31mV <a@victim.org>", "unparseable"),
    ("bare_cr", "a@victim.org\rb@evil.com", "unparseable"),
    ("del_char", "a\x7f@victim.org", "unparseable"),
    ("c1_control", "a\x85@victim.org", "unparseable"),
    ("undecodable_byte_in_local_part", "a\udcff@victim.org", "unparseable"),
    ("undecodable_byte_in_domain", "a@victim\udcff.org", "unparseable"),
    ("symbol_in_domain", "a@ex!ample.com", "unparseable"),
    ("invalid_idn", "a@xn--münchen.de", "unparseable"),
    ("label_too_long", "a@" + "x" * 64 + ".org", "unparseable"),
    ("domain_too_long_100k", "a@" + "b." * 50_000 + "org", "unparseable"),
    ("address_literal", "a@[192.0.2.1]", "no_domain"),
    ("ipv6_literal", "a@[IPv6:2001:db8::1]", "no_domain"),
    ("empty_group", "undisclosed-recipients:;", "no_domain"),
    ("only_commas", ", ,", "no_domain"),
    ("empty_value", "", "no_domain"),
    ("whitespace_value", "   ", "no_domain"),
]


@pytest.mark.parametrize(
    ("value", "code"), [c[1:] for c in PROBLEM_CASES], ids=[c[0] for c in PROBLEM_CASES]
)
def test_from_value_yields_this_problem(value: str, code: str) -> None:
    result = author(value)
    assert isinstance(result, FromProblem), result
    assert result.code == code


def test_missing_from_header_is_missing() -> None:
    message = Message((("To", " a@example.com"),), b"")
    assert parse_from(message) == FromProblem("missing", "no From header field")


def test_two_from_headers_are_multiple_headers_even_when_equal() -> None:
    result = parse_from(from_message("a@victim.org", "a@victim.org"))
    assert result == FromProblem("multiple_headers", "2 From header fields")


def test_from_header_name_is_case_insensitive() -> None:
    message = Message((("fROM", " a@victim.org"),), b"")
    assert isinstance(parse_from(message), FromAddress)


def test_obsolete_space_before_colon_still_counts_as_a_second_from() -> None:
    message = Message.from_bytes(b"From: a@example.com\r\nFrom : b@victim.org\r\n\r\n")
    result = parse_from(message)
    assert isinstance(result, FromProblem)
    assert result.code == "multiple_headers"


def test_folded_from_header_is_unfolded_before_parsing() -> None:
    message = Message.from_bytes(b"From: Alice\r\n <alice@example.com>\r\n\r\n")
    assert parse_from(message) == FromAddress("Alice", "alice", "example.com")


def test_quoted_local_part_is_kept_quoted_so_the_address_is_unambiguous() -> None:
    result = author('"x <a@junk.com>"@victim.org')
    assert result == FromAddress("", '"x <a@junk.com>"', "victim.org")
    assert isinstance(result, FromAddress)
    assert result.address == '"x <a@junk.com>"@victim.org'


def test_quoted_local_part_that_is_a_dot_atom_is_unquoted() -> None:
    assert author('"alice"@example.com') == FromAddress("", "alice", "example.com")


def test_display_name_with_victim_address_is_returned_for_impersonation_checks() -> None:
    assert author('"a@victim.org" <x@evil.com>') == FromAddress("a@victim.org", "x", "evil.com")


def test_encoded_word_display_name_is_decoded() -> None:
    value = "=?utf-8?b?QmFyYWNrIE9iYW1h?= <x@evil.com>"
    assert author(value) == FromAddress("Barack Obama", "x", "evil.com")


def test_adjacent_encoded_words_join_without_the_space_between_them() -> None:
    value = "=?utf-8?q?Bar?= =?utf-8?q?ack?= <x@evil.com>"
    assert author(value) == FromAddress("Barack", "x", "evil.com")


def test_encoded_word_inside_quotes_is_decoded_as_mail_clients_show_it() -> None:
    value = '"=?utf-8?q?Barack_Obama?=" <x@evil.com>'
    assert author(value) == FromAddress("Barack Obama", "x", "evil.com")


def test_obsolete_phrase_keeps_its_dots_and_single_spaces() -> None:
    assert author("John   Q. Public <jqp@example.com>") == FromAddress(
        "John Q. Public", "jqp", "example.com"
    )


def test_comment_serves_as_display_name_when_there_is_none() -> None:
    assert author("a@example.com (Jane Doe)") == FromAddress("Jane Doe", "a", "example.com")


def test_comment_does_not_replace_a_real_display_name() -> None:
    assert author("Alice <a@example.com> (Jane Doe)") == FromAddress("Alice", "a", "example.com")


def test_undecodable_bytes_in_display_name_become_replacement_characters() -> None:
    assert author('"Jos\udce9" <j@example.com>') == FromAddress("Jos\ufffd", "j", "example.com")


def test_same_domain_mailboxes_give_the_first_mailbox() -> None:
    assert author("A <a@victim.org>, B <b@victim.org>") == FromAddress("A", "a", "victim.org")


def test_utf8_local_part_is_kept_as_written() -> None:
    assert author("jösé@münchen.de") == FromAddress("", "jösé", "xn--mnchen-3ya.de")


def test_multiple_addresses_problem_names_the_domains() -> None:
    result = author("a@example.com, b@victim.org")
    assert result == FromProblem(
        "multiple_addresses", "2 mailboxes in 2 domains: example.com, victim.org"
    )


def test_problem_detail_is_ascii_even_for_hostile_domains() -> None:
    result = author("a@ex\u202e!ample.com")
    assert isinstance(result, FromProblem)
    assert result.detail.isascii()


def test_from_header_parsed_from_wire_bytes_with_8bit_utf8() -> None:
    message = Message.from_bytes("From: Jürgen <j@münchen.de>\r\n\r\n".encode())
    assert parse_from(message) == FromAddress("Jürgen", "j", "xn--mnchen-3ya.de")


# --- parse_address_header -----------------------------------------------------


def test_address_list_returns_every_mailbox_in_order() -> None:
    assert parse_address_header("A <a@x.example>, b@y.example") == [
        ParsedMailbox("A", "a", "x.example"),
        ParsedMailbox("", "b", "y.example"),
    ]


def test_group_members_carry_the_group_name() -> None:
    assert parse_address_header("Team: a@x.example;, c@z.example") == [
        ParsedMailbox("", "a", "x.example", "Team"),
        ParsedMailbox("", "c", "z.example", ""),
    ]


def test_domain_is_returned_as_written_without_trailing_dot() -> None:
    assert parse_address_header("a@Victim.Org.") == [ParsedMailbox("", "a", "Victim.Org")]


def test_address_literal_is_marked() -> None:
    result = parse_address_header("a@[ 192.0.2.1 ]")
    assert isinstance(result, list)
    [mailbox] = result
    assert mailbox.domain == "[192.0.2.1]"
    assert mailbox.is_literal


def test_empty_value_is_an_empty_list() -> None:
    assert parse_address_header("") == []


def test_parse_error_gives_reason_and_position() -> None:
    assert parse_address_header("a@victim.org@evil.com") == ParseError(
        "expected ',' or the end after an address, found '@'", 12
    )


def test_control_character_error_points_at_it() -> None:
    assert parse_address_header("ab\x00c@x.example") == ParseError("control character U+0000", 2)


def test_raw_folded_value_is_unfolded() -> None:
    assert parse_address_header("A\r\n <a@x.example>") == [ParsedMailbox("A", "a", "x.example")]


# --- domains ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("user@Example.COM", "example.com"),
        ("<user@example.com>", "example.com"),
        (" <user@example.com> ", "example.com"),
        ("", ""),
        ("<>", ""),
        ("postmaster", ""),
        ('"a@victim.org"@evil.com', "evil.com"),
        ("<@relay.example:user@example.com>", "example.com"),
        ("user@münchen.de", "xn--mnchen-3ya.de"),
        ("user@example.com.", "example.com"),
        ("user@xn--.de", "xn--.de"),
    ],
)
def test_domain_of_envelope_address(address: str, domain: str) -> None:
    assert domain_of(address) == domain


def test_domain_of_invalid_idn_returns_lower_case_and_is_not_a_dns_domain() -> None:
    domain = domain_of("user@Ex\u202eample.de")
    assert domain == "ex\u202eample.de"
    assert not is_dns_domain(domain)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("EXAMPLE.com", "example.com"),
        ("example.com.", "example.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),
        ("\uff56ictim.org", "victim.org"),
        (" example.com ", "example.com"),
    ],
)
def test_normalize_domain(raw: str, normalized: str) -> None:
    assert normalize_domain(raw) == normalized


@pytest.mark.parametrize(
    ("domain", "valid"),
    [
        ("example.com", True),
        ("localhost", True),
        ("_dmarc.example.com", True),
        ("xn--mnchen-3ya.de", True),
        ("", False),
        ("a..b", False),
        ("ex!ample.com", False),
        ("münchen.de", False),
        ("x" * 64 + ".com", False),
        (".".join(["a" * 63] * 4), False),  # 255 characters
    ],
)
def test_is_dns_domain(domain: str, valid: bool) -> None:
    assert is_dns_domain(domain) is valid


def test_random_hostile_values_give_a_result_never_an_exception() -> None:
    rng = random.Random(20191)
    alphabet = [
        '"',
        "<",
        ">",
        "@",
        ",",
        ";",
        ":",
        ".",
        "(",
        ")",
        "[",
        "]",
        "\\",
        " ",
        "\t",
        "a",
        "victim.org",
        "=?utf-8?q?x?=",
        "\x00",
        "\r\n ",
        "ü",
        "\udcff",
        "\u202e",
    ]
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert isinstance(author(value), (FromAddress, FromProblem))
