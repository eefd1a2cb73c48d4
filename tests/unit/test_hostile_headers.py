"""Hostile From, Reply-To and display names: linear cost, stated limits, unchanged verdicts.

Costs are compared as ratios of CPU time (``time.thread_time``) between inputs 10 and 100
times larger, never against absolute times: a linear step costs about 100 times more on
100 times the input, a quadratic one 10,000 times. 250 is allowed (the machine is shared).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spoofwatch.addresses import FROM_DOMAIN_LIMIT, parse_from
from spoofwatch.config import Config
from spoofwatch.detect.impersonation import ImpersonationInput
from spoofwatch.detect.lookalike_finding import REPLY_TO_LOOKALIKE_LIMIT, lookalike_findings
from spoofwatch.detect.name_match import _match_display_name, match_display_name
from spoofwatch.detect.reply_to import reply_to_findings
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import Envelope, Finding, FromAddress, FromProblem, Level
from support import seeds
from support.analysis import analyze_seed, default_config
from support.dnsserver import DnsTestServer

ROOT = Path(__file__).resolve().parents[2]
REPRO = ROOT / "tests" / "data" / "repro" / "displayname_30KB_redos.eml"
GROWTH_LIMIT = 250  # CPU ratio allowed for 100 times the input


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return default_config(tmp_path_factory.mktemp("hostile"))


def _cpu(fn: Callable[[], Any]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def _growth(make: Callable[[int], Callable[[], Any]], small: int, large: int) -> float:
    """CPU(large) / CPU(small); the small run is averaged over enough repetitions."""
    run_small, run_large = make(small), make(large)
    run_small()  # warm-up: lazily built tables and caches
    runs, total = 0, 0.0
    while runs < 3 or (total < 0.05 and runs < 100):
        total += _cpu(run_small)
        runs += 1
    return _cpu(run_large) / (total / runs)


def _message(headers: str, body: str = "Hello.\r\n") -> Message:
    return Message.from_bytes((headers + "\r\n" + body).encode("utf-8"))


def _weight(name: str) -> float:
    return {"lookalike_domain": 5.0, "reply_to_diversion": 3.0,
            "unreadable_structure": 1.0}[name]


# --------------------------------------------------------------------------- the repro


def test_the_30kb_display_name_repro_is_still_a_threat_with_the_same_findings(
    dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    seeds.publish_seed_zone(dns)
    report = analyze_seed(resolver, config, REPRO.read_bytes())
    assert (report.level, report.verdict.score,
            [f.name for f in report.verdict.findings]) == (
        Level.THREAT, 16, ["from_domain_unauthenticated", "non_mail_domain", "threat_content"])
    assert isinstance(report.sender, FromAddress)
    assert len(report.sender.display_name) == 30_000


# --------------------------------------------------------------------------- display names


@pytest.mark.parametrize("unit", [
    "a",  # the repro: one long word (quadratic domain regex)
    "a ",  # many words
    "democrats ",  # an alias repeated (quadratic filler check)
    "the ",  # filler words
    "a.",  # one long dotted name
    "x1.democrats.org ",  # many watched addresses... one match ends the search early
    "x.y ",  # many dotted names
    " ",  # a run of spaces (quadratic "\s+via")
    "  on",  # near-misses of "on behalf of"
])
def test_display_name_matching_grows_linearly(config: Config, unit: str) -> None:
    watchlist = config.detection.watchlist

    def make(size: int) -> Callable[[], Any]:
        name = unit * (size // len(unit)) + "z"
        # the computation itself: repeated calls of match_display_name answer from its cache
        return lambda: _match_display_name(name, watchlist, None)

    assert _growth(make, 1_000, 100_000) < GROWTH_LIMIT


def test_a_watched_domain_far_into_a_long_display_name_is_still_found(config: Config) -> None:
    match = match_display_name("a" * 30_000 + " democrats.org", config.detection.watchlist)
    assert match is not None
    assert (match.org.name, match.alias, match.how) == (
        "Democratic National Committee", "democrats.org", "address")


# --------------------------------------------------------------------------- From


def _from_list(count: int, last: str = "") -> Message:
    mailboxes = [f"a{i}@d{i}.example" for i in range(count)]
    if last:
        mailboxes[-1] = last
    return _message(f"From: {', '.join(mailboxes)}\r\nTo: v@recipient.example\r\n")


def test_a_from_listing_many_domains_costs_linear_time() -> None:
    def make(count: int) -> Callable[[], Any]:
        message = _from_list(count)
        return lambda: parse_from(message)

    assert _growth(make, 1_000, 100_000) < GROWTH_LIMIT


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_a_from_listing_many_domains_is_invalid_with_the_count_capped(count: int) -> None:
    result = parse_from(_from_list(count))
    assert result == FromProblem(
        "multiple_addresses",
        f"{count} mailboxes in more than {FROM_DOMAIN_LIMIT} domains: d0.example, "
        "d1.example, d2.example, d3.example, d4.example, ...")


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_one_other_domain_after_thousands_of_the_same_still_makes_from_invalid(
        count: int) -> None:
    mailboxes = ", ".join(f"a{i}@same.example" for i in range(count - 1))
    message = _message(f"From: {mailboxes}, x@democrats.org\r\n")
    assert parse_from(message) == FromProblem(
        "multiple_addresses", f"{count} mailboxes in 2 domains: same.example, democrats.org")


def test_thousands_of_mailboxes_in_one_domain_are_one_author() -> None:
    mailboxes = ", ".join(f"a{i}@Same.Example" for i in range(10_000))
    assert parse_from(_message(f"From: Jane <x@same.example>, {mailboxes}\r\n")) == FromAddress(
        "Jane", "x", "same.example")


# --------------------------------------------------------------------------- Reply-To


def _inp(config: Config, message: Message, sender: FromAddress) -> ImpersonationInput:
    det = config.detection
    return ImpersonationInput(Envelope(), message, sender, None, None, det.watchlist,
                              det.matcher)


def _reply_to_list(count: int, last: str = "") -> Message:
    mailboxes = [f"r{i}@d{i}.example" for i in range(count)]
    if last:
        mailboxes[-1] = last
    return _message(f"From: x@sender.example\r\nReply-To: {', '.join(mailboxes)}\r\n")


def test_reply_to_checks_of_many_domains_cost_linear_time(config: Config) -> None:
    sender = FromAddress("", "info", "democrats.org")

    def make(count: int) -> Callable[[], Any]:
        inp = _inp(config, _reply_to_list(count), sender)
        return lambda: (lookalike_findings(inp, _weight), reply_to_findings(inp, _weight))

    assert _growth(make, 1_000, 100_000) < GROWTH_LIMIT


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_many_reply_to_domains_are_reported_as_a_reached_limit(
        config: Config, count: int) -> None:
    # the lookalike at the end is past the limit: not checked, and the limit says so
    inp = _inp(config, _reply_to_list(count, last="r@dernocrats.org"),
               FromAddress("", "x", "sender.example"))
    assert lookalike_findings(inp, _weight) == [Finding(
        "unreadable_structure", 1.0,
        f"The Reply-To header names {count} domains; only the first "
        f"{REPLY_TO_LOOKALIKE_LIMIT} were checked for lookalike domains.",
        detail=(("limit", "reply_to_lookalike_domains"),
                ("examined", str(REPLY_TO_LOOKALIKE_LIMIT)), ("found", str(count))))]


def test_reply_to_domains_up_to_the_limit_are_checked_without_a_limit_finding(
        config: Config) -> None:
    inp = _inp(config, _reply_to_list(REPLY_TO_LOOKALIKE_LIMIT, last="r@dernocrats.org"),
               FromAddress("", "x", "sender.example"))
    assert [(f.name, dict(f.detail)["domain"]) for f in lookalike_findings(inp, _weight)] == [
        ("lookalike_domain", "dernocrats.org")]


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_a_diverting_reply_to_is_found_behind_thousands_of_the_organizations_own(
        config: Config, count: int) -> None:
    own = ", ".join(f"r{i}@democrats.org" for i in range(count - 1))
    message = _message(f"From: info@democrats.org\r\nReply-To: {own}, x@evil.example\r\n")
    findings = reply_to_findings(_inp(config, message, FromAddress("", "info", "democrats.org")),
                                 _weight)
    assert [(f.name, f.detail) for f in findings] == [
        ("reply_to_diversion", (("reply_to_domain", "evil.example"),))]
