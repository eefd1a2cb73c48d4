"""Shared fixtures: a loopback authoritative DNS server and a resolver pointed at it."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator

import pytest

from spoofwatch.dns import Resolver
from support.dnsserver import DnsTestServer
from support.postgres import PostgresServer, running_postgres


def pytest_collection_finish(session: pytest.Session) -> None:
    """Undo a process-wide socket timeout that a collected module set at import.

    dnstwist (imported by tests/unit/test_lookalike_recall.py) calls
    ``socket.setdefaulttimeout(12.0)``; every socket created afterwards, the test servers'
    listening sockets included, would then give up after 12 idle seconds. In full runs the
    loopback SMTP sink of a Postfix test stopped accepting that way, and its mail sat in
    Postfix's active queue.
    """
    socket.setdefaulttimeout(None)


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (unix socket in a temporary directory) for the session."""
    with running_postgres() as server:
        yield server


_DATABASES = itertools.count()


@pytest.fixture
def shared_db(postgres: PostgresServer) -> str:
    """The URL of a new, empty database in the session's cluster (no schema yet)."""
    return postgres.create_database(f"spoofwatch_{next(_DATABASES)}")
