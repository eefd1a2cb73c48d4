"""DKIM verification against keys served by the loopback DNS server."""

from __future__ import annotations

import time

from spoofwatch.auth.dkim import verify_dkim
from spoofwatch.dns import Resolver
from spoofwatch.results import AuthResult, DkimSignature
from support.dnsserver import DnsTestServer
from support.mailfactory import (
    append_body,
    dkim_sign,
    ed25519_key,
    get_header,
    make_message,
    publish_key,
    publish_revoked_key,
    replace_header,
    rsa_key,
)

AUTHOR = "Alice Example <alice@example.com>"
MESSAGE = make_message(AUTHOR, "bob@example.net", "Budget vote", "The vote is on Tuesday.\n")


def only(signatures: tuple[DkimSignature, ...]) -> DkimSignature:
    assert len(signatures) == 1
    return signatures[0]


def b_value(signed: bytes) -> str:
    value = get_header(signed, "DKIM-Signature")[0].decode()
    return "".join(value.split("b=")[-1].split())


def test_rsa_signature_passes(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "s1", "example.com")

    result = verify_dkim(signed, resolver)

    assert result.result is AuthResult.PASS
    assert result.signatures == (
        DkimSignature(
            domain="example.com",
            selector="s1",
            algorithm="rsa-sha256",
            result=AuthResult.PASS,
            reason="signature verified",
            b_prefix=b_value(signed)[:8],
            identity="",
        ),
    )


def test_key_is_fetched_from_selector_domainkey_name(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)

    verify_dkim(dkim_sign(MESSAGE, key, "s1", "example.com"), resolver)

    assert dns.queries == [("s1._domainkey.example.com", "TXT")]


