"""``spoofwatch audit --suggest``: watchlist facts the audit found, as a diff of the file.

Two kinds of fact: ``sends_mail: false`` for a listed domain whose own DNS says it sends no
mail (``detect/posture.py``: no DNS, a null MX, or no MX and ``v=spf1 -all``), and
``signing_domains`` vouched for by at least ``SIGNING_MIN_MESSAGES`` messages of the
decision log (``history.vouched_signer``: DMARC passed through aligned SPF, with exactly one
passing DKIM signature, not aligned). A signing domain becomes the organization's own in the
milter's eyes, so the rule is strict on purpose: a forger who replays genuine mail and adds
a signature of their own never makes the audit propose it (docs/audit.md).

The file is read, never written: the output is a unified diff the admin may apply
(``patch``). The entry is found structurally (PyYAML's node tree, with its line and column
marks): the organization's block by its ``name``, then the item of its ``domains`` list,
so a ``- dnc.org`` in another organization's ``distinct`` list is never touched. Only the
lines of that entry change; comments, quoting and layout stay. Every edit is checked by
loading the edited file with the watchlist loader itself; an edit that cannot be made safely
(a flow-style list, a multi-line value, an anchor ...) is printed as a comment saying what
to add where, before the diff, which ``patch`` skips.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..detect.watchlist import load_watchlist
from ..domains import is_subdomain_or_self, normalize_domain
from ..yamlload import ConfigError
from .posture import Known
from .report import AuditReport

__all__ = ["SIGNING_MIN_MESSAGES", "Suggestion", "suggest_diff", "suggestions"]

# Messages that must vouch for a signing domain before it is proposed. The rule itself
# (history.vouched_signer) is what stops a forger; the count keeps one odd message (a
# misconfigured forwarder, a test) from becoming a watchlist entry.
SIGNING_MIN_MESSAGES = 3

# Line breaks PyYAML counts that str.splitlines does not agree on (or the reverse): a file
# holding one is never edited, its suggestions are printed as comments.
_ODD_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


@dataclass(frozen=True)
class Suggestion:
    domain: str
    org: str = ""
    sends_mail: bool | None = None  # False: set sends_mail: false
    signing_domains: tuple[str, ...] = ()  # to add

    def words(self) -> str:
        parts = ["sends_mail: false"] if self.sends_mail is False else []
        if self.signing_domains:
            parts.append(f"signing_domains: add {', '.join(self.signing_domains)}")
        return "; ".join(parts)


def suggestions(report: AuditReport) -> tuple[Suggestion, ...]:
    found = []
    for item in report.domains:
        facts = item.facts
        if not facts.org:
            continue
        cannot_send = (facts.listed_sends_mail and bool(facts.posture.reason)
                       and facts.exists is not Known.UNKNOWN)
        vouched: tuple[str, ...] = ()
        history = report.history.org(facts.org) if report.history is not None else None
        # With an SPF that lets everyone through, "DMARC passed through SPF" proves nothing.
        if history is not None and not facts.spf.authorizes_everyone:
            counts = dict(history.signing_vouched).get(facts.domain, ())
            vouched = tuple(d for d, n in counts if n >= SIGNING_MIN_MESSAGES)
        new = tuple(d for d in vouched if d not in facts.signing_domains
                    and not is_subdomain_or_self(d, facts.domain))
        if cannot_send or new:
            found.append(Suggestion(facts.domain, facts.org, False if cannot_send else None,
                                    new))
    return tuple(found)


class _Unsafe(Exception):
    """The edit cannot be made safely; the message says why."""


@dataclass
class _Edits:
    """Line edits of the original file: a line replaced, lines inserted after a line."""

    lines: list[str]
    replace: dict[int, str] = field(default_factory=dict)
    after: dict[int, list[str]] = field(default_factory=dict)

    @property
    def newline(self) -> str:
        return "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"

    def copy(self) -> _Edits:
        return _Edits(self.lines, dict(self.replace),
                      {k: list(v) for k, v in self.after.items()})

    def set_line(self, number: int, text: str) -> None:
        if number in self.replace:
            raise _Unsafe(f"line {number + 1} would be edited twice")
        self.replace[number] = text

    def insert_after(self, number: int, text: str) -> None:
        self.after.setdefault(number, []).append(text + self.newline)

    def result(self) -> list[str]:
        out: list[str] = []
        for number, line in enumerate(self.lines):
            line = self.replace.get(number, line)
            added = self.after.get(number, [])
            if added and not line.endswith("\n"):
                line += self.newline  # the file's last line had no line break
            out.append(line)
            out.extend(added)
        return out


def _get(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    return None


def _entry(root: yaml.Node, org: str, domain: str) -> tuple[yaml.MappingNode, yaml.Node]:
    """The organization's mapping and the item of its ``domains`` list for ``domain``."""
    organizations = _get(root, "organizations") if isinstance(root, yaml.MappingNode) else None
    if not isinstance(organizations, yaml.SequenceNode):
        raise _Unsafe("no organizations list found")
    for org_node in organizations.value:
        if not isinstance(org_node, yaml.MappingNode):
            continue
        name = _get(org_node, "name")
        if not isinstance(name, yaml.ScalarNode) or name.value.strip() != org:
            continue
        domains = _get(org_node, "domains")
        if not isinstance(domains, yaml.SequenceNode):
            raise _Unsafe("its domains list was not found")
        for item in domains.value:
            value = _get(item, "domain") if isinstance(item, yaml.MappingNode) else item
            if isinstance(value, yaml.ScalarNode) and normalize_domain(value.value) == domain:
                if not org_node.start_mark.index <= item.start_mark.index \
                        < org_node.end_mark.index:
                    raise _Unsafe("the entry is an alias of one written elsewhere")
                if domains.flow_style:
                    raise _Unsafe("its domains list is written in flow style ([...])")
                return org_node, item
        raise _Unsafe("the domain was not found in its domains list")
    raise _Unsafe("the organization was not found")


