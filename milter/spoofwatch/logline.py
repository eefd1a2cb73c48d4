"""What the service writes about each message: one escaped text line, one JSON decision.

Everything an attacker controls (addresses, HELO, header text) goes through
``ascii_safe`` in the text line, so it cannot forge log lines or smuggle terminal
escapes. The JSON decision log keeps the text as received but is written with
``ensure_ascii``: every control character, DEL and non-ASCII character becomes a JSON
escape, so a decision is always exactly one line of printable ASCII. ``SafeFormatter``
is the last line of defence for every other log record.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from .actions import action_names
from .report import Report
from .results import Envelope, FromAddress
from .textsafe import ascii_safe

log = logging.getLogger("spoofwatch.logline")


def report_fields(report: Report, elapsed: float | None = None) -> dict[str, Any]:
    env = report.envelope
    sender = report.sender
    fields: dict[str, Any] = {
        "queue_id": env.queue_id,
        "client_ip": env.client_ip,
        "helo": env.helo,
        "mail_from": env.mail_from,
        "from": sender.address if isinstance(sender, FromAddress) else "",
    }
    if isinstance(sender, FromAddress) and sender.display_name:
        fields["from_name"] = sender.display_name
    fields.update({
        "level": report.level.value,
        "score": report.verdict.score,
        "findings": list(report.verdict.names),
        "actions": list(action_names(report.actions)),
        "policy": report.policy,
    })
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


def envelope_log_line(envelope: Envelope, outcome: str, note: str = "") -> str:
    """The text line for a message that got no Report (oversized, internal error)."""
    fields: dict[str, Any] = {
        "queue_id": envelope.queue_id, "client_ip": envelope.client_ip,
        "helo": envelope.helo, "mail_from": envelope.mail_from, "outcome": outcome,
    }
    if note:
        fields["note"] = note
    return " ".join(f"{k}={_render(v)}" for k, v in fields.items())


# --- the JSON decision log ------------------------------------------------------------------
def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _json_text(value: Any) -> Any:
    """Lone surrogates (bytes that were not UTF-8) as U+FFFD: JSON readers reject them."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_json_text(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def decision_record(envelope: Envelope, report: Report | None, outcome: str,
                    elapsed: float | None, note: str = "") -> dict[str, Any]:
    """One message's decision. ``outcome`` is the milter reply: accept, reject, tempfail,
    or fail_safe_accept / fail_safe_tempfail after an internal error."""
    if report is not None:
        fields = report_fields(report, elapsed)
        fields["rcpts"] = list(envelope.rcpts)
        # What `spoofwatch audit` counts by: the organizations the findings named, and the
        # signing domains of authenticated mail (for its watchlist suggestions).
        orgs = list(dict.fromkeys(f.org for f in report.verdict.findings if f.org))
        if orgs:
            fields["orgs"] = orgs
        if report.dkim is not None and report.dkim.passing_domains():
            fields["dkim_domains"] = list(dict.fromkeys(report.dkim.passing_domains()))
        fields["timings_ms"] = {name: round(sec * 1000, 3) for name, sec in report.timings}
    else:
        fields = {"queue_id": envelope.queue_id, "client_ip": envelope.client_ip,
                  "helo": envelope.helo, "mail_from": envelope.mail_from,
                  "rcpts": list(envelope.rcpts)}
        if elapsed is not None:
            fields["ms"] = round(elapsed * 1000, 1)
    fields["outcome"] = outcome
    if note:
        fields["note"] = note
    return {"time": _utc_now(), **{k: _json_text(v) for k, v in fields.items()}}


def json_line(record: dict[str, Any]) -> str:
    # ensure_ascii escapes everything outside printable ASCII (controls, DEL, non-ASCII)
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class DecisionLogSettings:
    path: str  # "" = off
    max_bytes: int
    backups: int


