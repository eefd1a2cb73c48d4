"""Does a display name that holds a watched alias among other words claim the organization?

A name that merely *contains* an alias ("GOP Ballot Security Desk", "Alaska GOP") is judged
by consistency with its address: it is the organization's neighbour when its domain's own
name carries the alias (``alaskagop.com``) or the domain is a government registrant's, or
when its other words name a place, chamber or chapter and none dresses it up as an office;
otherwise it claims the organization from an address that has nothing to do with it.
``name_match`` finds the alias; this module judges the claim.
"""

from __future__ import annotations

from ..domains import normalize_domain, public_suffix, registrable_domain
from ..text import fold_key
from .name_reading import (
    FILLER_WORDS,
    acronyms,
    expanded_words,
    fold_pairs,
    is_acronym,
    name_words,
    word_lists,
)
from .watchlist import Organization


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
    keys = {fold_pairs("".join(expanded_words(alias))) for alias in org.names()}
    keys.update(fold_pairs(fold_key(info.domain.split(".")[0].replace("-", "")))
                for info in org.domains)
    return {k for k in keys if len(k) >= 3}


def _label_key(label: str) -> str:
    return fold_pairs(fold_key(label.replace("-", "").replace("_", "")))


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


# After an alias these make the name a group of somewhere ("Democrats of Greater Boston").
_GROUP_OF = frozenset(name_words("of in"))


def embedded_claims(words: tuple[str, ...], author: str, alias: str, span: tuple[int, int]) -> bool:
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
    if any(w in lists.impostor for w in words):
        return True
    start, end = span
    others = [w for i, w in enumerate(words)
              if not start <= i < end and w not in FILLER_WORDS and not w.isdigit()]
    if any(w in lists.affiliate for w in others):
        return False
    if _is_person(alias):
        return True
    if is_acronym(alias):
        if fold_pairs("".join(name_words(alias))) not in acronyms(author):
            return False
    elif len(name_words(alias)) == 1:
        return False
    after = [w for w in words[end:] if w not in FILLER_WORDS or w in _GROUP_OF]
    return bool(after) and after[0] not in _GROUP_OF


def misspelt_counts(org: Organization, alias: str, address: tuple[str, str] | None) -> bool:
    """A misspelling of a person's name is another real person ("Joe Bidan") unless the
    address claims the organization too ("joebiden2026@...")."""
    if not _is_person(alias):
        return True
    if address is None:
        return False
    local, domain = address
    keys = [_label_key(local)] + [_label_key(label) for label in domain.split(".")]
    return any(_carries(key, org) for key in keys)
