"""Hostile and malformed input to DKIM and ARC verification: always a result, never a crash.

Keys come from an in-memory StaticLookup; no network.
"""

from __future__ import annotations

import re
import time

import pytest

from spoofwatch.auth.arc import verify_arc
from spoofwatch.auth.dkim import MAX_REPORTED, MAX_VERIFIED, verify_dkim
from spoofwatch.results import ArcResult, AuthResult, DkimSignature
from support.mailfactory import (
    add_header,
    dkim_sign,
    ed25519_key,
    get_header,
    key_name,
    mailing_list_forward,
    make_message,
    replace_header,
    rsa_key,
)
from support.staticlookup import StaticLookup

MESSAGE = make_message("Alice <alice@example.com>", "bob@example.net", "Hello", "Hi Bob.\n")
KEY = rsa_key()
LIST_KEY = rsa_key(name="list")


def zone(**records: str | list[str]) -> StaticLookup:
    """A lookup holding TXT records given as selector__domain_with_underscores=value."""
    entries: dict[str, dict[str, list[str]]] = {}
    for spec, value in records.items():
        selector, domain = spec.split("__")
        values = value if isinstance(value, list) else [value]
        entries[key_name(selector, domain.replace("_", "."))] = {"TXT": values}
    return StaticLookup(entries)


GOOD = zone(s1__example_com=KEY.txt, k1__lists_example_org=LIST_KEY.txt)


def signature_value(signed: bytes) -> bytes:
    return get_header(signed, "DKIM-Signature")[0]


def with_signature(value: bytes, message: bytes = MESSAGE) -> bytes:
    return add_header(message, "DKIM-Signature", value)


def edited(signed: bytes, old: bytes, new: bytes) -> bytes:
    value = signature_value(signed)
    assert old in value
    return replace_header(signed, "DKIM-Signature", value.replace(old, new, 1))


def one(message: bytes, lookup: StaticLookup = GOOD, now: float | None = None) -> DkimSignature:
    signatures = verify_dkim(message, lookup, now=now).signatures
    assert len(signatures) == 1
    return signatures[0]


# ---------------------------------------------------------------- whole-message junk


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\r\n",
        b"\r\nonly a body\r\n",
        bytes(range(256)) * 20,
        b"\x00" * 1000,
        b"From: a@example.com\r\nSubject: \xff\xfe\xfd\r\n\r\n\xc3\x28 body",
        b"no colon anywhere in this header line\r\n\r\nbody",
    ],
    ids=["empty", "blank-line", "no-headers", "binary", "nul-bytes", "non-utf8", "no-colon"],
)
def test_junk_without_signatures_has_no_dkim_and_no_arc(message: bytes) -> None:
    assert verify_dkim(message, GOOD).signatures == ()
    assert verify_arc(message, GOOD) == ArcResult(AuthResult.NONE, "no ARC sets", 0, ())


def test_unparseable_header_section_reports_its_signatures_as_permerror() -> None:
    message = b" starts with a continuation\r\n" + dkim_sign(MESSAGE, KEY, "s1", "example.com")

    sig = one(message)

    assert (sig.domain, sig.result, sig.reason) == (
        "example.com",
        AuthResult.PERMERROR,
        "message header section unparseable",
    )


def test_binary_header_line_makes_signatures_permerror() -> None:
    message = dkim_sign(MESSAGE, KEY, "s1", "example.com").replace(b"To:", b"\x00\xffTo:", 1)

    assert one(message).result is AuthResult.PERMERROR


def test_signature_over_non_utf8_header_bytes_passes() -> None:
    latin1 = replace_header(MESSAGE, "Subject", "Caf\xe9 meeting".encode("latin-1"))

    assert one(dkim_sign(latin1, KEY, "s1", "example.com")).result is AuthResult.PASS


# ---------------------------------------------------------------- malformed signatures


def test_tag_list_without_equals_is_neutral() -> None:
    sig = one(with_signature(b"this is not a tag list"))

    assert (sig.result, sig.reason, sig.domain) == (AuthResult.NEUTRAL, "malformed tag list", "")


def test_duplicate_tag_is_neutral() -> None:
    signed = edited(
        dkim_sign(MESSAGE, KEY, "s1", "example.com"),
        b"d=example.com",
        b"d=example.com; d=evil.example",
    )
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "duplicate tag d=")


