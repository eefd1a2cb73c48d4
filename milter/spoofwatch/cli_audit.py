"""``spoofwatch audit``: how spoofable each watched organization is, and who is spoofing it.

Exit status (docs/audit.md):
  0  audited; no domain is spoofable and being spoofed, every rating is known
  1  at least one domain is spoofable (or not known not to be) and was forged here
  2  no such domain, but the rating of at least one domain is unknown (DNS failure)
  64 usage error, 66 the decision log given cannot be read, 70 the report could not be
  made (a bug: the message says what failed), 73 the HTML file cannot be written, 74
  standard output cannot be written, 78 configuration error
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .audit.history import History, HistorySource, collect
from .audit.history_sources import DecisionLogFile, QuarantineReleases, SharedDecisions
from .audit.rating import Rating
from .audit.report import AuditReport, audit_domains, targets_of
from .audit.report_html import report_html
from .audit.report_json import report_json
from .audit.report_text import report_text
from .audit.suggest import suggest_diff
from .cli_quarantine_args import UsageError, parse_since
from .config import Config, load_config
from .dns import make_resolver
from .domains import is_qualified_domain, normalize_domain
from .quarantine.pg_store import PostgresStore
from .quarantine.stores import admin_store

__all__ = ["EXIT_ALERT", "EXIT_OK", "EXIT_UNKNOWN", "add_parser", "exit_status", "run"]

EXIT_OK, EXIT_ALERT, EXIT_UNKNOWN = 0, 1, 2
EX_USAGE, EX_NOINPUT, EX_SOFTWARE, EX_CANTCREAT, EX_IOERR = 64, 66, 70, 73, 74
DEFAULT_SINCE = "30d"
# The longest history period (--since to --until): ten years. Past it the chart alone
# would be millions of days, and no decision log is kept that long.
MAX_PERIOD_DAYS = 3660


def add_parser(sub: Any) -> None:
    audit = sub.add_parser(
        "audit", help="how spoofable each watched domain is, and who is spoofing it",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("--config", default="/etc/spoofwatch/spoofwatch.yaml")
    audit.add_argument("--domain", action="append", default=[], metavar="D",
                       help="audit this domain instead of the watchlist (repeatable)")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    audit.add_argument("--since", default=DEFAULT_SINCE,
                       help="history period: a duration (30d, 12h) or a UTC date (default 30d)")
    audit.add_argument("--until", help="end of the history period: a UTC date or date/time "
                       "(default: now)")
    audit.add_argument("--decision-log", metavar="FILE",
                       help="decision log to read (default: logging.json_file)")
    audit.add_argument("--suggest", action="store_true",
                       help="print watchlist facts found, as a diff of the watchlist file")


def exit_status(report: AuditReport) -> int:
    if report.alerts:
        return EXIT_ALERT
    if any(d.assessment.rating is Rating.UNKNOWN for d in report.domains):
        return EXIT_UNKNOWN
    return EXIT_OK


def _domains(given: list[str]) -> list[str]:
    domains = []
    for text in given:
        domain = normalize_domain(text)
        if not is_qualified_domain(domain):
            raise UsageError(f"--domain {text!r} is not a domain name")
        domains.append(domain)
    return list(dict.fromkeys(domains))


def _sources(config: Config, args: argparse.Namespace) -> list[HistorySource]:
    sources: list[HistorySource] = []
    shared = admin_store(config.quarantine) if config.quarantine.database else None
    log_path = args.decision_log or config.logging.json_file
    if isinstance(shared, PostgresStore) and config.logging.database and not args.decision_log:
        sources.append(SharedDecisions(shared))  # every host's decisions, not this one's
    elif log_path:
        sources.append(DecisionLogFile(log_path))
    if isinstance(shared, PostgresStore):
        sources.append(QuarantineReleases("", shared))
    elif config.quarantine.directory and Path(config.quarantine.directory).is_dir():
        sources.append(QuarantineReleases(config.quarantine.directory))
    return sources


def _history(config: Config, args: argparse.Namespace, now: float) -> History | None:
    sources = _sources(config, args)
    if not sources:
        return None
    since = parse_since(args.since, now)
    until = now if args.until is None else parse_since(args.until, now, "--until")
    if args.until is not None and _is_date(args.until):
        until += 86399  # a date names the whole day
    if until < since:
        raise UsageError("--until is before --since")
    if until - since > MAX_PERIOD_DAYS * 86400:
        raise UsageError(f"--since {args.since!r}: the history period (--since to --until) "
                         f"is at most {MAX_PERIOD_DAYS} days")
    return collect(sources, config.detection.watchlist, config.detection.matcher, since, until)


def _is_date(text: str) -> bool:
    try:
        time.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place: the
    previous report stays whole until the new one is complete."""
    data = text.encode("utf-8")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            mode = path.stat().st_mode & 0o777  # keep the previous report's permissions
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _progress(done: int, total: int, domain: str) -> None:
    sys.stderr.write(f"\r\x1b[Kaudit: {done}/{total} {domain[:60]}")
    if done == total:
        sys.stderr.write("\r\x1b[K")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    # Each DNS failure is in the report ("unknown"); the resolver's log lines would repeat it.
    logging.getLogger().setLevel(logging.WARNING)
    try:
        domains = _domains(args.domain)
        config = load_config(args.config)
        if args.decision_log and not Path(args.decision_log).is_file():
            print(f"spoofwatch audit: cannot read the decision log {args.decision_log}",
                  file=sys.stderr)
            return EX_NOINPUT
        history = _history(config, args, time.time())
    except UsageError as exc:
        print(f"spoofwatch audit: {exc}", file=sys.stderr)
        return EX_USAGE
    targets = targets_of(config, domains)
    if not targets:
        print("spoofwatch audit: no domain to audit: the watchlist lists none; "
              "give --domain D", file=sys.stderr)
        return EX_USAGE
    progress = _progress if sys.stderr.isatty() else None
    report = audit_domains(targets, config, make_resolver(config.dns), history, progress)
    # Status 1 means "alert" to the scripts that run the audit: a failure to produce the
    # output must never exit 1 (or 0), so each one has its own status.
    try:
        if args.html:
            page = report_html(report)
            try:
                _write_atomically(Path(args.html), page)
            except OSError as exc:
                print(f"spoofwatch audit: cannot write {args.html}: {exc.strerror or exc}",
                      file=sys.stderr)
                return EX_CANTCREAT
        if args.suggest:
            path = config.detection.watchlist.path
            output = suggest_diff(report, path) if path else ""
        else:
            output = (report_json(report) if args.json else report_text(report)) + "\n"
    except (UnicodeError, ValueError) as exc:
        print(f"spoofwatch audit: the report could not be made: {exc!r}", file=sys.stderr)
        return EX_SOFTWARE
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except (OSError, UnicodeError) as exc:
        print(f"spoofwatch audit: cannot write the report to standard output: {exc}",
              file=sys.stderr)
        return EX_IOERR
    return exit_status(report)
