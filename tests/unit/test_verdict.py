"""The verdict rule: weights -> score -> level, the threat rule, and the verdict headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.config import Policy, load_policy
from spoofwatch.finding_registry import SPOOF_EVIDENCE
from spoofwatch.results import Finding, Level
from spoofwatch.verdict import (
    Verdict,
    decide,
    header_value,
    reasons_value,
    safe_reason,
    score_of,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICIES / "default.yaml")


def _f(name: str, weight: float, text: str = "") -> Finding:
    return Finding(name, weight, text or f"{name} happened.")


@pytest.mark.parametrize(
    ("findings", "level", "score"),
    [
        ((), Level.CLEAN, 0),
        ((_f("dmarc_fail_none", 1),), Level.CLEAN, 1),
        ((_f("non_mail_domain", 4),), Level.SUSPECT, 4),
        ((_f("from_domain_unauthenticated", 6),), Level.SPOOF, 6),
        # 10 reaches the threat threshold, but threat needs threatening content
        ((_f("from_domain_unauthenticated", 6), _f("non_mail_domain", 4)), Level.SPOOF, 10),
        ((_f("threat_content", 6), _f("reply_to_diversion", 3)), Level.THREAT, 9),
        ((_f("threat_content", 6), _f("from_domain_unauthenticated", 6),
          _f("non_mail_domain", 4)), Level.THREAT, 16),
    ],
)
def test_levels(policy: Policy, findings: tuple[Finding, ...], level: Level,
                score: float) -> None:
    verdict = decide(findings, policy)
    assert (verdict.level, verdict.score) == (level, score)


@pytest.mark.parametrize("other", ["dmarc_fail_none", "dnsbl_listed", "arc_override", ""])
def test_threatening_words_without_spoof_evidence_count_for_nothing(
    policy: Policy, other: str
) -> None:
    findings = (_f("threat_content", 6),) + ((_f(other, 2),) if other else ())
    verdict = decide(findings, policy)
    assert verdict.level is Level.CLEAN
    [threat] = [f for f in verdict.findings if f.name == "threat_content"]
    assert threat.weight == 0 and threat.text.endswith("Not counted: the sender is not in doubt.")
    assert "threat_content happened." not in " ".join(verdict.reasons)


@pytest.mark.parametrize("evidence", sorted(SPOOF_EVIDENCE))
def test_every_kind_of_spoof_evidence_makes_threatening_words_a_threat(
    policy: Policy, evidence: str
) -> None:
    verdict = decide((_f("threat_content", 6), _f(evidence, 0.5)), policy)
    assert verdict.level is Level.THREAT


def test_spoof_evidence_with_no_weight_does_not_count(policy: Policy) -> None:
    verdict = decide((_f("threat_content", 6), _f("lookalike_domain", 0)), policy)
    assert (verdict.level, verdict.score) == (Level.CLEAN, 0)


def test_a_finding_name_counts_once_with_its_largest_weight() -> None:
    findings = (_f("lookalike_domain", 5), _f("lookalike_domain", 5), _f("dnsbl_listed", 2),
                _f("dnsbl_listed", 3))
    assert score_of(findings) == 8


def test_negative_weights_lower_the_score(policy: Policy) -> None:
    verdict = decide((_f("from_domain_unauthenticated", 6), _f("allowlisted", -3)), policy)
    assert (verdict.level, verdict.score) == (Level.SUSPECT, 3)


def test_the_verdict_header_is_one_ascii_line() -> None:
    verdict = Verdict(Level.THREAT, 16.0, (
        _f("from_domain_unauthenticated", 6), _f("non_mail_domain", 4),
        _f("threat_content", 6), _f("threat_content", 6)))
    assert header_value(verdict) == (
        "threat; score=16; findings=from_domain_unauthenticated,non_mail_domain,threat_content")
    assert header_value(Verdict(Level.CLEAN, 0.0, ())) == "clean; score=0; findings=none"
    assert header_value(Verdict(Level.SUSPECT, 3.5, (_f("x\r\ny", 3.5),))) == (
        "suspect; score=3.5; findings=x\\r\\ny")


def test_reasons_are_ascii_folded_and_never_start_a_header_of_their_own() -> None:
    hostile = "The sender's name \"\u0414NC\r\nBcc: everyone@example.com\x1b[31m\" " + "word " * 40
    verdict = Verdict(Level.SPOOF, 6.0, (_f("display_name_impersonation", 4, hostile),
                                         _f("reply_to_diversion", 2, "Short."),
                                         _f("silent", 0, "Not shown.")))
    value = reasons_value(verdict)
    assert value.isascii()
    lines = value.split("\n")
    assert all(line[:1] in (" ", "\t") for line in lines[1:])  # every line continues the field
    assert all(len(line) <= 78 for line in lines)
    assert "\r" not in value and "\x1b" not in value
    assert "\\u0414NC\\r\\nBcc:" in value.replace("\n", "")
    assert lines[-1] == "\tShort."
    assert "Not shown." not in value
    assert reasons_value(Verdict(Level.CLEAN, 0.0, ())) == "No problems found."


def test_reasons_already_ascii_safe_are_not_escaped_twice() -> None:
    sentence = 'The sender\'s name "D\\u0435mocrats" presents the message as coming from DNC.'
    assert safe_reason(sentence) == sentence
    assert safe_reason("D\u0435\r\n") == "D\\u0435\\r\\n"
    assert safe_reason("x" * 400) == "x" * 297 + "..."
    verdict = Verdict(Level.SUSPECT, 4.0, (_f("display_name_impersonation", 4, sentence),))
    assert "\\\\" not in reasons_value(verdict)
