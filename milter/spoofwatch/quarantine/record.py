"""One quarantine record: what was held, why, and the file format that carries it.

A record is a single file so that it is complete or absent: a first line naming the
format, one line of JSON metadata (ASCII, so attacker text cannot break the line), then
the message bytes exactly as the MTA holds them. The metadata carries the SHA-256 and
size of the message, so a truncated or altered file is recognised as damaged instead of
being shown as if it were the message.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..addresses import parse_from
from ..message import Message
from ..report import Report
from ..results import FromAddress
from ..textsafe import decode_words

__all__ = [
    "AlreadyReleased",
    "AuthEntry",
    "FindingEntry",
    "Record",
    "RecordFormatError",
    "ReleaseEvent",
    "decode_record",
    "encode_record",
    "is_record_id",
    "new_record_id",
    "record_from_report",
]

MAGIC = b"SPOOFWATCH-QUARANTINE 1\n"
# The metadata line is small (addresses, findings, a subject); anything longer than this is
# not a record we wrote, and reading stops there instead of loading a huge "line".
MAX_META_BYTES = 1_048_576
_ID_RE = re.compile(r"^[0-9]{14}-[0-9a-f]{10}$")
_MAX_TEXT = 2000  # bound on each stored display string (subject, From)


def new_record_id(now: float | None = None) -> str:
    """A sortable, unguessable id: UTC time to the second, then 40 random bits."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(5)}"


def is_record_id(text: str) -> bool:
    """Ids become file names: only this exact shape is ever used as one."""
    return bool(_ID_RE.match(text))


@dataclass(frozen=True)
class AuthEntry:
    method: str  # "spf.mailfrom", "spf.helo", "dkim", "arc", "dmarc"
    result: str  # RFC 8601 word
    detail: str = ""  # domain, selector, reason ...


@dataclass(frozen=True)
class FindingEntry:
    name: str
    weight: float
    text: str  # the plain-language reason
    org: str = ""


@dataclass(frozen=True)
class ReleaseEvent:
    """Who released (or deleted) a record, when and how."""

    action: str  # "release" or "delete"
    time: float
    actor: str
    method: str = ""  # "hold" (Postfix hold queue) or "reinject" (stored copy via sendmail)
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    id: str
    time: float  # seconds since the epoch, when it was quarantined
    queue_id: str
    client_ip: str
    helo: str
    mail_from: str
    rcpts: tuple[str, ...]
    header_from: str  # the From header, RFC 2047 decoded (display only, not trusted)
    subject: str  # decoded
    auth: tuple[AuthEntry, ...]
    findings: tuple[FindingEntry, ...]
    level: str
    score: float
    policy: str
    orgs: tuple[str, ...]  # watched organizations the findings concern
    sending_domain: str  # the From domain, or the MAIL FROM domain when From is unusable
    size: int
    sha256: str
    events: tuple[ReleaseEvent, ...] = field(default=(), compare=False)
    # The shared store only: the MX host whose Postfix holds the message, and where its
    # release stands ("held", "release_requested", "releasing", "released"). The SQLite
    # store of one host leaves both empty.
    host: str = ""
    state: str = field(default="", compare=False)

    @property
    def released(self) -> bool:
        return any(e.action == "release" for e in self.events)

    @property
    def last_release(self) -> ReleaseEvent | None:
        """The latest release of the record, or None while it is held."""
        releases = [e for e in self.events if e.action == "release"]
        return releases[-1] if releases else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["released"] = self.released
        for key in ("host", "state"):
            if not data[key]:
                del data[key]
        return data


class AlreadyReleased(Exception):
    """A release lost the race: the record is released, or being released, already.

    The message says by whom, when and (in the shared store) from which host.
    """


class RecordFormatError(ValueError):
    """The bytes are not a complete, intact record."""


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


def _auth_entries(report: Report) -> tuple[AuthEntry, ...]:
    entries: list[AuthEntry] = []
    if report.spf is not None:
        spf = report.spf.mailfrom
        entries.append(AuthEntry("spf.mailfrom", spf.result.value, spf.domain))
        if report.spf.helo is not None:
            entries.append(AuthEntry("spf.helo", report.spf.helo.result.value,
                                     report.spf.helo.domain))
    if report.dkim is not None:
        if not report.dkim.signatures:
            entries.append(AuthEntry("dkim", "none", "no signature"))
        for sig in report.dkim.signatures:
            entries.append(AuthEntry("dkim", sig.result.value,
                                     f"d={sig.domain} s={sig.selector} {sig.reason}".strip()))
    if report.arc is not None:
        entries.append(AuthEntry("arc", report.arc.result.value, report.arc.reason))
    if report.dmarc is not None:
        dmarc = report.dmarc
        detail = f"{dmarc.from_domain} policy={dmarc.policy or 'none'} {dmarc.reason}".strip()
        entries.append(AuthEntry("dmarc", dmarc.result.value, detail))
    return tuple(entries)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


