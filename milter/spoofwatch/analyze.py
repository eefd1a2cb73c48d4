"""The pure core: (envelope, message, config, DNS) -> Report.

The milter service, ``spoofwatch scan`` and the tests all call ``analyze()``,
so what ``scan`` prints is exactly what the milter does. Nothing here talks
to the MTA, and the only input from the outside world is the ``Lookup``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from .actions import Action, AddHeader
from .addresses import parse_from
from .auth.arc import verify_arc
from .auth.authresults import build_header_value
from .auth.dkim import verify_dkim
from .auth.dmarc import evaluate_dmarc
from .auth.dmarc_findings import apply_arc_override, dmarc_findings
from .auth.spf import check_spf
from .config import Config
from .detect.allowlist import allowlist_finding, allowlisted
from .detect.checks import DetectionInput, detect
from .detect.from_header import from_header_finding
from .dns import Lookup
from .domains import is_qualified_domain, normalize_domain
from .message import Message
from .plan import VERDICT_HEADER, cleanup_actions, plan
from .release_header import release_actions, verify_release
from .report import Report, Skip, SkipReason
from .results import (
    ArcResult,
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


def first_questions(envelope: Envelope, sender: FromAddress | FromProblem
                    ) -> list[tuple[str, str]]:
    """The first DNS question of the SPF and DMARC checks, known before any is asked: the
    SPF records of the MAIL FROM domain and of the HELO name, and the From domain's DMARC
    record. Only names those checks would ask themselves: qualified domain names (through
    the domain layer), and SPF only for a client address that parses. The DKIM key is left
    to DKIM: whether it is asked at all depends on the signature's own checks."""
    questions: list[tuple[str, str]] = []
    names: list[str] = []
    try:
        ipaddress.ip_address(envelope.client_ip)
    except ValueError:
        pass  # SPF asks nothing for a client address it cannot use
    else:
        _local, at, mail_domain = envelope.mail_from.strip().strip("<>").rpartition("@")
        names = [mail_domain, envelope.helo] if at else [envelope.helo]
    for name in names:
        domain = normalize_domain(name)
        if is_qualified_domain(domain):
            questions.append((domain, "TXT"))
    if isinstance(sender, FromAddress) and is_qualified_domain(sender.domain):
        questions.append((f"_dmarc.{sender.domain}", "TXT"))
    return questions


def _authenticate(
    envelope: Envelope, message: Message, sender: FromAddress | FromProblem, lookup: Lookup,
    config: Config, timings: list[tuple[str, float]],
) -> tuple[SpfResult, DkimResult, ArcResult, DmarcResult | None]:
    prefetch = getattr(lookup, "prefetch", None)  # the resolver's; a test's lookup has none
    if prefetch is not None:
        prefetch(first_questions(envelope, sender))
    spf = _timed(timings, "spf",
                 lambda: check_spf(lookup, envelope.client_ip, envelope.mail_from, envelope.helo))
    raw = message.as_bytes()
    dkim = _timed(timings, "dkim", lambda: verify_dkim(raw, lookup))
    arc = _timed(timings, "arc", lambda: verify_arc(raw, lookup))
    dmarc = None
    if isinstance(sender, FromAddress):
        domain = sender.domain
        dmarc = _timed(timings, "dmarc", lambda: evaluate_dmarc(domain, spf, dkim, lookup))
        dmarc = apply_arc_override(dmarc, arc, config.trusted_arc_sealers)
    return spf, dkim, arc, dmarc


def analyze(envelope: Envelope, message: Message, config: Config, lookup: Lookup,
            release_key: bytes = b"", size: int | None = None, all_checks: bool = False
            ) -> Report:
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

    ``all_checks``: also run the checks whose result cannot change the verdict, which are
    otherwise left out and named in ``Report.skipped_checks`` (``detect.checks`` says
    which); the level, score and weighted findings are the same either way.
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
        findings.append(from_header_finding(sender, policy.weight))
    findings.extend(dmarc_findings(dmarc, policy.weight))
    # with an unusable From too: threatening content and the DNSBL are still judged
    inp = DetectionInput(envelope, message, sender, dkim, dmarc, earlier=tuple(findings),
                         all_checks=all_checks)
    detected = _timed(timings, "detect", lambda: detect(inp, config, lookup))
    findings.extend(detected.findings)
    allowed = allowlisted(sender, dmarc, dkim, config.allowlist)
    if allowed and isinstance(sender, FromAddress):
        findings = [allowlist_finding(allowed, sender, findings)]
    verdict = decide(tuple(findings), policy)
    ar_value = build_header_value(config.authserv_id, spf, dkim, arc, dmarc)
    actions, would_have = plan(verdict, message, config, ar_value)
    return Report(
        envelope=envelope, sender=sender, spf=spf, dkim=dkim, arc=arc, dmarc=dmarc,
        verdict=verdict, actions=actions, policy=policy.name,
        monitor=policy.mode == "monitor", would_have=would_have, timings=tuple(timings),
        skipped_checks=detected.skipped,
    )

