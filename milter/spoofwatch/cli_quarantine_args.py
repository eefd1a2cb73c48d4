"""The ``spoofwatch quarantine`` command line: its arguments, exit codes and usage errors.

The commands themselves are in :mod:`spoofwatch.cli_quarantine`; ``DESCRIPTION`` is the
text ``spoofwatch quarantine --help`` shows.
"""

from __future__ import annotations

import argparse
import calendar
import re
import sys
import time
from typing import Any, NoReturn

__all__ = ["DEFAULT_CONFIG", "DESCRIPTION", "QuarantineArgumentParser", "UsageError",
           "add_parser", "parse_duration", "parse_since"]

DESCRIPTION = """``spoofwatch quarantine``: list, show, release, delete, purge and count held \
messages,
and mail a digest of the new ones; with a shared store (quarantine.database), create its
schema (migrate) and run this host's agent.

Exit status: 0 done, 1 no such record, 3 the store cannot be used (permissions, damaged
index, I/O), 4 the disk is full, 5 the record is damaged, 6 a Postfix command failed, 7
already released (``--again`` delivers another copy), 64 usage error, 75 a release was
requested from the host holding the message and has not happened within --wait, 78 the
configuration is invalid. Every failure prints one clear sentence on stderr; nothing is
changed when a command fails.
"""

EXIT_OK, EXIT_NOT_FOUND, EXIT_STORE, EXIT_DISK_FULL = 0, 1, 3, 4
EXIT_USAGE = 64  # EX_USAGE, as every spoofwatch command (sysexits.h)
EXIT_DAMAGED, EXIT_MTA, EXIT_ALREADY, EXIT_CONFIG = 5, 6, 7, 78
EXIT_PENDING = 75  # EX_TEMPFAIL: asked of the host holding the message, not done yet
DEFAULT_CONFIG = "/etc/spoofwatch/spoofwatch.yaml"
LEVELS = ("clean", "suspect", "spoof", "threat")
DIGEST_SINCE = "7d"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageError(Exception):
    pass


def parse_duration(text: str) -> float:
    """"30d", "12h", "90m", "2w", "45s" -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a duration such as 30d, 12h, 90m or 2w")
    return int(match.group(1)) * _UNIT[match.group(2)]


def parse_since(text: str, now: float, option: str = "--since") -> float:
    """A duration back from now ("7d") or a UTC date/time ("2024-10-01", "2024-10-01T12:00",
    "2024-10-01T12:00:00Z" as the JSON outputs print it). ``option`` names the argument in
    the usage error."""
    if _DURATION.match(text.strip()):
        return now - parse_duration(text)
    stamp = text.strip()
    if "T" in stamp and stamp.endswith(("Z", "z")):
        stamp = stamp[:-1]  # the times are UTC anyway
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return float(calendar.timegm(time.strptime(stamp, fmt)))
        except ValueError:
            continue
    raise UsageError(f"{option} {text!r}: give a duration (7d, 12h) or a UTC date "
                     "(2024-10-01)")


# --- the parser -----------------------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"spoofwatch configuration (default {DEFAULT_CONFIG})")
    common.add_argument("--store", metavar="DIR",
                        help="quarantine directory (default: quarantine.directory of --config)")
    common.add_argument("--postfix-config", metavar="DIR", default="",
                        help="Postfix configuration directory for postqueue/postsuper/"
                             "sendmail (default: the system's)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    return common


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``quarantine`` and its commands to the main ``spoofwatch`` parser."""
    common = _common()
    parser = subparsers.add_parser("quarantine", help="review and release quarantined mail",
                                   description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="quarantine_command", required=True,
                                parser_class=type(parser))

    lst = sub.add_parser("list", parents=[common], help="list quarantined messages, newest first")
    lst.add_argument("--since", help="only since a duration ago (7d) or a UTC date (2024-10-01)")
    lst.add_argument("--level", action="append", choices=LEVELS, default=[],
                     help="only this level (repeatable)")
    lst.add_argument("--org", default="", help="only messages concerning this organization")
    lst.add_argument("--from-domain", default="", help="only this sending domain (and below)")
    lst.add_argument("--rcpt", default="", help="only messages to this envelope recipient")
    lst.add_argument("--limit", type=int, default=50, help="records per page (default 50)")
    lst.add_argument("--offset", type=int, default=0, help="skip this many records")

    show = sub.add_parser("show", parents=[common], help="show one quarantined message")
    show.add_argument("id")
    show.add_argument("--raw", action="store_true",
                      help="write the message itself to standard output (not to a terminal)")

    release = sub.add_parser("release", parents=[common], help="deliver a quarantined message")
    release.add_argument("id")
    release.add_argument("--to", action="append", default=[], metavar="ADDR",
                         help="deliver a copy to ADDR instead of the original recipients "
                              "(repeatable); Postfix keeps holding the original")
    release.add_argument("--again", action="store_true",
                         help="deliver even though the message was released before")
    release.add_argument("--reinject", action="store_true",
                         help="shared store: deliver the stored copy through this host's "
                              "Postfix although another host holds the message (when that "
                              "host is down); its agent then removes its held copy")
    release.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                         help="shared store: how long to wait for the host holding the "
                              "message to release it (default 60; 0 = do not wait)")

    delete = sub.add_parser("delete", parents=[common],
                            help="delete a message from the store and from Postfix's hold queue")
    delete.add_argument("id")

    purge = sub.add_parser("purge", parents=[common], help="delete old records")
    purge.add_argument("--older-than", metavar="AGE",
                       help="age such as 30d (default: quarantine.retention_days)")

    stats = sub.add_parser("stats", parents=[common], help="counts by level, organization, "
                                                           "sending domain and day")
    stats.add_argument("--since", help="a duration ago (7d) or a UTC date (default: all)")

    digest = sub.add_parser("digest", parents=[common],
                            help="mail (or print) a digest of the messages held since the "
                                 "last digest")
    digest.add_argument("--to", required=True, metavar="ADDR", help="the admin's address")
    digest.add_argument("--from", dest="sender", default="", metavar="ADDR",
                        help="sender and From address (default spoofwatch@THIS-HOST)")
    digest.add_argument("--since", default=DIGEST_SINCE,
                        help=f"look back this far, a duration or a UTC date (default "
                             f"{DIGEST_SINCE}); records an earlier digest listed are left out")
    digest.add_argument("--limit", type=int, default=100,
                        help="list at most this many (the oldest; default 100); the next "
                             "digest lists the rest")
    sub.add_parser("migrate", parents=[common],
                   help="shared store: create or upgrade the database schema (safe to run "
                        "again, and from two hosts at once)")
    agent = sub.add_parser("agent", parents=[common],
                           help="shared store: carry out on this host (as root) the releases "
                                "and removals other hosts asked for")
    agent.add_argument("--once", action="store_true", help="one round, then exit")
    agent.add_argument("--interval", type=float, default=30.0, metavar="SECONDS",
                       help="look for work at least this often (default 30); a request "
                            "from another host wakes the agent at once")
    how = digest.add_mutually_exclusive_group()
    how.add_argument("--send", action="store_true",
                     help="send it with the local MTA's sendmail and remember what it listed")
    how.add_argument("--print", action="store_true",
                     help="print the mail instead (the default): a preview, nothing is "
                          "remembered")
    return parser


class QuarantineArgumentParser(argparse.ArgumentParser):
    """Usage errors exit with EXIT_USAGE (64), as every spoofwatch command does."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")
