"""Name servers that fail as a whole: silent (an outage) or answering NXDOMAIN for everything.

The resolver-level tests drive a real ``Resolver`` against the loopback test server; the
service-level ones send real milter traffic to ``spoofwatch run``. Timings are compared
with the configured budget or with each other, never with fixed numbers of seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofwatch.config import ConfigError, DnsConfig, load_config
from spoofwatch.dns import NXDOMAIN_CANARIES, DnsStatus, Resolver
from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.milterclient import MilterClient, MilterOutcome
from support.milterproc import POLICIES, MilterProcess, free_port, scrape_metrics, write_config
from support.scratch import scratch_dir
from support.seeds import FOREIGN_HELO, FOREIGN_IP, SEED_FROM, plain, publish_seed_zone

DOWN = "DNS appears to be down"
BACK = "DNS is back"
UNTRUSTED = "cannot be trusted"
CAMPAIGN_IP = "198.51.100.10"
NEWSLETTER = make_message("Campaign News <news@campaign.example>", "voter@recipient.example",
                          "This week on the trail", "Join us on Saturday.\n")


def _resolver(dns: DnsTestServer, **kw: float) -> Resolver:
    settings: dict[str, float] = {"timeout": 0.3, "lifetime": 0.3, "message_budget": 2.0,
                                  "outage_after": 3, "outage_budget": 0.1,
                                  "probe_interval": 60.0}
    settings.update(kw)
    return Resolver(nameservers=["127.0.0.1"], port=dns.port, cache_size=0,
                    **settings)  # type: ignore[arg-type]


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def _one_message(resolver: Resolver, names: tuple[str, ...] = ("a.example",)) -> list[DnsStatus]:
    lookup = resolver.for_message()
    return [lookup.lookup(name, "TXT").status for name in names]


# -------------------------------------------------------------- the configuration


def _dns_config(tmp_path: Path, dns_lines: str) -> Path:
    path = tmp_path / "spoofwatch.yaml"
    path.write_text(f"authserv_id: mx.example.org\npolicy: {POLICIES}/default.yaml\n"
                    f"dns:\n{dns_lines}")
    return path


def test_outage_settings_have_defaults_and_load(tmp_path: Path) -> None:
    assert load_config(_dns_config(tmp_path, "  port: 53\n")).dns == DnsConfig()
    assert (DnsConfig.outage_after, DnsConfig.outage_budget, DnsConfig.probe_interval) == (
        5, 0.5, 5.0)
    config = load_config(_dns_config(
        tmp_path, "  outage_after: 3\n  outage_budget: 1\n  probe_interval: 10\n"))
    assert (config.dns.outage_after, config.dns.outage_budget, config.dns.probe_interval) == (
        3, 1.0, 10.0)


@pytest.mark.parametrize(("lines", "problem"), [
    ("  outage_after: 0\n", ":4: dns.outage_after: must be at least 1, got 0"),
    ("  outage_budget: 0\n", ":4: dns.outage_budget: must be at least 0.05, got 0"),
    ("  message_budget: 2\n  outage_budget: 3\n",
     ":5: dns.outage_budget: must be at most message_budget (2): it is the short budget "
     "used while DNS is down"),
    ("  probe_interval: soon\n", ":4: dns.probe_interval: must be a number, got str 'soon'"),
])
def test_bad_outage_settings_name_file_line_and_key(
    tmp_path: Path, lines: str, problem: str
) -> None:
    path = _dns_config(tmp_path, lines)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}{problem}"


# ------------------------------------------------------------------ the resolver


def test_outage_is_declared_after_outage_after_failed_messages_and_logged_once(
    dns: DnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    dns.silent = True
    resolver = _resolver(dns)
    caplog.set_level(logging.INFO, logger="spoofwatch.dns")
    states = []
    for _ in range(5):
        assert _one_message(resolver) == [DnsStatus.TEMPERROR]
        states.append((resolver.up, resolver.stats.up))
    assert states == [(True, True), (True, True), (False, False), (False, False),
                      (False, False)]
    [line] = _messages(caplog, DOWN)
    assert line.startswith("DNS appears to be down: every lookup of the last 3 messages "
                           "failed (last: a.example TXT: timeout)")


def test_one_message_with_many_failed_lookups_counts_once(dns: DnsTestServer) -> None:
    dns.silent = True
    resolver = _resolver(dns, outage_after=2)
    statuses = _one_message(resolver, ("a.example", "b.example", "c.example", "d.example"))
    assert statuses == [DnsStatus.TEMPERROR] * 4
    assert resolver.up


def test_nxdomain_answers_are_answers_not_failures(dns: DnsTestServer) -> None:
    dns.nxdomain_everything = True
    resolver = _resolver(dns)
    for _ in range(6):
        assert _one_message(resolver) == [DnsStatus.NXDOMAIN]
    assert resolver.up


def test_servfail_and_refused_count_as_failures(dns: DnsTestServer) -> None:
    dns.servfail("a.example")
    dns.refuse("b.example")
    resolver = _resolver(dns, outage_after=2)
    assert _one_message(resolver, ("a.example",)) == [DnsStatus.TEMPERROR]
    assert _one_message(resolver, ("b.example",)) == [DnsStatus.TEMPERROR]
    assert not resolver.up


def test_during_an_outage_a_message_gives_up_after_the_outage_budget(
    dns: DnsTestServer,
) -> None:
    dns.silent = True
    resolver = _resolver(dns, outage_after=1, message_budget=1.0)
    names = ("a.example", "b.example", "c.example", "d.example", "e.example")

    def timed() -> tuple[float, list[str]]:
        lookup = resolver.for_message()
        started = time.monotonic()
        errors = [lookup.lookup(name, "TXT").error for name in names]
        return time.monotonic() - started, errors

    before, errors_before = timed()  # declares the outage with its first failure
    during, errors_during = timed()
    assert errors_before == ["timeout"] + [DOWN] * 4
    assert errors_during == ["timeout"] + [DOWN] * 4
    # the first message waited one lookup lifetime (0.3 s), the second the outage budget
    assert during < before / 2


def test_a_lookup_that_gets_an_answer_ends_the_outage_and_says_so_once(
    dns: DnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    dns.add("a.example", "TXT", "hello")
    dns.silent = True
    resolver = _resolver(dns)
    caplog.set_level(logging.INFO, logger="spoofwatch.dns")
    for _ in range(3):
        _one_message(resolver)
    assert not resolver.up
    dns.silent = False
    assert _one_message(resolver, ("a.example", "a.example")) == [DnsStatus.OK] * 2
    assert _one_message(resolver) == [DnsStatus.OK]
    assert resolver.up
    assert len(_messages(caplog, BACK)) == 1
    assert len(_messages(caplog, DOWN)) == 1


def test_a_probe_with_the_full_lifetime_ends_the_outage_of_a_slow_resolver(
    dns: DnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    dns.add("a.example", "TXT", "hello")
    dns.silent = True
    resolver = _resolver(dns, timeout=3.0, lifetime=3.0, outage_after=1, outage_budget=0.1,
                         probe_interval=0.2)
    caplog.set_level(logging.INFO, logger="spoofwatch.dns")
    lookup = resolver.for_message()
    lookup.lookup("a.example", "TXT")  # the silent server: the outage begins
    assert not resolver.up
    # The server answers again, but later than the outage budget: messages alone
    # cannot see it; the probe (full lifetime) does.
    dns.silent = False
    dns.udp_delay = 0.5
    assert _one_message(resolver) == [DnsStatus.TEMPERROR]
    deadline = time.monotonic() + 20
    while not resolver.up and time.monotonic() < deadline:
        resolver.for_message()  # each new message may start a probe
        time.sleep(0.05)
    assert resolver.up
    assert _messages(caplog, "DNS probe a.example TXT answered")
    assert _one_message(resolver) == [DnsStatus.OK]


def test_nxdomain_for_existing_zones_is_not_trusted_and_logged_once(
    dns: DnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    dns.nxdomain_everything = True
    resolver = _resolver(dns)
    caplog.set_level(logging.INFO, logger="spoofwatch.dns")
    verdicts = [resolver.for_message().nxdomain_trusted() for _ in range(3)]
    assert verdicts == [False, False, False]
    [line] = _messages(caplog, UNTRUSTED)
    assert line.startswith("the name servers answer NXDOMAIN for com. SOA and org. SOA, "
                           "which exist")
    assert dns.queries == [NXDOMAIN_CANARIES[0]]  # asked once, then the verdict is kept


def test_nxdomain_from_a_healthy_server_is_trusted(dns: DnsTestServer) -> None:
    resolver = _resolver(dns)
    assert resolver.nxdomain_trusted()
    assert dns.queries == list(NXDOMAIN_CANARIES)


def test_the_nxdomain_verdict_is_checked_again_after_it_expires(
    dns: DnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    dns.nxdomain_everything = True
    resolver = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=0.5, lifetime=0.5,
                        cache_size=0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="spoofwatch.dns")
    assert not resolver.nxdomain_trusted()
    dns.nxdomain_everything = False
    now[0] += 59
    assert not resolver.nxdomain_trusted()  # still the kept verdict
    now[0] += 2
    assert resolver.nxdomain_trusted()
    assert len(_messages(caplog, UNTRUSTED)) == 1
    assert len(_messages(caplog, "NXDOMAIN answers are trusted again")) == 1


# ------------------------------------------------------------------- the service


@pytest.fixture()
def workdir() -> Iterator[Path]:
    with scratch_dir("spoofwatch-dnsdown-") as path:
        yield path


BUDGET = 4.0


def _service(workdir: Path, dns_port: int, metrics_port: int) -> MilterProcess:
    spec = f"unix:{workdir}/spoofwatch.sock"
    config = write_config(workdir, dns_port=dns_port, socket_spec=spec,
                          extra=f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n")
    # One attempt per lookup (lifetime = timeout) and a budget of several lookups: without
    # outage handling every message spends the whole budget on a silent server.
    text = config.read_text().replace("  lifetime: 3.0\n", "  lifetime: 1.0\n").replace(
        "  timeout: 2.0\n", "  timeout: 1.0\n").replace(
        "  message_budget: 6.0\n",
        f"  message_budget: {BUDGET}\n  outage_after: 5\n  outage_budget: 0.25\n")
    config.write_text(text)
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    return proc


def _dns_up(port: int) -> float:
    return scrape_metrics(port)["spoofwatch_dns_up"]


def _send_seed(spec: str) -> MilterOutcome:
    with MilterClient(spec, timeout=60) as client:
        return client.send_raw(plain(), client_ip=FOREIGN_IP, helo=FOREIGN_HELO,
                               mail_from=f"<{SEED_FROM}>")


def _wave(spec: str, sessions: int) -> tuple[list[float], list[MilterOutcome]]:
    """``sessions`` concurrent sessions; each one's time from connect to final reply."""
    times: list[float] = [0.0] * sessions
    outcomes: list[MilterOutcome | None] = [None] * sessions
    errors: list[BaseException] = []
    start = threading.Barrier(sessions)

    def one(i: int) -> None:
        start.wait()
        began = time.monotonic()
        try:
            outcomes[i] = _send_seed(spec)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        times[i] = time.monotonic() - began

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return times, [o for o in outcomes if o is not None]


