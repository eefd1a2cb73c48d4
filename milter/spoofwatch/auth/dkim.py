"""DKIM verification (RFC 6376, RFC 8463 ed25519, RFC 8301 crypto updates) with dkimpy.

Every DKIM-Signature header field is verified on its own and reported as a
:class:`~spoofwatch.results.DkimSignature`. Key lookups go through our
:class:`~spoofwatch.dns.Lookup` (dkimpy's ``dnsfunc`` hook), so they share the
resolver's cache and the per-message time budget.

Result words (RFC 8601 section 2.7.1), chosen by one rule: *who is at fault
and was the cryptography reached*:

========== ===============================================================
pass       the signature verified
fail       a well-formed signature was checked and is not valid: body hash
           mismatch, bad signature, or expired (x= in the past; RFC 6376
           3.5 makes an expired signature a PERMFAIL of the signature
           itself, not a local policy, hence ``fail`` rather than ``policy``)
neutral    the DKIM-Signature header field itself is unusable: tag-list
           syntax, a missing or malformed required tag, an algorithm we do
           not verify (including rsa-sha1, RFC 8301), From not signed.
           RFC 8601: "contained syntax errors or were not otherwise able to
           be processed"
permerror  the signature could not be verified because of the signer's key
           record: no key (NXDOMAIN/NODATA), key revoked (empty p=),
           malformed or unsupported key, key too small (< 1024 bits), key
           restrictions (h=, s=, t=s) that exclude this signature
temperror  the key lookup failed temporarily (timeout, SERVFAIL, budget)
policy     not verified by local choice: only the first
           :data:`MAX_VERIFIED` signatures of a message are checked
========== ===============================================================

Limits against hostile messages: at most :data:`MAX_VERIFIED` signatures are
verified (the topmost ones, in header order) and at most :data:`MAX_REPORTED`
are reported; a signature header longer than :data:`MAX_SIGNATURE_BYTES` or
with more than :data:`MAX_SIGNED_FIELDS` entries in h= is ``neutral`` without
being handed to dkimpy. dkimpy's relaxed body canonicalization runs a regular
expression that is quadratic in the length of a run of blanks that does not
end a line; ``dkimpy_support`` replaces it with a linear one of the same result.
Keys are fetched by ``dkim_keys.KeyFetcher`` (shared with ARC), and d= is put in
the compared form of ``spoofwatch.domains``, so it aligns with the From domain.

Time: ``now`` (default: the wall clock) decides expiry (x= older than ``now``
minus :data:`CLOCK_SKEW`) and "t= in the future" (more than
:data:`FUTURE_SLOP`). dkimpy additionally applies its own wall-clock checks
with a 10 hour slop; those are more lenient than ours when ``now`` is the wall
clock, and their outcomes are mapped to the same results.

Nothing here raises on message content: every problem becomes a result.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import dkim
from dkim.util import DuplicateTag, InvalidTagValueList, parse_tag_value

from ..dns import Lookup
from ..domains import is_dns_domain, is_subdomain_or_self
from ..results import AuthResult, DkimResult, DkimSignature
from ..textsafe import ascii_safe
from .dkim_keys import KeyFetcher, Outcome, domain_text, exception_text, key_query_name
from .dkimpy_support import (
    canonicalized_once,
    lenient_tags,
    parsed_for_dkimpy,
    text_of,
    without_whitespace,
)

__all__ = [
    "CLOCK_SKEW",
    "FUTURE_SLOP",
    "MAX_REPORTED",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGNED_FIELDS",
    "MAX_VERIFIED",
    "verify_dkim",
]

log = logging.getLogger(__name__)

MAX_VERIFIED = 16  # signatures verified per message (the rest: policy "not checked")
MAX_REPORTED = 64  # signatures reported per message (the rest are only logged)
MAX_SIGNATURE_BYTES = 8192  # a 4096-bit b= is 684 bytes; 8 KiB leaves room for long h=
MAX_SIGNED_FIELDS = 128  # entries in h=; dkimpy's header selection is O(h= x headers)
CLOCK_SKEW = 300  # seconds an x= may lie in the past before the signature counts as expired
FUTURE_SLOP = 36000  # seconds a t= may lie in the future (dkimpy's own tolerance)

ACCEPTED_ALGORITHMS = frozenset({b"rsa-sha256", b"ed25519-sha256"})
_REQUIRED_TAGS = (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DIGITS = re.compile(rb"[0-9]{1,12}")
_SIGNATURE_HEADER = b"dkim-signature"


# --------------------------------------------------------------------------
# DKIM


def verify_dkim(raw_message: bytes, lookup: Lookup, now: float | None = None) -> DkimResult:
    """Verify every DKIM-Signature of `raw_message` (topmost first) and report each."""
    when = time.time() if now is None else float(now)
    raw = bytes(raw_message)
    try:
        verifier = parsed_for_dkimpy(raw)
    except Exception as exc:  # noqa: BLE001 - dkimpy's parser raises assorted errors on junk (even IndexError)
        return _unparseable(raw, exc)
    values = [value for name, value in verifier.headers if name.lower() == _SIGNATURE_HEADER]
    if len(values) > MAX_REPORTED:
        log.info(
            "message has %d DKIM signatures; reporting the first %d", len(values), MAX_REPORTED
        )
    signatures = []
    with canonicalized_once():  # the signatures share one relaxed body
        for index, value in enumerate(values[:MAX_REPORTED]):
            if index >= MAX_VERIFIED:
                outcome = Outcome(
                    AuthResult.POLICY,
                    f"not checked: only {MAX_VERIFIED} signatures are verified per message",
                )
                signatures.append(_report(value, outcome))
                continue
            signatures.append(_verify_one(verifier, index, value, lookup, when))
    return DkimResult(tuple(signatures))


def _unparseable(raw: bytes, exc: Exception) -> DkimResult:
    """The header section defeats dkimpy's parser: report any signatures we can still see."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    lines = re.split(rb"\r?\n(?![ \t])", head)
    values = [
        line.split(b":", 1)[1]
        for line in lines
        if b":" in line and line.split(b":", 1)[0].strip().lower() == _SIGNATURE_HEADER
    ]
    log.debug("dkimpy could not parse the header section: %r", exc)
    reason = "message header section unparseable"
    outcome = Outcome(AuthResult.PERMERROR, reason)
    return DkimResult(tuple(_report(value, outcome) for value in values[:MAX_REPORTED]))


