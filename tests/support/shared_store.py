"""Helpers for the shared-store tests: configurations that name a PostgreSQL database, the
admin's command run as a process, and what the database holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from .milterproc import REPO, write_config

__all__ = ["count", "quarantine_cli", "shared_config", "wait_until"]


def shared_config(directory: Path, url: str, host: str, *, dns_port: int, socket_spec: str,
                  decisions: bool = True, password_file: str = "", **config: object) -> Path:
    """A service configuration with the shared store at ``url`` as host ``host``."""
    extra = (f'  database: "{url}"\n  host_name: {host}\n  database_timeout: 20\n'
             + (f'  database_password_file: "{password_file}"\n' if password_file else "")
             + ("logging:\n  database: true\n" if decisions else ""))
    return write_config(directory, dns_port=dns_port, socket_spec=socket_spec,
                        quarantine_dir=directory / "quarantine", extra=extra, **config)


def quarantine_cli(config: Path, *args: str, postfix_config: str = "",
                   timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``spoofwatch quarantine ARGS --config CONFIG`` as a process, as an admin runs it."""
    argv = [sys.executable, "-m", "spoofwatch.cli_quarantine", *args, "--config", str(config)]
    if postfix_config:
        argv += ["--postfix-config", postfix_config]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "SUDO_USER": "", "USER": "admin"}, check=False)


def count(url: str, sql: str, *params: object) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Poll ``predicate`` (a database count, a file listing) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:g} s: {what}")
        time.sleep(0.1)
