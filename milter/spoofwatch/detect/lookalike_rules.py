"""What counts as a look-alike: the kinds, the thresholds, the distances, the filler words.

The vocabulary and measures :class:`.lookalike.LookalikeMatcher` applies (the module
docstring of :mod:`.lookalike` says how a candidate is compared). Pure functions on
strings already in visual-key space (:func:`visual_key`, the text layer's ``fold_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import yaml
from rapidfuzz.distance import OSA

from ..text import fold_key, script_of

__all__ = ["ADDED_WORDS", "AFFILIATE_WORDS", "COMMON_NAMES", "DISGUISE_EDITS", "IMPOSTOR_WORDS",
           "LookalikeKind", "LookalikeMatch", "WatchedDomain", "WatchedName", "is_affiliate",
           "is_disguised", "is_filler", "is_mixed_script", "is_plausible_name", "max_edits",
           "may_be_disguised", "scripts_in", "short_edit_is_lookalike", "visual_distance",
           "visual_key", "without_strokes"]


class LookalikeKind(StrEnum):
    TYPO = "typo"  # edit distance 1-2: omission, repetition, insertion, replacement, bitflip
    TRANSPOSITION = "transposition"  # two neighbouring characters swapped
    HOMOGLYPH = "homoglyph"  # same visual key, or a near IDN / mixed-script spelling
    TLD_SWAP = "tld_swap"  # same name under another public suffix
    HYPHENATION = "hyphenation"  # only separators ('-', '.') added, moved or dropped
    ADDED_WORD = "added_word"  # name plus filler words/numbers: secure-, -2026, -org, -vote
    SUBDOMAIN_ABUSE = "subdomain_abuse"  # the watched domain spelled in subdomain labels
    COMBOSQUAT = "combosquat"  # name combined with other, arbitrary words
    NAME = "name"  # the organization's name or alias spelled as a domain: proudboys.com


@dataclass(frozen=True)
class WatchedDomain:
    domain: str
    org: str


@dataclass(frozen=True)
class WatchedName:
    """An organization's name or alias ("Proud Boys"): domains spelling it imitate the org."""

    name: str
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
    by_name: bool = False  # target is the organization's name or alias, not a domain


def _load_words() -> dict[str, frozenset[str]]:
    """The word lists of ``data/lookalike_words.yaml`` (the file says what each one means)."""
    text = resources.files("spoofwatch.data").joinpath("lookalike_words.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {key: frozenset(str(data[key]).split())
            for key in ("impostor", "topical", "affiliate", "common_names")}


_WORDS = _load_words()
# Security, urgency, account and action words: a watched name plus only these is an impostor.
IMPOSTOR_WORDS: frozenset[str] = _WORDS["impostor"]
# Words an impersonator glues to a name to make it look official or topical (impostor
# words included). Compared after visual folding, so "rnember" also counts as "member".
ADDED_WORDS: frozenset[str] = IMPOSTOR_WORDS | _WORDS["topical"]
# Places, chambers, chapters: a watched name plus only these is an affiliate, not a lookalike.
AFFILIATE_WORDS: frozenset[str] = _WORDS["affiliate"]
# Watched names that are common words (a state's name): never matched by sharing the word.
COMMON_NAMES: frozenset[str] = _WORDS["common_names"]
# A piece ending in one of these names a place whatever precedes it (harriscounty).
_PLACE_ENDINGS = ("county", "parish", "borough")

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
# The last three pairs are letters the skeleton keeps apart from the Latin letter they pass
# for in a domain (a turned e for a, b with a tone mark, a barred u).
_LOOKALIKE_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair) for pair in ("bd", "ce", "gq", "uv", "mn", "nr", "il", "38", "69", "ao",
                                 "ǝa", "ƅb", "ʉu")
)
# Letters of those pairs that survive the visual key: still a Latin letter's disguise.
_DISGUISES = frozenset("ǝƅʉ")


# Letters with a stem: a stroke (l, which i, 1 and | fold to) set against one merges into
# it at a glance (lb for b, dl for d, as dnstwist's homoglyph table spells them).
_STEMMED = frozenset("bdhk")


def _extra_stroke(a: str, i: int) -> bool:
    """``a[i]`` is a stroke standing against a stemmed letter of ``a``."""
    return a[i] == "l" and any(0 <= k < len(a) and a[k] in _STEMMED for k in (i - 1, i + 1))


