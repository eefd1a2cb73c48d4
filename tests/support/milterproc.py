"""Start the real spoofwatch service as a subprocess, as an admin would, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
) -> Path:
    """A service configuration for tests: DNS at the loopback test server, no cache.

    The cache is off because the test DNS server's zones change between tests while one
    service process may outlive several of them.
    """
    nets = "".join(f"\n  - {n}" for n in trusted_networks)
    text = f"""authserv_id: {authserv_id}
milter:
  socket: {socket_spec}
  socket_group: "{socket_group}"
  timeout: 30
dns:
  nameservers: [127.0.0.1]
  port: {dns_port}
  timeout: 0.5
  lifetime: 1.0
  message_budget: 3.0
  cache_size: 0
trusted_networks:{nets}
policy: {policy}
watchlist: "{watchlist or ''}"
{extra}
"""
    path = directory / "spoofwatch.yaml"
    path.write_text(text)
    return path


class MilterProcess:
    """``spoofwatch run --config FILE`` in a subprocess; started and stopped by PID."""

    def __init__(self, config: Path, socket_spec: str, log_path: Path) -> None:
        self.config = config
        self.socket_spec = socket_spec
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spoofwatch.cli", "run", "--config", str(self.config)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spoofwatch exited with {self.proc.returncode}: {self.log()}")
            if self._accepts():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"spoofwatch did not listen within {timeout}s: {self.log()}")

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
        self._log.close()
        return self.proc.returncode
