"""A throwaway PostgreSQL cluster for tests: Debian's own server binaries, a data directory
and a unix socket under a temporary directory, no TCP port, no system service touched.

``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres`` user
the Debian package creates. Missing PostgreSQL is a failure, not a skip:
``scripts/setup.sh --test`` installs it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresServer", "postgres_bin", "running_postgres"]

PORT = 5432  # the socket is in a private directory: the usual number cannot collide
PASSWORD_ROLE = "spoofwatch_pw"


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise AssertionError("PostgreSQL's server is not installed (Debian package "
                             "postgresql): run scripts/setup.sh --test")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.socket_dir = base / "run"
        self.log = base / "postgres.log"
        self.bin = postgres_bin()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _as_owner(self, argv: list[str], check: bool = True,
                  timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}\n{self.log_text()}")
        return result

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self.base.chmod(0o755)
        for path in (self.data, self.socket_dir):
            path.mkdir(mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self.socket_dir.chmod(0o755)  # clients (root, nobody) reach the socket
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.log, "postgres", "postgres")
        self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        # One role must give a password (the password-file tests); every other is trusted.
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\n" + hba.read_text())
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.socket_dir}'"
                       f"\nport = {PORT}\nmax_connections = 200\nfsync = off\n"
                       "synchronous_commit = off\nfull_page_writes = off\n")

    def start(self) -> None:
        self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                        "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                        "-t", "60", "stop"], check=False)

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [str(self.bin / "psql") if (self.bin / "psql").exists() else "psql",
             "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-p", str(PORT), "-U", "postgres", "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise AssertionError(f"psql {sql!r} failed: {result.stderr}")
        return result.stdout.strip()

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql:///{database}?host={self.socket_dir}&port={PORT}&user={user}"

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-pg-"))
    server = PostgresServer(base)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
