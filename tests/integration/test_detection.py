"""Detection end to end: analyze() with the loopback DNS server, the bundled watchlist and
the bundled policies, loaded through config.load_config from a temporary config file.

Each test publishes the DNS a scenario needs, builds the message the way the sender would,
and checks the exact level, score and finding names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.actions import Quarantine, ReplaceBody, Reply
from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Envelope, Level
from support import seeds
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, mailing_list_forward, make_message, publish_key, rsa_key

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FORGER_IP = "203.0.113.5"
FORGER_HELO = "mail.forger.example"
DNC_IP = "198.51.100.20"
ESP_IP = "198.51.100.30"
DNSBL_ZONE = "dnsbl.test"


def _config(tmp_path: Path, policy: str = "default.yaml", extra: str = "") -> Config:
    path = tmp_path / f"spoofwatch-{policy}"
    path.write_text(
        "authserv_id: mx.test.example\n"
        f"policy: {POLICIES / policy}\n"
        f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n"
        f"{extra}",
        encoding="utf-8",
    )
    return load_config(path)


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Config]:
    tmp = tmp_path_factory.mktemp("detection")
    return {
        "default": _config(tmp, extra=f"dnsbl_zones: [{DNSBL_ZONE}]\n"),
        "strict": _config(tmp, "strict.yaml"),
        "monitor": _config(tmp, "monitor.yaml"),
    }


def _run(resolver: Resolver, config: Config, raw: bytes, *, ip: str = FORGER_IP,
         helo: str = FORGER_HELO, mail_from: str = "") -> Report:
    envelope = Envelope(client_ip=ip, helo=helo, mail_from=mail_from,
                        rcpts=("voter@recipient.example",))
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message())


def _names(report: Report) -> list[str]:
    return [f.name for f in report.verdict.findings]


def _finding(report: Report, name: str):
    [found] = [f for f in report.verdict.findings if f.name == name]
    return found


def _mail_domain(dns: DnsTestServer, domain: str, ip: str = "198.51.100.99") -> None:
    """An ordinary domain that receives and sends mail."""
    dns.add(domain, "MX", f"10 mx.{domain}")
    dns.add(domain, "TXT", f"v=spf1 ip4:{ip} -all")


def _dnc_zone(dns: DnsTestServer, dmarc: str | None = "v=DMARC1; p=none") -> None:
    _mail_domain(dns, "democrats.org", DNC_IP)
    if dmarc is not None:
        dns.add("_dmarc.democrats.org", "TXT", dmarc)
    publish_key(dns, "s1", "democrats.org", rsa_key())


def _esp_zone(dns: DnsTestServer) -> None:
    _mail_domain(dns, "ngpvan.com", ESP_IP)
    publish_key(dns, "esp", "ngpvan.com", rsa_key(name="esp"))


def _msg(from_addr: str, body: str = "Join us on Saturday.\n", subject: str = "This week",
         extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    return make_message(from_addr, "voter@recipient.example", subject, body, extra)


# --------------------------------------------------------------------- from_domain_unauthenticated


@pytest.mark.parametrize(
    ("dmarc", "names", "score"),
    [
        ("v=DMARC1; p=none", ["dmarc_fail_none", "from_domain_unauthenticated"], 7),
        (None, ["from_domain_unauthenticated"], 6),
        ("v=DMARC1; p=reject", ["dmarc_fail_reject", "from_domain_unauthenticated"], 12),
    ],
    ids=["p=none", "no-dmarc-record", "p=reject"],
)
def test_forged_mail_from_a_watched_domain_is_a_spoof_whatever_its_dmarc_policy(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config],
    dmarc: str | None, names: list[str], score: float,
) -> None:
    _dnc_zone(dns, dmarc)
    report = _run(resolver, configs["default"], _msg("DNC <info@democrats.org>"),
                  mail_from="info@democrats.org")
    assert (report.level, report.verdict.score, _names(report)) == (Level.SPOOF, score, names)
    assert _finding(report, "from_domain_unauthenticated").org == "Democratic National Committee"


def test_the_organizations_mail_signed_by_its_esp_is_not_flagged(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns)
    _esp_zone(dns)
    raw = dkim_sign(_msg("DNC <info@democrats.org>"), rsa_key(name="esp"), "esp", "ngpvan.com")
    report = _run(resolver, configs["default"], raw, ip=ESP_IP, helo="mta.ngpvan.com",
                  mail_from="bounce@ngpvan.com")
    # DMARC fails (nothing aligned) but the ESP's signature is the organization's own
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.CLEAN, 1, ["dmarc_fail_none"])


def test_the_organizations_mail_passing_dmarc_is_clean(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns, "v=DMARC1; p=reject")
    raw = dkim_sign(_msg("DNC <info@democrats.org>"), rsa_key(), "s1", "democrats.org")
    report = _run(resolver, configs["default"], raw, ip=DNC_IP, helo="mail.democrats.org",
                  mail_from="info@democrats.org")
    assert (report.level, report.verdict.score, _names(report)) == (Level.CLEAN, 0, [])


def test_a_subdomain_of_a_watched_domain_is_watched_too(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns)
    _mail_domain(dns, "news.democrats.org", DNC_IP)
    forged = _run(resolver, configs["default"], _msg("DNC News <news@news.democrats.org>"))
    assert (forged.level, forged.verdict.score, _names(forged)) == (
        Level.SPOOF, 7, ["dmarc_fail_none", "from_domain_unauthenticated"])
    signed = dkim_sign(_msg("DNC News <news@news.democrats.org>"), rsa_key(), "s1",
                       "democrats.org")
    real = _run(resolver, configs["default"], signed, ip=DNC_IP)
    assert (real.level, _names(real)) == (Level.CLEAN, [])


# --------------------------------------------------------------------- non_mail_domain


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ({"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}, "no MX and its SPF record"),
        ({"MX": ["0 ."]}, "publishes a null MX"),
        ({}, "does not exist in DNS"),
    ],
    ids=["no-mx-spf-all", "null-mx", "nxdomain"],
)
def test_a_domain_that_says_it_sends_no_mail_is_flagged(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config],
    records: dict[str, list[str]], reason: str,
) -> None:
    dns.add_records({"nomail.example": records} if records else {})
    report = _run(resolver, configs["default"], _msg("Election Office <info@nomail.example>"))
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.SUSPECT, 4, ["non_mail_domain"])
    assert reason in _finding(report, "non_mail_domain").text


def test_a_watched_domain_listed_as_sending_no_mail_is_flagged_even_with_an_mx(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _mail_domain(dns, seeds.SEED_DOMAIN)
    report = _run(resolver, configs["default"], _msg(f"Proud Boys <{seeds.SEED_FROM}>"))
    # 10 reaches the threat threshold, but without threatening content it stays a spoof
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.SPOOF, 10, ["from_domain_unauthenticated", "non_mail_domain"])


@pytest.mark.parametrize(
    "records",
    [
        {"MX": ["10 mx.normal.example"], "TXT": ["v=spf1 -all"]},
        {"TXT": ["v=spf1 ip4:198.51.100.7 -all"], "A": ["198.51.100.7"]},
        {"A": ["198.51.100.7"]},
    ],
    ids=["mx-present", "no-mx-spf-authorizes", "no-mx-no-spf"],
)
def test_a_domain_that_can_send_mail_is_not_flagged(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config],
    records: dict[str, list[str]],
) -> None:
    dns.add_records({"normal.example": records})
    report = _run(resolver, configs["default"], _msg("Alice <alice@normal.example>"))
    assert (report.level, _names(report)) == (Level.CLEAN, [])


def test_a_dns_failure_is_not_taken_for_a_domain_without_mail(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    dns.servfail("flaky.example")
    report = _run(resolver, configs["default"], _msg("Alice <alice@flaky.example>"))
    assert "non_mail_domain" not in _names(report)
    assert report.level is Level.CLEAN


# --------------------------------------------------------------------- display_name_impersonation


@pytest.mark.parametrize(
    "name",
    ["DNC", "D.N.C.", "Democratic  National   Committee", "D\u0435mocrats", "De\u200bmocrats",
     "Demokrats", '"info@democrats.org"', "DNC Official Notice", "Official Proud Boys"],
)
def test_a_watched_name_on_someone_elses_address_is_impersonation(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config], name: str
) -> None:
    _mail_domain(dns, "mailer.example")
    report = _run(resolver, configs["default"], _msg(f"{name} <alerts@mailer.example>"))
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.SUSPECT, 4, ["display_name_impersonation"])


@pytest.mark.parametrize(
    ("from_addr", "domain"),
    [
        ("Alice via DemList <demlist@lists.example>", "lists.example"),
        ("Alice via Democrats <democrats@lists.example>", "lists.example"),
        ("Bob on behalf of Alice <alice@lists.example>", "lists.example"),
        ("Support Team via Helpdesk <help@tickets.example>", "tickets.example"),
        ("Cisa Johnson <cisa@person.example>", "person.example"),
        ("Florida Democratic Party <info@floridadems.org>", "floridadems.org"),
    ],
)
def test_relay_shapes_people_and_neighbours_are_not_impersonation(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config],
    from_addr: str, domain: str,
) -> None:
    _mail_domain(dns, domain)
    report = _run(resolver, configs["default"], _msg(from_addr))
    assert (report.level, _names(report)) == (Level.CLEAN, [])


# --------------------------------------------------------------------- lookalike_domain


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        ("d\u0435mocrats.org", "homoglyph"),
        ("democrtas.org", "transposition"),
        ("democrats.net", "tld_swap"),
        ("democrats-2026.org", "added_word"),
        ("secure-democrats.org", "added_word"),
        ("democrats.org.example.com", "subdomain_abuse"),
    ],
)
def test_a_lookalike_from_domain_is_flagged(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config], domain: str, kind: str
) -> None:
    from spoofwatch.domains import normalize_domain

    _mail_domain(dns, normalize_domain(domain))
    report = _run(resolver, configs["default"], _msg(f"Newsletter <news@{domain}>"))
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.SUSPECT, 5, ["lookalike_domain"])
    finding = _finding(report, "lookalike_domain")
    assert dict(finding.detail)["kind"] == kind
    assert dict(finding.detail)["target"] == "democrats.org"
    assert finding.text.isascii()


def test_a_lookalike_reply_to_and_envelope_sender_are_flagged_once_each(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _mail_domain(dns, "shop.example")
    raw = _msg("Shop <news@shop.example>", extra=(("Reply-To", "x@gop-2026.com"),))
    report = _run(resolver, configs["default"], raw, mail_from="bounce@rnc-vote.org")
    lookalikes = [dict(f.detail) for f in report.verdict.findings if f.name == "lookalike_domain"]
    assert [(d["where"], d["target"]) for d in lookalikes] == [
        ("Reply-To", "gop.com"), ("envelope sender", "rnc.org")]
    # one piece of evidence, counted once however many places show it
    assert (report.level, report.verdict.score) == (Level.SUSPECT, 5)


@pytest.mark.parametrize("domain", ["floridadems.org", "democrats.com", "gap.com", "gop.gov"])
def test_listed_neighbours_are_not_lookalikes(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config], domain: str
) -> None:
    _mail_domain(dns, domain)
    report = _run(resolver, configs["default"], _msg(f"News <news@{domain}>"),
                  mail_from=f"bounce@{domain}")
    assert (report.level, _names(report)) == (Level.CLEAN, [])


# --------------------------------------------------------------------- reply_to_diversion


def test_forged_mail_of_a_watched_domain_diverting_replies_is_flagged(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns, None)
    raw = _msg("DNC <info@democrats.org>", extra=(("Reply-To", "DNC <dnc@protonmail.example>"),))
    report = _run(resolver, configs["default"], raw)
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.SPOOF, 9, ["from_domain_unauthenticated", "reply_to_diversion"])
    assert dict(_finding(report, "reply_to_diversion").detail) == {
        "reply_to_domain": "protonmail.example"}


def test_the_organizations_own_mail_may_send_replies_anywhere(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns)
    raw = dkim_sign(_msg("DNC <info@democrats.org>", extra=(("Reply-To", "rsvp@events.example"),)),
                    rsa_key(), "s1", "democrats.org")
    report = _run(resolver, configs["default"], raw, ip=DNC_IP)
    assert (report.level, _names(report)) == (Level.CLEAN, [])


# --------------------------------------------------------------------- dnsbl_listed


def test_a_client_listed_by_a_dnsbl_zone_is_reported(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _mail_domain(dns, "normal.example")
    dns.add(f"5.113.0.203.{DNSBL_ZONE}", "A", "127.0.0.2")
    dns.add(f"6.113.0.203.{DNSBL_ZONE}", "A", "127.255.255.254")  # the list's error code
    listed = _run(resolver, configs["default"], _msg("Alice <alice@normal.example>"))
    assert (listed.level, listed.verdict.score, _names(listed)) == (
        Level.CLEAN, 2, ["dnsbl_listed"])
    assert dict(_finding(listed, "dnsbl_listed").detail) == {"zone": DNSBL_ZONE}
    error_code = _run(resolver, configs["default"], _msg("Alice <alice@normal.example>"),
                      ip="203.0.113.6")
    assert _names(error_code) == []


# --------------------------------------------------------------------- threat_content


@pytest.mark.parametrize("variant", sorted(seeds.VARIANTS))
def test_the_seed_and_every_variant_are_threats_and_quarantined(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config], variant: str
) -> None:
    seeds.publish_seed_zone(dns)
    report = _run(resolver, configs["default"], seeds.VARIANTS[variant](), ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 16, ["from_domain_unauthenticated", "non_mail_domain", "threat_content"])
    assert [a for a in report.actions if isinstance(a, Quarantine)] != []
    assert not [a for a in report.actions if isinstance(a, ReplaceBody | Reply)]


def _news_zone(dns: DnsTestServer) -> None:
    _mail_domain(dns, "news.example", "198.51.100.40")
    dns.add("_dmarc.news.example", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "n1", "news.example", rsa_key(name="news"))


NEWS_REPORT = (
    "Voters in Florida received emails that said: \"" + seeds.THREAT_EN.strip() + "\" "
    "Officials say the messages were forged.\n"
)


def test_a_signed_news_report_quoting_the_threat_is_clean(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _news_zone(dns)
    raw = dkim_sign(_msg("The Daily News <desk@news.example>", NEWS_REPORT, "Threats to voters"),
                    rsa_key(name="news"), "n1", "news.example")
    report = _run(resolver, configs["default"], raw, ip="198.51.100.40")
    # A report that quotes a threat is read as a report (issue 12): the quoted words are not
    # the sender's, so there is no threat_content at all (before: one, with weight 0).
    assert (report.level, report.verdict.score, _names(report)) == (Level.CLEAN, 0, [])


def test_an_authenticated_campaign_newsletter_is_clean(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns, "v=DMARC1; p=reject")
    body = "Vote on November 3. Find your polling place at iwillvote.com.\n"
    raw = dkim_sign(_msg("Democrats <info@democrats.org>", body), rsa_key(), "s1",
                    "democrats.org")
    report = _run(resolver, configs["default"], raw, ip=DNC_IP)
    assert (report.level, report.verdict.score, _names(report)) == (Level.CLEAN, 0, [])


def test_a_list_forwarding_a_p_none_newsletter_with_broken_dkim_stays_clean(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _mail_domain(dns, "newsletter.example", "198.51.100.50")
    dns.add("_dmarc.newsletter.example", "TXT", "v=DMARC1; p=none")
    publish_key(dns, "n1", "newsletter.example", rsa_key(name="newsletter"))
    _mail_domain(dns, "lists.example", "198.51.100.60")
    publish_key(dns, "arc", "lists.example", rsa_key(name="list"))
    signed = dkim_sign(_msg("Weekly Brief <brief@newsletter.example>", NEWS_REPORT, "Brief"),
                       rsa_key(name="newsletter"), "n1", "newsletter.example")
    forwarded = mailing_list_forward(
        signed, rsa_key(name="list"), "arc", "lists.example", authserv_id="lists.example",
        results="dkim=pass header.d=newsletter.example; dmarc=pass header.from=newsletter.example")
    report = _run(resolver, configs["default"], forwarded, ip="198.51.100.60",
                  helo="lists.example", mail_from="bounces@lists.example")
    # the quoted threat is read as a report: no threat_content (issue 12)
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.CLEAN, 1, ["dmarc_fail_none"])
    assert not [a for a in report.actions if isinstance(a, ReplaceBody | Quarantine)]


def test_the_strict_policy_rejects_a_spoof_of_a_watched_organization(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _dnc_zone(dns, None)
    report = _run(resolver, configs["strict"], _msg("DNC <info@democrats.org>"))
    assert report.level is Level.SPOOF
    [reply] = [a for a in report.actions if isinstance(a, Reply)]
    assert (reply.kind, reply.code, reply.xcode) == ("reject", "550", "5.7.1")


def test_the_monitor_policy_only_adds_headers_and_reports_what_it_would_have_done(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    seeds.publish_seed_zone(dns)
    report = _run(resolver, configs["monitor"], seeds.plain(), ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert report.level is Level.THREAT and report.monitor
    assert {type(a).__name__ for a in report.actions} == {"AddHeader"}
    assert [w.split(":")[0] for w in report.would_have] == ["quarantine"]


def test_a_suspect_message_gets_the_banner_and_headers_stay_ascii(
    dns: DnsTestServer, resolver: Resolver, configs: dict[str, Config]
) -> None:
    _mail_domain(dns, "mailer.example")
    raw = _msg("D\u0435mocrats <alerts@mailer.example>", "Gr\u00fc\u00dfe\n")
    report = _run(resolver, configs["default"], raw)
    assert report.level is Level.SUSPECT
    [banner] = [a for a in report.actions if isinstance(a, ReplaceBody)]
    assert banner.body.startswith(b"WARNING: spoofwatch could not verify")
    assert b"u0435mocrats" in banner.body  # the homoglyph is shown escaped, not hidden
    assert (banner.content_type, banner.content_transfer_encoding) == ("", "")
    headers = {a.name: a.value for a in report.actions if type(a).__name__ == "AddHeader"}
    assert headers["X-Spoofwatch-Verdict"] == (
        "suspect; score=4; findings=display_name_impersonation")
    assert headers["X-Spoofwatch-Reasons"].isascii()
