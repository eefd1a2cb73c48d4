"""The indexes a :class:`.lookalike.LookalikeMatcher` searches, built once per watchlist.

Each check of the matcher (``lookalike``, ``lookalike_subdomain``, ``lookalike_words``,
``lookalike_near``) reads the watched domains and names through these look-up tables, so a
candidate costs a few dictionary look-ups plus one bounded edit-distance search over
watched names of similar length.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from ..domains import to_ascii
from .lookalike_candidates import (
    Bucket,
    Candidate,
    Target,
    bucket_by_size,
    flat,
    index_by_key,
    prepare_name_target,
    prepare_target,
)
from .lookalike_rules import (
    ADDED_WORDS,
    AFFILIATE_WORDS,
    IMPOSTOR_WORDS,
    WatchedDomain,
    WatchedName,
    visual_key,
)

Index = dict[str, tuple[Target, ...]]


@dataclass(frozen=True)
class LookalikeIndex:
    psl: PublicSuffixList
    has_targets: bool
    own_hosts: frozenset[str]
    own_registrables: frozenset[str]
    by_name: Index
    by_stem: Index
    by_vkey: Index
    by_brand: Index
    by_host_vkey: Index
    by_typed_brand: Index
    name_labels: tuple[int, ...]
    stem_labels: tuple[int, ...]
    host_labels: tuple[int, ...]
    # Labels of watched hosts of several name labels (elections.alaska.gov): a word
    # glued to one of them (elections.login-alaska.gov) is looked for label by label.
    multi: frozenset[str]
    most_labels: int
    brand_lengths: tuple[int, ...]
    # Both spellings of each word: folded for the visual view, as typed for the typed one.
    words: frozenset[str]
    impostor_words: frozenset[str]
    affiliate_words: frozenset[str]
    name_buckets: dict[tuple[int, int], Bucket]
    raw_buckets: dict[tuple[int, int], Bucket]
    # Whole-host comparison for names whose suffix has several labels or that
    # have several labels themselves (sos.state.tx.us, elections.alaska.gov).
    host_buckets: dict[tuple[int, int], Bucket]

    def name_lengths(self, cand: Candidate) -> Iterator[int]:
        """The label counts of watched names, as far as the candidate's name has labels."""
        for k in self.name_labels:
            if len(cand.name_labels) < k:
                return
            yield k


def build_index(
    watched: Sequence[WatchedDomain],
    distinct: Collection[str],
    psl: PublicSuffixList,
    names: Sequence[WatchedName],
) -> LookalikeIndex:
    targets = [t for t in (prepare_target(w, psl) for w in watched) if t is not None]
    name_targets = [t for t in map(prepare_name_target, names) if t is not None]
    own_hosts = frozenset(t.host for t in targets) | frozenset(
        h for h in (to_ascii(d) for d in distinct) if h
    )
    by_brand = index_by_key((b, t) for t in (*targets, *name_targets) for b in t.brands)
    by_typed_brand = index_by_key((flat(t.name).lower(), t) for t in (*targets, *name_targets))
    # Names of seven letters or more are compared for typos too (proudboyz), as if
    # under the candidate's suffix: a name has none of its own.
    typo_names = [t for t in name_targets if len(t.vflat) >= 7]
    return LookalikeIndex(
        psl=psl,
        has_targets=bool(targets or name_targets),
        own_hosts=own_hosts,
        own_registrables=frozenset(r for r in (psl.privatesuffix(h) for h in own_hosts) if r),
        by_name=index_by_key((t.name, t) for t in targets),
        by_stem=index_by_key((t.stem, t) for t in targets if t.stem != t.name),
        by_vkey=index_by_key((t.vkey, t) for t in targets),
        by_brand=by_brand,
        by_host_vkey=index_by_key((t.host_vkey, t) for t in targets),
        by_typed_brand=by_typed_brand,
        name_labels=tuple(sorted({t.labels for t in targets})),
        stem_labels=tuple(sorted({t.stem.count(".") + 1 for t in targets if t.stem != t.name})),
        host_labels=tuple(sorted({t.host_vkey.count(".") + 1 for t in targets})),
        multi=frozenset(
            label
            for t in targets
            if t.labels > 1 or "." in t.suffix
            for label in t.host_vkey.split(".")
        ),
        most_labels=max((t.stem.count(".") + 1 for t in targets), default=1) + 1,
        brand_lengths=tuple(sorted({len(b) for b in (*by_brand, *by_typed_brand)})),
        words=frozenset(visual_key(w) for w in ADDED_WORDS) | ADDED_WORDS,
        impostor_words=frozenset(visual_key(w) for w in IMPOSTOR_WORDS) | IMPOSTOR_WORDS,
        affiliate_words=frozenset(visual_key(w) for w in AFFILIATE_WORDS) | AFFILIATE_WORDS,
        name_buckets=bucket_by_size((t.vkey, t) for t in (*targets, *typo_names)),
        raw_buckets=bucket_by_size((t.name, t) for t in (*targets, *typo_names)),
        host_buckets=bucket_by_size(
            (t.host_vkey, t) for t in targets if t.labels > 1 or "." in t.suffix
        ),
    )
