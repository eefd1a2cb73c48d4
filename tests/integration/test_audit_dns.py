"""``spoofwatch audit`` against the loopback DNS server: the bundled example watchlist with a
zone for each rating, a domain that does not exist, SERVFAIL, a timeout, a PSD record and
the tree walk; the command's table, JSON, suggestions and exit status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spoofwatch import cli, cli_audit
from spoofwatch.audit.report import AuditReport, DomainAudit, audit_domains, targets_of
from spoofwatch.config import Config, load_config
from spoofwatch.dns import Resolver
from support.audit_zones import EXPECTED_RATINGS, publish_example_zones
from support.dnsserver import DnsTestServer
from support.mailfactory import rsa_key
from support.milterproc import write_config


@pytest.fixture
def config_path(dns: DnsTestServer, tmp_path: Path) -> Path:
    publish_example_zones(dns, rsa_key())
    return write_config(tmp_path, dns_port=dns.port, socket_spec=f"unix:{tmp_path}/s.sock")


@pytest.fixture
def report(config_path: Path) -> AuditReport:
    config = load_config(config_path)
    return _audit(config, ())


def _audit(config: Config, domains: tuple[str, ...], timeout: float = 2.0) -> AuditReport:
    resolver = Resolver(nameservers=config.dns.nameservers, port=config.dns.port,
                        timeout=timeout, lifetime=timeout * 1.5, cache_size=1000)
    return audit_domains(targets_of(config, domains), config, resolver, None)


def _by_domain(report: AuditReport) -> dict[str, DomainAudit]:
    return {d.facts.domain: d for d in report.domains}


def test_every_example_domain_gets_its_rating(report: AuditReport) -> None:
    assert {d.facts.domain: d.assessment.rating.value for d in report.domains} == \
        EXPECTED_RATINGS


def test_domains_keep_the_watchlist_order(report: AuditReport) -> None:
    assert [d.facts.domain for d in report.domains] == list(EXPECTED_RATINGS)


def test_the_2020_domain_is_non_mail_and_still_spoofable_elsewhere(report: AuditReport) -> None:
    item = _by_domain(report)["officialproudboys.com"]
    assert (item.assessment.protection.value, item.assessment.spoofable) == ("unprotected", True)
    assert item.facts.spf.final == "-all"
    assert item.facts.mx.hosts == ()
    assert item.stance.summary == ("sends no mail: any message from it is treated as a "
                                   "forgery (spoof)")
    assert "non_mail_domain" in item.stance.findings


def test_servfail_is_unknown_never_safe(report: AuditReport) -> None:
    item = _by_domain(report)["trumpvictory.com"]
    assert item.facts.dmarc.state.value == "unknown"
    assert item.assessment.spoofable is None
    assert item.assessment.reasons[0] == (
        "the DMARC lookup failed (_dmarc.trumpvictory.com: SERVFAIL): whether receivers "
        "accept forged mail is unknown")


def test_a_psd_record_protects_a_domain_without_its_own(report: AuditReport) -> None:
    dmarc = _by_domain(report)["eac.gov"].facts.dmarc
    assert (dmarc.source, dmarc.policy_domain, dmarc.org_domain, dmarc.applied) == (
        "psd", "gov", "eac.gov", "reject")
    assert dmarc.queries == ("_dmarc.eac.gov", "_dmarc.gov")


def test_the_tree_walk_finds_the_organizational_subdomain_policy(report: AuditReport) -> None:
    dmarc = _by_domain(report)["dos.myflorida.com"].facts.dmarc
    assert (dmarc.source, dmarc.policy_domain, dmarc.tag, dmarc.applied) == (
        "organizational", "myflorida.com", "sp", "none")
    assert dmarc.queries == ("_dmarc.dos.myflorida.com", "_dmarc.myflorida.com", "_dmarc.com")


def test_a_domain_that_does_not_exist_says_so_and_np_decides(report: AuditReport) -> None:
    item = _by_domain(report)["elections.alaska.gov"]
    assert (item.facts.exists.value, item.facts.dmarc.tag, item.facts.dmarc.applied) == (
        "no", "np", "reject")
    assert "elections.alaska.gov does not exist in DNS (NXDOMAIN)" in item.assessment.reasons


def test_spf_dkim_and_the_signing_domain_key_are_found(report: AuditReport) -> None:
    facts = _by_domain(report)["democrats.org"].facts
    assert (facts.spf.dns_lookups, facts.spf.ipv4_addresses, facts.spf.final) == (
        2, 256 + 128 + 1, "~all")
    assert [(k.domain, k.selector, k.state) for k in facts.dkim] == [
        ("ngpvan.com", "default", "key")]
    assert facts.dmarc.rua == ("mailto:dmarc@democrats.org",)


def test_spf_plus_all_is_unprotected_and_spoofwatch_lets_it_pass(report: AuditReport) -> None:
    item = _by_domain(report)["fbi.gov"]
    assert item.facts.spf.authorizes_everyone
    assert (item.stance.level, item.stance.findings) == ("clean", ())


def test_a_timeout_is_unknown(dns: DnsTestServer, config_path: Path) -> None:
    dns.never_answer("_dmarc.joebiden.com")
    report = _audit(load_config(config_path), ("joebiden.com",), timeout=0.3)
    item = report.domains[0]
    assert (item.assessment.rating.value, item.facts.dmarc.error) == (
        "unknown", "_dmarc.joebiden.com: timeout")


def test_a_domain_outside_the_watchlist_can_be_audited(dns: DnsTestServer,
                                                       config_path: Path) -> None:
    dns.add("_dmarc.other.example", "TXT", "v=DMARC1; p=none")
    report = _audit(load_config(config_path), ("other.example",))
    assert [(d.facts.domain, d.facts.org, d.assessment.rating.value) for d in report.domains] \
        == [("other.example", "", "monitor-only")]


# --- the command ----------------------------------------------------------------------------

def test_the_command_prints_the_table_and_exits_2_for_an_unknown_rating(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["audit", "--config", str(config_path)])
    out = capsys.readouterr().out
    assert status == 2
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "ORGANIZATION", "DOMAIN", "RATING", "DMARC", "SPF", "MX", "DKIM", "CLAIMING", "AUTH",
        "FORGED", "QUAR", "ALERT"]
    rows = {cells[1]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[1:14])}
    assert {domain: cells[2] for domain, cells in rows.items()} == EXPECTED_RATINGS
    assert rows["gop.com"] == ["Republican National Committee", "gop.com", "unprotected",
                               "none found", "-all, 1 lookups", "yes", "none found",
                               "-", "-", "-", "-"]
    assert rows["rnc.org"][3] == "p=quarantine (t=y: none)"
    assert rows["cisa.gov"][5] == "null MX"
    assert rows["elections.alaska.gov"][3:6] == ["np=reject", "none", "NXDOMAIN"]


def test_the_command_json_has_the_schema_version_and_every_domain(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["audit", "--config", str(config_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 2
    assert data["schema_version"] == 1
    domains = {d["domain"]: d for org in data["organizations"] for d in org["domains"]}
    assert {name: d["rating"] for name, d in domains.items()} == EXPECTED_RATINGS
    assert data["summary"]["by_rating"] == {"enforced": 5, "monitor-only": 3, "unprotected": 2,
                                            "unknown": 1, "non-mail": 2}
    assert domains["trumpvictory.com"]["spoofable"] is None
    assert domains["eac.gov"]["dmarc"]["source"] == "psd"


def test_the_command_exits_0_when_every_rating_is_known(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["audit", "--config", str(config_path), "--domain", "democrats.org",
                       "--domain", "gop.com"])
    assert status == 0
    assert "SPOOFABLE" not in capsys.readouterr().out


def test_a_bad_domain_is_a_usage_error(config_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit", "--config", str(config_path), "--domain", "not a domain"]) == 64
    assert "is not a domain name" in capsys.readouterr().err


def test_suggest_prints_sends_mail_false_as_a_diff_and_leaves_the_file(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = Path(load_config(config_path).detection.watchlist.path)
    before = watchlist.read_text()
    cli.main(["audit", "--config", str(config_path), "--suggest"])
    out = capsys.readouterr().out
    assert watchlist.read_text() == before
    changed = [line for line in out.splitlines() if line[:1] in "+-"
               and not line.startswith(("+++", "---"))]
    assert changed == [
        "-      - cisa.gov", "+      - domain: cisa.gov", "+        sends_mail: false",
        "-      - elections.alaska.gov", "+      - domain: elections.alaska.gov",
        "+        sends_mail: false",
    ]


# --- SPF that lets everyone through, failed SPF lookups, includes (review items 1, 4, 7) ----

REJECT = {"TXT": ["v=DMARC1; p=reject"]}
SPF_ZONES: dict[str, dict[str, list[str]]] = {
    "inc-all.example": {"MX": ["10 mx.inc-all.example"],
                        "TXT": ["v=spf1 include:_spf.evilhost.example -all"]},
    "_spf.evilhost.example": {"TXT": ["v=spf1 +all"]},
    "redir.example": {"MX": ["10 mx.redir.example"],
                      "TXT": ["v=spf1 redirect=_spf.evilhost.example"]},
    "v6all.example": {"MX": ["10 mx.v6all.example"], "TXT": ["v=spf1 ip6:::/0 -all"]},
    "v4all.example": {"MX": ["10 mx.v4all.example"], "TXT": ["v=spf1 ip4:0.0.0.0/0 -all"]},
    "exists-all.example": {"MX": ["10 mx.exists-all.example"],
                           "TXT": ["v=spf1 exists:always.esp.example -all"]},
    "always.esp.example": {"A": ["127.0.0.2"]},
    "neginc.example": {"MX": ["10 mx.neginc.example"],
                       "TXT": ["v=spf1 -include:_spf.wide.example ~all"]},
    "_spf.wide.example": {"TXT": ["v=spf1 ip4:0.0.0.0/0 -all"]},
    "spf-fail.example": {"MX": ["10 mx.spf-fail.example"]},
    "inc-fail.example": {"MX": ["10 mx.inc-fail.example"],
                         "TXT": ["v=spf1 include:_spf.broken.example -all"]},
    "diamond.example": {"MX": ["10 mx.diamond.example"],
                        "TXT": ["v=spf1 include:a.d.example include:b.d.example -all"]},
    "a.d.example": {"TXT": ["v=spf1 include:c.d.example -all"]},
    "b.d.example": {"TXT": ["v=spf1 include:c.d.example -all"]},
    "c.d.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
}
SPF_DOMAINS = ("inc-all.example", "redir.example", "v6all.example", "v4all.example",
               "exists-all.example", "neginc.example", "spf-fail.example", "inc-fail.example",
               "diamond.example")


@pytest.fixture
def spf_zones(dns: DnsTestServer) -> DnsTestServer:
    dns.add_records(SPF_ZONES)
    for domain in SPF_DOMAINS:
        dns.add_records({f"_dmarc.{domain}": REJECT})
    dns.servfail("spf-fail.example")
    dns.servfail("_spf.broken.example")
    return dns


def test_an_spf_that_lets_everyone_through_is_never_enforced(
        config_path: Path, spf_zones: DnsTestServer) -> None:
    report = _audit(load_config(config_path), SPF_DOMAINS)
    assert {d.facts.domain: (d.assessment.rating.value, d.facts.spf.authorizes_everyone)
            for d in report.domains} == {
        "inc-all.example": ("unprotected", True),
        "redir.example": ("unprotected", True),
        "v6all.example": ("unprotected", True),
        "v4all.example": ("unprotected", True),
        "exists-all.example": ("unprotected", True),
        "neginc.example": ("enforced", False),  # -include: authorizes nobody
        "spf-fail.example": ("unknown", False),  # the SPF lookup failed
        "inc-fail.example": ("unknown", False),  # an include's lookup failed
        "diamond.example": ("enforced", False),  # two includes of one record: no loop
    }
    items = _by_domain(report)
    assert items["inc-all.example"].assessment.reasons[0] == (
        "SPF authorizes every address (include:_spf.evilhost.example): anyone passes SPF for "
        "this domain, and with it DMARC, whatever its policy")
    assert items["exists-all.example"].facts.spf.everyone == ("exists:always.esp.example",)
    diamond = items["diamond.example"].facts.spf
    assert (diamond.valid, diamond.problems, diamond.dns_lookups, diamond.ipv4_addresses) == (
        True, (), 4, 256)


def test_a_failed_spf_lookup_exits_2_not_0(config_path: Path, spf_zones: DnsTestServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["audit", "--config", str(config_path), "--domain", "inc-fail.example",
                       "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 2
    assert data["organizations"][0]["domains"][0]["rating"] == "unknown"


# --- bytes that are not UTF-8 in third parties' records (review item 3) ---------------------

def test_html_escapes_bytes_that_are_not_utf8_and_replaces_the_old_report_whole(
        dns: DnsTestServer, config_path: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    dns.add_records({
        "victim.example": {"MX": ["10 mx.victim.example"],
                           "TXT": ["v=spf1 include:_spf.esp.example -all \udcff"]},
        "_spf.esp.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 "
                                     "exists:%{i}.\udcff.esp.example -all"]},
        "_dmarc.victim.example": {"TXT": ["v=DMARC1; p=reject; x=\udcfe"]},
    })
    page = tmp_path / "report.html"
    page.write_text("<p>last week's report</p>")
    status = cli.main(["audit", "--config", str(config_path), "--domain", "victim.example",
                       "--html", str(page)])
    assert status == 0
    text = page.read_text(encoding="utf-8")  # strict: the page is valid UTF-8
    assert "exists:%{i}.\\xff.esp.example" in text
    assert "v=spf1 include:_spf.esp.example -all \\xff" in text
    assert "v=DMARC1; p=reject; x=\\xfe" in text
    assert sorted(p.name for p in tmp_path.glob("*report.html*")) == ["report.html"]
    assert "exists:%{i}.\\xff.esp.example" in capsys.readouterr().out


def test_a_report_that_cannot_be_made_exits_70_and_keeps_the_old_page(
        config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(report: AuditReport) -> str:
        return "\udcff".encode().decode()  # raises UnicodeEncodeError, as the old page did

    monkeypatch.setattr(cli_audit, "report_html", broken)
    page = tmp_path / "report.html"
    page.write_text("<p>last week's report</p>")
    status = cli.main(["audit", "--config", str(config_path), "--domain", "democrats.org",
                       "--html", str(page)])
    assert status == 70
    assert page.read_text() == "<p>last week's report</p>"
    assert capsys.readouterr().err.startswith("spoofwatch audit: the report could not be made: "
                                              "UnicodeEncodeError(")
