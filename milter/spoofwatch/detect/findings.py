"""All detection checks of one message, in one place: results in, findings out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import Config
from ..dns import Lookup
from ..message import Message
from ..results import DkimResult, DmarcResult, Envelope, Finding, FromAddress, FromProblem
from ..textsafe import ascii_safe
from .content import score_text
from .dnsbl import listed_zones
from .impersonation import (
    ImpersonationInput,
    display_name_findings,
    from_domain_findings,
    lookalike_findings,
    non_mail_findings,
    reply_to_findings,
)
from .textextract import normalize_text, read_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionInput:
    envelope: Envelope
    message: Message
    sender: FromAddress | FromProblem  # with an unusable From only content and DNSBL run
    dkim: DkimResult | None
    dmarc: DmarcResult | None


def threat_findings(message: Message, config: Config) -> list[Finding]:
    """threat_content from the text a reader sees, plus an unreadable_structure finding
    for each thing that stopped the normal reading (read_text then read on tolerantly)."""
    policy = config.policy
    reading = read_text(message)
    findings = [
        Finding("unreadable_structure", policy.weight("unreadable_structure"), u.sentence,
                detail=u.detail)
        for u in reading.unreadable
    ]
    for unreadable in reading.unreadable:
        log.info("unreadable structure: %s", unreadable.sentence)
    result = score_text(normalize_text(reading.text), config.detection.patterns)
    if result.score < policy.threat_min_score:
        return findings
    phrases = "; ".join(dict.fromkeys(ascii_safe(m.phrase, 60) for m in result.matches[:5]))
    categories = ", ".join(c.replace("_", " ") for c in result.categories)
    return [Finding(
        "threat_content", policy.weight("threat_content"),
        f"The text intimidates or coerces the reader ({categories}; content score "
        f"{result.score:g}): {phrases}.",
        detail=tuple(("phrase", ascii_safe(m.phrase, 80)) for m in result.matches[:10]),
    ), *findings]


def dnsbl_findings(envelope: Envelope, config: Config, lookup: Lookup) -> list[Finding]:
    zones = config.detection.dnsbl_zones
    if not zones or not envelope.client_ip:
        return []
    listed = listed_zones(envelope.client_ip, zones, lookup)
    if not listed:
        return []
    return [Finding("dnsbl_listed", config.policy.weight("dnsbl_listed"),
                    f"The sending address {envelope.client_ip} is listed by {', '.join(listed)}.",
                    detail=tuple(("zone", z) for z in listed))]


def detect(inp: DetectionInput, config: Config, lookup: Lookup) -> list[Finding]:
    det = config.detection
    weight = config.policy.weight
    if not isinstance(inp.sender, FromAddress):
        # An unusable From is spoof evidence in itself (from_header_invalid); threatening
        # words next to it must still be seen, or two From headers would hide a threat.
        return threat_findings(inp.message, config) + dnsbl_findings(inp.envelope, config,
                                                                     lookup)
    imp = ImpersonationInput(inp.envelope, inp.message, inp.sender, inp.dmarc, inp.dkim,
                             det.watchlist, det.matcher)
    findings: list[Finding] = []
    findings += from_domain_findings(imp, weight)
    findings += non_mail_findings(imp, lookup, weight)
    findings += display_name_findings(imp, weight)
    findings += lookalike_findings(imp, weight)
    findings += reply_to_findings(imp, weight)
    findings += threat_findings(inp.message, config)
    findings += dnsbl_findings(inp.envelope, config, lookup)
    return findings