def test_missing_required_tags_are_named() -> None:
    sig = one(with_signature(b"v=1; a=rsa-sha256; d=example.com; s=s1; h=from"))

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "missing b=, bh=")


def test_unknown_version_is_neutral() -> None:
    signed = edited(dkim_sign(MESSAGE, KEY, "s1", "example.com"), b"v=1", b"v=2")

    assert one(signed).reason == "unsupported version v=2"


def test_rsa_sha1_is_not_accepted() -> None:
    signed = edited(dkim_sign(MESSAGE, KEY, "s1", "example.com"), b"a=rsa-sha256", b"a=rsa-sha1")
    sig = one(signed)

    assert (sig.result, sig.reason) == (
        AuthResult.NEUTRAL,
        "rsa-sha1 signatures are not accepted (RFC 8301)",
    )


def test_unknown_algorithm_is_neutral() -> None:
    signed = edited(dkim_sign(MESSAGE, KEY, "s1", "example.com"), b"a=rsa-sha256", b"a=rsa-sha512")
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "unsupported algorithm rsa-sha512")


def test_invalid_base64_in_b_is_neutral() -> None:
    signed = edited(dkim_sign(MESSAGE, KEY, "s1", "example.com"), b"b=", b"b=!!")
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "b= is not valid base64")


def test_from_not_signed_is_neutral() -> None:
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", headers=["subject", "date"])
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "From header field not signed")


def test_identity_outside_signing_domain_is_neutral() -> None:
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", identity="alice@example.com")
    signed = edited(signed, b"i=alice@example.com", b"i=alice@example.org")
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "i= is not within d=")


def test_expiry_before_signing_time_is_neutral() -> None:
    now = int(time.time())
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", timestamp=now, expire=now - 1)
    sig = one(signed)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "x= is earlier than t=")


def test_signing_time_far_in_the_future_is_neutral() -> None:
    now = int(time.time())
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", timestamp=now)

    sig = one(signed, now=now - 86400)

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "t= is in the future")


def test_expiry_within_clock_skew_still_passes() -> None:
    now = int(time.time())
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", timestamp=now - 60, expire=now)

    assert one(signed, now=now + 120).result is AuthResult.PASS


def test_non_utf8_domain_and_selector_are_neutral() -> None:
    value = b"v=1; a=rsa-sha256; d=\xff\xfe.example; s=\xc3; h=from; bh=AAAA; b=AAAA"

    sig = one(with_signature(value))

    assert (sig.result, sig.reason) == (AuthResult.NEUTRAL, "invalid d= or s=")
    assert (
        sig.domain == "\udcff\udcfe.example"
    )  # kept (surrogate-escaped) for the log, never raised on


def test_oversized_signature_header_is_neutral_and_quick() -> None:
    signed = edited(
        dkim_sign(MESSAGE, KEY, "s1", "example.com"), b"h=", b"z=" + b" " * 100_000 + b"x!; h="
    )

    started = time.monotonic()
    sig = one(signed)

    assert sig.result is AuthResult.NEUTRAL
    assert re.fullmatch(r"signature header too long \(1[0-9]{5} bytes\)", sig.reason)
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------- hostile keys


def test_key_of_the_wrong_type_is_permerror() -> None:
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com")

    sig = one(signed, zone(s1__example_com=ed25519_key().txt))

    assert (sig.result, sig.reason) == (
        AuthResult.PERMERROR,
        "key type k=ed25519 does not match a=rsa-sha256",
    )


def test_garbage_key_is_permerror() -> None:
    sig = one(
        dkim_sign(MESSAGE, KEY, "s1", "example.com"),
        zone(s1__example_com="v=DKIM1; p=bm90IGEga2V5"),
    )

    assert sig.result is AuthResult.PERMERROR
    assert sig.reason.startswith("malformed key: ")


def test_key_record_that_is_not_a_tag_list_is_permerror() -> None:
    sig = one(dkim_sign(MESSAGE, KEY, "s1", "example.com"), zone(s1__example_com="hello world"))

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "malformed key record")


def test_key_below_1024_bits_is_permerror() -> None:
    small = rsa_key(512)
    sig = one(dkim_sign(MESSAGE, small, "s1", "example.com"), zone(s1__example_com=small.txt))

    assert (sig.result, sig.reason) == (
        AuthResult.PERMERROR,
        "key too small (512 bits, 1024 required)",
    )


