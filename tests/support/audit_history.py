"""A generated decision log of known counts for the audit's history (what happened here).

``write_decision_log`` writes lines as the service writes them (``logline.json_line``) with
the fields ``logline.decision_record`` gives; ``EXPECTED`` holds the counts they make.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from spoofwatch.logline import json_line

NOW = 1_730_332_800.0  # 2024-10-31T00:00:00Z
DAY = 86400.0


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(when))


def _record(when: float, sender: str, level: str, client_ip: str = "198.51.100.99",
            **fields: Any) -> dict[str, Any]:
    return {"time": _iso(when), "queue_id": "Q", "client_ip": client_ip, "helo": "h.example",
            "mail_from": sender, "from": sender, "level": level, "score": 0.0,
            "findings": [], "actions": ["accept"], "policy": "default", "spf": "none",
            "dkim": "none", "arc": "none", "dmarc": "none", "rcpts": ["v@example.org"],
            "outcome": "accept", **fields}


def decision_lines() -> list[str]:
    records: list[dict[str, Any]] = []
    at = NOW - 10 * DAY
    for _ in range(5):  # democrats.org, authenticated through its signing service
        records.append(_record(at, "news@democrats.org", "clean", dmarc="pass", dkim="pass",
                               dkim_domains=["ngpvan.com", "democrats.org"]))
    for i in range(3):  # forgeries of democrats.org
        records.append(_record(at, "news@democrats.org", "spoof", f"203.0.113.{i + 1}",
                               findings=["dmarc_fail_reject", "from_domain_unauthenticated"],
                               orgs=["Democratic National Committee"], dmarc="fail"))
    records.append(_record(at + DAY, "news@democrats.org", "threat", "198.51.100.7",
                           findings=["from_domain_unauthenticated", "threat_content"],
                           actions=["quarantine"], orgs=["Democratic National Committee"]))
    for _ in range(2):
        records.append(_record(at, "news@democrats.org", "suspect",
                               findings=["from_domain_unauthenticated"]))
    records.append(_record(at, "it@democrats.org", "clean", skipped="trusted client 10.0.0.1"))
    # a lookalike, first seen 2024-10-05, last 2024-10-25
    for when in (NOW - 26 * DAY, NOW - 6 * DAY):
        records.append(_record(when, "x@dernocrats.org", "spoof", "203.0.113.50",
                               findings=["lookalike_domain"],
                               orgs=["Democratic National Committee"]))
    # the 2020 domain: four forgeries over two days
    for i, when in enumerate((NOW - 11 * DAY, NOW - 11 * DAY, NOW - 10 * DAY, NOW - 10 * DAY)):
        records.append(_record(when, "info@officialproudboys.com", "spoof", f"192.0.2.{10 + i}",
                               findings=["from_domain_unauthenticated", "non_mail_domain"],
                               orgs=["Proud Boys"]))
    # a display name impersonating them from an unrelated domain
    records.append(_record(at, "pb@mailer.example", "suspect",
                           findings=["display_name_impersonation"], orgs=["Proud Boys"]))
    # outside the period, and mail that claims nobody
    records.append(_record(NOW - 40 * DAY, "news@democrats.org", "spoof"))
    records.append(_record(at, "someone@unrelated.example", "clean"))
    lines = [json_line(r) for r in records]
    lines.insert(3, "not json at all")
    lines.append(json_line({"time": _iso(at), "client_ip": "192.0.2.1", "outcome":
                            "fail_safe_accept"}))  # a message that got no verdict
    return lines


def write_decision_log(path: Path) -> None:
    """The log in two files, as rotation leaves it (FILE.1 older, FILE newer)."""
    lines = decision_lines()
    Path(f"{path}.1").write_text("\n".join(lines[:10]) + "\n")
    path.write_text("\n".join(lines[10:]) + "\n")


# (claiming, authenticated, suspect, spoof, threat, quarantined, released)
EXPECTED_DOMAINS = {
    "democrats.org": (12, 5, 2, 3, 1, 1, 0),
    "officialproudboys.com": (4, 0, 0, 4, 0, 0, 1),  # one released from the quarantine store
}
EXPECTED_ORGS = {
    "Democratic National Committee": (14, 5, 2, 5, 1, 1, 0),
    "Proud Boys": (5, 0, 1, 4, 0, 0, 1),
}