def test_rsa_2048_key_split_over_several_txt_strings_passes(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = rsa_key(2048)
    assert len(key.txt) > 255  # the server splits it into several character-strings
    publish_key(dns, "big", "example.com", key)

    result = verify_dkim(dkim_sign(MESSAGE, key, "big", "example.com"), resolver)

    assert only(result.signatures).result is AuthResult.PASS


def test_ed25519_signature_passes(dns: DnsTestServer, resolver: Resolver) -> None:
    key = ed25519_key()
    publish_key(dns, "ed", "example.com", key)

    sig = only(verify_dkim(dkim_sign(MESSAGE, key, "ed", "example.com"), resolver).signatures)

    assert (sig.result, sig.algorithm, sig.selector) == (AuthResult.PASS, "ed25519-sha256", "ed")


def test_identity_is_reported(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "s1", "example.com", identity="alice@news.example.com")

    sig = only(verify_dkim(signed, resolver).signatures)

    assert (sig.result, sig.identity) == (AuthResult.PASS, "alice@news.example.com")


def test_every_signature_is_reported_topmost_first(dns: DnsTestServer, resolver: Resolver) -> None:
    good, wrong = rsa_key(), rsa_key(name="not-published")
    publish_key(dns, "good", "example.com", good)
    publish_key(dns, "bad", "example.org", good)  # the key does not match the one that signed
    signed = dkim_sign(MESSAGE, good, "good", "example.com")
    signed = dkim_sign(signed, wrong, "bad", "example.org")

    result = verify_dkim(signed, resolver)

    assert [(s.domain, s.result, s.reason) for s in result.signatures] == [
        ("example.org", AuthResult.FAIL, "signature did not verify"),
        ("example.com", AuthResult.PASS, "signature verified"),
    ]
    assert result.result is AuthResult.PASS
    assert result.passing_domains() == ("example.com",)


def test_altered_body_fails_with_body_hash_mismatch(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "s1", "example.com")

    sig = only(verify_dkim(append_body(signed, "Vote for me!\n"), resolver).signatures)

    assert (sig.result, sig.reason) == (AuthResult.FAIL, "body hash mismatch")


def test_altered_signed_header_fails(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "s1", "example.com")

    sig = only(
        verify_dkim(replace_header(signed, "Subject", "Budget vote moved"), resolver).signatures
    )

    assert (sig.result, sig.reason) == (AuthResult.FAIL, "signature did not verify")


def test_signature_with_past_expiry_fails_as_expired(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    day_ago = int(time.time()) - 86400
    signed = dkim_sign(MESSAGE, key, "s1", "example.com", timestamp=day_ago - 60, expire=day_ago)

    sig = only(verify_dkim(signed, resolver).signatures)

    assert (sig.result, sig.reason) == (AuthResult.FAIL, "signature expired")


def test_expiry_is_judged_at_the_given_time(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed_at = int(time.time())
    signed = dkim_sign(
        MESSAGE, key, "s1", "example.com", timestamp=signed_at, expire=signed_at + 600
    )

    before = only(verify_dkim(signed, resolver, now=signed_at + 60).signatures)
    after = only(verify_dkim(signed, resolver, now=signed_at + 3600).signatures)

    assert before.result is AuthResult.PASS
    assert (after.result, after.reason) == (AuthResult.FAIL, "signature expired")


def test_missing_key_is_permerror(dns: DnsTestServer, resolver: Resolver) -> None:
    signed = dkim_sign(MESSAGE, rsa_key(), "gone", "example.com")

    sig = only(verify_dkim(signed, resolver).signatures)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "no key")


def test_selector_name_without_txt_record_is_permerror_no_key(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("s1._domainkey.example.com", "A", "192.0.2.1")
    signed = dkim_sign(MESSAGE, rsa_key(), "s1", "example.com")

    sig = only(verify_dkim(signed, resolver).signatures)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "no key")


def test_revoked_key_is_permerror(dns: DnsTestServer, resolver: Resolver) -> None:
    key = rsa_key()
    publish_revoked_key(dns, "old", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "old", "example.com")

    sig = only(verify_dkim(signed, resolver).signatures)

    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "key revoked")


def test_signature_of_unrelated_domain_passes_with_its_own_domain(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = rsa_key(name="esp")
    publish_key(dns, "esp1", "bulkmailer.example.net", key)
    signed = dkim_sign(MESSAGE, key, "esp1", "bulkmailer.example.net")

    result = verify_dkim(signed, resolver)

    assert [(s.domain, s.result) for s in result.signatures] == [
        ("bulkmailer.example.net", AuthResult.PASS)
    ]
    assert result.passing_domains() == ("bulkmailer.example.net",)


def test_unanswered_key_query_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.never_answer("slow._domainkey.example.com")
    signed = dkim_sign(MESSAGE, rsa_key(), "slow", "example.com")

    sig = only(verify_dkim(signed, resolver).signatures)

    assert sig.result is AuthResult.TEMPERROR
    assert sig.reason.startswith("key lookup failed: ")


def test_servfail_on_key_query_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.servfail("s1._domainkey.example.com")
    signed = dkim_sign(MESSAGE, rsa_key(), "s1", "example.com")

    assert only(verify_dkim(signed, resolver).signatures).result is AuthResult.TEMPERROR


def test_malformed_signature_is_neutral_without_a_key_query(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    signed = dkim_sign(MESSAGE, key, "s1", "example.com")
    value = get_header(signed, "DKIM-Signature")[0].replace(b"bh=", b"xh=")
    broken = replace_header(signed, "DKIM-Signature", value)

    sig = only(verify_dkim(broken, resolver).signatures)

    assert (sig.result, sig.reason, sig.domain) == (
        AuthResult.NEUTRAL,
        "missing bh=",
        "example.com",
    )
    assert dns.queries == []


def test_unsigned_message_has_no_signatures(dns: DnsTestServer, resolver: Resolver) -> None:
    result = verify_dkim(MESSAGE, resolver)

    assert result.signatures == ()
    assert result.result is AuthResult.NONE


def test_the_signatures_of_a_message_share_one_relaxed_body(
    dns: DnsTestServer, resolver: Resolver, monkeypatch
) -> None:
    """An RSA and an ed25519 signature: the body is canonicalized once, both pass, and
    nothing of the message is kept once it is verified."""
    import spoofwatch.auth.dkimpy_support as support

    rsa, ed = rsa_key(), ed25519_key()
    publish_key(dns, "s1", "example.com", rsa)
    publish_key(dns, "ed", "example.com", ed)
    message = make_message(AUTHOR, "bob@example.net", "Budget vote",
                           "The vote  is on\tTuesday.  \n\n\n")
    signed = dkim_sign(dkim_sign(message, rsa, "s1", "example.com"), ed, "ed", "example.com")
    calls = []
    real = support._relaxed_body
    monkeypatch.setattr(support, "_relaxed_body", lambda body: calls.append(1) or real(body))

    result = verify_dkim(signed, resolver)

    assert [s.result for s in result.signatures] == [AuthResult.PASS, AuthResult.PASS]
    assert len(calls) == 1
    assert support._MEMO.entry is None and support._MEMO.on is False


def test_a_signature_over_a_long_header_list_passes(dns: DnsTestServer, resolver: Resolver) -> None:
    """The test signer folds h= only between names (it once folded inside one)."""
    key = rsa_key()
    publish_key(dns, "s1", "example.com", key)
    names = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
             "Content-Transfer-Encoding", "Reply-To", "List-Unsubscribe", "List-Id", "From"]
    signed = dkim_sign(MESSAGE, key, "s1", "example.com", headers=names)
    assert b"content-transfer-encoding" in signed.replace(b"\r\n ", b"").replace(b" ", b"")
    assert b"content-tra\r\n" not in signed

    assert only(verify_dkim(signed, resolver).signatures).result is AuthResult.PASS
