"""`spoofwatch scan`: what the milter would do with a message file, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import seeds
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key
from support.milterclient import MilterClient
from support.milterproc import MilterProcess, write_config
from support.scratch import scratch_dir

RECEIVED = (b"Received: from vps-4821.hosting.example (unknown [203.0.113.66])\r\n"
            b"\tby mx.test.example (Postfix) with ESMTP id 4ABC\r\n")
RETURN_PATH = b"Return-Path: <info@officialproudboys.com>\r\n"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-scan-", mode=0o755) as path:
        yield path


@pytest.fixture(scope="module")
def config(workdir: Path, dns_server: DnsTestServer) -> Path:
    return write_config(workdir, dns_port=dns_server.port,
                        socket_spec=f"unix:{workdir}/spoofwatch.sock")


def scan(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli", "scan", "--config", str(config), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, timeout=60,
    )


def _seed_file(workdir: Path) -> Path:
    path = workdir / "seed.eml"
    path.write_bytes(RECEIVED + RETURN_PATH + seeds.plain())
    return path


def test_seed_message_is_a_threat_with_exit_status_3(
    dns: DnsTestServer, config: Path, workdir: Path
) -> None:
    seeds.publish_seed_zone(dns)
    result = scan(config, str(_seed_file(workdir)))
    assert result.returncode == 3, result.stderr
    out = result.stdout
    assert out.startswith("Verdict: threat (score 16, policy default)\n")
    assert "Note: client ip '203.0.113.66' taken from the top Received header" in out
    assert "Note: helo 'vps-4821.hosting.example' taken from the top Received header" in out
    assert "Note: mail from 'info@officialproudboys.com' taken from Return-Path" in out
    assert "  non_mail_domain (weight 4): " in out
    assert ("  quarantine: spoofwatch threat (score 16): from_domain_unauthenticated, "
            "non_mail_domain, threat_content") in out
    assert "spf=fail" in out  # the foreign server is not allowed by v=spf1 -all


def test_json_output_holds_the_report(dns: DnsTestServer, config: Path, workdir: Path) -> None:
    seeds.publish_seed_zone(dns)
    result = scan(config, "--json", str(_seed_file(workdir)))
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert data["level"] == "threat"
    assert [f["name"] for f in data["verdict"]["findings"]] == [
        "from_domain_unauthenticated", "non_mail_domain", "threat_content"]
    assert data["spf"]["mailfrom"]["result"] == "fail"
    assert data["dmarc"]["result"] == "none"
    headers = {h["name"]: h["value"] for h in data["headers_added"]}
    assert headers["X-Spoofwatch-Verdict"] == (
        "threat; score=16; findings=from_domain_unauthenticated,non_mail_domain,threat_content")


def test_flags_override_the_received_header(dns: DnsTestServer, config: Path,
                                            workdir: Path) -> None:
    dns.add("campaign.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("campaign.example", "MX", "10 mx.campaign.example")
    path = workdir / "news.eml"
    path.write_bytes(RECEIVED + make_message("news@campaign.example", "v@recipient.example",
                                             "News", "Hello\n"))
    result = scan(config, "--json", "--client-ip", "198.51.100.10", "--helo",
                  "mail.campaign.example", "--mail-from", "news@campaign.example", str(path))
    data = json.loads(result.stdout)
    assert data["envelope"]["client_ip"] == "198.51.100.10"
    assert data["spf"]["mailfrom"]["result"] == "pass"
    assert data["notes"] == []
    assert result.returncode == 0


def test_scan_reads_standard_input(dns: DnsTestServer, config: Path) -> None:
    raw = make_message("someone@nowhere-at-all.example", "v@recipient.example", "Hi", "x\n")
    result = scan(config, "--client-ip", "192.0.2.1", "--helo", "h.example", "-", stdin=raw)
    assert result.returncode in (0, 1, 2)
    assert result.stdout.startswith("Verdict: ")


def test_missing_file_exits_66(config: Path, workdir: Path) -> None:
    result = scan(config, str(workdir / "absent.eml"))
    assert result.returncode == 66
    assert "cannot read" in result.stderr


def test_usage_error_exits_64(config: Path) -> None:
    result = scan(config)
    assert result.returncode == 64


def test_check_config_reports_ok_and_errors(config: Path, workdir: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "spoofwatch.cli", "check-config", "--config",
                         str(config)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0
    assert ok.stdout.startswith(f"{config}: OK (authserv-id mx.test.example, policy default")
    bad = workdir / "bad.yaml"
    bad.write_text(config.read_text().replace("fail_safe", "x") + "fail_safe: maybe\n")
    result = subprocess.run([sys.executable, "-m", "spoofwatch.cli", "check-config", "--config",
                             str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 78
    assert f"{bad}:" in result.stderr and "fail_safe: must be one of accept, tempfail" in (
        result.stderr)


def test_scan_and_milter_agree(dns: DnsTestServer, config: Path, workdir: Path) -> None:
    """The promise: scan prints exactly what the milter does."""
    dns.add("campaign.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "s1", "campaign.example", rsa_key())
    seeds.publish_seed_zone(dns)
    messages = [
        dkim_sign(make_message("news@campaign.example", "v@recipient.example", "N", "x\n"),
                  rsa_key(), "s1", "campaign.example"),
        make_message("Campaign <news@campaign.example>", "v@recipient.example", "Fake", "x\n"),
        seeds.plain(),
    ]
    milter = MilterProcess(config, f"unix:{workdir}/spoofwatch.sock", workdir / "milter.log")
    milter.start()
    try:
        for raw in messages:
            path = workdir / "m.eml"
            path.write_bytes(raw)
            result = scan(config, "--json", "--client-ip", "203.0.113.66", "--helo",
                          "relay.example", "--mail-from", "bounce@relay.example", str(path))
            scanned = {h["name"]: h["value"] for h in json.loads(result.stdout)["headers_added"]}
            with MilterClient(milter.socket_spec, timeout=20) as client:
                outcome = client.send_raw(raw, client_ip="203.0.113.66", helo="relay.example",
                                          mail_from="<bounce@relay.example>")
            added = {m.args[-2]: m.args[-1] for m in outcome.modifications
                     if m.kind in ("addheader", "insheader")}
            assert added == scanned
    finally:
        milter.stop()


def test_all_checks_shows_the_threat_reading_the_milter_leaves_out(
        dns: DnsTestServer, config: Path, workdir: Path) -> None:
    # A news report quoting the 2020 threat, from a domain that passes SPF and DMARC: the
    # sender is not in doubt, so the threat reading could not change the verdict.
    dns.add("citynews.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("citynews.example", "MX", "10 mx.citynews.example")
    dns.add("_dmarc.citynews.example", "TXT", "v=DMARC1; p=reject")
    path = workdir / "report.eml"
    path.write_bytes(make_message("desk@citynews.example", "v@recipient.example",
                                  "Voters got this email", "Voters were sent this:\n\n"
                                  + seeds.THREAT_EN + "\n"))
    flags = ["--client-ip", "198.51.100.10", "--helo", "mx.citynews.example",
             "--mail-from", "desk@citynews.example", str(path)]
    usual = scan(config, *flags)
    assert usual.returncode == 0, usual.stderr
    assert usual.stdout.startswith("Verdict: clean (score 0, policy default)\n"
                                   "Not run, as they could not change the verdict: "
                                   "threat_content (--all-checks runs them)\n")
    assert "threat_content" not in usual.stdout.split("Findings:")[1]
    every = scan(config, "--all-checks", "--json", *flags)
    assert every.returncode == 0
    data = json.loads(every.stdout)
    assert data["level"] == "clean" and data["skipped_checks"] == []
    [finding] = data["verdict"]["findings"]
    assert finding["name"] == "threat_content" and finding["weight"] == 0
    assert finding["text"].endswith("Not counted: the sender is not in doubt.")
