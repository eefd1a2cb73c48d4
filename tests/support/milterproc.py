"""Start the real spoofwatch service as a subprocess, as an admin would, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .milterclient import MilterClient, MilterError

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (worker k serves its metrics on the
    configured port + k)."""
    for _ in range(100):
        first = free_port()
        try:
            for k in range(1, count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", first + k))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def scrape_metrics(port: int) -> dict[str, float]:
    """The service's /metrics page on ``port``: sample name (labels included) to value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")}


def write_config(
    directory: Path,
    *,
    dns_port: int,
    socket_spec: str,
    policy: str | Path = POLICIES / "default.yaml",
    authserv_id: str = "mx.test.example",
    extra: str = "",
    trusted_networks: tuple[str, ...] = ("10.99.0.0/16",),
    socket_group: str = "",
    watchlist: Path | None = POLICIES / "watchlist.example.yaml",
    quarantine_dir: Path | None = None,
    workers: int = 1,
) -> Path:
    """A service configuration for tests: DNS at the loopback test server, no cache.

    The cache is off because the test DNS server's zones change between tests while one
    service process may outlive several of them. spoofwatch's own quarantine store is off
    unless ``quarantine_dir`` is given, so no test writes to the system's store. One worker
    process unless ``workers`` says otherwise (``worker_pid`` expects one).
    """
    nets = "".join(f"\n  - {n}" for n in trusted_networks)
    text = f"""authserv_id: {authserv_id}
milter:
  socket: {socket_spec}
  socket_group: "{socket_group}"
  timeout: 30
  workers: {workers}
dns:
  nameservers: [127.0.0.1]
  port: {dns_port}
  timeout: 2.0
  lifetime: 3.0
  message_budget: 6.0
  cache_size: 0
trusted_networks:{nets}
policy: {policy}
watchlist: "{watchlist or ''}"
quarantine:
  directory: "{quarantine_dir or ''}"
{extra}
"""
    path = directory / "spoofwatch.yaml"
    path.write_text(text)
    return path


def child_pids(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``, in PID order."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # the command may contain spaces and parentheses: fields start after the last ")"
        fields = stat_line.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(name))
    return sorted(out)


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


class MilterProcess:
    """``spoofwatch run --config FILE`` in a subprocess; started and stopped by PID."""

    def __init__(self, config: Path, socket_spec: str, log_path: Path,
                 env: dict[str, str] | None = None,
                 command: tuple[str, ...] = (sys.executable, "-m", "spoofwatch.cli")) -> None:
        self.config = config
        self.socket_spec = socket_spec
        self.log_path = log_path
        self.env = env  # extra environment variables for the service
        self.command = command  # the `spoofwatch` command: this checkout's, or an installed one
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the service and wait until a worker answers the milter protocol.

        The socket accepts as soon as the supervisor has opened it, before any worker has
        built its service (the release key, say): so readiness is a worker answering an
        option negotiation, not a connection that succeeds.
        """
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [*self.command, "run", "--config", str(self.config)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, **self.env} if self.env else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spoofwatch exited with {self.proc.returncode}: {self.log()}")
            if self._accepts() and self._negotiates():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"spoofwatch did not listen within {timeout}s: {self.log()}")

    def _negotiates(self) -> bool:
        try:
            with MilterClient(self.socket_spec, timeout=5) as client:
                client.negotiate()
        except (OSError, MilterError):
            return False
        return True

    def _accepts(self) -> bool:
        spec = self.socket_spec
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

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def worker_pid(self, timeout: float = 10.0) -> int:
        """The PID of the libmilter worker: the supervisor's one child process."""
        return self.worker_pids(1, timeout)[0]

    def worker_pids(self, count: int, timeout: float = 10.0) -> list[int]:
        """The PIDs of ``count`` worker processes (``milter.workers``), in order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            children = sorted(child_pids(self.pid))
            if len(children) == count:
                return children
            time.sleep(0.02)
        raise RuntimeError(f"spoofwatch {self.pid} has not {count} workers: "
                           f"{child_pids(self.pid)}")

    def wait_for_replacement(self, dead: int, timeout: float = 20.0) -> int:
        """Wait until the supervisor has a worker other than ``dead`` and the socket accepts
        again; the new worker's PID. Fails if the supervisor itself ends meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                worker = self.worker_pid(timeout=0.1)
            except RuntimeError:
                worker = dead
            if worker != dead and self._accepts():
                return worker
            time.sleep(0.02)
        raise AssertionError(f"no new worker accepting within {timeout}s:\n{self.log()}")

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 15.0) -> str:
        """Poll the log until ``text`` occurs ``count`` times; returns the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not logged {count} time(s) within {timeout}s:\n"
                             f"{self.log()}")

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the service to exit on its own; its exit status."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode
