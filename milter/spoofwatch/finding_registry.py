"""Every finding spoofwatch can report, in one table: its name, default weight, evidence
class, the module that builds it and one line saying what it means.

The names are stable: headers, logs, quarantine records and policies use them. A policy's
``weights:`` may change the weight of any finding here (an unknown name is a configuration
error, so a typo cannot silently switch nothing off); the verdict reads the evidence
classes; the plan reads ``defers_reject``. ``tests/unit/test_finding_registry.py`` checks
that each ``module`` builds the finding named and that nothing builds an unregistered one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from .results import Finding


@dataclass(frozen=True)
class FindingKind:
    name: str
    weight: float  # the default; a policy's weights: may change it (unless not adjustable)
    module: str  # the module that builds it, under spoofwatch/ ("auth/dmarc_findings.py")
    description: str
    # "The sender is not who it claims to be", strongly enough that together with
    # threatening content the message is a threat (see verdict.decide).
    spoof_evidence: bool = False
    threat_content: bool = False  # "this content threatens or coerces the reader"
    # The verdict was reached while DNS failed and may be wrong: a reject becomes a tempfail.
    defers_reject: bool = False
    adjustable: bool = True  # False: the weight is fixed, a policy may not set it


_DMARC = "auth/dmarc_findings.py"

REGISTRY: tuple[FindingKind, ...] = (
    FindingKind("from_header_invalid", 4.0, "detect/from_header.py",
                "No From header, several, several addresses in different domains, or "
                "an unparseable one.", spoof_evidence=True),
    FindingKind("dmarc_fail_reject", 6.0, _DMARC,
                "DMARC failed and the policy that applies is reject.", spoof_evidence=True),
    FindingKind("dmarc_fail_quarantine", 6.0, _DMARC,
                "DMARC failed and the policy that applies is quarantine.",
                spoof_evidence=True),
    # Not spoof evidence on purpose: mailing lists break DKIM of p=none domains all the
    # time, and a list forwarding a news report about a threat must not be quarantined.
    FindingKind("dmarc_fail_none", 1.0, _DMARC,
                "DMARC failed and the policy that applies is none."),
    FindingKind("dmarc_temperror", 0.0, _DMARC,
                "DMARC could not be evaluated because DNS failed.", defers_reject=True),
    FindingKind("dmarc_permerror", 1.0, _DMARC,
                "DMARC could not be evaluated (for example a broken record)."),
    FindingKind("arc_override", 0.0, _DMARC,
                "DMARC failed but a trusted ARC sealer vouched for the message."),
    # Replaces every other finding; its weight is 0 by definition (it clears, it never adds).
    FindingKind("allowlisted", 0.0, "detect/allowlist.py",
                "An authenticated sender on the allowlist: all other findings were cleared.",
                adjustable=False),
    FindingKind("from_domain_unauthenticated", 6.0, "detect/from_domain.py",
                "The From domain belongs to a watched organization and the message is not "
                "authenticated as theirs.", spoof_evidence=True),
    FindingKind("non_mail_domain", 4.0, "detect/non_mail.py",
                "The From domain sends no mail, by the watchlist or by its own DNS.",
                spoof_evidence=True),
    FindingKind("display_name_impersonation", 4.0, "detect/display_name.py",
                "The display name is a watched organization's while the address is not "
                "theirs.", spoof_evidence=True),
    FindingKind("lookalike_domain", 5.0, "detect/lookalike_finding.py",
                "From, Reply-To or the envelope sender imitates a watched domain.",
                spoof_evidence=True),
    FindingKind("reply_to_diversion", 3.0, "detect/reply_to.py",
                "Mail posing as a watched organization sends replies elsewhere.",
                spoof_evidence=True),
    FindingKind("identity_claim", 4.0, "detect/identity_claim.py",
                "The text says, in the first person, that it comes from a watched "
                "organization, and the message is not authenticated as theirs.",
                spoof_evidence=True),
    FindingKind("threat_content", 6.0, "detect/threat.py",
                "The text intimidates or coerces the reader.", threat_content=True),
    # Weak and not evidence about the sender: it names a filter-evasion trick in the text.
    FindingKind("hidden_text", 1.0, "detect/hidden_text.py",
                "Text hidden from the reader (invisible or zero-size HTML) was inserted "
                "into a word or a line they see."),
    # Weak and not evidence about the sender: we do not read text in images.
    FindingKind("image_only", 1.0, "detect/image_only.py",
                "The message shows images and almost no text (text in images is not "
                "read)."),
    FindingKind("dnsbl_listed", 2.0, "detect/dnsbl.py",
                "The client address is listed by a configured DNS blocklist."),
    # Visible in the reasons, but not evidence about the sender.
    FindingKind("unreadable_structure", 1.0, "detect/structure.py",
                "Part of the message could not be read as a whole (hostile MIME, limits "
                "reached)."),
)

BY_NAME: dict[str, FindingKind] = {kind.name: kind for kind in REGISTRY}
# The weights a policy starts from and may change.
DEFAULT_WEIGHTS: dict[str, float] = {k.name: k.weight for k in REGISTRY if k.adjustable}
SPOOF_EVIDENCE = frozenset(k.name for k in REGISTRY if k.spoof_evidence)
THREAT_CONTENT = frozenset(k.name for k in REGISTRY if k.threat_content)
DEFERS_REJECT = frozenset(k.name for k in REGISTRY if k.defers_reject)


def doubts_sender(findings: Iterable[Finding]) -> bool:
    """Do these findings put the sender in doubt (a weighted piece of spoof evidence)?

    Without it, threatening content counts for nothing (``verdict.decide``), which is also
    why detection may leave the threat reading out (``detect.checks``): one definition for
    both, so the shortcut can never disagree with the verdict.
    """
    return any(f.weight > 0 and f.name in SPOOF_EVIDENCE for f in findings)


def unknown_weight_problem(name: str) -> str:
    """Why a policy may not set the weight of ``name`` ("" when it may)."""
    kind = BY_NAME.get(name)
    if kind is not None:
        if kind.adjustable:
            return ""
        return f"the weight of {name} is fixed at {kind.weight:g}: {kind.description}"
    close = difflib.get_close_matches(name, list(DEFAULT_WEIGHTS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown finding {name!r}; {hint}known: {', '.join(sorted(DEFAULT_WEIGHTS))}"
