"""Which watched organization a display name presents a message as coming from.

Names are compared as a reader sees them: case, punctuation, spacing, accents, invisible
characters and look-alike letters of other scripts folded away (the text layer's key, the
one look-alike domains use), abbreviated words read in full (``data/display_name_words.yaml``).
Used by ``display_name.py`` (display_name_impersonation) and ``reply_to.py``
(reply_to_diversion).

A name *is* the organization when an alias (in any word order) is surrounded only by filler
words and titles. A name that merely *contains* an alias among other words ("GOP Ballot
Security Desk", "Alaska GOP") is judged by consistency with its address (``embedded``): it
is the organization's neighbour when its domain's own name carries the alias
(``alaskagop.com``), or when its other words name a place, chamber or chapter and none
dresses it up as an office; otherwise it claims the organization from an address that has
nothing to do with it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import yaml
from rapidfuzz.distance import Levenshtein

from ..domains import normalize_domain, public_suffix, registrable_domain
from ..text import fold_key, reading, strip_invisible
from ..text.fold import LETTER_PAIRS
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


# The pairs without a stroke letter: keys already read i as l, so a "cl" in a key may have
# been "ci" ("CISA" has the key "clsa", which must not become "dsa").
_KEY_PAIRS = tuple((pair, single) for pair, single in LETTER_PAIRS if "l" not in pair)


def _pairs(key: str) -> str:
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
        return cls(words, _pairs("".join(words)), "".join(core), tuple(counts))

    def only_filler_outside(self, start: int, end: int) -> bool:
        return self.unfilled[-1] - (self.unfilled[end] - self.unfilled[start]) == 0


def _contains(name: _Name, want: str) -> list[tuple[int, int]]:
    """Spans of the name's words whose letters spell ``want`` (spacing inside words ignored,
    letter pairs read across word boundaries)."""
    if want not in name.compact:  # one C-speed scan rules out almost every name
        return []
    words = name.words
    spans = []
    for start in range(len(words)):
        joined = ""
        for end in range(start, len(words)):
            joined += words[end]
            if _pairs(joined) == want:
                spans.append((start, end + 1))
            # Pairs fold two letters into one: a span is never more than twice as long.
            if len(joined) >= 2 * len(want):
                break
    return spans


def _reordered(name: _Name, target: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans of the name that hold the alias's words in another order ("Committee,
    Republican National")."""
    size = len(target)
    if size < 2 or len(set(target)) < 2 or len(name.words) < size:
        return []
    want = Counter(target)
    words = name.words
    window = Counter(words[:size])
    spans = []
    for start in range(len(words) - size + 1):
        if start:
            window[words[start - 1]] -= 1
            window[words[start + size - 1]] += 1
        if +window == want and words[start:start + size] != target:
            spans.append((start, start + size))
    return spans


@dataclass(frozen=True)
class _Found:
    how: str  # "exact", "phrase", "reordered" or "embedded" (judged by the address)
    span: tuple[int, int] = (0, 0)


def _match_alias(name: _Name, alias: str, primary: bool) -> _Found | None:
    target = expanded_words(alias)
    if not target:
        return None
    want = _pairs("".join(target))
    if name.compact == want:
        return _Found("exact", (0, len(name.words)))
    embedded: _Found | None = None
    spans = [(s, "phrase") for s in _contains(name, want)]
    spans += [(s, "reordered") for s in _reordered(name, target)]
    for (start, end), how in spans:
        if name.only_filler_outside(start, end):
            return _Found(how, (start, end))
        # The organization's full name is distinctive enough inside a short longer name
        # ("Proud Boys Florida"); its aliases are not ("House Democrats").
        if primary and len(target) >= 2 and len(name.words) - (end - start) <= 3:
            return _Found(how, (start, end))
        if embedded is None:
            embedded = _Found("embedded", (start, end))
    return embedded


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


def _is_person(alias: str) -> bool:
    """An alias of two or more words none of which is a word of organizations' names nor a
    filler word: a person's name ("Joe Biden", "Donald J. Trump")."""
    words = [w for w in name_words(alias) if len(w) > 1]
    lists = word_lists()
    return len(words) >= 2 and not any(
        w in lists.organization or w in FILLER_WORDS for w in words)


def _org_keys(org: Organization) -> set[str]:
    """What an address that claims the organization carries: the letters of its names and
    the first label of its domains."""
    keys = {_pairs("".join(expanded_words(alias))) for alias in org.names()}
    keys.update(_pairs(fold_key(info.domain.split(".")[0].replace("-", "")))
                for info in org.domains)
    return {k for k in keys if len(k) >= 3}


def _label_key(label: str) -> str:
    return _pairs(fold_key(label.replace("-", "").replace("_", "")))


def _carries(text_key: str, org: Organization) -> str | None:
    """The organization's key that ``text_key`` contains, if any."""
    return next((k for k in _org_keys(org) if k in text_key), None)


