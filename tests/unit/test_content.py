"""Threat-content scoring: what matches, what does not, and what the score adds up to."""

from __future__ import annotations

import base64
import quopri
import random
import time
from collections import Counter
from dataclasses import replace
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

import pytest
import yaml

from spoofwatch.detect.content import (
    CATEGORY_CAPS,
    ThreatMatch,
    ThreatPattern,
    ThreatScore,
    expand_regex,
    load_patterns,
    score_text,
)
from spoofwatch.detect.text_normalize import normalize_text
from spoofwatch.detect.textextract import extract_text
from support import seeds, threat_corpus

PATTERNS = load_patterns()
CORE = {"harm_threat", "coercion_vote", "personal_data_claim"}

# Our own wording of the October 2020 mail (facts: vote for the candidate on Election Day
# or be come after; the senders hold all your information; change your party registration).
THREAT = (
    "Attention Democrat. We are in possession of all your information, including your home "
    "address. You will vote for Trump on Election Day or we will come after you. Change your "
    "party registration to Republican before the deadline. We know where you live.\n"
)
THREAT_PATTERNS = ("in_possession_of_your_information", "vote_or_else", "come_after_you",
                   "change_party_to", "know_where_you_live")
THREAT_SCORE = 8.0  # harm 2+2 capped at 3, coercion 2, personal data 2, registration 1

THREAT_ES = (
    "Sabemos dónde vives y tenemos toda tu información. Votarás por Trump el día de las "
    "elecciones o iremos por ti. Cambia tu afiliación de partido a republicano.\n"
)
THREAT_ES_PATTERNS = ("es_sabemos_donde_vives", "es_toda_tu_informacion", "es_vota_o_si_no",
                      "es_iremos_por_ti", "es_cambia_afiliacion")

PARAPHRASE = (
    "Listen. We have all your personal data and we know exactly where your kids go to "
    "school. If you don't vote for Trump, you'll regret it - we're going to find you. "
    "Switch your party affiliation to the Republican Party.\n"
)

CAMPAIGN_NEWSLETTER = (
    "Friends, Election Day is Tuesday, November 3, and the polls are open from 7 a.m. to "
    "8 p.m. Make a plan to vote on November 3, or vote early at any early voting site in "
    "your county. If you requested a mail ballot, return it as soon as you can. We are "
    "$40,000 short of our goal for the final push: chip in $25 today to help us knock on "
    "every door. Thank you for everything you do. Together we will win this.\n"
    "Paid for by Friends of Jane Doe. Unsubscribe.\n"
)
ELECTION_OFFICE_REMINDER = (
    "Dear voter, this is a reminder from the County Board of Elections. The deadline to "
    "register or update your registration for the November 3 general election is October "
    "5. If you moved, update your address online at the state voter portal or in person at "
    "our office. Polling places are open from 6:30 a.m. to 7:30 p.m. Your polling place may "
    "have changed after redistricting; check your sample ballot before you go. Mail ballots "
    "must be received by 8 p.m. on Election Day. Bring a photo ID. Questions? Call "
    "555-0100.\n"
)
ELECTION_OFFICE_REMINDER_ES = (
    "Recordatorio de la oficina electoral: el día de las elecciones es el martes 3 de "
    "noviembre. Si se mudó, actualice su dirección antes del 5 de octubre. Puede votar por "
    "correo o en persona. Lleve una identificación con foto.\n"
)
MAILING_LIST_DISCUSSION = (
    "> Does anyone know why our DMARC reports show failures for the newsletter?\n\n"
    "The list rewrites the From header, so alignment fails unless the list re-signs. We "
    "have all the information we need in the aggregate reports; I'll post a summary. We "
    "will come back to this at the next meeting on Wednesday.\n-- Sam\n"
)
SALE_NEWSLETTER = (
    "Last chance! Our fall sale ends tonight and you'll regret missing these prices.\n"
)
NEWS_REPORT = (
    "Voters in Florida and Alaska reported emails that warned, 'You will vote for Trump on "
    "Election Day or we will come after you.' The messages also claimed the senders were "
    "'in possession of all your information' and told recipients to change their party "
    "registration. Officials said the mail was spoofed.\n"
)


