"""The quarantine digest through a real Postfix: sent once, listing the release command, and
not itself judged a threat on its way through spoofwatch.

Own rig (the session rig has no quarantine store), configured like the bundled
configuration where it matters here: ``trusted_networks`` holds 127.0.0.0/8, which is
where Postfix's non-SMTP path (sendmail, pickup) says local mail comes from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from spoofwatch.quarantine.store import QuarantineStore
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterproc import REPO
from support.postfix import Mta, send
from support.rig import mta_rig

ADMIN = "admin@recipient.example"
DIGEST_FROM = "spoofwatch@mx.test.example"


@pytest.fixture(scope="module")
def rig(dns_server: DnsTestServer) -> Iterator[Mta]:
    with mta_rig("spoofwatch-qdigest-", dns_server.port, quarantine=True,
                 trusted_networks=("127.0.0.0/8", "::1/128")) as built:
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


def quarantine(mta: Mta, *args: str, postfix_config: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", *args,
         "--config", str(mta.base / "spoofwatch.yaml"),
         "--postfix-config", postfix_config or str(mta.postfix.etc)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )


def digest(mta: Mta, postfix_config: str = "") -> subprocess.CompletedProcess[str]:
    return quarantine(mta, "digest", "--send", "--to", ADMIN, "--from", DIGEST_FROM, "--json",
                      postfix_config=postfix_config)


def held_seed(mta: Mta) -> str:
    """Send the seed threat; Postfix holds it and spoofwatch stores it. Its record id."""
    result = send(mta.postfix.port, seeds.plain(), client_ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert result.code == 250, result
    assert [h["queue_id"] for h in mta.postfix.wait_held(1)] == [result.queue_id]
    [record] = QuarantineStore(mta.base / "quarantine").list().records
    return record.id


def milter_line(mta: Mta, queue_id: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in (mta.base / "milter.log").read_text(errors="replace").splitlines():
            if f"queue_id={queue_id} " in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line for queue id {queue_id}")


def test_digest_is_sent_once_with_the_release_command_and_passes_spoofwatch_unheld(
    mta: Mta,
) -> None:
    record_id = held_seed(mta)
    sent = digest(mta)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"sent": True, "to": ADMIN, "total": 1,
                                       "ids": [record_id]}
    [mail] = mta.sink.wait_for(1)
    assert (mail.mail_from, mail.rcpts) == (DIGEST_FROM, [ADMIN])
    parsed = mail.email()
    assert parsed["Subject"].startswith("[spoofwatch] 1 new quarantined message on ")
    payload = parsed.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode("ascii").replace("\r\n", "\n")
    config, etc = mta.base / "spoofwatch.yaml", mta.postfix.etc
    assert f"[1] {record_id}\n" in text
    assert f"    Subject:       {seeds.SUBJECT}\n" in text
    assert (f"    Release:       spoofwatch quarantine release {record_id} --config {config} "
            f"--postfix-config {etc}\n") in text
    assert f"    Show:          spoofwatch quarantine show {record_id} --config {config}\n" \
        in text
    # Through spoofwatch as local mail from 127.0.0.1: skipped, so neither held nor tagged.
    assert parsed["X-Spoofwatch-Verdict"] is None
    queue_id = re.search(r"\sid ([0-9A-Za-z]+);", str(parsed["Received"]))
    assert queue_id is not None, parsed["Received"]
    assert 'skipped="trusted client 127.0.0.1"' in milter_line(mta, queue_id.group(1))
    assert [h["queue_id"] for h in mta.postfix.queue_json()] == [
        h["queue_id"] for h in mta.postfix.held()]  # only the seed, still held

    again = digest(mta)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"sent": False, "to": ADMIN, "total": 0, "ids": []}
    assert len(mta.sink.messages) == 1
    assert len(mta.postfix.queue_json()) == 1  # nothing new was handed to Postfix


def test_a_digest_the_mta_refused_is_sent_by_the_next_run(mta: Mta) -> None:
    record_id = held_seed(mta)
    refused = digest(mta, postfix_config=str(mta.base / "no-such-postfix"))
    assert refused.returncode == 6
    assert refused.stderr.startswith("spoofwatch quarantine: sendmail ")
    assert refused.stderr.endswith("; nothing was changed\n")
    sent = digest(mta)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["ids"] == [record_id]
    [mail] = mta.sink.wait_for(1)
    assert record_id.encode() in mail.data