def _added(outcome: MilterOutcome, name: str) -> list[str]:
    out = []
    for mod in outcome.modifications:
        if mod.kind == "addheader" and mod.args[0] == name:
            out.append(str(mod.args[1]))
        if mod.kind == "insheader" and mod.args[1] == name:
            out.append(str(mod.args[2]))
    return out


def _findings(outcome: MilterOutcome) -> list[str]:
    [verdict] = _added(outcome, "X-Spoofwatch-Verdict")
    listed = verdict.split("findings=", 1)[1]
    return [] if listed == "none" else listed.split(",")


def test_silent_name_server_under_32_concurrent_sessions_costs_at_most_one_budget(
    dns: DnsTestServer, dns_server: DnsTestServer, workdir: Path
) -> None:
    publish_seed_zone(dns)
    dns.silent = True
    metrics_port = free_port()
    proc = _service(workdir, dns_server.port, metrics_port)
    try:
        first, first_outcomes = _wave(proc.socket_spec, 32)
        up_during = _dns_up(metrics_port)
        second, second_outcomes = _wave(proc.socket_spec, 32)
        dns.silent = False
        after = _send_seed(proc.socket_spec)
        proc.wait_for_log(BACK)
        up_after = _dns_up(metrics_port)
    finally:
        proc.stop()
    assert len(first_outcomes) == len(second_outcomes) == 32
    # no session waits more than one budget from its connect to its final reply ...
    assert max(first + second) < 1.5 * BUDGET, sorted(first + second)
    # ... and once the outage is known a message costs a short fail-fast, not a budget
    assert max(second) < 0.5 * BUDGET, sorted(second)
    for outcome in first_outcomes + second_outcomes:
        [ar] = _added(outcome, "Authentication-Results")
        assert "spf=temperror" in ar and "dmarc=temperror" in ar
    assert (up_during, up_after) == (0.0, 1.0)
    log = proc.log()
    assert log.count(DOWN) == 1 and log.count(BACK) == 1
    # full results again: the seed domain's SPF (-all) fails for the foreign client
    [ar] = _added(after, "Authentication-Results")
    assert "spf=fail" in ar and "temperror" not in ar


