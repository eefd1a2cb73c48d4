"""What an admin reads: record tables and the full view of one held message.

Everything shown comes from the message or the envelope, so from the sender: it all goes
through ``terminal_safe`` (no escape sequences, bidi controls or other control
characters reach the terminal) and single-line fields are also flattened, so a subject
cannot draw fake rows into a table.
"""

from __future__ import annotations

import time
from typing import Any

from ..detect.textextract import read_text
from ..message import Message
from ..textsafe import decode_words, terminal_safe
from .index import Stats
from .record import Record

__all__ = ["format_time", "record_table", "show_json", "show_text", "stats_text"]

_BODY_CHARS = 20_000  # enough to judge a message; `show --raw` gives all of it


def format_time(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def one_line(text: str, width: int = 0) -> str:
    """Attacker text flattened to one safe line, cut to ``width`` characters."""
    flat = " ".join(terminal_safe(text).split())
    if width and len(flat) > width:
        return flat[: max(width - 3, 0)] + "..."
    return flat


def _status(record: Record) -> str:
    if record.state in ("release_requested", "releasing"):
        return record.state.replace("_", " ")
    last = record.last_release
    if last is None:
        return f"held on {record.host}" if record.host else "held"
    return f"released by {one_line(last.actor, 20)} {format_time(last.time)[:16]}"


def record_table(records: tuple[Record, ...] | list[Record], total: int, offset: int) -> str:
    if not records:
        return "No quarantined messages match." if total == 0 else (
            f"No records on this page ({total} match; try a smaller --offset).")
    columns = ("ID", "QUARANTINED (UTC)", "LEVEL", "FROM", "TO", "SUBJECT", "STATUS")
    rows = []
    for r in records:
        to = r.rcpts[0] if r.rcpts else ""
        if len(r.rcpts) > 1:
            to += f" +{len(r.rcpts) - 1}"
        rows.append((r.id, format_time(r.time)[:16], r.level,
                     one_line(r.header_from or r.mail_from, 36), one_line(to, 30),
                     one_line(r.subject, 40), _status(r)))
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    first, last = offset + 1, offset + len(records)
    lines.append(f"({first}-{last} of {total})")
    return "\n".join(lines)


def body_text(raw: bytes) -> str:
    """The text a reader would see (parts decoded, HTML rendered), bounded."""
    # read_text, as the threat check: the standard parser raises on hostile nesting
    return read_text(Message.from_bytes(raw), max_chars=_BODY_CHARS).text


def _header_lines(raw: bytes) -> list[tuple[str, str]]:
    message = Message.from_bytes(raw)
    return [(name, " ".join(value.split())) for name, value in message.headers]


def show_text(record: Record, raw: bytes) -> str:
    lines = [
        f"Quarantine record {record.id}",
        f"  Quarantined: {format_time(record.time)} (policy {one_line(record.policy)})",
        f"  Verdict:     {record.level} (score {record.score:g})",
        f"  Status:      {_status(record)}",
    ]
    for event in record.events:
        to = ", ".join(event.recipients)
        how = {"hold": "from Postfix's hold queue", "reinject": "re-injected stored copy"}
        lines.append(f"               {event.action} by {one_line(event.actor)} at "
                     f"{format_time(event.time)}, {how.get(event.method, event.method)}"
                     + (f" to {one_line(to)}" if to else ""))
    lines += [
        "",
        "Envelope",
        f"  Postfix queue id: {one_line(record.queue_id) or '(none)'}",
        f"  Client:           {one_line(record.client_ip) or '(unknown)'} "
        f"(HELO {one_line(record.helo) or '(none)'})",
        f"  MAIL FROM:        <{one_line(record.mail_from)}>",
        f"  RCPT TO:          {', '.join(one_line(r) for r in record.rcpts) or '(none)'}",
        f"  From header:      {one_line(record.header_from) or '(none)'}",
        f"  Subject:          {one_line(record.subject) or '(none)'}",
        f"  Sending domain:   {one_line(record.sending_domain) or '(unknown)'}",
        f"  Organizations:    {', '.join(one_line(o) for o in record.orgs) or '(none)'}",
        "",
        "Why it was held",
    ]
    counted = [f for f in record.findings if f.weight]
    for finding in counted or record.findings:
        lines.append(f"  - {one_line(finding.text)}")
        org = f", organization {one_line(finding.org)}" if finding.org else ""
        lines.append(f"    ({finding.name}, weight {finding.weight:g}{org})")
    if not record.findings:
        lines.append("  (no findings recorded)")
    lines += ["", "Authentication"]
    for entry in record.auth:
        lines.append(f"  {entry.method:<13} {entry.result:<10} {one_line(entry.detail, 100)}")
    if not record.auth:
        lines.append("  (not checked)")
    lines += ["", "Headers"]
    for name, value in _header_lines(raw):
        lines.append(f"  {one_line(name)}: {one_line(value, 400)}")
        decoded = decode_words(value)
        if decoded != value:
            lines.append(f"    (decoded: {one_line(decoded, 400)})")
    lines += ["", f"Text ({record.size} bytes in the message; decoded, HTML rendered)"]
    for text_line in terminal_safe(body_text(raw)).splitlines():
        lines.append("  " + text_line)
    return terminal_safe("\n".join(lines))


def show_json(record: Record, raw: bytes) -> dict[str, Any]:
    data = record.to_json()
    data["headers"] = [{"name": n, "value": v} for n, v in _header_lines(raw)]
    data["text"] = body_text(raw)
    return data


def stats_text(stats: Stats, since: float | None) -> str:
    period = f"since {format_time(since)}" if since is not None else "all time"
    lines = [f"Quarantined messages ({period}): {stats.total}, released: {stats.released}"]

    def block(title: str, rows: tuple[tuple[str, int], ...]) -> None:
        lines.append("")
        lines.append(title)
        if not rows:
            lines.append("  (none)")
        width = max((len(one_line(k, 60)) for k, _ in rows), default=0)
        for key, count in rows:
            lines.append(f"  {one_line(key, 60) or '(none)':<{width}}  {count:>7}")

    block("By level", stats.by_level)
    block("By organization", stats.by_org)
    block("By sending domain", stats.by_domain)
    block("By day (UTC)", stats.by_day)
    if stats.by_host:
        block("By MX host", stats.by_host)
    if stats.checked is not None:
        lines.append("")
        lines.append(f"Messages checked on every host ({period}): {stats.checked}")
        block("Checked, by level", stats.checked_by_level)
        block("Who is being spoofed (suspect, spoof or threat mail naming them)",
              stats.spoofed_orgs)
    return "\n".join(lines)
