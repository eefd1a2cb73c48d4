"""Runs every detection check of one message, in order: results in, findings out.

A dispatcher, not a list of findings: each finding is built in its own module (see
``finding_registry.py`` for which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..dns import Lookup
from ..message import Message
from ..results import DkimResult, DmarcResult, Envelope, Finding, FromAddress, FromProblem
from .detection import Detection
from .display_name import display_name_findings
from .dnsbl import dnsbl_findings
from .from_domain import from_domain_findings
from .identity_claim import identity_claim_findings
from .image_only import image_only_findings
from .impersonation import ImpersonationInput
from .lookalike_finding import lookalike_findings
from .non_mail import non_mail_findings
from .reply_to import reply_to_findings
from .threat import threat_findings


class PolicyWeights(Protocol):
    """The part of a policy the checks read (``config.Policy`` has it)."""

    @property
    def threat_min_score(self) -> float: ...

    def weight(self, finding: str) -> float: ...


class Settings(Protocol):
    """The part of the configuration the checks read (``config.Config`` has it). Declared
    here, structurally, so that detect never imports config: config builds ``Detection``
    with detect's loaders, and an import back would make the two packages a cycle."""

    @property
    def policy(self) -> PolicyWeights: ...

    @property
    def detection(self) -> Detection: ...


@dataclass(frozen=True)
class DetectionInput:
    envelope: Envelope
    message: Message
    sender: FromAddress | FromProblem  # with an unusable From only content and DNSBL run
    dkim: DkimResult | None
    dmarc: DmarcResult | None


def _content_and_client(inp: DetectionInput, settings: Settings,
                        lookup: Lookup) -> list[Finding]:
    policy, det = settings.policy, settings.detection
    return (threat_findings(inp.message, det.patterns, policy.weight, policy.threat_min_score,
                            det.concepts)
            + image_only_findings(inp.message, policy.weight)
            + dnsbl_findings(inp.envelope, det.dnsbl_zones, lookup, policy.weight))


def detect(inp: DetectionInput, settings: Settings, lookup: Lookup) -> list[Finding]:
    det = settings.detection
    weight = settings.policy.weight
    if not isinstance(inp.sender, FromAddress):
        # An unusable From is spoof evidence in itself (from_header_invalid); threatening
        # words next to it must still be seen, or two From headers would hide a threat.
        return _content_and_client(inp, settings, lookup)
    imp = ImpersonationInput(inp.envelope, inp.message, inp.sender, inp.dmarc, inp.dkim,
                             det.watchlist, det.matcher)
    findings: list[Finding] = []
    findings += from_domain_findings(imp, weight)
    findings += non_mail_findings(imp, lookup, weight)
    findings += display_name_findings(imp, weight)
    findings += lookalike_findings(imp, weight)
    findings += reply_to_findings(imp, weight)
    findings += identity_claim_findings(imp, weight)
    findings += _content_and_client(inp, settings, lookup)
    return findings
