"""Lookalike-domain detection: does a sender domain imitate a watched domain?

A pure module: no DNS, no I/O beyond reading two data files shipped with the
package. ``LookalikeMatcher`` precomputes indexes over the watched domains so a
call to ``match`` costs a few dictionary look-ups plus one bounded edit-distance
search over watched names of similar length.

How a candidate is compared
---------------------------
Every domain is split with the Public Suffix List into *suffix* (``org``,
``co.uk``, ``fl.us``) and *name* (the labels left of it, e.g. ``democrats`` or
``elections.alaska``). A watched name with several labels (``elections.alaska.gov``)
is compared as a whole: its registrable label alone (``alaska``) is not the
organization's identity and would flag alaska.com or alaskaair.com.

Names are compared in a *visual key* space, the comparison key of the text layer
(``spoofwatch.text.fold_key``, shared with the display-name and content checks): the
UTS #39 skeleton, diacritics dropped and case folded (``é`` passes for ``e`` at a glance),
the stroke letters 1, l, I, | and i made one, and ``rn``->``m``, ``vv``->``w``,
``cl``->``d`` (letter pairs that render as one letter in sans-serif fonts). The text layer
says why each rule is as it is and where its Unicode data comes from.

Edit-distance thresholds scale with the length ``n`` of the watched name
(see ``max_edits``): on a three-letter name every single edit lands on another
live three- or four-letter name (gop.com -> gap.com, goop.com, gpo.gov), so only
visual equivalence, separators, added words and suffix swaps count there.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from publicsuffixlist import PublicSuffixList
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from ..domains import default_psl, is_qualified_domain, normalize, to_ascii, to_unicode
from ..text import fold_key, script_of, skeleton

# script_of and skeleton live in the text layer; they are re-exported for the tests and
# for callers that compare domains.
__all__ = ["LookalikeKind", "LookalikeMatch", "LookalikeMatcher", "WatchedDomain",
           "is_mixed_script", "script_of", "scripts_in", "skeleton", "visual_key"]

log = logging.getLogger(__name__)


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
_MAX_EDITS = 2


# --------------------------------------------------------------------------- Unicode data


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


# --------------------------------------------------------------------------- thresholds


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


# --------------------------------------------------------------------------- indexes

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


def _flat(text: str) -> str:
    return text.replace(".", "").replace("-", "")


def _vkey_labels(text: str) -> str:
    return ".".join(visual_key(label) for label in text.split("."))


@dataclass(frozen=True)
class _Target:
    """A watched domain prepared for comparison."""

    watched: WatchedDomain
    host: str  # A-label
    suffix: str  # public suffix, A-label
    name: str  # host without the suffix, U-label, dots kept ("elections.alaska")
    stem: str  # host without its last label ("sos.state.tx" for sos.state.tx.us)
    vkey: str  # visual key of name
    host_vkey: str  # visual key of the whole host

    @property
    def labels(self) -> int:
        return self.name.count(".") + 1

    @property
    def vflat(self) -> str:
        """The watched name as one word, the unit for thresholds and added words."""
        return _flat(self.vkey)

    @property
    def brands(self) -> frozenset[str]:
        """Separator-free visual spellings: name, and host without its TLD when different.

        Separators are dropped before folding, so r-nc folds like rnc.
        """
        return frozenset({visual_key(_flat(self.name)), visual_key(_flat(self.stem))})

@dataclass(frozen=True)
class _Candidate:
    ascii: str
    unicode: str
    suffix: str
    name_labels: tuple[str, ...]  # U-labels left of the suffix
    vlabels: tuple[str, ...]  # their visual keys
    host_vlabels: tuple[str, ...]  # visual keys of every label, suffix included

    def tail(self, k: int) -> str:
        return ".".join(self.name_labels[-k:])

    def vtail(self, k: int) -> str:
        return ".".join(self.vlabels[-k:])


@dataclass(frozen=True)
class _Hit:
    target: _Target
    kind: LookalikeKind
    distance: float
    suffix_spelled: bool = False  # the added words spell the target's suffix (vote-gov)

    def rank(self, suffix: str) -> tuple[bool, float, bool, bool, int]:
        """Closest first, then the target under the candidate's suffix, then the longest.

        For added words the suffix decides first: gop-vote.com imitates gop.com
        rather than vote.org, and vote-gov.com imitates vote.gov.
        """
        other_suffix = self.target.suffix != suffix and not self.suffix_spelled
        structural = self.kind in (LookalikeKind.ADDED_WORD, LookalikeKind.COMBOSQUAT)
        return (
            structural and other_suffix,
            self.distance,
            other_suffix,
            not self.suffix_spelled,
            -len(self.target.host),
        )


Bucket = tuple[tuple[str, ...], tuple[_Target, ...]]


def _index(pairs: Iterable[tuple[str, _Target]]) -> dict[str, tuple[_Target, ...]]:
    grouped: dict[str, list[_Target]] = defaultdict(list)
    for key, target in pairs:
        if target not in grouped[key]:
            grouped[key].append(target)
    return {k: tuple(v) for k, v in grouped.items()}


def _buckets(pairs: Iterable[tuple[str, _Target]]) -> dict[tuple[int, int], Bucket]:
    """Keys grouped by (label count, length) so a query only meets keys it can be near."""
    grouped: dict[tuple[int, int], list[tuple[str, _Target]]] = defaultdict(list)
    for text, target in pairs:
        grouped[(text.count(".") + 1, len(text))].append((text, target))
    return {k: (tuple(t for t, _ in v), tuple(t for _, t in v)) for k, v in grouped.items()}


def _is_filler(word: str, words: frozenset[str]) -> bool:
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


class LookalikeMatcher:
    """Finds the watched domain that a candidate domain imitates, if any.

    ``distinct`` lists legitimate neighbours (a state party, an unrelated retailer
    one letter away): they, their subdomains and anything sharing their registrable
    domain are never flagged. The same holds for the watched domains themselves.
    """

    def __init__(
        self,
        watched: Sequence[WatchedDomain],
        distinct: Collection[str] = (),
        psl: PublicSuffixList | None = None,
    ) -> None:
        self._psl = psl or default_psl()
        targets = [t for t in (self._prepare(w) for w in watched) if t is not None]
        self._has_targets = bool(targets)
        self._own_hosts = frozenset(t.host for t in targets) | frozenset(
            h for h in (to_ascii(d) for d in distinct) if h
        )
        self._own_registrables = frozenset(
            r for r in (self._psl.privatesuffix(h) for h in self._own_hosts) if r
        )
        self._by_name = _index((t.name, t) for t in targets)
        self._by_stem = _index((t.stem, t) for t in targets if t.stem != t.name)
        self._by_vkey = _index((t.vkey, t) for t in targets)
        self._by_brand = _index((b, t) for t in targets for b in t.brands)
        self._by_host_vkey = _index((t.host_vkey, t) for t in targets)
        self._name_labels = tuple(sorted({t.labels for t in targets}))
        self._stem_labels = tuple(
            sorted({t.stem.count(".") + 1 for t in targets if t.stem != t.name})
        )
        self._host_labels = tuple(sorted({t.host_vkey.count(".") + 1 for t in targets}))
        self._most_labels = max((t.stem.count(".") + 1 for t in targets), default=1) + 1
        self._brand_lengths = tuple(sorted({len(b) for b in self._by_brand}))
        self._words = frozenset(visual_key(w) for w in ADDED_WORDS)
        self._name_buckets = _buckets((t.vkey, t) for t in targets)
        self._raw_buckets = _buckets((t.name, t) for t in targets)
        # Whole-host comparison for names whose suffix has several labels or that
        # have several labels themselves (sos.state.tx.us, elections.alaska.gov).
        self._host_buckets = _buckets(
            (t.host_vkey, t) for t in targets if t.labels > 1 or "." in t.suffix
        )

    # -- preparation ---------------------------------------------------------------

    def _prepare(self, watched: WatchedDomain) -> _Target | None:
        host = to_ascii(watched.domain)
        suffix = self._psl.publicsuffix(host) if host else None
        if not host or not is_qualified_domain(host) or not suffix or suffix == host:
            log.warning("lookalike: ignoring unusable watched domain %r", watched.domain)
            return None
        unicode_host = to_unicode(host)
        name = to_unicode(host[: -len(suffix) - 1])
        return _Target(
            watched=watched,
            host=host,
            suffix=suffix,
            name=name,
            stem=unicode_host.rsplit(".", 1)[0],
            vkey=_vkey_labels(name),
            host_vkey=_vkey_labels(unicode_host),
        )

    def _candidate(self, domain: str) -> _Candidate | None:
        text = normalize(domain.rpartition("@")[2] if isinstance(domain, str) else "")
        ascii_host = to_ascii(text)
        if not is_qualified_domain(ascii_host):
            return None
        suffix = self._psl.publicsuffix(ascii_host)
        if not suffix or suffix == ascii_host:
            return None
        unicode_host = to_unicode(ascii_host)
        unicode_labels = tuple(unicode_host.split("."))
        suffix_labels = suffix.count(".") + 1
        host_vlabels = tuple(visual_key(label) for label in unicode_labels)
        return _Candidate(
            ascii=ascii_host,
            unicode=unicode_host,
            suffix=suffix,
            name_labels=unicode_labels[:-suffix_labels],
            vlabels=host_vlabels[:-suffix_labels],
            host_vlabels=host_vlabels,
        )

    def _is_own(self, cand: _Candidate) -> bool:
        labels = cand.ascii.split(".")
        if any(".".join(labels[i:]) in self._own_hosts for i in range(len(labels))):
            return True
        return self._psl.privatesuffix(cand.ascii) in self._own_registrables

    # -- matching ------------------------------------------------------------------

    def match(self, domain: str) -> LookalikeMatch | None:
        """The watched domain ``domain`` imitates and how, or None.

        Accepts an A-label or U-label domain (an address is cut at its last '@');
        malformed input, public suffixes and single labels give None.
        """
        cand = self._candidate(domain)
        if cand is None or not self._has_targets or self._is_own(cand):
            return None
        for check in (
            self._subdomain_abuse,
            self._exact,
            self._separators,
            self._added_words,
            self._near,
            self._combos,
        ):
            hits = check(cand)
            if hits:
                best = min(hits, key=lambda h: h.rank(cand.suffix))
                return LookalikeMatch(
                    domain=cand.ascii,
                    unicode=cand.unicode,
                    target=best.target.host,
                    org=best.target.watched.org,
                    kind=str(best.kind),
                    distance=float(best.distance),
                )
        return None

    def _subdomain_abuse(self, cand: _Candidate) -> list[_Hit]:
        """democrats.org.example.com, democrats-org.example.com: the watched host in subdomains.

        The whole watched host must appear; the bare name in a subdomain label
        (gop.example.com, vote.nyc.gov) is too common to mean anything.
        """
        hits: list[_Hit] = []
        labels = cand.host_vlabels
        # Windows ending at the last name label are the candidate's own registrable
        # domain and are judged by the other checks.
        sub_end = len(cand.name_labels) - 1
        for m in self._host_labels:
            for start in range(0, sub_end - m + 1):
                window = ".".join(labels[start : start + m])
                hits += [
                    _Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                    for t in self._by_host_vkey.get(window, ())
                ]
        for label in labels[:sub_end]:
            hits += [
                _Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                for t in self._by_host_vkey.get(label.replace("-", "."), ())
            ]
        return hits

    def _exact(self, cand: _Candidate) -> list[_Hit]:
        """Same name under another suffix (tld_swap) or the same visual key (homoglyph)."""
        hits: list[_Hit] = []
        for k in self._name_labels:
            if len(cand.name_labels) < k:
                break
            hits += [
                _Hit(t, LookalikeKind.TLD_SWAP, 0) for t in self._by_name.get(cand.tail(k), ())
            ]
            hits += [
                _Hit(t, LookalikeKind.HOMOGLYPH, 0)
                for t in self._by_vkey.get(cand.vtail(k), ())
                if t.name != cand.tail(k)
            ]
        # A suffix of several labels swapped whole: sos.state.tx.us -> sos.state.tx.com.
        for k in self._stem_labels:
            if len(cand.name_labels) >= k:
                hits += [
                    _Hit(t, LookalikeKind.TLD_SWAP, 0)
                    for t in self._by_stem.get(cand.tail(k), ())
                ]
        return hits

    def _separators(self, cand: _Candidate) -> list[_Hit]:
        """Hyphens or dots added, moved or dropped: joe-biden, dosmyflorida, democ.rats."""
        hits: list[_Hit] = []
        for j in range(1, min(len(cand.name_labels), self._most_labels) + 1):
            raw = cand.tail(j)
            for target in self._by_brand.get(visual_key(_flat(raw)), ()):
                if _flat(raw) not in {_flat(target.name), _flat(target.stem)}:
                    kind = LookalikeKind.HOMOGLYPH
                elif j > target.labels and _flat(raw) == _flat(target.name):
                    kind = LookalikeKind.SUBDOMAIN_ABUSE
                else:
                    kind = LookalikeKind.HYPHENATION
                hits.append(_Hit(target, kind, Levenshtein.distance(raw, target.name)))
        return hits

    def _brand_spans(self, cand: _Candidate) -> Iterator[tuple[_Target, list[str], bool, int]]:
        """(target, leftover pieces, token-aligned, added chars) per watched name found.

        The watched name must start or end on a token boundary ('-' or '.') and
        reach into the registrable label: a watched name sitting only in a
        subdomain label (gop.example.com) is the subdomain owner's business.
        """
        last_tokens = [tok for tok in cand.vlabels[-1].split("-") if tok]
        for j in range(1, min(len(cand.name_labels), self._most_labels) + 1):
            tokens = [tok for label in cand.vlabels[-j:] for tok in label.split("-") if tok]
            joined = "".join(tokens)
            last_start = len(joined) - sum(len(tok) for tok in last_tokens)
            bounds = [0]
            for tok in tokens:
                bounds.append(bounds[-1] + len(tok))
            starts, ends = set(bounds[:-1]), set(bounds[1:])
            spans: set[tuple[int, int]] = set()
            for length in self._brand_lengths:
                spans.update((s, s + length) for s in starts if s + length <= len(joined))
                spans.update((e - length, e) for e in ends if e - length >= 0)
            for start, end in spans:
                targets = self._by_brand.get(joined[start:end])
                if not targets or end <= last_start or (start == 0 and end == len(joined)):
                    continue
                leftover = [
                    piece
                    for a, b in zip(bounds, bounds[1:], strict=False)
                    for piece in (joined[a : min(b, start)], joined[max(a, end) : b])
                    if piece
                ]
                aligned = start in starts and end in ends
                for target in targets:
                    yield target, leftover, aligned, len(joined) - (end - start)

    def _added_words(self, cand: _Candidate) -> list[_Hit]:
        """The watched name plus filler words or numbers: secure-democrats, gop2026, dnc-org."""
        return [
            _Hit(target, LookalikeKind.ADDED_WORD, added, _flat(target.suffix) in leftover)
            for target, leftover, _aligned, added in self._brand_spans(cand)
            if all(_is_filler(piece, self._words) for piece in leftover)
        ]

    def _combos(self, cand: _Candidate) -> list[_Hit]:
        """The watched name combined with arbitrary words.

        A separated token (gop-news) counts for any name; glued to other letters
        (texasdemocrats, democratsabroad) only for names of six or more characters
        with at least two extra characters, since short names hide inside ordinary
        words (devote, peace).
        """
        hits: list[_Hit] = []
        for target, leftover, aligned, added in self._brand_spans(cand):
            if aligned or (len(target.vflat) >= 6 and all(len(p) >= 2 for p in leftover)):
                hits.append(_Hit(target, LookalikeKind.COMBOSQUAT, added))
        return hits

    def _near(self, cand: _Candidate) -> list[_Hit]:
        """Small edit distance on the visual key: typos, transpositions, near IDN spellings."""
        hits: list[_Hit] = []
        for k in self._name_labels:
            if len(cand.name_labels) < k:
                break
            # The spelling as typed first (a typo), then the visual key (a typo
            # hidden behind look-alike characters, or look-alikes alone).
            hits += self._near_in(self._raw_buckets, cand.tail(k), cand, cand.tail(k), False)
            if not hits:
                hits += self._near_in(
                    self._name_buckets, cand.vtail(k), cand, cand.tail(k), False, visual=True
                )
        # Whole-host view: typos inside a multi-label suffix or across labels
        # (sos.state.fl.us -> sos.state.fk.us).
        for m in self._host_labels:
            if len(cand.host_vlabels) >= m:
                query = ".".join(cand.host_vlabels[-m:])
                raw = ".".join(cand.unicode.split(".")[-m:])
                hits += self._near_in(self._host_buckets, query, cand, raw, True, visual=True)
        return hits

    def _near_in(
        self,
        buckets: dict[tuple[int, int], Bucket],
        query: str,
        cand: _Candidate,
        raw: str,
        by_host: bool,
        visual: bool = False,
    ) -> list[_Hit]:
        hits: list[_Hit] = []
        labels = query.count(".") + 1
        # Two look-alike substitutions cost one visual edit, so look one edit further.
        reach = _MAX_EDITS + 1
        for length in range(len(query) - reach, len(query) + reach + 1):
            bucket = buckets.get((labels, length))
            if not bucket:
                continue
            keys, targets = bucket
            for key, dist, index in process.extract(
                query, keys, scorer=OSA.distance, score_cutoff=reach, limit=None
            ):
                target = targets[index]
                # In the whole-host view the suffix is part of the compared text.
                shorter = len(target.vflat)
                if not by_host:
                    shorter = min(shorter, len(_flat(key)), len(_flat(query)))
                allowed = max_edits(shorter, by_host or cand.suffix == target.suffix)
                if dist == 0 or allowed == 0:
                    continue
                if dist <= allowed:
                    hits.append(_Hit(target, self._near_kind(raw, target, by_host, allowed), dist))
                    continue
                # Only look-alike swaps, at half an edit each, can still bring it in.
                if visual and dist <= 2 * allowed:
                    weighted = visual_distance(query, key)
                    if weighted <= allowed:
                        hits.append(_Hit(target, LookalikeKind.HOMOGLYPH, weighted))
        return hits

    @staticmethod
    def _near_kind(raw: str, target: _Target, by_host: bool, allowed: float) -> LookalikeKind:
        """Homoglyph when non-ASCII, mixed-script or only near once folded; else the edit."""
        reference = to_unicode(target.host) if by_host else target.name
        if not raw.isascii() or is_mixed_script(raw):
            return LookalikeKind.HOMOGLYPH
        typed = OSA.distance(raw, reference)
        if typed > allowed:
            return LookalikeKind.HOMOGLYPH
        if typed == 1 and Levenshtein.distance(raw, reference) == 2:
            return LookalikeKind.TRANSPOSITION
        return LookalikeKind.TYPO