class DecisionLog:
    """Append-only JSON lines, rotated by size (path, path.1 ... path.N); thread-safe, and
    safe for several worker processes writing the one file.

    A failed write (full disk, removed directory, ...) is logged once until writing
    works again, counted, and otherwise ignored: the decision log must never hold up
    or fail a message. ``backups`` 0 means the file starts over when it is full.

    Between processes: every write holds an exclusive ``flock`` on the log's directory
    (no lock file of its own beside the log); under it the file is reopened if another
    process rotated it, the size is the file's own (not what this process wrote), and a
    full file is rotated once.
    """

    def __init__(self, settings: DecisionLogSettings,
                 on_error: Any = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._file: Any = None
        self._dir_fd: int | None = None
        self._failing = False
        self._on_error = on_error
        self.errors = 0

    @property
    def settings(self) -> DecisionLogSettings:
        return self._settings

    def reconfigure(self, settings: DecisionLogSettings) -> None:
        with self._lock:
            if settings != self._settings:
                self._close()
                self._settings = settings

    def write(self, record: dict[str, Any]) -> bool:
        if not self._settings.path:
            return True
        line = (json_line(record) + "\n").encode("ascii")
        with self._lock:
            try:
                self._write(line)
            except (OSError, ValueError) as exc:
                self._close()
                self._failed(exc)
                return False
        if self._failing:
            self._failing = False
            log.warning("decision log %s is writable again", ascii_safe(self._settings.path))
        return True

    def close(self) -> None:
        with self._lock:
            self._close()

    # --- under the lock ---
    def _write(self, line: bytes) -> None:
        if self._dir_fd is None:
            self._dir_fd = self._open_directory()
        if self._dir_fd >= 0:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX)
        try:
            if self._file is None or not self._still_current():
                self._close_log()
                self._file = open(self._settings.path, "ab")
            size = os.fstat(self._file.fileno()).st_size
            if size and size + len(line) > self._settings.max_bytes:
                self._rotate()
            self._file.write(line)
            self._file.flush()
        finally:
            if self._dir_fd >= 0:
                fcntl.flock(self._dir_fd, fcntl.LOCK_UN)

    def _open_directory(self) -> int:
        """The log's directory, for the lock between processes; -1 (no lock) when it cannot
        be read, as the old behaviour: a directory one may write but not list."""
        directory = os.path.dirname(self._settings.path) or "."
        try:
            return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot open %s to lock the decision log (%s); writing without the "
                        "lock that keeps several worker processes from rotating it at once",
                        ascii_safe(directory), exc.strerror)
            return -1

    def _still_current(self) -> bool:
        """Is the open file still the one at the path (no other process rotated it)?"""
        try:
            at_path = os.stat(self._settings.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._file.fileno())
        return (at_path.st_dev, at_path.st_ino) == (mine.st_dev, mine.st_ino)

    def _rotate(self) -> None:
        path, backups = self._settings.path, self._settings.backups
        self._close_log()
        if backups > 0:
            for n in range(backups - 1, 0, -1):
                if os.path.exists(f"{path}.{n}"):
                    os.replace(f"{path}.{n}", f"{path}.{n + 1}")
            os.replace(path, f"{path}.1")
            self._file = open(path, "ab")
        else:
            self._file = open(path, "wb")

    def _close_log(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _close(self) -> None:
        self._close_log()
        if self._dir_fd is not None and self._dir_fd >= 0:
            try:
                os.close(self._dir_fd)
            except OSError:
                pass
        self._dir_fd = None

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        if not self._failing:
            self._failing = True
            log.error("cannot write the decision log %s: %s (mail is not affected; further "
                      "failures are only counted)", ascii_safe(self._settings.path),
                      ascii_safe(str(exc)))


# --- a formatter that never lets a record break out of its line --------------------------------
_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _escape_unprintable(text: str) -> str:
    # Backslashes stay as they are: message lines escaped them already (ascii_safe).
    return _UNSAFE.sub(lambda m: ascii_safe(m.group(0), 12), text)


class SafeFormatter(logging.Formatter):
    """Escape every control and non-ASCII character a record would print.

    The message becomes exactly one line. A traceback keeps its lines, each indented
    by two spaces, so no line of it can pass for a record of its own, and none can
    hold a raw CR, ESC or other byte that moves a terminal's cursor.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _escape_unprintable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def _indent(text: str) -> str:
    return "\n".join("  " + _escape_unprintable(line) for line in text.split("\n"))
