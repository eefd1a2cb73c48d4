"""What happened here: the audit's history from a generated decision log of known counts and
a quarantine store with one released record."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spoofwatch import cli
from spoofwatch.analyze import analyze
from spoofwatch.audit.history import Counts, History, OrgHistory, collect
from spoofwatch.audit.history_sources import DecisionLogFile, QuarantineReleases
from spoofwatch.config import load_config
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
