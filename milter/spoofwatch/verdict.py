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
from .finding_registry import THREAT_CONTENT, doubts_sender
from .results import LEVEL_ORDER, Finding, Level
from .textsafe import ascii_safe, fold_header

VERDICT_HEADER = "X-Spoofwatch-Verdict"
REASONS_HEADER = "X-Spoofwatch-Reasons"
_REASON_MAX = 300
_LINE_MAX = 998 - len(VERDICT_HEADER) - 2

# Which findings are threatening content and which are evidence that the sender is not who
# it claims to be (SPOOF_EVIDENCE, THREAT_CONTENT): finding_registry.py says,
# for every one.


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


def score_of(findings: tuple[Finding, ...]) -> float:
    """The sum of the weights, each finding name counted once (its largest weight).

    A name is one piece of evidence: the same lookalike domain seen in From and in the
    envelope sender, or two Reply-To addresses, must not add up to a higher level.
    """
    best: dict[str, float] = {}
    for f in findings:
        best[f.name] = max(best.get(f.name, f.weight), f.weight)
    return round(sum(best.values()), 2)


def decide(findings: tuple[Finding, ...], policy: Policy) -> Verdict:
    names = {f.name for f in findings if f.weight > 0}
    has_threat = bool(names & THREAT_CONTENT)
    has_spoof = doubts_sender(findings)
    if has_threat and not has_spoof:
        # Threatening words alone (a news report, a quoted message) raise nothing: the
        # finding stays in the report for the record, with no weight.
        findings = tuple(
            replace(f, weight=0.0, text=f.text + " Not counted: the sender is not in doubt.")
            if f.name in THREAT_CONTENT else f
            for f in findings
        )
    score = score_of(findings)
    level = Level.CLEAN
    for candidate, threshold in policy.thresholds:
        if score >= threshold:
            level = candidate
    if level is Level.THREAT and not (has_threat and has_spoof):
        level = Level.SPOOF
    if has_threat and has_spoof and LEVEL_ORDER[level] >= LEVEL_ORDER[Level.SPOOF]:
        level = Level.THREAT
    return Verdict(level=level, score=score, findings=findings)


def header_value(verdict: Verdict) -> str:
    """``<level>; score=<n>; findings=<names>`` on one line.

    This header is a contract that filters (Sieve, procmail, the MTA's header_checks)
    match on one line, so it is not folded. It cannot grow past RFC 5322's 998-character
    limit: finding names come from spoofwatch, never from the message (each is a short
    identifier, passed through ``ascii_safe`` all the same), and each appears once.
    """
    names = ",".join(dict.fromkeys(ascii_safe(f.name, 64) for f in verdict.findings)) or "none"
    return f"{verdict.level.value}; score={verdict.score:g}; findings={names}"[:_LINE_MAX]


def safe_reason(text: str, limit: int = _REASON_MAX) -> str:
    """A finding's sentence for a header or a banner: printable ASCII, at most ``limit``.

    Sentences are built ASCII-safe already (a Cyrillic letter in a display name reads
    ``\\u0435``); escaping them a second time would double every backslash and show the
    reader ``\\\\u0435``. So only text that is not printable ASCII is escaped here.
    """
    if all(" " <= c <= "~" for c in text):
        return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
    return ascii_safe(text, limit)


def reasons_value(verdict: Verdict) -> str:
    """One sentence per weighted finding, each on its own folded line.

    Sentences quote what the message claims (display names, domains) after
    ``ascii_safe``; folding never splits inside a word and removes any line break, so
    nothing from the message can start a header line of its own.
    """
    reasons = [safe_reason(r) for r in verdict.reasons] or ["No problems found."]
    return "\n\t".join(fold_header(REASONS_HEADER, r) for r in reasons)
