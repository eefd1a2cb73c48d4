"""Display-name matching and the impersonation findings, on the bundled example watchlist
and in-memory DNS (StaticLookup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.detect.display_name import display_name_findings
from spoofwatch.detect.from_domain import from_domain_findings
from spoofwatch.detect.impersonation import ImpersonationInput
from spoofwatch.detect.name_match import (
    author_part,
    domain_tokens,
    match_display_name,
    name_words,
)
from spoofwatch.detect.non_mail import non_mail_findings
from spoofwatch.detect.reply_to import reply_to_findings
from spoofwatch.detect.watchlist import Watchlist, load_watchlist
from spoofwatch.message import Message
from spoofwatch.results import (
    AuthResult,
    DkimResult,
    DkimSignature,
    DmarcResult,
    Envelope,
    FromAddress,
)
from support.staticlookup import StaticLookup

WATCHLIST = Path(__file__).resolve().parents[2] / "policies" / "watchlist.example.yaml"


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist(WATCHLIST)


def _weight(name: str) -> float:
    return {"from_domain_unauthenticated": 6.0, "display_name_impersonation": 4.0,
            "reply_to_diversion": 3.0, "non_mail_domain": 4.0}[name]


def _dmarc(domain: str, result: AuthResult) -> DmarcResult:
    return DmarcResult(result, domain, "", domain, "none", "none", False, False, False, "")


def _dkim(*domains: str) -> DkimResult:
    return DkimResult(tuple(DkimSignature(d, "s", "rsa-sha256", AuthResult.PASS, "")
                            for d in domains))


def _inp(watchlist: Watchlist, display: str, address: str, *, reply_to: str = "",
         dmarc: AuthResult | None = None, dkim: tuple[str, ...] = ()) -> ImpersonationInput:
    local, _, domain = address.partition("@")
    headers = [("From", f" {display} <{address}>")]
    if reply_to:
        headers.append(("Reply-To", f" {reply_to}"))
    message = Message(tuple(headers), b"Hello\r\n")
    return ImpersonationInput(
        Envelope(client_ip="203.0.113.5"), message, FromAddress(display, local, domain),
        _dmarc(domain, dmarc) if dmarc else None, _dkim(*dkim) if dkim else None,
        watchlist, None)


# ----------------------------------------------------------------------------- names


def test_name_words_fold_case_punctuation_spacing_and_lookalikes() -> None:
    assert name_words("D.N.C.") == ("d", "n", "c")
    assert name_words("  Democratic\tNATIONAL  Committee ") == name_words(
        "democratic national committee")
    assert name_words("D\u0435m\u043ecrats") == name_words("Democrats")  # Cyrillic е, о
    assert name_words("D\u039dC") == name_words("DNC")  # Greek capital Nu
    assert name_words("De\u200bmo\u200dcrats") == name_words("Democrats")  # zero-width
    assert name_words("\uff24\uff2e\uff23") == name_words("DNC")  # full-width
    assert name_words("D\u00e9mocrats") == name_words("Democrats")  # accent
    assert name_words("Dem0crats") == name_words("Democrats")  # digit zero
    assert name_words("Dernocrats") == name_words("Democrats")  # rn drawn as m
    assert name_words("Team Trump 2026")[-1] == "2026"  # numbers stay numbers


@pytest.mark.parametrize(
    ("display", "org", "how"),
    [
        ("DNC", "Democratic National Committee", "exact"),
        ("D.N.C.", "Democratic National Committee", "exact"),
        ("d n c", "Democratic National Committee", "exact"),
        ("DEMOCRATIC NATIONAL COMMITTEE", "Democratic National Committee", "exact"),
        ("D\u0435mocrats", "Democratic National Committee", "exact"),
        ("D\u039dC", "Democratic National Committee", "exact"),
        ("De\u200bmocrats", "Democratic National Committee", "exact"),
        ("ProudBoys", "Proud Boys", "exact"),
        ("Pro ud Boys", "Proud Boys", "exact"),
        ("Demokrats", "Democratic National Committee", "misspelt"),
        ("Democratic Nationl Committee", "Democratic National Committee", "misspelt"),
        ("Republican Natinal Comittee", "Republican National Committee", "misspelt"),
        ("info@democrats.org", "Democratic National Committee", "address"),
        ("info@news.democrats.org", "Democratic National Committee", "address"),
        ("democrats.org", "Democratic National Committee", "address"),
        ("DNC Official Notice", "Democratic National Committee", "phrase"),
        ("F.B.I. Alert", "Federal Bureau of Investigation", "phrase"),
        ("Team Trump HQ 2026", "Donald J. Trump for President", "phrase"),
        ("The Democrats", "Democratic National Committee", "phrase"),
        ("Proud Boys Florida", "Proud Boys", "phrase"),
        ("Election Assistance Commission", "U.S. Election Assistance Commission", "exact"),
        ("DNC via Email", "Democratic National Committee", "exact"),
        ("Mailer on behalf of DNC", "Democratic National Committee", "exact"),
        # issue 12: letter pairs read across spaced letters ("rn" reads m in "RNC"), regional
        # indicators, abbreviations, reordered words, titles before a person's name
        ("R N C", "Republican National Committee", "exact"),
        ("R.N.C.", "Republican National Committee", "exact"),
        ("\U0001f1f7\U0001f1f3\U0001f1e8", "Republican National Committee", "exact"),
        ("Repub. Natl. Cmte.", "Republican National Committee", "exact"),
        ("Committee, Republican National", "Republican National Committee", "reordered"),
        ("Pres. Donald J. Trump", "Donald J. Trump for President", "phrase"),
    ],
)
def test_watched_names_are_recognized(watchlist: Watchlist, display: str, org: str,
                                      how: str) -> None:
    match = match_display_name(display, watchlist)
    assert match is not None
    assert (match.org.name, match.how) == (org, how)


@pytest.mark.parametrize(
    "display",
    [
        "", "Alice Smith", "Alice via DemList", "Alice via Democrats",
        "Assistant on behalf of Bob", "Support Team via Helpdesk", "Alice Smith (Ticket #4821)",
        # a person or a group whose longer name merely contains a short alias
        "Cisa Johnson", "Alaska GOP", "House Democrats", "Democrats Abroad",
        "Florida Democratic Party", "Donald Trump Jr.", "Joe", "DSA", "Per Olsen",
        # issue 12: one letter from a person's name is another person, unless the address
        # claims the campaign too (test_display_name_consistency.py)
        "Joe Bidan", "Donald Crump",
    ],
)
def test_other_names_are_not_taken_for_a_watched_organization(watchlist: Watchlist,
                                                              display: str) -> None:
    assert match_display_name(display, watchlist) is None


# ----------------------------------------------------------------------------- findings


def test_display_name_on_the_organizations_own_address_is_not_impersonation(
    watchlist: Watchlist,
) -> None:
    assert display_name_findings(_inp(watchlist, "DNC", "info@democrats.org"), _weight) == []
    assert display_name_findings(_inp(watchlist, "info@democrats.org", "info@democrats.org"),
                                 _weight) == []


def test_display_name_signed_by_the_organizations_esp_is_not_impersonation(
    watchlist: Watchlist,
) -> None:
    inp = _inp(watchlist, "DNC", "dnc@mail.ngpvan.com", dkim=("ngpvan.com",))
    assert display_name_findings(inp, _weight) == []


def test_display_name_of_a_listed_neighbour_is_not_impersonation(watchlist: Watchlist) -> None:
    inp = _inp(watchlist, "Texas Democrats", "info@texasdemocrats.org")
    assert display_name_findings(inp, _weight) == []


def test_display_name_impersonation_quotes_the_name_safely(watchlist: Watchlist) -> None:
    [finding] = display_name_findings(_inp(watchlist, 'D\u0435mocrats "\r\nX', "a@b.example"),
                                      _weight)
    assert finding.name == "display_name_impersonation" and finding.weight == 4
    assert finding.text.isascii() and "\r" not in finding.text and "\n" not in finding.text
    assert "\\u0435" in finding.text


def test_from_domain_unauthenticated_needs_dmarc_pass_or_an_own_signature(
    watchlist: Watchlist,
) -> None:
    forged = _inp(watchlist, "DNC", "info@democrats.org", dmarc=AuthResult.FAIL)
    assert [f.name for f in from_domain_findings(forged, _weight)] == [
        "from_domain_unauthenticated"]
    assert from_domain_findings(_inp(watchlist, "DNC", "info@democrats.org",
                                     dmarc=AuthResult.PASS), _weight) == []
    assert from_domain_findings(_inp(watchlist, "DNC", "info@democrats.org",
                                     dkim=("ngpvan.com",)), _weight) == []
    # a signature of someone else's domain is not theirs
    assert len(from_domain_findings(_inp(watchlist, "DNC", "info@democrats.org",
                                         dkim=("evil.example",)), _weight)) == 1
    assert from_domain_findings(_inp(watchlist, "Alice", "a@unwatched.example"), _weight) == []


def test_reply_to_diversion_rules(watchlist: Watchlist) -> None:
    forged = _inp(watchlist, "DNC", "info@democrats.org", reply_to="x@elsewhere.example")
    [finding] = reply_to_findings(forged, _weight)
    assert dict(finding.detail) == {"reply_to_domain": "elsewhere.example"}
    # upper-case and subdomains of the organization's own domains are theirs
    own = _inp(watchlist, "DNC", "info@democrats.org", reply_to="x@Events.DEMOCRATS.org")
    assert reply_to_findings(own, _weight) == []
    authenticated = _inp(watchlist, "DNC", "info@democrats.org", reply_to="x@rsvp.example",
                         dmarc=AuthResult.PASS)
    assert reply_to_findings(authenticated, _weight) == []
    # a watched name on a free-mail address replying to the same address: no diversion
    same = _inp(watchlist, "DNC", "dnc@freemail.example", reply_to="dnc@freemail.example")
    assert reply_to_findings(same, _weight) == []
    other = _inp(watchlist, "DNC", "dnc@freemail.example", reply_to="dnc@other.example")
    assert len(reply_to_findings(other, _weight)) == 1


@pytest.mark.parametrize(
    ("zone", "temperror", "fires"),
    [
        ({"x.example": {"TXT": ["v=spf1 -all"]}}, (), True),
        ({"x.example": {"TXT": ["V=SPF1 exp=why.x.example -ALL"]}}, (), True),
        ({"x.example": {"MX": ["0 ."]}}, (), True),
        ({}, (), True),
        ({"x.example": {"TXT": ["v=spf1 ~all"]}}, (), False),
        ({"x.example": {"TXT": ["v=spf1 redirect=spf.example"]}}, (), False),
        ({"x.example": {"TXT": ["v=spf1 -all", "v=spf1 a -all"]}}, (), False),
        ({"x.example": {"MX": ["10 mx.x.example"], "TXT": ["v=spf1 -all"]}}, (), False),
        ({"x.example": {"TXT": ["v=spf1 -all"]}}, ("x.example",), False),
    ],
    ids=["spf-all", "spf-all-modifier", "null-mx", "nxdomain", "softfail", "redirect",
         "two-spf", "mx", "temperror"],
)
def test_non_mail_posture(watchlist: Watchlist, zone: dict, temperror: tuple[str, ...],
                          fires: bool) -> None:
    lookup = StaticLookup(zone, temperror=temperror)
    found = non_mail_findings(_inp(watchlist, "X", "info@x.example"), lookup, _weight)
    assert [f.name for f in found] == (["non_mail_domain"] if fires else [])


def test_a_domain_that_signs_its_own_mail_is_not_called_non_mail(watchlist: Watchlist) -> None:
    lookup = StaticLookup({"x.example": {"TXT": ["v=spf1 -all"]}})
    signed = _inp(watchlist, "X", "info@x.example", dkim=("x.example",))
    assert non_mail_findings(signed, lookup, _weight) == []


def test_a_watched_domain_that_sends_no_mail_is_non_mail_whatever_its_dns(
    watchlist: Watchlist,
) -> None:
    lookup = StaticLookup({"officialproudboys.com": {"MX": ["10 mx.example.net"]}})
    inp = _inp(watchlist, "X", "info@officialproudboys.com")
    [finding] = non_mail_findings(inp, lookup, _weight)
    assert finding.org == "Proud Boys"
    assert lookup.queries == []  # the watchlist says so; DNS is not asked


@pytest.mark.parametrize(("text", "tokens"), [
    ("Jane (jane@democrats.org)", ["democrats.org"]),
    ("a..b.c -x.y- .d.e.", ["b.c", "-x.y-", "d.e"]),
    ("no dots here", []),
    ("a" * 5000, []),
])
def test_domain_tokens_are_the_dotted_names_in_a_display_name(
        text: str, tokens: list[str]) -> None:
    assert domain_tokens(text) == tokens


def test_relay_shapes_are_split_after_long_runs_of_spaces() -> None:
    assert author_part("Alice" + " " * 5000 + "via   DemList") == "Alice"
    assert author_part("Assistant" + " " * 5000 + "on behalf of  DNC") == "DNC"
