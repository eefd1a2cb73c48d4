"""Regression tests for what a review of the shared store found (each failed before its
fix): releases that could deliver twice or stick, addresses PostgreSQL's text refuses, a
server that stops answering, damaged rows, and a password echoed in an error."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from spoofwatch.database_url import database_url_problem, shown_url
from spoofwatch.quarantine.pg_schema import migrate
from spoofwatch.quarantine.pg_store import (
    INSERT_RECORD,
    Database,
    PostgresStore,
    close_pools,
    record_row,
)
from spoofwatch.quarantine.pg_writer import stop_writers, writer_for
from spoofwatch.quarantine.record import AlreadyReleased, Record, ReleaseEvent
from spoofwatch.quarantine.record_files import StoreError
from spoofwatch.quarantine.spool import Spool
from support.postgres import PostgresServer, running_postgres
from support.shared_records import insert_records
from support.shared_store import count


@pytest.fixture(autouse=True)
def _no_pools_left() -> Iterator[None]:
    yield
    close_pools()


@pytest.fixture
def url(shared_db: str) -> str:
    with psycopg.connect(shared_db, autocommit=True) as conn:
        migrate(conn, "tests")
    return shared_db


def _store(url: str, host: str, **kw: object) -> PostgresStore:
    return PostgresStore(Database(url, timeout=float(kw.pop("timeout", 10.0))), host,
                         **kw)  # type: ignore[arg-type]


def _record(store: PostgresStore, record_id: str) -> Record:
    found = store.get(record_id)
    assert isinstance(found, Record), found
    return found


def _release(record: Record, actor: str = "admin",
             rcpts: tuple[str, ...] | None = None) -> ReleaseEvent:
    return ReleaseEvent("release", time.time(), actor, "reinject",
                        record.rcpts if rcpts is None else rcpts)


def test_a_release_requested_of_a_host_that_is_down_can_still_be_done_from_the_copy(
    url: str
) -> None:
    (record_id,) = insert_records(url, "mx1", 1)
    mx1, mx2 = _store(url, "mx1"), _store(url, "mx2")
    record = _record(mx2, record_id)
    mx2.request_release(record, _release(record))
    with mx2.releasing(record, _release(record)):  # --reinject, as the command advises
        pass
    assert _record(mx2, record_id).state == "released"
    with pytest.raises(AlreadyReleased), mx1.releasing(record, _release(record),
                                                       requested=True):
        pass  # mx1's agent, back: nothing left to do
    assert count(url, "SELECT count(*) FROM quarantine_events WHERE action = 'release'") == 1


def test_the_outcome_of_a_request_is_found_whatever_the_hosts_clocks_say(url: str) -> None:
    (record_id,) = insert_records(url, "mx1", 1)
    mx2 = _store(url, "mx2")
    late = _store(url, "mx1", clock=lambda: time.time() - 30)  # mx1's clock is behind
    record = _record(mx2, record_id)
    after = mx2.request_release(record, _release(record))
    with late.releasing(record, ReleaseEvent("release", time.time() - 30, "admin", "hold",
                                             record.rcpts), requested=True):
        pass
    state, done = mx2.release_outcome(record_id, after)
    assert state == "released" and done is not None and done.action == "release"


def test_a_copy_to_someone_else_leaves_the_held_original_alone_and_a_delete_removes_it(
    url: str
) -> None:
    (record_id,) = insert_records(url, "mx1", 1)
    mx2 = _store(url, "mx2")
    record = _record(mx2, record_id)
    with mx2.releasing(record, _release(record, rcpts=("analyst@example.org",))):
        pass
    assert count(url, "SELECT count(*) FROM quarantine_hold_removals") == 0  # --to
    assert mx2.delete(record_id) is None
    assert count(url, "SELECT count(*) FROM quarantine_hold_removals WHERE host = 'mx1'") == 1


def test_an_envelope_with_bytes_that_are_not_utf8_reaches_the_holding_host_exactly(
    url: str
) -> None:
    (record_id,) = insert_records(url, "mx1", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        meta = json.loads(conn.execute("SELECT meta FROM quarantine_records WHERE id = %s",
                                       (record_id,)).fetchone()[0])
        meta["mail_from"] = "bad\udcff@forger.example"
        conn.execute("UPDATE quarantine_records SET meta = %s WHERE id = %s",
                     (json.dumps(meta, ensure_ascii=True), record_id))
    mx1, mx2 = _store(url, "mx1"), _store(url, "mx2")
    record = _record(mx2, record_id)
    with mx2.releasing(record, _release(record)):
        pass
    (removal,) = mx1.hold_removals_here()
    assert removal.mail_from == "bad\udcff@forger.example"  # as postqueue -j shows it to us
    assert removal.rcpts == record.rcpts


def test_a_release_whose_database_restarts_meanwhile_is_recorded_once_it_is_back(
    tmp_path: Path
) -> None:
    with running_postgres() as pg:
        url = pg.create_database("restart")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "tests")
        (record_id,) = insert_records(url, "mx1", 1)
        store = _store(url, "mx1")
        record = _record(store, record_id)
        with store.releasing(record, _release(record)):
            pg.stop()  # during postsuper, say
            pg.start()
        assert _record(store, record_id).state == "released"
        assert count(url, "SELECT count(*) FROM quarantine_events") == 1


def _cluster_pids(pg: PostgresServer) -> list[int]:
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(name))
    return pids


def test_a_server_that_stops_answering_fails_the_command_instead_of_hanging() -> None:
    with running_postgres() as pg:
        url = pg.create_database("stopped")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "tests")
        store = _store(url, "mx1", timeout=1.0)
        store.list()  # the pool holds an open connection now
        pids = _cluster_pids(pg)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(_try(store.list)),
                                  daemon=True)
        try:
            worker.start()
            worker.join(120)  # a liveness bound, far above the watchdog's 5 s
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert len(outcome) == 1 and isinstance(outcome[0], StoreError), outcome


def _try(fn: object) -> object:
    try:
        return fn()  # type: ignore[operator]
    except StoreError as exc:
        return exc


def test_damaged_rows_are_named_not_hidden_and_can_be_deleted(url: str) -> None:
    ids = insert_records(url, "mx1", 3)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE quarantine_records SET meta = '{not json' WHERE id = %s",
                     (ids[0],))
        conn.execute("INSERT INTO quarantine_events (record_id, time, action, actor, method, "
                     "host, recipients) VALUES (%s, 1, 'release', 'a', 'hold', 'mx1', "
                     "'not json')", (ids[1],))
    store = _store(url, "mx1")
    page = store.list()
    assert (page.total, len(page.records), page.damaged) == (3, 2, (ids[0],))
    assert store.delete(ids[0]) is None
    assert store.list().total == 2


def test_unreadable_requests_do_not_starve_a_readable_one(url: str) -> None:
    ids = insert_records(url, "mx1", 4)
    mx2 = _store(url, "mx2")
    good = _record(mx2, ids[3])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE quarantine_records SET meta = 'x', state = 'release_requested', "
                     "state_time = 1, request = 'x' WHERE id = ANY(%s)", (ids[:3],))
    mx2.request_release(good, _release(good))
    mx1 = _store(url, "mx1")
    # the damaged ones are failed and out of the way; the good one comes in the same call
    (found,) = [r for r, _ in mx1.requested_here(limit=2)]
    assert found.id == good.id
    assert count(url, "SELECT count(*) FROM quarantine_events WHERE action = "
                      "'release_failed'") == 3


def test_a_deleted_record_replayed_from_a_spool_does_not_come_back(url: str) -> None:
    (record_id,) = insert_records(url, "mx1", 1)
    store = _store(url, "mx1")
    with psycopg.connect(url, autocommit=True) as conn:
        raw = bytes(conn.execute("SELECT message FROM quarantine_records WHERE id = %s",
                                 (record_id,)).fetchone()[0])
    record = _record(store, record_id)
    assert store.delete(record_id) is None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSERT_RECORD, record_row(record, raw))  # a writer that stopped late
    assert count(url, "SELECT count(*) FROM quarantine_records") == 0


def test_a_password_is_never_echoed_back() -> None:
    for value in ("host=db.example user=sw password=hunter2 dbname=sw",
                  "postgresql:///sw?sslpassword=hunter2",
                  "postgresql://sw:hunter2@db.example/sw",
                  "postgresql://sw@db.example/sw;password=hunter2",
                  "postgresql://sw@db.example/sw?pass%77ord=hunter2"):
        problem = database_url_problem(value)
        assert problem is not None and "hunter2" not in problem
        assert "hunter2" not in shown_url(value)
    assert shown_url("postgresql:///sw?host=/run/postgresql") == (
        "postgresql:///sw?host=/run/postgresql")


def test_two_spills_of_one_process_never_share_a_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "mx1")
    assert spool.spill([{"a": 1}]) and spool.spill([{"a": 2}])
    rows = []
    for path in spool.spilled():
        with spool.taking_rows(path) as taken:
            rows.extend(taken or [])
    assert sorted(r["a"] for r in rows) == [1, 2]


def test_a_reload_to_another_database_retires_the_old_writer(url: str, postgres: PostgresServer
                                                             ) -> None:
    other = postgres.create_database("other_after_reload")
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-writer-"))
    try:
        first = writer_for(Database(url), "mx1", Spool(base, "mx1"))
        second = writer_for(Database(other), "mx1", Spool(base, "mx1"))
        assert first is not second
        first._thread.join(30)
        assert not first._thread.is_alive() and second._thread.is_alive()
    finally:
        stop_writers(5.0)
        os.system(f"rm -rf {base}")


def test_the_agent_stops_on_sigterm_even_when_its_parent_blocked_the_signal(
    url: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from support.milterproc import REPO
    from support.shared_store import shared_config

    config = shared_config(tmp_path, url, "mx1", dns_port=53,
                           socket_spec=f"unix:{tmp_path}/s.sock")

    def blocked() -> None:  # as a child of a thread that blocks them inherits
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGTERM, signal.SIGINT))

    agent = subprocess.Popen(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", "agent", "--interval", "600",
         "--config", str(config)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=blocked)
    try:
        # ready once it has run its first round and listens
        deadline = time.monotonic() + 60
        while count(url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
                    ) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        agent.send_signal(signal.SIGTERM)
        out, err = agent.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.communicate()
        raise
    assert agent.returncode == 0, err
    assert "mx1: released 0, failed 0, removed 0" in out
