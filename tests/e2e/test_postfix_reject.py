"""The strict policy through Postfix: spoofs of watched organizations get 550 5.7.1.

Switching the running service to the strict policy with SIGHUP also exercises reload
under a real MTA.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.milterproc import POLICIES, MilterProcess
from support.postfix import Mta, send


def _reload_with(milter: MilterProcess, policy: Path) -> None:
    """Point the running service at ``policy`` and SIGHUP it; wait until it says so."""
    marker = "configuration reloaded from"
    before = milter.log().count(marker)
    lines = [f"policy: {policy}" if line.startswith("policy:") else line
             for line in milter.config.read_text().splitlines()]
    milter.config.write_text("\n".join(lines) + "\n")
    milter.signal(signal.SIGHUP)
    log = milter.wait_for_log(marker, count=before + 1)
    last = [line for line in log.splitlines() if marker in line][-1]
    assert last.endswith(f"(policy {policy.stem})"), last


@pytest.fixture()
def strict_mta(clean_mta: Mta) -> Iterator[Mta]:
    milter = clean_mta.milter
    _reload_with(milter, POLICIES / "strict.yaml")
    try:
        yield clean_mta
    finally:
        _reload_with(milter, POLICIES / "default.yaml")


def test_spoof_of_watched_organization_is_rejected_with_5_7_1(
    dns: DnsTestServer, strict_mta: Mta
) -> None:
    dns.add("democrats.org", "TXT", "v=spf1 ip4:192.0.2.10 -all")
    dns.add("democrats.org", "MX", "10 mx.democrats.org")
    dns.add("_dmarc.democrats.org", "TXT", "v=DMARC1; p=reject")
    raw = make_message("DNC <info@democrats.org>", "voter@recipient.example",
                       "Your membership", "Renew now.\n")
    result = send(strict_mta.postfix.port, raw, client_ip="203.0.113.66",
                  helo="bulk.example", mail_from="x@bulk.example")
    assert (result.code, result.reply) == (
        550, "5.7.1 Message rejected: the sender could not be verified (spoofwatch)")
    assert strict_mta.postfix.queue_json() == []
    assert strict_mta.sink.messages == []