@pytest.fixture()
def service(dns_server: DnsTestServer, workdir: Path) -> Iterator[MilterProcess]:
    proc = _service(workdir, dns_server.port, free_port())
    yield proc
    proc.stop()


def _send_newsletter(proc: MilterProcess) -> MilterOutcome:
    with MilterClient(proc.socket_spec, timeout=30) as client:
        return client.send_raw(NEWSLETTER, client_ip=CAMPAIGN_IP, helo="mail.campaign.example",
                               mail_from="<news@campaign.example>")


def test_broken_resolver_answering_nxdomain_for_everything_gives_no_non_mail_domain(
    dns: DnsTestServer, service: MilterProcess
) -> None:
    dns.nxdomain_everything = True
    outcomes = [_send_newsletter(service) for _ in range(3)]
    for outcome in outcomes:
        assert "non_mail_domain" not in _findings(outcome)
    assert service.log().count(UNTRUSTED) == 1


def test_healthy_resolver_reports_a_domain_that_does_not_exist_as_non_mail_domain(
    dns: DnsTestServer, service: MilterProcess
) -> None:
    # the same message as above; here campaign.example really does not exist
    assert "non_mail_domain" in _findings(_send_newsletter(service))
    publish_seed_zone(dns)
    assert "non_mail_domain" in _findings(_send_seed(service.socket_spec))
    assert UNTRUSTED not in service.log()
