"""The learned reading of threats: a linear model over the words and concepts of a window.

The concept rules (:mod:`.threat_concepts`) fire only on the combinations someone wrote
down; fresh threats are worded in ways no list foresaw ("We know which daycare. Enough
said. Vote for Gaines."). This reading weighs everything a window of sentences says at
once: word stems, pairs of adjacent stems, the concepts the rules use and the pairs of
them, each with a weight learned from the labelled corpus
(``scripts/train-threat-model.py``; the weights are data,
``spoofwatch/data/threat_model.json``). A window whose weights sum past the model's
threshold is a threat, and the reason names the features that weighed most.

It is fed by the concept reader's single pass over the words (no second tokenization). A
window is one, two or three consecutive units ending at a unit (a unit: a sentence with
any short ones before it, as for the rules), so a threat of one sentence is also read
alone. A sentence is cut into segments of ``SEGMENT_WORDS`` words so a text with no
punctuation still has windows of bounded size; its words are held until it ends, and
reported speech gives no features. In a message that reports, quoted and forwarded words
and concepts give none either (as for the rules).

A forger who has read the weights can pile words of negative weight next to a threat. The
sum of negative weights in a window is therefore capped (``neg_cap``), and training keeps
every weight within a bound: the negative weights of added words lower a window's score by
the cap and no more. Words put *inside* a threat's sentence can still cost it more, by
splitting the word pairs it is weighed on (docs/detection.md: the review's figures).

Written here rather than taken from a library: scoring is a dictionary lookup per word and
per word pair inside the pass the concept reader already makes; a machine-learning library
would bring its own tokenizer and a second pass, and megabytes of dependencies, for a dot
product.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

__all__ = ["LearnedHit", "LearnedModel", "LearnedWindows", "load_learned"]

DEFAULT_FILE = "threat_model.json"
FORMAT = 1
SEGMENT_WORDS = 60  # a sentence longer than this is cut into segments of this many words
HELD_SEGMENTS = 4  # segments of one sentence held until it ends (see LearnedWindows)
WINDOW_SIZES = (1, 2, 3)  # the windows ending at each unit (units, as for the rules)
WINDOW = max(WINDOW_SIZES)
# The concepts one of which a window must hold to fire (see LearnedWindows._window).
GATE = frozenset({"harm_strong", "harm_act", "harm_veiled", "pursuit_strong", "pursuit",
                  "surveillance", "personal_data", "leverage", "loss", "property", "abstain",
                  "false_official", "ineligibility", "demand"})
# A unit closes when it holds this many words: shorter sentences join the next one. Twice
# the rules' (_MIN_UNIT_WORDS of the concept reader), so that a sentence end after every
# other word cannot shrink a window of three units to six words.
MIN_UNIT_WORDS = 8
# A word pair, or a term, runs on over the end of a sentence shorter than this ("Your son.
# Drives home." gives "son drives"): sentence ends or ellipses put between a threat's words
# must not take its pairs away. As long as a unit: at 4, a sentence end after every fourth
# word hid half the threats a review tried it on.
RUN_ON_WORDS = MIN_UNIT_WORDS
_SHOWN = 4  # features named in a reason
_CONCEPT_CACHE_MAX = 1024


class LearnedModelError(ValueError):
    """The model file is missing, malformed or of another format."""


@dataclass(frozen=True)
class LearnedModel:
    weights: Mapping[str, float]  # feature name -> weight (w:, b:, c:, cc:, r: features)
    bias: float
    threshold: float  # a window scoring at least this is a threat
    stem: int  # letters of a word kept as its stem
    neg_cap: float  # the most the negative weights of one window may subtract
    trained_on: str  # sha256 of what the model was made from (checked by a test)
    pos_top: int = 0  # only this many of a window's heaviest positive weights count (0: all)
    # the words the training texts write whole (in two texts or more): a word cut by a
    # hyphen ("sha-me") is read whole when the whole is one of these
    # (threat_concepts.WordReader)
    vocabulary: frozenset[str] = frozenset()

    @cached_property
    def weighted_concepts(self) -> tuple[tuple[str, str, str], ...]:
        """(feature, concept, other concept or "") for each concept feature weighed."""
        return tuple(_parse_concept_feature(name) for name in self.weights
                     if name.startswith(("c:", "cc:")))

    @cached_property
    def weighted_rules(self) -> frozenset[str]:
        """The names of the concept rules whose ``r:`` features are weighed."""
        return frozenset(name[2:] for name in self.weights if name.startswith("r:"))


@dataclass(frozen=True)
class LearnedHit:
    score: float  # the window's score (bias + weights)
    sentence: int  # 1-based number of the window's first sentence
    features: tuple[str, ...]  # the heaviest positive features, heaviest first
    fired: bool = False  # the score reaches the model's threshold

    def reason(self) -> str:
        """``"we know" + "your street" + harm_veiled+vote, sentence 3``."""
        return f"{' + '.join(_shown(f) for f in self.features)}, sentence {self.sentence}"


def _shown(feature: str) -> str:
    kind, _, name = feature.partition(":")
    if kind == "w":
        return f'"{name}"'
    if kind == "b":
        return '"' + name.replace("_", " ") + '"'
    if kind == "r":
        return f"rule {name}"
    return name


def model_from_data(data: Any) -> LearnedModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LearnedModelError(f"the threat model must be a mapping with 'format: {FORMAT}'")
    try:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        return LearnedModel(weights=weights, bias=float(data["bias"]),
                            threshold=float(data["threshold"]), stem=int(data["stem"]),
                            neg_cap=float(data["neg_cap"]),
                            trained_on=str(data.get("trained_on", "")),
                            pos_top=int(data.get("pos_top", 0)),
                            vocabulary=frozenset(str(v) for v in data.get("vocabulary", ())))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LearnedModelError(f"the threat model is malformed: {exc!r}") from None


def load_learned(path: str | Path | None = None) -> LearnedModel:
    """The model of ``path``, or the bundled one; LearnedModelError when unreadable."""
    where = str(path) if path is not None else f"spoofwatch/data/{DEFAULT_FILE}"
    try:
        if path is None:
            text = resources.files("spoofwatch.data").joinpath(DEFAULT_FILE).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return model_from_data(json.loads(text))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LearnedModelError(f"{where}: cannot read: {exc}") from None
    except LearnedModelError as exc:
        raise LearnedModelError(f"{where}: {exc}") from None


class ConceptRule(Protocol):
    """A concept rule (threat_concepts.Rule)."""

    @property
    def name(self) -> str: ...
    def holds(self, concepts: frozenset[str]) -> bool: ...


def rule_features(concepts: frozenset[str], rules: Iterable[ConceptRule]) -> list[str]:
    """``r:<rule>`` for each concept rule that holds on these concepts."""
    return [f"r:{rule.name}" for rule in rules if rule.holds(concepts)]


def concept_features(concepts: Iterable[str]) -> list[str]:
    """``c:<concept>`` for each concept and ``cc:<a>+<b>`` for each pair, a before b."""
    names = sorted(concepts)
    found = [f"c:{name}" for name in names]
    found += [f"cc:{a}+{b}" for i, a in enumerate(names) for b in names[i + 1:]]
    return found


class SentenceState(Protocol):
    """What the concept reader knows of the sentence it is reading."""

    plain: set[str]
    quoted: set[str]

    def discounted(self) -> bool: ...


class _Unit:
    __slots__ = ("concepts", "number", "plain", "quoted", "quoted_concepts", "words")

    def __init__(self, number: int) -> None:
        self.number = number
        self.words = 0
        self.plain: set[str] = set()  # features of words outside quotes
        self.quoted: set[str] = set()  # features of quoted or forwarded words
        self.concepts: set[str] = set()  # concepts outside quotes
        self.quoted_concepts: set[str] = set()


class LearnedWindows:
    """The best window of one text, fed word by word by the concept reader.

    A window is one, two or three consecutive units ending at a unit: a threat of one
    sentence is read alone, whatever stands before it. The words of a sentence are held
    (in segments of SEGMENT_WORDS, at most HELD_SEGMENTS of them) until the sentence ends
    and shows whether it reports; a longer sentence passes its oldest segments on as they
    come, with the concepts it has so far.

    With ``collect`` set, every window's feature names are kept (``windows``) instead of
    being scored: that is how the training script reads the corpus through this very code.
    """

    def __init__(self, model: LearnedModel | None, collect: bool = False,
                 stem: int = 0, vocabulary: frozenset[str] = frozenset(),
                 rules: Iterable[ConceptRule] = ()) -> None:
        self.model = model
        # the rules whose features count: all when collecting, else those the model weighs
        self.rules = tuple(r for r in rules
                           if model is None or r.name in model.weighted_rules)
        self.weights: Mapping[str, float] = model.weights if model is not None else {}
        self.stem = model.stem if model is not None else stem
        self.vocabulary = model.vocabulary if model is not None else vocabulary
        self.collect = collect
        self.windows: list[tuple[frozenset[str], frozenset[str]]] = []  # (all, plain only)
        self.recent: deque[_Unit] = deque(maxlen=WINDOW)
        self.unit: _Unit | None = None
        self.sentences = 0  # sentences ended so far
        self.held: list[tuple[set[str], set[str], int]] = []  # this sentence's segments
        self.segment_plain: set[str] = set()
        self.segment_quoted: set[str] = set()
        self.segment_words = 0
        self.previous = ""
        self.previous_quoted = False
        self.sentence: SentenceState | None = None
        self.best: dict[bool, LearnedHit | None] = {True: None, False: None}
        self.concept_cache: dict[frozenset[str], tuple[str, ...]] = {}

    def word(self, stem: str, quoted: bool) -> None:
        """One word of the current sentence: its stem (``stem_of`` the spelled word)."""
        into = self.segment_quoted if quoted else self.segment_plain
        weights, collect = self.weights, self.collect
        single = "w:" + stem
        if collect or single in weights:
            into.add(single)
        if self.previous:
            pair = "b:" + self.previous + "_" + stem
            if collect or pair in weights:
                # a pair that touches a quoted word is quoted: it gives nothing in a report
                (self.segment_quoted if quoted or self.previous_quoted
                 else self.segment_plain).add(pair)
        self.previous, self.previous_quoted = stem, quoted
        self.segment_words += 1
        if self.segment_words >= SEGMENT_WORDS:
            self._hold()
            if len(self.held) > HELD_SEGMENTS:  # a very long sentence: pass the oldest on,
                self._pass_on(self.held.pop(0))  # with its concepts so far

    def begin_sentence(self, sentence: SentenceState) -> None:
        """The sentence now read: its concepts (so far), and whether it reports."""
        self.sentence = sentence

    def _hold(self) -> None:
        self.held.append((self.segment_plain, self.segment_quoted, self.segment_words))
        self.segment_plain, self.segment_quoted, self.segment_words = set(), set(), 0

    def end_sentence(self) -> None:
        """The sentence of begin_sentence ended: its segments go to the units.

        A word pair runs on over the end of a sentence shorter than RUN_ON_WORDS."""
        if self.segment_words:
            self._hold()
        held, self.held = self.held, []
        short = sum(words for _, _, words in held) < RUN_ON_WORDS
        if not short or (self.sentence is not None and self.sentence.discounted()):
            self.previous = ""
        for segment in held:
            self._pass_on(segment)
        self.sentences += 1

    def _pass_on(self, segment: tuple[set[str], set[str], int]) -> None:
        """A segment of the current sentence to the units, with the sentence's concepts
        outside and inside quotes; reported speech gives its words and concepts nothing."""
        plain, quoted, words = segment
        sentence = self.sentence
        if sentence is None:
            self._take(plain, quoted, words, set(), set())
        elif sentence.discounted():
            self._take(set(), set(), words, set(), set())
        else:
            self._take(plain, quoted, words, sentence.plain, sentence.quoted)

    def _take(self, plain: set[str], quoted: set[str], words: int, concepts: set[str],
              quoted_concepts: set[str]) -> None:
        if self.unit is None:
            self.unit = _Unit(self.sentences + 1)
        unit = self.unit
        unit.words += words
        unit.plain |= plain
        unit.quoted |= quoted
        unit.concepts |= concepts
        unit.quoted_concepts |= quoted_concepts
        if unit.words >= MIN_UNIT_WORDS:
            self._close()

    def _close(self) -> None:
        unit = self.unit
        if unit is None:
            return
        self.unit = None
        self.recent.append(unit)
        units = list(self.recent)
        for size in WINDOW_SIZES:
            if size <= len(units):
                self._window(units[-size:])

    def _window(self, units: list[_Unit]) -> None:
        plain = set().union(*(u.plain for u in units))
        quoted = set().union(*(u.quoted for u in units)) - plain
        concepts = frozenset().union(*(u.concepts for u in units))
        every = concepts.union(*(u.quoted_concepts for u in units))
        plain.update(self._concept_features(concepts))
        number = units[0].number
        if self.collect:
            all_features = plain | quoted
            all_features.update(self._concept_features(every))
            self.windows.append((frozenset(all_features), frozenset(plain)))
            return
        # Only a window that names a threat's idea (harm, pursuit, surveillance, the
        # reader's data, leverage, loss, staying home, a false notice, an ultimatum) can
        # fire: ordinary prose of any length gathers small positive weights, never these.
        assert self.model is not None
        gated = bool(concepts & GATE)
        score = window_score(self.model, plain) if gated else -math.inf
        self._rate(plain, score, number, False)
        if quoted or every != concepts:
            if every & GATE:
                with_quotes = plain | quoted
                with_quotes.update(self._concept_features(every))
                self._rate(with_quotes, window_score(self.model, with_quotes), number, True)
        else:
            self._rate(plain, score, number, True)

    def _concept_features(self, concepts: frozenset[str]) -> tuple[str, ...]:
        """The features of a window's concepts that the model weighs (all when collecting);
        remembered per set of concepts, of which a text has few. A set not seen costs one
        test per weighted concept feature, however many concepts it holds."""
        known = self.concept_cache.get(concepts)
        if known is None:
            if self.collect or self.model is None:
                known = tuple(concept_features(concepts))
            else:
                known = tuple(name for name, a, b in self.model.weighted_concepts
                              if a in concepts and (not b or b in concepts))
            known += tuple(rule_features(concepts, self.rules))
            if len(self.concept_cache) >= _CONCEPT_CACHE_MAX:
                self.concept_cache.clear()
            self.concept_cache[concepts] = known
        return known

    def _rate(self, features: set[str], score: float, number: int, with_quotes: bool) -> None:
        if score == -math.inf:
            return
        best = self.best[with_quotes]
        if best is None or score > best.score:
            self.best[with_quotes] = LearnedHit(score, number, _heaviest(self.weights,
                                                                        features))

    def result(self, reports: bool) -> LearnedHit | None:
        """The best window: of the whole text, or of the unquoted words of a report."""
        if self.segment_words or self.held:
            self.end_sentence()
        self._close()
        hit = self.best[not reports]
        if hit is None or self.model is None:
            return hit
        return replace(hit, fired=hit.score >= self.model.threshold)


def _parse_concept_feature(name: str) -> tuple[str, str, str]:
    kind, _, concepts = name.partition(":")
    first, _, second = concepts.partition("+")
    return name, first, second if kind == "cc" else ""


_DOUBLED = re.compile(r"(.)\1+")


def stem_of(word: str, length: int) -> str:
    """The stem a word gives: its letters with doubled letters made single ("daaycare" and
    "daycare", "kill" and "kil" are one), cut to ``length``."""
    return _DOUBLED.sub(r"\1", word)[:length]


def window_score(model: LearnedModel, features: Iterable[str]) -> float:
    """A window's score under ``model`` (see capped_score)."""
    return capped_score(model.weights, model.bias, model.neg_cap, features, model.pos_top)


