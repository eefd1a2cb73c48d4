"""The changes a Report asks the shell (milter or scan) to make.

Pure data: the milter service maps each action onto a libmilter call, the
``scan`` command prints them. Header indexes are 1-based among headers of the
same name, as libmilter's ``chgheader`` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AddHeader:
    name: str
    value: str  # folded with "\n\t" (libmilter's convention), ASCII only
    top: bool = False  # insert above all other headers (RFC 8601 asks this of A-R)


@dataclass(frozen=True)
class DeleteHeader:
    name: str
    index: int
    reason: str


@dataclass(frozen=True)
class ChangeHeader:
    name: str
    index: int
    value: str


@dataclass(frozen=True)
class ReplaceBody:
    body: bytes
    content_type: str = ""  # a new top-level Content-Type when the banner had to change it
    content_transfer_encoding: str = ""


@dataclass(frozen=True)
class Quarantine:
    reason: str


@dataclass(frozen=True)
class Reply:
    """Reject (5xx) or tempfail (4xx) with an SMTP reply."""

    kind: str  # "reject" or "tempfail"
    code: str  # "550"
    xcode: str  # "5.7.1"
    text: str

    @classmethod
    def parse(cls, kind: str, reply: str) -> Reply:
        code, xcode, text = reply.split(" ", 2)
        return cls(kind=kind, code=code, xcode=xcode, text=text)

    def __str__(self) -> str:
        return f"{self.code} {self.xcode} {self.text}"


Action = AddHeader | DeleteHeader | ChangeHeader | ReplaceBody | Quarantine | Reply


def describe(action: Action) -> str:
    """One line for people (scan output, logs)."""
    match action:
        case AddHeader(name, value, top):
            where = " (at the top)" if top else ""
            return f"add header{where}: {name}: {value}"
        case DeleteHeader(name, index, reason):
            return f"delete header: {name} #{index} ({reason})"
        case ChangeHeader(name, index, value):
            return f"change header: {name} #{index} -> {value}"
        case ReplaceBody(body, _, _):
            return f"replace body ({len(body)} bytes, warning banner added)"
        case Quarantine(reason):
            return f"quarantine: {reason}"
        case Reply(kind, code, xcode, text):
            return f"{kind}: {code} {xcode} {text}"
    return repr(action)


def action_names(actions: tuple[Action, ...]) -> tuple[str, ...]:
    """Short names of the disposition-relevant actions, for logs and metrics."""
    names = []
    for action in actions:
        if isinstance(action, Quarantine):
            names.append("quarantine")
        elif isinstance(action, Reply):
            names.append(action.kind)
        elif isinstance(action, ReplaceBody):
            names.append("banner")
        elif isinstance(action, ChangeHeader) and action.name.lower() == "subject":
            names.append("subject_tag")
    return tuple(names) or ("accept",)
