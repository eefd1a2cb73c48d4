"""What counts as a look-alike: the kinds, the thresholds, the distances, the filler words.

The vocabulary and measures :class:`.lookalike.LookalikeMatcher` applies (the module
docstring of :mod:`.lookalike` says how a candidate is compared). Pure functions on
strings already in visual-key space (:func:`visual_key`, the text layer's ``fold_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ..text import fold_key, script_of

__all__ = ["ADDED_WORDS", "LookalikeKind", "LookalikeMatch", "WatchedDomain", "is_filler",
           "is_mixed_script", "max_edits", "scripts_in", "visual_distance", "visual_key"]


class LookalikeKind(StrEnum):
    TYPO = "typo"  # edit distance 1-2: omission, repetition, insertion, replacement, bitflip
    TRANSPOSITION = "transposition"  # two neighbouring characters swapped
    HOMOGLYPH = "homoglyph"  # same visual key, or a near IDN / mixed-script spelling
    TLD_SWAP = "tld_swap"  # same name under another public suffix
    HYPHENATION = "hyphenation"  # only separators ('-', '.') added, moved or dropped
    ADDED_WORD = "added_word"  # name plus filler words/numbers: secure-, -2026, -org, -vote
    SUBDOMAIN_ABUSE = "subdomain_abuse"  # the watched domain spelled in subdomain labels
    COMBOSQUAT = "combosquat"  # name combined with other, arbitrary words


@dataclass(frozen=True)
class WatchedDomain:
    domain: str
    org: str


@dataclass(frozen=True)
class LookalikeMatch:
    domain: str  # the suspicious domain as seen, A-label form
    unicode: str  # U-label form for display
    target: str  # the watched domain imitated
    org: str
    kind: str  # a LookalikeKind value
    # Edit distance between the compared forms (visual keys for homoglyphs); for
    # added_word/combosquat the number of characters added to the watched name;
    # 0 for tld_swap and subdomain_abuse.
    distance: float


# Words an impersonator glues to a name to make it look official or topical.
# Compared after visual folding, so "rnember" also counts as "member".
ADDED_WORDS: frozenset[str] = frozenset(
    """
    secure security safe login logon signin signon sso auth verify verified verification
    account accounts billing pay payment payments refund invoice update updates alert alerts
    notice support help helpdesk service services portal online web www site mail email
    mailer news info official team hq office staff admin press media app apps my the get
    vote votes voter voters voting ballot ballots poll polls election elections elect
    donate donation donations donor give giving fund funds fundraising contribute pac action
    campaign party national nation usa us america american org com net gov edu info biz
    member members join rally win victory now today store shop
    dem dems democrat gop maga red blue
    """.split()
)

# A number in visual-key space: 0 and 1 have been folded to o and l (see the text layer's
# stroke letters: i is l there too), so a run of
# digits, o and l that holds at least one real digit is a number ("2o26" is 2026).
# The look-behind starts a number only where a run starts: otherwise a long run of o and l
# without a digit is rescanned from each of its positions (quadratic).
_NUMBER = re.compile(r"(?<![0-9ol])([0-9ol]*[0-9][0-9ol]*)")
_NO_SCRIPT = frozenset({"Common", "Inherited", "Unknown"})
# Scripts that legitimately mix in one word (TR39 treats them as one resolved set).
_CJK = frozenset({"Han", "Hiragana", "Katakana", "Bopomofo", "Hangul"})


def visual_key(text: str) -> str:
    """What a reader sees: the text layer's comparison key (skeleton, no diacritics,
    case folded, stroke letters one, letter pairs folded), shared with the display-name
    and content checks."""
    return fold_key(text)


def scripts_in(text: str) -> frozenset[str]:
    """The scripts of the letters in ``text``, ignoring Common and Inherited characters."""
    return frozenset(s for s in map(script_of, text) if s not in _NO_SCRIPT)


def is_mixed_script(text: str) -> bool:
    """True when ``text`` mixes letters of several scripts (CJK combinations excepted)."""
    scripts = scripts_in(text)
    if scripts <= _CJK:
        return False
    return len(scripts) > 1


def max_edits(length: int, same_suffix: bool) -> float:
    """Edits allowed between a candidate name and a watched name.

    ``length`` is the shorter of the two names (without separators): a short
    candidate sits in a dense neighbourhood even when the watched name is
    longer (winred.com -> wired.com). Look-alike letter swaps (b/d, c/e, m/n,
    ...) count half an edit. The rule, with the reason for each step:

    * n <= 3: 0. Every edit of an acronym gives another live acronym
      (gop -> gap, goop, gpo), so short names match only when they look the same,
      or through separators, added words and suffix swaps.
    * n 4-5: one look-alike letter swap (0.5), same suffix only. Plain edits of
      a short word are mostly other words (vote -> note, winred -> wired).
    * n 6-9: 1 under the same suffix; across suffixes the neighbourhood is too full.
    * n 10-12: 2 under the same suffix, else 1.
    * n >= 13: 2. Long names have sparse neighbourhoods.
    """
    if length <= 3:
        return 0
    if length <= 5:
        return 0.5 if same_suffix else 0
    if length <= 9:
        return 1 if same_suffix else 0
    if length <= 12:
        return 2 if same_suffix else 1
    return 2


# Letter pairs a reader confuses at a glance (after visual folding, so 0/1 are
# already o/l). A substitution within a pair costs half an edit in
# ``visual_distance``: "bcmocrats" is one visual edit from "democrats", not two.
_LOOKALIKE_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair) for pair in ("bd", "ce", "gq", "uv", "mn", "nr", "il", "38", "69", "ao")
)


def visual_distance(a: str, b: str) -> float:
    """Levenshtein distance where swapping one look-alike letter for another costs 0.5."""
    previous = [float(i) for i in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        current = [float(i)]
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cost = 0.0
            elif frozenset((ca, cb)) in _LOOKALIKE_PAIRS:
                cost = 0.5
            else:
                cost = 1.0
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def is_filler(word: str, words: frozenset[str]) -> bool:
    """A leftover piece an impersonator adds: known words (one or two glued) and numbers."""
    for index, run in enumerate(_NUMBER.split(word)):
        if not run:
            continue
        if index % 2:  # a number: a single digit is a typo, not an added word
            if len(run) < 2:
                return False
        elif run not in words and not any(
            run[:i] in words and run[i:] in words for i in range(2, len(run) - 1)
        ):
            return False
    return True
