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

What is spoofwatch's, unchanged: ``policies/spoofwatch.yaml`` (scripts/install.sh installs
it byte for byte as ``/etc/spoofwatch/spoofwatch.yaml``; tests/integration/test_install.py
proves that), the policy and watchlist beside it, the socket directory made by applying
``systemd/spoofwatch-postfix.tmpfiles`` with the real ``systemd-tmpfiles``, and the lines of
``postfix-example/main.cf`` added to main.cf with ``postconf -e``, as the guide says.

What a throwaway instance must change, and nothing else: this is not the machine's own
Postfix, so everything lives under a temporary directory ROOT that stands for ``/``. The
queue directory is ROOT/var/spool/postfix (Debian's path, re-rooted), every absolute path in
spoofwatch's configuration is re-rooted the same way (the socket, the quarantine store),
Postfix listens on a free loopback port instead of 25 (the same master.cf line, chroot
column ``y`` kept) and delivers to a loopback sink, DNS comes from the loopback test server,
and XCLIENT lets the test choose the client address the milter sees.

Why not run scripts/install.sh into ROOT: it builds a virtualenv with pip from the package
index (many seconds, and it is tested on its own in test_install.py); what matters to the
chroot is only where the installed configuration puts the socket and where the tmpfiles
snippet makes its directory, and both are used here as shipped. With the configuration as
shipped before (``unix:/run/spoofwatch/spoofwatch.sock``), the re-rooted socket lands
outside the chroot and every message gets ``451 4.7.1``: this test fails.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.milterproc import REPO, MilterProcess
from support.postfix import PostfixError, PostfixInstance, SmtpSink, send
from support.seeds import FOREIGN_HELO, FOREIGN_IP, SEED_FROM, plain, publish_seed_zone

DEBIAN_QUEUE = "/var/spool/postfix"
SHIPPED_CONFIG = REPO / "policies" / "spoofwatch.yaml"
GUIDE_SNIPPET = REPO / "postfix-example" / "main.cf"
SOCKET_TMPFILES = REPO / "systemd" / "spoofwatch-postfix.tmpfiles"
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


def reroot(path: str, root: Path) -> str:
    return str(root / path.lstrip("/"))


def install_spoofwatch(root: Path, confdir: Path, dns_port: int) -> tuple[Path, str]:
    """The shipped configuration in ``confdir``, its paths re-rooted; (config file, socket)."""
    confdir.mkdir(parents=True)
    data = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for key in ("policy", "watchlist"):
        shutil.copy(REPO / "policies" / data[key], confdir / data[key])
    shipped_socket = data["milter"]["socket"]
    assert shipped_socket.startswith("unix:/"), shipped_socket
    socket_spec = "unix:" + reroot(shipped_socket[5:], root)
    data["milter"]["socket"] = socket_spec
    store = data.get("quarantine", {}).get("directory", "/var/lib/spoofwatch/quarantine")
    data.setdefault("quarantine", {})["directory"] = reroot(store, root)
    data["dns"].update(nameservers=["127.0.0.1"], port=dns_port, cache_size=0)
    config = confdir / "spoofwatch.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config, socket_spec


def apply_tmpfiles(root: Path) -> None:
    """The unit's socket directory, made by the real systemd-tmpfiles from the shipped
    snippet, with a spoofwatch user (as systemd-sysusers makes it) and this machine's postfix
    group, so that the chrooted smtpd (user postfix) may enter it."""
    postfix_gid = grp.getgrnam("postfix").gr_gid
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                     "spoofwatch:x:64801:64801::/var/lib/spoofwatch:/bin/false\n")
    (root / "etc/group").write_text(f"root:x:0:\nspoofwatch:x:64801:\npostfix:x:{postfix_gid}:\n")
    snippet = root / "usr/local/lib/tmpfiles.d/spoofwatch-postfix.conf"
    snippet.parent.mkdir(parents=True)
    shutil.copy(SOCKET_TMPFILES, snippet)
    subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}", str(snippet)],
                   check=True, capture_output=True, timeout=60)


@dataclass
class Walkthrough:
    postfix: DebianPostfix
    sink: SmtpSink
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
        postfix.configure()
        apply_tmpfiles(root)
        postfix.apply_guide()
        config, spec = install_spoofwatch(root, base / "etc-spoofwatch", dns_server.port)
        milter = MilterProcess(config, spec, base / "milter.log")
        milter.start()
        postfix.start()
        yield Walkthrough(postfix, sink, milter, config, spec)
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


def test_check_config_finds_the_socket_reachable(walkthrough: Walkthrough) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "spoofwatch"), "check-config", "--config",
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
    [delivered] = walkthrough.sink.wait_for(1)
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
                            env={"MAIL_CONFIG": str(walkthrough.postfix.etc)})
    service.start()
    service.stop()
    queue = walkthrough.postfix.queue
    assert "WARNING spoofwatch.postfix_check[" in service.log()
    assert (f"milter.socket unix:{outside} lies outside Postfix's queue directory {queue}, "
            f"but {walkthrough.postfix.etc}/master.cf runs 127.0.0.1:{walkthrough.postfix.port}"
            f"/inet (smtpd), cleanup/unix (cleanup) chrooted there") in service.log()
