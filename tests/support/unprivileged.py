"""Run spoofwatch as an unprivileged user, wherever the checkout lies.

Tests run as root and play the service user with subprocess ``user=``. The checkout and
its virtualenv may lie where that user cannot go (a clone under ``/root``, mode 0700, as in
a fresh Debian's CI): the interpreter path, the package and the bundled policies would be
unreadable to it, and the test would fail for a reason no real installation has. So the
package, its installed dependencies and the policies are copied once into a directory any
user can read, and run with the real interpreter the virtualenv points at.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .milterproc import REPO

# Development tools in the virtualenv that spoofwatch never imports: not copied.
_NOT_NEEDED = ("__pycache__", "*.pth", "__editable__*", "mypy", "mypyc", "*__mypyc*", "ruff*",
               "pip", "setuptools", "pygments", "_pytest", "pytest", "dnstwist*")


@dataclass(frozen=True)
class Unprivileged:
    """Where the readable copy is and how to run it."""

    base: Path
    python: str  # the interpreter itself, not the virtualenv's link to it
    policies: Path  # the copied policies/ (a configuration for the service user names these)

    @property
    def env(self) -> dict[str, str]:
        path = f"{self.base / 'milter'}{os.pathsep}{self.base / 'site'}"
        return {**os.environ, "PYTHONPATH": path}

    def command(self, module: str) -> list[str]:
        return [self.python, "-m", module]


def readable_copy(base: Path) -> Unprivileged:
    """Copy the package, its dependencies and the policies under ``base`` (made 0755)."""
    site = Path(sysconfig.get_paths()["purelib"])
    ignore = shutil.ignore_patterns(*_NOT_NEEDED)
    shutil.copytree(REPO / "milter", base / "milter", ignore=ignore)
    shutil.copytree(site, base / "site", ignore=ignore)
    shutil.copytree(REPO / "policies", base / "policies")
    for directory, _, files in os.walk(base):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
    os.chmod(base, 0o755)
    return Unprivileged(base, os.path.realpath(sys.executable), base / "policies")
