"""A real Postfix with spoofwatch as its milter, a loopback sink behind it.

Session-scoped: Postfix's first start costs about 2 s. Missing Postfix is a failure, not
a skip: scripts/test.sh installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.dnsserver import DnsTestServer
from support.postfix import Mta
from support.rig import mta_rig


@pytest.fixture(scope="session")
def mta(dns_server: DnsTestServer) -> Iterator[Mta]:
    with mta_rig("spoofwatch-e2e-", dns_server.port) as rig:
        yield rig


@pytest.fixture()
def clean_mta(mta: Mta) -> Mta:
    mta.sink.clear()
    mta.postfix.clear_queue()
    return mta
