"""Runs every detection check of one message, in order: results in, findings out.

A dispatcher, not a list of findings: each finding is built in its own module (see
``finding_registry.py`` for which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..dns import Lookup
from ..finding_registry import doubts_sender
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
    earlier: tuple[Finding, ...] = ()  # the findings made before detection (From, DMARC)
    # Run the checks whose result cannot change the verdict too (``spoofwatch scan
    # --all-checks``); the milter leaves them out.
    all_checks: bool = True


# What detection left out of one message, because it could not change the verdict: the
# threat reading, when nothing puts the sender in doubt (threatening words from a sender
# who is not in doubt count for nothing: verdict.decide). This is the costliest check on
# ordinary mail (a third of detection on a newsletter), and ordinary mail is most mail.
SKIPPED_THREAT = "threat_content"


@dataclass(frozen=True)
class DetectionOutcome:
    findings: list[Finding]
    skipped: tuple[str, ...] = ()  # finding names whose check was left out (SKIPPED_*)


def _content_and_client(inp: DetectionInput, settings: Settings, lookup: Lookup,
                        score_threat: bool = True) -> list[Finding]:
    policy, det = settings.policy, settings.detection
    return (threat_findings(inp.message, det.patterns, policy.weight, policy.threat_min_score,
                            det.concepts, score=score_threat)
            + image_only_findings(inp.message, policy.weight)
            + dnsbl_findings(inp.envelope, det.dnsbl_zones, lookup, policy.weight))


def detect(inp: DetectionInput, settings: Settings, lookup: Lookup) -> DetectionOutcome:
    det = settings.detection
    weight = settings.policy.weight
    if not isinstance(inp.sender, FromAddress):
        # An unusable From is spoof evidence in itself (from_header_invalid); threatening
        # words next to it must still be seen, or two From headers would hide a threat.
        return DetectionOutcome(_content_and_client(inp, settings, lookup))
    imp = ImpersonationInput(inp.envelope, inp.message, inp.sender, inp.dmarc, inp.dkim,
                             det.watchlist, det.matcher)
    findings: list[Finding] = []
    findings += from_domain_findings(imp, weight)
    findings += non_mail_findings(imp, lookup, weight)
    findings += display_name_findings(imp, weight)
    findings += lookalike_findings(imp, weight)
    findings += reply_to_findings(imp, weight)
    findings += identity_claim_findings(imp, weight)
    # Every finding that can put the sender in doubt is made by now (the content and
    # client checks below make none: finding_registry says so, and a test keeps it so).
    needed = inp.all_checks or doubts_sender((*inp.earlier, *findings))
    findings += _content_and_client(inp, settings, lookup, score_threat=needed)
    return DetectionOutcome(findings, () if needed else (SKIPPED_THREAT,))