def visual_distance(a: str, b: str) -> float:
    """Levenshtein distance from the candidate ``a`` to the watched ``b`` where swapping one
    look-alike letter for another, or a stroke the candidate adds against a stemmed letter
    (lbiden, winredl), costs 0.5. Not symmetric: only the candidate's strokes are cheap."""
    previous = [float(i) for i in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        drop = 0.5 if _extra_stroke(a, i - 1) else 1.0
        current = [previous[0] + drop]
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cost = 0.0
            elif frozenset((ca, cb)) in _LOOKALIKE_PAIRS:
                cost = 0.5
            else:
                cost = 1.0
            current.append(min(previous[j] + drop, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


# Edits a disguised spelling may add to ``max_edits`` (lookalike_near): measured by
# bench/lookalike_recall.py against dnstwist's homoglyph fuzzer and the neighbour lists.
DISGUISE_EDITS = 1.0


def is_disguised(raw: str, key: str, watched: str, watched_key: str) -> bool:
    """The candidate ``raw`` (one or more labels, typed) uses a visual trick to come near
    ``watched``: it is an IDN whose letters all pass for Latin ones (dńc, qóp, ƅ for b), or
    folding brings it closer than its typed letters are (q0p, clmc: 0 for o, cl for d).

    Look-alike letter pairs alone (fcc beside fec) are not a trick: real names have them.
    """
    if not raw.isascii():
        return all(ch.isascii() or ch in _DISGUISES for ch in key)
    typed = raw.lower()
    # The candidate's own letters must fold (a digit for a letter, two letters for one):
    # mac.org is not disguised because the watched rnc folds to "mc".
    folds = len(typed) != len(key) or any(a.isdigit() and not b.isdigit()
                                          for a, b in zip(typed, key, strict=False))
    return folds and OSA.distance(typed, watched) > OSA.distance(key, watched_key)


def may_be_disguised(raw: str, key: str) -> bool:
    """Whether ``raw`` (folded to ``key``) carries any trick ``is_disguised`` or
    ``without_strokes`` could find: non-ASCII letters, a digit or two letters folded,
    a stroke against a stemmed letter. False for most names, at a cost linear in length."""
    if not raw.isascii() or len(raw) != len(key) or any(ch.isdigit() for ch in raw):
        return True
    return without_strokes(key) != key


def without_strokes(key: str) -> str:
    """``key`` with each stroke set against a stemmed letter taken out (dlnc -> dnc)."""
    return "".join(ch for i, ch in enumerate(key) if not _extra_stroke(key, i))


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


def is_affiliate(piece: str, words: frozenset[str]) -> bool:
    """``piece`` is affiliate words glued together (texasyoung) or a place (harriscounty).

    ``words`` are the affiliate words in visual-key space. Word break by dynamic
    programming: a label is at most 63 characters, so at most 63 x 63 look-ups.
    """
    if any(piece.endswith(end) and len(piece) > len(end) + 2 for end in _PLACE_ENDINGS):
        return True
    reach = [True] + [False] * len(piece)
    for end in range(1, len(piece) + 1):
        reach[end] = any(reach[start] and piece[start:end] in words for start in range(end))
    return reach[-1]


# Consonant clusters English words start or end with. A short edited name whose clusters
# are all among these reads as a word or a name of its own (gap, goop, vite, voter): such a
# result is a plausible independent name, not a lookalike (see short_edit_is_lookalike).
_VOWELS = frozenset("aeiouy")
_ONSETS = frozenset(
    "bl br ch cl cr dr fl fr gl gr kl kn kr ph pl pr sc sch scr sh sk sl sm sn sp spr st str "
    "sw th thr tr tw wh wr".split()
)
_CODAS = frozenset(
    "ch ck ct ft gh ld lf lk lm lp lt mp nd ng nk nt pt rb rc rd rf rg rk rl rm rn rp rt sh sk "
    "sp st th xt".split()
)


def _consonant_runs(word: str) -> list[tuple[int, str]]:
    runs: list[tuple[int, str]] = []
    start = None
    for i, ch in enumerate(word + "a"):
        if ch not in _VOWELS and start is None:
            start = i
        elif ch in _VOWELS and start is not None:
            runs.append((start, word[start:i]))
            start = None
    return runs


def is_plausible_name(word: str) -> bool:
    """``word`` (ASCII letters) reads as a word or name of its own: it has a vowel, no
    doubled consonant (the repetition trick), no 'q' without 'u', and consonant clusters
    an English word can start, end or hold (gap, goop, doc, voter; not gopk, dnca, ggop)."""
    if not word.isascii() or not word.isalpha() or not _VOWELS & set(word):
        return False
    if word.replace("qu", "").count("q"):
        return False
    for start, run in _consonant_runs(word):
        if any(a == b for a, b in zip(run, run[1:], strict=False)):
            return False
        end = start + len(run)
        if len(run) == 1:
            continue
        if len(run) == 2 and run[1] == "s" and end == len(word):
            continue  # a plural or a name ending in -ps, -ts: gops, dots
        if start == 0:
            ok = run in _ONSETS
        elif end == len(word):
            ok = run in _CODAS
        else:
            ok = len(run) == 2 or run[:-1] in _CODAS or run[1:] in _ONSETS
        if not ok:
            return False
    return True


_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_AT = {ch: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, ch in enumerate(keys)}


def _keyboard_neighbours(a: str, b: str) -> bool:
    if a not in _KEY_AT or b not in _KEY_AT:
        return False
    (ra, ca), (rb, cb) = _KEY_AT[a], _KEY_AT[b]
    # Rows are staggered: a key touches the key above at the same column and one to the right.
    return (ra == rb and abs(ca - cb) == 1) or (rb == ra - 1 and cb - ca in (0, 1)) or (
        rb == ra + 1 and ca - cb in (0, 1))


# The parties' initials: US political acronyms come in pairs that differ only there
# (DGA/RGA, DNC/RNC, DLCC/RLCC).
_PARTY_LETTERS = frozenset("dr")


def short_edit_is_lookalike(typed: str, watched: str) -> bool:
    """One plain edit of a short watched name (``typed`` is one OSA edit from ``watched``,
    both ASCII) is a lookalike when the result is not a plausible name of its own:

    * it adds a digit (gop1, vo5te, e1ac);
    * a letter appended at the end, other than an inflection (gops, votes, voted, voter):
      gopk, gopa, votek, dnca; an unpronounceable acronym has no inflections (dncs);
    * an inserted letter doubles its neighbour (ggop, votte), is a keyboard neighbour of
      the letter beside it (giop, reac) or makes a pronounceable name unpronounceable
      (bvote); a doubled vowel reads as a word (goop), and another letter on an acronym
      is another acronym (crnc), so both stay clean;
    * a letter swapped for its keyboard neighbour leaves an unpronounceable name (gkp, dnx),
      or any letter swapped makes a word of four letters or more unpronounceable (votm);
      but d and r swapped in an acronym is the other party's counterpart (dga for rga);
    * two letters transposed leave an unpronounceable name (rcn, gpo);
    * a dropped letter leaves an unpronounceable name of three letters or more (nsbe).

    Every other single edit of a name this short is another live name (gap, doc, note,
    go): the length-scaled thresholds of ``max_edits`` refuse those on purpose.
    """
    if any(ch.isdigit() for ch in typed) and not any(ch.isdigit() for ch in watched):
        return True
    plausible = is_plausible_name(typed)
    if len(typed) == len(watched) + 1:
        i = next((k for k in range(len(watched)) if typed[k] != watched[k]), len(watched))
        added = typed[i]
        doubled = (i > 0 and typed[i - 1] == added) or (
            i + 1 < len(typed) and typed[i + 1] == added)
        if i == len(watched):
            # Appended: only an inflection reads as a word of its own (gops, votes,
            # voted, voter); any other letter is the appended-letter trick (votek, gopa).
            # An acronym no one can say has no inflections: dncs is the DNC with an s.
            if not is_plausible_name(watched):
                return True
            return not (added == "s" or (watched.endswith("e") and added in "dr"))
        # Inserted: a fat finger hits the key beside the one meant (giop, reac).
        slipped = any(_keyboard_neighbours(added, typed[j]) for j in (i - 1, i + 1)
                      if 0 <= j < len(typed))
        if doubled:  # the repetition trick; a doubled vowel reads as a word (goop)
            return added not in _VOWELS
        # Another letter on an acronym is another acronym (crnc, the College Republicans):
        # only a slip counts there. On a pronounceable name, a result no one can say does.
        return slipped or (is_plausible_name(watched) and not plausible)
    if len(typed) + 1 == len(watched):
        return len(typed) >= 3 and not plausible
    diffs = [k for k in range(len(typed)) if typed[k] != watched[k]]
    if len(diffs) == 1:
        k = diffs[0]
        if {watched[k], typed[k]} == _PARTY_LETTERS and not is_plausible_name(typed):
            # D for R in an acronym names the other party's counterpart (dga.org, the
            # Democratic Governors Association, beside rga.org), which no reader takes
            # for the watched organization.
            return False
        # A word of four letters or more (vote) made unpronounceable by any letter (votm,
        # vgte) is the word misspelt; on an acronym only a slip counts (fmc.gov is the
        # Federal Maritime Commission, one letter from fec.gov).
        spoken = len(watched) >= 4 and is_plausible_name(watched)
        return (spoken or _keyboard_neighbours(watched[k], typed[k])) and not plausible
    return not plausible  # a transposition
