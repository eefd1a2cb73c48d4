"""From a verdict to actions: the headers we add and remove, tag, banner, disposition.

Pure: it only describes what the shell (milter or ``scan``) must do.
"""

from __future__ import annotations

import html

from .actions import (
    Action,
    AddHeader,
    ChangeHeader,
    DeleteHeader,
    Quarantine,
    ReplaceBody,
    Reply,
    describe,
)
from .auth.authresults import fold_results, forged_indexes
from .banner import add_banner
from .config import Config, Policy
from .message import Message
from .verdict import Verdict, header_value, reasons_value, safe_reason

VERDICT_HEADER = "X-Spoofwatch-Verdict"
REASONS_HEADER = "X-Spoofwatch-Reasons"
OUR_HEADER_PREFIX = "x-spoofwatch-"


def cleanup_actions(message: Message, authserv_id: str) -> list[Action]:
    """Remove headers that claim to be ours: forged A-R and any X-Spoofwatch-* header."""
    actions: list[Action] = []
    for index in reversed(forged_indexes(message.headers, authserv_id, "Authentication-Results")):
        actions.append(DeleteHeader("Authentication-Results", index, "claims our authserv-id"))
    seen: dict[str, int] = {}
    ours: list[tuple[str, int]] = []
    for name, _ in message.headers:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        if key.startswith(OUR_HEADER_PREFIX):
            ours.append((name, seen[key]))
    for name, index in reversed(ours):
        actions.append(DeleteHeader(name, index, "arrived from outside"))
    return actions


def plan(report_verdict: Verdict, message: Message, config: Config,
         ar_value: str | None) -> tuple[tuple[Action, ...], tuple[str, ...]]:
    """Turn a verdict into actions; in monitor mode also say what enforcement would do."""
    policy = config.policy
    wanted = policy.actions_for(report_verdict.level)
    actions: list[Action] = cleanup_actions(message, config.authserv_id)
    if ar_value is not None:
        actions.append(AddHeader("Authentication-Results", fold_results(ar_value), top=True))
    actions.append(AddHeader(VERDICT_HEADER, header_value(report_verdict)))
    actions.append(AddHeader(REASONS_HEADER, reasons_value(report_verdict)))
    enforcing: list[Action] = []
    if "banner" in wanted:
        enforcing.extend(_banner(message, policy, report_verdict))
    if "subject_tag" in wanted:
        enforcing.extend(_subject_tag(message, policy.subject_tag))
    if "quarantine" in wanted:
        names = ", ".join(dict.fromkeys(f.name for f in report_verdict.findings if f.weight))
        enforcing.append(Quarantine(
            f"spoofwatch {report_verdict.level.value} (score {report_verdict.score:g}): {names}"))
    dns_failed = any(f.name == "dmarc_temperror" for f in report_verdict.findings)
    if "reject" in wanted and dns_failed:
        # A verdict reached while DNS failed may be wrong: a permanent 550 would bounce
        # real mail for good, a 451 makes the sender try again once DNS answers.
        enforcing.append(Reply.parse("tempfail", policy.tempfail_reply))
    elif "reject" in wanted:
        enforcing.append(Reply.parse("reject", policy.reject_reply))
    elif "tempfail" in wanted:
        enforcing.append(Reply.parse("tempfail", policy.tempfail_reply))
    if policy.mode == "monitor":
        return tuple(actions), tuple(describe(a) for a in enforcing)
    return tuple(actions + enforcing), ()


def banner_reasons(verdict: Verdict) -> str:
    return " ".join(safe_reason(r) for r in verdict.reasons) or "no reasons recorded"


def _banner(message: Message, policy: Policy, verdict: Verdict) -> list[Action]:
    reasons = banner_reasons(verdict)
    result = add_banner(
        message,
        policy.banner_text.replace("{reasons}", reasons),
        policy.banner_html.replace("{reasons}", html.escape(reasons)),
    )
    if result is None:
        return []
    return [ReplaceBody(result.body, result.content_type, result.content_transfer_encoding)]


def _subject_tag(message: Message, tag: str) -> list[Action]:
    subjects = message.get_all("Subject")
    if not subjects:
        return [AddHeader("Subject", tag)]
    current = subjects[0]
    if current.startswith(tag):
        return []
    return [ChangeHeader("Subject", 1, f"{tag} {current}")]
