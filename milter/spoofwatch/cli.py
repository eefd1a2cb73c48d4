"""The ``spoofwatch`` command: run the milter, scan a message, check a configuration, audit
the watched domains."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, cli_audit, cli_quarantine
from .actions import AddHeader, ReplaceBody, describe
from .analyze import analyze
from .config import Config, ConfigError, load_config
from .dns import make_resolver
from .message import Message
from .plan import banner_reasons
from .postfix_check import check_socket
from .quarantine.release import ReleaseKeyError, key_path, load_key
from .report import Report
from .results import Envelope, Level
from .textsafe import terminal_safe

EXIT_BY_LEVEL = {Level.CLEAN: 0, Level.SUSPECT: 1, Level.SPOOF: 2, Level.THREAT: 3}
EX_USAGE, EX_NOINPUT, EX_SOFTWARE, EX_CONFIG = 64, 66, 70, 78
DEFAULT_CONFIG = "/etc/spoofwatch/spoofwatch.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's exit 2 would read as "spoof"
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spoofwatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spoofwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the milter in the foreground")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="configuration file (YAML)")

    check = sub.add_parser("check-config", help="validate the configuration and its policy")
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.add_argument("--postfix-config", metavar="DIR", default=None,
                       help="Postfix configuration directory to check the socket against "
                            "(default: the one postconf reports)")

    scan = sub.add_parser("scan", help="show what the milter would do with a message file")
    scan.add_argument("file", help="an RFC 5322 message (.eml); - reads standard input")
    scan.add_argument("--config", default=DEFAULT_CONFIG)
    scan.add_argument("--client-ip", help="SMTP client address (default: from Received)")
    scan.add_argument("--helo", help="HELO/EHLO name (default: from Received)")
    scan.add_argument("--mail-from", help="envelope sender (default: from Return-Path)")
    scan.add_argument("--rcpt", action="append", default=[], help="envelope recipient")
    scan.add_argument("--json", action="store_true", help="machine-readable output")
    scan.add_argument("--all-checks", action="store_true",
                      help="also run the checks the milter leaves out when their result "
                           "cannot change the verdict (the threat reading of mail from a "
                           "sender not in doubt)")
    cli_quarantine.add_parser(sub)
    cli_audit.add_parser(sub)
    return parser


# --- envelope defaults from the message itself ------------------------------------------
_RECEIVED_FROM = re.compile(r"\bfrom\s+(?P<helo>[^\s(;]+)(?:\s+\((?P<paren>[^)]*)\))?", re.I)
_IP_IN_BRACKETS = re.compile(r"\[(?:IPv6:)?(?P<ip>[0-9A-Fa-f:.]+)\]")


def envelope_from_headers(message: Message) -> dict[str, tuple[str, str]]:
    """Best-effort envelope facts from Received / Return-Path: field -> (value, where from)."""
    found: dict[str, tuple[str, str]] = {}
    received = message.get_all("Received")
    if received:
        match = _RECEIVED_FROM.search(received[0])
        if match:
            found["helo"] = (match.group("helo"), "the top Received header")
            ip = _IP_IN_BRACKETS.search(match.group("paren") or "")
            if ip:
                found["client_ip"] = (ip.group("ip"), "the top Received header")
    return_path = message.get("Return-Path")
    if return_path is not None:
        found["mail_from"] = (return_path.strip().strip("<>").strip(), "Return-Path")
    return found


def build_envelope(args: argparse.Namespace, message: Message) -> tuple[Envelope, list[str]]:
    """The envelope from the flags, filling gaps from the message's headers (and saying so)."""
    derived = envelope_from_headers(message)
    notes: list[str] = []
    values: dict[str, str] = {}
    for key, flag in (("client_ip", args.client_ip), ("helo", args.helo),
                      ("mail_from", args.mail_from)):
        if flag is not None:
            values[key] = flag
        elif key in derived:
            values[key], source = derived[key]
            notes.append(f"{key.replace('_', ' ')} {values[key]!r} taken from {source}")
        else:
            values[key] = ""
            notes.append(f"no {key.replace('_', ' ')} given or found in the message")
    envelope = Envelope(
        client_ip=values["client_ip"], helo=values["helo"],
        mail_from=values["mail_from"].strip("<>"), rcpts=tuple(args.rcpt),
    )
    return envelope, notes


