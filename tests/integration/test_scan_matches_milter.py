"""`spoofwatch scan` does what the milter does, for the messages the milter used to decide alone.

Before issue 11 the milter decided by itself that a message over ``max_message_size`` is
accepted unchecked (forged headers removed, ``X-Spoofwatch-Verdict: unchecked``) and
honoured release headers with a key ``scan`` never read: ``scan`` analysed both in full
and printed something else. Each test runs the real service on its socket and ``scan``
with the same configuration, and compares scan's actions with the milter's modifications.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoofwatch.release_header import add_release_header
from support import seeds
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient, Modification
from support.milterproc import MilterProcess, write_config
from support.scratch import scratch_dir

AUTHSERV = "mx.test.example"
CLIENT = {"client_ip": seeds.FOREIGN_IP, "helo": "relay.example",
          "mail_from": f"<{seeds.SEED_FROM}>"}
SCAN_FLAGS = ("--client-ip", seeds.FOREIGN_IP, "--helo", "relay.example",
              "--mail-from", seeds.SEED_FROM)
RECORD_ID = "20231114221320-0123456789"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-scan-milter-", mode=0o755) as path:
        yield path


def _milter(directory: Path, dns_port: int, milter_extra: str = "",
            quarantine_dir: Path | None = None) -> tuple[Path, MilterProcess]:
    directory.mkdir()
    spec = f"unix:{directory}/spoofwatch.sock"
    config = write_config(directory, dns_port=dns_port, socket_spec=spec,
                          quarantine_dir=quarantine_dir)
    if milter_extra:
        config.write_text(config.read_text().replace(
            "  timeout: 30\n", f"  timeout: 30\n{milter_extra}"))
    proc = MilterProcess(config, spec, directory / "milter.log")
    proc.start()
    return config, proc


@pytest.fixture(scope="module")
def small_limit(dns_server: DnsTestServer, workdir: Path) -> Iterator[tuple[Path, MilterProcess]]:
    config, proc = _milter(workdir / "small", dns_server.port, "  max_message_size: 4096\n")
    yield config, proc
    proc.stop()


@pytest.fixture(scope="module")
def with_store(dns_server: DnsTestServer, workdir: Path) -> Iterator[tuple[Path, MilterProcess]]:
    """A service with a quarantine store: it creates the release key at start."""
    config, proc = _milter(workdir / "store", dns_server.port,
                           quarantine_dir=workdir / "store" / "quarantine")
    yield config, proc
    proc.stop()


def _scan(config: Path, path: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli", "scan", "--json", "--config", str(config),
         *SCAN_FLAGS, str(path)],
        capture_output=True, text=True, timeout=60)
    return result.returncode, json.loads(result.stdout)


def _as_modifications(actions: list[dict[str, Any]]) -> tuple[Modification, ...]:
    """scan's header actions as the milter protocol carries them (libmilter's calls)."""
    out = []
    for action in actions:
        kind = action["type"]
        if kind == "AddHeader" and action["top"]:
            out.append(Modification("insheader", (0, action["name"], action["value"])))
        elif kind == "AddHeader":
            out.append(Modification("addheader", (action["name"], action["value"])))
        elif kind == "DeleteHeader":
            out.append(Modification("chgheader", (action["index"], action["name"], "")))
        elif kind == "ChangeHeader":
            out.append(Modification("chgheader", (action["index"], action["name"],
                                                  action["value"])))
        else:  # a body change or a disposition: none of the messages here gets one
            out.append(Modification(kind, ()))
    return tuple(out)


def _oversized() -> bytes:
    head = (f"From: {seeds.SEED_FROM}\r\nTo: voter@recipient.example\r\nSubject: big\r\n"
            f"Authentication-Results: {AUTHSERV}; dmarc=pass header.from=officialproudboys.com"
            "\r\nX-Spoofwatch-Verdict: clean; score=0; findings=none\r\n"
            "Authentication-Results: other.example; dkim=pass\r\n\r\n")
    return head.encode() + b"We will come after you.\r\n" + (b"y" * 78 + b"\r\n") * 100


def test_scan_of_an_oversized_message_prints_what_the_milter_does(
    dns: DnsTestServer, small_limit: tuple[Path, MilterProcess], workdir: Path
) -> None:
    seeds.publish_seed_zone(dns)
    config, proc = small_limit
    raw = _oversized()
    path = workdir / "oversized.eml"
    path.write_bytes(raw)
    status, scanned = _scan(config, path)
    with MilterClient(proc.socket_spec, timeout=20) as client:
        outcome = client.send_raw(raw, **CLIENT)
    expected = (
        Modification("chgheader", (1, "Authentication-Results", "")),
        Modification("chgheader", (1, "X-Spoofwatch-Verdict", "")),
        Modification("addheader", ("X-Spoofwatch-Verdict", "unchecked; reason=oversized")),
    )
    assert (outcome.action, outcome.modifications) == ("accept", expected)
    assert _as_modifications(scanned["actions"]) == expected
    assert (status, scanned["level"], scanned["skipped"], scanned["skip"]["reason"]) == (
        0, "clean", "larger than 4096 bytes: not checked", "oversized")


def test_scan_of_a_released_message_prints_what_the_milter_does(
    dns: DnsTestServer, with_store: tuple[Path, MilterProcess], workdir: Path
) -> None:
    seeds.publish_seed_zone(dns)
    config, proc = with_store
    key = bytes.fromhex((workdir / "store" / "quarantine" / "release.key").read_text().strip())
    raw = add_release_header(RECORD_ID, seeds.plain(), key)
    path = workdir / "released.eml"
    path.write_bytes(raw)
    status, scanned = _scan(config, path)
    with MilterClient(proc.socket_spec, timeout=20) as client:
        outcome = client.send_raw(raw, **CLIENT)
    expected = (Modification("chgheader", (1, "X-Spoofwatch-Release", "")),)
    assert (outcome.action, outcome.modifications) == ("accept", expected)
    assert _as_modifications(scanned["actions"]) == expected
    assert (status, scanned["skipped"], scanned["notes"]) == (
        0, f"released from quarantine (record {RECORD_ID})", [])


def test_scan_says_when_it_cannot_read_the_release_key(
    dns: DnsTestServer, workdir: Path
) -> None:
    seeds.publish_seed_zone(dns)
    directory = workdir / "nokey"
    directory.mkdir()
    store = directory / "quarantine"  # never created: the service would create the key
    config = write_config(directory, dns_port=dns.port,
                          socket_spec=f"unix:{directory}/spoofwatch.sock", quarantine_dir=store)
    path = directory / "released.eml"
    path.write_bytes(add_release_header(RECORD_ID, seeds.plain(), b"k" * 32))
    status, scanned = _scan(config, path)
    assert scanned["notes"] == [
        f"cannot read release key {store}/release.key: No such file or directory; a message "
        "released from the quarantine is checked here as new mail (the milter lets it pass "
        "unchanged)"]
    assert (status, scanned["level"], scanned["skip"]) == (3, "threat", None)
