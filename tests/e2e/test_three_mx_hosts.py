"""Three spoofwatch instances ("MX hosts") sharing one PostgreSQL store, under load.

10,000 messages (one in seven the 2020 threat, the rest ordinary mail) go through the three
instances at once over the milter protocol, 4 sessions each; PostgreSQL is stopped after
the first 3,000 and started again after 6,000. Then two admins on two other hosts release
the same 30 records at the same moment through a real Postfix. Nothing may be lost, nothing
counted twice, nothing delivered twice.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from spoofwatch.release_header import RELEASE_HEADER
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient
from support.milterproc import REPO, MilterProcess, write_config
from support.postfix import Mta
from support.postgres import PostgresServer, running_postgres
from support.rig import mta_rig
from support.shared_store import count, quarantine_cli, wait_until

MESSAGES = 10_000
SESSIONS_PER_HOST = 4
THREAT_EVERY = 7
RELEASED = 30
EXIT_OK, EXIT_ALREADY = 0, 7

ORDINARY = (b"From: Volunteer Desk <desk@county-party.example>\r\nTo: voter@recipient.example\r\n"
            b"Subject: Canvass this Saturday\r\nMessage-ID: <c@county-party.example>\r\n\r\n"
            b"We meet at the library at 10. Bring water and comfortable shoes.\r\n")
VARIANTS = (seeds.plain(), seeds.html_only(), seeds.base64_body(), seeds.multipart_alternative())


def _extra(url: str, host: str, key: Path) -> str:
    return (f'  database: "{url}"\n  host_name: {host}\n  database_timeout: 20\n'
            f'  release_key_file: "{key}"\nlogging:\n  database: true\n')


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="spoofwatch-3mx-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_three_hosts_10000_messages_a_database_outage_and_racing_releases(
    base: Path, dns: DnsTestServer, dns_server: DnsTestServer
) -> None:
    seeds.publish_seed_zone(dns)
    key = base / "release.key"  # one key for every host: any host's Postfix re-injects
    with running_postgres() as pg:
        url = pg.create_database("three_hosts")
        # mx1 sits behind a real Postfix (the releases go through it); mx2, mx3 stand alone
        with mta_rig("spoofwatch-3mx-mx1-", dns_server.port, quarantine=True,
                     extra=_extra(url, "mx1", key)) as mx1:
            assert quarantine_cli(mx1.base / "spoofwatch.yaml", "migrate").returncode == 0
            others = [_instance(base, url, host, key, dns_server.port)
                      for host in ("mx2", "mx3")]
            try:
                specs = [mx1.milter.socket_spec] + [p.socket_spec for p in others]
                held = _load(specs, pg)
                _settle(url, base, mx1, held)
                _race_releases(url, mx1, [p.config for p in others])
            finally:
                for proc in others:
                    proc.stop()


def _instance(base: Path, url: str, host: str, key: Path, dns_port: int) -> MilterProcess:
    directory = base / host
    directory.mkdir()
    spec = f"unix:{directory}/s.sock"
    config = _config(directory, url, host, key, dns_port, spec)
    proc = MilterProcess(config, spec, directory / "milter.log")
    proc.start()
    return proc


def _config(directory: Path, url: str, host: str, key: Path, dns_port: int,
            spec: str) -> Path:
    return write_config(directory, dns_port=dns_port, socket_spec=spec,
                        quarantine_dir=directory / "quarantine", extra=_extra(url, host, key))


def _load(specs: list[str], pg: PostgresServer) -> dict[str, int]:
    """Send every message; returns how many each host was asked to hold."""
    numbers = itertools.count()
    lock = threading.Lock()
    held = {spec: 0 for spec in specs}
    answered = {"n": 0}
    stop_at, start_at = 3_000, 6_000
    outage = {"stopped": threading.Event(), "started": threading.Event()}
    errors: list[str] = []

    def session(spec: str) -> None:
        try:
            while True:
                with lock:
                    n = next(numbers)
                if n >= MESSAGES:
                    return
                threat = n % THREAT_EVERY == 0
                raw = (f"X-Test-Seq: {n:05d}\r\n".encode()  # names it in a delivered copy
                       + (VARIANTS[n % len(VARIANTS)] if threat else ORDINARY))
                with MilterClient(spec, timeout=120) as client:
                    outcome = client.send_raw(
                        raw, client_ip=seeds.FOREIGN_IP if threat else "10.99.0.7",
                        helo=seeds.FOREIGN_HELO, mail_from=f"<{seeds.SEED_FROM}>" if threat
                        else "<desk@county-party.example>", rcpts=("<voter@recipient.example>",),
                        queue_id=f"Q{n:05d}")
                quarantined = any(m.kind == "quarantine" for m in outcome.modifications)
                if quarantined != threat:
                    errors.append(f"message {n}: threat={threat} quarantined={quarantined}")
                with lock:
                    held[spec] += quarantined
                    answered["n"] += 1
                    done = answered["n"]
                if done == stop_at:
                    pg.stop()
                    outage["stopped"].set()
                elif done == start_at:
                    outage["stopped"].wait()
                    pg.start()
                    outage["started"].set()
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(f"{spec}: {exc!r}")

    threads = [threading.Thread(target=session, args=(spec,))
               for spec in specs for _ in range(SESSIONS_PER_HOST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outage["started"].is_set()
    assert answered["n"] == MESSAGES
    return held


def _settle(url: str, base: Path, mx1: Mta, held: dict[str, int]) -> None:
    total_held = sum(held.values())
    assert total_held == len(range(0, MESSAGES, THREAT_EVERY))
    wait_until(lambda: count(url, "SELECT count(*) FROM quarantine_records") >= total_held,
               timeout=180, what="every held message's record in the shared store")
    wait_until(lambda: count(url, "SELECT count(*) FROM decisions") >= MESSAGES,
               timeout=180, what="every decision row")
    # no lost record, no duplicate row
    assert count(url, "SELECT count(*) FROM quarantine_records") == total_held
    assert count(url, "SELECT count(DISTINCT queue_id) FROM quarantine_records") == total_held
    assert count(url, "SELECT count(*) FROM decisions") == MESSAGES
    assert count(url, "SELECT count(DISTINCT queue_id) FROM decisions") == MESSAGES
    per_host = {spec: count(url, "SELECT count(*) FROM quarantine_records WHERE host = %s",
                            host) for spec, host in zip(held, ("mx1", "mx2", "mx3"),
                                                        strict=True)}
    assert per_host == held
    for spool in [mx1.base / "quarantine" / "spool", base / "mx2" / "quarantine" / "spool",
                  base / "mx3" / "quarantine" / "spool"]:
        assert list((spool / "msg").iterdir()) == []
        assert [p.name for p in (spool / "decisions").iterdir()] == []


def _race_releases(url: str, mx1: Mta, configs: list[Path]) -> None:
    """Admins on mx2 and mx3 release the same records (held on mx1) at the same moment,
    each from the stored copy through the one Postfix."""
    mx1.sink.clear()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, queue_id FROM quarantine_records WHERE host = 'mx1' ORDER BY id "
            "LIMIT %s", (RELEASED,)).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == RELEASED
    for record_id in ids:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "spoofwatch.cli_quarantine", "release", record_id,
             "--reinject", "--config", str(config), "--postfix-config",
             str(mx1.postfix.etc)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for config in configs]
        outs = [p.communicate(timeout=120) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [EXIT_OK, EXIT_ALREADY], outs
    delivered = mx1.sink.wait_for(RELEASED, timeout=120)
    mx1.postfix.flush()
    assert mx1.postfix.queue_json() == []
    delivered_seqs = sorted(
        line.split(":", 1)[1].strip()
        for m in mx1.sink.messages for line in m.data.decode("ascii", "replace").splitlines()
        if line.startswith("X-Test-Seq:"))
    assert len(delivered) == len(mx1.sink.messages) == RELEASED
    assert delivered_seqs == sorted(r[1][1:] for r in rows)  # each released record, once
    # the milter behind Postfix honoured the release header (shared key) and removed it
    assert not any(RELEASE_HEADER.encode() in m.data for m in mx1.sink.messages)
    assert count(url, "SELECT count(*) FROM quarantine_events WHERE action = 'release'"
                 ) == RELEASED
    assert count(url, "SELECT count(*) FROM quarantine_hold_removals") == RELEASED
