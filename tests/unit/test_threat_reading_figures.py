"""The threat reading's figures on the labelled corpora, in the test command.

The reading is the threat check's own (``threat.read_content``: literal phrases, concept
rules and the learned reading, reports read by the concepts alone), on each text as a
reader sees it. The train part of tests/data/threat_corpus/ and the sets threat_dev,
threat_dev2, threat_dev3 and threat_train of tests/data/ (written later by other authors,
independently of the corpus and of the word lists) are what the concept lists were tuned
on and what the learned reading was trained on; the held-out part was never looked at, only
counted (six times, by bench/threat_corpus.py and this test: docs/detection.md has each
run). Its counts are pinned as a floor so that a change which loses held-out threats or
flags held-out legitimate mail fails here, and the one who makes it must say so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from spoofwatch.detect.content import load_patterns
from spoofwatch.detect.threat import read_content
from spoofwatch.detect.threat_concepts import load_concepts
from support.threat_corpus import LABELS, LANGUAGES, Record, load, parse

PATTERNS = load_patterns()
CONCEPTS = load_concepts()
DATA = Path(__file__).resolve().parents[1] / "data"
MIN_SCORE = 3.0  # the bundled policies' threat_min_score
DEVELOPMENT_SETS = ("threat_dev", "threat_dev2", "threat_dev3", "threat_train")


def development_set(name: str = "threat_dev") -> list[Record]:
    return [record for label in LABELS for language in LANGUAGES
            for record in parse((DATA / name / f"{label}_{language}.txt").read_text("utf-8"),
                                label, language, f"{name}/{label}_{language}.txt")]


def flagged(records: list[Record]) -> Counter[tuple[str, str]]:
    """(language, label) -> how many texts of it the reading calls a threat."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in records:
        if read_content(r.text, PATTERNS, CONCEPTS).score >= MIN_SCORE:
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
    # (language, label): texts flagged. Every set here is training data of the learned
    # reading (scripts/train-threat-model.py), so these are in-sample counts: what they
    # guard is that a change of the reading is seen, not how well it generalises (the
    # first-look and held-out figures in docs/detection.md say that).
    ("train", {("en", "threat"): 134, ("es", "threat"): 104}),
    ("threat_dev", {("en", "threat"): 130, ("es", "threat"): 100}),
    ("threat_dev2", {("en", "threat"): 119, ("es", "threat"): 100}),
    # the legitimate texts flagged in the two newest sets are the concept rules' (attack
    # ads "coming for your guns", union letters to legislators, notices that a credential
    # expired); the learned reading flags none of them
    ("threat_dev3", {("en", "threat"): 78, ("es", "threat"): 70, ("en", "legit"): 10,
                     ("es", "legit"): 9}),
    ("threat_train", {("en", "threat"): 234, ("es", "threat"): 208, ("en", "legit"): 14,
                      ("es", "legit"): 12}),
])
def test_the_tuned_parts_flag_these_threats_and_legitimate_texts(
    part: str, expected: dict[tuple[str, str], int]
) -> None:
    records = load(split="train") if part == "train" else development_set(part)
    assert dict(flagged(records)) == expected


def test_the_learned_reading_alone_flags_no_legitimate_text_it_was_trained_on() -> None:
    records = load(split="train") + [r for name in DEVELOPMENT_SETS
                                     for r in development_set(name)]
    fired = [r.id for r in records if r.label == "legit"
             and read_content(r.text, PATTERNS, CONCEPTS).learned_fired]
    assert fired == []


def test_the_held_out_part_keeps_at_least_its_measured_figures() -> None:
    counts = flagged(load(split="heldout"))
    # run 6, the learned reading after the red-team review (docs/detection.md): en 35/57
    # threats, 1/60 legit flagged; es 26/47 threats, 1/41 legit
    assert counts[("en", "threat")] >= 35 and counts[("es", "threat")] >= 26, counts
    assert counts[("en", "legit")] <= 1 and counts[("es", "legit")] <= 1, counts
