"""What spoofwatch does with a forgery of a domain: the milter's own ``analyze()`` on one.

The stance is not described from the rules, it is computed: a minimal message "from"
``postmaster@<domain>``, with that MAIL FROM, sent from ``192.0.2.1`` (TEST-NET-1, RFC
5737, which no real record authorizes) with an address-literal HELO and no signature, goes
through ``analyze()`` with the running configuration and the same resolver. Its level,
findings and actions are what the milter would do with such a message today.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..actions import action_names
from ..analyze import analyze
from ..config import Config
from ..dns import Lookup
from ..message import Message
from ..results import Envelope

__all__ = ["FORGER_IP", "Stance", "stance"]

FORGER_IP = "192.0.2.1"


@dataclass(frozen=True)
class Stance:
    level: str  # clean, suspect, spoof, threat
    score: float
    findings: tuple[str, ...]
    actions: tuple[str, ...]
    summary: str  # one plain sentence


def _probe(domain: str) -> Message:
    return Message.from_bytes(
        f"From: <postmaster@{domain}>\r\nTo: <audit@audit.invalid>\r\n"
        "Subject: spoofwatch audit probe\r\nDate: Thu, 1 Oct 2020 00:00:00 +0000\r\n"
        f"Message-ID: <audit-probe@{domain}>\r\n\r\nprobe\r\n".encode("ascii"))


def _summary(level: str, findings: tuple[str, ...], org: str, skipped: str) -> str:
    if skipped:
        return f"not checked ({skipped})"
    if "non_mail_domain" in findings:
        return f"sends no mail: any message from it is treated as a forgery ({level})"
    if "from_domain_unauthenticated" in findings:
        return (f"mail claiming it must authenticate as {org}; unauthenticated mail is "
                f"judged {level}")
    if level == "clean":
        return "unauthenticated mail claiming it passes as clean"
    return f"unauthenticated mail claiming it is judged {level}"


def stance(domain: str, org: str, config: Config, lookup: Lookup) -> Stance:
    envelope = Envelope(client_ip=FORGER_IP, helo=f"[{FORGER_IP}]",
                        mail_from=f"postmaster@{domain}", rcpts=("audit@audit.invalid",))
    report = analyze(envelope, _probe(domain), config, lookup)
    findings = report.verdict.names
    level = report.level.value
    return Stance(level, report.verdict.score, findings, action_names(report.actions),
                  _summary(level, findings, org, report.skipped))