def _report(value: bytes, outcome: Outcome) -> DkimSignature:
    tags = lenient_tags(value[:MAX_SIGNATURE_BYTES].replace(b"\r\n", b""))
    return DkimSignature(
        domain=domain_text(tags.get(b"d", b"")),
        selector=text_of(without_whitespace(tags.get(b"s", b""))),
        algorithm=text_of(tags.get(b"a", b"")).lower(),
        result=outcome.result,
        reason=outcome.reason,
        b_prefix=text_of(without_whitespace(tags.get(b"b", b""))[:8]),
        identity=text_of(tags.get(b"i", b"")),
    )


def _verify_one(
    verifier: dkim.DKIM, index: int, value: bytes, lookup: Lookup, when: float
) -> DkimSignature:
    checked = _precheck(value, when)
    if isinstance(checked, Outcome):
        return _report(value, checked)
    identity = checked.get(b"i")
    fetcher = KeyFetcher(
        lookup,
        algorithm=checked[b"a"],
        identity_domain=domain_text(identity.rpartition(b"@")[2]) if identity is not None else None,
        signing_domain=domain_text(checked[b"d"]),
    )
    # one verifier for every signature: relaxed_body (installed in dkimpy by
    # dkimpy_support) squeezes blank runs itself, in linear time
    return _report(value, _run(verifier, index, fetcher))


def _run(verifier: dkim.DKIM, index: int, fetcher: KeyFetcher) -> Outcome:
    try:
        valid = verifier.verify(idx=index, dnsfunc=fetcher)
    except dkim.ValidationError as exc:
        return _validation_outcome(str(exc))
    except dkim.KeyFormatError as exc:
        return Outcome(AuthResult.PERMERROR, f"unusable key: {exception_text(exc)}")
    except dkim.MessageFormatError as exc:
        return Outcome(AuthResult.NEUTRAL, f"malformed signature: {exception_text(exc)}")
    except dkim.DKIMException as exc:
        return Outcome(AuthResult.PERMERROR, exception_text(exc))
    except Exception as exc:  # noqa: BLE001 - third-party code on hostile input: never let it crash the milter
        log.info("dkimpy failed on signature %d: %r", index, exc)
        return Outcome(AuthResult.PERMERROR, f"verifier error ({type(exc).__name__})")
    if valid:
        return Outcome(AuthResult.PASS, "signature verified")
    problem = fetcher.first_problem()
    if problem is not None:
        return problem
    return Outcome(AuthResult.FAIL, "signature did not verify")


def _validation_outcome(message: str) -> Outcome:
    if message.startswith("body hash mismatch"):
        return Outcome(AuthResult.FAIL, "body hash mismatch")
    if message.startswith("x= value is past"):
        return Outcome(AuthResult.FAIL, "signature expired")
    return Outcome(AuthResult.NEUTRAL, f"malformed signature: {ascii_safe(message, 120)}")


