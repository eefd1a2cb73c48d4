"""ARC chain validation against keys served by the loopback DNS server."""

from __future__ import annotations

import re

import pytest

from spoofwatch.auth.arc import verify_arc
from spoofwatch.auth.dkim import verify_dkim
from spoofwatch.dns import Resolver
from spoofwatch.results import ArcResult, AuthResult
from support.dnsserver import DnsTestServer
from support.mailfactory import (
    DkimKey,
    append_body,
    dkim_sign,
    get_header,
    mailing_list_forward,
    make_message,
    publish_key,
    replace_header,
    rsa_key,
)

AUTHOR_RESULTS = (
    "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com;"
    " dmarc=pass header.from=example.com"
)


@pytest.fixture
def keys(dns: DnsTestServer) -> dict[str, DkimKey]:
    """Author, list and forwarder keys, published."""
    published = {
        "example.com": rsa_key(name="author"),
        "lists.example.org": rsa_key(name="list"),
        "fwd.example.net": rsa_key(name="forwarder"),
    }
    for domain, key in published.items():
        publish_key(dns, "k1", domain, key)
    return published


def authored(keys: dict[str, DkimKey]) -> bytes:
    message = make_message(
        "Alice <alice@example.com>", "list@lists.example.org", "Rally", "See you there.\n"
    )
    return dkim_sign(message, keys["example.com"], "k1", "example.com")


def via_list(keys: dict[str, DkimKey]) -> bytes:
    return mailing_list_forward(
        authored(keys),
        keys["lists.example.org"],
        "k1",
        "lists.example.org",
        authserv_id="lists.example.org",
        results=AUTHOR_RESULTS,
    )


def via_list_and_forwarder(keys: dict[str, DkimKey]) -> bytes:
    return mailing_list_forward(
        via_list(keys),
        keys["fwd.example.net"],
        "k1",
        "fwd.example.net",
        authserv_id="fwd.example.net",
        results="dmarc=fail header.from=example.com; arc=pass",
        subject_prefix="",
        footer="",
    )


def flip_first_signature_char(value: bytes) -> bytes:
    start = re.search(rb"[;\s]b=", value)
    assert start is not None
    at = start.end()
    replacement = b"B" if value[at : at + 1] == b"A" else b"A"
    return value[:at] + replacement + value[at + 1 :]


def test_one_hop_chain_passes(keys: dict[str, DkimKey], resolver: Resolver) -> None:
    result = verify_arc(via_list(keys), resolver)

    assert result == ArcResult(
        result=AuthResult.PASS,
        reason="chain of 1 set(s) validated",
        instances=1,
        sealers=("lists.example.org",),
        sealer_dmarc=(("lists.example.org", "pass"),),
    )


def test_two_hop_chain_passes_with_sealers_in_instance_order(
    keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    result = verify_arc(via_list_and_forwarder(keys), resolver)

    assert result.result is AuthResult.PASS
    assert result.instances == 2
    assert result.sealers == ("lists.example.org", "fwd.example.net")
    assert result.sealer_dmarc == (("lists.example.org", "pass"), ("fwd.example.net", "fail"))


def test_tampered_seal_fails(keys: dict[str, DkimKey], resolver: Resolver) -> None:
    sealed = via_list_and_forwarder(keys)
    seal = get_header(sealed, "ARC-Seal")[0]  # the topmost, i=2
    tampered = replace_header(sealed, "ARC-Seal", flip_first_signature_char(seal))

    result = verify_arc(tampered, resolver)

    assert result.result is AuthResult.FAIL
    assert result.reason == "ARC-Seal[2] did not validate"


def test_tampered_earlier_authentication_results_fail_the_seal(
    keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    sealed = via_list_and_forwarder(keys)
    aar = get_header(sealed, "ARC-Authentication-Results")[1]  # i=1
    forged = replace_header(
        sealed, "ARC-Authentication-Results", aar.replace(b"dmarc=pass", b"dmarc=none"), 1
    )

    result = verify_arc(forged, resolver)

    assert result.result is AuthResult.FAIL
    assert "ARC-Seal" in result.reason


def test_message_changed_after_sealing_fails(keys: dict[str, DkimKey], resolver: Resolver) -> None:
    changed = append_body(via_list(keys), "Added after the list.\n")

    result = verify_arc(changed, resolver)

    assert (result.result, result.reason) == (
        AuthResult.FAIL,
        "Most recent ARC-Message-Signature did not validate",
    )


def test_message_without_arc_is_none(keys: dict[str, DkimKey], resolver: Resolver) -> None:
    result = verify_arc(authored(keys), resolver)

    assert result == ArcResult(AuthResult.NONE, "no ARC sets", 0, ())


def test_missing_sealer_key_fails_and_says_why(
    dns: DnsTestServer, keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    sealed = via_list(keys)
    dns.clear()

    result = verify_arc(sealed, resolver)

    assert result.result is AuthResult.FAIL
    assert "(key k1._domainkey.lists.example.org: no key)" in result.reason


def test_unanswered_sealer_key_query_fails_with_temporary_reason(
    dns: DnsTestServer, keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    sealed = via_list(keys)
    dns.never_answer("k1._domainkey.lists.example.org")

    result = verify_arc(sealed, resolver)

    assert result.result is AuthResult.FAIL
    assert "key lookup failed" in result.reason


def test_mailing_list_breaks_author_dkim_but_arc_records_dmarc_pass(
    keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    delivered = via_list(keys)

    dkim = verify_dkim(delivered, resolver)
    arc = verify_arc(delivered, resolver)

    assert [(s.domain, s.result, s.reason) for s in dkim.signatures] == [
        ("example.com", AuthResult.FAIL, "body hash mismatch")
    ]
    assert arc.result is AuthResult.PASS
    assert arc.sealer_dmarc == (("lists.example.org", "pass"),)


def test_list_that_also_signs_dkim_passes_for_its_own_domain(
    keys: dict[str, DkimKey], resolver: Resolver
) -> None:
    delivered = mailing_list_forward(
        authored(keys),
        keys["lists.example.org"],
        "k1",
        "lists.example.org",
        authserv_id="lists.example.org",
        results=AUTHOR_RESULTS,
        sign_dkim=True,
    )

    dkim = verify_dkim(delivered, resolver)

    assert dkim.passing_domains() == ("lists.example.org",)
    assert verify_arc(delivered, resolver).result is AuthResult.PASS
