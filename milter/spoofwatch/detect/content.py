"""Scoring message text for voter intimidation and coercion.

Patterns live in a YAML data file (``spoofwatch/data/threat_patterns.yaml`` by default),
not in code, so phrasings can be added without touching the matcher. Each pattern has a
category and a weight. The score is the sum of the weights of the patterns that matched,
where each pattern counts once however often its phrase repeats, two patterns of one
category that matched the same words count once (the heavier), and each category is
capped: one phrase pasted fifty times, or one sentence matched by five paraphrase
patterns, cannot outweigh a message that threatens, coerces and claims personal data.

This module only reports matches and a score. Whether they make a threat is the verdict's
business: a news report quoting the threats matches here too, and is cleared there
because it is authenticated mail from its real sender.

Pattern syntax (see the data file's header): Python regular expressions matched against
:func:`~spoofwatch.detect.text_normalize.normalize_text` output with accents removed, plus
three conveniences expanded at load time: a space stands for any run of separators
(spaces, punctuation, apostrophes, quotes: ``we ll`` matches "we'll" and "we ll"),
``{w}`` for one word and ``{gap:N}`` for up to N further words; every pattern is
anchored at word boundaries at both ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..textsafe import ascii_safe
from .data_file import read_data_file
from .required_literals import required_literals
from .text_normalize import normalize_text

__all__ = [
    "CATEGORY_CAPS",
    "LANGUAGES",
    "ThreatMatch",
    "ThreatPattern",
    "ThreatScore",
    "expand_regex",
    "load_patterns",
    "score_text",
]

# The most one category can add to the score, whatever and however much matched.
CATEGORY_CAPS: Mapping[str, float] = MappingProxyType({
    "harm_threat": 3.0,
    "coercion_vote": 3.0,
    "personal_data_claim": 2.5,
    "registration_change_demand": 2.0,
    "false_voting_instruction": 2.0,
})
LANGUAGES = frozenset({"en", "es"})

_DEFAULT_FILE = "threat_patterns.yaml"
_ENTRY_KEYS = frozenset({"name", "category", "weight", "language", "regex", "examples"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_PHRASE_MAX = 80

# Expansion of the pattern conveniences. Separator and word classes are disjoint, so a
# word gap like (?:SEP WORD){0,N} can split the text in only one way: no backtracking
# blow-up however the words fall.
_SEP = r"(?:[\W_]{1,8})"
_WORD = r"[^\W_]+"
_MACRO = re.compile(r"\{(w|gap:(\d{1,2}))\}")
_LEFTOVER_MACRO = re.compile(r"\{[a-z]")
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_COMBINING_ACCENT = re.compile("[\u0300-\u036f]")


@dataclass(frozen=True)
class ThreatPattern:
    name: str
    category: str
    weight: float
    language: str  # "en" or "es"
    regex: str  # expanded regular expression, matched against accent-folded normalized text
    # Filled by load_patterns; a hand-made pattern is compiled on use (re caches it).
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    # Strings one of which every match contains (required_literals); () runs it always.
    required: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def matcher(self) -> re.Pattern[str]:
        return self.compiled if self.compiled is not None else re.compile(self.regex)


@dataclass(frozen=True)
class ThreatMatch:
    pattern: str
    category: str
    weight: float
    phrase: str  # the normalized text matched, ASCII-safe, at most 80 characters


@dataclass(frozen=True)
class ThreatScore:
    score: float
    matches: tuple[ThreatMatch, ...]  # in text order; at most one per pattern
    categories: tuple[str, ...]  # sorted names of the categories that matched


# ----------------------------------------------------------------------------------------
# Pattern source expansion


def fold_accents(text: str) -> str:
    """Remove the diacritics of Latin letters ("votarás" -> "votaras", "ñ" -> "n")."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", _COMBINING_ACCENT.sub("", decomposed))


def _spaces_to_separators(source: str) -> str:
    """Replace each literal space outside a character class by the separator class."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source):
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            # A ']' right after '[' or '[^' is a literal member, not the end.
            for prefix in ("^]", "]", "^"):
                if source.startswith(prefix, i + 1):
                    out.append(prefix)
                    i += len(prefix)
                    break
        elif ch == " ":
            out.append(_SEP)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _expand_body(source: str) -> str:
    body = _spaces_to_separators(fold_accents(source))

    def macro(match: re.Match[str]) -> str:
        if match.group(1) == "w":
            return _WORD
        return f"(?:{_SEP}{_WORD}){{0,{int(match.group(2))}}}"

    return _MACRO.sub(macro, body)


def expand_regex(source: str) -> str:
    """The regular expression a pattern's ``regex`` field stands for (see module doc)."""
    body = _expand_body(source)
    # \b at the start (every pattern starts with a letter) is about three times faster
    # to scan with than a lookbehind; the end check only runs on a candidate match.
    return rf"\b(?:{body})(?![^\W_])"


# ----------------------------------------------------------------------------------------
# Loading and validation


def _problem(file: str, where: str, message: str) -> ValueError:
    return ValueError(f"{file}: {where}: {message}")


def _entry_label(index: int, item: Mapping[str, Any]) -> str:
    name = item.get("name")
    return f"patterns[{index}] ({name})" if isinstance(name, str) and name else f"patterns[{index}]"


