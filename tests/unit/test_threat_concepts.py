"""Concept scoring of threats (spoofwatch.detect.threat_concepts): rewordings the literal
phrases miss, reported speech that must stay quiet, the cheap ways around the windows and
the reported-speech rule, the data file's checks, and linear cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spoofwatch.config import ConfigError, load_config
from spoofwatch.detect.text_normalize import normalize_text
from spoofwatch.detect.threat_concepts import (
    ConceptScore,
    ConceptsError,
    load_concepts,
    model_from_data,
    score_concepts,
)
from support.cputime import least_cpu

MODEL = load_concepts()
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def score(text: str) -> ConceptScore:
    return score_concepts(normalize_text(text), MODEL)


def fires(text: str) -> bool:
    return score(text).score >= 3


# Rewordings named in the issue and their like: none of them uses a 2020 phrase.
REWORDED_THREATS = [
    "Expect a knock on your door if you show up at the polls.",
    "Vote for the Democrat and we'll find you.",
    "If your ballot goes to the Democrats, there will be consequences for you and your "
    "family.",
    "We went through the voter rolls. We know your address. Vote Trump or else.",
    "Pick the wrong candidate and you won't see Christmas.",
    "Vote for the bond and your house burns.",
    "We will know who you voted for. Every ballot in your county passes through our hands.",
    "Your employer will receive a list of staff who voted Democrat. You do not want to be "
    "on it.",
    "Your registration has been cancelled. Do not report to your polling place on Tuesday.",
    "Democrats vote on Wednesday this year.",
    "u vote trump or we come 4 u. w3 kn0w where u live",
    "V o t e  for Trump or we will come after you.",
    "Si votas por el candidato equivocado, te vamos a buscar. Sabemos dónde vives.",
    "Tenemos tus datos. Vota por Trump o sufrirás las consecuencias.",
]

# Political mail that names the same ideas without threatening anyone.
LEGITIMATE = [
    "We will come to your door this weekend! Volunteers from the Yes on 4 campaign will be "
    "in your neighborhood Saturday.",
    "Hi neighbor, expect a knock on your door this Sunday. It's just us, your local "
    "Democratic club, with a flyer about the library levy.",
    'Voters reported receiving emails telling them to back Trump "or we will come after '
    'you." Election officials said the messages were fake.',
    'Is this real?? Got this in my inbox: "You are registered as a Democrat. We have your '
    'information. Vote Trump or else we come after you." Should I call the police?',
    "If someone threatens you for voting, save the message and report it to the FBI.",
    "Your employer cannot fire you or threaten your job because of how you vote.",
    "Polls are open today from 7 a.m. to 8 p.m. Find your polling place and bring a friend!",
    "Your mail ballot has been received and accepted. Thank you for voting.",
    "Don't stay home this election: our kids' schools are on the ballot. Vote yes on the levy.",
    "Fwd: strange text. Mom, is this legit? ---------- Forwarded message --------- Your "
    "registration was cancelled and you may not vote. Reply STOP.",
    "La policía busca a quien pintó \"vota mal y arde\" en una oficina de campaña.",
]


@pytest.mark.parametrize("text", REWORDED_THREATS)
def test_a_reworded_threat_fires_a_concept_rule(text: str) -> None:
    assert fires(text), score(text)


@pytest.mark.parametrize("text", LEGITIMATE)
def test_legitimate_political_mail_fires_no_rule(text: str) -> None:
    result = score(text)
    assert (result.score, result.hit) == (0.0, None)


def test_the_reason_names_the_concepts_and_the_sentence() -> None:
    result = score("Thank you for reading. We meet on Monday at the hall downtown. "
                   "Pick the wrong candidate and you won't see Christmas.")
    assert result.hit is not None
    assert (result.hit.rule, result.reason()) == (
        "harm_to_a_voter", "harm_strong + vote + reader, sentence 1")


# ---------------------------------------------------------------- the forger's cheap tricks

def test_short_filler_sentences_cannot_split_a_threat_out_of_one_window() -> None:
    halves = "We know where you live. Nice. Day. Today. Sunny. Warm. Vote Trump or else."
    assert fires(halves)
    # the window itself is three sentences: long sentences in between do split it
    apart = ("We know where you live. The weather this week has been warm and sunny. "
             "The leaves are turning on every street in town. The farmers market opens at "
             "nine on Saturday morning. Vote Trump or else.")
    assert not fires(apart)


def test_hoax_words_inside_a_first_person_threat_do_not_make_it_reported_speech() -> None:
    assert fires("No hoax, no fake: we will find you if you vote for the Democrat.")
    # the same words in third person are a report
    assert not fires("Officials said the fake email claimed they would find voters who "
                     "vote for the Democrat.")


def test_a_forward_separator_at_the_top_does_not_quote_the_threat() -> None:
    assert fires("---------- Forwarded message --------- We know where you live. "
                 "Vote Trump on Tuesday or we will come after you.")


def test_an_unclosed_quotation_mark_does_not_quote_the_rest() -> None:
    assert fires('Officials said: " We know where you live. Vote Trump on Tuesday or we '
                 "will come after you." + " And more." * 30)


def test_reported_quotes_stay_quiet_only_when_the_message_reports() -> None:
    quoted = '"We know where you live. Vote Trump on Tuesday or we will come after you."'
    assert fires(quoted)  # a message that is nothing but a quote is read as said
    assert not fires("Voters said they received this: " + quoted)


# ---------------------------------------------------------------- the data file

BASE = {
    "version": 1,
    "concepts": {"reader": {"en": ["you"]}, "vote": {"en": ["vot*"]},
                 "reporting": {"en": ["said"]}},
    "rules": [{"name": "r", "needs": ["reader", "vote"], "weight": 3}],
}


def with_(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


@pytest.mark.parametrize(("data", "message"), [
    (with_(version=2), "version: 1"),
    (with_(rules=[{"name": "r", "needs": ["nope"], "weight": 3}]), "known concepts"),
    (with_(rules=[{"name": "r", "needs": ["reporting"], "weight": 3}]), "cannot be needed"),
    (with_(rules=[{"name": "r", "needs": ["vote"], "weight": 0}]), "positive number"),
    (with_(concepts={**BASE["concepts"], "x": {"en": ["a b c d e f g h i"]}}),  # type: ignore[dict-item]
     "more than 8 words"),
    (with_(concepts={**BASE["concepts"], "x": {"en": ["vo*"]}}),  # type: ignore[dict-item]
     "at least 3 letters"),
    (with_(concepts={**BASE["concepts"], "x": {"en": [True]}}),  # type: ignore[dict-item]
     "non-empty string"),
    (with_(concepts={**BASE["concepts"], "x": {"fr": ["vote"]}}),  # type: ignore[dict-item]
     "term lists under"),
    (with_(concepts={"reader": {"en": ["you"]}, "vote": {"en": ["vote"]}}),
     "must define 'reporting'"),
])
def test_a_malformed_concepts_file_is_refused_with_its_reason(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConceptsError, match=message):
        model_from_data(data)


def test_the_configuration_names_a_bad_concepts_file(tmp_path: Path) -> None:
    (tmp_path / "concepts.yaml").write_text("version: 1\nconcepts: [\n")
    config = tmp_path / "spoofwatch.yaml"
    config.write_text(f"authserv_id: mx.example.org\npolicy: {POLICIES}/default.yaml\n"
                      "threat_concepts: concepts.yaml\n")
    with pytest.raises(ConfigError, match="threat_concepts.*invalid YAML"):
        load_config(config)
    (tmp_path / "concepts.yaml").unlink()
    with pytest.raises(ConfigError, match="threat_concepts.*cannot read"):
        load_config(config)


# ---------------------------------------------------------------- spelling

def test_the_spelling_exclusions_match_the_term_lists_and_the_word_lists() -> None:
    # scripts/setup.sh --test installs Debian's wamerican and wspanish; a missing list is
    # a failure here, not a skip
    script = Path(__file__).resolve().parents[2] / "scripts" / "update-spelling-exclusions.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                            text=True, check=False, timeout=120)
    assert (result.returncode, result.stderr) == (0, ""), "run the script: it is stale"


@pytest.mark.parametrize(("slip", "read_as"), [
    ("infromation", "information"), ("adress", "address"), ("electoin", "election"),
    ("registartion", "registration"),
    # real words and reporting words are never the target of a correction
    ("ones", "ones"), ("gave", "gave"), ("same", "same"), ("also", "also"),
    ("treat", "treat"), ("mente", "mente"),
])
def test_a_slip_is_read_as_the_term_word_unless_it_is_a_real_word(slip: str,
                                                                   read_as: str) -> None:
    assert MODEL.misspelled.get(slip, slip) == read_as


# ---------------------------------------------------------------- cost

def test_scoring_cost_grows_linearly_with_the_text() -> None:
    sentence = "We will meet you at the polls on Tuesday, bring a friend and vote. "
    small, large = sentence * 1_500, sentence * 15_000  # about 100 KB and 1 MB
    unique_small = " ".join(f"w{i}x" for i in range(15_000))  # distinct words: cache churn
    unique_large = " ".join(f"w{i}x" for i in range(150_000))
    for a, b in ((small, large), (unique_small, unique_large)):
        ratio = least_cpu(lambda b=b: score(b)) / least_cpu(lambda a=a: score(a))
        assert ratio < 25, ratio  # 10 times the text; quadratic would be about 100