def _precheck(value: bytes, when: float) -> dict[bytes, bytes] | Outcome:
    """Our own linear-time checks of the signature header, before dkimpy sees it.

    Returns the parsed tags, or the outcome for an unusable signature.
    """
    if len(value) > MAX_SIGNATURE_BYTES:
        return Outcome(AuthResult.NEUTRAL, f"signature header too long ({len(value)} bytes)")
    try:
        tags = parse_tag_value(value)
    except DuplicateTag as exc:
        return Outcome(
            AuthResult.NEUTRAL, f"duplicate tag {ascii_safe(text_of(bytes(exc.args[0])), 20)}="
        )
    except (InvalidTagValueList, IndexError, TypeError):
        return Outcome(AuthResult.NEUTRAL, "malformed tag list")
    for check in _CHECKS:
        problem = check(tags, when)
        if problem is not None:
            return problem
    return tags


def _check_required(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    missing = [t.decode() for t in _REQUIRED_TAGS if t not in tags]
    if missing:
        return Outcome(AuthResult.NEUTRAL, "missing " + ", ".join(f"{t}=" for t in missing))
    if tags[b"v"] != b"1":
        return Outcome(
            AuthResult.NEUTRAL, f"unsupported version v={ascii_safe(text_of(tags[b'v']), 20)}"
        )
    return None


def _check_algorithm(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    algorithm = tags[b"a"]
    if algorithm == b"rsa-sha1":
        return Outcome(AuthResult.NEUTRAL, "rsa-sha1 signatures are not accepted (RFC 8301)")
    if algorithm not in ACCEPTED_ALGORITHMS:
        return Outcome(
            AuthResult.NEUTRAL, f"unsupported algorithm {ascii_safe(text_of(algorithm), 40)}"
        )
    canon = tags.get(b"c", b"simple/simple").split(b"/")
    if len(canon) > 2 or any(c not in (b"simple", b"relaxed") for c in canon):
        return Outcome(
            AuthResult.NEUTRAL,
            f"unsupported canonicalization c={ascii_safe(text_of(tags[b'c']), 40)}",
        )
    if tags.get(b"q", b"dns/txt") != b"dns/txt":
        return Outcome(AuthResult.NEUTRAL, "unsupported query method q=")
    return None


def _check_base64(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    for name in (b"b", b"bh"):
        compact = without_whitespace(tags[name])
        if not compact or len(compact) % 4 or _BASE64.fullmatch(compact) is None:
            return Outcome(AuthResult.NEUTRAL, f"{name.decode()}= is not valid base64")
    return None


def _check_names(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    if key_query_name(tags[b"s"], tags[b"d"]) is None or not tags[b"s"] or not tags[b"d"]:
        return Outcome(AuthResult.NEUTRAL, "invalid d= or s=")
    if re.search(rb"[()<>\[\]:;@\\,\s\"]", tags[b"d"]):
        return Outcome(AuthResult.NEUTRAL, "invalid d=")
    signer = domain_text(tags[b"d"])
    # RFC 6376 3.5: d= is a domain name, which has no trailing dot; the rest of the
    # rule is the one every check applies (spoofwatch.domains)
    if tags[b"d"].rstrip().endswith(b".") or not is_dns_domain(signer):
        return Outcome(AuthResult.NEUTRAL, "invalid d=")
    identity = tags.get(b"i")
    if identity is not None:
        domain = domain_text(identity.rpartition(b"@")[2])
        if b"@" not in identity or not is_subdomain_or_self(domain, signer):
            return Outcome(AuthResult.NEUTRAL, "i= is not within d=")
    return None


def _check_headers(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    signed = [h.strip().lower() for h in tags[b"h"].split(b":")]
    if len(signed) > MAX_SIGNED_FIELDS:
        return Outcome(AuthResult.NEUTRAL, f"h= lists too many header fields ({len(signed)})")
    if b"from" not in signed:
        # RFC 6376 6.1.1: the Verifier MUST ignore such a signature (PERMFAIL).
        return Outcome(AuthResult.NEUTRAL, "From header field not signed")
    if b"l" in tags and _DIGITS.fullmatch(tags[b"l"]) is None:
        return Outcome(AuthResult.NEUTRAL, "l= is not a number")
    return None


def _check_times(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    for name in (b"t", b"x"):
        if name in tags and _DIGITS.fullmatch(tags[name]) is None:
            return Outcome(AuthResult.NEUTRAL, f"{name.decode()}= is not a timestamp")
    signed_at = int(tags[b"t"]) if b"t" in tags else None
    expires = int(tags[b"x"]) if b"x" in tags else None
    if signed_at is not None and expires is not None and expires < signed_at:
        return Outcome(AuthResult.NEUTRAL, "x= is earlier than t=")
    if signed_at is not None and signed_at > when + FUTURE_SLOP:
        return Outcome(AuthResult.NEUTRAL, "t= is in the future")
    if expires is not None and expires < when - CLOCK_SKEW:
        return Outcome(AuthResult.FAIL, "signature expired")
    return None


_CHECKS: tuple[Callable[[dict[bytes, bytes], float], Outcome | None], ...] = (
    _check_required,
    _check_algorithm,
    _check_base64,
    _check_names,
    _check_headers,
    _check_times,
)
