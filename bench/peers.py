"""The milters under test: spoofwatch, and the reference pair OpenDKIM + OpenDMARC.

Each is a foreground process started here and stopped by its PID. All of them resolve
through the same loopback DNS server (``dns_address`` port 53) and are told that the
benchmark's client is not one to skip.

Addresses are given in Postfix's form (``unix:/path`` or ``inet:127.0.0.1:PORT``); each
daemon gets the form its own configuration wants.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import scenario

from support.milterproc import POLICIES, MilterProcess


def accepts(spec: str) -> bool:
    """True when something accepts connections at a Postfix-style milter address."""
    try:
        if spec.startswith("unix:"):
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(0.5)
                s.connect(spec[5:])
        else:
            host, port = spec.split(":", 1)[1].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
    except OSError:
        return False
    return True


def libmilter_spec(spec: str) -> str:
    """Postfix's ``unix:/p`` / ``inet:H:P`` -> the ``local:/p`` / ``inet:P@H`` of the C milters."""
    if spec.startswith("unix:"):
        return "local:" + spec[5:]
    host, port = spec.split(":", 1)[1].rsplit(":", 1)
    return f"inet:{port}@{host}"


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM (peak resident set size) of a process, in KiB; None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pss_kib(pid: int) -> int | None:
    """Proportional set size now (shared pages divided among their users), in KiB.

    The spoofwatch supervisor and its forked worker share their copy-on-write pages,
    so adding up their VmHWM counts those pages twice; summed PSS does not.
    """
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its own threads, not children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # after the command: state is field 3, so utime (14) and stime (15) are at 11 and 12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- spoofwatch --------------------------------------------------------------------------
def spoofwatch_config(directory: Path, *, socket_spec: str, dns_address: str,
                      metrics_port: int, workers: int = 1, cache_size: int = 10000,
                      watchlist: bool = True) -> Path:
    """The bundled defaults (policy, watchlist, DNS cache) pointed at the benchmark's DNS.

    Logging stays at ``info`` (one line per message), as in production. Only the
    benchmark's stand-in for internal clients is trusted, so every message is checked.
    """
    text = f"""authserv_id: {scenario.AUTHSERV_ID}
milter:
  socket: {socket_spec}
  socket_group: postfix
  timeout: 60
  workers: {workers}
dns:
  nameservers: [{dns_address}]
  port: 53
  timeout: 2.0
  lifetime: 4.0
  message_budget: 10.0
  cache_size: {cache_size}
trusted_networks:
  - {scenario.UNTRUSTED_NETWORK}
policy: {POLICIES / "default.yaml"}
watchlist: "{POLICIES / "watchlist.example.yaml" if watchlist else ""}"
quarantine:
  directory: ""
metrics:
  enabled: true
  listen: 127.0.0.1:{metrics_port}
logging:
  level: info
"""
    path = directory / "spoofwatch.yaml"
    path.write_text(text)
    return path


def start_spoofwatch(directory: Path, *, socket_spec: str, dns_address: str,
                     metrics_port: int, workers: int = 1, cache_size: int = 10000,
                     watchlist: bool = True) -> MilterProcess:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # Postfix's smtpd (user postfix) must reach the socket
    config = spoofwatch_config(directory, socket_spec=socket_spec, dns_address=dns_address,
                               metrics_port=metrics_port, workers=workers,
                               cache_size=cache_size, watchlist=watchlist)
    process = MilterProcess(config, socket_spec, directory / "spoofwatch.log")
    process.start(timeout=30)
    return process


# --- OpenDKIM + OpenDMARC ----------------------------------------------------------------
class DaemonError(RuntimeError):
    pass


@dataclass
class Daemon:
    """A foreground daemon started with Popen, ready once its socket accepts."""

    name: str
    argv: list[str]
    socket_spec: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DaemonError(f"{self.name} exited with {self.proc.returncode}: "
                                  f"{self.log()}")
            if accepts(self.socket_spec):
                self._check_identity()
                return
            time.sleep(0.02)
        self.stop()
        raise DaemonError(f"{self.name} did not listen on {self.socket_spec} within "
                          f"{timeout}s: {self.log()}")

    def _check_identity(self) -> None:
        """The PID must be the daemon itself (unshare and sh exec it), or its memory and CPU
        figures would be those of a wrapper."""
        try:
            comm = Path(f"/proc/{self.pid}/comm").read_text().strip()
        except OSError:
            comm = ""
        if comm != self.name:
            self.stop()
            raise DaemonError(f"PID {self.pid} is {comm!r}, not {self.name}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _opendkim(directory: Path, socket_spec: str, dns_address: str) -> Daemon:
    internal = directory / "opendkim-internal-hosts"
    internal.write_text(scenario.UNTRUSTED_NETWORK + "\n")
    conf = directory / "opendkim.conf"
    # Verify only (no signing keys); every client outside InternalHosts is verified.
    conf.write_text(f"""Mode v
Socket {libmilter_spec(socket_spec)}
UMask 000
Background false
Syslog false
AuthservID {scenario.AUTHSERV_ID}
AlwaysAddARHeader true
InternalHosts file:{internal}
Nameservers {dns_address}
MinimumKeyBits 1024
""")
    return Daemon("opendkim", ["opendkim", "-f", "-x", str(conf)], socket_spec,
                  directory / "opendkim.log")


def _opendmarc(directory: Path, socket_spec: str, dns_address: str) -> Daemon:
    ignore = directory / "opendmarc-ignore-hosts"
    ignore.write_text(scenario.UNTRUSTED_NETWORK + "\n")
    resolv = directory / "resolv.conf"
    resolv.write_text(f"nameserver {dns_address}\noptions timeout:2 attempts:2\n")
    conf = directory / "opendmarc.conf"
    # SPFSelfValidate: nothing upstream writes an SPF result, so OpenDMARC checks SPF
    # itself, as spoofwatch does. DKIM results come from OpenDKIM's A-R header.
    conf.write_text(f"""Socket {libmilter_spec(socket_spec)}
UMask 000
Background false
Syslog false
AuthservID {scenario.AUTHSERV_ID}
TrustedAuthservIDs {scenario.AUTHSERV_ID}
IgnoreHosts {ignore}
SPFSelfValidate true
RejectFailures false
FailureReports false
RequiredHeaders false
""")
    # OpenDMARC only knows the libc resolver: give it its own /etc/resolv.conf in a
    # private mount namespace (the machine's file stays as it is).
    script = f"mount --bind {resolv} /etc/resolv.conf && exec opendmarc -f -c {conf}"
    return Daemon("opendmarc", ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                  socket_spec, directory / "opendmarc.log")


@dataclass
class ReferencePair:
    opendkim: Daemon
    opendmarc: Daemon

    @property
    def milters(self) -> str:
        """Postfix's smtpd_milters value: DKIM first, so OpenDMARC reads its result."""
        return f"{self.opendkim.socket_spec}, {self.opendmarc.socket_spec}"

    def pids(self) -> dict[str, int]:
        return {"opendkim": self.opendkim.pid, "opendmarc": self.opendmarc.pid}

    def stop(self) -> None:
        self.opendmarc.stop()
        self.opendkim.stop()


def start_reference(directory: Path, *, dkim_spec: str, dmarc_spec: str,
                    dns_address: str) -> ReferencePair:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    dkim = _opendkim(directory, dkim_spec, dns_address)
    dmarc = _opendmarc(directory, dmarc_spec, dns_address)
    dkim.start()
    try:
        dmarc.start()
    except DaemonError:
        dkim.stop()
        raise
    return ReferencePair(dkim, dmarc)