def domain_carries(domain: str, org: Organization) -> bool:
    """Does the domain's own name carry the organization's name or alias, as a state
    party's does (``alaskagop.com``, ``housedemocrats.gov``)? The label must be the
    registered one (a forger makes ``democrats.anything.example`` for free), except under
    a government suffix, and the rest of it must hold no impostor word
    (``gop-ballot-security.example`` claims an office, not a chapter)."""
    domain = normalize_domain(domain)
    registered = registrable_domain(domain)
    if not registered:
        return False
    suffix = public_suffix(domain)
    # the suffix counts: a restricted party TLD (".gop") is the party's own name
    labels = [registered.split(".")[0], *suffix.split(".")]
    if suffix in ("gov", "mil"):
        labels += domain[: -len(registered)].rstrip(".").split(".")
    for label in labels:
        key = _label_key(label)
        carried = _carries(key, org)
        if carried is None:
            continue
        rest = key.replace(carried, " ")
        if not any(len(w) >= 5 and w in rest for w in word_lists().impostor):
            return True
    return False


def government_domain(domain: str) -> bool:
    """A domain of a registry that admits only government bodies: a forger cannot hold one,
    so a longer name from it (``Biden-Harris Transition <…@buildbackbetter.gov>``) is that
    body's own. A name that *is* an organization still fires from it."""
    return public_suffix(normalize_domain(domain)).split(".")[-1] in ("gov", "mil")


def _acronyms(author: str) -> set[str]:
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
            found.add(_pairs(name_key(run).replace(" ", "")))
        run = ""
        if token.isupper() and len(token) <= 2 * _ACRONYM_MAX:
            found.add(_pairs(name_key(token).replace(" ", "")))
    if len(run) >= 2:
        found.add(_pairs(name_key(run).replace(" ", "")))
    return found


def _is_acronym(alias: str) -> bool:
    letters = alias.replace(".", "").strip()
    return letters.isupper() and letters.isalpha() and len(letters) <= _ACRONYM_MAX


# After an alias these make the name a group of somewhere ("Democrats of Greater Boston").
_GROUP_OF = frozenset(name_words("of in"))


def _embedded_claims(name: _Name, author: str, alias: str, span: tuple[int, int]) -> bool:
    """Does a name that holds ``alias`` among other words claim to be the organization
    rather than a neighbour of it, whatever its address?

    An office word ("GOP Ballot Security Desk") always claims. Otherwise, by the shape of
    the alias: a plain word ("Democrats") names members, not the organization ("Marin
    Democrats", "Democrats for Education Reform"); a person's name claims the person
    unless the other words make it someone else ("Donald Trump Jr."); an acronym or a
    name of several words claims unless the other words name a place, chamber or chapter,
    or the alias is the head of the name ("Cobb GOP": a GOP of Cobb) or followed by "of"
    ("GOP of Cobb County"). An acronym spelt as a given name ("Cisa Johnson") is one."""
    lists = word_lists()
    if any(w in lists.impostor for w in name.words):
        return True
    start, end = span
    others = [w for i, w in enumerate(name.words)
              if not start <= i < end and w not in FILLER_WORDS and not w.isdigit()]
    if any(w in lists.affiliate for w in others):
        return False
    if _is_person(alias):
        return True
    if _is_acronym(alias):
        if _pairs("".join(name_words(alias))) not in _acronyms(author):
            return False
    elif len(name_words(alias)) == 1:
        return False
    after = [w for w in name.words[end:] if w not in FILLER_WORDS or w in _GROUP_OF]
    return bool(after) and after[0] not in _GROUP_OF


def _misspelt_counts(org: Organization, alias: str, address: tuple[str, str] | None) -> bool:
    """A misspelling of a person's name is another real person ("Joe Bidan") unless the
    address claims the organization too ("joebiden2026@...")."""
    if not _is_person(alias):
        return True
    if address is None:
        return False
    local, domain = address
    keys = [_label_key(local)] + [_label_key(label) for label in domain.split(".")]
    return any(_carries(key, org) for key in keys)


def match_display_name(display_name: str, watchlist: Watchlist,
                       address: tuple[str, str] | None = None) -> NameMatch | None:
    """The watched organization a display name presents the message as coming from.

    Without ``address`` (local part, domain) only names that are the organization match.
    With it, a name that holds an alias among other words matches too (``embedded``) when
    it claims the organization and the domain's own name does not carry the alias; whether
    the address is the organization's own (its domains, signing domains, neighbours) is
    the caller's to judge."""
    if not display_name.strip():
        return None
    author = author_part(display_name)
    found = _address_match(author, watchlist)
    if found is not None:
        return found
    words = expanded_words(author)
    if not words:
        return None
    name = _Name.of(words)
    embedded: NameMatch | None = None
    for org in watchlist.organizations:
        for alias in org.names():
            match = _match_alias(name, alias, alias == org.name)
            if match is None:
                continue
            if match.how != "embedded":
                return NameMatch(org, alias, match.how)
            if (embedded is None and address is not None
                    and _embedded_claims(name, author, alias, match.span)
                    and not domain_carries(address[1], org)
                    and not government_domain(address[1])):
                embedded = NameMatch(org, alias, "embedded")
    if embedded is not None:
        return embedded
    for org in watchlist.organizations:  # an exact or phrase match anywhere wins
        for alias in org.names():
            if _misspelt(name, _pairs("".join(expanded_words(alias)))) and _misspelt_counts(
                    org, alias, address):
                return NameMatch(org, alias, "misspelt")
    return None

