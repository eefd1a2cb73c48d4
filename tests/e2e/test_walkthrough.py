"""A newcomer's walk-through: Debian's Postfix as the package sets it up, spoofwatch as
shipped, the lines postfix-example/README.md says to add, and mail through both.

What is Debian's, unchanged:
- ``main.cf`` from the package's own template ``/usr/share/postfix/main.cf.debian`` plus
  the settings its postinst writes for the answer "Internet Site" (the relay restrictions,
  myhostname, mynetworks, mydestination, ...);
- ``master.cf`` from ``/usr/share/postfix/master.cf.dist``: smtpd, cleanup and smtp run
  **chrooted** in the queue directory;
- the chroot's ``etc/`` files, copied as Debian's start script
  (``/usr/lib/postfix/configure-instance.sh``) copies them.

What is spoofwatch's, unchanged: what ``scripts/install.sh`` installs, run into ROOT with
``DESTDIR`` as an admin runs it on ``/`` (the virtualenv ROOT/opt/spoofwatch built by pip from
the package index, ``/etc/spoofwatch`` with the bundled configuration, policies and
watchlist, the systemd snippets); the service user and the directories made from the
*installed* snippets by the real ``systemd-sysusers`` and ``systemd-tmpfiles --create``,
which is what install.sh itself runs when DESTDIR is not set; the service started with the
installed command ``ROOT/opt/spoofwatch/bin/spoofwatch run`` (the unit's ExecStart,
re-rooted); and the lines of ``postfix-example/main.cf`` added to main.cf with ``postconf
-e``, as the guide says.

What a throwaway instance must change, and nothing else: this is not the machine's own
Postfix, so everything lives under a temporary directory ROOT that stands for ``/``. The
queue directory is ROOT/var/spool/postfix (Debian's path, re-rooted), every absolute path in
the installed configuration is re-rooted the same way (the socket, the quarantine store) in
a copy beside it (its relative paths still lead to the installed policy and watchlist),
Postfix listens on a free loopback port instead of 25 (the same master.cf line, chroot
column ``y`` kept) and delivers to a loopback sink (with short retry times),
DNS comes from the loopback test server, XCLIENT lets the test choose the client address
the milter sees, and the service runs as this test's user (root) rather than as the user
spoofwatch.

The installed command works from ROOT: with DESTDIR the virtualenv is built in place at
ROOT/opt/spoofwatch, so pip writes that path into the command's ``#!`` line
(test_the_service_runs_from_what_install_sh_installed checks both). With the configuration
as shipped before (``unix:/run/spoofwatch/spoofwatch.sock``), the re-rooted socket lands
outside the chroot and every message gets ``451 4.7.1``: this test fails.

One installation per module: install.sh takes 10 to 20 s (pip, and pymilter's C build).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from spoofwatch.config import QuarantineConfig
from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.milterproc import REPO, MilterProcess
from support.postfix import PostfixError, PostfixInstance, SmtpSink, send
from support.seeds import FOREIGN_HELO, FOREIGN_IP, SEED_FROM, plain, publish_seed_zone

DEBIAN_QUEUE = "/var/spool/postfix"
INSTALL = REPO / "scripts" / "install.sh"
PREFIX = "/opt/spoofwatch"  # install.sh's default
INSTALLED_CONFIG = "/etc/spoofwatch/spoofwatch.yaml"
GUIDE_SNIPPET = REPO / "postfix-example" / "main.cf"
# What Debian's postinst sets on a fresh install answered "Internet Site" (after copying
# main.cf.debian); the host names are the test's.
INTERNET_SITE = {
    "smtpd_relay_restrictions": "permit_mynetworks permit_sasl_authenticated "
                                "defer_unauth_destination",
    "myhostname": "mx.example.org",
    "alias_maps": "hash:/etc/aliases",
    "alias_database": "hash:/etc/aliases",
    "mydestination": "$myhostname, localhost",
    "relayhost": "",
    "mynetworks": "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
    "mailbox_size_limit": "0",
    "recipient_delimiter": "+",
    "inet_interfaces": "all",
    "inet_protocols": "all",
}
# The files Debian's start script copies into the chroot.
CHROOT_FILES = ("etc/localtime", "etc/services", "etc/resolv.conf", "etc/hosts",
                "etc/host.conf", "etc/nsswitch.conf")
LEGIT_DOMAIN = "county-party.example"
LEGIT_IP = "198.51.100.10"


def daemon_states(queue: Path) -> str:
    """Where each daemon of the instance whose queue is QUEUE waits (for a failure message)."""
    try:
        master = int((queue / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        return f"no master pid: {exc}"
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
            if int(proc.name) != master and ppid != master:
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            wchan = (proc / "wchan").read_text()
            syscall = (proc / "syscall").read_text().strip()
            fds = sorted(f"{fd.name}->{os.readlink(fd)}" for fd in (proc / "fd").iterdir())
            sig = " ".join(line for line in status.splitlines() if line.startswith("Sig"))
            stack = (proc / "stack").read_text() if (proc / "stack").exists() else ""
        except (OSError, ValueError):
            continue
        out.append(f"{proc.name} {cmd}\n  wchan={wchan} syscall={syscall}\n  {sig}\n"
                   f"  fds={fds}\n  {stack}")
    return "\n".join(out)


def guide_settings() -> list[str]:
    """The ``name = value`` lines of postfix-example/main.cf, as an admin pastes them."""
    lines = [line.strip() for line in GUIDE_SNIPPET.read_text().splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


class DebianPostfix(PostfixInstance):
    """Postfix configured the Debian way, in ROOT, chroot on."""

    def __init__(self, base: Path, root: Path, sink_port: int) -> None:
        super().__init__(base, milter_socket="", sink_port=sink_port)
        self.root = root
        self.queue = root / DEBIAN_QUEUE.lstrip("/")

    def configure(self) -> None:
        if shutil.which("postconf") is None:
            raise PostfixError("postfix is not installed: scripts/test.sh installs it")
        for d in (self.etc, self.queue, self.data):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy("/usr/share/postfix/main.cf.debian", self.etc / "main.cf")
        master = Path("/usr/share/postfix/master.cf.dist").read_text()
        smtpd_line = "smtp      inet  n       -       y       -       -       smtpd"
        assert smtpd_line in master.splitlines(), "Debian's master.cf changed its smtpd line"
        # the same service, chroot "y" included, on a loopback port instead of port 25
        (self.etc / "master.cf").write_text(master.replace(
            smtpd_line, smtpd_line.replace("smtp     ", f"127.0.0.1:{self.port}", 1), 1))
        subprocess.run(["chown", "-R", "postfix", str(self.data)], check=True)
        self.set(**INTERNET_SITE)
        self.set(**{
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.base),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "static:ALL",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "default_transport": f"smtp:[127.0.0.1]:{self.sink_port}",
            "relay_transport": f"smtp:[127.0.0.1]:{self.sink_port}",
            # A delivery attempt that fails on a loaded machine is retried within seconds,
            # not after Postfix's default 300 s backoff (nothing here touches the milter).
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            # and a delivery agent that started too slowly is asked for again after 2 s,
            # not 60 (seen under load: the message stayed in the active queue)
            "transport_retry_time": "2s",
        })
        for name in CHROOT_FILES:
            if Path("/", name).is_file():
                (self.queue / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(Path("/", name), self.queue / name)

    def apply_guide(self) -> None:
        subprocess.run(["postconf", "-c", str(self.etc), "-e", *guide_settings()], check=True)

    def chrooted(self, service: str) -> str:
        out = subprocess.run(["postconf", "-c", str(self.etc), "-F", f"{service}/chroot"],
                             capture_output=True, text=True, check=True).stdout
        return out.split("=", 1)[1].strip()


def inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


@dataclass(frozen=True)
class Installed:
    root: Path
    venv: Path  # ROOT/opt/spoofwatch
    command: Path  # ROOT/opt/spoofwatch/bin/spoofwatch: the unit's ExecStart, re-rooted
    output: str  # what install.sh said


def install_spoofwatch(root: Path) -> Installed:
    """``DESTDIR=ROOT bash scripts/install.sh``, then what install.sh runs itself on a real
    target (without DESTDIR): ``systemd-sysusers`` and ``systemd-tmpfiles --create``, on the
    snippets it installed in ROOT.

    ROOT's passwd and group hold this machine's postfix user and group: the smtpd that must
    enter the socket directory is this machine's."""
    postfix_user, postfix_group = pwd.getpwnam("postfix"), grp.getgrnam("postfix")
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(
        f"root:x:0:0::/root:/bin/sh\npostfix:x:{postfix_user.pw_uid}:{postfix_user.pw_gid}"
        f"::{DEBIAN_QUEUE}:/usr/sbin/nologin\n")
    (root / "etc/group").write_text(f"root:x:0:\npostfix:x:{postfix_group.gr_gid}:\n")
    env = {**os.environ, "DESTDIR": str(root), "PREFIX": PREFIX}
    result = subprocess.run(["bash", str(INSTALL)], env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for tool in (["systemd-sysusers"], ["systemd-tmpfiles", "--create"]):
        made = subprocess.run([*tool, f"--root={root}"], capture_output=True, text=True,
                              timeout=60, check=False)
        assert made.returncode == 0, (tool, made.stderr)
    venv = inside(root, PREFIX)
    return Installed(root, venv, venv / "bin/spoofwatch", result.stdout)


def absolute_paths(value: Any) -> Iterator[str]:
    """Every string in a loaded YAML document that names an absolute path."""
    if isinstance(value, dict):
        for item in value.values():
            yield from absolute_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from absolute_paths(item)
    elif isinstance(value, str) and value.startswith(("/", "unix:/")):
        yield value.removeprefix("unix:")


def service_config(installed: Installed, dns_port: int) -> tuple[Path, str]:
    """The installed configuration with its absolute paths re-rooted and DNS at the test
    server, written beside it (so its relative paths still lead to the installed policy and
    watchlist); (config file, socket)."""
    root = installed.root
    original = inside(root, INSTALLED_CONFIG)
    data = yaml.safe_load(original.read_text())
    shipped_socket = data["milter"]["socket"]
    assert shipped_socket.startswith("unix:/"), shipped_socket
    socket_spec = f"unix:{inside(root, shipped_socket[5:])}"
    data["milter"]["socket"] = socket_spec
    # the store: as configured, or the code's default when the file leaves it out
    store = data.setdefault("quarantine", {}).get("directory", QuarantineConfig.directory)
    data["quarantine"]["directory"] = str(inside(root, store))
    data["dns"].update(nameservers=["127.0.0.1"], port=dns_port, cache_size=0)
    outside = [path for path in absolute_paths(data) if not path.startswith(f"{root}/")]
    assert outside == [], "a path of the installed configuration not re-rooted"
    config = original.with_name("walkthrough.yaml")
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config, socket_spec


@dataclass
class Walkthrough:
    postfix: DebianPostfix
    sink: SmtpSink
    installed: Installed
    milter: MilterProcess
    config: Path
    socket_spec: str


@pytest.fixture(scope="module")
def walkthrough(dns_server: DnsTestServer) -> Iterator[Walkthrough]:
    # Not pytest's tmp_path: Postfix wants its queue's parents owned by root and open.
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-walkthrough-"))
    os.chmod(base, 0o755)
    root = base / "root"
    sink = SmtpSink()
    sink.start()
    milter: MilterProcess | None = None
    postfix: DebianPostfix | None = None
    try:
        postfix = DebianPostfix(base / "postfix", root, sink.port)
        postfix.configure()  # apt-get install postfix, "Internet Site"
        installed = install_spoofwatch(root)  # bash scripts/install.sh
        postfix.apply_guide()  # the lines of postfix-example/main.cf
        config, spec = service_config(installed, dns_server.port)
        milter = MilterProcess(config, spec, base / "milter.log",
                               command=(str(installed.command),))
        milter.start()
        postfix.start()
        yield Walkthrough(postfix, sink, installed, milter, config, spec)
    finally:
        if postfix is not None:
            postfix.stop()
        if milter is not None:
            milter.stop()
        sink.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_postfix_is_debians_with_smtpd_and_cleanup_chrooted(walkthrough: Walkthrough) -> None:
    postfix = walkthrough.postfix
    assert postfix.chrooted(f"127.0.0.1:{postfix.port}/inet") == "y"
    assert postfix.chrooted("cleanup/unix") == "y"
    shown = subprocess.run(["postconf", "-c", str(postfix.etc), "-hx", "smtpd_milters",
                            "non_smtpd_milters"], capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["unix:spoofwatch/spoofwatch.sock"] * 2


def test_the_service_runs_from_what_install_sh_installed(walkthrough: Walkthrough) -> None:
    installed = walkthrough.installed
    python = installed.venv / "bin/python"
    # built in place with DESTDIR, so the installed command names ROOT's interpreter
    assert installed.command.read_text().splitlines()[0] == f"#!{python}"
    # the service is that command (the kernel runs a #! script as: interpreter, script, ...)
    cmdline = Path(f"/proc/{walkthrough.milter.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:4] == [os.fsencode(python), os.fsencode(installed.command), b"run",
                           b"--config"]
    # and its interpreter takes the package from the installed virtualenv, not the checkout
    imported = subprocess.run([str(python), "-c", "import spoofwatch; print(spoofwatch.__file__)"],
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    [site] = installed.venv.glob("lib/python3*/site-packages")
    assert imported.stdout == f"{site}/spoofwatch/__init__.py\n"


def test_installed_snippets_made_the_socket_directory_for_group_postfix(
    walkthrough: Walkthrough,
) -> None:
    assert ("install: installed /usr/local/lib/tmpfiles.d/spoofwatch-postfix.conf (socket "
            "directory /var/spool/postfix/spoofwatch)") in walkthrough.installed.output
    socket_dir = Path(walkthrough.socket_spec[5:]).parent
    assert socket_dir == walkthrough.postfix.queue / "spoofwatch"
    # the user systemd-sysusers made in ROOT from the installed sysusers snippet
    users = {fields[0]: int(fields[2]) for fields in (
        line.split(":") for line in
        inside(walkthrough.installed.root, "/etc/passwd").read_text().splitlines())}
    st = socket_dir.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (
        users["spoofwatch"], grp.getgrnam("postfix").gr_gid, 0o2750)


def test_check_config_finds_the_socket_reachable(walkthrough: Walkthrough) -> None:
    result = subprocess.run(
        [str(walkthrough.installed.command), "check-config", "--config",
         str(walkthrough.config), "--postfix-config", str(walkthrough.postfix.etc)],
        capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_legitimate_mail_is_delivered_with_spoofwatchs_headers(
    walkthrough: Walkthrough, dns: DnsTestServer
) -> None:
    dns.add(LEGIT_DOMAIN, "TXT", f"v=spf1 ip4:{LEGIT_IP} -all")
    dns.add(f"_dmarc.{LEGIT_DOMAIN}", "TXT", "v=DMARC1; p=reject")
    dns.add(LEGIT_DOMAIN, "MX", f"10 mail.{LEGIT_DOMAIN}")
    walkthrough.sink.clear()
    message = make_message(f"County Party <news@{LEGIT_DOMAIN}>", "voter@recipient.example",
                           "Meeting on Saturday", "See you at the hall.\n")
    result = send(walkthrough.postfix.port, message, client_ip=LEGIT_IP,
                  helo=f"mail.{LEGIT_DOMAIN}", mail_from=f"news@{LEGIT_DOMAIN}")
    assert result.code == 250, (result, walkthrough.postfix.log())
    # generous: a loaded CI machine may start the chrooted smtp client late
    delivered_now = walkthrough.sink.wait_for(1, timeout=120)
    queue, log = walkthrough.postfix.queue_json(), walkthrough.postfix.log()
    processes = subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,args"], capture_output=True,
                               text=True, check=False).stdout
    postfix_processes = "\n".join(
        line for line in processes.splitlines()
        if any(word in line for word in ("postfix", "qmgr", "smtp", "tlsmgr", "pickup",
                                          "cleanup", "postlogd", "trivial", "anvil")))
    assert len(delivered_now) == 1, (f"{queue}\n{log}\n{postfix_processes}\n"
                                     f"{daemon_states(walkthrough.postfix.queue)}")
    [delivered] = delivered_now
    mail = delivered.email()
    assert mail["X-Spoofwatch-Verdict"] == "clean; score=0; findings=none"
    results = mail["Authentication-Results"]
    assert results.startswith("mx.example.org;"), results
    assert f"spf=pass (sender SPF authorized) smtp.mailfrom=news@{LEGIT_DOMAIN};" in results
    assert f"dmarc=pass (p=reject) header.from={LEGIT_DOMAIN}" in results


def test_the_2020_threat_is_held_in_the_hold_queue(
    walkthrough: Walkthrough, dns: DnsTestServer
) -> None:
    publish_seed_zone(dns)
    walkthrough.sink.clear()
    result = send(walkthrough.postfix.port, plain(), client_ip=FOREIGN_IP, helo=FOREIGN_HELO,
                  mail_from=SEED_FROM)
    assert result.code == 250, (result, walkthrough.postfix.log())
    held = walkthrough.postfix.wait_held(1)
    assert [q["queue_id"] for q in held] == [result.queue_id], walkthrough.postfix.log()
    assert f"queue_id={result.queue_id}" in walkthrough.milter.log()
    assert " level=threat " in walkthrough.milter.log()
    assert walkthrough.sink.messages == []


def test_service_warns_at_start_about_a_socket_outside_the_chroot(
    walkthrough: Walkthrough,
) -> None:
    # the configuration as shipped before: the socket under /run (re-rooted), Postfix as here
    base = walkthrough.config.parent
    outside = walkthrough.postfix.root / "run/spoofwatch/spoofwatch.sock"
    config = base / "outside.yaml"
    config.write_text(walkthrough.config.read_text().replace(
        walkthrough.socket_spec, f"unix:{outside}"))
    service = MilterProcess(config, f"unix:{outside}", base / "outside.log",
                            env={"MAIL_CONFIG": str(walkthrough.postfix.etc)},
                            command=(str(walkthrough.installed.command),))
    service.start()
    service.stop()
    queue = walkthrough.postfix.queue
    assert "WARNING spoofwatch.postfix_check[" in service.log()
    assert (f"milter.socket unix:{outside} lies outside Postfix's queue directory {queue}, "
            f"but {walkthrough.postfix.etc}/master.cf runs 127.0.0.1:{walkthrough.postfix.port}"
            f"/inet (smtpd), cleanup/unix (cleanup) chrooted there") in service.log()
