"""``threat_content``: the text a reader sees intimidates or coerces them: the content
score at or above the policy's ``threat_min_score``. The score is the highest of three
readings: the literal phrases of ``content.py`` (wordings close to known threats), the
concept rules of ``threat_concepts.py`` (which ideas a sentence window combines: harm, a
vote, the reader, a demand ...), so a reworded threat is still read, and the learned
reading of ``threat_learned.py`` (a linear model over a window's words and concepts, fed by
the same pass), for wordings no rule foresaw.

The text comes from ``textextract.read_text``, up to ``MAX_TEXT_CHARS`` (8 million
characters: a threat after 5 MB of padding is found; past the limit an
``unreadable_structure`` finding says so, and streaming the scoring to lift the limit is
issue 12's remaining work). Whatever stopped its normal reading is reported here too, as
``unreadable_structure`` (``structure.py``), and HTML junk hidden inside visible words as
``hidden_text`` (``hidden_text.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..message import Message
from ..results import Finding
from ..textsafe import ascii_safe
from .content import ThreatPattern, ThreatScore, score_text
from .hidden_text import hidden_text_finding
from .structure import limit_finding, unreadable_finding
from .text_normalize import normalize_text
from .textextract import read_text
from .threat_concepts import ConceptModel, ConceptScore, score_concepts

log = logging.getLogger(__name__)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\r?\n")

Weight = Callable[[str], float]


# The most text one message gets scored: 8 million characters, far past any padding a
# reader scrolls through (a threat after 5 MB of it is found), while the normalized copies
# of the text stay within the service's memory bound (issue 9: 64 concurrent 40 MB messages
# under about 300 MB; every character read costs several bytes in the copies normalization
# makes). Text past it is not silently dropped: the limit is an unreadable_structure finding.
MAX_TEXT_CHARS = 8_000_000


def _text_bound(message: Message) -> int:
    """At least as many characters as the message can decode to (decoding, charset
    conversion and HTML rendering never make text longer than its source; each piece read
    adds at most a separator), but no more than MAX_TEXT_CHARS."""
    size = len(message.body) + sum(len(n) + len(v) + 4 for n, v in message.headers)
    return min(2 * size + 1024, MAX_TEXT_CHARS)


def threat_findings(message: Message, patterns: Iterable[ThreatPattern], weight: Weight,
                    min_score: float, concept_model: ConceptModel | None = None,
                    score: bool = True) -> list[Finding]:
    """threat_content from the text a reader sees, plus an unreadable_structure finding
    for each thing that stopped the normal reading (read_text then read on tolerantly).

    ``score=False``: the text is read (for what could not be read, and hidden text) but
    not scored; the caller knows threat_content could not count (``detect.checks``).
    """
    bound = _text_bound(message)
    reading = read_text(message, max_chars=bound)
    findings = [unreadable_finding(weight, u.sentence, u.detail) for u in reading.unreadable]
    if bound == MAX_TEXT_CHARS and len(reading.text) >= MAX_TEXT_CHARS:
        findings.append(limit_finding(
            weight, "text_chars", f"The message has more than {MAX_TEXT_CHARS:,} characters "
            "of text; only the first were scored.", MAX_TEXT_CHARS, len(reading.text)))
    hidden = hidden_text_finding(weight, reading.hidden_splits)
    if hidden is not None:
        findings.append(hidden)
    for unreadable in reading.unreadable:
        log.info("unreadable structure: %s", unreadable.sentence)
    if not score:
        return findings
    content = read_content(reading.text, patterns, concept_model)
    if content.score < min_score:
        return findings
    return [_threat_finding(weight, content), *findings]


def paragraph_sentences(text: str) -> str:
    """A blank line ends a paragraph, and a sentence with it: a heading or a signature runs
    into the next line otherwise (normalizing collapses all whitespace)."""
    return _PARAGRAPH_BREAK.sub(" .\n", text)


# The content score of a text on which the learned reading fires (and no stronger reading
# does): the default policies' threat_min_score, so the learned reading alone makes a
# threat under them; a policy that asks for more needs a rule or a literal phrase too.
LEARNED_SCORE = 3.0


@dataclass(frozen=True)
class ContentReading:
    score: float  # the highest of the three readings
    phrases: ThreatScore  # the literal phrases (none counted in a message that reports)
    concepts: ConceptScore  # the concept rules, and the learned reading's best window

    @property
    def learned_fired(self) -> bool:
        return self.concepts.learned_fired


def read_content(text: str, patterns: Iterable[ThreatPattern],
                 concept_model: ConceptModel | None) -> ContentReading:
    """The content score of a text a reader sees: literal phrases and concept rules."""
    normalized = normalize_text(paragraph_sentences(text))
    phrases = score_text(normalized, patterns)
    concepts = (score_concepts(normalized, concept_model) if concept_model is not None
                else ConceptScore(0.0, None))
    if concepts.reports:
        # A report quotes threats: its literal phrases are not the sender's words.
        phrases = ThreatScore(0.0, (), ())
    learned = LEARNED_SCORE if concepts.learned_fired else 0.0
    # A rule counts by itself, also where the learned reading (which weighs the rules as
    # features) scores the text low: a veto by that score was tried (run 13) and a review
    # silenced rule-flagged threats by inserting one word ("we will kill really your dog")
    # that split the word pairs the score rests on (docs/detection.md, run 14).
    return ContentReading(max(phrases.score, concepts.score, learned), phrases, concepts)


def _threat_finding(weight: Weight, content: ContentReading) -> Finding:
    """threat_content, naming what was read: the concept rule and its sentence, and the
    literal phrases that matched (either may be missing)."""
    score, result, concepts = content.score, content.phrases, content.concepts
    parts = []
    if concepts.hit is not None:
        parts.append(f"threat: {concepts.reason()}")
    if content.learned_fired and concepts.learned is not None:
        parts.append(f"learned: {concepts.learned.reason()}")
    if result.categories:
        parts.append(", ".join(c.replace("_", " ") for c in result.categories))
    phrases = "; ".join(dict.fromkeys(ascii_safe(m.phrase, 60) for m in result.matches[:5]))
    detail = tuple(("phrase", ascii_safe(m.phrase, 80)) for m in result.matches[:10])
    if concepts.hit is not None:
        detail = (("rule", concepts.hit.rule), ("sentence", str(concepts.hit.sentence)),
                  *detail)
    if content.learned_fired and concepts.learned is not None:
        detail = (*detail, ("learned", f"{concepts.learned.score:.2f}"),
                  ("learned_sentence", str(concepts.learned.sentence)))
    return Finding(
        "threat_content", weight("threat_content"),
        f"The text intimidates or coerces the reader ({'; '.join(parts)}; content score "
        f"{score:g})" + (f": {phrases}." if phrases else "."),
        detail=detail,
    )
