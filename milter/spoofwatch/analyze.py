"""The pure core: (envelope, message, config, DNS) -> Report.

The milter service, ``spoofwatch scan`` and the tests all call ``analyze()``,
so what ``scan`` prints is exactly what the milter does. Nothing here talks
to the MTA, and the only input from the outside world is the ``Lookup``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from .actions import Action, AddHeader
from .addresses import parse_from
from .auth.arc import verify_arc
from .auth.authresults import build_header_value
from .auth.dkim import verify_dkim
from .auth.dmarc import evaluate_dmarc
from .auth.spf import check_spf
from .config import Config, Policy
from .detect.findings import DetectionInput, detect
from .dns import Lookup
from .domains import is_subdomain_or_self
from .message import Message
from .plan import VERDICT_HEADER, cleanup_actions, plan
from .release_header import release_actions, verify_release
from .report import Report, Skip, SkipReason
from .results import (
    ArcResult,
    AuthResult,
    DkimResult,
    DmarcResult,
    Envelope,
    Finding,
    FromAddress,
    FromProblem,
    Level,
    SpfResult,
)
from .size_limit import UNCHECKED_OVERSIZED, message_size, over_limit
from .textsafe import ascii_safe
from .verdict import Verdict, decide

log = logging.getLogger(__name__)

def skip_reason(envelope: Envelope, config: Config) -> Skip | None:
    """Why a message needs no checks: a trusted network or an authenticated submission."""
    if envelope.client_ip and config.is_trusted_client(envelope.client_ip):
        return Skip(SkipReason.TRUSTED_CLIENT, f"trusted client {envelope.client_ip}")
    if config.skip_authenticated and envelope.auth_user:
        return Skip(SkipReason.AUTHENTICATED, "authenticated submission")
    return None


def _unchecked(envelope: Envelope, message: Message, config: Config, skip: Skip,
               extra: tuple[Action, ...] = ()) -> Report:
    """A message that gets no checks: clean, with only headers claiming to be ours removed
    (and ``extra`` actions)."""
    actions = (*cleanup_actions(message, config.authserv_id), *extra)
    return Report(envelope, None, None, None, None, None, Verdict(Level.CLEAN, 0.0, ()),
                  actions, config.policy.name, skip=skip)


def _oversized(envelope: Envelope, message: Message, config: Config) -> Report:
    """Too large to check, but not trusted either: forged headers go, the verdict says why."""
    limit = config.milter.max_message_size
    skip = Skip(SkipReason.OVERSIZED, f"larger than {limit} bytes: not checked")
    return _unchecked(envelope, message, config, skip,
                      (AddHeader(VERDICT_HEADER, UNCHECKED_OVERSIZED),))


_T = TypeVar("_T")


def _timed(timings: list[tuple[str, float]], name: str, fn: Callable[[], _T]) -> _T:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        timings.append((name, time.perf_counter() - start))


def _authenticate(
    envelope: Envelope, message: Message, sender: FromAddress | FromProblem, lookup: Lookup,
    config: Config, timings: list[tuple[str, float]],
) -> tuple[SpfResult, DkimResult, ArcResult, DmarcResult | None]:
    spf = _timed(timings, "spf",
                 lambda: check_spf(lookup, envelope.client_ip, envelope.mail_from, envelope.helo))
    raw = message.as_bytes()
    dkim = _timed(timings, "dkim", lambda: verify_dkim(raw, lookup))
    arc = _timed(timings, "arc", lambda: verify_arc(raw, lookup))
    dmarc = None
    if isinstance(sender, FromAddress):
        domain = sender.domain
        dmarc = _timed(timings, "dmarc", lambda: evaluate_dmarc(domain, spf, dkim, lookup))
        dmarc = _arc_override(dmarc, arc, config)
    return spf, dkim, arc, dmarc


def _arc_override(dmarc: DmarcResult, arc: ArcResult, config: Config) -> DmarcResult:
    """Local policy override (RFC 8617 section 7.2): a trusted intermediary vouched for the mail.

    Trusted only when the chain validates and a sealer whose authserv-id is on the
    trusted list recorded dmarc=pass. The authserv-id must also lie within the
    domain that signed that seal, so nobody can claim a trusted list's identity
    under their own ARC key.
    """
    if dmarc.result is not AuthResult.FAIL or arc.result is not AuthResult.PASS:
        return dmarc
    trusted = set(config.trusted_arc_sealers)
    for authserv_id, result in arc.sealer_dmarc:
        if authserv_id.lower() not in trusted or result.lower() != "pass":
            continue
        sealed = any(is_subdomain_or_self(authserv_id, d) for d in arc.sealers)
        if sealed:
            return replace(dmarc, override=f"arc trusted sealer {authserv_id}")
    return dmarc


def _from_finding(problem: FromProblem, policy: Policy) -> Finding:
    text = {
        "missing": "The message has no From header.",
        "multiple_headers": "The message has more than one From header.",
        "multiple_addresses": "The From header names several addresses in different domains.",
        "no_domain": "The From header has no usable domain.",
        "unparseable": "The From header cannot be parsed.",
    }.get(problem.code, "The From header is unusable.")
    return Finding(
        "from_header_invalid", policy.weight("from_header_invalid"), text,
        detail=(("problem", problem.code),),
    )


def _dmarc_findings(dmarc: DmarcResult | None, policy: Policy) -> list[Finding]:
    if dmarc is None:
        return []
    domain = ascii_safe(dmarc.from_domain, 100)
    if dmarc.override and dmarc.result is AuthResult.FAIL:
        return [
            Finding(
                "arc_override", policy.weight("arc_override"),
                f"DMARC failed for {domain} but {ascii_safe(dmarc.override, 100)} vouched for it.",
            )
        ]
    if dmarc.result is AuthResult.FAIL:
        applied = dmarc.policy or "none"
        name = f"dmarc_fail_{applied}"
        return [
            Finding(
                name, policy.weight(name),
                f"DMARC failed for {domain} (policy {applied}): "
                "neither SPF nor DKIM authenticated the From domain.",
                detail=(("policy_domain", dmarc.policy_domain), ("policy", applied)),
            )
        ]
    if dmarc.result is AuthResult.TEMPERROR:
        return [
            Finding(
                "dmarc_temperror", policy.weight("dmarc_temperror"),
                f"DMARC for {domain} could not be evaluated: a DNS lookup failed.",
            )
        ]
    if dmarc.result is AuthResult.PERMERROR:
        return [
            Finding(
                "dmarc_permerror", policy.weight("dmarc_permerror"),
                f"DMARC for {domain} could not be evaluated: {ascii_safe(dmarc.reason, 120)}",
            )
        ]
    return []


def _authenticated_for(domain: str, dmarc: DmarcResult | None, dkim: DkimResult | None) -> bool:
    """DMARC pass for the From domain, or a passing DKIM signature of it (or a parent)."""
    if dmarc is not None and dmarc.from_domain == domain and dmarc.result is AuthResult.PASS:
        return True
    if dkim is None:
        return False
    return any(is_subdomain_or_self(domain, d) for d in dkim.passing_domains())


def allowlisted(sender: FromAddress | FromProblem, dmarc: DmarcResult | None,
                dkim: DkimResult | None, allowlist: tuple[str, ...]) -> str:
    """The allowlist entry that clears this message, or "".

    An entry (a domain, covering its subdomains, or an address) only applies when the
    message is authenticated for its From domain: a spoofer can write any From address,
    but cannot make DMARC or DKIM pass for it.
    """
    if not allowlist or not isinstance(sender, FromAddress):
        return ""
    address = sender.address.lower()
    domain = sender.domain
    for entry in allowlist:
        matches = (address == entry) if "@" in entry else is_subdomain_or_self(domain, entry)
        if matches and _authenticated_for(domain, dmarc, dkim):
            return entry
    return ""


def _allowlist_finding(entry: str, sender: FromAddress, findings: list[Finding]) -> Finding:
    cleared = ",".join(dict.fromkeys(f.name for f in findings if f.weight)) or "none"
    return Finding(
        "allowlisted", 0.0,
        f"The authenticated sender {ascii_safe(sender.domain, 80)} is on the allowlist "
        f"({ascii_safe(entry, 80)}); findings cleared: {cleared}.",
        detail=(("entry", entry), ("cleared", cleared)),
    )


def analyze(envelope: Envelope, message: Message, config: Config, lookup: Lookup,
            release_key: bytes = b"", size: int | None = None) -> Report:
    """Authenticate, detect, decide and plan for one message. Never raises on bad input.

    In this order, a message gets no checks when it is larger than
    ``milter.max_message_size``, released from the quarantine, or from a trusted client
    or an authenticated submission (``Report.skip`` says which).

    ``release_key`` is the quarantine's release key: a message re-injected by
    ``spoofwatch quarantine release`` carries a header signed with it and passes
    unchanged (only that header is removed); it was judged when it first arrived.

    ``size`` is for a shell that stopped keeping a message once it was over the limit
    (the milter): the size it counted (``size_limit.milter_field_size`` per header field,
    the separator, the body), with ``message`` holding what it kept of the header
    (``size_limit.kept_when_oversized``). None: the size of ``message``.
    """
    if size is None:
        size = message_size(message)
    if over_limit(size, config.milter.max_message_size):
        return _oversized(envelope, message, config)
    released = verify_release(message, release_key)
    if released is not None:
        skip = Skip(SkipReason.RELEASED, f"released from quarantine (record {released})")
        return Report(envelope, None, None, None, None, None, Verdict(Level.CLEAN, 0.0, ()),
                      release_actions(message), config.policy.name, skip=skip)
    skipped = skip_reason(envelope, config)
    policy = config.policy
    if skipped is not None:
        return _unchecked(envelope, message, config, skipped)
    sender = parse_from(message)
    timings: list[tuple[str, float]] = []
    spf, dkim, arc, dmarc = _authenticate(envelope, message, sender, lookup, config, timings)
    findings: list[Finding] = []
    if isinstance(sender, FromProblem):
        findings.append(_from_finding(sender, policy))
    findings.extend(_dmarc_findings(dmarc, policy))
    # with an unusable From too: threatening content and the DNSBL are still judged
    inp = DetectionInput(envelope, message, sender, dkim, dmarc)
    findings.extend(_timed(timings, "detect", lambda: detect(inp, config, lookup)))
    allowed = allowlisted(sender, dmarc, dkim, config.allowlist)
    if allowed and isinstance(sender, FromAddress):
        findings = [_allowlist_finding(allowed, sender, findings)]
    verdict = decide(tuple(findings), policy)
    ar_value = build_header_value(config.authserv_id, spf, dkim, arc, dmarc)
    actions, would_have = plan(verdict, message, config, ar_value)
    return Report(
        envelope=envelope, sender=sender, spf=spf, dkim=dkim, arc=arc, dmarc=dmarc,
        verdict=verdict, actions=actions, policy=policy.name,
        monitor=policy.mode == "monitor", would_have=would_have, timings=tuple(timings),
    )