def message(body: bytes, content_type: str = "text/plain; charset=utf-8", cte: str = "8bit",
            subject: str = "Important notice") -> EmailMessage:
    head = (f"From: info@sender.example\nTo: voter@recipient.example\nSubject: {subject}\n"
            f"MIME-Version: 1.0\nContent-Type: {content_type}\n"
            f"Content-Transfer-Encoding: {cte}\n\n")
    msg = message_from_bytes(head.encode() + body, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def score_message(msg: EmailMessage) -> ThreatScore:
    return score_text(normalize_text(extract_text(msg)), PATTERNS)


def score(text: str) -> ThreatScore:
    return score_text(normalize_text(text), PATTERNS)


def names(result: ThreatScore) -> tuple[str, ...]:
    return tuple(m.pattern for m in result.matches)


# ----------------------------------------------------------------------------------------
# The threat, however it is wrapped


def test_plain_threat_matches_these_patterns_and_scores_eight() -> None:
    result = score_message(message(THREAT.encode()))
    assert names(result) == THREAT_PATTERNS
    assert result.categories == ("coercion_vote", "harm_threat", "personal_data_claim",
                                 "registration_change_demand")
    assert result.score == THREAT_SCORE


def _homoglyphs(text: str) -> str:
    # Cyrillic a e o p c i, Greek v (nu), Cyrillic capital T and B
    table: dict[str, str | int | None] = {
        "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
        "i": "\u0456", "v": "\u03bd", "T": "\u0422", "B": "\u0412"}
    return text.translate(str.maketrans(table))


HTML_TRICKS = (
    "<html><head><style>.x{color:red}</style></head><body>"
    "<p>Attention <b>D</b>emocrat. We are in <b>poss</b>ession of all y&#111;ur "
    "inf<span>ormation</span>, including your home address.</p>"
    "<p>You <i>will</i> <b>v</b>ote f&#x6F;r Trump on Election Day or we will c<u>o</u>me "
    "af&shy;ter you.</p><div>Change your party registration to Republican before the "
    "deadline. We know where you l&#8203;ive.</div><script>var a='harmless';</script>"
    "</body></html>\n"
)

WRAPPED_THREATS = {
    "html_only": lambda: message(
        ("<html><body><p>" + THREAT.replace(". ", ".</p><p>") + "</p></body></html>").encode(),
        "text/html; charset=utf-8"),
    "base64": lambda: message(base64.encodebytes(THREAT.encode()), cte="base64"),
    "quoted_printable": lambda: message(quopri.encodestring(THREAT.encode(), quotetabs=True),
                                        cte="quoted-printable"),
    "latin1_quoted_printable": lambda: message(quopri.encodestring(THREAT.encode("latin-1")),
                                               "text/plain; charset=iso-8859-1",
                                               "quoted-printable"),
    "homoglyphs": lambda: message(_homoglyphs(THREAT).encode()),
    "fullwidth": lambda: message(THREAT.translate(
        {c: c + 0xFEE0 for c in range(0x21, 0x7F)}).encode()),
    "zero_width": lambda: message("\u200b".join(THREAT).encode()),
    "mixed_invisibles": lambda: message("".join(
        ch + "\u200d\u2060\u00ad\ufeff"[i % 4] for i, ch in enumerate(THREAT)).encode()),
    "html_tricks": lambda: message(HTML_TRICKS.encode(), "text/html; charset=utf-8"),
    "forwarded_attachment": lambda: message(
        b'--B\nContent-Type: text/plain\n\nFYI\n--B\nContent-Type: message/rfc822\n\n'
        b"Subject: hi\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(THREAT.encode())
        + b"--B--\n", 'multipart/mixed; boundary="B"'),
}


@pytest.mark.parametrize("variant", sorted(WRAPPED_THREATS))
def test_wrapped_threat_scores_exactly_like_the_plain_one(variant: str) -> None:
    result = score_message(WRAPPED_THREATS[variant]())
    assert names(result) == THREAT_PATTERNS
    assert result.score == THREAT_SCORE


def test_threat_in_encoded_word_subject_alone_is_matched() -> None:
    subject = Header("Vote for Trump or else! We know where you live and we are in "
                     "possession of all your information", "utf-8").encode()
    result = score_message(message(b"See the subject.\n", subject=subject))
    assert names(result) == ("vote_or_else", "know_where_you_live",
                             "in_possession_of_your_information")
    assert set(result.categories) == CORE


def test_paraphrased_threat_matches_the_core_categories() -> None:
    result = score(PARAPHRASE)
    assert names(result) == ("we_have_all_your_information", "know_where_you_live",
                             "if_you_dont_vote_threat", "you_will_regret", "find_you",
                             "change_party_to")
    assert result.score == 7.8  # harm 2+0.6+1.5 capped 3, coercion 1.8, data 2, reg 1


def test_spanish_threat_matches_with_accents() -> None:
    result = score_message(message(THREAT_ES.encode()))
    assert names(result) == THREAT_ES_PATTERNS
    assert set(result.categories) == CORE | {"registration_change_demand"}
    assert result.score == 8.2  # harm 2+2 capped 3, coercion 2, data 2, reg 1.2


def test_spanish_threat_matches_without_accents() -> None:
    unaccented = THREAT_ES.translate(str.maketrans("áéíóú", "aeiou"))
    assert names(score(unaccented)) == THREAT_ES_PATTERNS


def test_spanish_threat_in_latin1_with_homoglyphs_matches() -> None:
    msg = message(_homoglyphs(THREAT_ES).encode("utf-8"))
    assert names(score_message(msg)) == THREAT_ES_PATTERNS


def test_leetspeak_threat_matches() -> None:
    result = score("Y0u w1ll v0te f0r Trump 0n Electi0n Day 0r w3 w1ll c0me aft3r y0u. "
                   "W3 ar3 in p0ssessi0n 0f all y0ur inf0rmati0n.")
    assert set(result.categories) == CORE


@pytest.mark.parametrize("variant", sorted(seeds.VARIANTS))
def test_shared_seed_variants_match_the_core_categories(variant: str) -> None:
    msg = message_from_bytes(seeds.VARIANTS[variant](), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    result = score_message(msg)
    assert CORE <= set(result.categories)
    assert result.score >= 3.0  # the default threat_min_score


# ----------------------------------------------------------------------------------------
# Ordinary political mail


def test_campaign_newsletter_matches_nothing() -> None:
    assert score_message(message(CAMPAIGN_NEWSLETTER.encode())) == ThreatScore(0.0, (), ())


def test_election_office_reminder_matches_nothing() -> None:
    assert score_message(message(ELECTION_OFFICE_REMINDER.encode())) == ThreatScore(0.0, (), ())


def test_spanish_election_office_reminder_matches_nothing() -> None:
    assert score(ELECTION_OFFICE_REMINDER_ES) == ThreatScore(0.0, (), ())


def test_mailing_list_discussion_matches_nothing() -> None:
    assert score(MAILING_LIST_DISCUSSION) == ThreatScore(0.0, (), ())


def test_sales_pitch_with_regret_scores_below_one() -> None:
    assert score(SALE_NEWSLETTER) == ThreatScore(
        0.6, (ThreatMatch("you_will_regret", "harm_threat", 0.6, "you'll regret"),),
        ("harm_threat",))


@pytest.mark.parametrize("text", [
    "Text VOTE to 30330 to find your polling place.",
    "You can vote early in person starting October 19, or vote by mail.",
    "We'll find you a ride to the polls.",
    "If you don't vote, someone else will decide for you.",
    "Your ballot will not be counted unless you sign the envelope.",
    "The vote on the new bylaws was postponed to next month.",
    "We have your back. We know how much your vote matters.",
    "You can change your party affiliation at the county office until May 1.",
])
def test_ordinary_phrases_near_the_patterns_score_below_one(text: str) -> None:
    assert score(text).score < 1.0


def test_news_report_quoting_the_threat_matches() -> None:
    # Expected: the verdict clears such mail through authentication, not the scorer.
    result = score(NEWS_REPORT)
    assert names(result) == ("vote_or_else", "come_after_you",
                             "in_possession_of_your_information")
    assert result.score == 6.0


# ----------------------------------------------------------------------------------------
# How the score adds up


def test_a_phrase_repeated_fifty_times_counts_once() -> None:
    assert score(THREAT * 50) == score(THREAT)


def test_each_category_is_capped() -> None:
    result = score("We will come after you. We know where you live. We will hurt your "
                   "family. Your family will not be safe.")
    assert names(result) == ("come_after_you", "know_where_you_live", "violence", "not_safe")
    assert result.score == CATEGORY_CAPS["harm_threat"] == 3.0


def _pattern(name: str, category: str, weight: float, source: str) -> ThreatPattern:
    return ThreatPattern(name, category, weight, "en", expand_regex(source))


def test_overlapping_matches_of_one_category_count_the_heavier_once() -> None:
    patterns = (_pattern("heavy", "harm_threat", 1.0, "we will come"),
                _pattern("light", "harm_threat", 0.5, "come after you"))
    result = score_text("we will come after you", patterns)
    assert result == ThreatScore(
        1.0, (ThreatMatch("heavy", "harm_threat", 1.0, "we will come"),), ("harm_threat",))


def test_separate_matches_of_one_category_add_up() -> None:
    patterns = (_pattern("heavy", "harm_threat", 1.0, "we will come"),
                _pattern("light", "harm_threat", 0.5, "come after you"))
    assert score_text("we will come. then come after you", patterns).score == 1.5


def test_overlapping_matches_of_different_categories_both_count() -> None:
    patterns = (_pattern("a", "harm_threat", 1.0, "we will come"),
                _pattern("b", "coercion_vote", 0.5, "come after you"))
    result = score_text("we will come after you", patterns)
    assert (result.score, names(result)) == (1.5, ("a", "b"))


def test_matches_are_in_text_order_and_categories_sorted() -> None:
    result = score("Change your party registration to Republican. We know where you live.")
    assert names(result) == ("change_party_to", "know_where_you_live")
    assert result.categories == ("harm_threat", "registration_change_demand")


def test_phrase_is_short_ascii() -> None:
    text = ("vote for trump and every single one of his extraordinarily numerous "
            "congressional allies, or else!")
    [match] = score(text).matches
    assert match.phrase.isascii()
    assert len(match.phrase) == 80
    assert match.phrase.startswith("vote for trump and every single one")


def test_spanish_phrase_is_reported_without_accents() -> None:
    [match] = score("Tenemos toda tu información.").matches
    assert match.phrase == "tenemos toda tu informacion"


def test_hand_made_pattern_without_compiled_regex_is_used() -> None:
    pattern = ThreatPattern("custom", "harm_threat", 0.7, "en", r"\bboo\b")
    assert score_text("a boo here", (pattern,)).score == 0.7


def test_text_beyond_one_million_characters_is_scored() -> None:
    # Was: "...is_not_scored" (score 0). Issue 12 names that cap as the defect: padding in
    # front of a threat hid it. score_text now reads all it is given; the caller bounds
    # the size (the threat check: the message size limit).
    text = "x " * 500_000 + normalize_text(THREAT)
    assert score_text(text, PATTERNS) == score_text(normalize_text(THREAT), PATTERNS)


def test_a_megabyte_of_word_soup_is_scored_quickly() -> None:
    words = ("vote for you will we if don t or else your polling place has changed reply "
             "iremos por ti si no votas tenemos toda tu información").split()
    rnd = random.Random(7)
    text = normalize_text(" ".join(rnd.choice(words) for _ in range(200_000)))
    started = time.monotonic()
    score_text(text, PATTERNS)
    assert time.monotonic() - started < 5.0


# ----------------------------------------------------------------------------------------
# Pattern syntax


@pytest.mark.parametrize("text", ["we'll come", "we ll come", "we-ll  come", "we’ll, come"])
def test_space_in_a_pattern_matches_any_separators(text: str) -> None:
    assert score_text(normalize_text(text), (_pattern("p", "harm_threat", 1, "we ll come"),)
                      ).score == 1.0


@pytest.mark.parametrize(("text", "hits"), [
    ("vote for anyone now", 1), ("vote for now", 0), ("vote for a b c now", 1),
    ("vote for a b c d now", 0),
])
def test_word_and_gap_macros(text: str, hits: int) -> None:
    pattern = _pattern("p", "coercion_vote", 1, "vote for {w}{gap:2} now")
    assert len(score_text(text, (pattern,)).matches) == hits


@pytest.mark.parametrize(("text", "hits"), [
    ("we will come", 1), ("awe will come", 0), ("we will comet", 0), ("we will comes", 0),
])
def test_patterns_are_anchored_at_word_boundaries(text: str, hits: int) -> None:
    assert len(score_text(text, (_pattern("p", "harm_threat", 1, "we will come"),)).matches) == hits


def test_space_inside_a_character_class_stays_literal() -> None:
    pattern = _pattern("p", "harm_threat", 1, "a[ ]b")
    assert (len(score_text("a b", (pattern,)).matches),
            len(score_text("a-b", (pattern,)).matches)) == (1, 0)


def test_accents_in_a_pattern_match_text_with_or_without_them() -> None:
    pattern = _pattern("p", "personal_data_claim", 1, "información")
    assert score_text("información", (pattern,)).score == 1.0
    assert score_text("informacion", (pattern,)).score == 1.0


# ----------------------------------------------------------------------------------------
# The packaged data file


def test_default_patterns_cover_every_category_in_both_languages_several_times() -> None:
    counts = Counter((p.category, p.language) for p in PATTERNS)
    assert {(c, lang): counts[(c, lang)] >= 3 for c in CATEGORY_CAPS for lang in ("en", "es")
            } == {(c, lang): True for c in CATEGORY_CAPS for lang in ("en", "es")}


def test_every_packaged_pattern_has_examples() -> None:
    raw = yaml.safe_load(resources.files("spoofwatch.data").joinpath(
        "threat_patterns.yaml").read_text("utf-8"))
    assert [e["name"] for e in raw["patterns"] if not e.get("examples")] == []


def test_loading_the_packaged_file_by_path_gives_the_same_patterns() -> None:
    path = Path(str(resources.files("spoofwatch.data").joinpath("threat_patterns.yaml")))
    assert load_patterns(path) == PATTERNS


# ----------------------------------------------------------------------------------------
# Validation of pattern files

GOOD_ENTRY = {"name": "p1", "category": "harm_threat", "weight": 1.0, "language": "en",
              "regex": "we will come", "examples": ["We will come."]}
CATEGORIES = ("coercion_vote, false_voting_instruction, harm_threat, personal_data_claim, "
              "registration_change_demand")


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "patterns.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str)
                    else data, encoding="utf-8")
    return path


def entry(**changes: object) -> dict[str, object]:
    return {k: v for k, v in {**GOOD_ENTRY, **changes}.items() if v is not None}


def test_minimal_good_file_loads(tmp_path: Path) -> None:
    [pattern] = load_patterns(write(tmp_path, {"version": 1, "patterns": [entry()]}))
    assert (pattern.name, pattern.category, pattern.weight, pattern.language) == (
        "p1", "harm_threat", 1.0, "en")
    assert pattern.regex == expand_regex("we will come")


@pytest.mark.parametrize(("data", "problem"), [
    ("- just\n- a list\n", "top level: must be a mapping with a 'patterns' list"),
    ({"version": 1, "patterns": [], "extra": 1}, "top level: unknown key(s) extra"),
    ({"patterns": [GOOD_ENTRY]}, "version: must be 1"),
    ({"version": 1, "patterns": []}, "patterns: must be a non-empty list"),
    ({"version": 1, "patterns": ["text"]}, "patterns[0]: each pattern must be a mapping"),
    ({"version": 1, "patterns": [entry(colour="red")]}, "patterns[0] (p1): unknown key(s) colour"),
    ({"version": 1, "patterns": [entry(name="Bad Name")]},
     "patterns[0] (Bad Name): name must be a lower-case identifier (a-z, 0-9, _)"),
    ({"version": 1, "patterns": [entry(), entry()]},
     "patterns[1] (p1): duplicate pattern name 'p1'"),
    ({"version": 1, "patterns": [entry(category="rudeness")]},
     f"patterns[0] (p1): category 'rudeness' is not one of {CATEGORIES}"),
    ({"version": 1, "patterns": [entry(weight=9)]},
     "patterns[0] (p1): weight must be a number above 0 and at most the harm_threat cap 3"),
    ({"version": 1, "patterns": [entry(weight=True)]},
     "patterns[0] (p1): weight must be a number above 0 and at most the harm_threat cap 3"),
    ({"version": 1, "patterns": [entry(weight=0)]},
     "patterns[0] (p1): weight must be a number above 0 and at most the harm_threat cap 3"),
    ({"version": 1, "patterns": [entry(category=["harm_threat"])]},
     f"patterns[0] (p1): category ['harm_threat'] is not one of {CATEGORIES}"),
    ({"version": 1, "patterns": [entry(language=["en"])]},
     "patterns[0] (p1): language must be one of en, es"),
    ({"version": 1, "patterns": [entry(language="fr")]},
     "patterns[0] (p1): language must be one of en, es"),
    ({"version": 1, "patterns": [entry(regex=None)]}, "patterns[0] (p1): regex is required"),
    ({"version": 1, "patterns": [entry(regex="we (will")]},
     "patterns[0] (p1): regex does not compile: missing ), unterminated subpattern"),
    ({"version": 1, "patterns": [entry(regex="We will")]},
     "patterns[0] (p1): regex has upper-case letters, which never match normalized "
     "(case-folded) text"),
    ({"version": 1, "patterns": [entry(regex="vote {word}")]},
     "patterns[0] (p1): regex uses an unknown {macro}; known: {w}, {gap:N}"),
    ({"version": 1, "patterns": [entry(regex="(?:x)?", examples=[])]},
     "patterns[0] (p1): regex matches empty text"),
    ({"version": 1, "patterns": [entry(examples="We will come.")]},
     "patterns[0] (p1): examples must be a list of strings"),
    ({"version": 1, "patterns": [entry(examples=["We shall come."])]},
     "patterns[0] (p1): example 'We shall come.' does not match the regex"),
])
def test_bad_pattern_file_is_a_value_error_naming_file_and_entry(
        tmp_path: Path, data: object, problem: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ValueError) as err:
        load_patterns(path)
    assert str(err.value) == f"{path}: {problem}"


def test_invalid_yaml_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "patterns: [unclosed\n")
    with pytest.raises(ValueError, match=r"^" + str(path) + r": invalid YAML: "):
        load_patterns(path)