def capped_score(weights: Mapping[str, float], bias: float, neg_cap: float,
                 features: Iterable[str], pos_top: int = 0) -> float:
    """bias + the ``pos_top`` heaviest positive weights (all when 0) + the negative ones,
    these no lower than -neg_cap (the service's score, and the training script's while it
    learns the weights).

    Both bounds make a window's length count for little: a long sentence of ordinary
    prose holds many words of small positive weight ("those who", "would be"), and summed
    they passed the threshold (licence texts did); counted up to ``pos_top`` they do not,
    while a threat's score rests on its few heavy features. The negative weights of added
    words lower a score by at most ``neg_cap`` (added words that split a pair take that
    pair's weight away as well)."""
    positives: list[float] = []
    negative = 0.0
    for name in features:
        weight = weights.get(name, 0.0)
        if weight > 0:
            positives.append(weight)
        else:
            negative += weight
    if 0 < pos_top < len(positives):
        positives = heapq.nlargest(pos_top, positives)
    return bias + math.fsum(positives) + max(negative, -neg_cap)


def counted_positives(weights: Mapping[str, float], features: Iterable[str],
                      pos_top: int) -> set[str]:
    """The features whose positive weights capped_score counts (ties by name)."""
    positive = [(weights[name], name) for name in features if weights.get(name, 0.0) > 0]
    if 0 < pos_top < len(positive):
        positive = heapq.nlargest(pos_top, positive)
    return {name for _, name in positive}


def _heaviest(weights: Mapping[str, float], features: set[str]) -> tuple[str, ...]:
    ranked = sorted((f for f in features if weights.get(f, 0.0) > 0),
                    key=lambda f: (-weights[f], f))
    return tuple(ranked[:_SHOWN])
