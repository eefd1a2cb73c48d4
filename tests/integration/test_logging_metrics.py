"""What the real service writes and exports: text log, JSON decision log, metrics, fail-safe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.campaign import FOREIGN_IP, FORGED, publish_campaign_zone
from support.dnsserver import DnsTestServer
from support.milterclient import MilterClient, MilterOutcome
from support.milterproc import MilterProcess, free_port, scrape_metrics, write_config
from support.scratch import scratch_dir

TRUSTED_IP = "10.99.1.2"
LOG_LINE_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ |  )")


@pytest.fixture()
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-logs-") as path:
        yield path


def _service(workdir: Path, dns_port: int, extra: str = "", milter_extra: str = "",
             env: dict[str, str] | None = None, cache_size: int = 0) -> MilterProcess:
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_port, socket_spec=spec, extra=extra)
    text = config.read_text().replace("  timeout: 30\n", f"  timeout: 30\n{milter_extra}")
    config.write_text(text.replace("cache_size: 0", f"cache_size: {cache_size}"))
    proc = MilterProcess(config, spec, workdir / "milter.log", env=env)
    proc.start()
    return proc


def _send(proc: MilterProcess, raw: bytes = FORGED, *, client_ip: str = FOREIGN_IP,
          helo: str = "bulk.sender.example", mail_from: str = "<x@campaign.example>",
          queue_id: str = "ABC123") -> MilterOutcome:
    with MilterClient(proc.socket_spec, timeout=20) as client:
        return client.send_raw(raw, client_ip=client_ip, helo=helo, mail_from=mail_from,
                               queue_id=queue_id)


def _decisions(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def test_decision_log_has_one_json_object_per_message_including_skipped_ones(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    proc = _service(workdir, dns_server.port, extra="logging:\n  json_file: decisions.jsonl\n")
    try:
        _send(proc, queue_id="Q1")
        _send(proc, client_ip=TRUSTED_IP, helo="internal.example", queue_id="Q2")
    finally:
        assert proc.stop() == 0
    first, second = _decisions(workdir / "decisions.jsonl")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first.pop("time")))
    assert isinstance(first.pop("ms"), float)
    assert set(first.pop("timings_ms")) == {"spf", "dkim", "arc", "dmarc", "detect"}
    assert first == {
        "queue_id": "Q1", "client_ip": FOREIGN_IP, "helo": "bulk.sender.example",
        "mail_from": "x@campaign.example", "from": "news@campaign.example",
        "from_name": "Campaign", "level": "spoof", "score": 6.0,
        "findings": ["dmarc_fail_reject"], "actions": ["banner", "subject_tag"],
        "policy": "default",
        "spf": "fail", "dkim": "none", "arc": "none", "dmarc": "fail",
        "rcpts": ["b@example.org"], "outcome": "accept",
    }
    assert (second["queue_id"], second["client_ip"], second["level"], second["outcome"],
            second["skipped"]) == ("Q2", TRUSTED_IP, "clean", "accept",
                                   f"trusted client {TRUSTED_IP}")


def test_hostile_envelope_and_display_name_are_escaped_in_text_and_json_logs(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    proc = _service(workdir, dns_server.port, extra="logging:\n  json_file: decisions.jsonl\n")
    helo = "helo\r\n2026-01-01 00:00:00,000 INFO spoofwatch: FAKE\x1b]0;pwn\x07"
    mail_from = "evil\r\nqueue_id=FAKE\x1b[31m\u00dcn@campaign.example"
    # the display name decodes to "Campäign ESC[2J RLO"
    raw = (b'From: "=?utf-8?q?Camp=C3=A4ign_=1B=5B2J_=E2=80=AE?=" <news@campaign.example>\r\n'
           b"To: voter@recipient.example\r\nSubject: hi\r\n\r\nbody\r\n")
    try:
        outcome = _send(proc, raw, helo=helo, mail_from=f"<{mail_from}>", queue_id="Q9")
    finally:
        proc.stop()
    assert outcome.action == "accept"
    log_bytes = (workdir / "milter.log").read_bytes()
    assert all(0x20 <= b < 0x7F or b == 0x0A for b in log_bytes)
    lines = log_bytes.decode("ascii").splitlines()
    assert all(LOG_LINE_START.match(line) for line in lines)
    [line] = [line for line in lines if "queue_id=Q9" in line]
    assert ('helo="helo\\\\r\\\\n2026-01-01 00:00:00,000 INFO spoofwatch: FAKE\\\\x1b]0;pwn'
            '\\\\x07"') in line
    assert 'mail_from="evil\\\\r\\\\nqueue_id=FAKE\\\\x1b[31m\\\\u00dcn@campaign.example"' in line
    assert 'from_name="Camp\\\\u00e4ign \\\\x1b[2J \\\\u202e"' in line
    json_bytes = (workdir / "decisions.jsonl").read_bytes()
    assert all(0x20 <= b < 0x7F or b == 0x0A for b in json_bytes)
    [record] = _decisions(workdir / "decisions.jsonl")
    assert (record["helo"], record["mail_from"], record["from_name"]) == (
        helo, mail_from, "Camp\u00e4ign \x1b[2J \u202e")


def test_metrics_endpoint_counts_messages_actions_checks_and_dns_exactly(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    port = free_port()
    proc = _service(workdir, dns_server.port, cache_size=100,
                    extra=f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{port}\n")
    try:
        outcomes = [_send(proc)]
        first = scrape_metrics(port)
        outcomes += [_send(proc) for _ in range(2)]
        outcomes += [_send(proc, client_ip=TRUSTED_IP, helo="internal.example")
                     for _ in range(2)]
        metrics = scrape_metrics(port)
    finally:
        proc.stop()
    assert [o.action for o in outcomes] == ["accept"] * 5
    expected = {
        'spoofwatch_messages_total{level="clean"}': 2.0,
        'spoofwatch_messages_total{level="suspect"}': 0.0,
        'spoofwatch_messages_total{level="spoof"}': 3.0,
        'spoofwatch_messages_total{level="threat"}': 0.0,
        'spoofwatch_actions_total{action="subject_tag"}': 3.0,
        'spoofwatch_actions_total{action="banner"}': 3.0,
        'spoofwatch_actions_total{action="accept"}': 2.0,
        'spoofwatch_messages_skipped_total{reason="trusted_client"}': 2.0,
        'spoofwatch_message_seconds_count': 5.0,
        'spoofwatch_internal_errors_total': 0.0,
        'spoofwatch_decision_log_errors_total': 0.0,
        'spoofwatch_config_reloads_total{result="success"}': 0.0,
        'spoofwatch_dns_lookups_total{outcome="timeouts"}': 0.0,
        'spoofwatch_dns_lookups_total{outcome="errors"}': 0.0,
    }
    for check in ("spf", "dkim", "arc", "dmarc", "detect"):
        expected[f'spoofwatch_check_seconds_count{{check="{check}"}}'] = 3.0
    assert {k: metrics.get(k) for k in expected} == expected
    # the first forged message asks the DNS server (and may repeat a lookup: a hit);
    # the two after it make the same lookups, all answered from the cache
    misses = first['spoofwatch_dns_lookups_total{outcome="misses"}']
    hits = first['spoofwatch_dns_lookups_total{outcome="hits"}']
    assert misses == len(dns.queries) > 0
    assert metrics['spoofwatch_dns_lookups_total{outcome="misses"}'] == misses
    assert metrics['spoofwatch_dns_lookups_total{outcome="hits"}'] == hits + 2 * (hits + misses)


def test_metrics_endpoint_is_off_by_default(
    dns_server: DnsTestServer, workdir: Path
) -> None:
    proc = _service(workdir, dns_server.port)
    try:
        log = proc.log()
    finally:
        proc.stop()
    assert "metrics endpoint" not in log


def test_decision_log_rotates_by_size_and_keeps_the_configured_backups(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    proc = _service(workdir, dns_server.port, extra=(
        "logging:\n  json_file: decisions.jsonl\n  json_max_bytes: 4096\n  json_backups: 2\n"))
    try:
        for i in range(40):
            _send(proc, queue_id=f"Q{i:02d}")
    finally:
        proc.stop()
    names = sorted(p.name for p in workdir.glob("decisions.jsonl*"))
    assert names == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]
    kept = []
    for name in ("decisions.jsonl.2", "decisions.jsonl.1", "decisions.jsonl"):
        assert (workdir / name).stat().st_size <= 4096
        kept += [r["queue_id"] for r in _decisions(workdir / name)]
    # the newest lines, in order, without a gap; the oldest were rotated away
    assert kept == [f"Q{i:02d}" for i in range(40 - len(kept), 40)]
    assert 8 < len(kept) < 40


def test_decision_log_write_failure_is_logged_once_counted_and_mail_flows(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    port = free_port()
    proc = _service(workdir, dns_server.port, extra=(
        "logging:\n  json_file: /dev/full\n"
        f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{port}\n"))
    try:
        outcomes = [_send(proc) for _ in range(3)]
        metrics = scrape_metrics(port)
    finally:
        proc.stop()
    assert [o.action for o in outcomes] == ["accept"] * 3
    assert metrics["spoofwatch_decision_log_errors_total"] == 3.0
    assert metrics['spoofwatch_messages_total{level="spoof"}'] == 3.0
    log = proc.log()
    assert log.count("cannot write the decision log /dev/full: [Errno 28] No space left on "
                     "device (mail is not affected; further failures are only counted)") == 1


def test_internal_error_takes_the_fail_safe_action_and_the_service_keeps_serving(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    # A real fault, no test hook: bodies spool to $TMPDIR from the first byte on, and the
    # spool directory disappears while the service runs.
    publish_campaign_zone(dns)
    spool = workdir / "spool"
    spool.mkdir()
    port = free_port()
    proc = _service(workdir, dns_server.port, milter_extra="  spool_threshold: 1\n",
                    env={"TMPDIR": str(spool)},
                    extra=("fail_safe: tempfail\nlogging:\n  json_file: decisions.jsonl\n"
                           f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{port}\n"))
    try:
        before = _send(proc, queue_id="Q1")
        spool.rmdir()
        during = _send(proc, queue_id="Q2")
        spool.mkdir()
        after = _send(proc, queue_id="Q3")
        metrics = scrape_metrics(port)
    finally:
        assert proc.stop() == 0
    assert [before.action, during.action, after.action] == ["accept", "tempfail", "accept"]
    assert metrics["spoofwatch_internal_errors_total"] == 1.0
    assert metrics['spoofwatch_messages_total{level="spoof"}'] == 2.0
    assert [(r["queue_id"], r["outcome"]) for r in _decisions(workdir / "decisions.jsonl")] == [
        ("Q1", "accept"), ("Q2", "fail_safe_tempfail"), ("Q3", "accept")]
    assert ("internal error (FileNotFoundError: [Errno 2] No such file or directory: "
            in proc.log())


def test_log_level_from_the_config_hides_per_message_lines(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_campaign_zone(dns)
    proc = _service(workdir, dns_server.port, extra="logging:\n  level: warning\n")
    try:
        outcome = _send(proc, queue_id="Q7")
    finally:
        proc.stop()
    assert outcome.action == "accept"
    assert "queue_id=Q7" not in proc.log()
