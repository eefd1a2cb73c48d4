"""ARC chain validation (RFC 8617) with dkimpy.

:func:`verify_arc` reports the chain validation status (cv) as ``pass``,
``fail`` or ``none``, the highest instance, who sealed each hop and what each
sealer said about DMARC in its ARC-Authentication-Results.

Before dkimpy sees the chain we check its shape ourselves (RFC 8617 5.2 steps
1-2): every ARC header field must carry a valid instance 1..50, each instance
from 1 to the highest must have exactly one ARC-Authentication-Results,
ARC-Message-Signature and ARC-Seal, and no ARC header field may be larger than
the limits below. A chain that breaks these rules is ``fail`` without any DNS
query. dkimpy then validates the signatures, fetching keys through our Lookup.
ARC has no temperror: a key lookup that fails temporarily makes the chain
``fail`` and the reason says so.

``sealer_dmarc`` lists, in instance order, (authserv-id, dmarc result) for each
ARC-Authentication-Results that parses and records a dmarc= result (the first
one when it records several). It is filled whatever the chain result is, for
logging; a consumer that acts on it must first require ``result == pass`` and
trust the sealer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import authres
import dkim

from ..dns import Lookup
from ..results import ArcResult, AuthResult
from ..textsafe import ascii_safe
from .dkim_keys import KeyFetcher, domain_text
from .dkimpy_support import (
    QuietDkimpyLog,
    body_canon,
    canonicalized_once,
    lenient_tags,
    squeeze_blanks,
)

__all__ = ["MAX_ARC_HEADER_BYTES", "MAX_INSTANCES", "verify_arc"]

log = logging.getLogger(__name__)

MAX_INSTANCES = 50  # RFC 8617 4.2.1
MAX_ARC_HEADER_BYTES = 8192  # per ARC header field; a real AAR is a few hundred bytes
MAX_PARSED_AAR_BYTES = 4096  # larger AARs are left out of sealer_dmarc (authres takes ~7 us/byte)
MAX_SIGNED_FIELDS = 128  # entries in an AMS h= (dkimpy's header selection is O(h= x headers))

_SEAL = b"arc-seal"
_AMS = b"arc-message-signature"
_AAR = b"arc-authentication-results"
_KINDS = {_SEAL: "ARC-Seal", _AMS: "ARC-Message-Signature", _AAR: "ARC-Authentication-Results"}
_AAR_INSTANCE = re.compile(rb"\s*i\s*=\s*([0-9]{1,9})\s*;")
_INSTANCE_VALUE = re.compile(rb"[0-9]{1,9}")


@dataclass
class _Chain:
    """ARC header fields grouped by instance, and the first shape problem found."""

    sets: dict[int, dict[bytes, list[bytes]]] = field(default_factory=dict)
    problem: str = ""

    def flag(self, problem: str) -> None:
        if not self.problem:
            self.problem = problem

    @property
    def highest(self) -> int:
        return max(self.sets, default=0)


def verify_arc(raw_message: bytes, lookup: Lookup) -> ArcResult:
    """Validate the ARC chain of `raw_message`."""
    raw = bytes(raw_message)
    end = raw.find(b"\r\n\r\n")
    if not _ARC_FIELD.search(raw, 0, len(raw) if end < 0 else end + 2):
        # dkimpy's parser splits the whole message into lines first: not for nothing
        return ArcResult(AuthResult.NONE, "no ARC sets", 0, ())
    try:
        verifier = dkim.ARC(raw, logger=QuietDkimpyLog())
    except Exception as exc:  # noqa: BLE001 - dkimpy's parser raises assorted errors on junk (even IndexError)
        return _unparseable(raw, exc)
    chain = _collect(verifier.headers)
    if not chain.sets and not chain.problem:
        return ArcResult(AuthResult.NONE, "no ARC sets", 0, ())
    sealers = _sealers(chain)
    sealer_dmarc = _sealer_dmarc(chain)

    def result(outcome: AuthResult, reason: str) -> ArcResult:
        return ArcResult(outcome, reason, chain.highest, sealers, sealer_dmarc)

    if chain.problem:
        return result(AuthResult.FAIL, chain.problem)
    _prepare_body(verifier, chain)
    fetcher = KeyFetcher(lookup)
    try:
        with canonicalized_once():  # the sets' message signatures share one relaxed body
            status, _, reason = verifier.verify(dnsfunc=fetcher)
    except Exception as exc:  # noqa: BLE001 - third-party code on hostile input: never let it crash the milter
        log.info("dkimpy failed on the ARC chain: %r", exc)
        return result(AuthResult.FAIL, f"verifier error ({type(exc).__name__})")
    if status == dkim.CV_Pass:
        return result(AuthResult.PASS, f"chain of {chain.highest} set(s) validated")
    if status == dkim.CV_None:
        return result(AuthResult.NONE, "no ARC sets")
    problems = list(fetcher.problems.items())[:2]  # the reason must stay header-sized
    detail = "".join(f" (key {name}: {problem.reason})" for name, problem in problems)
    return result(AuthResult.FAIL, _clean(str(reason)) + detail)


_ARC_FIELD = re.compile(rb"(?im)^arc-(seal|message-signature|authentication-results)[ \t]*:")


def _unparseable(raw: bytes, exc: Exception) -> ArcResult:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    if re.search(rb"(?im)^arc-(seal|message-signature|authentication-results)\s*:", head):
        log.debug("dkimpy could not parse the header section: %r", exc)
        return ArcResult(AuthResult.FAIL, "message header section unparseable", 0, ())
    return ArcResult(AuthResult.NONE, "no ARC sets", 0, ())


def _collect(headers: Sequence[Sequence[bytes]]) -> _Chain:
    chain = _Chain()
    for name, value in headers:
        kind = name.lower()
        if kind not in _KINDS:
            continue
        label = _KINDS[kind]
        if len(value) > MAX_ARC_HEADER_BYTES:
            chain.flag(f"{label} header field too long ({len(value)} bytes)")
            continue
        instance = _instance(kind, value)
        if instance is None:
            chain.flag(f"{label} without a valid i= instance")
            continue
        if not 1 <= instance <= MAX_INSTANCES:
            chain.flag(f"{label} instance {instance} outside 1..{MAX_INSTANCES}")
            continue
        chain.sets.setdefault(instance, {}).setdefault(kind, []).append(value)
    for instance in range(1, chain.highest + 1):
        _check_set(chain, instance)
    return chain


def _instance(kind: bytes, value: bytes) -> int | None:
    """i= of an ARC header field: the leading "i=N;" of an AAR, the i= tag of AS/AMS."""
    unfolded = value.replace(b"\r\n", b"")
    if kind == _AAR:
        match = _AAR_INSTANCE.match(unfolded)
        return int(match.group(1)) if match else None
    tag = lenient_tags(unfolded).get(b"i", b"")
    return int(tag) if _INSTANCE_VALUE.fullmatch(tag) else None


def _check_set(chain: _Chain, instance: int) -> None:
    found = chain.sets.get(instance)
    if found is None:
        chain.flag(f"ARC set {instance} missing")
        return
    for kind, label in _KINDS.items():
        count = len(found.get(kind, []))
        if count == 0:
            chain.flag(f"ARC set {instance} has no {label}")
        elif count > 1:
            chain.flag(f"ARC set {instance} has {count} {label} header fields")
    for ams in found.get(_AMS, []):
        signed = lenient_tags(ams.replace(b"\r\n", b"")).get(b"h", b"").split(b":")
        if len(signed) > MAX_SIGNED_FIELDS:
            chain.flag(f"ARC-Message-Signature {instance} signs too many header fields")


def _prepare_body(verifier: dkim.ARC, chain: _Chain) -> None:
    """Hand dkimpy a squeezed body when every AMS uses relaxed body canonicalization.

    ARC-Message-Signatures default to relaxed/relaxed (dkimpy fills that in for a
    missing c=), and dkimpy's relaxed body canonicalization is quadratic in long
    runs of blanks; squeezing them keeps the relaxed canonical form.
    """
    canons = {
        body_canon(lenient_tags(ams.replace(b"\r\n", b"")).get(b"c", b"relaxed/relaxed"))
        for found in chain.sets.values()
        for ams in found.get(_AMS, [])
    }
    if canons == {b"relaxed"}:
        verifier.body = squeeze_blanks(verifier.body)


def _sealers(chain: _Chain) -> tuple[str, ...]:
    sealers = []
    for instance in sorted(chain.sets):
        for seal in chain.sets[instance].get(_SEAL, [])[:1]:
            sealers.append(domain_text(lenient_tags(seal.replace(b"\r\n", b"")).get(b"d", b"")))
    return tuple(sealers)


def _sealer_dmarc(chain: _Chain) -> tuple[tuple[str, str], ...]:
    recorded = []
    for instance in sorted(chain.sets):
        for aar in chain.sets[instance].get(_AAR, [])[:1]:
            found = _dmarc_of(aar)
            if found is not None:
                recorded.append(found)
    return tuple(recorded)


def _dmarc_of(aar: bytes) -> tuple[str, str] | None:
    """(authserv-id, first dmarc= result) of one ARC-Authentication-Results value, or None."""
    unfolded = aar.replace(b"\r\n", b"")
    match = _AAR_INSTANCE.match(unfolded)
    if match is None or len(unfolded) > MAX_PARSED_AAR_BYTES:
        return None
    try:
        payload = unfolded[match.end() :].decode("utf-8")
        header = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + payload)
    except Exception:  # noqa: BLE001 - authres raises several error types on malformed input; ignore the AAR
        return None
    for clause in header.results:
        if str(clause.method).lower() == "dmarc" and clause.result:
            return str(header.authserv_id).lower(), str(clause.result).lower()
    return None


def _clean(text: str) -> str:
    return ascii_safe(text, 160)
