"""Hostile MIME structure through analyze() with the loopback DNS server and the seed zone.

A message we could not fully read must never be rated lower than one we could: the seed
threat behind structure the standard parser cannot read (the two shipped reproductions in
tests/data/repro/, and generated ones: a hundred thousand parts, ten thousand levels of
nesting) must still be `threat`, with an unreadable_structure finding that says what
could not be read; ordinary mail gets no such finding; and the cost of analysis grows at
most linearly with the hostile structure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from spoofwatch.config import Config
from spoofwatch.dns import Resolver
from spoofwatch.mime import MAX_MIME_DEPTH, MAX_MIME_PARTS
from spoofwatch.report import Report
from spoofwatch.results import Finding, Level
from support import seeds
from support.analysis import analyze_seed, default_config
from support.cputime import least_cpu
from support.dnsserver import DnsTestServer

REPRO = Path(__file__).resolve().parents[1] / "data" / "repro"
THREAT_NAMES = ["from_domain_unauthenticated", "non_mail_domain", "threat_content",
                "unreadable_structure"]
HEAD = (b"From: info@officialproudboys.com\r\nTo: voter@recipient.example\r\n"
        b"Subject: Notice\r\nDate: Tue, 20 Oct 2020 09:14:00 +0000\r\n"
        b"Message-ID: <hostile-1@vps.example>\r\nMIME-Version: 1.0\r\n")
THREAT = seeds.THREAT_EN.replace("\n", "\r\n").encode()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return default_config(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def seed_dns(dns: DnsTestServer) -> DnsTestServer:
    seeds.publish_seed_zone(dns)
    return dns


def _names(report: Report) -> list[str]:
    return [f.name for f in report.verdict.findings]


def _unreadable(report: Report) -> list[Finding]:
    return [f for f in report.verdict.findings if f.name == "unreadable_structure"]


def _part(text: bytes) -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text


def flat(count: int, before: bytes = b"Hello.", after: bytes = b"Bye.") -> bytes:
    """``count`` one-byte parts between a part ``before`` and a part ``after``."""
    parts = [_part(before), *(_part(b"x") for _ in range(count)), _part(after)]
    return (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + b"".join(b"--b\r\n" + p + b"\r\n" for p in parts) + b"--b--\r\n")


def deep(depth: int, before: bytes = b"Hello.", inner: bytes = b"Deep.",
         after: bytes = b"Bye.") -> bytes:
    """``before``, then ``inner`` ``depth`` multiparts deep, then ``after`` at the top."""
    opening = b"".join(b'--n%d\r\nContent-Type: multipart/mixed; boundary="n%d"\r\n\r\n'
                       % (i, i + 1) for i in range(1, depth))
    closing = b"".join(b"--n%d--\r\n" % i for i in range(depth, 0, -1))
    return (HEAD + b'Content-Type: multipart/mixed; boundary="n0"\r\n\r\n'
            + b"--n0\r\n" + _part(before) + b"\r\n"
            + b'--n0\r\nContent-Type: multipart/mixed; boundary="n1"\r\n\r\n' + opening
            + b"--n%d\r\n" % depth + _part(inner) + b"\r\n" + closing
            + b"--n0\r\n" + _part(after) + b"\r\n--n0--\r\n")


# ----------------------------------------------------------------------------------------
# The shipped reproductions


@pytest.mark.parametrize(("name", "limit", "sentence"), [
    ("evasion_content_type_400_parens.eml", (("limit", "mime_parser"),
                                             ("error", "RecursionError")),
     "The standard MIME parser could not read the message (RecursionError); its text was "
     "read by the tolerant reader."),
    ("evasion_threat_then_nested_multipart_1000.eml", (("limit", "mime_depth"),
                                                       ("max", "32")),
     "The MIME structure is nested deeper than 32 levels; the deeper parts were read as "
     "raw text."),
])
def test_the_seed_threat_behind_unparseable_structure_is_still_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, name: str,
    limit: tuple[tuple[str, str], ...], sentence: str,
) -> None:
    report = analyze_seed(resolver, config, (REPRO / name).read_bytes())
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 17, THREAT_NAMES)
    assert [(f.weight, f.text, f.detail) for f in _unreadable(report)] == [
        (1.0, sentence, limit)]


def test_the_seed_as_it_was_has_no_unreadable_structure(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    report = analyze_seed(resolver, config, seeds.plain())
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 16, ["from_domain_unauthenticated", "non_mail_domain", "threat_content"])


@pytest.mark.parametrize("variant", sorted(seeds.VARIANTS))
def test_seed_variants_have_no_unreadable_structure(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, variant: str
) -> None:
    assert _unreadable(analyze_seed(resolver, config, seeds.VARIANTS[variant]())) == []


# ----------------------------------------------------------------------------------------
# Generated hostile structure: text before, inside and after a limit is still scored


@pytest.mark.parametrize(("where", "raw"), [
    ("before 100,000 parts", lambda: flat(100_000, before=THREAT)),
    ("after 100,000 parts", lambda: flat(100_000, after=THREAT)),
    ("before 10,000 levels", lambda: deep(10_000, before=THREAT)),
    ("10,000 levels deep", lambda: deep(10_000, inner=THREAT)),
    ("after 10,000 levels", lambda: deep(10_000, after=THREAT)),
])
def test_the_threat_around_a_reached_limit_is_still_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, where: str,
    raw: Callable[[], bytes],
) -> None:
    report = analyze_seed(resolver, config, raw())
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 17, THREAT_NAMES), where


def test_a_reached_part_limit_is_reported_on_mail_without_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    report = analyze_seed(resolver, config, flat(2 * MAX_MIME_PARTS))
    assert [(f.text, f.detail) for f in _unreadable(report)] == [(
        f"The message has more than {MAX_MIME_PARTS} MIME parts; the parts after the "
        f"{MAX_MIME_PARTS}th were read as raw text.",
        (("limit", "mime_parts"), ("max", str(MAX_MIME_PARTS))))]
    assert (report.level, report.verdict.score) == (Level.SPOOF, 11)


def test_nesting_within_the_limit_is_not_reported(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    report = analyze_seed(resolver, config, deep(MAX_MIME_DEPTH - 1, inner=THREAT))
    assert (report.level, report.verdict.score, _names(report)) == (
        Level.THREAT, 16, ["from_domain_unauthenticated", "non_mail_domain", "threat_content"])


# ----------------------------------------------------------------------------------------
# Linear cost of analysis (CPU time of the analyzing thread; ratios, never absolute times)


@pytest.mark.parametrize(("make", "sizes"), [
    (flat, (1_000, 10_000, 100_000)),
    (deep, (100, 1_000, 10_000)),
], ids=["parts", "depth"])
def test_analysis_cost_grows_at_most_linearly_with_hostile_structure(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config,
    make: Callable[[int], bytes], sizes: tuple[int, int, int],
) -> None:
    raws = [make(n) for n in sizes]
    analyze_seed(resolver, config, raws[0])  # warm the resolver's cache and the imports
    costs = [least_cpu(lambda raw=raw: analyze_seed(resolver, config, raw)) for raw in raws]
    # ten times the input may cost at most twenty times the CPU (a quadratic step in any
    # check would cost a hundred times)
    assert costs[1] < 20 * costs[0]
    assert costs[2] < 20 * costs[1]
