"""The labelled threat corpus itself (tests/data/threat_corpus/): its size, its fixed
held-out part, and that its texts are distinct and not copied from the seed message.

The figures the threat check reaches on it come from bench/threat_corpus.py and are
recorded in docs/detection.md.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter

import pytest
from rapidfuzz import fuzz

from support import seeds
from support.threat_corpus import (
    LABELS,
    LANGUAGES,
    CorpusFormatError,
    Record,
    corpus_file,
    load,
    parse,
)

MINIMUM = {("threat", "en"): 180, ("threat", "es"): 120,
           ("legit", "en"): 180, ("legit", "es"): 120}
HELDOUT_SHARE = 0.30
SHARE_TOLERANCE = 0.02
NEAR_DUPLICATE_RATIO = 95
SHINGLE_WORDS = 8
FILES = list(itertools.product(LABELS, LANGUAGES))


def _normal(text: str) -> str:
    """Case, accents, punctuation and spacing folded: what a near-duplicate hides behind."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", letters))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _normal(text).split()
    return {tuple(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def _records(label: str, language: str) -> list[Record]:
    return load(label, language)


def test_each_file_holds_at_least_the_minimum_number_of_texts() -> None:
    counts = {key: len(_records(*key)) for key in FILES}
    assert {key: count >= MINIMUM[key] for key, count in counts.items()} == {
        key: True for key in FILES}, counts
    assert sum(counts[("threat", lang)] for lang in LANGUAGES) >= 300
    assert sum(counts[("legit", lang)] for lang in LANGUAGES) >= 300


def test_ids_are_unique_across_the_corpus() -> None:
    ids = Counter(r.id for r in load())
    assert [i for i, n in ids.items() if n > 1] == []


@pytest.mark.parametrize(("label", "language"), FILES)
def test_every_record_names_its_split_and_kind(label: str, language: str) -> None:
    records = _records(label, language)
    assert {r.split for r in records} == {"train", "heldout"}
    assert [r.id for r in records if not r.kind or not r.id.startswith(f"{label}-{language}-")
            ] == []


@pytest.mark.parametrize(("label", "language"), FILES)
def test_thirty_percent_of_each_file_is_held_out(label: str, language: str) -> None:
    records = _records(label, language)
    share = sum(r.split == "heldout" for r in records) / len(records)
    assert abs(share - HELDOUT_SHARE) <= SHARE_TOLERANCE, share


@pytest.mark.parametrize(("label", "language"), FILES)
def test_thirty_percent_of_each_category_is_held_out(label: str, language: str) -> None:
    # per category, the rounded 30 % exactly: no category is all train or all held out
    records = _records(label, language)
    wrong = {}
    for kind in sorted({r.kind for r in records}):
        of_kind = [r for r in records if r.kind == kind]
        held = sum(r.split == "heldout" for r in of_kind)
        if held != round(HELDOUT_SHARE * len(of_kind)):
            wrong[kind] = (held, len(of_kind))
    assert wrong == {}


@pytest.mark.parametrize(("label", "language"), FILES)
def test_no_two_texts_of_a_file_are_the_same_after_normalising(label: str,
                                                               language: str) -> None:
    normals = Counter(_normal(r.text) for r in _records(label, language))
    assert [text for text, n in normals.items() if n > 1] == []


@pytest.mark.parametrize(("label", "language"), FILES)
def test_no_two_texts_of_a_file_are_near_duplicates(label: str, language: str) -> None:
    records = _records(label, language)
    normals = [_normal(r.text) for r in records]
    pairs = [(records[i].id, records[j].id)
             for i, j in itertools.combinations(range(len(records)), 2)
             if fuzz.ratio(normals[i], normals[j], score_cutoff=NEAR_DUPLICATE_RATIO)]
    assert pairs == []


def test_no_text_shares_eight_words_in_a_row_with_the_seed_message() -> None:
    seed_shingles = set().union(*(_shingles(t) for t in (
        seeds.THREAT_EN, seeds.THREAT_PARAPHRASE, seeds.THREAT_ES, seeds.SUBJECT)))
    assert seed_shingles  # the seed texts are long enough to be compared at all
    copied = [r.id for r in load() if _shingles(r.text) & seed_shingles]
    assert copied == []


def test_a_record_without_a_header_is_a_format_error() -> None:
    with pytest.raises(CorpusFormatError, match=r"x\.txt:4: expected"):
        parse("# id=a-1; split=train; kind=harm\nfirst\n%%\nno header here\n",
              "threat", "en", "x.txt")


def test_a_header_without_text_is_a_format_error() -> None:
    with pytest.raises(CorpusFormatError, match="record a-2 has no text"):
        parse("# id=a-1; split=train; kind=harm\nfirst\n%%\n# id=a-2; split=heldout; "
              "kind=harm\n\n", "threat", "en", "x.txt")


def test_a_record_spanning_lines_keeps_its_lines() -> None:
    source = "# id=a-1; split=heldout; kind=news\nline one\n\nline two\n%%\n"
    assert parse(source, "legit", "es") == [
        Record("a-1", "legit", "es", "heldout", "news", "line one\n\nline two")]


def test_the_corpus_files_are_where_the_loader_looks() -> None:
    assert [corpus_file(*key).name for key in FILES] == [
        "threat_en.txt", "threat_es.txt", "legit_en.txt", "legit_es.txt"]
