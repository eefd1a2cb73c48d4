"""The threat reading's figures on the labelled corpora, in the test command.

The reading is the threat check's own (``threat.read_content``: literal phrases, concept
rules and the learned reading, reports read by the concepts alone), on each text as a
reader sees it. The train part of tests/data/threat_corpus/ and the sets threat_dev,
threat_dev2, threat_dev3 and threat_train of tests/data/ (written later by other authors,
independently of the corpus and of the word lists) are what the concept lists were tuned
on and what the learned reading was trained on; the held-out part was never looked at, only
counted (seven times, by bench/threat_corpus.py and this test: docs/detection.md has each
run). Its counts are pinned as a floor so that a change which loses held-out threats or
flags held-out legitimate mail fails here, and the one who makes it must say so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from spoofwatch.detect.content import load_patterns
from spoofwatch.detect.threat import read_content
from spoofwatch.detect.threat_concepts import ConceptModel, load_concepts
from support.threat_corpus import Record, load, load_set

PATTERNS = load_patterns()
CONCEPTS = load_concepts()  # phrases and concept rules alone (threat_learned: false)
LEARNED = load_concepts(learned=True)  # the default reading, with the learned one
DATA = Path(__file__).resolve().parents[1] / "data"
MIN_SCORE = 3.0  # the bundled policies' threat_min_score
DEVELOPMENT_SETS = ("threat_dev", "threat_dev2", "threat_dev3", "threat_train",
                    "threat_train2")
# Written for evaluation only, by an author who read neither the corpus, the word lists nor
# the code (2026-12-07); every record is split=heldout, so the training script never reads
# it, and nothing was tuned on it.
FRESH_SET = "threat_fresh"


def development_set(name: str = "threat_dev") -> list[Record]:
    return load_set(name)


def flagged(records: list[Record], concepts: ConceptModel = CONCEPTS
            ) -> Counter[tuple[str, str]]:
    """(language, label) -> how many texts of it the reading calls a threat."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in records:
        if read_content(r.text, PATTERNS, concepts).score >= MIN_SCORE:
            counts[(r.language, r.label)] += 1
    return counts


def totals(records: list[Record]) -> Counter[tuple[str, str]]:
    return Counter((r.language, r.label) for r in records)


@pytest.mark.parametrize(("name", "sizes"), [
    ("threat_dev", {("en", "threat"): 130, ("es", "threat"): 100, ("en", "legit"): 130,
                    ("es", "legit"): 100}),
    ("threat_dev2", {("en", "threat"): 120, ("es", "threat"): 100, ("en", "legit"): 120,
                     ("es", "legit"): 100}),
    ("threat_dev3", {("en", "threat"): 80, ("es", "threat"): 70, ("en", "legit"): 80,
                     ("es", "legit"): 70}),
    ("threat_train", {("en", "threat"): 240, ("es", "threat"): 210, ("en", "legit"): 248,
                      ("es", "legit"): 215}),
    ("threat_train2", {("en", "threat"): 450, ("es", "threat"): 410, ("en", "legit"): 330,
                       ("es", "legit"): 310}),
    (FRESH_SET, {("en", "threat"): 80, ("es", "threat"): 70, ("en", "legit"): 80,
                 ("es", "legit"): 70}),
])
def test_the_development_sets_are_well_formed_and_apart_from_the_corpus(
    name: str, sizes: dict[tuple[str, str], int]
) -> None:
    dev = development_set(name)
    assert dict(totals(dev)) == sizes
    assert len({r.id for r in dev}) == len(dev)
    corpus_texts = {" ".join(r.text.split()) for r in load()}
    assert [r.id for r in dev if " ".join(r.text.split()) in corpus_texts] == []


@pytest.mark.parametrize(("part", "expected"), [
    # (language, label): texts the phrases and concept rules alone (threat_learned: false)
    # flag; the concept lists were tuned on the train part and threat_dev
    ("train", {("en", "threat"): 127, ("es", "threat"): 96}),
    ("threat_dev", {("en", "threat"): 106, ("es", "threat"): 82}),
    # the sets below were not used to tune the lists: about what a new author's threats get
    ("threat_dev2", {("en", "threat"): 44, ("es", "threat"): 32}),
    # the legitimate texts flagged: attack ads "coming for your guns", union letters to
    # legislators, notices that a credential expired
    ("threat_dev3", {("en", "threat"): 31, ("es", "threat"): 28, ("en", "legit"): 10,
                     ("es", "legit"): 8}),
    ("threat_train", {("en", "threat"): 83, ("es", "threat"): 65, ("en", "legit"): 14,
                      ("es", "legit"): 12}),
    # GOTV deadlines, ID reminders and union letters that name a job: the rules' false
    # hits on the hard negatives of the newest set (docs/detection.md)
    ("threat_train2", {("en", "threat"): 162, ("es", "threat"): 105, ("en", "legit"): 30,
                       ("es", "legit"): 35}),
])
def test_the_rules_alone_flag_these_threats_and_legitimate_texts(
    part: str, expected: dict[tuple[str, str], int]
) -> None:
    records = load(split="train") if part == "train" else development_set(part)
    assert dict(flagged(records)) == expected


