"""What happened here: the audit's history from a generated decision log of known counts and
a quarantine store with one released record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from spoofwatch import cli
from spoofwatch.analyze import analyze
from spoofwatch.audit.history import Counts, History, OrgHistory, collect
from spoofwatch.audit.history_sources import DecisionLogFile, QuarantineReleases
from spoofwatch.config import load_config
from spoofwatch.logline import json_line
from spoofwatch.message import Message
from spoofwatch.quarantine.record import ReleaseEvent
from spoofwatch.quarantine.render import held_copy
from spoofwatch.quarantine.store import QuarantineStore
from spoofwatch.results import Envelope
from support import seeds
from support.audit_history import (
    DAY,
    EXPECTED_DOMAINS,
    EXPECTED_ORGS,
    NOW,
    write_decision_log,
)
from support.audit_zones import publish_example_zones
from support.dnsserver import DnsTestServer
from support.mailfactory import rsa_key
from support.milterproc import write_config
from support.staticlookup import StaticLookup

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _tuple(counts: Counts) -> tuple[int, ...]:
    return (counts.claiming, counts.authenticated, counts.suspect, counts.spoof, counts.threat,
            counts.quarantined, counts.released)


def make_store(directory: Path) -> None:
    """Two quarantined forgeries of the 2020 domain, five days ago; one released."""
    config = load_config(REPO / "policies" / "spoofwatch.yaml")
    lookup = StaticLookup({seeds.SEED_DOMAIN: {"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}})
    message = Message.from_bytes(seeds.plain())
    envelope = Envelope(client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                        mail_from=seeds.SEED_FROM, rcpts=("voter@example.org",), queue_id="Q1")
    report = analyze(envelope, message, config, lookup)
    store = QuarantineStore(directory, clock=Clock(NOW - 5 * DAY))
    store.prepare()
    raw = held_copy(message, report.actions)
    first = store.save(raw, report, "Q1")
    store.save(raw, dataclasses.replace(report, envelope=dataclasses.replace(
        envelope, queue_id="Q2")), "Q2")
    assert first is not None
    with store.recording(first, ReleaseEvent("release", NOW - 4 * DAY, "admin", "hold")):
        pass


def _org(history: History, name: str) -> OrgHistory:
    found = history.org(name)
    assert found is not None
    return found


@pytest.fixture
def history(tmp_path: Path) -> History:
    log = tmp_path / "decisions.jsonl"
    write_decision_log(log)
    make_store(tmp_path / "quarantine")
    config = load_config(REPO / "policies" / "spoofwatch.yaml")
    sources = [DecisionLogFile(log), QuarantineReleases(tmp_path / "quarantine")]
    return collect(sources, config.detection.watchlist, config.detection.matcher,
                   NOW - 30 * DAY, NOW)


@pytest.mark.parametrize("domain", sorted(EXPECTED_DOMAINS))
def test_counts_per_domain(history: History, domain: str) -> None:
    assert _tuple(history.domain(domain)) == EXPECTED_DOMAINS[domain]


@pytest.mark.parametrize("org", sorted(EXPECTED_ORGS))
def test_counts_per_organization(history: History, org: str) -> None:
    assert _tuple(_org(history, org).counts) == EXPECTED_ORGS[org]


def test_messages_in_the_period_are_counted_and_unreadable_lines_reported(
        history: History) -> None:
    assert history.messages == 20  # the old message and the two unreadable lines left out
    assert history.problems[0].endswith("decisions.jsonl: 2 lines without a verdict skipped")


def test_top_sending_networks_of_the_forgeries(history: History) -> None:
    dnc = _org(history, "Democratic National Committee")
    assert dnc.networks == (("203.0.113.0/24", 5), ("198.51.100.0/24", 1))


def test_lookalikes_with_first_and_last_date(history: History) -> None:
    dnc = _org(history, "Democratic National Committee")
    assert [dataclasses.astuple(s) for s in dnc.lookalikes] == [
        ("dernocrats.org", "democrats.org", "homoglyph", 2, "2024-10-05", "2024-10-25")]


def test_forgeries_by_day(history: History) -> None:
    proud = _org(history, "Proud Boys")
    assert proud.forgeries_by_day == (("2024-10-20", 2), ("2024-10-21", 2))


def test_signing_domains_seen_on_authenticated_mail(history: History) -> None:
    dnc = _org(history, "Democratic National Committee")
    assert dnc.signing_seen == (("democrats.org", ("democrats.org", "ngpvan.com")),)


def test_spoofable_and_being_spoofed_is_the_alert_and_exit_status_1(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    publish_example_zones(dns, rsa_key())
    log = tmp_path / "decisions.jsonl"
    write_decision_log(log)
    config = write_config(tmp_path, dns_port=dns.port, socket_spec=f"unix:{tmp_path}/s.sock")
    status = cli.main(["audit", "--config", str(config), "--decision-log", str(log),
                       "--since", "2024-10-01", "--until", "2024-10-31",
                       "--domain", "officialproudboys.com",
                       "--domain", "democrats.org"])
    out = capsys.readouterr().out
    assert status == 1
    assert "SPOOFABLE AND BEING SPOOFED:\n  officialproudboys.com (Proud Boys): 4 forgeries; " \
           "the watchlist says it sends no mail (sends_mail: false)" in out
    assert "democrats.org (Democratic" not in out.split("SPOOFABLE AND BEING SPOOFED:")[1] \
        .split("\n\n")[0]


# --- the review's cases -----------------------------------------------------------------------

def _line(sender: str, level: str = "spoof", when: str = "2024-10-20T12:00:00.000Z",
          **fields: Any) -> str:
    return json_line({"time": when, "client_ip": "203.0.113.5", "from": sender, "level": level,
                      "findings": [], "actions": ["accept"], "dmarc": "fail", "dkim": "none",
                      **fields})


def _audit_log(dns: DnsTestServer, tmp_path: Path, dmarc: str, lines: list[str],
               *args: str) -> int:
    dns.add_records({"democrats.org": {"MX": ["10 mx.democrats.org"], "TXT": ["v=spf1 -all"]},
                     "_dmarc.democrats.org": {"TXT": [dmarc]}})
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(line + "\n" for line in lines))
    config = write_config(tmp_path, dns_port=dns.port, socket_spec=f"unix:{tmp_path}/s.sock")
    return cli.main(["audit", "--config", str(config), "--decision-log", str(log),
                     "--domain", "democrats.org", "--since", "2024-10-01", *args])


SUBDOMAIN_FORGERIES = [_line(f"x@vote{i}.democrats.org", findings=["from_domain_unauthenticated"])
                       for i in range(3)]


def test_forgeries_from_subdomains_left_open_by_sp_raise_the_alert(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = _audit_log(dns, tmp_path, "v=DMARC1; p=reject; sp=none; np=none",
                        SUBDOMAIN_FORGERIES, "--until", "2024-10-31")
    out = capsys.readouterr().out
    assert status == 1
    assert ("SPOOFABLE AND BEING SPOOFED:\n  democrats.org (Democratic National Committee): 3 "
            "forgeries; 3 from its subdomains: DMARC sp=none at _dmarc.democrats.org: receivers "
            "accept unauthenticated mail claiming its subdomains\n") in out


def test_forgeries_from_subdomains_that_sp_protects_raise_no_alert(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = _audit_log(dns, tmp_path, "v=DMARC1; p=reject", SUBDOMAIN_FORGERIES,
                        "--until", "2024-10-31", "--json")
    data = json.loads(capsys.readouterr().out)
    item = data["organizations"][0]["domains"][0]
    assert status == 0
    assert (item["rating"], item["alert"], item["subdomains"]["protection"]) == (
        "enforced", False, "enforced")
    assert (item["history"]["forgeries"], item["history"]["subdomain_forgeries"]) == (3, 3)


def test_a_line_of_deeply_nested_brackets_is_skipped_as_unreadable(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text("[" * 100_000 + "]" * 100_000 + "\n" + _line("a@democrats.org") + "\n")
    source = DecisionLogFile(log)
    assert [d.from_domain for d in source.decisions(0.0)] == ["democrats.org"]
    assert source.problems() == (f"{log}: 1 lines without a verdict skipped",)


def test_the_history_period_is_bounded(dns: DnsTestServer, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    dns.add_records({"democrats.org": {"MX": ["10 mx.democrats.org"]}})
    log = tmp_path / "decisions.jsonl"
    log.write_text(_line("a@democrats.org") + "\n")
    config = write_config(tmp_path, dns_port=dns.port, socket_spec=f"unix:{tmp_path}/s.sock")
    page = tmp_path / "r.html"
    status = cli.main(["audit", "--config", str(config), "--decision-log", str(log),
                       "--domain", "democrats.org", "--since", "999999999d", "--html", str(page)])
    assert (status, capsys.readouterr().err) == (
        64, "spoofwatch audit: --since '999999999d': the history period (--since to --until) "
            "is at most 3660 days\n")
    assert not page.exists()


def test_a_bad_until_is_named_as_until(dns: DnsTestServer, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    status = _audit_log(dns, tmp_path, "v=DMARC1; p=reject", [], "--until", "bogus")
    assert (status, capsys.readouterr().err) == (
        64, "spoofwatch audit: --until 'bogus': give a duration (7d, 12h) or a UTC date "
            "(2024-10-01)\n")


def test_until_accepts_the_time_the_json_prints(dns: DnsTestServer, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    status = _audit_log(dns, tmp_path, "v=DMARC1; p=reject", SUBDOMAIN_FORGERIES,
                        "--until", "2024-10-31T00:00:00Z", "--json")
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (data["history"]["since"], data["history"]["until"], data["history"]["messages"]) == (
        "2024-10-01T00:00:00Z", "2024-10-31T00:00:00Z", 3)
