"""A quarantine store whose files belong to the wrong user: said clearly, fixed by one command.

The case from the field: the milter was once run as root (``bash scripts/run.sh``) on the
production store, so the index, the release key and the subdirectories became root's;
later the packaged service ran as its own user and failed on every save, while
``quarantine list`` as root said "No quarantined messages match.".

Tests run as root, so the unprivileged side runs in child processes as ``nobody``
(subprocess ``user=``), from a copy any user can read (``support.unprivileged``: the
checkout may lie under a private directory such as ``/root``); the store is owned by nobody
as a real store is owned by the ``spoofwatch`` user.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pwd
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spoofwatch.analyze import analyze
from spoofwatch.config import load_config
from spoofwatch.message import Message
from spoofwatch.quarantine.release import load_or_create_key
from spoofwatch.quarantine.render import held_copy
from spoofwatch.quarantine.store import Problem, QuarantineStore
from spoofwatch.report import Report
from spoofwatch.results import Envelope
from support import milterproc, seeds
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient
from support.milterproc import REPO, MilterProcess, write_config
from support.scratch import scratch_dir
from support.staticlookup import StaticLookup
from support.unprivileged import Unprivileged, readable_copy

NOBODY = pwd.getpwnam("nobody")
USER, GROUP = "nobody", "nogroup"
CHILD_TIMEOUT = 60


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[Unprivileged]:
    """spoofwatch where nobody can run it, whatever the checkout's path (see the module)."""
    with scratch_dir("spoofwatch-qperm-code-", mode=0o755) as path:
        yield readable_copy(path / "copy")


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and nobody must reach in here.
    with scratch_dir("spoofwatch-qperm-", mode=0o755) as path:
        yield path