def test_two_key_records_are_ambiguous() -> None:
    lookup = zone(s1__example_com=[KEY.txt, rsa_key(name="second").txt])

    sig = one(dkim_sign(MESSAGE, KEY, "s1", "example.com"), lookup)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "ambiguous key: 2 TXT records")


def test_one_key_among_unrelated_txt_records_is_used() -> None:
    lookup = zone(s1__example_com=["some-verification=abc", KEY.txt])

    assert one(dkim_sign(MESSAGE, KEY, "s1", "example.com"), lookup).result is AuthResult.PASS


def test_key_restricted_to_other_services_is_permerror() -> None:
    lookup = zone(s1__example_com=KEY.txt + "; s=tlsrpt")

    sig = one(dkim_sign(MESSAGE, KEY, "s1", "example.com"), lookup)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "key is not for email")


def test_strict_key_rejects_subdomain_identity() -> None:
    lookup = zone(s1__example_com=KEY.txt + "; t=s")
    signed = dkim_sign(MESSAGE, KEY, "s1", "example.com", identity="alice@news.example.com")

    sig = one(signed, lookup)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "key requires i= domain to equal d=")


# ---------------------------------------------------------------- volume


def test_only_the_first_signatures_are_verified_and_reported() -> None:
    value = signature_value(dkim_sign(MESSAGE, KEY, "nokey", "example.com"))
    message = MESSAGE
    for _ in range(500):
        message = with_signature(value, message)
    lookup = StaticLookup({})

    signatures = verify_dkim(message, lookup).signatures

    assert len(signatures) == MAX_REPORTED
    assert len(lookup.queries) == MAX_VERIFIED
    assert {s.result for s in signatures[:MAX_VERIFIED]} == {AuthResult.PERMERROR}
    assert {(s.result, s.reason) for s in signatures[MAX_VERIFIED:]} == {
        (AuthResult.POLICY, f"not checked: only {MAX_VERIFIED} signatures are verified per message")
    }


def test_long_runs_of_blanks_in_the_body_are_verified_quickly() -> None:
    # dkimpy's relaxed body canonicalization alone is quadratic in such a run (minutes).
    body = "x" + " " * 150_000 + "y\n"
    message = make_message("Alice <alice@example.com>", "bob@example.net", "Blanks", body)
    signed = dkim_sign(message, KEY, "s1", "example.com", canonicalize=("relaxed", "relaxed"))

    started = time.monotonic()
    sig = one(signed)

    assert sig.result is AuthResult.PASS
    assert time.monotonic() - started < 3.0


def test_blank_runs_still_matter_for_simple_body_canonicalization() -> None:
    message = make_message("Alice <alice@example.com>", "bob@example.net", "Blanks", "a  b\n")
    signed = dkim_sign(message, KEY, "s1", "example.com", canonicalize=("relaxed", "simple"))

    assert one(signed.replace(b"a  b", b"a b")).reason == "body hash mismatch"


# ---------------------------------------------------------------- ARC


def listed() -> bytes:
    return mailing_list_forward(
        dkim_sign(MESSAGE, KEY, "s1", "example.com"),
        LIST_KEY,
        "k1",
        "lists.example.org",
        authserv_id="lists.example.org",
        results="dmarc=pass header.from=example.com",
    )


def arc_header(name: str, instance: int, extra: str = "") -> bytes:
    signer = "a=rsa-sha256; d=lists.example.org; s=k1"
    values = {
        "ARC-Seal": f"i={instance}; cv=none; {signer}; b=AAAA{extra}",
        "ARC-Message-Signature": f"i={instance}; {signer}; h=from; bh=AAAA; b=AAAA{extra}",
        "ARC-Authentication-Results": f"i={instance}; lists.example.org; dmarc=pass{extra}",
    }
    return f"{name}: {values[name]}\r\n".encode()


def arc_set(instance: int) -> bytes:
    return b"".join(
        arc_header(n, instance)
        for n in ("ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results")
    )


def test_valid_chain_passes_with_static_keys() -> None:
    assert verify_arc(listed(), GOOD).result is AuthResult.PASS


def test_malformed_arc_seal_fails() -> None:
    sealed = listed()
    broken = replace_header(sealed, "ARC-Seal", b"i=1; this is ; not = a tag list;;;")

    assert verify_arc(broken, GOOD).result is AuthResult.FAIL


