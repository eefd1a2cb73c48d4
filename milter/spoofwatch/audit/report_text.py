"""``spoofwatch audit``'s terminal output: one table of every domain, then what must not be
missed (spoofable and being spoofed), then each organization's reasons and history.

Everything from DNS or the logs is attacker-controlled: the whole text goes through
``terminal_safe`` (no escape sequence reaches the terminal) and cells are cut to a width.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..textsafe import terminal_safe
from .history import OrgHistory
from .posture import DomainFacts, Known
from .report import AuditReport, DomainAudit

__all__ = ["HEADINGS", "report_text", "table_rows"]

HEADINGS = ("ORGANIZATION", "DOMAIN", "RATING", "DMARC", "SPF", "MX", "DKIM", "CLAIMING",
            "AUTH", "FORGED", "QUAR", "ALERT")
_MAX_CELL = 34


def _dmarc_cell(facts: DomainFacts) -> str:
    dmarc = facts.dmarc
    if dmarc.state is Known.UNKNOWN:
        return "unknown"
    if dmarc.state is Known.NO:
        return "none found" if not dmarc.record else "unusable"
    text = f"{dmarc.tag or 'p'}={dmarc.requested}"
    return text + f" (t=y: {dmarc.applied})" if dmarc.applied != dmarc.requested else text


def _spf_cell(facts: DomainFacts) -> str:
    spf = facts.spf
    if spf.present != "yes":
        return spf.present if spf.present == "unknown" else "none"
    if spf.valid is False:
        return "invalid"
    final = spf.final or "no all"
    return f"{final}, {spf.dns_lookups} lookups" + ("?" if spf.valid is None else "")


def _mx_cell(facts: DomainFacts) -> str:
    if facts.exists is Known.NO:
        return "NXDOMAIN"
    if facts.mx.state is Known.UNKNOWN:
        return "unknown"
    return "null MX" if facts.mx.null_mx else ("yes" if facts.mx.hosts else "none")


def _dkim_cell(facts: DomainFacts) -> str:
    keys = [k for k in facts.dkim if k.state == "key"]
    if keys:
        return f"{len(keys)} key{'s' if len(keys) > 1 else ''}"
    return "unknown" if any(k.state == "unknown" for k in facts.dkim) else "none found"


def _count(value: int, history: bool) -> str:
    return str(value) if history else "-"


def table_rows(report: AuditReport) -> list[tuple[str, ...]]:
    """The table's rows (without the headings), one per domain, in report order."""
    history = report.history is not None
    rows: list[tuple[str, ...]] = []
    for item in report.domains:
        facts, counts = item.facts, item.history
        rows.append((
            facts.org or "(not watched)", facts.domain, item.assessment.rating.value,
            _dmarc_cell(facts), _spf_cell(facts), _mx_cell(facts), _dkim_cell(facts),
            _count(counts.claiming, history),
            _count(counts.authenticated, history),
            _count(counts.forgeries, history),
            _count(counts.quarantined, history),
            "SPOOFABLE+SPOOFED" if item.alert else "",
        ))
    return rows


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL - 3] + "..."


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    cells = [HEADINGS, *[tuple(_cut(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADINGS))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells]


def _alerts(report: AuditReport) -> list[str]:
    if not report.alerts:
        return []
    lines = ["", "SPOOFABLE AND BEING SPOOFED:"]
    for item in report.alerts:
        lines.append(f"  {item.facts.domain} ({item.facts.org}): {item.history.forgeries} "
                     f"forgeries; {item.alert_reason}")
    return lines


def _domain_details(item: DomainAudit) -> list[str]:
    facts = item.facts
    lines = [f"  {facts.domain}: {item.assessment.rating.value}"]
    lines += [f"    - {reason}" for reason in item.assessment.reasons]
    lines.append(f"    subdomains: {item.assessment.subdomains.value} "
                 f"({item.assessment.subdomain_reason})")
    lines.append(f"    spoofwatch: {item.stance.summary} (score {item.stance.score:g}; "
                 f"findings {', '.join(item.stance.findings) or 'none'}; "
                 f"actions {', '.join(item.stance.actions)})")
    if facts.dmarc.queries:
        lines.append(f"    DMARC tree walk: {', '.join(facts.dmarc.queries)}")
    return lines


def _org_history(history: OrgHistory) -> list[str]:
    c = history.counts
    lines = [f"  history: {c.claiming} claiming, {c.authenticated} authenticated, "
             f"{c.suspect} suspect, {c.spoof} spoof, {c.threat} threat, {c.quarantined} "
             f"quarantined, {c.released} released"]
    if history.networks:
        lines.append("  forgeries came from: " + ", ".join(
            f"{network} ({count})" for network, count in history.networks))
    for seen in history.lookalikes:
        lines.append(f"  lookalike {seen.domain} ({seen.kind.replace('_', ' ')} of "
                     f"{seen.target}): {seen.messages} messages, {seen.first} to {seen.last}")
    return lines


def report_text(report: AuditReport) -> str:
    lines = _table(table_rows(report))
    lines += _alerts(report)
    for org in report.orgs():
        lines += ["", org or "(domains no organization lists)"]
        for item in report.domains:
            if item.facts.org == org:
                lines += _domain_details(item)
        history = report.history.org(org) if report.history is not None else None
        if history is not None:
            lines += _org_history(history)
    if report.history is not None:
        h = report.history
        lines += ["", f"History: {h.messages} messages from {', '.join(h.sources) or 'nothing'}"]
        lines += [f"  note: {problem}" for problem in h.problems]
    return terminal_safe("\n".join(lines))