def _parse_entry(file: str, index: int, item: Any, seen: set[str]) -> ThreatPattern:
    if not isinstance(item, dict):
        raise _problem(file, f"patterns[{index}]", "each pattern must be a mapping")
    where = _entry_label(index, item)
    unknown = sorted(str(k) for k in item if k not in _ENTRY_KEYS)
    if unknown:
        raise _problem(file, where, f"unknown key(s) {', '.join(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _problem(file, where, "name must be a lower-case identifier (a-z, 0-9, _)")
    if name in seen:
        raise _problem(file, where, f"duplicate pattern name {name!r}")
    category = item.get("category")
    if not isinstance(category, str) or category not in CATEGORY_CAPS:
        raise _problem(file, where, f"category {category!r} is not one of "
                       f"{', '.join(sorted(CATEGORY_CAPS))}")
    weight = item.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not (
            0 < weight <= CATEGORY_CAPS[category]):
        raise _problem(file, where, f"weight must be a number above 0 and at most the "
                       f"{category} cap {CATEGORY_CAPS[category]:g}")
    language = item.get("language")
    if not isinstance(language, str) or language not in LANGUAGES:
        raise _problem(file, where, f"language must be one of {', '.join(sorted(LANGUAGES))}")
    source = item.get("regex")
    if not isinstance(source, str) or not source.strip():
        raise _problem(file, where, "regex is required")
    compiled = _compile_checked(file, where, source)
    _check_examples(file, where, compiled, item.get("examples", []))
    return ThreatPattern(name, category, float(weight), language, compiled.pattern, compiled,
                         required_literals(compiled))


def _compile_checked(file: str, where: str, source: str) -> re.Pattern[str]:
    unescaped = _ESCAPE.sub("", source)
    if re.search(r"[A-Z]", unescaped):
        raise _problem(file, where, "regex has upper-case letters, which never match "
                       "normalized (case-folded) text")
    body = _expand_body(source)
    if _LEFTOVER_MACRO.search(_ESCAPE.sub("", body)):
        raise _problem(file, where, "regex uses an unknown {macro}; known: {w}, {gap:N}")
    try:
        # Positions in re's message would point into the expanded text: leave them out.
        if re.compile(body).fullmatch("") is not None:
            raise _problem(file, where, "regex matches empty text")
        return re.compile(expand_regex(source))
    except re.error as exc:
        raise _problem(file, where, f"regex does not compile: {exc.msg}") from None


def _check_examples(file: str, where: str, compiled: re.Pattern[str], examples: Any) -> None:
    # Examples document the pattern and catch an edit that breaks it at load time.
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise _problem(file, where, "examples must be a list of strings")
    for example in examples:
        if compiled.search(fold_accents(normalize_text(example))) is None:
            raise _problem(file, where, f"example {example!r} does not match the regex")


def _parse(data: Any, file: str) -> tuple[ThreatPattern, ...]:
    if not isinstance(data, dict):
        raise _problem(file, "top level", "must be a mapping with a 'patterns' list")
    unknown = sorted(str(k) for k in data if k not in ("version", "patterns"))
    if unknown:
        raise _problem(file, "top level", f"unknown key(s) {', '.join(unknown)}")
    if data.get("version") != 1:
        raise _problem(file, "version", "must be 1")
    entries = data.get("patterns")
    if not isinstance(entries, list) or not entries:
        raise _problem(file, "patterns", "must be a non-empty list")
    seen: set[str] = set()
    patterns = []
    for index, item in enumerate(entries):
        pattern = _parse_entry(file, index, item, seen)
        seen.add(pattern.name)
        patterns.append(pattern)
    return tuple(patterns)


def load_patterns(path: Path | None = None) -> tuple[ThreatPattern, ...]:
    """Load and validate a pattern file (default: the packaged one).

    Bad data raises ValueError naming the file and the entry; a file that cannot be
    read raises ValueError too.
    """
    file, data = read_data_file(_DEFAULT_FILE, path, ValueError)
    return _parse(data, file)


# ----------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class _Hit:
    pattern: ThreatPattern
    start: int
    end: int
    phrase: str


def _first_hits(text: str, patterns: Iterable[ThreatPattern]) -> list[_Hit]:
    hits = []
    for pattern in patterns:
        # A pattern none of whose required words is in the text cannot match: skipping it
        # changes no result and saves a regex pass over the whole text.
        if pattern.required and not any(word in text for word in pattern.required):
            continue
        match = pattern.matcher().search(text)
        if match is not None:
            hits.append(_Hit(pattern, match.start(), match.end(), match.group(0)))
    return hits


def _accepted(hits: list[_Hit]) -> list[_Hit]:
    """Per category, drop hits on words a heavier hit of the same category already covers."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (-h.pattern.weight, h.start, h.pattern.name)):
        if not any(k.pattern.category == hit.pattern.category
                   and k.start < hit.end and hit.start < k.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: (h.start, h.pattern.name))


def score_text(normalized_text: str, patterns: Iterable[ThreatPattern]) -> ThreatScore:
    """Matches and capped score of text already passed through ``normalize_text``.

    All of the text is scored (linear time: see docs/detection.md for the cost per MB);
    the caller bounds its size (the threat check: by the message size limit)."""
    text = fold_accents(normalized_text)
    kept = _accepted(_first_hits(text, patterns))
    totals: dict[str, float] = {}
    for hit in kept:
        category = hit.pattern.category
        totals[category] = totals.get(category, 0.0) + hit.pattern.weight
    score = sum(min(total, CATEGORY_CAPS.get(category, total))
                for category, total in totals.items())
    matches = tuple(
        ThreatMatch(h.pattern.name, h.pattern.category, h.pattern.weight,
                    ascii_safe(h.phrase, _PHRASE_MAX))
        for h in kept
    )
    return ThreatScore(round(score, 3), matches, tuple(sorted(totals)))