def test_missing_file_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ValueError, match=r"^" + str(path) + r": cannot read: "):
        load_patterns(path)


# ----------------------------------------------------------------------------------------
# The required-word prefilter changes no result


def test_the_prefilter_never_changes_a_score_on_the_corpus_and_the_pattern_examples() -> None:
    # A pattern is skipped when none of its required words is in the text; the same
    # patterns without requirements are always run. Both must score every text alike.
    unfiltered = tuple(replace(p, required=()) for p in PATTERNS)
    assert sum(1 for p in PATTERNS if p.required) == len(PATTERNS)
    texts = [r.text for r in threat_corpus.load()] + [THREAT, "u will v o t e"]
    data = yaml.safe_load(resources.files("spoofwatch.data").joinpath(
        "threat_patterns.yaml").read_text("utf-8"))
    texts += [e for entry in data["patterns"] for e in entry.get("examples", [])]
    for text in texts:
        normalized = normalize_text(text)
        assert score_text(normalized, PATTERNS) == score_text(normalized, unfiltered), text


def test_a_pattern_is_skipped_only_when_none_of_its_required_words_is_in_the_text() -> None:
    pattern = ThreatPattern("custom", "harm_threat", 0.7, "en", r"\b(?:boo|hiss)\b",
                            required=("boo", "hiss"))
    assert (score_text("a hiss here", (pattern,)).score,
            score_text("a ho here", (pattern,)).score) == (0.7, 0.0)