def test_arc_seal_without_instance_fails() -> None:
    result = verify_arc(b"ARC-Seal: garbage\r\n" + MESSAGE, GOOD)

    assert (result.result, result.reason) == (
        AuthResult.FAIL,
        "ARC-Seal without a valid i= instance",
    )


def test_instance_zero_fails() -> None:
    result = verify_arc(arc_set(0) + MESSAGE, GOOD)

    assert (result.result, result.reason) == (AuthResult.FAIL, "ARC-Seal instance 0 outside 1..50")


def test_instance_gap_fails() -> None:
    result = verify_arc(arc_set(3) + arc_set(1) + MESSAGE, GOOD)

    assert (result.result, result.reason, result.instances) == (
        AuthResult.FAIL,
        "ARC set 2 missing",
        3,
    )


def test_duplicate_seal_fails() -> None:
    sealed = listed()
    duplicate = b"ARC-Seal: " + get_header(sealed, "ARC-Seal")[0] + b"\r\n" + sealed

    result = verify_arc(duplicate, GOOD)

    assert (result.result, result.reason) == (
        AuthResult.FAIL,
        "ARC set 1 has 2 ARC-Seal header fields",
    )


def test_incomplete_set_fails() -> None:
    result = verify_arc(
        arc_header("ARC-Seal", 1) + arc_header("ARC-Authentication-Results", 1) + MESSAGE, GOOD
    )

    assert (result.result, result.reason) == (
        AuthResult.FAIL,
        "ARC set 1 has no ARC-Message-Signature",
    )


def test_sixty_instances_fail_without_dns() -> None:
    lookup = StaticLookup({})
    message = b"".join(arc_set(i) for i in range(60, 0, -1)) + MESSAGE

    result = verify_arc(message, lookup)

    assert (result.result, result.reason) == (AuthResult.FAIL, "ARC-Seal instance 60 outside 1..50")
    assert lookup.queries == []


def test_huge_arc_seal_fails_quickly() -> None:
    message = arc_header("ARC-Seal", 1, " " * 200_000 + "!") + MESSAGE

    started = time.monotonic()
    result = verify_arc(message, GOOD)

    assert result.result is AuthResult.FAIL
    assert result.reason.startswith("ARC-Seal header field too long")
    assert time.monotonic() - started < 1.0


def test_huge_instance_number_fails() -> None:
    result = verify_arc(arc_header("ARC-Seal", 10**30) + MESSAGE, GOOD)

    assert result.result is AuthResult.FAIL


def test_arc_header_that_dkimpy_cannot_locate_fails_instead_of_crashing() -> None:
    # dkimpy finds the AMS by searching for " i=1;" and indexes the (empty) match list.
    message = (
        arc_header("ARC-Seal", 1)
        + b"ARC-Message-Signature:i=1;a=rsa-sha256; d=lists.example.org; s=k1;"
        + b" h=from; bh=AAAA; b=AAAA\r\n"
        + arc_header("ARC-Authentication-Results", 1)
        + MESSAGE
    )

    result = verify_arc(message, GOOD)

    assert (result.result, result.reason) == (AuthResult.FAIL, "verifier error (IndexError)")


def test_malformed_aar_is_left_out_of_sealer_dmarc() -> None:
    sealed = listed()
    aar = get_header(sealed, "ARC-Authentication-Results")[0]
    broken = replace_header(
        sealed, "ARC-Authentication-Results", aar.replace(b"lists.example.org;", b"(((")
    )

    result = verify_arc(broken, GOOD)

    assert result.result is AuthResult.FAIL  # the seal covered the AAR
    assert result.sealer_dmarc == ()


def test_non_utf8_aar_is_left_out_of_sealer_dmarc() -> None:
    message = arc_header("ARC-Seal", 1) + arc_header("ARC-Message-Signature", 1)
    message += (
        b"ARC-Authentication-Results: i=1; lists.example.org; dmarc=pass (\xff\xfe)\r\n" + MESSAGE
    )

    assert verify_arc(message, GOOD).sealer_dmarc == ()


def test_sealer_dmarc_takes_the_first_dmarc_result_of_each_aar() -> None:
    message = arc_header("ARC-Seal", 1) + arc_header("ARC-Message-Signature", 1)
    message += (
        b"ARC-Authentication-Results: i=1; MX.Example.NET; spf=fail; dmarc=fail; dmarc=pass\r\n"
        + MESSAGE
    )

    assert verify_arc(message, GOOD).sealer_dmarc == (("mx.example.net", "fail"),)
