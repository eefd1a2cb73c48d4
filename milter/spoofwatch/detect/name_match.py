"""Which watched organization a display name presents a message as coming from.

Names are compared as a reader sees them (``name_reading``: case, punctuation, spacing,
accents, invisible characters and look-alike letters of other scripts folded away,
abbreviated words read in full). Used by ``display_name.py`` (display_name_impersonation)
and ``reply_to.py`` (reply_to_diversion).

A name *is* the organization when an alias (in any word order) is surrounded only by filler
words and titles. A name that merely *contains* an alias among other words ("GOP Ballot
Security Desk", "Alaska GOP") is judged by consistency with its address (``embedded``,
see ``name_claims``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ..domains import normalize_domain
from .name_claims import domain_carries, embedded_claims, government_domain, misspelt_counts
from .name_reading import (
    FILLER_WORDS,
    author_part,
    domain_tokens,
    expanded_words,
    fold_pairs,
    name_key,
    name_words,
)
from .watchlist import Organization, Watchlist

# The names tests and callers import from here; they live in name_reading and name_claims.
__all__ = ["NameMatch", "author_part", "domain_carries", "domain_tokens", "government_domain",
           "match_display_name", "name_key", "name_words"]

_MISSPELT_MIN = 8  # letters (spaces and punctuation removed) before one edit counts
_MISSPELT_TWO = 16  # letters before two edits count


@dataclass(frozen=True)
class NameMatch:
    org: Organization
    alias: str
    how: str  # "exact", "phrase", "misspelt", "address"


def _address_match(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    """A watched domain (or an address in it) written in the display name."""
    for token in dict.fromkeys(domain_tokens(display_name.lower())):
        domain = normalize_domain(token)
        owner = watchlist.owner_of(domain)
        if owner is not None:
            return NameMatch(owner[0], owner[1].domain, "address")
    return None


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
        return cls(words, fold_pairs("".join(words)), "".join(core), tuple(counts))

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
            if fold_pairs(joined) == want:
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
    want = fold_pairs("".join(target))
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


# Results per watchlist (a reload makes a new one), for the display names and addresses
# mail keeps repeating (a newsletter's sender, a forger's campaign): dropped when full, so
# a stream of made-up names costs time, never memory.
_MATCHES_MAX = 4096
_NO_MATCH = object()


def match_display_name(display_name: str, watchlist: Watchlist,
                       address: tuple[str, str] | None = None) -> NameMatch | None:
    """The watched organization a display name presents the message as coming from.

    Without ``address`` (local part, domain) only names that are the organization match.
    With it, a name that holds an alias among other words matches too (``embedded``) when
    it claims the organization and the domain's own name does not carry the alias; whether
    the address is the organization's own (its domains, signing domains, neighbours) is
    the caller's to judge."""
    cache = watchlist.__dict__.setdefault("_name_matches", {})
    key = (display_name, address)
    found = cache.get(key)
    if found is None:
        match = _match_display_name(display_name, watchlist, address)
        if len(cache) >= _MATCHES_MAX:
            cache.clear()
        cache[key] = _NO_MATCH if match is None else match
        return match
    return None if found is _NO_MATCH else found  # type: ignore[no-any-return]


def _match_display_name(display_name: str, watchlist: Watchlist,
                        address: tuple[str, str] | None) -> NameMatch | None:
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
                    and embedded_claims(name.words, author, alias, match.span)
                    and not domain_carries(address[1], org)
                    and not government_domain(address[1])):
                embedded = NameMatch(org, alias, "embedded")
    if embedded is not None:
        return embedded
    for org in watchlist.organizations:  # an exact or phrase match anywhere wins
        for alias in org.names():
            if _misspelt(name, fold_pairs("".join(expanded_words(alias)))) and misspelt_counts(
                    org, alias, address):
                return NameMatch(org, alias, "misspelt")
    return None
