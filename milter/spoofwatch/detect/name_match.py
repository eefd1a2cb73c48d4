"""Which watched organization a display name presents a message as coming from.

Names are compared as a reader sees them: case, punctuation, spacing, accents, invisible
characters and look-alike letters of other scripts folded away (the text layer's key, the
one look-alike domains use). Used by ``display_name.py`` (display_name_impersonation) and
``reply_to.py`` (reply_to_diversion).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ..domains import normalize_domain
from ..text import fold_key, reading
from .watchlist import Organization, Watchlist

# Words are runs of Latin letters, digits and "|" (which reads as l) once look-alike letters
# are read as Latin; other characters separate them.
_WORD_SPLIT = re.compile(r"[^a-z0-9|]+")
# Relay shapes of mailing lists and ticket systems: "Alice via DemList" (Mailman, Google
# Groups), "Assistant on behalf of Alice" (Exchange). Only the author's side is judged:
# the left of "via", the right of "on behalf of". The list's own name is not a claim.
# Each starts only where a whitespace run starts: a bare "\s+via" is tried from every
# position of a long run of spaces and rescans the run each time (quadratic).
_VIA = re.compile(r"(?<!\s)\s+via\s+", re.I)
_ON_BEHALF = re.compile(r"(?<!\s)\s+on\s+behalf\s+of\s+", re.I)
# Words an impersonator adds around a name to look official ("DNC Official Notice",
# "Team Trump HQ 2026"). A short alias (DNC, GOP, CISA) matches only alone or with these,
# so a person or a group whose longer name merely contains it (Cisa Johnson, Alaska GOP,
# House Democrats) is not taken for the organization.
_FILLER_TEXT = """
    the of for and from a an official officials notice notices notification alert alerts
    team hq headquarters office staff admin administrator support help helpdesk desk center
    centre service services news newsletter update updates info information mail email
    mailer noreply no reply donotreply security secure department dept national committee
    election elections vote voting voter voters campaign us usa america american inc org
"""
_MISSPELT_MIN = 8  # letters (spaces and punctuation removed) before one edit counts
_MISSPELT_TWO = 16  # letters before two edits count
# Domains written in a display name are found in runs of word characters, '-' and '.'.
# Single-class runs scan in linear time; the obvious r"[\w-]+(?:\.[\w-]+)+" was tried
# from every position of a long run of letters and rescanned it each time (30 KB of
# letters cost seconds), and its repeated group keeps a backtracking record per label.
_DOMAIN_RUN = re.compile(r"[\w.-]+")
_DOT_RUN = re.compile(r"\.{2,}")


def name_words(text: str) -> tuple[str, ...]:
    """The words of a name as a reader sees them: case, punctuation, spacing, accents,
    zero-width characters and look-alike letters of other scripts folded away.

    Each word is the text layer's comparison key (the one look-alike domains use), except
    that a number ("2026") stays a number: 0 and 1 read as letters only in words."""
    words: list[str] = []
    for token in _WORD_SPLIT.split(reading(text)):
        if token.isdigit():
            words.append(token)
        elif token:
            words += [w for w in _WORD_SPLIT.split(fold_key(token)) if w]
    return tuple(words)


# Cached: the watchlist's aliases are folded again for every message otherwise (about
# half of detection time in the benchmark); the function is pure.
@functools.lru_cache(maxsize=4096)
def name_key(text: str) -> str:
    """``name_words`` joined by single spaces."""
    return " ".join(name_words(text))


def author_part(display_name: str) -> str:
    """The part of a relayed display name that names the author (see ``_VIA``)."""
    parts = _ON_BEHALF.split(display_name, maxsplit=1)
    if len(parts) == 2:
        return parts[1]
    return _VIA.split(display_name, maxsplit=1)[0]


@dataclass(frozen=True)
class NameMatch:
    org: Organization
    alias: str
    how: str  # "exact", "phrase", "misspelt", "address"


def domain_tokens(text: str) -> list[str]:
    """Dotted names in ``text``: labels of word characters and '-' joined by single dots
    ("democrats.org", "x@vote.gov" gives "vote.gov"), in order."""
    tokens: list[str] = []
    for run in _DOMAIN_RUN.findall(text):
        for piece in _DOT_RUN.split(run):  # ".." ends a name, as it ends a DNS name
            piece = piece.strip(".")
            if "." in piece:
                tokens.append(piece)
    return tokens


def _address_match(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    """A watched domain (or an address in it) written in the display name."""
    for token in dict.fromkeys(domain_tokens(display_name.lower())):
        domain = normalize_domain(token)
        owner = watchlist.owner_of(domain)
        if owner is not None:
            return NameMatch(owner[0], owner[1].domain, "address")
    return None


# compared after folding, like the names ("official" has the key "offlclal")
FILLER_WORDS = frozenset(name_words(_FILLER_TEXT))


@dataclass(frozen=True)
class _Name:
    """A display name's words, prepared once for comparison with every alias."""

    words: tuple[str, ...]
    compact: str  # the words joined
    core: str  # the words that are neither filler nor numbers, joined
    # unfilled[i]: how many of words[:i] are neither filler nor numbers. Whether the words
    # outside a span are all filler is then one subtraction, not a pass over the name
    # (which made a name repeating an alias quadratic).
    unfilled: tuple[int, ...]

    @classmethod
    def of(cls, words: tuple[str, ...]) -> _Name:
        counts = [0]
        core: list[str] = []
        for word in words:
            plain = not (word in FILLER_WORDS or word.isdigit())
            counts.append(counts[-1] + plain)
            if plain:
                core.append(word)
        return cls(words, "".join(words), "".join(core), tuple(counts))

    def only_filler_outside(self, start: int, end: int) -> bool:
        return self.unfilled[-1] - (self.unfilled[end] - self.unfilled[start]) == 0


