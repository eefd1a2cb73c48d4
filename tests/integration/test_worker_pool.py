"""``milter.workers: 2``: two libmilter processes accept on the one socket the supervisor
opened. Each serves mail on its own (the other stopped), each counts its own messages on
its own metrics port, a reload and a stop reach both, and a worker that dies is replaced
while the other goes on."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.campaign import FOREIGN_IP, FORGED, publish_campaign_zone, tagged
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient
from support.milterproc import (
    MilterProcess,
    _children,
    free_ports,
    process_alive,
    scrape_metrics,
    write_config,
)
from support.scratch import scratch_dir

LINE = re.compile(r"\[(\d+)\]: queue_id=(\S+) ")


@pytest.fixture()
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-pool-") as path:
        yield path


def _send(spec: str, queue_id: str) -> bool:
    with MilterClient(spec, timeout=20) as client:
        outcome = client.send_raw(FORGED, client_ip=FOREIGN_IP, helo="bulk.sender.example",
                                  mail_from="<x@campaign.example>", queue_id=queue_id)
    return tagged(outcome)


def _served_by(proc: MilterProcess) -> dict[str, int]:
    """queue id -> the PID of the worker whose log line reports it."""
    return {qid: int(pid) for pid, qid in LINE.findall(proc.log())}


def test_two_workers_share_the_socket_and_each_serves_alone(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    port = free_ports(2)
    port2 = port + 1
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec, workers=2,
                          extra=f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{port}\n")
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        first, second = proc.worker_pids(2)
        # Each alone: the other is stopped (SIGSTOP), so it cannot accept.
        os.kill(second, signal.SIGSTOP)
        try:
            assert all(_send(spec, f"QA{i}") for i in range(3))
        finally:
            os.kill(second, signal.SIGCONT)
        os.kill(first, signal.SIGSTOP)
        try:
            assert all(_send(spec, f"QB{i}") for i in range(3))
        finally:
            os.kill(first, signal.SIGCONT)
        served = _served_by(proc)
        assert {served[f"QA{i}"] for i in range(3)} == {first}
        assert {served[f"QB{i}"] for i in range(3)} == {second}
        # Each worker counts its own messages, on its own port.
        counts = [sum(v for k, v in scrape_metrics(p).items()
                      if k.startswith("spoofwatch_messages_total{")) for p in (port, port2)]
        assert counts == [3, 3]
        # A reload reaches both.
        os.kill(proc.pid, signal.SIGHUP)
        proc.wait_for_log("configuration reloaded from", count=2)
        # One dies: it is replaced in its slot; the other goes on.
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = sorted(_children(proc.pid))
            if len(now) == 2 and first not in now:
                break
            time.sleep(0.02)
        assert second in now and first not in now and not process_alive(first)
        proc.wait_for_log(") listening with policy ", count=3)  # the replacement is ready
        assert _send(spec, "QC0")
    finally:
        code = proc.stop()
    assert code == 0
    log = proc.log()
    assert f"worker {first} killed by SIGKILL unexpectedly after " in log
    assert "with 2 worker processes" in log
    assert log.count(") listening with policy ") == 3  # two, then the replacement
    assert f"worker {second} stopped" in log
    assert not Path(spec[5:]).exists()
