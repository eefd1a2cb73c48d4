"""The learned reading of threats: a linear model over the words and concepts of a window.

The concept rules (:mod:`.threat_concepts`) fire only on the combinations someone wrote
down; fresh threats are worded in ways no list foresaw ("Roads are dark out there. Vote
accordingly."). This reading weighs everything a window of sentences says at once: word
stems, pairs of adjacent stems, the concepts the rules use and the pairs of them, each
with a weight learned from the labelled corpus (``scripts/train-threat-model.py``; the
weights are data, ``spoofwatch/data/threat_model.json``). A window whose weights sum past
the model's threshold is a threat, and the reason names the features that weighed most.

It is fed by the concept reader's single pass over the words (no second tokenization), and
keeps its windows the same way: a window is three units, a unit a sentence with any short
ones before it. A sentence is cut into segments of ``SEGMENT_WORDS`` words so a text with no
punctuation still has windows of bounded size. Reported speech gives no features, and in a
message that reports, quoted and forwarded words give none either (as for the rules).

A forger who has read the weights can pile words of negative weight next to a threat. The
sum of negative weights in a window is therefore capped (``neg_cap``): words of legitimate
mail can lower a window's score by that much and no more.

Written here rather than taken from a library: scoring is a dictionary lookup per word and
per word pair inside the pass the concept reader already makes; a machine-learning library
would bring its own tokenizer and a second pass, and megabytes of dependencies, for a dot
product.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["LearnedHit", "LearnedModel", "LearnedWindows", "load_learned"]

DEFAULT_FILE = "threat_model.json"
FORMAT = 1
SEGMENT_WORDS = 60  # a sentence longer than this is cut into segments of this many words
WINDOW = 3  # units per window, as for the concept rules
MIN_UNIT_WORDS = 4  # as _MIN_UNIT_WORDS of the concept reader
_SHOWN = 4  # features named in a reason
_CONCEPT_CACHE_MAX = 1024


class LearnedModelError(ValueError):
    """The model file is missing, malformed or of another format."""


@dataclass(frozen=True)
class LearnedModel:
    weights: Mapping[str, float]  # feature name -> weight (see features_of_words)
    bias: float
    threshold: float  # a window scoring at least this is a threat
    stem: int  # letters of a word kept as its stem
    neg_cap: float  # the most the negative weights of one window may subtract
    trained_on: str  # sha256 of the training texts (checked by a test)


@dataclass(frozen=True)
class LearnedHit:
    score: float  # the window's score (bias + weights)
    sentence: int  # 1-based number of the window's first unit
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
    return name


def model_from_data(data: Any) -> LearnedModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LearnedModelError(f"the threat model must be a mapping with 'format: {FORMAT}'")
    try:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        return LearnedModel(weights=weights, bias=float(data["bias"]),
                            threshold=float(data["threshold"]), stem=int(data["stem"]),
                            neg_cap=float(data["neg_cap"]),
                            trained_on=str(data.get("trained_on", "")))
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


def concept_features(concepts: Iterable[str]) -> list[str]:
    """``c:<concept>`` for each concept and ``cc:<a>+<b>`` for each pair, a before b."""
    names = sorted(concepts)
    found = [f"c:{name}" for name in names]
    found += [f"cc:{a}+{b}" for i, a in enumerate(names) for b in names[i + 1:]]
    return found


class _Unit:
    __slots__ = ("concepts", "number", "plain", "quoted", "words")

    def __init__(self, number: int) -> None:
        self.number = number
        self.words = 0
        self.plain: set[str] = set()  # features of words outside quotes
        self.quoted: set[str] = set()  # features of quoted or forwarded words
        self.concepts: set[str] = set()


class LearnedWindows:
    """The best window of one text, fed word by word by the concept reader.

    With ``collect`` set, every window's feature names are kept (``windows``) instead of
    being scored: that is how the training script reads the corpus through this very code.
    """

    def __init__(self, model: LearnedModel | None, collect: bool = False) -> None:
        self.model = model
        self.weights: Mapping[str, float] = model.weights if model is not None else {}
        self.stem = model.stem if model is not None else 5
        self.collect = collect
        self.windows: list[tuple[frozenset[str], frozenset[str]]] = []  # (all, plain only)
        self.recent: deque[_Unit] = deque(maxlen=WINDOW)
        self.unit: _Unit | None = None
        self.units = 0
        self.segment_plain: set[str] = set()
        self.segment_quoted: set[str] = set()
        self.segment_words = 0
        self.previous = ""
        self.best: dict[bool, LearnedHit | None] = {True: None, False: None}
        self.concept_cache: dict[frozenset[str], list[str]] = {}
        self.last_rated: set[str] | None = None
        self.last_score = 0.0

    def word(self, word: str, quoted: bool) -> None:
        """One word of the current sentence, as the concept reader spelled it."""
        stem = word[:self.stem]
        single = "w:" + stem
        into = self.segment_quoted if quoted else self.segment_plain
        weights, collect = self.weights, self.collect
        if collect or single in weights:
            into.add(single)
        if self.previous:
            pair = "b:" + self.previous + "_" + stem
            if collect or pair in weights:
                into.add(pair)
        self.previous = stem
        self.segment_words += 1
        if self.segment_words >= SEGMENT_WORDS:
            self._segment(set(), discounted=False)

    def end_sentence(self, concepts: set[str], discounted: bool) -> None:
        """The current sentence ended: its unquoted concepts, and whether it reports."""
        self._segment(concepts, discounted)
        self.previous = ""

    def _segment(self, concepts: set[str], discounted: bool) -> None:
        if self.unit is None:
            self.units += 1
            self.unit = _Unit(self.units)
        unit = self.unit
        unit.words += self.segment_words
        if not discounted:
            unit.plain |= self.segment_plain
            unit.quoted |= self.segment_quoted
            unit.concepts |= concepts
        self.segment_plain, self.segment_quoted = set(), set()
        self.segment_words = 0
        if unit.words >= MIN_UNIT_WORDS:
            self._close()

    def _close(self) -> None:
        unit = self.unit
        if unit is None:
            return
        self.unit = None
        self.recent.append(unit)
        plain = set().union(*(u.plain for u in self.recent))
        quoted = set().union(*(u.quoted for u in self.recent)) - plain
        concepts = frozenset().union(*(u.concepts for u in self.recent))
        plain.update(self._concept_features(concepts))
        number = self.recent[0].number
        if self.collect:
            self.windows.append((frozenset(plain | quoted), frozenset(plain)))
            return
        self._rate(plain, number, False)
        self._rate(plain | quoted if quoted else plain, number, True)

    def _concept_features(self, concepts: frozenset[str]) -> list[str]:
        """The features of a window's concepts that the model weighs (all when collecting);
        remembered per set of concepts, of which a text has few."""
        known = self.concept_cache.get(concepts)
        if known is None:
            known = [name for name in concept_features(concepts)
                     if self.collect or name in self.weights]
            if len(self.concept_cache) >= _CONCEPT_CACHE_MAX:
                self.concept_cache.clear()
            self.concept_cache[concepts] = known
        return known

    def _rate(self, features: set[str], number: int, with_quotes: bool) -> None:
        assert self.model is not None
        if features is self.last_rated:
            score = self.last_score  # the same set as the other reading of this window
        else:
            score = window_score(self.model, features)
            self.last_rated, self.last_score = features, score
        best = self.best[with_quotes]
        if best is None or score > best.score:
            self.best[with_quotes] = LearnedHit(score, number, _heaviest(self.weights,
                                                                        features))

    def result(self, reports: bool) -> LearnedHit | None:
        """The best window: of the whole text, or of the unquoted words of a report."""
        if self.segment_words:
            self._segment(set(), discounted=False)
        self._close()
        hit = self.best[not reports]
        if hit is None or self.model is None:
            return hit
        return replace(hit, fired=hit.score >= self.model.threshold)


def window_score(model: LearnedModel, features: Iterable[str]) -> float:
    """bias + the positive weights + the negative ones, these no lower than -neg_cap."""
    positive = negative = 0.0
    for name in features:
        weight = model.weights.get(name, 0.0)
        if weight > 0:
            positive += weight
        else:
            negative += weight
    return model.bias + positive + max(negative, -model.neg_cap)


def _heaviest(weights: Mapping[str, float], features: set[str]) -> tuple[str, ...]:
    ranked = sorted((f for f in features if weights.get(f, 0.0) > 0),
                    key=lambda f: (-weights[f], f))
    return tuple(ranked[:_SHOWN])
