"""The quarantine digest: one plain-text mail telling an admin what was held, and how to act.

``spoofwatch quarantine digest`` renders it here and hands it to the local MTA. Three rules
shape it:

* **Nothing the sender wrote can shape the mail.** Every header of the digest is ours and
  fixed (addresses and the host name are checked before they are used); the sender's From
  and Subject appear only in the body, one line each, cut short, with every control,
  format (bidi, zero-width) or undecodable character written as an escape (``\\r``,
  ``\\x1b``, ``\\u202e``) and the backslash itself doubled, so the escapes are
  unambiguous. Printable non-ASCII text stays readable; the body is then UTF-8 in
  quoted-printable, so the mail itself is 7-bit ASCII.
* **The digest must not look like the threat it reports.** It passes through our own
  milter (``non_smtpd_milters``). Subjects are cut to 60 characters and the reason of a
  ``threat_content`` finding is given without the phrases it matched (``show`` has
  them), so the digest's own text scores little against the threat patterns. The
  guarantee, though, is that locally submitted mail reaches the milter from 127.0.0.1,
  which the default ``trusted_networks`` skips (docs/quarantine.md).
* **Each record is listed once.** The index remembers which records a sent digest
  listed (``SqliteIndex.notifying``); see docs/quarantine.md.
"""

from __future__ import annotations

import hashlib
import quopri
import re
import shlex
import socket
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from ..textsafe import ascii_safe
from .record import FindingEntry, Record
from .review import format_time

__all__ = [
    "CommandLine",
    "DigestInfo",
    "SUBJECT_CHARS",
    "digest_body",
    "digest_message",
    "digest_subject",
    "is_address",
    "is_host_name",
    "local_host_name",
    "reason_text",
    "safe_line",
]