def _one_line(node: yaml.Node, what: str) -> int:
    if node.start_mark.line != node.end_mark.line:
        raise _Unsafe(f"{what} spans several lines")
    return int(node.start_mark.line)


def _source(edits: _Edits, node: yaml.Node) -> str:
    """The node's text as written (quotes included)."""
    return edits.lines[node.start_mark.line][node.start_mark.column:node.end_mark.column]


def _flow_list(edits: _Edits, items: list[yaml.Node], new: tuple[str, ...]) -> str:
    if not all(isinstance(i, yaml.ScalarNode) for i in items):
        raise _Unsafe("signing_domains holds something other than names")
    return "[" + ", ".join([*(_source(edits, i) for i in items), *new]) + "]"


def _apply(edits: _Edits, root: yaml.Node, suggestion: Suggestion) -> None:
    _, item = _entry(root, suggestion.org, suggestion.domain)
    if isinstance(item, yaml.ScalarNode):  # "- dnc.org": becomes "- domain: dnc.org" + keys
        number = _one_line(item, "the entry")
        line = edits.lines[number]
        before = line[:item.start_mark.column]
        if before.strip() != "-":
            raise _Unsafe("the entry does not start its own line")
        edits.set_line(number, f"{before}domain: {line[item.start_mark.column:]}")
        indent = " " * len(before)
        if suggestion.sends_mail is False:
            edits.insert_after(number, f"{indent}sends_mail: false")
        if suggestion.signing_domains:
            names = ", ".join(suggestion.signing_domains)
            edits.insert_after(number, f"{indent}signing_domains: [{names}]")
        return
    if not isinstance(item, yaml.MappingNode) or item.flow_style:
        raise _Unsafe("the entry is written in flow style ({...})")
    domain_value = _get(item, "domain")
    if domain_value is None:
        raise _Unsafe("the entry has no domain key")
    anchor = _one_line(domain_value, "the domain value")
    indent = " " * int(item.value[0][0].start_mark.column)
    if suggestion.sends_mail is False:
        current = _get(item, "sends_mail")
        if current is None:
            edits.insert_after(anchor, f"{indent}sends_mail: false")
        elif isinstance(current, yaml.ScalarNode):
            number = _one_line(current, "sends_mail")
            line = edits.lines[number]
            edits.set_line(number, line[:current.start_mark.column] + "false"
                           + line[current.end_mark.column:])
        else:
            raise _Unsafe("sends_mail is not a single value")
    if suggestion.signing_domains:
        _add_signing(edits, item, anchor, indent, suggestion.signing_domains)


