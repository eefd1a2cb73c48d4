"""A real Postfix with spoofwatch as its milter, a loopback sink behind it.

Session-scoped: Postfix's first start costs about 2 s. Missing Postfix is a failure, not
a skip: scripts/test.sh installs it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dnsserver import DnsTestServer
from support.milterproc import MilterProcess, write_config
from support.postfix import Mta, PostfixInstance, SmtpSink


@pytest.fixture(scope="session")
def e2e_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-e2e-"))
    os.chmod(base, 0o755)  # the postfix user must reach the milter socket and the queue
    yield base
    subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture(scope="session")
def mta(e2e_base: Path, dns_server: DnsTestServer) -> Iterator[Mta]:
    sink = SmtpSink()
    sink.start()
    socket_path = e2e_base / "run" / "spoofwatch.sock"
    socket_path.parent.mkdir()
    os.chmod(socket_path.parent, 0o755)
    spec = f"unix:{socket_path}"
    config = write_config(e2e_base, dns_port=dns_server.port, socket_spec=spec,
                          socket_group="postfix")
    milter = MilterProcess(config, spec, e2e_base / "milter.log")
    milter.start()
    postfix = PostfixInstance(e2e_base / "postfix", spec, sink.port)
    postfix.configure()
    postfix.start()
    try:
        yield Mta(postfix, sink, milter, e2e_base)
    finally:
        postfix.stop()
        milter.stop()
        sink.stop()


@pytest.fixture()
def clean_mta(mta: Mta) -> Mta:
    mta.sink.clear()
    mta.postfix.clear_queue()
    return mta
