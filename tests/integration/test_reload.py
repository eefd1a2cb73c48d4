"""Reload, stop and crash of the real service process, driven by signals to its PID.

``spoofwatch run`` is a supervisor (the PID an admin or systemd signals) and one
libmilter worker it forks. These tests send real signals and real milter traffic.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.campaign import (
    FOREIGN_IP,
    FORGED,
    TAGGED_SUBJECT,
    publish_campaign_zone,
    send_forged,
    tagged,
)
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient, MilterOutcome
from support.milterproc import (
    POLICIES,
    MilterProcess,
    free_port,
    process_alive,
    scrape_metrics,
    write_config,
)
from support.scratch import scratch_dir


@pytest.fixture()
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-reload-") as path:
        yield path


@dataclass
class _Sent:
    started: float
    outcome: MilterOutcome | None = None
    error: BaseException | None = None


class _Traffic:
    """Four client threads sending the forged message back to back until stopped."""

    def __init__(self, spec: str, threads: int = 4) -> None:
        self.spec = spec
        self.sent: list[_Sent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> _Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            record = _Sent(time.monotonic())
            try:
                record.outcome = send_forged(self.spec)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                record.error = exc
            with self._lock:
                self.sent.append(record)

    def wait_started_after(self, moment: float, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = [s for s in self.sent if s.started > moment]
            if len(done) >= count:
                return
            time.sleep(0.01)
        raise AssertionError(f"fewer than {count} messages after the reload within {timeout}s")


def test_sighup_reloads_good_config_and_keeps_running_one_when_broken_under_load(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    metrics_port = free_port()
    extra = f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec, extra=extra)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        with _Traffic(spec) as traffic:
            traffic.wait_started_after(0.0, 8)
            before_good_reload = time.monotonic()
            write_config(workdir, dns_port=dns_server.port, socket_spec=spec, extra=extra,
                         policy=POLICIES / "monitor.yaml")
            proc.signal(signal.SIGHUP)
            proc.wait_for_log("configuration reloaded from")
            after_good_reload = time.monotonic()
            traffic.wait_started_after(after_good_reload, 8)

            text = config.read_text().replace("  timeout: 2.0", "  timeout: fast")
            config.write_text(text)
            broken_line = text.splitlines().index("  timeout: fast") + 1
            proc.signal(signal.SIGHUP)
            proc.wait_for_log("reload failed")
            after_bad_reload = time.monotonic()
            traffic.wait_started_after(after_bad_reload, 8)
        scraped = scrape_metrics(metrics_port)
    finally:
        code = proc.stop()
    sent = traffic.sent
    assert [s.error for s in sent if s.error is not None] == []
    assert all(s.outcome is not None and s.outcome.action == "accept" for s in sent)
    # every message got its outcome and the service logged a decision for each
    log = proc.log()
    assert log.count(" level=spoof ") == len(sent)
    assert scraped['spoofwatch_messages_total{level="spoof"}'] == len(sent)
    assert all(tagged(s.outcome) for s in sent if s.started < before_good_reload)
    assert not any(tagged(s.outcome) for s in sent if s.started > after_good_reload)
    assert log.count(" policy=monitor ") == sum(
        1 for s in sent if s.outcome is not None and not tagged(s.outcome))
    assert (f"reload failed, keeping the running configuration: {config}:{broken_line}: "
            "dns.timeout: must be a number, got str 'fast'") in log
    assert scraped['spoofwatch_config_reloads_total{result="success"}'] == 1.0
    assert scraped['spoofwatch_config_reloads_total{result="failure"}'] == 1.0
    assert code == 0


def test_sigterm_stops_with_exit_0_and_removes_only_its_socket(
    dns_server: DnsTestServer, workdir: Path
) -> None:
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    neighbour = workdir / "other.sock.keep"
    neighbour.write_text("not ours")
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    worker = proc.worker_pid()
    proc.signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not process_alive(worker)
    assert sorted(p.name for p in workdir.iterdir()) == [
        "milter.log", "other.sock.keep", "spoofwatch.yaml"]
    log = proc.log()
    assert f"SIGTERM: stopping worker {worker}" in log
    assert f"worker {worker} stopped" in log
    assert "Traceback" not in log


def test_sigterm_lets_the_message_in_flight_finish_and_defers_new_ones(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        with MilterClient(spec, timeout=20) as client:
            client.send_until("body", FORGED, client_ip=FOREIGN_IP, helo="bulk.sender.example",
                              mail_from="<x@campaign.example>")
            proc.signal(signal.SIGTERM)
            proc.wait_for_log("stopping: 1 message(s) in flight; new ones are deferred with 451")
            latecomer = send_forged(spec)
            client.send_packet(b"E")  # end of message
            answer = client._read_answer("eom")
        assert answer.action == "accept"
        assert any((m.kind, m.args) == TAGGED_SUBJECT for m in answer.modifications)
        assert (latecomer.action, latecomer.reply) == (
            "replycode", "451 4.3.2 spoofwatch is restarting, try again later")
        assert proc.wait(timeout=15) == 0
    finally:
        proc.stop()


# A worker killed on its own is restarted by the supervisor: see test_supervisor.py.


def test_worker_stops_when_its_supervisor_is_killed(
    dns_server: DnsTestServer, workdir: Path
) -> None:
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    worker = proc.worker_pid()
    proc.signal(signal.SIGKILL)
    proc.wait(timeout=15)
    deadline = time.monotonic() + 15
    while process_alive(worker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_alive(worker)
    assert re.search(r"the supervisor is gone: stopping", proc.log())
    assert not Path(spec[5:]).exists()


def test_reload_names_the_milter_keys_it_cannot_apply_and_keeps_the_old_socket(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec, moved = f"unix:{workdir}/spoofwatch.sock", f"unix:{workdir}/moved.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        # socket and timeout need a restart; spool_threshold is read per message
        text = config.read_text().replace(spec, moved).replace("  timeout: 30", "  timeout: 45")
        config.write_text(text.replace("milter:\n", "milter:\n  spool_threshold: 4096\n", 1))
        proc.signal(signal.SIGHUP)
        proc.wait_for_log("configuration reloaded from")
        log = proc.wait_for_log("reload did not apply")
        still_served = send_forged(spec)
    finally:
        code = proc.stop()
    assert ("reload did not apply milter.socket, milter.timeout: they take effect at the "
            "next restart (systemctl restart spoofwatch); the service keeps running with "
            "the old values") in log
    assert "spool_threshold" not in log
    assert tagged(still_served)
    assert not Path(moved[5:]).exists()
    assert code == 0
