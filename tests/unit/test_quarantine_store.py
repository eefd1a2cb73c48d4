"""The quarantine store: complete records or none, found again by every filter, safe to show."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofwatch.actions import AddHeader, ChangeHeader, DeleteHeader, Quarantine, ReplaceBody
from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.message import Message
from spoofwatch.quarantine.index import Filter
from spoofwatch.quarantine.record import decode_record
from spoofwatch.quarantine.release import load_or_create_key
from spoofwatch.quarantine.render import apply_actions, held_copy
from spoofwatch.quarantine.retention import purge_expired
from spoofwatch.quarantine.review import show_text
from spoofwatch.quarantine.store import Problem, QuarantineStore, StoreError
from spoofwatch.release_header import (
    add_release_header,
    release_actions,
    release_header_value,
    verify_release,
)
from spoofwatch.report import Report
from spoofwatch.results import Envelope, Finding, Level
from spoofwatch.verdict import Verdict
from support import seeds
from support.staticlookup import StaticLookup

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(REPO / "policies" / "spoofwatch.yaml")


def seed_envelope(**changes: object) -> Envelope:
    env = Envelope(client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                   mail_from=seeds.SEED_FROM, rcpts=("voter@recipient.example",),
                   queue_id="4XyZ1B2C3")
    return dataclasses.replace(env, **changes)  # type: ignore[arg-type]


def seed_report(config: Config, raw: bytes | None = None, **env: object) -> tuple[bytes, Report]:
    """The October 2020 seed message analysed as the milter does; the held copy and report."""
    lookup = StaticLookup({seeds.SEED_DOMAIN: {"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}})
    message = Message.from_bytes(raw or seeds.plain())
    report = analyze(seed_envelope(**env), message, config, lookup)
    return held_copy(message, report.actions), report


def variant(report: Report, *, level: Level, org: str, domain: str, rcpts: tuple[str, ...],
            queue_id: str) -> Report:
    finding = Finding("lookalike_domain", 5.0, f"{domain} looks like a domain of {org}.", org)
    sender = dataclasses.replace(report.sender, domain=domain)  # type: ignore[type-var]
    return dataclasses.replace(
        report, sender=sender, verdict=Verdict(level, 5.0, (finding,)),
        envelope=dataclasses.replace(report.envelope, rcpts=rcpts, queue_id=queue_id))


@pytest.fixture
def qdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-q-"))
    yield base / "quarantine"
    subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(qdir: Path, clock: Clock) -> QuarantineStore:
    return QuarantineStore(qdir, clock=clock)


# --- saving -------------------------------------------------------------------------------
def test_save_creates_a_private_store_and_a_0600_record_file(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    record_id = store.save(raw, report, "4XyZ1B2C3")
    assert record_id is not None
    assert store.directory.stat().st_mode & 0o777 == 0o700
    assert store.path_of(record_id).stat().st_mode & 0o777 == 0o600
    assert (store.directory / "index.sqlite").stat().st_mode & 0o777 == 0o600
    assert list(store.tmp_dir.iterdir()) == []


def test_record_keeps_envelope_headers_auth_findings_and_verdict(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config, seeds.encoded_word_subject())
    record_id = store.save(raw, report, "4XyZ1B2C3")
    assert record_id is not None
    loaded = store.read(record_id)
    assert not isinstance(loaded, Problem)
    record, stored = loaded
    assert stored == raw
    assert (record.queue_id, record.client_ip, record.helo, record.mail_from, record.rcpts) == (
        "4XyZ1B2C3", seeds.FOREIGN_IP, seeds.FOREIGN_HELO, seeds.SEED_FROM,
        ("voter@recipient.example",))
    assert record.header_from == "info@officialproudboys.com"
    assert record.subject == "Vote for Trump or else \u2014 final warning"
    assert (record.level, record.score, record.policy) == ("threat", 16.0, "default")
    assert record.orgs == ("Proud Boys",)
    assert record.sending_domain == "officialproudboys.com"
    assert [f.name for f in record.findings] == [
        "from_domain_unauthenticated", "non_mail_domain", "threat_content"]
    assert record.findings[1].text == (
        "officialproudboys.com is listed as a domain of Proud Boys that sends no mail.")
    assert [(a.method, a.result) for a in record.auth] == [
        ("spf.mailfrom", "fail"), ("spf.helo", "none"), ("dkim", "none"), ("arc", "none"),
        ("dmarc", "none")]
    assert not record.released


def test_the_stored_copy_carries_the_headers_the_milter_added(config: Config) -> None:
    raw, _ = seed_report(config)
    text = raw.decode()
    assert text.startswith("Authentication-Results: mx.example.org;\r\n\tspf=fail")
    assert "\r\nX-Spoofwatch-Verdict: threat; score=16; findings=" in text
    assert text.endswith(seeds.plain().split(b"\r\n\r\n", 1)[1].decode())


def test_save_into_a_path_that_is_a_file_returns_none_and_logs(
    qdir: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    qdir.parent.mkdir(parents=True, exist_ok=True)
    qdir.write_text("not a directory")
    raw, report = seed_report(config)
    with caplog.at_level(logging.ERROR, "spoofwatch.quarantine"):
        assert QuarantineStore(qdir).save(raw, report, "Q1") is None
    assert "could not save queue id Q1" in caplog.text
    assert "Postfix still holds the message" in caplog.text


def test_a_world_readable_directory_is_refused_with_the_fix_named(
    store: QuarantineStore, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    raw, report = seed_report(config)
    assert store.save(raw, report, "Q1") is not None
    os.chmod(store.directory, 0o755)
    with caplog.at_level(logging.ERROR, "spoofwatch.quarantine"):
        assert store.save(raw, report, "Q2") is None
    assert "mode 0755, open to every user" in caplog.text
    with pytest.raises(StoreError) as err:
        store.list()
    assert err.value.kind == "permissions"
    assert str(err.value) == (f"quarantine directory {store.directory} has mode 0755, open to "
                              f"every user; run: chmod 0700 {store.directory}")


def test_a_group_writable_directory_is_refused(store: QuarantineStore, config: Config) -> None:
    store.prepare()
    os.chmod(store.directory, 0o770)
    with pytest.raises(StoreError, match="is group-writable"):
        store.list()


# --- integrity ----------------------------------------------------------------------------
def test_a_record_with_a_flipped_byte_is_reported_damaged_and_moved_aside(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    path = store.path_of(record_id)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    result = store.read(record_id)
    assert isinstance(result, Problem)
    assert result.kind == "damaged"
    assert result.message == (
        f"record {record_id} is damaged: message digest does not match the record: the file "
        f"is damaged; the file was moved to {store.damaged_dir / path.name}")
    assert (store.damaged_dir / path.name).read_bytes() == bytes(data)
    assert store.list().total == 0


def test_a_truncated_record_is_reported_damaged(store: QuarantineStore, config: Config) -> None:
    raw, report = seed_report(config)
    record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    path = store.path_of(record_id)
    path.write_bytes(path.read_bytes()[:-100])
    result = store.read(record_id)
    assert isinstance(result, Problem) and result.kind == "damaged"
    assert f"message is {len(raw) - 100} bytes, the record says {len(raw)}" in result.message


def test_a_file_with_garbage_metadata_is_damaged_not_a_crash(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    store.path_of(record_id).write_bytes(b"SPOOFWATCH-QUARANTINE 1\n{\"id\": 3\n" + raw)
    result = store.read(record_id)
    assert isinstance(result, Problem) and result.kind == "damaged"


def test_a_nonexistent_or_malformed_id_is_not_found(store: QuarantineStore) -> None:
    store.prepare()
    missing = store.read("20231114221320-0123456789")
    assert missing == Problem("not_found", "no quarantined message with id "
                                           "20231114221320-0123456789")
    traversal = store.read("../../etc/passwd")
    assert isinstance(traversal, Problem) and traversal.kind == "not_found"
    assert store.delete("20231114221320-0123456789") == Problem(
        "not_found", "no quarantined message with id 20231114221320-0123456789")


def test_a_complete_file_without_index_row_is_indexed_by_list(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    with sqlite3.connect(store.index.path) as conn:  # as if the writer died before the row
        conn.execute("DELETE FROM records")
    page = store.list()
    assert [r.id for r in page.records] == [record_id]
    assert store.index.ids() == {record_id}


def test_an_index_row_without_file_is_dropped_by_list_and_show(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    first = store.save(raw, report, "Q1")
    second = store.save(raw, report, "Q2")
    assert first and second
    store.path_of(first).unlink()  # as if a delete died between file and row
    assert [r.id for r in store.list().records] == [second]
    store.path_of(second).unlink()
    assert isinstance(store.read(second), Problem)
    assert store.index.ids() == set()


def test_temporary_files_of_dead_writers_are_never_listed_and_are_removed(
    store: QuarantineStore, config: Config
) -> None:
    raw, report = seed_report(config)
    assert store.save(raw, report, "Q1")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = store.tmp_dir / f"20231114221320-aaaaaaaaaa.{dead.stdout.strip()}.tmp"
    stale.write_bytes(b"SPOOFWATCH-QUARANTINE 1\n{")
    live = store.tmp_dir / f"20231114221320-bbbbbbbbbb.{os.getpid()}.tmp"
    live.write_bytes(b"being written")
    assert store.list().total == 1
    assert sorted(p.name for p in store.tmp_dir.iterdir()) == [live.name]


# --- bytes that are not UTF-8 ----------------------------------------------------------------
def _raw(data: bytes) -> str:
    """Raw bytes as the service holds them (surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")


def test_a_recipient_with_a_non_utf8_byte_is_kept_listed_found_and_shown(
    store: QuarantineStore, config: Config
) -> None:
    rcpt = _raw(b"v\xf6ter@recipient.example")
    raw, report = seed_report(config, rcpts=(rcpt, "other@recipient.example"))
    record_id = store.save(raw, report, "4XyZ1B2C3")
    assert record_id is not None
    assert store.path_of(record_id).exists()
    assert store.index.ids() == {record_id}
    page = store.list()
    assert [r.id for r in page.records] == [record_id]
    assert page.records[0].rcpts == (rcpt, "other@recipient.example")  # byte for byte
    assert [r.id for r in store.list(Filter(rcpt=rcpt.upper())).records] == [record_id]
    loaded = store.read(record_id)
    assert not isinstance(loaded, Problem)
    assert loaded[1] == raw
    assert ("  RCPT TO:          v\\xf6ter@recipient.example, other@recipient.example"
            in show_text(*loaded).splitlines())


def test_non_utf8_bytes_in_every_envelope_and_header_field_are_stored_and_shown(
    store: QuarantineStore, config: Config
) -> None:
    message = (b"From: J\xe9r\xf4me <info@officialproudboys.com>\r\n"
               b"To: voter@recipient.example\r\nSubject: Vote \xff or else\r\n"
               b"Content-Type: text/plain\r\n\r\nWe will come after you.\r\n")
    raw, report = seed_report(config, message, mail_from=_raw(b"info\xfe@officialproudboys.com"),
                              helo=_raw(b"vps\xfd.example"), queue_id=_raw(b"4X\xfc"))
    record_id = store.save(raw, report, _raw(b"4X\xfc"))
    assert record_id is not None
    (record,) = store.list().records
    assert (record.queue_id, record.mail_from, record.helo) == (
        _raw(b"4X\xfc"), _raw(b"info\xfe@officialproudboys.com"), _raw(b"vps\xfd.example"))
    # (the Subject may carry a tag, re-encoded by the milter: its shape is not ours to test)
    assert record.subject.endswith(" or else")
    assert [r.id for r in store.list(Filter(levels=(record.level,))).records] == [record_id]
    lines = show_text(*store.read(record_id)).splitlines()  # type: ignore[misc]
    assert "  Postfix queue id: 4X\\xfc" in lines
    assert "  MAIL FROM:        <info\\xfe@officialproudboys.com>" in lines
    assert "  From header:      J\\xe9r\\xf4me <info@officialproudboys.com>" in lines


def test_a_saved_record_is_never_deleted_when_its_index_row_fails(
    store: QuarantineStore, config: Config, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    raw, report = seed_report(config)

    def refuse(record: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    with monkeypatch.context() as patch:
        patch.setattr(store.index, "add", refuse)
        with caplog.at_level(logging.WARNING, "spoofwatch.quarantine"):
            record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    assert store.path_of(record_id).exists()  # the store accepted it: it stays
    assert f"saved queue id Q1 as {record_id} but could not index it" in caplog.text
    assert store.index.ids() == set()
    assert [r.id for r in store.list().records] == [record_id]  # indexed by the next listing
    assert store.index.ids() == {record_id}


# --- listing, filters, paging, purge, stats -------------------------------------------------
@pytest.fixture
def populated(store: QuarantineStore, config: Config, clock: Clock) -> dict[str, str]:
    raw, report = seed_report(config)
    ids: dict[str, str] = {}
    plan = [
        ("seed_old", T0 - 40 * DAY, report),
        ("seed_new", T0 - 1 * DAY, report),
        ("dnc", T0 - 2 * DAY, variant(report, level=Level.SPOOF, org="Democratic Party",
                                      domain="mail.dernocrats.example",
                                      rcpts=("Alice@Example.org", "bob@example.org"),
                                      queue_id="Q3")),
        ("gop", T0 - 3 * DAY, variant(report, level=Level.THREAT, org="Republican Party",
                                      domain="gop-news.example", rcpts=("carol@example.org",),
                                      queue_id="Q4")),
    ]
    for name, when, rep in plan:
        clock.now = when
        record_id = store.save(raw, rep, rep.envelope.queue_id)
        assert record_id is not None
        ids[name] = record_id
    clock.now = T0
    return ids


def _ids(store: QuarantineStore, **kw: object) -> list[str]:
    return [r.id for r in store.list(Filter(**kw)).records]  # type: ignore[arg-type]


def test_list_is_newest_first(store: QuarantineStore, populated: dict[str, str]) -> None:
    p = populated
    assert _ids(store) == [p["seed_new"], p["dnc"], p["gop"], p["seed_old"]]


def test_list_filters_by_since_level_org_domain_and_recipient(
    store: QuarantineStore, populated: dict[str, str]
) -> None:
    p = populated
    assert _ids(store, since=T0 - 2.5 * DAY) == [p["seed_new"], p["dnc"]]
    assert _ids(store, levels=("spoof",)) == [p["dnc"]]
    assert _ids(store, levels=("threat",), since=T0 - 10 * DAY) == [p["seed_new"], p["gop"]]
    assert _ids(store, org="proud boys") == [p["seed_new"], p["seed_old"]]
    assert _ids(store, org="Republican Party") == [p["gop"]]
    assert _ids(store, from_domain="dernocrats.example") == [p["dnc"]]  # a subdomain matches
    assert _ids(store, from_domain="gop-news.example") == [p["gop"]]
    assert _ids(store, from_domain="news.example") == []  # no partial label match
    assert _ids(store, rcpt="alice@example.org") == [p["dnc"]]
    assert _ids(store, rcpt="voter@recipient.example") == [p["seed_new"], p["seed_old"]]


def test_list_pages_with_limit_and_offset_and_counts_all_matches(
    store: QuarantineStore, populated: dict[str, str]
) -> None:
    p = populated
    first = store.list(Filter(limit=3))
    second = store.list(Filter(limit=3, offset=3))
    assert ([r.id for r in first.records], first.total) == (
        [p["seed_new"], p["dnc"], p["gop"]], 4)
    assert ([r.id for r in second.records], second.total) == ([p["seed_old"]], 4)


def test_purge_removes_only_records_older_than_the_age(
    store: QuarantineStore, populated: dict[str, str]
) -> None:
    result = store.purge(30 * DAY)
    assert result.removed == (populated["seed_old"],)
    assert not store.path_of(populated["seed_old"]).exists()
    assert store.list().total == 3


def test_retention_run_uses_days_and_zero_keeps_everything(
    store: QuarantineStore, populated: dict[str, str]
) -> None:
    assert purge_expired(str(store.directory), 0, now=T0).removed == 0
    assert purge_expired(str(store.directory), 2, now=T0).removed == 2  # 40 and 3 days old
    assert _ids(store) == [populated["seed_new"], populated["dnc"]]
    assert purge_expired("", 30, now=T0).removed == 0


def test_stats_count_by_level_org_domain_and_day(
    store: QuarantineStore, populated: dict[str, str]
) -> None:
    stats = store.stats(since=T0 - 10 * DAY)
    assert stats.total == 3
    assert stats.by_level == (("threat", 2), ("spoof", 1))
    assert stats.by_org == (("Democratic Party", 1), ("Proud Boys", 1), ("Republican Party", 1))
    assert stats.by_domain == (("gop-news.example", 1), ("mail.dernocrats.example", 1),
                               ("officialproudboys.com", 1))
    assert stats.by_day == (("2023-11-11", 1), ("2023-11-12", 1), ("2023-11-13", 1))
    assert store.stats().total == 4


# --- crash safety ---------------------------------------------------------------------------
ZYGOTE = textwrap.dedent("""
    import os, sys, time
    from spoofwatch.report import Report
    from spoofwatch.quarantine.store import QuarantineStore
    from spoofwatch.results import Envelope, Finding, Level
    from spoofwatch.verdict import Verdict

    line = b"We will come after you. " * 3 + b"\\r\\n"
    raw = (b"From: info@officialproudboys.com\\r\\nSubject: big\\r\\n\\r\\n"
           + line * (20 * 1024 * 1024 // len(line)))
    report = Report(Envelope(client_ip="203.0.113.66", mail_from="info@officialproudboys.com",
                             rcpts=("voter@recipient.example",)), None, None, None, None,
                    None, Verdict(Level.THREAT, 16.0, (Finding("threat_content", 6.0, "x"),)),
                    (), "default")
    store = QuarantineStore(sys.argv[1])
    start = time.monotonic()
    assert store.save(raw, report, "CALIB")
    print(f"calib {time.monotonic() - start:.4f}", flush=True)
    for command in sys.stdin:
        pid = os.fork()
        if pid == 0:
            while True:
                store.save(raw, report, "KILLME")
        print(pid, flush=True)
        os.waitpid(pid, 0)  # reaped at once: a dead writer's pid must not look alive
        print("reaped", flush=True)
""")


def test_sigkill_at_random_points_of_a_20mb_save_leaves_complete_records_or_none(
    qdir: Path,
) -> None:
    rng = random.Random(20201020)
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(qdir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert zygote.stdin is not None and zygote.stdout is not None
    store = QuarantineStore(qdir)
    try:
        calib = float(zygote.stdout.readline().split()[1])
        verified: set[str] = set()
        for _ in range(20):
            zygote.stdin.write("go\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            # a kill anywhere from before the first write to after a whole save
            time.sleep(rng.uniform(0, calib * 1.5))
            os.kill(pid, signal.SIGKILL)
            assert zygote.stdout.readline().strip() == "reaped"
            page = store.list(Filter(limit=1000))
            for record in page.records:
                if record.id not in verified:
                    loaded = store.read(record.id)
                    assert not isinstance(loaded, Problem), loaded
                    assert loaded[0].size == record.size
                    verified.add(record.id)
            files = {p.name[:-4] for p in store.msg_dir.iterdir()}
            assert files == {r.id for r in page.records}
            assert list(store.tmp_dir.iterdir()) == []
            assert list(store.damaged_dir.iterdir()) == []
            store.purge(-1)  # keep the disk use bounded: delete everything seen so far
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
        zygote.stdout.close()
    assert verified, "no save ever completed: the kills all came too early"


# --- full disk ------------------------------------------------------------------------------
@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    mount = Path(tempfile.mkdtemp(prefix="spoofwatch-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


def test_a_full_disk_makes_save_return_none_with_a_clear_log_and_keeps_old_records(
    tiny_disk: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    store = QuarantineStore(tiny_disk / "q")
    raw, report = seed_report(config)
    first = store.save(raw, report, "Q1")
    assert first is not None
    big = raw + b"x" * (2 * 1024 * 1024)
    with caplog.at_level(logging.ERROR, "spoofwatch.quarantine"):
        assert store.save(big, report, "Q2") is None
    assert ("could not save queue id Q2: no space left on device (the disk is full); "
            "Postfix still holds the message") in caplog.text
    assert list(store.tmp_dir.iterdir()) == []
    assert [r.id for r in store.list().records] == [first]
    loaded = store.read(first)
    assert not isinstance(loaded, Problem) and loaded[1] == raw


def test_on_a_completely_full_disk_delete_refuses_and_nothing_is_lost(
    tiny_disk: Path, config: Config
) -> None:
    store = QuarantineStore(tiny_disk / "q")
    raw, report = seed_report(config)
    first = store.save(raw, report, "Q1")
    assert first is not None
    with open(tiny_disk / "filler", "wb") as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with pytest.raises(StoreError) as err:
        store.writable_check()
    assert err.value.kind == "disk_full", str(err.value)
    assert [r.id for r in store.list().records] == [first]  # reading still works


# --- release headers ------------------------------------------------------------------------
@pytest.fixture
def key(qdir: Path) -> bytes:
    return load_or_create_key(qdir / "release.key")


def test_the_release_key_is_created_0600_and_read_back(qdir: Path, key: bytes) -> None:
    path = qdir / "release.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(key) == 32
    assert load_or_create_key(path) == key


def _released(raw: bytes, key: bytes, record_id: str = "20231114221320-0123456789") -> Message:
    return Message.from_bytes(add_release_header(record_id, raw, key))


def test_a_release_header_verifies_for_the_content_it_was_made_for(
    config: Config, key: bytes
) -> None:
    raw, _ = seed_report(config)
    message = _released(raw, key)
    assert verify_release(message, key) == "20231114221320-0123456789"
    # the MTA's own Received line above it on re-injection does not matter
    received = Message((("Received", " by mx.test.example (Postfix, from userid 0)"),
                        *message.headers), message.body)
    assert verify_release(received, key) == "20231114221320-0123456789"


def test_a_release_header_survives_refolding_and_a_missing_final_newline(
    config: Config, key: bytes
) -> None:
    raw, _ = seed_report(config)
    message = _released(raw, key)
    refolded = tuple((n, v.replace("\r\n\t", " ")) for n, v in message.headers)
    assert verify_release(Message(refolded, message.body.rstrip(b"\r\n")), key)


@pytest.mark.parametrize("tamper", ["body", "subject", "from", "added_header", "wrong_key",
                                    "not_on_top", "twice", "empty_key"])
def test_a_release_header_does_not_verify_for_other_content_or_places(
    tamper: str, config: Config, key: bytes
) -> None:
    raw, _ = seed_report(config)
    message = _released(raw, key)
    headers, body, use_key = list(message.headers), message.body, key

    def edit(name: str, value: str) -> None:
        i = next(i for i, (n, _) in enumerate(headers) if n.lower() == name)
        headers[i] = (headers[i][0], value)

    if tamper == "body":
        body = body.replace(b"Trump", b"Biden")
    elif tamper == "subject":
        edit("subject", " Hello")
    elif tamper == "from":
        edit("from", " info@democrats.org")
    elif tamper == "added_header":
        headers.append(("Reply-To", " attacker@example.net"))
    elif tamper == "wrong_key":
        use_key = b"k" * 32
    elif tamper == "not_on_top":
        headers.insert(0, ("From", " someone@example.net"))
    elif tamper == "twice":
        headers.insert(1, headers[0])
    elif tamper == "empty_key":
        use_key = b""
    assert verify_release(Message(tuple(headers), body), use_key) is None


def test_a_garbage_release_header_is_ignored(key: bytes) -> None:
    for value in (" x", " 20231114221320-0123456789; sig=zz", "", " ;sig=" + "0" * 64):
        message = Message((("X-Spoofwatch-Release", value), ("From", " a@b.example")), b"hi\r\n")
        assert verify_release(message, key) is None


def test_release_actions_remove_only_the_release_header(config: Config, key: bytes) -> None:
    raw, _ = seed_report(config)
    message = _released(raw, key)
    actions = release_actions(message)
    assert actions == (DeleteHeader("X-Spoofwatch-Release", 1, "release verified"),)
    assert apply_actions(message, actions).as_bytes() == raw
    value = release_header_value("20231114221320-0123456789", Message.from_bytes(raw), key)
    assert message.headers[0] == ("X-Spoofwatch-Release", " " + value)


# --- the held copy --------------------------------------------------------------------------
def test_held_copy_applies_changes_in_order_with_libmilter_indexes() -> None:
    message = Message.from_bytes(
        b"Received: a\r\nX-Spoofwatch-Verdict: forged\r\nSubject: hi\r\n"
        b"X-Spoofwatch-Verdict: forged2\r\n\r\nbody\r\n")
    actions = (
        DeleteHeader("X-Spoofwatch-Verdict", 2, "arrived from outside"),
        DeleteHeader("X-Spoofwatch-Verdict", 1, "arrived from outside"),
        AddHeader("Authentication-Results", "mx; spf=fail\n\tdkim=none", top=True),
        AddHeader("X-Spoofwatch-Verdict", "threat; score=16"),
        ChangeHeader("Subject", 1, "[SPOOF?] hi"),
        ChangeHeader("Content-Type", 1, "text/plain"),
        ReplaceBody(b"new body\r\n"),
        Quarantine("held"),
    )
    assert held_copy(message, actions) == (
        b"Authentication-Results: mx; spf=fail\r\n\tdkim=none\r\nReceived: a\r\n"
        b"Subject: [SPOOF?] hi\r\nX-Spoofwatch-Verdict: threat; score=16\r\n"
        b"Content-Type: text/plain\r\n\r\nnew body\r\n")


# --- terminal safety ------------------------------------------------------------------------
def test_show_lets_no_escape_sequence_or_bidi_control_reach_the_terminal(
    store: QuarantineStore, config: Config
) -> None:
    nasty = ("Vote \x1b[2J\x1b[H\x1b]0;pwned\x07\u202egnp.exe\u2066 \x9b31m now\r"
             "\x1bP1$qm\x1b\\ \u200f")
    message = (f"From: \u202einfo@officialproudboys.com\r\nTo: voter@recipient.example\r\n"
               f"Subject: {nasty}\r\nContent-Type: text/plain; charset=utf-8\r\n"
               f"Content-Transfer-Encoding: 8bit\r\n\r\n"
               f"{nasty}\r\nWe will come after you.\r\n").encode()
    raw, report = seed_report(config, message)
    record_id = store.save(raw, report, "Q1")
    assert record_id is not None
    loaded = store.read(record_id)
    assert not isinstance(loaded, Problem)
    out = show_text(*loaded)
    for bad in ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\u2066", "\u200f"):
        assert bad not in out
    assert "Subject:          Vote [Hgnp.exe now \\ " not in out  # nothing half-stripped
    # The 8-bit CSI is shown escaped, so it does nothing and hides nothing.
    assert "Vote gnp.exe \\x9b31m now" in out
    assert decode_record(store.path_of(record_id).read_bytes())[1] == raw