def seed_report(queue_id: str = "4XyZ1B2C3") -> tuple[bytes, Report]:
    config = load_config(REPO / "policies" / "spoofwatch.yaml")
    lookup = StaticLookup({seeds.SEED_DOMAIN: {"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}})
    message = Message.from_bytes(seeds.plain())
    envelope = Envelope(client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                        mail_from=seeds.SEED_FROM, rcpts=("voter@recipient.example",),
                        queue_id=queue_id)
    report = analyze(envelope, message, config, lookup)
    return held_copy(message, report.actions), report


def root_made_store(directory: Path) -> str:
    """A store root created and used (the milter run as root), then the directory alone
    given to the service user (as systemd-tmpfiles' `d` line does): the field case."""
    store = QuarantineStore(directory)
    raw, report = seed_report()
    record_id = store.save(raw, report, "4XyZ1B2C3")
    assert record_id is not None
    load_or_create_key(directory / "release.key")
    os.chown(directory, NOBODY.pw_uid, NOBODY.pw_gid)
    return record_id


Quarantine = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def quarantine(unprivileged: Unprivileged) -> Quarantine:
    """``spoofwatch quarantine ARGS``, as root or (``user=``) as another user."""

    def run(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        if user is None:
            return subprocess.run([sys.executable, "-m", "spoofwatch.cli_quarantine", *args],
                                  capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                                  cwd=REPO)
        # Another user runs the readable copy: the checkout may lie where it cannot go.
        return subprocess.run(
            [*unprivileged.command("spoofwatch.cli_quarantine"), *args],
            capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=unprivileged.base,
            env=unprivileged.env, user=user, group=GROUP, extra_groups=[],
        )

    return run


def owners(directory: Path) -> set[tuple[str, int, int]]:
    found = {(".", *_ids(directory))}
    for path in directory.rglob("*"):
        found.add((str(path.relative_to(directory)), *_ids(path)))
    return found


def _ids(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid


# --- an admin's command -----------------------------------------------------------------------
def test_list_as_the_store_owner_names_the_root_owned_path_and_the_fix(
    workdir: Path, quarantine: Quarantine,
) -> None:
    store = workdir / "quarantine"
    root_made_store(store)
    result = quarantine("list", "--store", str(store), user=USER)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"spoofwatch quarantine: cannot write directory {store}/msg (owned by root, mode 0700) "
        f"(and 4 more) in quarantine store {store}: everything in the store must belong to "
        f"the owner of the store directory (nobody); fix it as root: "
        f"chown -R nobody:nogroup {store}\n")


def test_list_as_root_refuses_a_store_the_service_user_cannot_use(
    workdir: Path, quarantine: Quarantine,
) -> None:
    store = workdir / "quarantine"
    root_made_store(store)
    result = quarantine("list", "--store", str(store))
    assert result.returncode == 3  # not "No quarantined messages match."
    assert result.stdout == ""
    assert result.stderr == (
        f"spoofwatch quarantine: quarantine store {store} belongs to nobody, but "
        f"directory {store}/msg (owned by root, mode 0700), directory {store}/tmp (owned by "
        f"root, mode 0700), directory {store}/damaged (owned by root, mode 0700), "
        f"{store}/index.sqlite (owned by root, mode 0600), {store}/release.key (owned by "
        f"root, mode 0600) belong to another user, so the service (running as nobody) cannot "
        f"use them; fix: chown -R nobody:nogroup {store}\n")


def test_the_named_fix_makes_the_store_usable_by_its_owner(
    workdir: Path, quarantine: Quarantine,
) -> None:
    store = workdir / "quarantine"
    record_id = root_made_store(store)
    fix = quarantine("list", "--store", str(store)).stderr.rsplit("fix: ", 1)[1].split()
    assert fix == ["chown", "-R", "nobody:nogroup", str(store)]
    subprocess.run(fix, check=True)
    for user in (USER, None):
        listed = quarantine("list", "--store", str(store), user=user)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].startswith(record_id)
    assert {(uid, gid) for _, uid, gid in owners(store)} == {(NOBODY.pw_uid, NOBODY.pw_gid)}


def test_a_store_directory_of_root_tells_another_user_whose_it_must_be(
    workdir: Path, quarantine: Quarantine,
) -> None:
    store = workdir / "quarantine"
    store.mkdir(mode=0o700)
    result = quarantine("list", "--store", str(store), user=USER)
    assert result.returncode == 3
    # No `spoofwatch` user exists on the test machine, so the advice is the running user.
    service_user = "spoofwatch" if _user_exists("spoofwatch") else "nobody"
    group = "spoofwatch" if service_user == "spoofwatch" else "nogroup"
    assert result.stderr == (
        f"spoofwatch quarantine: no permission to use quarantine directory {store} (owned by "
        f"root, mode 0700): run this command as root; the store must belong to the user the "
        f"service runs as ({service_user}): chown -R {service_user}:{group} {store}\n")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- root writing into somebody else's store --------------------------------------------------
def test_root_writing_into_a_store_of_another_user_leaves_everything_that_users(
    workdir: Path, quarantine: Quarantine,
) -> None:
    parent = workdir / "state"
    parent.mkdir(mode=0o750)
    os.chown(parent, NOBODY.pw_uid, NOBODY.pw_gid)
    directory = parent / "quarantine"  # root creates it: it becomes nobody's too
    store = QuarantineStore(directory)
    raw, report = seed_report()
    first = store.save(raw, report, "Q1")
    second = store.save(raw, report, "Q2")
    assert first and second
    load_or_create_key(directory / "release.key")
    store.path_of(second).write_bytes(b"SPOOFWATCH-QUARANTINE 1\n{}\n")
    assert isinstance(store.read(second), Problem)  # moved to damaged/, made by root now
    assert [r.id for r in store.list().records] == [first]
    assert (store.damaged_dir / f"{second}.rec").exists()
    found = owners(directory)
    assert {name for name, _, _ in found} == {
        ".", "msg", f"msg/{first}.rec", "tmp", "damaged", f"damaged/{second}.rec",
        "index.sqlite", "release.key"}
    assert {(uid, gid) for _, uid, gid in found} == {(NOBODY.pw_uid, NOBODY.pw_gid)}
    listed = quarantine("list", "--store", str(directory), user=USER)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith(first)


# --- the service ------------------------------------------------------------------------------
def test_the_service_says_once_at_start_and_per_save_what_to_fix_and_mail_stays_held(
    workdir: Path, dns: DnsTestServer, unprivileged: Unprivileged,
) -> None:
    seeds.publish_seed_zone(dns)
    store = workdir / "quarantine"
    root_made_store(store)
    run = workdir / "run"  # the socket's directory, the service user's
    run.mkdir()
    os.chown(run, NOBODY.pw_uid, NOBODY.pw_gid)
    spec = f"unix:{run}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns.port, socket_spec=spec, quarantine_dir=store,
                          policy=unprivileged.policies / "default.yaml",
                          watchlist=unprivileged.policies / "watchlist.example.yaml")
    proc = MilterProcess(config, spec, workdir / "milter.log", env=unprivileged.env,
                         command=tuple(unprivileged.command("spoofwatch.cli")))
    as_nobody = functools.partial(subprocess.Popen, user=USER, group=GROUP, extra_groups=[])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(milterproc.subprocess, "Popen", as_nobody)
        proc.start()
    try:
        outcomes = []
        for n in range(2):
            with MilterClient(spec, timeout=20) as client:
                outcomes.append(client.send_raw(
                    seeds.plain(), client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                    mail_from=f"<{seeds.SEED_FROM}>", queue_id=f"QPERM{n}"))
        log = proc.wait_for_log("could not save queue id QPERM1")
    finally:
        proc.stop()
    for outcome in outcomes:  # the MTA was told to hold both: no mail is lost
        assert [m.kind for m in outcome.modifications].count("quarantine") == 1
    fix = f"chown -R nobody:nogroup {store}"
    start = [line for line in log.splitlines() if "cannot be used" in line]
    assert len(start) == 1
    assert start[0].endswith(
        f"quarantine store {store} cannot be used: cannot write directory {store}/msg (owned "
        f"by root, mode 0700) (and 4 more) in quarantine store {store}: everything in the store "
        f"must belong to the user the service runs as (nobody); fix it as root: {fix}; "
        "quarantined messages stay in Postfix's hold queue but are not saved here until this "
        "is fixed")
    key = [line for line in log.splitlines() if "release key" in line]
    assert len(key) == 1
    assert key[0].endswith(
        f"quarantine releases will not pass: cannot read release key {store}/release.key: "
        f"Permission denied (owned by root); it must belong to the user the service runs as "
        f"(nobody), like {store}; fix it as root: chown nobody:nogroup {store}/release.key")
    saves = [line for line in log.splitlines() if "could not save" in line]
    assert len(saves) == 2  # one line per failing save, no traceback
    for n, line in enumerate(saves):
        assert line.endswith(
            f"quarantine store {store}: could not save queue id QPERM{n}: cannot write "
            f"directory {store}/msg (owned by root, mode 0700) (and 4 more) in quarantine "
            f"store {store}: everything in the store must belong to the user the service runs "
            f"as (nobody); fix it as root: {fix}; Postfix still holds the message")
    assert "Traceback" not in log


def test_a_store_copy_saved_by_root_for_a_held_message_is_readable_by_the_service_user(
    workdir: Path, quarantine: Quarantine,
) -> None:
    """The reverse direction: after the fix, the service user reads what root saved."""
    directory = workdir / "quarantine"
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY.pw_uid, NOBODY.pw_gid)
    raw, report = seed_report()
    report = dataclasses.replace(report, envelope=dataclasses.replace(
        report.envelope, rcpts=("a@example.org",)))
    record_id = QuarantineStore(directory).save(raw, report, "Q9")
    assert record_id is not None
    shown = quarantine("show", record_id, "--store", str(directory), user=USER)
    assert shown.returncode == 0, shown.stderr
    assert "  RCPT TO:          a@example.org" in shown.stdout.splitlines()


def test_a_record_file_root_kept_for_itself_is_named_with_the_fix(
    workdir: Path, quarantine: Quarantine,
) -> None:
    directory = workdir / "quarantine"
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY.pw_uid, NOBODY.pw_gid)
    raw, report = seed_report()
    record_id = QuarantineStore(directory).save(raw, report, "Q1")
    assert record_id is not None
    record = directory / "msg" / f"{record_id}.rec"
    os.chown(record, 0, 0)  # as an older version running as root left it
    shown = quarantine("show", record_id, "--store", str(directory), user=USER)
    assert shown.returncode == 3
    assert shown.stderr == (
        f"spoofwatch quarantine: cannot read {record} (owned by root): everything in "
        f"quarantine store {directory} must belong to nobody; fix it as root: "
        f"chown -R nobody:nogroup {directory}\n")