def _add_signing(edits: _Edits, item: yaml.MappingNode, anchor: int, indent: str,
                 new: tuple[str, ...]) -> None:
    current = _get(item, "signing_domains")
    if current is None:
        edits.insert_after(anchor, f"{indent}signing_domains: [{', '.join(new)}]")
        return
    if not isinstance(current, yaml.SequenceNode):
        raise _Unsafe("signing_domains is not a list")
    if current.flow_style:  # [a, b] on one line: rewritten with the new names
        number = _one_line(current, "signing_domains")
        line = edits.lines[number]
        edits.set_line(number, line[:current.start_mark.column]
                       + _flow_list(edits, current.value, new) + line[current.end_mark.column:])
        return
    # A block list: one "- name" line per new name, after its last item, at its indent.
    items = current.value
    if not items or not all(isinstance(i, yaml.ScalarNode) for i in items):
        raise _Unsafe("signing_domains holds something other than names")
    first = edits.lines[items[0].start_mark.line][:items[0].start_mark.column]
    if first.strip() != "-":
        raise _Unsafe("signing_domains is not one name per line")
    last = _one_line(items[-1], "the last signing domain")
    for name in new:
        edits.insert_after(last, f"{first.rstrip()} {name}")


def _check(lines: list[str], suggestion: Suggestion) -> None:
    """Load the edited file with the watchlist loader and find the suggestion in it."""
    with tempfile.TemporaryDirectory(prefix="spoofwatch-suggest-") as directory:
        path = Path(directory) / "watchlist.yaml"
        path.write_text("".join(lines), encoding="utf-8")
        try:
            watchlist = load_watchlist(path)
        except (ConfigError, OSError, ValueError) as exc:
            raise _Unsafe(f"the edited file would not load: {exc}") from exc
    owner = watchlist.owner_of(suggestion.domain)
    if owner is None or owner[0].name != suggestion.org or owner[1].domain != suggestion.domain:
        raise _Unsafe("the edited file would list the domain elsewhere")
    info = owner[1]
    if (suggestion.sends_mail is False and info.sends_mail) or \
            not set(suggestion.signing_domains) <= set(info.signing_domains):
        raise _Unsafe("the edited file would not say it")


def _compose(text: str) -> yaml.Node:
    if _ODD_BREAKS & set(text.replace("\r\n", "\n")):
        raise _Unsafe("the file holds line breaks other than LF and CRLF")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _Unsafe(f"the file cannot be read: {exc}") from exc
    if root is None:
        raise _Unsafe("the file is empty")
    return root


def _comment(suggestion: Suggestion, reason: str) -> str:
    text = (f"# not edited ({reason}): add under organization {suggestion.org!r}, "
            f"domain {suggestion.domain}: {suggestion.words()}")
    return " ".join(text.split()) + "\n"


def _patchable(diff: list[str]) -> str:
    """difflib leaves a line without a line break as it is; patch wants the marker."""
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in diff)


def suggest_diff(report: AuditReport, watchlist_path: str) -> str:
    """The unified diff that would add the audit's findings to the watchlist ("" if none),
    after one comment line per finding that could not be made an edit."""
    path = Path(watchlist_path)
    text = path.read_text(encoding="utf-8")
    edits = _Edits(text.splitlines(keepends=True))
    comments: list[str] = []
    found = suggestions(report)
    if not found:
        return ""
    try:
        root = _compose(text)
    except _Unsafe as exc:
        return "".join(_comment(s, str(exc)) for s in found)
    for suggestion in found:
        candidate = edits.copy()
        try:
            _apply(candidate, root, suggestion)
            _check(candidate.result(), suggestion)
        except _Unsafe as exc:
            comments.append(_comment(suggestion, str(exc)))
            continue
        edits = candidate
    diff = difflib.unified_diff(edits.lines, edits.result(), fromfile=str(path),
                                tofile=f"{path} (suggested)")
    return "".join(comments) + _patchable(list(diff))
