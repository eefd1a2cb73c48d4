"""The shared store in a real PostgreSQL (a throwaway cluster the tests start): the schema,
the admin's commands, the service's saves and decision rows, exactly-once releases, and a
database that goes away under load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from spoofwatch.audit.history_sources import QuarantineReleases, SharedDecisions
from spoofwatch.config import load_config
from spoofwatch.quarantine.pg_schema import LATEST
from spoofwatch.quarantine.pg_store import Database, PostgresStore, close_pools
from spoofwatch.quarantine.record import AlreadyReleased, ReleaseEvent
from spoofwatch.yamlload import ConfigError
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient
from support.milterproc import REPO, MilterProcess, write_config
from support.postgres import PASSWORD_ROLE, PostgresServer, running_postgres
from support.shared_store import count, quarantine_cli, shared_config, wait_until


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="spoofwatch-shared-"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture(autouse=True)
def _no_pools_left() -> Iterator[None]:
    yield
    close_pools()


def _config(workdir: Path, url: str, host: str = "mx1", **kw: object) -> Path:
    return shared_config(workdir, url, host, dns_port=53,
                         socket_spec=f"unix:{workdir}/s.sock", **kw)


def _migrated(workdir: Path, url: str, host: str = "mx1") -> Path:
    config = _config(workdir, url, host)
    done = quarantine_cli(config, "migrate")
    assert done.returncode == 0, done.stderr
    return config


def _send_threat(spec: str, queue_id: str) -> bool:
    """The 2020 message, forged as it was; True when the service asked Postfix to hold it."""
    with MilterClient(spec, timeout=60) as client:
        outcome = client.send_raw(seeds.plain(), client_ip=seeds.FOREIGN_IP,
                                  helo=seeds.FOREIGN_HELO, mail_from=f"<{seeds.SEED_FROM}>",
                                  rcpts=("<voter@recipient.example>",), queue_id=queue_id)
    return any(m.kind == "quarantine" for m in outcome.modifications)


# --- schema -----------------------------------------------------------------------------------
def test_migrate_creates_the_schema_once_and_says_so_when_run_again(
    workdir: Path, shared_db: str
) -> None:
    config = _config(workdir, shared_db)
    first = quarantine_cli(config, "migrate", "--json")
    again = quarantine_cli(config, "migrate", "--json")
    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert json.loads(first.stdout) == {"before": 0, "after": LATEST, "applied": [1]}
    assert json.loads(again.stdout) == {"before": LATEST, "after": LATEST, "applied": []}
    assert count(shared_db, "SELECT count(*) FROM spoofwatch_schema") == 1


def test_two_hosts_migrating_at_the_same_moment_apply_the_schema_once(
    workdir: Path, shared_db: str
) -> None:
    configs = []
    for host in ("mx1", "mx2"):
        (workdir / host).mkdir()
        configs.append(_config(workdir / host, shared_db, host))
    procs = [subprocess.Popen(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", "migrate", "--json", "--config",
         str(c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for c in configs]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    applied = sorted(len(json.loads(o[0])["applied"]) for o in outs)
    assert applied == [0, 1]
    assert count(shared_db, "SELECT count(*) FROM spoofwatch_schema") == 1


def test_commands_on_a_database_without_the_schema_name_the_command_that_makes_it(
    workdir: Path, shared_db: str
) -> None:
    done = quarantine_cli(_config(workdir, shared_db), "list")
    assert done.returncode == 3
    assert "run `spoofwatch quarantine migrate` once" in done.stderr


def test_migrate_on_a_one_host_store_is_a_usage_error(workdir: Path) -> None:
    config = write_config(workdir, dns_port=53, socket_spec=f"unix:{workdir}/s.sock",
                          quarantine_dir=workdir / "q")
    done = quarantine_cli(config, "migrate")
    assert done.returncode == 64
    assert "set quarantine.database" in done.stderr


# --- configuration and the password -----------------------------------------------------------
def test_a_password_in_the_database_url_is_refused_with_where_to_put_it(workdir: Path) -> None:
    for url in ("postgresql://sw:secret@db.example/sw", "postgresql:///sw?password=secret"):
        path = _config(workdir, url)
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert "must not contain the password" in str(caught.value)
        assert "secret" not in str(caught.value)


def test_a_database_needs_its_local_directory_and_decisions_need_a_database(
    workdir: Path
) -> None:
    path = write_config(workdir, dns_port=53, socket_spec="unix:/x.sock",
                        extra='  database: "postgresql:///sw"')
    with pytest.raises(ConfigError, match="needs a local directory too"):
        load_config(path)
    path = write_config(workdir, dns_port=53, socket_spec="unix:/x.sock",
                        quarantine_dir=workdir / "q", extra="logging:\n  database: true")
    with pytest.raises(ConfigError, match="only when quarantine.database names one"):
        load_config(path)


def test_the_password_comes_from_the_password_file_readable_by_owner_and_group_only(
    workdir: Path, postgres: PostgresServer, shared_db: str
) -> None:
    name = shared_db.split("?")[0].rsplit("/", 1)[1]
    postgres.psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                  f"'{PASSWORD_ROLE}') THEN CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD "
                  f"'correct horse'; END IF; END $$")
    postgres.psql(f'ALTER DATABASE "{name}" OWNER TO {PASSWORD_ROLE}')
    url = postgres.url(name, user=PASSWORD_ROLE)
    secret = workdir / "db-password"
    secret.write_text("correct horse\n")
    secret.chmod(0o640)
    config = _config(workdir, url, password_file=str(secret))
    assert quarantine_cli(config, "migrate").returncode == 0
    assert quarantine_cli(config, "list").returncode == 0
    secret.write_text("wrong\n")
    wrong = quarantine_cli(config, "list")
    assert wrong.returncode == 3 and "password authentication failed" in wrong.stderr
    secret.write_text("correct horse\n")
    secret.chmod(0o644)
    open_file = quarantine_cli(config, "list")
    assert open_file.returncode == 3 and "chmod 0640" in open_file.stderr
    secret.chmod(0o600)
    # libpq's own environment works as well, without the file
    (workdir / "env").mkdir()
    env_config = _config(workdir / "env", url)
    argv = [sys.executable, "-m", "spoofwatch.cli_quarantine", "list", "--config",
            str(env_config)]
    with_env = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60,
                              env={**os.environ, "PGPASSWORD": "correct horse"}, check=False)
    assert with_env.returncode == 0, with_env.stderr


# --- releases ---------------------------------------------------------------------------------
def _insert(url: str, host: str, n: int) -> list[str]:
    from support.shared_records import insert_records

    return insert_records(url, host, n)


def test_of_eight_releases_at_once_from_two_hosts_exactly_one_runs(
    workdir: Path, shared_db: str
) -> None:
    _migrated(workdir, shared_db)
    (record_id,) = _insert(shared_db, "mx1", 1)
    db = Database(shared_db, timeout=20)
    stores = [PostgresStore(db, host) for host in ("mx1", "mx2")]
    record = stores[0].get(record_id)
    assert not isinstance(record, type(None))
    ran: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def release(store: PostgresStore, n: int) -> None:
        event = ReleaseEvent("release", time.time(), f"admin{n}", "reinject",
                             record.rcpts)  # type: ignore[union-attr]
        start.wait()
        try:
            with store.releasing(record, event):  # type: ignore[arg-type]
                time.sleep(0.2)  # the MTA action: long enough for every other to try
                ran.append(store.host)
        except AlreadyReleased as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=release, args=(stores[n % 2], n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(ran), len(refused)) == (1, 7)
    assert count(shared_db, "SELECT count(*) FROM quarantine_events WHERE action = 'release'"
                 ) == 1
    assert count(shared_db, "SELECT count(*) FROM quarantine_records WHERE state = 'released'"
                 ) == 1
    # released from the stored copy on mx2: mx1 is asked to remove the copy it holds
    assert count(shared_db, "SELECT count(*) FROM quarantine_hold_removals WHERE host = 'mx1'"
                 ) == (1 if ran == ["mx2"] else 0)


def test_a_failed_release_leaves_the_record_held_and_a_second_try_works(
    workdir: Path, shared_db: str
) -> None:
    _migrated(workdir, shared_db)
    (record_id,) = _insert(shared_db, "mx1", 1)
    store = PostgresStore(Database(shared_db), "mx1")
    record = store.get(record_id)
    event = ReleaseEvent("release", time.time(), "admin", "hold", ())
    with pytest.raises(RuntimeError), store.releasing(record, event):  # type: ignore[arg-type]
        raise RuntimeError("postsuper failed")
    assert store.get(record_id).state == "held"  # type: ignore[union-attr]
    with store.releasing(record, event):  # type: ignore[arg-type]
        pass
    assert store.get(record_id).state == "released"  # type: ignore[union-attr]
    with pytest.raises(AlreadyReleased, match="already released by admin"), \
            store.releasing(record, event):  # type: ignore[arg-type]
        pass
    with store.releasing(record, event, again=True):  # type: ignore[arg-type]
        pass
    assert count(shared_db, "SELECT count(*) FROM quarantine_events") == 2


def test_two_digests_at_once_never_list_a_record_twice(workdir: Path, shared_db: str) -> None:
    _migrated(workdir, shared_db)
    ids = set(_insert(shared_db, "mx1", 30))
    listed: list[list[str]] = []
    start = threading.Barrier(2)

    def digest(host: str) -> None:
        store = PostgresStore(Database(shared_db, timeout=20), host)
        start.wait()
        with store.digesting(None, 20) as page:
            time.sleep(0.2)
            listed.append([r.id for r in page.records])

    threads = [threading.Thread(target=digest, args=(h,)) for h in ("mx1", "mx2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    together = [i for page in listed for i in page]
    assert len(together) == len(set(together)) == 30
    assert set(together) == ids


def test_purge_removes_old_records_and_old_decision_rows(workdir: Path, shared_db: str) -> None:
    config = _migrated(workdir, shared_db)
    _insert(shared_db, "mx1", 3)
    with psycopg.connect(shared_db, autocommit=True) as conn:
        conn.execute("UPDATE quarantine_records SET time = time - 40 * 86400 WHERE id IN "
                     "(SELECT id FROM quarantine_records ORDER BY id LIMIT 2)")
        for age in (1, 100):
            conn.execute("INSERT INTO decisions VALUES (gen_random_uuid(), now() - "
                         "%s * interval '1 day', 'mx1', 'Q', 'clean', 'accept', 'a.example', "
                         "'{}', '{}')", (age,))
    done = quarantine_cli(config, "purge")
    assert done.returncode == 0, done.stderr
    assert "Purged 2 record(s)" in done.stdout
    assert "Purged 1 decision log row(s) older than 90 days" in done.stdout
    assert count(shared_db, "SELECT count(*) FROM quarantine_records") == 1
    assert count(shared_db, "SELECT count(*) FROM decisions") == 1


# --- the service ------------------------------------------------------------------------------
def test_the_service_saves_held_mail_and_every_decision_to_the_database(
    workdir: Path, shared_db: str, dns: DnsTestServer, dns_server: DnsTestServer
) -> None:
    seeds.publish_seed_zone(dns)
    spec = f"unix:{workdir}/s.sock"
    config = shared_config(workdir, shared_db, "mx7", dns_port=dns_server.port,
                           socket_spec=spec)
    assert quarantine_cli(config, "migrate").returncode == 0
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    try:
        assert _send_threat(spec, "HELD1")
        with MilterClient(spec, timeout=60) as client:
            client.send_raw(b"From: a@news.example\r\nSubject: hi\r\n\r\nNothing here.\r\n",
                            client_ip="198.51.100.20", mail_from="<a@news.example>",
                            queue_id="CLEAN1")
        wait_until(lambda: count(shared_db, "SELECT count(*) FROM decisions") == 2,
                   what="two decision rows")
        wait_until(lambda: count(shared_db, "SELECT count(*) FROM quarantine_records") == 1,
                   what="one record")
    finally:
        proc.stop()
    listed = json.loads(quarantine_cli(config, "list", "--json").stdout)
    (record,) = listed["records"]
    assert (record["host"], record["queue_id"], record["level"]) == ("mx7", "HELD1", "threat")
    shown = quarantine_cli(config, "show", record["id"])
    assert shown.returncode == 0 and "Quarantine record" in shown.stdout
    stats = json.loads(quarantine_cli(config, "stats", "--json").stdout)
    assert (stats["total"], stats["by_host"], stats["checked"]) == (1, {"mx7": 1}, 2)
    assert stats["checked_by_level"] == {"threat": 1, "suspect": 1}
    assert stats["spoofed_orgs"] == {"Proud Boys": 1}  # named by the watchlist
    digest = json.loads(quarantine_cli(config, "digest", "--to", "admin@example.org",
                                       "--json").stdout)
    assert (digest["sent"], digest["ids"]) == (False, [record["id"]])
    raw = subprocess.run([sys.executable, "-m", "spoofwatch.cli_quarantine", "show",
                          record["id"], "--raw", "--config", str(config)], cwd=REPO,
                         capture_output=True, timeout=60, check=False).stdout
    assert b"Vote for Trump or else!" in raw
    assert not list((workdir / "quarantine" / "spool" / "msg").iterdir())
    # `spoofwatch audit` reads every host's decisions and releases from the shared store
    store = PostgresStore(Database(shared_db), "mx1")
    source = SharedDecisions(store)
    decided = sorted((d.level, d.from_domain) for d in source.decisions(0.0))
    assert decided == [("suspect", "news.example"), ("threat", seeds.SEED_DOMAIN)]
    assert source.problems() == ()
    assert list(QuarantineReleases("", store).releases(0.0)) == []
    assert quarantine_cli(config, "release", record["id"], "--to",
                          "nobody@invalid.example").returncode == 6  # no Postfix here
    assert list(QuarantineReleases("", store).releases(0.0)) == []


def test_with_the_database_down_mail_is_answered_spooled_and_replayed_later(
    workdir: Path, dns: DnsTestServer, dns_server: DnsTestServer
) -> None:
    seeds.publish_seed_zone(dns)
    with running_postgres() as pg:
        url = pg.create_database("outage")
        spec = f"unix:{workdir}/s.sock"
        config = shared_config(workdir, url, "mx1", dns_port=dns_server.port,
                               socket_spec=spec)
        assert quarantine_cli(config, "migrate").returncode == 0
        proc = MilterProcess(config, spec, workdir / "milter.log")
        proc.start()
        spool = workdir / "quarantine" / "spool" / "msg"
        try:
            assert all(_send_threat(spec, f"UP{i}") for i in range(5))
            wait_until(lambda: count(url, "SELECT count(*) FROM quarantine_records") == 5)
            pg.stop()
            # the milter answers as before: Postfix holds, our copies wait in the spool
            assert all(_send_threat(spec, f"DOWN{i}") for i in range(20))
            assert len(list(spool.iterdir())) == 20
            proc.wait_for_log("cannot take records now")
            pg.start()
            assert _send_threat(spec, "BACK")  # a new record wakes the writer at once
            wait_until(lambda: count(url, "SELECT count(*) FROM quarantine_records") == 26,
                       what="every record, the spooled ones replayed")
            wait_until(lambda: count(url, "SELECT count(*) FROM decisions") == 26,
                       what="every decision row")
        finally:
            proc.stop()
        assert not list(spool.iterdir())
        assert count(url, "SELECT count(DISTINCT queue_id) FROM quarantine_records") == 26
        assert "answers again: sent" in proc.log()


def test_what_a_stopped_service_left_in_the_spool_goes_out_when_it_starts_again(
    workdir: Path, dns: DnsTestServer, dns_server: DnsTestServer
) -> None:
    seeds.publish_seed_zone(dns)
    with running_postgres() as pg:
        url = pg.create_database("restart")
        spec = f"unix:{workdir}/s.sock"
        config = shared_config(workdir, url, "mx1", dns_port=dns_server.port,
                               socket_spec=spec, workers=2)
        assert quarantine_cli(config, "migrate").returncode == 0
        pg.stop()
        proc = MilterProcess(config, spec, workdir / "milter.log")
        proc.start()
        try:
            assert all(_send_threat(spec, f"LEFT{i}") for i in range(3))
        finally:
            assert proc.stop() == 0
        spool = workdir / "quarantine" / "spool"
        assert len(list((spool / "msg").iterdir())) == 3
        assert list((spool / "decisions").iterdir())  # the rows were kept on the way out
        pg.start()
        proc = MilterProcess(config, spec, workdir / "milter2.log")
        proc.start()
        try:  # no new mail: the writers started with the service send what was left
            wait_until(lambda: count(url, "SELECT count(*) FROM quarantine_records") == 3)
            wait_until(lambda: count(url, "SELECT count(*) FROM decisions") == 3)
        finally:
            proc.stop()
        assert list((spool / "msg").iterdir()) == []
        assert count(url, "SELECT count(DISTINCT queue_id) FROM decisions") == 3