@pytest.mark.parametrize(("part", "expected"), [
    # the default reading, with the learned reading: every set here is its training data,
    # so these are in-sample counts that show a change of the reading, not how well it
    # generalises (the held-out part and threat_fresh say that)
    ("train", {("en", "threat"): 133, ("es", "threat"): 103}),
    ("threat_dev", {("en", "threat"): 128, ("es", "threat"): 100}),
    ("threat_dev2", {("en", "threat"): 101, ("es", "threat"): 87}),
    # the legitimate texts flagged are the rules' (as with the rules alone, above)
    ("threat_dev3", {("en", "threat"): 67, ("es", "threat"): 63, ("en", "legit"): 10,
                     ("es", "legit"): 8}),
    ("threat_train", {("en", "threat"): 186, ("es", "threat"): 167, ("en", "legit"): 14,
                      ("es", "legit"): 12}),
    ("threat_train2", {("en", "threat"): 363, ("es", "threat"): 320, ("en", "legit"): 30,
                       ("es", "legit"): 35}),
])
def test_with_the_learned_reading_the_parts_flag_these_texts(
    part: str, expected: dict[tuple[str, str], int]
) -> None:
    records = load(split="train") if part == "train" else development_set(part)
    assert dict(flagged(records, LEARNED)) == expected


def test_the_learned_reading_alone_flags_no_legitimate_text_it_was_trained_on() -> None:
    records = load(split="train") + [r for name in DEVELOPMENT_SETS
                                     for r in development_set(name)]
    fired = [r.id for r in records if r.label == "legit"
             and read_content(r.text, PATTERNS, LEARNED).learned_fired]
    assert fired == []


def test_a_rule_counts_by_itself_where_the_learned_reading_scores_the_text_low() -> None:
    # run 13 let the learned reading's score veto a rule; one inserted word ("really")
    # that splits the pairs the score rests on then silenced the rule (docs/detection.md)
    for text in ("If you vote for the levy we will kill your dog.",
                 "If you vote for the levy we will kill really your dog."):
        reading = read_content(text, PATTERNS, LEARNED)
        assert reading.concepts.hit is not None and reading.score == 3.0, text
    assert read_content("If you vote for the levy we will kill really your dog.", PATTERNS,
                        LEARNED).concepts.learned.score < 0


def test_the_held_out_part_keeps_at_least_its_measured_figures() -> None:
    counts = flagged(load(split="heldout"))
    # the phrases and rules alone, run 3 (docs/detection.md): en 30/57 threats, 1/60 legit
    # flagged; es 18/47 threats, 0/41 legit
    assert counts[("en", "threat")] >= 30 and counts[("es", "threat")] >= 18, counts
    assert counts[("en", "legit")] <= 1 and counts[("es", "legit")] == 0, counts


def test_with_the_learned_reading_the_held_out_part_keeps_its_measured_figures() -> None:
    counts = flagged(load(split="heldout"), LEARNED)
    # run 14, the default reading with the shipped model (docs/detection.md): en 33/57
    # threats, 1/60 legit flagged; es 22/47 threats, 0/41 legit
    assert counts[("en", "threat")] >= 33 and counts[("es", "threat")] >= 22, counts
    assert counts[("en", "legit")] <= 1 and counts[("es", "legit")] == 0, counts


def test_the_fresh_set_keeps_at_least_its_first_figures() -> None:
    counts = flagged(development_set(FRESH_SET), LEARNED)
    # run 14, the default reading (docs/detection.md): en 59/80 threats, 8/80 legit
    # flagged; es 39/70 threats, 10/70 legit
    assert counts[("en", "threat")] >= 59 and counts[("es", "threat")] >= 39, counts
    assert counts[("en", "legit")] <= 8 and counts[("es", "legit")] <= 10, counts


def test_the_fresh_set_is_held_out_and_apart_from_every_training_text() -> None:
    fresh = development_set(FRESH_SET)
    assert {r.split for r in fresh} == {"heldout"}
    training = {" ".join(r.text.split()) for name in DEVELOPMENT_SETS
                for r in development_set(name)}
    assert [r.id for r in fresh if " ".join(r.text.split()) in training] == []
    script = (DATA.parent.parent / "scripts" / "train-threat-model.py").read_text("utf-8")
    assert FRESH_SET not in script