SUBJECT_CHARS = 60  # a quoted subject is cut here (see the module docstring)
_FROM_CHARS = 100
_REASON_CHARS = 300
_WIDTH = 76
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~][A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{0,63}")
_WSP = re.compile(r"[ \t]+")


def is_host_name(text: str) -> bool:
    """A DNS host name in ASCII: nothing that could end a header line or add a field."""
    return 0 < len(text) <= 253 and all(_LABEL.fullmatch(label) for label in text.split("."))


def is_address(text: str) -> bool:
    """A plain ASCII addr-spec (``local@domain``): safe in a header and as an argument."""
    local, at, domain = text.rpartition("@")
    return bool(at) and len(text) <= 254 and bool(_LOCAL_PART.fullmatch(local)) \
        and ".." not in local and not local.endswith(".") and is_host_name(domain)


def local_host_name() -> str:
    """This host's name for the digest's subject and default sender; "localhost" if odd."""
    name = socket.getfqdn()
    return name if is_host_name(name) else "localhost"


def safe_line(text: str, width: int) -> str:
    """Sender-controlled ``text`` as one line of at most ``width`` characters.

    Printable characters stay (any script: a reader must see the Cyrillic in a lookalike
    name); folding whitespace becomes one space; everything else - CR, LF, ESC, bidi and
    zero-width controls, undecodable bytes - is written as an escape. A cut never splits
    an escape and ends in "...".
    """
    text = _WSP.sub(" ", text).strip(" ")
    pieces = [("\\\\" if ch == "\\" else ch) if ch.isprintable() else ascii_safe(ch, 12)
              for ch in text]
    if sum(len(p) for p in pieces) <= width:
        return "".join(pieces)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > width - 3:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + "..."


def reason_text(finding: FindingEntry) -> str:
    """A finding's plain-language reason as the digest gives it.

    A ``threat_content`` reason ends with the threatening phrases it matched; quoting them
    would make the digest read as a threat itself, so it stops before them.
    """
    text = finding.text
    if finding.name == "threat_content" and "): " in text:
        text = text.split("): ", 1)[0] + "); the matched phrases are in the show output."
    return safe_line(text, _REASON_CHARS)


@dataclass(frozen=True)
class CommandLine:
    """The admin's command as the digest spells it: with the options this run was given."""

    program: str = "spoofwatch quarantine"
    options: tuple[str, ...] = ()  # --config/--store, for every command
    postfix_options: tuple[str, ...] = ()  # --postfix-config, for release only

    def _line(self, *words: str) -> str:
        return " ".join([self.program, *(shlex.quote(w) for w in words)])

    def show(self, record_id: str) -> str:
        return self._line("show", record_id, *self.options)

    def release(self, record_id: str) -> str:
        return self._line("release", record_id, *self.options, *self.postfix_options)

    def list_since(self, since: float) -> str:
        stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M")
        return self._line("list", "--since", stamp, *self.options)


@dataclass(frozen=True)
class DigestInfo:
    to: str  # checked with is_address before use
    sender: str  # the envelope sender and the From address; checked likewise
    host: str  # checked with is_host_name
    since: float  # the digest covers records quarantined at or after this time
    now: float
    commands: CommandLine = CommandLine()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def digest_subject(total: int, host: str) -> str:
    return f"[spoofwatch] {_plural(total, 'new quarantined message')} on {host}"


def _status(record: Record) -> str:
    last = record.last_release
    if last is None:
        return "held"
    return f"released by {safe_line(last.actor, 40)} at {format_time(last.time)}"


def _recipients(record: Record) -> str:
    shown = ", ".join(safe_line(r, 80) for r in record.rcpts[:3]) or "(none)"
    more = len(record.rcpts) - 3
    return shown + (f" and {more} more" if more > 0 else "")


def _from_line(record: Record) -> str:
    if record.header_from.strip():
        return safe_line(record.header_from, _FROM_CHARS)
    return f"(no From header; envelope sender <{safe_line(record.mail_from, _FROM_CHARS)}>)"


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=_WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def _record_lines(number: int, record: Record, commands: CommandLine) -> list[str]:
    orgs = ", ".join(safe_line(o, 80) for o in record.orgs) or "(none)"
    lines = [
        f"[{number}] {record.id}",
        f"    Quarantined:   {format_time(record.time)}",
        f"    Level:         {safe_line(record.level, 20)} (score {record.score:g})",
        f"    Status:        {_status(record)}",
        f"    From:          {_from_line(record)}",
        f"    Subject:       {safe_line(record.subject, SUBJECT_CHARS) or '(none)'}",
        f"    To:            {_recipients(record)}",
        f"    Organizations: {orgs}",
        "    Why:",
    ]
    counted = [f for f in record.findings if f.weight]
    for finding in counted or record.findings:
        lines += _wrapped(reason_text(finding), "      - ", "        ")
    if not record.findings:
        lines.append("      (no findings recorded)")
    lines += [
        f"    Show:          {commands.show(record.id)}",
        f"    Release:       {commands.release(record.id)}",
    ]
    return lines


def digest_body(records: Sequence[Record], total: int, info: DigestInfo) -> str:
    """The digest's text (lines end in LF): ``records`` listed, ``total`` new in all."""
    lines = [
        f"spoofwatch on {info.host} has held {_plural(total, 'new message')} in quarantine",
        f"since {format_time(info.since)} (up to {format_time(info.now)}).",
    ]
    if len(records) < total:
        lines.append(f"This digest lists the {len(records)} oldest; the next one lists the rest.")
    lines += [
        "",
        "Nothing held is delivered until someone releases it: read a message with its",
        "Show command before you release it. From and Subject are quoted as the senders",
        "wrote them, cut short, with control and invisible characters escaped.",
    ]
    for number, record in enumerate(records, start=1):
        lines.append("")
        lines += _record_lines(number, record, info.commands)
    lines += [
        "",
        "-- ",
        "Sent by spoofwatch quarantine digest; no message is listed in two digests.",
        f"Everything held since then: {info.commands.list_since(info.since)}",
    ]
    return "\n".join(lines) + "\n"


def _message_id(info: DigestInfo, records: Sequence[Record]) -> str:
    stamp = datetime.fromtimestamp(info.now, UTC).strftime("%Y%m%d%H%M%S")
    digest = hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()[:16]
    return f"<spoofwatch-digest.{stamp}.{digest}@{info.host}>"


def digest_message(records: Sequence[Record], total: int, info: DigestInfo) -> bytes:
    """The whole digest mail, 7-bit ASCII with LF line ends (what sendmail reads).

    Raises ValueError if an address or the host name is not safe to put in a header: they
    come from the admin, but a header is no place to find out they were wrong.
    """
    for address in (info.to, info.sender):
        if not is_address(address):
            raise ValueError(f"{address!r} is not a plain mail address (local@domain)")
    if not is_host_name(info.host):
        raise ValueError(f"{info.host!r} is not a host name")
    body = digest_body(records, total, info)
    if all(" " <= ch <= "~" or ch == "\n" for ch in body):
        content = ["Content-Type: text/plain; charset=us-ascii",
                   "Content-Transfer-Encoding: 7bit"]
        encoded = body.encode("ascii")
    else:
        content = ["Content-Type: text/plain; charset=utf-8",
                   "Content-Transfer-Encoding: quoted-printable"]
        # non-ASCII text, or a control character in an option the admin gave;
        # surrogates cannot occur: safe_line escaped them
        encoded = quopri.encodestring(body.encode("utf-8"))
    headers = [
        f"From: spoofwatch <{info.sender}>",
        f"To: <{info.to}>",
        f"Subject: {digest_subject(total, info.host)}",
        f"Date: {format_datetime(datetime.fromtimestamp(info.now, UTC))}",
        f"Message-ID: {_message_id(info, records)}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        *content,
    ]
    return ("\n".join(headers) + "\n\n").encode("ascii") + encoded
