"""The chroot check: can Postfix's smtpd and cleanup reach the milter socket?"""

from __future__ import annotations

import subprocess
from pathlib import Path

from spoofwatch.postfix_check import (
    ChrootedService,
    PostfixFacts,
    chrooted_milter_clients,
    inspect_postfix,
    relative_to_queue,
    socket_warnings,
)

# The service lines of Debian 12's master.cf (/usr/share/postfix/master.cf.dist), abridged.
DEBIAN_MASTER_CF = """\
#
# Postfix master process configuration file.
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
smtp      inet  n       -       y       -       -       smtpd
#smtp      inet  n       -       y       -       1       postscreen
#submission inet n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submission
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
local     unix  -       n       n       -       -       local
"""

UNCHROOTED = DEBIAN_MASTER_CF.replace(
    "smtp      inet  n       -       y", "smtp      inet  n       -       n").replace(
    "cleanup   unix  n       -       y", "cleanup   unix  n       -       n")

RUN_SOCKET = "unix:/run/spoofwatch/spoofwatch.sock"
SPOOL_SOCKET = "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock"


def _facts(master_cf: str, level: str = "3.6") -> PostfixFacts:
    return PostfixFacts("/etc/postfix", "/var/spool/postfix", master_cf, level)


def test_debian_master_cf_chroots_smtpd_and_cleanup() -> None:
    assert chrooted_milter_clients(DEBIAN_MASTER_CF, "3.6") == (
        ChrootedService("smtp/inet", "smtpd"), ChrootedService("cleanup/unix", "cleanup"))


def test_commented_and_continuation_lines_are_not_services() -> None:
    text = "#submission inet n - y - - smtpd\n  -o smtpd_milters=x\n" \
           "submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n"
    assert chrooted_milter_clients(text, "3.6") == (ChrootedService("submission/inet", "smtpd"),)


def test_a_dash_chroots_below_compatibility_level_1_only() -> None:
    text = "smtp inet n - - - - smtpd\n"
    assert chrooted_milter_clients(text, "0") == (ChrootedService("smtp/inet", "smtpd"),)
    assert chrooted_milter_clients(text, "3.6") == ()


def test_a_daemon_named_by_path_counts() -> None:
    text = "smtp inet n - y - - /usr/lib/postfix/sbin/smtpd\n"
    assert chrooted_milter_clients(text, "3.6") == (ChrootedService("smtp/inet", "smtpd"),)


def test_socket_under_run_with_chrooted_smtpd_warns_and_names_the_fix() -> None:
    [warning] = socket_warnings(RUN_SOCKET, _facts(DEBIAN_MASTER_CF))
    assert warning == (
        "milter.socket unix:/run/spoofwatch/spoofwatch.sock lies outside Postfix's queue "
        "directory /var/spool/postfix, but /etc/postfix/master.cf runs smtp/inet (smtpd), "
        "cleanup/unix (cleanup) chrooted there: Postfix cannot see the socket and applies "
        "milter_default_action (451 with tempfail) to every message. Fix: set milter.socket: "
        "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock and in main.cf smtpd_milters = "
        "unix:spoofwatch/spoofwatch.sock (see postfix-example/README.md, section 2), or use "
        "an inet: socket.")


def test_socket_inside_the_queue_directory_is_fine() -> None:
    assert socket_warnings(SPOOL_SOCKET, _facts(DEBIAN_MASTER_CF)) == ()


def test_socket_under_run_is_fine_when_nothing_is_chrooted() -> None:
    assert socket_warnings(RUN_SOCKET, _facts(UNCHROOTED)) == ()


def test_inet_socket_is_never_a_chroot_question() -> None:
    assert socket_warnings("inet:127.0.0.1:8894", _facts(DEBIAN_MASTER_CF)) == ()


def test_a_lookalike_prefix_of_the_queue_directory_is_outside() -> None:
    assert relative_to_queue("/var/spool/postfix-other/s.sock", "/var/spool/postfix") is None
    assert relative_to_queue("/var/spool/postfix/../run/s.sock", "/var/spool/postfix") is None
    assert relative_to_queue("/var/spool/postfix/spoofwatch/s.sock",
                             "/var/spool/postfix/") == "spoofwatch/s.sock"


def test_missing_postfix_configuration_directory_gives_no_facts(tmp_path: Path) -> None:
    assert inspect_postfix(str(tmp_path / "absent")) is None


def test_an_unconfigured_postfix_still_gets_checked(tmp_path: Path) -> None:
    # master.cf but no main.cf: what "No configuration" leaves; postconf's defaults apply
    (tmp_path / "master.cf").write_text(DEBIAN_MASTER_CF)
    facts = inspect_postfix(str(tmp_path))
    default_queue = subprocess.run(["postconf", "-dh", "queue_directory"], capture_output=True,
                                   text=True, check=True).stdout.strip()
    assert facts == PostfixFacts(str(tmp_path), default_queue, DEBIAN_MASTER_CF, "0")
    assert len(socket_warnings(RUN_SOCKET, facts)) == 1