def _contains(name: _Name, want: str) -> list[tuple[int, int]]:
    """Spans of the name's words whose letters spell ``want`` (spacing inside words ignored)."""
    if want not in name.compact:  # one C-speed scan rules out almost every name
        return []
    words = name.words
    spans = []
    for start in range(len(words)):
        if not want.startswith(words[start]):
            continue
        joined = ""
        for end in range(start, len(words)):
            joined += words[end]
            if joined == want:
                spans.append((start, end + 1))
            if len(joined) >= len(want):
                break
    return spans


def _match_alias(name: _Name, alias: str, primary: bool, fuzzy: bool) -> str | None:
    target = name_words(alias)
    if not target:
        return None
    want = "".join(target)
    if name.compact == want:
        return "exact"
    if fuzzy:
        return _misspelt(name, want)
    for start, end in _contains(name, want):
        if name.only_filler_outside(start, end):
            return "phrase"
        # The organization's full name is distinctive enough inside a short longer name
        # ("Proud Boys Florida"); its aliases are not ("House Democrats").
        if primary and len(target) >= 2 and len(name.words) - (end - start) <= 3:
            return "phrase"
    return None


def _misspelt(name: _Name, want: str) -> str | None:
    """One edit from an alias of 8+ letters, two from one of 16+ ("Demokrats"), alone or
    with filler words."""
    allowed = 2 if len(want) >= _MISSPELT_TWO else 1 if len(want) >= _MISSPELT_MIN else 0
    for candidate in dict.fromkeys((name.compact, name.core)):
        # Texts whose lengths differ by more than the allowance are never that close.
        if allowed and abs(len(candidate) - len(want)) <= allowed and Levenshtein.distance(
                candidate, want, score_cutoff=allowed) <= allowed:
            return "misspelt"
    return None


def match_display_name(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    """The watched organization a display name presents the message as coming from."""
    if not display_name.strip():
        return None
    author = author_part(display_name)
    found = _address_match(author, watchlist)
    if found is not None:
        return found
    words = name_words(author)
    if not words:
        return None
    name = _Name.of(words)
    for fuzzy in (False, True):  # an exact or phrase match anywhere wins over a misspelling
        for org in watchlist.organizations:
            for alias in org.names():
                how = _match_alias(name, alias, alias == org.name, fuzzy)
                if how is not None:
                    return NameMatch(org, alias, how)
    return None

