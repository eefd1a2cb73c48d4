"""Quarantine through a real Postfix: held and stored, released exactly once, deleted everywhere.

This module runs its own Postfix and spoofwatch (the session rig's configuration has no
quarantine store), with ``quarantine.directory`` set, and drives the admin's command as a
subprocess, as an admin would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from spoofwatch.message import Message
from spoofwatch.quarantine.store import Problem, QuarantineStore
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterproc import REPO
from support.postfix import Mta, send
from support.rig import mta_rig


@pytest.fixture(scope="module")
def rig(dns_server: DnsTestServer) -> Iterator[Mta]:
    with mta_rig("spoofwatch-qe2e-", dns_server.port, quarantine=True) as built:
        yield built


@pytest.fixture
def mta(rig: Mta, dns: DnsTestServer) -> Mta:
    rig.sink.clear()
    rig.postfix.clear_queue()
    store = QuarantineStore(rig.base / "quarantine")
    if store.directory.exists():
        store.purge(-1)
    seeds.publish_seed_zone(dns)
    return rig


def store_of(mta: Mta) -> QuarantineStore:
    return QuarantineStore(mta.base / "quarantine")


def quarantine(mta: Mta, *args: str) -> subprocess.CompletedProcess[str]:
    """``spoofwatch quarantine ...`` against this rig's configuration and Postfix."""
    return subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", *args,
         "--config", str(mta.base / "spoofwatch.yaml"),
         "--postfix-config", str(mta.postfix.etc)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={**os.environ, "SUDO_USER": "alice"},
    )


def send_seed(mta: Mta) -> str:
    result = send(mta.postfix.port, seeds.plain(), client_ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert result.code == 250, result
    held = mta.postfix.wait_held(1)
    assert [h["queue_id"] for h in held] == [result.queue_id]
    return result.queue_id


def held_bytes(mta: Mta, queue_id: str) -> bytes:
    """The held message's headers and body as Postfix has them (LF line ends)."""
    return subprocess.run(["postcat", "-c", str(mta.postfix.etc), "-bh", "-q", queue_id],
                          capture_output=True, check=True).stdout


def without_received_of(data: bytes, queue_id: str) -> bytes:
    """``data`` without the Received line Postfix wrote when it queued ``queue_id``.

    Milters never see that line (Postfix adds it outside the milter's view), so the stored
    copy is the held message without it.
    """
    message = Message.from_bytes(data)
    headers = tuple((n, v) for n, v in message.headers
                    if not (n.lower() == "received" and f" id {queue_id}" in v))
    assert len(headers) == len(message.headers) - 1
    return Message(headers, message.body, message.separator).as_bytes()


def the_record(mta: Mta, queue_id: str) -> tuple[str, bytes]:
    listed = quarantine(mta, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)["records"]
    assert [r["queue_id"] for r in records] == [queue_id]
    loaded = store_of(mta).read(records[0]["id"])
    assert not isinstance(loaded, Problem), loaded
    return records[0]["id"], loaded[1]


def test_a_threat_is_held_by_postfix_and_stored_exactly_as_held(mta: Mta) -> None:
    queue_id = send_seed(mta)
    record_id, raw = the_record(mta, queue_id)
    held = held_bytes(mta, queue_id).replace(b"\n", b"\r\n")
    assert raw == without_received_of(held, queue_id)
    shown = quarantine(mta, "show", record_id)
    assert shown.returncode == 0, shown.stderr
    assert f"  Postfix queue id: {queue_id}\n" in shown.stdout
    assert ("  - officialproudboys.com is listed as a domain of Proud Boys that sends no "
            "mail.\n") in shown.stdout
    assert mta.sink.messages == []


def test_release_from_the_hold_queue_delivers_once_byte_identical(mta: Mta) -> None:
    queue_id = send_seed(mta)
    record_id, raw = the_record(mta, queue_id)
    released = quarantine(mta, "release", record_id)
    assert released.returncode == 0, released.stderr
    assert released.stdout == (f"{record_id}: released from Postfix's hold queue (queue id "
                               f"{queue_id}); released by alice.\n")
    [delivered] = mta.sink.wait_for(1)
    assert without_received_of(delivered.data, queue_id) == raw
    assert (delivered.mail_from, delivered.rcpts) == (seeds.SEED_FROM,
                                                      ["voter@recipient.example"])
    assert mta.postfix.queue_json() == []  # nothing left that could be delivered again
    again = quarantine(mta, "release", record_id)
    assert again.returncode == 7
    assert "was already released by alice" in again.stderr
    assert len(mta.sink.messages) == 1
    record = store_of(mta).get(record_id)
    assert not isinstance(record, Problem)
    assert [(e.action, e.actor, e.method) for e in record.events] == [
        ("release", "alice", "hold")]


def test_release_when_postfix_no_longer_holds_it_reinjects_the_stored_copy_once(
    mta: Mta,
) -> None:
    queue_id = send_seed(mta)
    record_id, raw = the_record(mta, queue_id)
    mta.postfix.postsuper("-d", queue_id, "hold")  # Postfix's copy is gone (expired, deleted)
    released = quarantine(mta, "release", record_id)
    assert released.returncode == 0, released.stderr
    assert "stored copy re-injected to voter@recipient.example" in released.stdout
    [delivered] = mta.sink.wait_for(1)
    # Postfix's pickup adds its own Received line; the rest is the held message, our
    # release header removed by the milter, nothing re-judged or re-added.
    message = Message.from_bytes(delivered.data)
    (name, value), *_ = message.headers
    assert (name, value.split("\r\n")[0]) == (
        "Received", " by mx.test.example (Postfix, from userid 0)")
    assert Message(message.headers[1:], message.body).as_bytes() == raw
    assert b"X-Spoofwatch-Release" not in delivered.data
    assert mta.postfix.queue_json() == []
    assert store_of(mta).list().total == 1  # not quarantined a second time
    assert len(mta.sink.messages) == 1


def test_release_to_another_address_sends_a_copy_and_postfix_keeps_holding(mta: Mta) -> None:
    queue_id = send_seed(mta)
    record_id, raw = the_record(mta, queue_id)
    released = quarantine(mta, "release", record_id, "--to", "analyst@soc.example")
    assert released.returncode == 0, released.stderr
    [delivered] = mta.sink.wait_for(1)
    assert delivered.rcpts == ["analyst@soc.example"]
    assert delivered.data.endswith(raw)
    assert [h["queue_id"] for h in mta.postfix.held()] == [queue_id]


def test_delete_removes_it_from_the_store_and_from_postfix(mta: Mta) -> None:
    queue_id = send_seed(mta)
    record_id, _ = the_record(mta, queue_id)
    deleted = quarantine(mta, "delete", record_id)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == (f"{record_id}: deleted from the quarantine store and from "
                              f"Postfix's hold queue ({queue_id}).\n")
    assert mta.postfix.queue_json() == []
    assert store_of(mta).list().total == 0
    gone = quarantine(mta, "show", record_id)
    assert gone.returncode == 1
    assert gone.stderr == f"spoofwatch quarantine: no quarantined message with id {record_id}\n"
    assert mta.sink.messages == []
