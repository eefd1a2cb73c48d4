"""Reading display names as a reader sees them: their words, keys and word lists.

Case, punctuation, spacing, accents, invisible characters and look-alike letters of other
scripts are folded away (the text layer's key, the one look-alike domains use), abbreviated
words read in full and titles, affiliate, impostor and organization words read from
``data/display_name_words.yaml``. Also the author's part of a relayed name ("Alice via
DemList"), domains written in a name and the acronyms it spells. ``name_match`` matches
these words against the watchlist's aliases, ``name_claims`` judges a name by its address.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

import yaml

from ..text import fold_key, reading, strip_invisible
from ..text.fold import LETTER_PAIRS

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
# Domains written in a display name are found in runs of word characters, '-' and '.'.
# Single-class runs scan in linear time; the obvious r"[\w-]+(?:\.[\w-]+)+" was tried
# from every position of a long run of letters and rescanned it each time (30 KB of
# letters cost seconds), and its repeated group keeps a backtracking record per label.
_DOMAIN_RUN = re.compile(r"[\w.-]+")
_DOT_RUN = re.compile(r"\.{2,}")
# An apostrophe inside a word abbreviates it ("Nat'l"): the word stays one word.
_INNER_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
# Tokens of the name as written (case kept), to tell an acronym ("GOP", "C I S A") from a
# given name that spells the same letters ("Cisa Johnson").
_RAW_TOKEN = re.compile(r"[^\W_]+")
# Regional indicator symbols (U+1F1E6..U+1F1FF) are drawn as boxed capitals when they do
# not pair into a flag: "🇷🇳🇨" reads RNC. Neither NFKC nor TR39 maps them.
_REGIONAL = {0x1F1E6 + i: chr(ord("A") + i) for i in range(26)}
_ACRONYM_MAX = 5  # letters of a one-word alias written in capitals that is an acronym


def _letters_of(text: str) -> str:
    """``text`` with abbreviating apostrophes, regional-indicator letters and "&" made
    plain ("Cybersecurity & Infrastructure Security Agency")."""
    return _INNER_APOSTROPHE.sub("", text.translate(_REGIONAL)).replace("&", " and ")


def name_words(text: str) -> tuple[str, ...]:
    """The words of a name as a reader sees them: case, punctuation, spacing, accents,
    zero-width characters and look-alike letters of other scripts folded away.

    Each word is the text layer's comparison key (the one look-alike domains use), except
    that a number ("2026") stays a number: 0 and 1 read as letters only in words."""
    words: list[str] = []
    for token in _WORD_SPLIT.split(reading(_letters_of(text))):
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


# The pairs without a stroke letter: keys already read i as l, so a "cl" in a key may have
# been "ci" ("CISA" has the key "clsa", which must not become "dsa").
_KEY_PAIRS = tuple((pair, single) for pair, single in LETTER_PAIRS if "l" not in pair)


def fold_pairs(key: str) -> str:
    """Letter pairs folded across the words of a joined key, as ``fold_key`` folds them
    inside one word: "R N C" joins to "rnc", which reads as the key of "RNC" ("mc")."""
    for pair, single in _KEY_PAIRS:
        key = key.replace(pair, single)
    return key


@dataclass(frozen=True)
class WordLists:
    """``data/display_name_words.yaml``, folded like names."""

    abbreviations: dict[str, tuple[str, ...]]
    titles: frozenset[str]
    affiliate: frozenset[str]
    impostor: frozenset[str]
    organization: frozenset[str]


@functools.cache
def word_lists() -> WordLists:
    raw = yaml.safe_load(resources.files("spoofwatch.data").joinpath(
        "display_name_words.yaml").read_text("utf-8"))
    abbreviations = {name_key(short): name_words(full)
                     for short, full in raw["abbreviations"].items()}
    return WordLists(abbreviations, frozenset(name_words(raw["titles"])),
                     frozenset(name_words(raw["affiliate"])),
                     frozenset(name_words(raw["impostor"])),
                     frozenset(name_words(raw["organization_words"])))


# compared after folding, like the names ("official" has the key "offlclal"). Titles before
# a person's name ("Pres. Donald J. Trump") count as filler.
FILLER_WORDS = frozenset(name_words(_FILLER_TEXT)) | word_lists().titles


def expanded_words(text: str) -> tuple[str, ...]:
    """``name_words`` with abbreviations read in full ("Repub. Natl. Cmte.")."""
    full = word_lists().abbreviations
    return tuple(part for w in name_words(text) for part in full.get(w, (w,)))


def acronyms(author: str) -> set[str]:
    """Keys of the acronyms written in the name: words in capitals ("GOP", "GΟP") and runs
    of single letters ("C I S A", "c.i.s.a")."""
    raw = unicodedata.normalize("NFKC", strip_invisible(_letters_of(author)))
    found: set[str] = set()
    run = ""
    for token in _RAW_TOKEN.findall(raw):
        if len(token) == 1:
            run += token
            continue
        if len(run) >= 2:
            found.add(fold_pairs(name_key(run).replace(" ", "")))
        run = ""
        if token.isupper() and len(token) <= 2 * _ACRONYM_MAX:
            found.add(fold_pairs(name_key(token).replace(" ", "")))
    if len(run) >= 2:
        found.add(fold_pairs(name_key(run).replace(" ", "")))
    return found


def is_acronym(alias: str) -> bool:
    letters = alias.replace(".", "").strip()
    return letters.isupper() and letters.isalpha() and len(letters) <= _ACRONYM_MAX
