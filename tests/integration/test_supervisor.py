"""The supervisor of ``spoofwatch run`` restarts a worker that dies, with a bounded backoff.

The service tests kill the real worker with SIGKILL and talk to the real socket; the
backoff tests run ``supervise()`` itself with workers that die on purpose (forked from
the test process) and short delays.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofwatch.supervisor import GIVE_UP_AFTER, Backoff, supervise
from support.campaign import publish_campaign_zone, send_forged, tagged
from support.dnsserver import DnsTestServer
from support.milterproc import POLICIES, MilterProcess, process_alive, write_config
from support.scratch import scratch_dir


@pytest.fixture()
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-supervisor-") as path:
        yield path


def test_a_killed_worker_is_replaced_and_the_service_answers_again(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        supervisor = proc.pid
        worker = proc.worker_pid()
        assert tagged(send_forged(spec))
        os.kill(worker, signal.SIGKILL)
        new_worker = proc.wait_for_replacement(worker)
        outcome = send_forged(spec)
        assert proc.pid == supervisor and proc.proc is not None and proc.proc.poll() is None
        assert not process_alive(worker)
    finally:
        code = proc.stop()
    assert outcome.action == "accept" and tagged(outcome)
    assert code == 0
    log = proc.log()
    assert f"worker {worker} killed by SIGKILL unexpectedly after " in log
    assert "; starting a new one in 0.5s" in log
    assert f"supervisor {supervisor} started worker {new_worker} (restart 1)" in log
    assert f"worker {new_worker} stopped" in log
    assert not Path(spec[5:]).exists()


def test_a_replacement_worker_runs_the_configuration_last_reloaded(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        write_config(workdir, dns_port=dns_server.port, socket_spec=spec,
                     policy=POLICIES / "monitor.yaml")
        proc.signal(signal.SIGHUP)
        proc.wait_for_log("configuration reloaded from")
        before = send_forged(spec)
        worker = proc.worker_pid()
        os.kill(worker, signal.SIGKILL)
        proc.wait_for_replacement(worker)
        proc.wait_for_log(") listening with policy monitor", count=1)
        after = send_forged(spec)
    finally:
        proc.stop()
    # the monitor policy only adds headers: no subject tag before the crash or after it
    assert (tagged(before), tagged(after)) == (False, False)
    assert proc.log().count(" policy=monitor ") == 2


def test_backoff_doubles_up_to_the_maximum_and_starts_over_after_a_good_run() -> None:
    backoff = Backoff(first=0.5, maximum=30.0, reset_after=60.0)
    quick = [backoff.next_delay(ran_for=1.0) for _ in range(9)]
    assert quick == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.next_delay(ran_for=60.0) == 0.5  # that worker had run long enough
    assert backoff.next_delay(ran_for=2.0) == 1.0


def _starts(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_a_worker_that_keeps_dying_is_restarted_with_growing_delays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"

    def dying_worker(control_fd: int, slot: int) -> int:
        with starts.open("a") as f:
            f.write(f"{time.monotonic()}\n")
        if _starts(starts) < 6:
            return 1
        # Enough: this one stays and is stopped the normal way (SIGTERM, "stop" on the pipe).
        os.kill(os.getppid(), signal.SIGTERM)
        with os.fdopen(control_fd, "rb") as control:
            return 0 if control.readline() == b"stop\n" else 1

    caplog.set_level(logging.INFO, logger="spoofwatch.supervisor")
    code = supervise(dying_worker, Backoff(first=0.02, maximum=0.16, reset_after=60.0))
    assert code == 0
    delays = [r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records
              if "unexpectedly after" in r.getMessage()]
    assert delays == ["0.02s", "0.04s", "0.08s", "0.16s", "0.16s"]
    assert _starts(starts) == 6
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= delay for gap, delay in zip(gaps, (0.02, 0.04, 0.08, 0.16, 0.16),
                                                   strict=True)), gaps
    assert "SIGTERM: stopping worker" in caplog.text


@pytest.mark.parametrize("status", [71, 78])
def test_a_worker_that_cannot_work_is_not_restarted_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    starts = tmp_path / "starts"

    def broken_worker(control_fd: int, slot: int) -> int:
        with starts.open("a") as f:
            f.write("started\n")
        return status

    caplog.set_level(logging.INFO, logger="spoofwatch.supervisor")
    code = supervise(broken_worker, Backoff(first=0.01, maximum=0.04, reset_after=60.0))
    assert code == status
    assert _starts(starts) == GIVE_UP_AFTER
    messages = [r.getMessage() for r in caplog.records]
    assert sum("quick failure" in m for m in messages) == GIVE_UP_AFTER - 1
    assert any(m.startswith(f"the worker failed {GIVE_UP_AFTER} times in a row with exit "
                            f"status {status}") and "giving up" in m for m in messages)
