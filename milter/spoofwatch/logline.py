"""One structured, escaped log line per message.

Everything an attacker controls (addresses, HELO, header text) goes through
``ascii_safe`` so it cannot forge log lines or smuggle terminal escapes.
"""

from __future__ import annotations

from typing import Any

from .actions import action_names
from .analyze import Report
from .textsafe import ascii_safe


def report_fields(report: Report, elapsed: float | None = None) -> dict[str, Any]:
    env = report.envelope
    fields: dict[str, Any] = {
        "queue_id": env.queue_id,
        "client_ip": env.client_ip,
        "helo": env.helo,
        "mail_from": env.mail_from,
        "from": report.sender.address if hasattr(report.sender, "address") else "",
        "level": report.level.value,
        "score": report.verdict.score,
        "findings": list(report.verdict.names),
        "actions": list(action_names(report.actions)),
        "policy": report.policy,
    }
    if report.spf is not None:
        fields["spf"] = report.spf.mailfrom.result.value
    if report.dkim is not None:
        fields["dkim"] = report.dkim.result.value
    if report.arc is not None:
        fields["arc"] = report.arc.result.value
    if report.dmarc is not None:
        fields["dmarc"] = report.dmarc.result.value
    if report.skipped:
        fields["skipped"] = report.skipped
    if report.monitor and report.would_have:
        fields["would_have"] = list(report.would_have)
    if elapsed is not None:
        fields["ms"] = round(elapsed * 1000, 1)
    return fields


def _render(value: Any) -> str:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    text = ascii_safe(str(value), 300)
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def message_log_line(report: Report, elapsed: float | None = None) -> str:
    return " ".join(f"{k}={_render(v)}" for k, v in report_fields(report, elapsed).items())
