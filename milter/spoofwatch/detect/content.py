"""Scoring normalized text for voter intimidation and coercion.

Patterns live in a YAML data file (``spoofwatch/data/threat_patterns.yaml`` by default),
not in code: an admin can add phrasings without a release. Each pattern has a category
and a weight; the score is the sum of matched weights with each category capped, so the
same phrase repeated fifty times counts like once. This module only reports matches: the
verdict decides what they mean (threatening words in authenticated mail are not a threat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_MAX_MATCHES_PER_PATTERN = 3


@dataclass(frozen=True)
class ThreatPattern:
    name: str
    category: str
    weight: float
    language: str
    regex: str
    compiled: re.Pattern[str]


@dataclass(frozen=True)
class ThreatMatch:
    pattern: str
    category: str
    weight: float
    phrase: str  # the normalized text matched, shortened


@dataclass(frozen=True)
class ThreatScore:
    score: float
    matches: tuple[ThreatMatch, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class PatternSet:
    patterns: tuple[ThreatPattern, ...]
    category_caps: tuple[tuple[str, float], ...]


def _fail(path: str, where: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {where}: {problem}")


def _parse(data: Any, path: str) -> PatternSet:
    if not isinstance(data, dict) or not isinstance(data.get("patterns"), list):
        raise _fail(path, "patterns", "the file must hold a mapping with a 'patterns' list")
    caps_raw = data.get("category_caps", {}) or {}
    if not isinstance(caps_raw, dict):
        raise _fail(path, "category_caps", "must be a mapping of category to number")
    caps = {}
    for cat, cap in caps_raw.items():
        if not isinstance(cap, int | float) or isinstance(cap, bool) or cap <= 0:
            raise _fail(path, f"category_caps.{cat}", "must be a positive number")
        caps[str(cat)] = float(cap)
    patterns = []
    names: set[str] = set()
    for i, item in enumerate(data["patterns"]):
        where = f"patterns[{i}]"
        if not isinstance(item, dict):
            raise _fail(path, where, "must be a mapping")
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+", name):
            raise _fail(path, f"{where}.name", "must be a lower-case identifier")
        if name in names:
            raise _fail(path, f"{where}.name", f"duplicate pattern name {name!r}")
        names.add(name)
        category = item.get("category")
        if not isinstance(category, str) or not category:
            raise _fail(path, f"{where}.category", "is required")
        weight = item.get("weight")
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise _fail(path, f"{where}.weight", "must be a number")
        regex = item.get("regex")
        if not isinstance(regex, str) or not regex:
            raise _fail(path, f"{where}.regex", "is required")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise _fail(path, f"{where}.regex", f"invalid regular expression: {exc}") from None
        patterns.append(ThreatPattern(name, category, float(weight),
                                      str(item.get("language", "en")), regex, compiled))
    if not patterns:
        raise _fail(path, "patterns", "no patterns defined")
    return PatternSet(tuple(patterns), tuple(sorted(caps.items())))


def load_patterns(path: Path | None = None) -> PatternSet:
    """Load and validate a pattern file; errors are ValueErrors naming the file and entry."""
    if path is None:
        source = resources.files("spoofwatch.data").joinpath("threat_patterns.yaml")
        name, text = "spoofwatch/data/threat_patterns.yaml", source.read_text(encoding="utf-8")
    else:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: invalid YAML: {exc}") from None
    return _parse(data, name)


def score_text(normalized_text: str, patterns: PatternSet) -> ThreatScore:
    """Matches and the capped score of text already passed through ``normalize_text``."""
    matches: list[ThreatMatch] = []
    per_category: dict[str, float] = {}
    for pattern in patterns.patterns:
        found = 0
        for match in pattern.compiled.finditer(normalized_text):
            phrase = match.group(0).strip()[:80]
            matches.append(ThreatMatch(pattern.name, pattern.category, pattern.weight, phrase))
            found += 1
            if found >= _MAX_MATCHES_PER_PATTERN:
                break
        if found:
            per_category[pattern.category] = per_category.get(pattern.category, 0.0) + pattern.weight
    caps = dict(patterns.category_caps)
    score = sum(min(total, caps.get(cat, total)) for cat, total in per_category.items())
    return ThreatScore(round(score, 2), tuple(matches), tuple(sorted(per_category)))