def _header_section(raw: bytes) -> bytes:
    """Only the header section: parsing a 20 MB body to read From and Subject is waste."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[: min(ends) + 2] if ends else raw


def record_from_report(record_id: str, now: float, raw: bytes, report: Report,
                       queue_id: str) -> Record:
    """The metadata of a record, taken from the analysis and the held message."""
    message = Message.from_bytes(_header_section(raw))
    env = report.envelope
    from_values = message.get_all("From")
    subjects = message.get_all("Subject")
    sender = report.sender
    if not isinstance(sender, FromAddress):
        parsed = parse_from(message)
        sender = parsed if isinstance(parsed, FromAddress) else None
    findings = tuple(FindingEntry(f.name, f.weight, f.text, f.org)
                     for f in report.verdict.findings)
    orgs = tuple(dict.fromkeys(f.org for f in report.verdict.findings if f.org))
    return Record(
        id=record_id, time=now, queue_id=queue_id or env.queue_id,
        client_ip=env.client_ip, helo=env.helo, mail_from=env.mail_from, rcpts=env.rcpts,
        header_from=_clip(decode_words(from_values[0]) if from_values else ""),
        subject=_clip(decode_words(subjects[0]) if subjects else ""),
        auth=_auth_entries(report), findings=findings, level=report.level.value,
        score=report.verdict.score, policy=report.policy, orgs=orgs,
        sending_domain=sender.domain if sender is not None else _domain_of(env.mail_from),
        size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
    )


# --- the file format ----------------------------------------------------------------------
def encode_meta(record: Record) -> bytes:
    data = asdict(record)
    data.pop("events", None)  # events live in the index: the file never changes
    data.pop("state", None)  # so does the release state
    if not data["host"]:
        data.pop("host")  # the files of the one-host store stay as they were
    return json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode()


def encode_record(record: Record) -> bytes:
    """The first part of a record file; the message bytes follow it."""
    return MAGIC + encode_meta(record) + b"\n"


def record_from_json(data: dict[str, Any]) -> Record:
    """Rebuild a Record from its JSON form; raises RecordFormatError on any mismatch."""
    try:
        record = Record(
            id=str(data["id"]), time=float(data["time"]), queue_id=str(data["queue_id"]),
            client_ip=str(data["client_ip"]), helo=str(data["helo"]),
            mail_from=str(data["mail_from"]), rcpts=tuple(str(r) for r in data["rcpts"]),
            header_from=str(data["header_from"]), subject=str(data["subject"]),
            auth=tuple(AuthEntry(str(a["method"]), str(a["result"]), str(a["detail"]))
                       for a in data["auth"]),
            findings=tuple(FindingEntry(str(f["name"]), float(f["weight"]), str(f["text"]),
                                        str(f["org"])) for f in data["findings"]),
            level=str(data["level"]), score=float(data["score"]), policy=str(data["policy"]),
            orgs=tuple(str(o) for o in data["orgs"]),
            sending_domain=str(data["sending_domain"]), size=int(data["size"]),
            sha256=str(data["sha256"]), host=str(data.get("host", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordFormatError(f"metadata incomplete: {exc}") from None
    if not is_record_id(record.id):
        raise RecordFormatError("metadata names an invalid id")
    return record


def read_header(f: Any) -> tuple[Record, int]:
    """Read magic and metadata from an open binary file; returns the record and body offset."""
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        raise RecordFormatError("not a spoofwatch quarantine record (bad first line)")
    line = f.readline(MAX_META_BYTES + 1)
    if not line.endswith(b"\n"):
        raise RecordFormatError("metadata line is truncated")
    try:
        data = json.loads(line)
    except ValueError:
        raise RecordFormatError("metadata is not valid JSON") from None
    if not isinstance(data, dict):
        raise RecordFormatError("metadata is not a JSON object")
    return record_from_json(data), len(MAGIC) + len(line)


def decode_record(blob: bytes) -> tuple[Record, bytes]:
    """A whole record file -> (record, message bytes), verified against size and digest."""
    import io

    f = io.BytesIO(blob)
    record, offset = read_header(f)
    raw = blob[offset:]
    check_message(record, raw)
    return record, raw


def check_message(record: Record, raw: bytes) -> None:
    if len(raw) != record.size:
        raise RecordFormatError(
            f"message is {len(raw)} bytes, the record says {record.size}: the file is damaged")
    if hashlib.sha256(raw).hexdigest() != record.sha256:
        raise RecordFormatError("message digest does not match the record: the file is damaged")