# --- output -------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["type"] = type(value).__name__
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def report_json(report: Report, notes: list[str]) -> str:
    data = _jsonable(report)
    data["level"] = report.level.value
    data["reasons"] = list(report.verdict.reasons)
    data["headers_added"] = [
        {"name": a.name, "value": a.value} for a in report.actions if isinstance(a, AddHeader)
    ]
    data["actions_described"] = [describe(a) for a in report.actions]
    data["skipped"] = report.skipped
    data["notes"] = notes
    return json.dumps(data, indent=2, sort_keys=True)


def banner_preview(report: Report, config: Config) -> str:
    """The warning the reader will see, as the banner action inserts it."""
    return config.policy.banner_text.replace("{reasons}", banner_reasons(report.verdict))


def report_text(report: Report, notes: list[str], config: Config | None = None) -> str:
    verdict = report.verdict
    lines = [f"Verdict: {report.level.value} (score {verdict.score:g}, policy {report.policy})"]
    if report.skipped:
        lines.append(f"Checks skipped: {report.skipped}")
    if report.skipped_checks:
        lines.append(f"Not run, as they could not change the verdict: "
                     f"{', '.join(report.skipped_checks)} (--all-checks runs them)")
    for note in notes:
        lines.append(f"Note: {note}")
    lines.append("")
    lines.append("Findings:")
    if not report.verdict.findings:
        lines.append("  (none)")
    for finding in report.verdict.findings:
        lines.append(f"  {finding.name} (weight {finding.weight:g}): {finding.text}")
    lines.append("")
    lines.append("Actions:")
    for action in report.actions:
        lines.append("  " + describe(action).replace("\n\t", "\n      "))
    if report.monitor and report.would_have:
        lines.append("")
        lines.append("Monitor mode: enforcement would also have done:")
        lines.extend(f"  {w}" for w in report.would_have)
    if config is not None and any(isinstance(a, ReplaceBody) for a in report.actions):
        lines.append("")
        lines.append("Banner added to the text and HTML parts:")
        lines.extend("  | " + line for line in banner_preview(report, config).splitlines())
    return terminal_safe("\n".join(lines))


# --- commands -------------------------------------------------------------------------------
def _load(path: str) -> Config:
    return load_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    print(f"{args.config}: OK (authserv-id {config.authserv_id}, policy {config.policy.name} "
          f"from {config.policy.path}, socket {config.milter.socket})")
    # A warning, not an error: the file is valid, and ExecStartPre must not stop a service
    # an admin may point at a Postfix elsewhere (or at Sendmail).
    for warning in check_socket(config.milter.socket, args.postfix_config):
        print(f"spoofwatch: warning: {warning}", file=sys.stderr)
    return 0


def release_key(config: Config) -> tuple[bytes, str]:
    """The quarantine's release key, as the milter uses it, and a note when it is unreadable.

    Only read, never created (the service creates it): without it a released message is
    checked like new mail here, while the milter lets it pass.
    """
    q = config.quarantine
    if not (q.directory or q.release_key_file):
        return b"", ""  # no quarantine: the milter honours no releases either
    try:
        return load_key(key_path(q.directory, q.release_key_file)), ""
    except ReleaseKeyError as exc:
        return b"", (f"{exc}; a message released from the quarantine is checked here as "
                     "new mail (the milter lets it pass unchanged)")


def cmd_scan(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"spoofwatch: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EX_NOINPUT
    if raw.startswith(b"From "):  # an mbox separator line is not a header
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    message = Message.from_bytes(raw)
    envelope, notes = build_envelope(args, message)
    key, key_note = release_key(config)
    if key_note:
        notes.append(key_note)
    report = analyze(envelope, message, config, make_resolver(config.dns).for_message(), key,
                     all_checks=args.all_checks)
    print(report_json(report, notes) if args.json else report_text(report, notes, config))
    return EXIT_BY_LEVEL[report.level]


def cmd_run(args: argparse.Namespace) -> int:
    from .worker import run  # pymilter and libmilter: only the milter needs them

    config = _load(args.config)
    logging.getLogger().setLevel(config.logging.level.upper())
    return run(args.config, config)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handlers = {"run": cmd_run, "scan": cmd_scan, "check-config": cmd_check_config,
                "quarantine": cli_quarantine.run, "audit": cli_audit.run}
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"spoofwatch: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
