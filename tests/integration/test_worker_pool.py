"""``milter.workers: 2``: two libmilter processes accept on the one socket the supervisor
opened. Each serves mail on its own (the other stopped), each counts its own messages on
its own metrics port, a reload and a stop reach both, and a worker that dies is replaced
while the other goes on."""

from __future__ import annotations

import functools
import os
import pwd
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import milterproc
from support.campaign import FOREIGN_IP, FORGED, publish_campaign_zone, tagged
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient
from support.milterproc import (
    POLICIES,
    MilterProcess,
    child_pids,
    free_ports,
    process_alive,
    scrape_metrics,
    write_config,
)
from support.scratch import scratch_dir
from support.unprivileged import Unprivileged, readable_copy

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
            now = sorted(child_pids(proc.pid))
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


NOBODY = pwd.getpwnam("nobody")


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[Unprivileged]:
    with scratch_dir("spoofwatch-pool-code-", mode=0o755) as path:
        yield readable_copy(path / "copy")


def test_a_worker_that_stops_on_its_own_does_not_take_the_socket_with_it(
    dns: DnsTestServer, dns_server: DnsTestServer, unprivileged: Unprivileged
) -> None:
    # Not root, as under systemd: there libmilter removes the socket's name when a worker's
    # loop ends (a stray SIGHUP to one worker ends it); the supervisor gives the name back.
    publish_campaign_zone(dns)
    with scratch_dir("spoofwatch-pool-nobody-", mode=0o755) as workdir:
        run = workdir / "run"
        run.mkdir()
        os.chown(run, NOBODY.pw_uid, NOBODY.pw_gid)
        spec = f"unix:{run}/spoofwatch.sock"
        config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec, workers=2,
                              policy=unprivileged.policies / "default.yaml",
                              watchlist=unprivileged.policies / "watchlist.example.yaml")
        proc = MilterProcess(config, spec, workdir / "milter.log", env=unprivileged.env,
                             command=tuple(unprivileged.command("spoofwatch.cli")))
        as_nobody = functools.partial(subprocess.Popen, user="nobody", group="nogroup",
                                      extra_groups=[])
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(milterproc.subprocess, "Popen", as_nobody)
            proc.start()
        try:
            first, second = proc.worker_pids(2)
            os.kill(first, signal.SIGHUP)
            proc.wait_for_log(f"worker {first} exited with 0 unexpectedly")
            proc.wait_for_log(") listening with policy ", count=3)
            assert Path(spec[5:]).is_socket()
            assert all(_send(spec, f"QN{i}") for i in range(3))
        finally:
            code = proc.stop()
        log = proc.log()
        assert code == 0, log
        assert f"restored the socket {spec[5:]}, which a stopping worker had removed" in log
        assert not Path(spec[5:]).exists()
        assert [p.name for p in run.iterdir()] == []  # the spare name is gone too


# After the SIGHUP that applied the default policy, the file is changed without another
# SIGHUP: broken, or a valid edit back to the monitor policy.
UNAPPLIED_EDITS = {
    "broken": lambda text: "milter: [this is not\n",
    "valid": lambda text: text.replace("default.yaml", "monitor.yaml"),
}


@pytest.mark.parametrize("edit", sorted(UNAPPLIED_EDITS))
def test_a_replacement_worker_starts_with_the_configuration_last_applied(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path, edit: str
) -> None:
    """A worker that replaces a dead one starts (and stays) with the configuration the
    admin last applied, whatever the file says since."""
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec, workers=2,
                          policy=POLICIES / "monitor.yaml")
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        first, second = proc.worker_pids(2)
        config.write_text(config.read_text().replace("monitor.yaml", "default.yaml"))
        os.kill(proc.pid, signal.SIGHUP)
        proc.wait_for_log("configuration reloaded from", count=2)
        config.write_text(UNAPPLIED_EDITS[edit](config.read_text()))  # never reloaded
        os.kill(first, signal.SIGKILL)
        proc.wait_for_log(") listening with policy default", count=1)
        # Only the replacement serves: the other is stopped. Mail is tagged, as under the
        # default policy the admin applied (the monitor policy tags nothing).
        os.kill(second, signal.SIGSTOP)
        try:
            assert all(_send(spec, f"QR{i}") for i in range(3))
        finally:
            os.kill(second, signal.SIGCONT)
    finally:
        proc.stop()
    assert proc.log().count("configuration reloaded from") == 2  # the two first workers
