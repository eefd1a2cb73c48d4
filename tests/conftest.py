"""Shared fixtures: a loopback authoritative DNS server and a resolver pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spoofwatch.dns import Resolver
from support.dnsserver import DnsTestServer


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsTestServer]:
    """One loopback DNS server (UDP+TCP, free port) for the whole test session."""
    server = DnsTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dns(dns_server: DnsTestServer) -> DnsTestServer:
    """The session's DNS server, emptied of records, behaviours and logged queries."""
    dns_server.clear()
    return dns_server


@pytest.fixture
def resolver(dns_server: DnsTestServer) -> Resolver:
    """A fresh-cached Resolver that asks only the loopback test server."""
    return Resolver(
        nameservers=["127.0.0.1"],
        port=dns_server.port,
        timeout=0.5,
        lifetime=1.0,
        message_budget=3.0,
    )
