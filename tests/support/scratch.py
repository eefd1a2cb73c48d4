"""Scratch directories for tests that start real processes in them."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_dir(prefix: str, mode: int | None = None) -> Iterator[Path]:
    """A fresh directory under the system's temporary directory, removed with all it holds.

    Not pytest's tmp_path: its parents are private to root, while the postfix user or the
    service's own user must reach into some of these (give ``mode`` 0o755 then). Removed
    with ``rm -rf`` because the services leave sockets and files of other users behind.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if mode is not None:
        os.chmod(path, mode)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)
