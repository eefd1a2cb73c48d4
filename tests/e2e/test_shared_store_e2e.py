"""Two MX hosts, each a real Postfix with spoofwatch, sharing one PostgreSQL store.

The host whose Postfix holds a message is the one that can release it from its hold queue:
a release asked for on the other host is carried out by the holding host's agent (woken by
the database's NOTIFY), and a release from the stored copy on the other host, or a delete
there, makes the agent remove the held copy. Two admins on two hosts releasing one message
at the same moment deliver it once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from spoofwatch.quarantine.pg_store import close_pools
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterproc import REPO
from support.postfix import Mta, send
from support.postgres import PostgresServer
from support.rig import mta_rig
from support.shared_store import count, quarantine_cli, wait_until

EXIT_OK, EXIT_ALREADY = 0, 7


@dataclass
class Hosts:
    mx1: Mta
    mx2: Mta
    url: str


def _extra(url: str, host: str) -> str:
    return (f'  database: "{url}"\n  host_name: {host}\n  database_timeout: 20\n'
            "logging:\n  database: true\n")


@pytest.fixture(scope="module")
def hosts(dns_server: DnsTestServer, postgres: PostgresServer) -> Iterator[Hosts]:
    url = postgres.create_database("two_hosts")
    with mta_rig("spoofwatch-mx1-", dns_server.port, quarantine=True,
                 extra=_extra(url, "mx1")) as mx1, \
            mta_rig("spoofwatch-mx2-", dns_server.port, quarantine=True,
                    extra=_extra(url, "mx2")) as mx2:
        assert admin(mx1, "migrate").returncode == 0
        yield Hosts(mx1, mx2, url)
    close_pools()


@pytest.fixture
def clean(hosts: Hosts, dns: DnsTestServer) -> Hosts:
    for mta in (hosts.mx1, hosts.mx2):
        mta.sink.clear()
        mta.postfix.clear_queue()
    seeds.publish_seed_zone(dns)
    return hosts


def admin(mta: Mta, *args: str) -> subprocess.CompletedProcess[str]:
    """``spoofwatch quarantine ARGS`` on that host (its configuration, its Postfix)."""
    return quarantine_cli(mta.base / "spoofwatch.yaml", *args,
                          postfix_config=str(mta.postfix.etc))


def held_on_mx1(hosts: Hosts) -> str:
    """The 2020 message sent to mx1: held there; its record id once the store has it."""
    result = send(hosts.mx1.postfix.port, seeds.plain(), client_ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert result.code == 250, result
    hosts.mx1.postfix.wait_held(1)
    wait_until(lambda: count(hosts.url, "SELECT count(*) FROM quarantine_records WHERE "
                                        "queue_id = %s", result.queue_id) == 1,
               what="the record in the shared store")
    with psycopg.connect(hosts.url, autocommit=True) as conn:
        row = conn.execute("SELECT id, host FROM quarantine_records WHERE queue_id = %s",
                           (result.queue_id,)).fetchone()
    assert row[1] == "mx1"
    return str(row[0])


def releases(hosts: Hosts, record_id: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(hosts.url, autocommit=True) as conn:
        rows = conn.execute("SELECT actor, method, host FROM quarantine_events WHERE "
                            "record_id = %s AND action = 'release'", (record_id,)).fetchall()
    return [tuple(r) for r in rows]


def agent_once(mta: Mta) -> subprocess.CompletedProcess[str]:
    done = admin(mta, "agent", "--once", "--json")
    assert done.returncode == 0, done.stderr
    return done


def test_a_release_asked_on_mx2_is_done_by_mx1s_agent_from_its_hold_queue(
    clean: Hosts
) -> None:
    record_id = held_on_mx1(clean)
    # mx1's agent waits for work; only the NOTIFY of the request wakes it this soon
    agent = subprocess.Popen(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", "agent", "--interval", "600",
         "--config", str(clean.mx1.base / "spoofwatch.yaml"),
         "--postfix-config", str(clean.mx1.postfix.etc)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "USER": "root"})
    try:
        asked = admin(clean.mx2, "release", record_id, "--wait", "60")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            out, err = agent.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()  # never left running to act in the next tests
            agent.communicate()
            raise
    assert agent.returncode == 0, err  # stopped cleanly by SIGTERM, as systemd stops it
    assert '"released": 1' in out or "released 1," in out
    assert asked.returncode == EXIT_OK, asked.stderr
    assert "released by mx1's agent, from its hold queue" in asked.stdout
    delivered = clean.mx1.sink.wait_for(1)
    assert [m.rcpts for m in delivered] == [["voter@recipient.example"]]
    assert clean.mx1.postfix.held() == [] and clean.mx2.sink.messages == []
    assert releases(clean, record_id) == [("admin", "hold", "mx1")]
    again = admin(clean.mx2, "release", record_id)
    assert again.returncode == EXIT_ALREADY and "already released by admin on mx1" in again.stderr


def test_a_stored_copy_released_on_mx2_makes_mx1_drop_its_held_copy(clean: Hosts) -> None:
    record_id = held_on_mx1(clean)
    done = admin(clean.mx2, "release", record_id, "--reinject")
    assert done.returncode == EXIT_OK, done.stderr
    assert "mx1's agent removes the copy it holds" in done.stdout
    # mx2's Postfix delivers the stored copy; mx2's milter lets it pass (its release header)
    delivered = clean.mx2.sink.wait_for(1)
    assert len(delivered) == 1 and b"Vote for Trump or else" in delivered[0].data
    assert len(clean.mx1.postfix.held()) == 1
    assert '"removed": 1' in agent_once(clean.mx1).stdout
    assert clean.mx1.postfix.held() == [] and clean.mx1.sink.messages == []
    assert releases(clean, record_id) == [("admin", "reinject", "mx2")]
    assert count(clean.url, "SELECT count(*) FROM quarantine_hold_removals") == 0


def test_a_delete_on_mx2_removes_mx1s_held_copy(clean: Hosts) -> None:
    record_id = held_on_mx1(clean)
    assert admin(clean.mx2, "delete", record_id).returncode == EXIT_OK
    assert count(clean.url, "SELECT count(*) FROM quarantine_records WHERE id = %s",
                 record_id) == 0
    assert '"removed": 1' in agent_once(clean.mx1).stdout
    assert clean.mx1.postfix.held() == []


@pytest.mark.parametrize("attempt", range(3))
def test_two_admins_on_two_hosts_releasing_at_once_deliver_it_once(
    clean: Hosts, attempt: int
) -> None:
    record_id = held_on_mx1(clean)
    argv = [sys.executable, "-m", "spoofwatch.cli_quarantine", "release", record_id]
    procs = []
    for mta, more in ((clean.mx1, []), (clean.mx2, ["--reinject"])):
        procs.append(subprocess.Popen(
            [*argv, *more, "--config", str(mta.base / "spoofwatch.yaml"), "--postfix-config",
             str(mta.postfix.etc)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [EXIT_OK, EXIT_ALREADY], outs
    agent_once(clean.mx1)  # removes mx1's held copy if mx2 won
    winner = clean.mx1 if procs[0].returncode == EXIT_OK else clean.mx2
    other = clean.mx2 if winner is clean.mx1 else clean.mx1
    assert len(winner.sink.wait_for(1)) == 1
    for mta in (clean.mx1, clean.mx2):
        mta.postfix.flush()
        assert mta.postfix.queue_json() == []  # nothing held, nothing waiting to go out
    assert other.sink.messages == [] and len(winner.sink.messages) == 1
    assert len(releases(clean, record_id)) == 1


def test_stats_and_list_on_either_host_show_every_hosts_mail(clean: Hosts) -> None:
    held_on_mx1(clean)
    result = send(clean.mx2.postfix.port, seeds.plain(), client_ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert result.code == 250
    clean.mx2.postfix.wait_held(1)
    wait_until(lambda: count(clean.url, "SELECT count(*) FROM quarantine_records WHERE "
                                        "host = 'mx2'") >= 1)
    for mta in (clean.mx1, clean.mx2):
        listed = admin(mta, "list", "--level", "threat", "--limit", "500")
        assert "held on mx1" in listed.stdout and "held on mx2" in listed.stdout
        stats = admin(mta, "stats")
        assert "By MX host" in stats.stdout and "Messages checked on every host" in stats.stdout
