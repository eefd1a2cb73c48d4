"""Disguised spellings of short watched names, and the short-name edits added with issue 12's
recall work: what the trick buys, and what stays clean because it is a name of its own.

A plain edit of a three-letter acronym is usually another live acronym (fcc.gov beside
fec.gov), so ``max_edits`` allows none. A *disguise* (an IDN whose letters pass for Latin
ones, a digit or two letters standing for one letter, a stroke set against a stemmed
letter) is itself the evidence: it buys one more look-alike step.
"""

from __future__ import annotations

import pytest

from spoofwatch.detect.lookalike import LookalikeMatcher, WatchedDomain
from spoofwatch.detect.lookalike_rules import (
    is_disguised,
    may_be_disguised,
    short_edit_is_lookalike,
    visual_distance,
    visual_key,
    without_strokes,
)

WATCHED = (
    WatchedDomain("democrats.org", "DNC"),
    WatchedDomain("dnc.org", "DNC"),
    WatchedDomain("rnc.org", "RNC"),
    WatchedDomain("gop.com", "RNC"),
    WatchedDomain("dccc.org", "DCCC"),
    WatchedDomain("fec.gov", "FEC"),
    WatchedDomain("eac.gov", "EAC"),
    WatchedDomain("vote.org", "Vote.org"),
    WatchedDomain("joebiden.com", "Biden campaign"),
    WatchedDomain("actblue.com", "ActBlue"),
    WatchedDomain("rga.org", "RGA"),
)


@pytest.fixture(scope="module")
def matcher() -> LookalikeMatcher:
    return LookalikeMatcher(WATCHED)


@pytest.mark.parametrize(
    ("domain", "target"),
    [
        ("dńe.org", "dnc.org"),  # an accented n, and e for c
        ("qóp.com", "gop.com"),  # an accented o, and q for g
        ("fėe.gov", "fec.gov"),
        ("cäc.gov", "eac.gov"),
        ("rrç.org", "rnc.org"),  # rnc folds to "mc"; the typed name is compared too
        ("eəc.gov", "eac.gov"),  # a turned e for a
        ("actƅlve.com", "actblue.com"),  # b with a tone mark, and v for u
        ("q0p.com", "gop.com"),  # a digit for o, and q for g
        ("clmc.org", "dnc.org"),  # cl for d, and m for n
        ("dlnc.org", "dnc.org"),  # a stroke against the d
        ("joelbidcn.com", "joebiden.com"),  # a stroke against the b, and c for e
        ("actlbluc.com", "actblue.com"),
    ],
)
def test_disguised_spellings_of_short_names_are_lookalikes(matcher, domain, target) -> None:
    hit = matcher.match(domain)
    assert hit is not None and (hit.target, hit.kind) == (target, "homoglyph"), domain


@pytest.mark.parametrize(
    ("domain", "target"),
    [
        ("DŃE.ORG", "dnc.org"),  # case
        ("xn--de-3qa.org", "dnc.org"),  # the A-label of dńe.org
        ("dńe.com", "dnc.org"),  # another suffix: the trick still buys one look-alike letter
        ("q0p.net", "gop.com"),
        ("dlnc.com", "dnc.org"),
        ("mail.dńe.org", "dnc.org"),  # a host under the disguised domain
    ],
)
def test_cheap_ways_around_the_disguise_rule(matcher, domain, target) -> None:
    hit = matcher.match(domain)
    assert hit is not None and hit.target == target, domain


@pytest.mark.parametrize(
    "domain",
    [
        "fcc.gov",  # the FCC: one look-alike letter from fec, but no trick
        "fmc.gov",  # the Federal Maritime Commission: an acronym's plain edit
        "fee.gov",
        "mac.org",  # rnc folds to "mc", but mac's own letters fold to nothing
        "amc.org",
        "bmc.org",
        "aldemocrats.org",  # the l of "al" is a letter, not a stroke
        "dlcc.org",  # the Democratic Legislative Campaign Committee beside dccc
        "dga.org",  # the Democratic Governors Association beside rga: the party letter
        "rccc.org",  # the same rule: a reader sees another party's initial (documented)
        "mác.com",  # an IDN two steps from rnc under another suffix
        "dńx.com",  # an IDN one plain edit from dnc under another suffix
    ],
)
def test_names_of_their_own_stay_clean(matcher, domain) -> None:
    assert matcher.match(domain) is None, domain


@pytest.mark.parametrize(
    ("domain", "target"),
    [
        ("dncs.org", "dnc.org"),  # an unpronounceable acronym has no plural of its own
        ("dcccs.org", "dccc.org"),
        ("votm.org", "vote.org"),  # any letter making a word unpronounceable
        ("vgte.org", "vote.org"),
    ],
)
def test_short_edits_that_read_as_no_name(matcher, domain, target) -> None:
    hit = matcher.match(domain)
    assert hit is not None and hit.target == target, domain


@pytest.mark.parametrize("domain", ["gops.com", "votes.org", "voted.org", "vots.org",
                                    "vote.example.com"])
def test_inflections_and_words_still_stay_clean(matcher, domain) -> None:
    assert matcher.match(domain) is None, domain


def test_the_rule_helpers() -> None:
    assert visual_distance("lbiden", "biden") == 0.5  # a stroke against b
    assert visual_distance("biden", "lbiden") == 1.0  # only the candidate's strokes
    assert visual_distance("eǝc", "eac") == 0.5
    assert without_strokes("dlnc") == "dnc"
    assert without_strokes("actblue") == "actbue"
    assert may_be_disguised("gop", "gop") is False
    assert may_be_disguised("q0p", visual_key("q0p")) is True
    assert is_disguised("q0p", visual_key("q0p"), "gop", "gop") is True
    assert is_disguised("mac", "mac", "rnc", visual_key("rnc")) is False
    assert is_disguised("fcc", "fcc", "fec", "fec") is False
    assert short_edit_is_lookalike("dga", "rga") is False
    assert short_edit_is_lookalike("dnx", "dnc") is True
    assert short_edit_is_lookalike("fmc", "fec") is False


def test_hosts_built_for_the_disguise_check_cost_a_bounded_multiple_of_ordinary_ones(
        matcher) -> None:
    # CPU-time ratio, not wall clock: every label carries a trick (IDN letters, digits,
    # strokes against stems), so the disguise check runs for each of them against every
    # watched name of similar length. Per label it is one weighted edit distance per such
    # name; a check gone quadratic in the host's length would be hundreds of times.
    import time

    hostile = [
        ".".join(["lb" * 31 + "l"] * 3) + ".org",
        ".".join(["dńe"] * 60) + ".org",
        ".".join(["q0p"] * 60) + ".com",
        ".".join(["ə" * 20 + "ƅ" * 20] * 3) + ".org",
        "dlnc." * 50 + "org",
    ]
    ordinary = ["example.com", "mail.example.co.uk", "news.example.org", "shop.example.net"]

    def cpu(domains: list[str]) -> float:
        start = time.process_time()
        for _ in range(40):
            for domain in domains:
                matcher.match(domain[:253])
        return (time.process_time() - start) / len(domains)

    assert cpu(hostile) < 100 * cpu(ordinary)
