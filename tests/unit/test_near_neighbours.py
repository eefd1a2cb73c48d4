"""Precision of the lookalike rules on real legitimate neighbours of watched political
names (``tests/data/near_neighbours.txt``): state and county parties, chapters, caucuses,
campaign vendors, unrelated organizations sharing a word. The matcher gets no `distinct`
list, so the rules alone (affiliate words, common-word names, plausible-name edits) must
keep every one of them clean. The same matcher must also stay clean on the unrelated list.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.test_lookalike_recall import WATCHED

from spoofwatch.detect.lookalike import LookalikeMatcher, WatchedDomain, WatchedName

DATA = Path(__file__).resolve().parents[1] / "data"

# The example watchlist's organization names and aliases (policies/watchlist.example.yaml),
# which make candidates of their own since issue 12.
NAMES = tuple(
    WatchedName(name, org)
    for org, names in (
        ("Democratic National Committee",
         ("Democratic National Committee", "DNC", "Democrats", "Democratic Party",
          "The Democrats")),
        ("Republican National Committee",
         ("Republican National Committee", "RNC", "GOP", "Republican Party",
          "The Republican Party")),
        ("Trump campaign", ("Donald J. Trump for President", "Trump Campaign", "Team Trump",
                            "Donald J. Trump", "Donald Trump")),
        ("Biden campaign", ("Biden for President", "Biden Campaign", "Team Joe", "Joe Biden",
                            "Biden Harris")),
        ("Proud Boys", ("Proud Boys", "Official Proud Boys", "The Proud Boys")),
        ("U.S. Election Assistance Commission",
         ("U.S. Election Assistance Commission", "Election Assistance Commission", "EAC")),
        ("Alaska Division of Elections", ("Alaska Division of Elections",)),
        ("State of Alaska", ("Alaska",)),
    )
    for name in names
)
# A watched domain whose name is a common word: a state's own portal.
WATCHED_WIDE = (*WATCHED, WatchedDomain("alaska.gov", "State of Alaska"))


def listed(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_every_near_neighbour_has_a_note_and_appears_once() -> None:
    entries = [line for line in (DATA / "near_neighbours.txt").read_text("utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    assert all("#" in line and line.split("#", 1)[1].strip() for line in entries)
    domains = listed("near_neighbours.txt")
    assert len(domains) >= 150
    assert len(set(domains)) == len(domains)


@pytest.fixture(scope="module")
def matcher() -> LookalikeMatcher:
    return LookalikeMatcher(WATCHED_WIDE, names=NAMES)


@pytest.mark.parametrize("listing", ["near_neighbours.txt", "unrelated_domains.txt"])
def test_no_neighbour_is_a_lookalike(matcher, listing, record_property) -> None:
    hits = [(hit.domain, hit.target, hit.kind)
            for hit in map(matcher.match, listed(listing)) if hit is not None]
    record_property(f"false_hits_{listing}", len(hits))
    assert hits == []


def test_the_same_matcher_still_catches_the_shapes_near_them(matcher) -> None:
    # Controls: the list is clean because of what is added, not because nothing matches.
    for domain in ("texasdemocrats-login.org", "gop-alaska-verify.com", "alaska-secure.com",
                   "proudboys-usa.com", "democrats.mail-update.net", "gopk.com"):
        assert matcher.match(domain) is not None, domain
