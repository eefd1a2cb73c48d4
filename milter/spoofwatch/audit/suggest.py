"""``spoofwatch audit --suggest``: watchlist facts the audit found, as a diff of the file.

Two kinds of fact: ``sends_mail: false`` for a listed domain whose own DNS says it sends no
mail (``detect/posture.py``: no DNS, a null MX, or no MX and ``v=spf1 -all``), and
``signing_domains`` seen on its authenticated mail in the decision log. The file is read,
never written: the output is a unified diff the admin may apply (``patch``). Comments and
layout stay as they are; only the lines of the affected domain entries change.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from ..domains import is_subdomain_or_self
from .posture import Known
from .report import AuditReport

__all__ = ["Suggestion", "suggest_diff", "suggestions"]

_PLAIN = re.compile(r"(?P<indent>\s*)-\s+(?P<domain>[^\s#:]+)\s*(?P<comment>#.*)?$")
_MAPPING = re.compile(r"(?P<indent>\s*)-\s+domain:\s*(?P<domain>[^\s#]+)")
_KEY = re.compile(r"(?P<indent>\s*)(?P<key>sends_mail|signing_domains):\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Suggestion:
    domain: str
    sends_mail: bool | None = None  # False: set sends_mail: false
    signing_domains: tuple[str, ...] = ()  # to add


def suggestions(report: AuditReport) -> tuple[Suggestion, ...]:
    found = []
    for item in report.domains:
        facts = item.facts
        if not facts.org:
            continue
        cannot_send = (facts.listed_sends_mail and bool(facts.posture.reason)
                       and facts.exists is not Known.UNKNOWN)
        seen: tuple[str, ...] = ()
        history = report.history.org(facts.org) if report.history is not None else None
        if history is not None:
            seen = dict(history.signing_seen).get(facts.domain, ())
        new = tuple(d for d in seen if d not in facts.signing_domains
                    and not is_subdomain_or_self(d, facts.domain))
        if cannot_send or new:
            found.append(Suggestion(facts.domain, False if cannot_send else None, new))
    return tuple(found)


def _entry_end(lines: list[str], start: int, indent: int) -> int:
    end = start + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and (len(text) - len(text.lstrip())) <= indent:
            break
        end += 1
    while end - 1 > start and not lines[end - 1].strip():
        end -= 1  # blank lines after the entry stay after it
    return end


def _apply(lines: list[str], suggestion: Suggestion) -> None:
    for i, line in enumerate(lines):
        plain, mapping = _PLAIN.fullmatch(line.rstrip("\n")), _MAPPING.match(line)
        match = mapping or plain
        if match is None or match.group("domain").lower() != suggestion.domain:
            continue
        indent = len(match.group("indent"))
        pad = " " * (indent + 2)
        if plain is not None and mapping is None:
            lines[i] = f"{match.group('indent')}- domain: {suggestion.domain}\n"
        end = _entry_end(lines, i, indent)
        body = lines[i + 1:end]
        keys = {m.group("key"): (j, m) for j, text in enumerate(body)
                if (m := _KEY.match(text)) is not None}
        if suggestion.sends_mail is False:
            if "sends_mail" in keys:
                body[keys["sends_mail"][0]] = f"{pad}sends_mail: false\n"
            else:
                body.append(f"{pad}sends_mail: false\n")
        if suggestion.signing_domains:
            current: list[str] = []
            if "signing_domains" in keys:
                value = keys["signing_domains"][1].group("value").strip()
                current = [d.strip() for d in value.strip("[]").split(",") if d.strip()]
            merged = ", ".join(dict.fromkeys([*current, *suggestion.signing_domains]))
            text = f"{pad}signing_domains: [{merged}]\n"
            if "signing_domains" in keys:
                body[keys["signing_domains"][0]] = text
            else:
                body.append(text)
        lines[i + 1:end] = body
        return


def suggest_diff(report: AuditReport, watchlist_path: str) -> str:
    """The unified diff that would add the audit's findings to the watchlist ("" if none)."""
    path = Path(watchlist_path)
    original = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = list(original)
    for suggestion in suggestions(report):
        _apply(changed, suggestion)
    return "".join(difflib.unified_diff(original, changed, fromfile=str(path),
                                        tofile=f"{path} (suggested)"))
