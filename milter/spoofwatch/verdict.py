"""Findings and policy weights -> a score, a level and its reasons.

Like rspamd's symbols: every finding carries a weight, the sum is the score,
and the policy's thresholds turn the score into a level. One rule overrides
the sum: ``threat`` needs both threatening content and evidence that the
sender is not who it claims to be, so a news report that quotes a threat in
authenticated mail can never be a threat, however many phrases it quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import Policy
from .results import LEVEL_ORDER, Finding, Level

# Findings that say "this content threatens or coerces the reader".
THREAT_CONTENT = frozenset({"threat_content"})
# Findings that say "the sender is not who it claims to be" strongly enough that, together
# with threatening content, the message is a threat. A DMARC failure under p=none is left
# out on purpose: mailing lists break DKIM of p=none domains all the time, and a list
# forwarding a news report about a threat must not be quarantined.
SPOOF_EVIDENCE = frozenset(
    {
        "dmarc_fail_reject",
        "dmarc_fail_quarantine",
        "from_header_invalid",
        "from_domain_unauthenticated",
        "display_name_impersonation",
        "lookalike_domain",
        "non_mail_domain",
        "reply_to_diversion",
    }
)


@dataclass(frozen=True)
class Verdict:
    level: Level
    score: float
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.text for f in self.findings if f.weight != 0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.findings)


def decide(findings: tuple[Finding, ...], policy: Policy) -> Verdict:
    names = {f.name for f in findings if f.weight > 0}
    has_threat = bool(names & THREAT_CONTENT)
    has_spoof = bool(names & SPOOF_EVIDENCE)
    if has_threat and not has_spoof:
        # Threatening words alone (a news report, a quoted message) raise nothing: the
        # finding stays in the report for the record, with no weight.
        findings = tuple(
            replace(f, weight=0.0, text=f.text + " Not counted: the sender is not in doubt.")
            if f.name in THREAT_CONTENT else f
            for f in findings
        )
    score = round(sum(f.weight for f in findings), 2)
    level = Level.CLEAN
    for candidate, threshold in policy.thresholds:
        if score >= threshold:
            level = candidate
    if level is Level.THREAT and not (has_threat and has_spoof):
        level = Level.SPOOF
    if has_threat and has_spoof and LEVEL_ORDER[level] >= LEVEL_ORDER[Level.SPOOF]:
        level = Level.THREAT
    return Verdict(level=level, score=score, findings=findings)
