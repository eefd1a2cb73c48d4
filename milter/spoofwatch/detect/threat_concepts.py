"""Concept scoring of threats: which ideas a text combines, sentence by sentence.

The literal phrases of ``threat_patterns.yaml`` (:mod:`.content`) know the 2020 wording; a
forger who has read them rewords. This scorer reads *concepts* instead (harm, pursuit,
surveillance, knowledge of the reader's data, leverage over a job, a family or a
residence, false official notices, a vote, a demand, who speaks to whom), each a list of
terms in ``spoofwatch/data/threat_concepts.yaml``, and applies the file's rules: a rule
fires when all of its concepts occur in one window of three consecutive sentences.
Sentences that report (news, forwards, advice about threatening mail) give no concepts,
nor does quoted text in a message that reports anything (the data file's header explains).

Written here rather than taken from a library: the matching is a dictionary lookup per
word (plus one per distinct prefix length for ``word*`` terms), linear in the text and
cheaper per megabyte than a lemmatizer, which would cost a dictionary lookup per word on
top of this and still need the same lists of what each concept is. A multi-pattern regex
engine would need one alternation per concept and a second pass to find sentences.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .content import fold_accents
from .data_file import read_data_file
from .threat_learned import (
    RUN_ON_WORDS,
    LearnedHit,
    LearnedModel,
    LearnedWindows,
    load_learned,
    stem_of,
)

__all__ = [
    "ConceptHit",
    "ConceptModel",
    "ConceptScore",
    "ConceptsError",
    "load_concepts",
    "score_concepts",
]

_DEFAULT_FILE = "threat_concepts.yaml"
REAL_WORDS_FILE = "real_words_near_terms.txt"
WINDOW = 3  # sentences a rule's concepts may spread over
# A sentence shorter than this joins the next one in a window place (see _Unit).
_MIN_UNIT_WORDS = 4
_FIRST_TO_SECOND = frozenset({"speaker", "reader"})
_MENACE = frozenset({"harm_strong", "harm_act", "harm_veiled", "pursuit_strong", "pursuit"})
_MAX_TERM_WORDS = 8
# A quotation mark opens a quote only when another closes it within this many words: an
# unclosed mark cannot turn the rest of a message into "quoted" text.
_MAX_QUOTE_WORDS = 80
_QUOTES = '"'
# The separator mail programs put above a forwarded message, in English and Spanish.
_FORWARD = re.compile(r"\b(?:forwarded message|original message|begin forwarded"
                      r"|mensaje reenviado|mensaje original)\b")
_WORD = re.compile(r"[^\W_]+")
_MIN_FORWARD_WORDS = 4
# Marks a reader reads through inside a word ("sha-me", "bu/rn", "v·o·t·e"; dashes are
# ASCII hyphens after normalize_text), besides a hyphen with a space after it (a word
# hyphenated at a line's end, as a mail program shows it) and an apostrophe that does not
# start an English contraction's ending ("sh'ame", not "we'll": "we" and "ll" as before).
_IN_WORD = "_/~*|+\u00b7\u2022\u2027\u2043\u2219\u22c5\u30fb\u2e31\u058a\u2e17"
_SEPARATOR = (rf"(?:- ?|[{re.escape(_IN_WORD)}]"
              r"|'(?!(?:t|s|re|ll|ve|d|m)(?![^\W_])))")
# A word, with any pieces joined to it by those marks (read by WordReader), a quotation
# mark, or a run of sentence-ending marks.
_TOKEN = re.compile(rf"[^\W_]+(?:{_SEPARATOR}[^\W_]+)*|\"|[.!?;]+")
_JOINER = re.compile(rf"- ?|[{re.escape(_IN_WORD)}]|'")
_ABBREVIATIONS = frozenset({"mr", "ms", "dr", "st", "sr", "jr", "av", "pm", "am", "mrs", "sra",
                            "sgt", "ave", "apt", "rep", "sen", "gov", "dept",
                            "depto", "blvd", "calle", "vs", "etc", "rd"})
_TERM_WORD = re.compile(r"[a-z0-9]+\*?")
# The per-message cache of each distinct word's candidate terms is dropped past this size,
# so a text of millions of distinct made-up words costs time, not memory.
_WORD_CACHE_MAX = 50_000
_CHUNK = 64 * 1024  # characters tokenized at a time
_RATED_MAX = 4096  # concept sets whose strongest rule a message remembers
_MIN_SPELLED = 5  # shorter words have too many real-word neighbours to be corrected
REPORTING = "reporting"
LANGUAGES = ("en", "es")


class ConceptsError(ValueError):
    """The concepts file is malformed (the message names the entry)."""


@dataclass(frozen=True)
class _Term:
    concept: str
    words: tuple[str, ...]  # "word" or "prefix*"


class _Node:
    """A node of the term trie: the words that may follow, and the concepts of the terms
    that end here."""

    __slots__ = ("exact", "prefixes", "concepts")

    def __init__(self) -> None:
        self.exact: dict[str, _Node] = {}
        self.prefixes: dict[str, _Node] = {}  # stem -> node, for "stem*" words
        self.concepts: frozenset[str] = frozenset()

    def child(self, word: str) -> _Node:
        if word.endswith("*"):
            return self.prefixes.setdefault(word[:-1], _Node())
        return self.exact.setdefault(word, _Node())

    def steps(self, word: str) -> list[_Node]:
        found = ([n for stem, n in self.prefixes.items() if word.startswith(stem)]
                 if self.prefixes else [])
        node = self.exact.get(word)
        if node is not None:
            found.append(node)
        return found


@dataclass(frozen=True)
class Rule:
    name: str
    needs: frozenset[str]
    weight: float
    # False: the rule does not fire in a message that reports something (a warning about
    # false notices repeats them, word for word, with no one threatened).
    in_reports: bool = True
    unless: frozenset[str] = frozenset()  # concepts that stop the rule in the window

    def holds(self, concepts: frozenset[str]) -> bool:
        """Whether the rule fires on a window holding these concepts."""
        return self.needs <= concepts and not self.unless & concepts


@dataclass(frozen=True)
class ConceptModel:
    """Loaded concepts: the terms as a trie of words, and the rules."""

    rules: tuple[Rule, ...]
    root: _Node  # the trie of every term, word by word
    # the root's "stem*" children by stem length, so a word finds them in one lookup each
    root_prefixes: Mapping[int, Mapping[str, _Node]]
    # misspellings of the terms' words: a missing letter or two letters swapped
    misspelled: Mapping[str, str]
    # text-speak and short forms, read as the word they stand for ("ur" -> "your")
    respell: Mapping[str, str]
    # words that give concepts when first in a sentence (the imperative "Vote Smith.")
    sentence_starts: Mapping[str, frozenset[str]]
    # the learned reading fed by the same pass over the words (threat_learned.py), if any
    learned: LearnedModel | None = None
    # every whole word of the terms: what WordReader knows besides the learned reading's
    # vocabulary
    term_words: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConceptHit:
    rule: str
    concepts: tuple[str, ...]  # the rule's concepts, in the file's order
    sentence: int  # 1-based number of the window's first sentence
    weight: float


@dataclass(frozen=True)
class ConceptScore:
    score: float
    hit: ConceptHit | None  # the strongest rule that fired (the first of equals)
    # The message reports something: a reporting sentence frames a quotation, or a
    # forwarder's note reports (see _Windows). Literal threat phrases in it may be
    # quotations, and only the concept reading, which knows what is quoted, is trusted.
    reports: bool = False
    reports_anywhere: bool = False  # some sentence has a reporting term
    learned: LearnedHit | None = None  # the learned reading's best window, if it ran

    @property
    def learned_fired(self) -> bool:
        return self.learned is not None and self.learned.fired

    def reason(self) -> str:
        """``harm_strong + vote + reader, sentence 2`` (empty when nothing fired)."""
        if self.hit is None:
            return ""
        return f"{' + '.join(self.hit.concepts)}, sentence {self.hit.sentence}"


# ----------------------------------------------------------------------------------------
# Loading


def _term(concept: str, source: Any, where: str) -> _Term:
    if not isinstance(source, str) or not source.strip():
        raise ConceptsError(f"{where}: a term must be a non-empty string, not {source!r}")
    folded = fold_accents(source.lower())
    words = tuple(_TERM_WORD.findall(folded))
    if "".join(words).replace("*", "") != re.sub(r"[^a-z0-9]", "", folded) or not words:
        raise ConceptsError(f"{where}: term {source!r}: write words of letters and digits, "
                            "and 'word*' for a prefix")
    if len(words) > _MAX_TERM_WORDS:
        raise ConceptsError(f"{where}: term {source!r} has more than {_MAX_TERM_WORDS} words")
    if any(w.endswith("*") and len(w) < 4 for w in words):
        raise ConceptsError(f"{where}: term {source!r}: a prefix needs at least 3 letters")
    return _Term(concept, words)


def _terms(concepts: Any) -> list[_Term]:
    if not isinstance(concepts, dict) or not concepts:
        raise ConceptsError("'concepts' must be a mapping of concept names to languages")
    terms: list[_Term] = []
    for name, by_language in concepts.items():
        if not isinstance(by_language, dict) or set(by_language) - set(LANGUAGES):
            raise ConceptsError(f"concept {name!r}: give term lists under {LANGUAGES}")
        for language, sources in by_language.items():
            if not isinstance(sources, list):
                raise ConceptsError(f"concept {name!r}/{language}: a list of terms")
            terms.extend(_term(name, s, f"concept {name!r}/{language}") for s in sources)
    return terms


def _rules(source: Any, concepts: frozenset[str]) -> tuple[Rule, ...]:
    if not isinstance(source, list) or not source:
        raise ConceptsError("'rules' must be a non-empty list")
    rules = []
    for entry in source:
        if not isinstance(entry, dict) or not {"name", "needs", "weight"} <= set(entry) or (
                set(entry) - {"name", "needs", "weight", "in_reports", "unless"}):
            raise ConceptsError(f"rule {entry!r}: give name, needs, weight (and in_reports, "
                                "unless)")
        in_reports = entry.get("in_reports", True)
        if not isinstance(in_reports, bool):
            raise ConceptsError(f"rule {entry['name']!r}: in_reports is true or false")
        needs = entry["needs"]
        if not isinstance(needs, list) or not needs or not set(needs) <= concepts:
            raise ConceptsError(f"rule {entry['name']!r}: needs must list known concepts "
                                f"({', '.join(sorted(concepts))})")
        if REPORTING in needs:
            raise ConceptsError(f"rule {entry['name']!r}: {REPORTING!r} cannot be needed")
        weight = entry["weight"]
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise ConceptsError(f"rule {entry['name']!r}: weight must be a positive number")
        unless = entry.get("unless", [])
        if not isinstance(unless, list) or not set(unless) <= concepts:
            raise ConceptsError(f"rule {entry['name']!r}: unless must list known concepts")
        rules.append(Rule(str(entry["name"]), frozenset(needs), float(weight), in_reports,
                          frozenset(unless)))
    return tuple(rules)


def model_from_data(data: Any) -> ConceptModel:
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConceptsError("the concepts file must be a mapping with 'version: 1'")
    terms = _terms(data.get("concepts"))
    concepts = frozenset(str(name) for name in data["concepts"])
    if REPORTING not in concepts:
        raise ConceptsError(f"the concepts file must define {REPORTING!r}")
    root = _Node()
    for term in terms:
        node = root
        for word in term.words:
            node = node.child(word)
        node.concepts |= {term.concept}
    root_prefixes: dict[int, dict[str, _Node]] = {}
    for stem, node in root.prefixes.items():
        root_prefixes.setdefault(len(stem), {})[stem] = node
    every_word = {w for term in terms for w in term.words}
    return ConceptModel(rules=_rules(data.get("rules"), concepts),
                        root=root, root_prefixes=root_prefixes,
                        term_words=frozenset(w for w in every_word if not w.endswith("*")),
                        misspelled=_misspellings(terms),
                        respell=_respellings(data.get("respell", {})),
                        sentence_starts=_sentence_starts(data.get("sentence_starts", {}),
                                                         concepts))


def _one_word(source: object) -> str | None:
    """``source`` as the one word (no prefix mark) the text is matched by, or None."""
    found = _TERM_WORD.findall(fold_accents(str(source).lower()))
    return found[0] if len(found) == 1 and not found[0].endswith("*") else None


def _sentence_starts(source: Any, concepts: frozenset[str]) -> dict[str, frozenset[str]]:
    if not isinstance(source, dict):
        raise ConceptsError("'sentence_starts' must map concepts to lists of words")
    out: dict[str, set[str]] = {}
    for concept, words in source.items():
        if concept not in concepts or concept == REPORTING or not isinstance(words, list):
            raise ConceptsError(f"sentence_starts {concept!r}: a known concept and a list")
        for word in words:
            key = _one_word(word)
            if key is None:
                raise ConceptsError(f"sentence_starts {concept!r}: {word!r} is not one word")
            out.setdefault(key, set()).add(concept)
    return {word: frozenset(c) for word, c in out.items()}


def _respellings(source: Any) -> dict[str, str]:
    if not isinstance(source, dict) or not all(
            isinstance(k, str | int) and isinstance(v, str) for k, v in source.items()):
        raise ConceptsError("'respell' must map short forms to words")
    out = {}
    for short, word in source.items():
        key = _one_word(short)
        if key is None or not word.isalpha():
            raise ConceptsError(f"respell {short!r}: {word!r}: one word to one word")
        out[key] = fold_accents(word.lower())
    return out


def misspelling_variants(word: str) -> set[str]:
    """The word with one letter missing, or two different neighbouring letters swapped."""
    variants = {word[:i] + word[i + 1:] for i in range(len(word))}
    variants |= {word[:i] + word[i + 1] + word[i] + word[i + 2:]
                 for i in range(len(word) - 1) if word[i] != word[i + 1]}
    return variants


def spellable_words(terms: Iterable[_Term]) -> set[str]:
    """The term words (and stems of ``stem*`` terms) a misspelling may be read as:
    _MIN_SPELLED letters or more, and no one-word reporting term (a slip must never turn a
    threat into a report)."""
    reporting = {t.words[0].rstrip("*") for t in terms
                 if t.concept == REPORTING and len(t.words) == 1}
    words = {w.rstrip("*") for t in terms if t.concept != REPORTING for w in t.words}
    return {w for w in words
            if len(w) >= _MIN_SPELLED and w.isalpha() and w not in reporting}


def _misspellings(terms: Iterable[_Term]) -> dict[str, str]:
    """Each spellable term word, misspelled by one missing letter or two neighbouring
    letters swapped ("infromation", "adress", "electoin"), to the word.

    Written here, not taken from a spelling library: only these two slips (the ones that
    keep a word readable at a glance, which is what a forger needs) and only the words of
    the term lists matter. A slip that is itself a real word ("ones" for "bones", "gave"
    for "grave": the list in data/real_words_near_terms.txt, made from Debian's English and
    Spanish word lists by scripts/update-spelling-exclusions.py), a term word, or shared
    by two term words is left alone, so no word is read as another."""
    terms = list(terms)
    every_word = {w for term in terms for w in term.words}
    real = _real_words_near_terms()
    found: dict[str, set[str]] = {}
    for word in spellable_words(terms):
        for variant in misspelling_variants(word) - every_word - real:
            found.setdefault(variant, set()).add(word)
    return {variant: next(iter(w)) for variant, w in found.items() if len(w) == 1}


def _real_words_near_terms() -> frozenset[str]:
    text = resources.files("spoofwatch.data").joinpath(REAL_WORDS_FILE).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def terms_of_bundled_file() -> list[_Term]:
    """The terms of the bundled concepts file (for scripts/update-spelling-exclusions.py)."""
    _, data = read_data_file(_DEFAULT_FILE, None, ConceptsError)
    return _terms(data["concepts"])


def load_concepts(path: str | Path | None = None, learned: bool = False) -> ConceptModel:
    """The concepts of ``path``, or of the bundled file, with the bundled learned model
    if ``learned`` is true; ConceptsError when malformed."""
    where, data = read_data_file(_DEFAULT_FILE, path, ConceptsError)
    try:
        model = model_from_data(data)
    except ConceptsError as exc:
        raise ConceptsError(f"{where}: {exc}") from None
    return replace(model, learned=load_learned()) if learned else model


# ----------------------------------------------------------------------------------------
# Scoring


# A word of the text: (word, sentence number counting every sentence end, inside a closed
# pair of quotation marks or a forwarded message).
_Token = tuple[str, int, bool]


def _abbreviation(word: str) -> bool:
    """"3 a.m.", "St. Brigid", "U.S.": a period after a single letter or a common
    abbreviation does not end the sentence."""
    return len(word) == 1 or word in _ABBREVIATIONS


def _forward_start(text: str, model: ConceptModel) -> tuple[int, bool]:
    """Where a forwarded message begins (its text counts as quoted), or len(text); and
    whether the forwarder's note reports ("Is this real?", "got this").

    A separator counts after a note of _MIN_FORWARD_WORDS words, or a shorter note that
    reports: a message that *starts* with a separator is read as if it had none, or a
    forger would open every threat with one."""
    match = _FORWARD.search(text)
    if match is None:
        return len(text), False
    note = text[:match.start()]
    words = len(_WORD.findall(note))
    note_reports = words > 0 and score_concepts(note, model, forwards=False).reports_anywhere
    if words < _MIN_FORWARD_WORDS and not note_reports:
        return len(text), False
    return match.start(), note_reports


def _pieces(text: str, forwarded: int) -> Iterator[tuple[list[str], bool]]:
    """The text's words, quotation marks and sentence ends, a chunk at a time (so no list
    of every word of a long text is ever held), and whether the chunk is forwarded text
    (from character ``forwarded`` on)."""
    start = 0
    while start < len(text):
        end = min(len(text), start + _CHUNK)
        if end < len(text):
            space = text.find(" ", end)
            end = len(text) if space < 0 else space
        if start < forwarded < end:
            end = forwarded
        yield _TOKEN.findall(text, start, end), start >= forwarded
        start = end


class WordReader:
    """The words one token of the text stands for.

    A word cut by the marks of _SEPARATOR ("sha-me", "v-o-t-e", "bu/rn", "acc- ordingly",
    "acc-" at a line's end and "ordingly" on the next: normalize_text) is read whole when
    the whole is a word the reading knows: a whole word of a term, or of the learned
    reading's vocabulary (the words its training texts write whole). Anything else
    ("door-to-door", "check-in", "866-our-vote", "and/or") stays its pieces. Written here:
    which words count as known is the reading's own data, no library's."""

    def __init__(self, model: ConceptModel, vocabulary: frozenset[str]) -> None:
        self.model = model
        self.vocabulary = vocabulary

    def known(self, word: str) -> bool:
        model = self.model
        spelled = model.respell.get(word) or model.misspelled.get(word, word)
        return spelled in model.term_words or spelled in self.vocabulary

    def words(self, token: str) -> list[str]:
        if token.isalnum():
            return [token]  # most words: no mark inside, no split to try
        parts = _JOINER.split(token)
        if len(parts) == 1:
            return parts
        joined = "".join(parts)
        return [joined] if self.known(joined) else parts


def plain_words(normalized_text: str, model: ConceptModel) -> set[str]:
    """The words the text writes whole (no mark inside), as the reading spells them: what
    the training script builds the learned vocabulary from."""
    found = set()
    for token in _TOKEN.findall(fold_accents(normalized_text)):
        if token[0].isalnum() and _JOINER.search(token) is None:
            found.add(model.respell.get(token) or model.misspelled.get(token, token))
    return found


def _token_stream(text: str, forwarded: int, reader: WordReader) -> Iterator[_Token]:
    """The words of the text, in order, with their sentence and quote state.

    Streams: besides one chunk, what it holds is bounded by _MAX_QUOTE_WORDS
    words (the words after an opening quotation mark wait until the mark is closed, or
    shown to be none)."""
    sentence = 0
    last_word = ""
    pending: list[tuple[str, int]] | None = None  # words since an opening mark
    for chunk, in_forward in _pieces(text, forwarded):
        for piece in chunk:
            if piece == _QUOTES:
                if pending is None:
                    pending = []
                else:
                    yield from ((w, n, True) for w, n in pending)
                    pending = None
                continue
            if not piece[0].isalnum():
                if not (piece == "." and last_word and _abbreviation(last_word)):
                    sentence += 1
                last_word = ""
                continue
            for word in reader.words(piece):
                last_word = word
                if in_forward:
                    yield word, sentence, True
                elif pending is None:
                    yield word, sentence, False
                else:
                    pending.append((word, sentence))
                    if len(pending) > _MAX_QUOTE_WORDS:  # never closed: no quote
                        yield from ((w, n, False) for w, n in pending)
                        pending = None
    if pending:
        yield from ((w, n, False) for w, n in pending)


def _starts(model: ConceptModel, word: str) -> tuple[_Node, ...]:
    """The trie nodes a word reaches from the root (terms that begin with it)."""
    found = [stems[word[:length]] for length, stems in model.root_prefixes.items()
             if len(word) >= length and word[:length] in stems]
    node = model.root.exact.get(word)
    if node is not None:
        found.append(node)
    return tuple(found)


@dataclass
class _Sentence:
    words: int = 0
    plain: set[str] = field(default_factory=set)  # concepts outside quotes
    quoted: set[str] = field(default_factory=set)  # concepts inside quotes
    reports: bool = False  # an unquoted reporting term
    has_quote: bool = False  # words inside quotation marks or forwarded text

    def note(self, concepts: frozenset[str], quoted: bool) -> None:
        if REPORTING in concepts:
            self.reports = self.reports or not quoted
            concepts = concepts - {REPORTING}
        (self.quoted if quoted else self.plain).update(concepts)

    def discounted(self) -> bool:
        """Reported speech gives no concepts, unless the sentence itself menaces "you" in
        the speaker's voice ("we", "I"): a forger's "No hoax: we will find you if you vote"
        or "Vote Trump or I burn your house, I said" stays a threat, while a forward's "my
        neighbor got this: your registration was cancelled" is a report."""
        return self.reports and not (_FIRST_TO_SECOND <= self.plain
                                     and bool(_MENACE & self.plain))


class _Unit:
    """What one window place holds: a sentence, with any shorter ones before it (fewer
    than _MIN_UNIT_WORDS words), so that "Nice. Day. Today." between two halves of a threat
    cannot push them out of one window."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.words = 0
        self.plain: set[str] = set()
        self.quoted: set[str] = set()

    def take(self, sentence: _Sentence) -> None:
        self.words += sentence.words
        if not sentence.discounted():
            self.plain |= sentence.plain
            self.quoted |= sentence.quoted


class _Windows:
    """The strongest rule over windows of WINDOW consecutive units, kept twice: with quoted
    text (for a message that reports nothing) and without it.

    A message *reports* when a reporting sentence frames quoted text (the same sentence or
    the one before: "Voters received this: '...'"), or the forwarder's note above a
    forwarded message reports. A reporting word elsewhere ("That is not a threat." after a
    quote) frames nothing."""

    def __init__(self, model: ConceptModel, forward_framed: bool) -> None:
        self.model = model
        self.recent: deque[_Unit] = deque(maxlen=WINDOW)
        self.unit: _Unit | None = None
        self.units = 0
        self.best: dict[bool, ConceptHit | None] = {True: None, False: None}
        self.reports = forward_framed
        self.reports_anywhere = False
        self.previous_reports = False
        self.rated: dict[tuple[frozenset[str], bool], Rule | None] = {}

    def add(self, sentence: _Sentence) -> None:
        self.reports_anywhere = self.reports_anywhere or sentence.reports
        if sentence.has_quote and (sentence.reports or self.previous_reports):
            self.reports = True
        self.previous_reports = sentence.reports
        if self.unit is None:
            self.units += 1
            self.unit = _Unit(self.units)
        self.unit.take(sentence)
        if self.unit.words >= _MIN_UNIT_WORDS:
            self._close()

    def _close(self) -> None:
        if self.unit is None:
            return
        self.recent.append(self.unit)
        self.unit = None
        plain = frozenset().union(*(unit.plain for unit in self.recent))
        quoted = frozenset().union(*(unit.quoted for unit in self.recent))
        number = self.recent[0].number
        self._rate(plain | quoted, number, True)
        self._rate(plain, number, False)

    def _rate(self, present: frozenset[str], number: int, with_quotes: bool) -> None:
        rule = self._strongest(present, with_quotes)
        best = self.best[with_quotes]
        if rule is not None and (best is None or rule.weight > best.weight):
            self.best[with_quotes] = ConceptHit(rule.name, _ordered(rule.needs), number,
                                                rule.weight)

    def _strongest(self, present: frozenset[str], with_quotes: bool) -> Rule | None:
        """The first of the heaviest rules that fire on these concepts (remembered: most
        sentences of a long text bring the same few concepts, or none)."""
        key = (present, with_quotes)
        if key in self.rated:
            return self.rated[key]
        strongest: Rule | None = None
        for rule in self.model.rules:
            if not (with_quotes or rule.in_reports):
                continue  # the reading for a message that reports (see result())
            if not rule.holds(present):
                continue
            if strongest is None or rule.weight > strongest.weight:
                strongest = rule
        if len(self.rated) >= _RATED_MAX:
            self.rated.clear()
        self.rated[key] = strongest
        return strongest

    def result(self, learned: LearnedWindows | None) -> ConceptScore:
        self._close()
        hit = self.best[not self.reports]
        return ConceptScore(hit.weight if hit else 0.0, hit, self.reports,
                            self.reports_anywhere,
                            learned.result(self.reports) if learned is not None else None)


def score_concepts(normalized_text: str, model: ConceptModel, forwards: bool = True,
                   learned: LearnedWindows | None = None) -> ConceptScore:
    """The strongest rule that fires on text already passed through ``normalize_text``.

    Linear in the text and streaming: every word costs a dictionary lookup (in a bounded
    cache of each distinct word's trie nodes) and a step of each term it continues, every
    sentence a bounded number of set operations; besides the cache and one chunk of the
    text, memory holds a few sentences. The model's learned reading (or ``learned``, which
    the training script passes to collect features) is fed the same words and sentences;
    a forwarder's note is read without it."""
    text = fold_accents(normalized_text)
    forwarded, forward_framed = (_forward_start(text, model) if forwards
                                 else (len(text), False))
    windows = _Windows(model, forward_framed)
    if learned is None and model.learned is not None and forwards:
        learned = LearnedWindows(model.learned, rules=model.rules)
    cache: dict[str, tuple[str, tuple[_Node, ...], str]] = {}
    stem = learned.stem if learned is not None else 0

    def close(sentence: _Sentence) -> None:
        windows.add(sentence)
        if learned is not None:
            learned.end_sentence()

    current = _Sentence()
    if learned is not None:
        learned.begin_sentence(current)
    current_index, current_quoted = 0, False
    partial: list[_Node] = []  # terms begun and not yet ended, within one sentence and quote
    reader = WordReader(model, learned.vocabulary if learned is not None else frozenset())
    for word, sentence, quoted in _token_stream(text, forwarded, reader):
        if sentence != current_index:
            # a term runs on over the end of a sentence of fewer than RUN_ON_WORDS words
            # ("We know. Where you. Live."), as a word pair does (LearnedWindows)
            carried = partial if current.words < RUN_ON_WORDS else []
            if current.words:
                close(current)
            current, current_index, partial = _Sentence(), sentence, carried
            if learned is not None:
                learned.begin_sentence(current)
        if quoted != current_quoted:
            current_quoted, partial = quoted, []
        current.words += 1
        current.has_quote = current.has_quote or quoted
        known = cache.get(word)
        if known is None:
            if len(cache) >= _WORD_CACHE_MAX:
                cache.clear()
            spelled = model.respell.get(word) or model.misspelled.get(word, word)
            known = cache[word] = (spelled, _starts(model, spelled),
                                   stem_of(spelled, stem) if stem else "")
        word, starts, word_stem = known
        if learned is not None:
            learned.word(word_stem, quoted)
        if current.words == 1:
            first = model.sentence_starts.get(word)
            if first:
                current.note(first, quoted)
        if not partial:
            if not starts:
                continue  # most words: no term begins or goes on here
            reached = list(starts)
        else:
            reached = [n for node in partial for n in node.steps(word)]
            reached.extend(starts)
        for node in reached:
            if node.concepts:
                current.note(node.concepts, quoted)
        partial = [n for n in reached if n.exact or n.prefixes]
    if current.words:
        close(current)
    return windows.result(learned)


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    wanted = set(names)
    order = [c for c in _CONCEPT_ORDER if c in wanted]
    return tuple(order + sorted(wanted - set(order)))


# The order concepts are named in reasons: what is threatened first, then to whom.
_CONCEPT_ORDER = ("harm_strong", "harm_act", "harm_veiled", "pursuit_strong", "pursuit",
                  "surveillance", "personal_data", "records", "leverage", "property", "loss",
                  "abstain", "false_official", "ineligibility", "demand", "request", "command",
                  "vote", "reader", "speaker")
