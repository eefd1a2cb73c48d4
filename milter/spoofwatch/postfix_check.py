"""Can Postfix reach the milter socket? The chroot check behind ``check-config``.

Debian's Postfix runs smtpd (and cleanup, which runs ``non_smtpd_milters``) chrooted in
its queue directory. A chrooted daemon sees only what lies under that directory, so a
unix socket anywhere else (``/run/...``) is invisible to it: Postfix logs "No such file
or directory" and applies ``milter_default_action`` (451 with tempfail) to every message.
This module reads Postfix's own configuration and says so before the first message does.

The parsing is pure (``chrooted_milter_clients``, ``socket_warnings``); ``inspect_postfix``
is the one function that runs ``postconf`` and reads files, and a missing or unconfigured
Postfix is a result (``None`` or defaults), never an exception.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .socket_address import parse_socket_address

log = logging.getLogger(__name__)

# The daemons that talk to milters: smtpd (smtpd_milters) and cleanup (non_smtpd_milters).
MILTER_CLIENTS = ("smtpd", "cleanup")
POSTCONF_TIMEOUT = 10.0


@dataclass(frozen=True)
class ChrootedService:
    """One master.cf line whose daemon talks to milters and runs chrooted."""

    name: str  # service name and type as postconf -M names them: "smtp/inet"
    command: str  # "smtpd" or "cleanup"


@dataclass(frozen=True)
class PostfixFacts:
    """What the check needs from a Postfix installation."""

    config_directory: str
    queue_directory: str
    master_cf: str  # the text of master.cf
    compatibility_level: str  # decides what "-" in the chroot column means


def _logical_lines(master_cf: str) -> list[str]:
    """master.cf's entries: comments dropped, continuation lines (leading space) joined."""
    entries: list[str] = []
    for line in master_cf.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    return entries


def dash_means_chroot(compatibility_level: str) -> bool:
    """"-" in the chroot column: "y" before Postfix 3.0's compatibility level 1, "n" after.

    Debian's own start script (/usr/lib/postfix/configure-instance.sh) reads it the same
    way. An unset level is 0, so an unconfigured Postfix chroots on "-".
    """
    major = compatibility_level.strip().split(".", 1)[0]
    return not major.isdigit() or int(major) < 1


def chrooted_milter_clients(master_cf: str,
                            compatibility_level: str = "0") -> tuple[ChrootedService, ...]:
    """The smtpd and cleanup services that master.cf runs chrooted, in file order."""
    dash = dash_means_chroot(compatibility_level)
    found: list[ChrootedService] = []
    for entry in _logical_lines(master_cf):
        fields = entry.split()
        if len(fields) < 8:
            continue  # not a service line (or a broken one: postfix check reports it)
        name, kind, chroot, command = fields[0], fields[1], fields[4], fields[7]
        chrooted = chroot.lower() == "y" or (chroot == "-" and dash)
        if chrooted and os.path.basename(command) in MILTER_CLIENTS:
            found.append(ChrootedService(f"{name}/{kind}", os.path.basename(command)))
    return tuple(found)


def relative_to_queue(socket_path: str, queue_directory: str) -> str | None:
    """The socket path as Postfix names it from its queue directory, or None if outside."""
    path = PurePosixPath(os.path.normpath(socket_path))
    queue = PurePosixPath(os.path.normpath(queue_directory))
    try:
        inside = path.relative_to(queue)
    except ValueError:
        return None
    return str(inside) if str(inside) != "." else None


def socket_warnings(socket_spec: str, facts: PostfixFacts) -> tuple[str, ...]:
    """Plain-language warnings about a socket Postfix's chrooted daemons cannot reach.

    ``socket_spec`` is a validated ``milter.socket`` value."""
    address = parse_socket_address(socket_spec)
    if not address.is_unix:
        return ()  # inet: no paths, no chroot question
    path = address.path
    chrooted = chrooted_milter_clients(facts.master_cf, facts.compatibility_level)
    if not chrooted or relative_to_queue(path, facts.queue_directory) is not None:
        return ()
    names = ", ".join(f"{s.name} ({s.command})" for s in chrooted)
    suggested = os.path.join(facts.queue_directory, "spoofwatch", "spoofwatch.sock")
    return (
        f"milter.socket {socket_spec} lies outside Postfix's queue directory "
        f"{facts.queue_directory}, but {facts.config_directory}/master.cf runs {names} "
        f"chrooted there: Postfix cannot see the socket and applies milter_default_action "
        f"(451 with tempfail) to every message. Fix: set milter.socket: unix:{suggested} "
        f"and in main.cf smtpd_milters = unix:spoofwatch/spoofwatch.sock (see "
        f"postfix-example/README.md, section 2), or use an inet: socket.",
    )


def _postconf(config_directory: str | None, *args: str) -> str | None:
    command = ["postconf"]
    if config_directory:
        command += ["-c", config_directory]
    try:
        result = subprocess.run([*command, *args], capture_output=True, text=True,
                                timeout=POSTCONF_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def inspect_postfix(config_directory: str | None = None) -> PostfixFacts | None:
    """Postfix's queue directory and master.cf, or None when there is no Postfix to ask.

    Without a main.cf (Postfix installed with "No configuration") postconf refuses to read
    settings (and sleeps a second before it says so); its built-in defaults
    (``postconf -d``) are what such a Postfix would use, and an unset compatibility level
    is 0.
    """
    if shutil.which("postconf") is None:
        return None
    directory = config_directory or os.environ.get("MAIL_CONFIG") \
        or _postconf(None, "-dh", "config_directory")
    if not directory:
        return None
    try:
        master_cf = (Path(directory) / "master.cf").read_text(errors="replace")
    except OSError:
        return None  # no master.cf: no Postfix services to run chrooted
    if (Path(directory) / "main.cf").is_file():
        values = (_postconf(directory, "-h", "queue_directory", "compatibility_level") or "")
        queue, _, level = values.partition("\n")
    else:
        queue, level = _postconf(directory, "-dh", "queue_directory") or "", "0"
    return PostfixFacts(directory, queue.strip() or "/var/spool/postfix", master_cf,
                        level.strip() or "0")


def check_socket(socket_spec: str, config_directory: str | None = None) -> tuple[str, ...]:
    """The warnings for this socket against the Postfix on this machine (none without one)."""
    facts = inspect_postfix(config_directory)
    return () if facts is None else socket_warnings(socket_spec, facts)


def log_socket_warnings(socket_spec: str) -> None:
    """At service start: say once, in the log, what check-config would say."""
    for warning in check_socket(socket_spec):
        log.warning("%s", warning)
