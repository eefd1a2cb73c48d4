"""Debian's headless Chromium for tests that read a page as a browser renders it.

``scripts/setup.sh --test`` installs ``chromium``; without it a test fails, it does not skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium() -> str:
    path = shutil.which("chromium")
    assert path is not None, "Chromium is missing: run scripts/setup.sh --test"
    return path


def dump_dom(page: Path, profile: Path, budget_ms: int = 5000) -> str:
    """The DOM of ``page`` after loading (scripts run for ``budget_ms`` of virtual time)."""
    run = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout
