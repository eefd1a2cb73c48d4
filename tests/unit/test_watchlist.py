"""Loading and querying the watchlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.detect.watchlist import load_watchlist
from spoofwatch.yamlload import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "policies" / "watchlist.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bundled_example_loads() -> None:
    watchlist = load_watchlist(EXAMPLE)
    assert len(watchlist.organizations) == 10
    org, info = watchlist.owner_of("officialproudboys.com")
    assert (org.name, info.sends_mail) == ("Proud Boys", False)
    dnc, _ = watchlist.owner_of("democrats.org")
    assert watchlist.signing_domains(dnc) == {"democrats.org", "dnc.org", "ngpvan.com"}


def test_owner_of_covers_subdomains_and_prefers_the_longest_listed_domain(tmp_path: Path) -> None:
    watchlist = load_watchlist(_write(tmp_path, """
organizations:
  - name: State
    domains: [alaska.gov]
  - name: Elections
    domains: [elections.alaska.gov]
"""))
    assert watchlist.owner_of("Mail.Elections.Alaska.gov.")[0].name == "Elections"
    assert watchlist.owner_of("dmv.alaska.gov")[0].name == "State"
    assert watchlist.owner_of("notalaska.gov") is None


def test_is_distinct_takes_subdomains_and_scopes_to_the_organization() -> None:
    watchlist = load_watchlist(EXAMPLE)
    dnc, _ = watchlist.owner_of("democrats.org")
    rnc, _ = watchlist.owner_of("gop.com")
    assert watchlist.is_distinct("floridadems.org")
    assert watchlist.is_distinct("news.floridadems.org", dnc)
    assert not watchlist.is_distinct("floridadems.org", rnc)
    assert not watchlist.is_distinct("democrats.org")


def test_idn_domains_are_stored_as_a_labels(tmp_path: Path) -> None:
    watchlist = load_watchlist(_write(tmp_path, """
organizations:
  - name: Wahlamt
    domains: [wahlamt-münchen.de]
"""))
    assert watchlist.organizations[0].domains[0].domain == "xn--wahlamt-mnchen-osb.de"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("organizations:\n  - name: X\n    domains: [not a domain]\n", "domain"),
        ("organizations:\n  - name: ''\n    domains: [x.example]\n", "name"),
        ("organizations:\n  - name: X\n", "domains"),
        ("organizations:\n  - name: X\n    domains: [x.example]\n    alias: [Y]\n", "alias"),
        ("organizations:\n  - name: X\n    domains:\n      - domain: x.example\n"
         "        sends_mail: maybe\n", "sends_mail"),
        ("organizations:\n  - name: X\n    domains: [x.example]\n"
         "  - name: Y\n    domains: [x.example]\n", "listed under both"),
    ],
    ids=["bad-domain", "empty-name", "nothing-to-watch", "unknown-key", "bad-bool", "duplicate"],
)
def test_mistakes_are_reported_with_their_place(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_watchlist(_write(tmp_path, text))
    assert where in str(caught.value)
    assert str(tmp_path / "watchlist.yaml") in str(caught.value)
