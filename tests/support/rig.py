"""One end-to-end rig: a loopback sink, the spoofwatch service, and a throwaway Postfix
that uses it as its milter. Every e2e module that needs its own rig builds it here."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .milterproc import MilterProcess, write_config
from .postfix import Mta, PostfixInstance, SmtpSink


@contextmanager
def mta_rig(prefix: str, dns_port: int, *, quarantine: bool = False,
            **config: Any) -> Iterator[Mta]:
    """Start sink, spoofwatch (unix socket, group postfix) and Postfix; stop them all after.

    ``quarantine`` gives spoofwatch a store at BASE/quarantine; ``config`` goes to
    ``write_config`` (trusted_networks, ...).
    """
    # Not pytest's tmp_path: its parents are private to root, and the postfix user must
    # reach the milter socket and the queue.
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    run_dir = base / "run"
    run_dir.mkdir()
    os.chmod(run_dir, 0o755)
    spec = f"unix:{run_dir}/spoofwatch.sock"
    if quarantine:
        config["quarantine_dir"] = base / "quarantine"
    sink = SmtpSink()
    sink.start()
    milter: MilterProcess | None = None
    postfix: PostfixInstance | None = None
    try:
        path = write_config(base, dns_port=dns_port, socket_spec=spec, socket_group="postfix",
                            **config)
        milter = MilterProcess(path, spec, base / "milter.log")
        milter.start()
        postfix = PostfixInstance(base / "postfix", spec, sink.port)
        postfix.configure()
        postfix.start()
        yield Mta(postfix, sink, milter, base)
    finally:
        if postfix is not None:
            postfix.stop()
        if milter is not None:
            milter.stop()
        sink.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)
