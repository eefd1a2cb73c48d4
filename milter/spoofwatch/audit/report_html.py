"""``spoofwatch audit --html FILE``: one self-contained page an admin can send on.

No external asset (inline CSS, an inline SVG chart per organization, no script), readable
offline and printed. Every string from DNS, the logs or the watchlist is attacker-
controlled (a TXT record, a lookalike domain) and goes through ``html.escape``, after
``utf8_safe``: a TXT record may hold bytes that are not UTF-8 (lone surrogates once
decoded), which would make writing the page fail. The table
cells carry ``data-field`` and the chart's bars ``data-date``/``data-count``, so a test can
read the rendered page back.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

from ..textsafe import utf8_safe
from .history import OrgHistory, day_of
from .report import AuditReport, DomainAudit
from .report_text import HEADINGS, table_rows

__all__ = ["chart_days", "report_html"]

_DAY = 86400
_CHART_WIDTH, _CHART_HEIGHT = 640, 120
_MAX_DAYS = 92  # a longer period is charted by week

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#111;margin:2em;max-width:80em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right}
.r-enforced{background:#d9f2d9}.r-monitor-only{background:#fff1c2}
.r-unprotected{background:#f9d0d0}.r-non-mail{background:#dde6f7}.r-unknown{background:#e4e4e4}
.alert{color:#a00;font-weight:bold}
ul.reasons{margin:.2em 0 .2em 1.2em;padding:0}
svg .bar{fill:#b33}svg text{font-size:11px;fill:#333}svg .axis{stroke:#666}
@media print{body{margin:0;font-size:11px}h2{break-after:avoid}
table,svg,section{break-inside:avoid}th{background:#eee!important}
.r-enforced,.r-monitor-only,.r-unprotected,.r-non-mail,.r-unknown{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

_NUMERIC = frozenset({"CLAIMING", "AUTH", "FORGED", "QUAR"})


def _e(text: object) -> str:
    return html.escape(utf8_safe(str(text)), quote=True)


def _table(report: AuditReport) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADINGS)
    rows = []
    for item, row in zip(report.domains, table_rows(report), strict=True):
        cells = []
        for heading, value in zip(HEADINGS, row, strict=True):
            css = "num" if heading in _NUMERIC else ""
            if heading == "RATING":
                css = f"r-{item.assessment.rating.value}"
            elif heading == "ALERT" and value:
                css = "alert"
            cells.append(f'<td class="{css}" data-field="{_e(heading.lower())}">{_e(value)}</td>')
        rows.append(f'<tr data-domain="{_e(item.facts.domain)}">{"".join(cells)}</tr>')
    return (f'<table id="domains"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def chart_days(history: OrgHistory, since: float, until: float) -> list[tuple[str, int]]:
    """Forgeries per day over the period (per week, by its first day, past _MAX_DAYS days)."""
    per_day = dict(history.forgeries_by_day)
    start = since - since % _DAY
    days = [day_of(start + i * _DAY) for i in range(int((until - start) // _DAY) + 1)]
    if len(days) <= _MAX_DAYS:
        return [(d, per_day.get(d, 0)) for d in days]
    return [(days[i], sum(per_day.get(d, 0) for d in days[i:i + 7]))
            for i in range(0, len(days), 7)]


def _chart(history: OrgHistory, since: float, until: float) -> str:
    bars = chart_days(history, since, until)
    top = max((count for _, count in bars), default=0) or 1
    step = _CHART_WIDTH / max(1, len(bars))
    unit = "week" if len(bars) and len(bars) < (until - since) / _DAY else "day"
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'width="{_CHART_WIDTH + 40}" height="{_CHART_HEIGHT + 30}" '
             f'aria-label="forgeries per {unit}">',
             f'<text x="0" y="12">{top}</text><text x="0" y="{_CHART_HEIGHT + 10}">0</text>',
             f'<line class="axis" x1="30" y1="{_CHART_HEIGHT + 5}" x2="{_CHART_WIDTH + 35}" '
             f'y2="{_CHART_HEIGHT + 5}"/>']
    for i, (date, count) in enumerate(bars):
        height = round(_CHART_HEIGHT * count / top, 1)
        parts.append(
            f'<rect class="bar" data-date="{_e(date)}" data-count="{count}" '
            f'x="{30 + i * step:.1f}" y="{_CHART_HEIGHT + 5 - height}" '
            f'width="{max(1.0, step - 1):.1f}" height="{height}"><title>{_e(date)}: {count} '
            f'forgeries</title></rect>')
    if bars:
        parts.append(f'<text x="30" y="{_CHART_HEIGHT + 25}">{_e(bars[0][0])}</text>'
                     f'<text x="{_CHART_WIDTH - 40}" y="{_CHART_HEIGHT + 25}">'
                     f'{_e(bars[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _list(items: Iterable[str]) -> str:
    return "<ul class=\"reasons\">" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _domain(item: DomainAudit) -> str:
    facts, stance = item.facts, item.stance
    dmarc = facts.dmarc
    keys = ", ".join(f"{k.selector}._domainkey.{k.domain} ({k.state})" for k in facts.dkim)
    details = [
        f"DMARC record: {dmarc.record or '(none)'}"
        + (f" at _dmarc.{dmarc.policy_domain}" if dmarc.policy_domain else ""),
        f"DMARC tree walk: {', '.join(dmarc.queries) or '(none)'}",
        f"SPF record: {facts.spf.record or '(none)'}; {facts.spf.ipv4_addresses} IPv4 "
        f"addresses authorized",
        f"DKIM: {keys or 'no key'} among {facts.dkim_probed} names tried",
        f"MTA-STS: {facts.mta_sts.value}; BIMI: {facts.bimi.value}",
        f"spoofwatch: {stance.summary} (findings: {', '.join(stance.findings) or 'none'}; "
        f"actions: {', '.join(stance.actions)})",
    ]
    alert = ('<p class="alert">Spoofable and being spoofed: '
             f'{item.history.forgeries} forgeries here ({_e(item.alert_reason)}).</p>'
             if item.alert else "")
    below = item.assessment.subdomains.value
    subdomains = (f'<p class="subdomains" data-for="{_e(facts.domain)}" '
                  f'data-subdomains="{_e(below)}">Subdomains (x.{_e(facts.domain)}): '
                  f'<span class="r-{_e(below)}">{_e(below)}</span> '
                  f"({_e(item.assessment.subdomain_reason)})</p>")
    return (f'<h3 data-domain="{_e(facts.domain)}">{_e(facts.domain)}: '
            f'<span class="r-{_e(item.assessment.rating.value)}">'
            f'{_e(item.assessment.rating.value)}</span></h3>{alert}'
            f"{_list(item.assessment.reasons)}{subdomains}{_list(details)}")


def _org_section(report: AuditReport, org: str) -> str:
    parts = [f'<section data-org="{_e(org)}"><h2>{_e(org or "Domains no organization lists")}</h2>']
    parts += [_domain(d) for d in report.domains if d.facts.org == org]
    history = report.history.org(org) if report.history is not None and org else None
    if history is not None and report.history is not None:
        c = history.counts
        parts.append(f"<p>Here since {_e(day_of(report.history.since))}: {c.claiming} messages "
                     f"claimed it, {c.authenticated} authenticated, {c.suspect} suspect, "
                     f"{c.spoof} spoof, {c.threat} threat, {c.quarantined} quarantined, "
                     f"{c.released} released.</p>")
        parts.append(_chart(history, report.history.since, report.history.until))
        if history.networks:
            parts.append("<p>Forgeries came from:</p>" + _list(
                f"{n}: {count}" for n, count in history.networks))
        if history.lookalikes:
            rows = "".join(
                f'<tr class="lookalike"><td>{_e(s.domain)}</td><td>{_e(s.target)}</td>'
                f"<td>{_e(s.kind)}</td><td class=\"num\">{s.messages}</td>"
                f"<td>{_e(s.first)}</td><td>{_e(s.last)}</td></tr>" for s in history.lookalikes)
            parts.append("<table><thead><tr><th>Lookalike domain</th><th>imitates</th>"
                         "<th>kind</th><th>messages</th><th>first</th><th>last</th></tr>"
                         f"</thead><tbody>{rows}</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def report_html(report: AuditReport) -> str:
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.generated))
    alerts = "".join(f"<li>{_e(d.facts.domain)} ({_e(d.facts.org)}): "
                     f"{d.history.forgeries} forgeries</li>" for d in report.alerts)
    summary = (f'<p class="alert">Spoofable and being spoofed:</p><ul>{alerts}</ul>'
               if alerts else "")
    sections = "".join(_org_section(report, org) for org in report.orgs())
    notes = _list(report.history.problems) if report.history and report.history.problems else ""
    # utf8_safe once more on the whole page: a string that missed _e must not make the
    # page unwritable (the callers encode it as UTF-8).
    return utf8_safe("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>spoofwatch audit</title>"
                     f"<style>{_CSS}</style></head><body><h1>spoofwatch audit</h1>"
                     f"<p>Generated {_e(generated)} from {_e(report.config_path)}.</p>"
                     f"{summary}{_table(report)}{sections}{notes}</body></html>\n")
