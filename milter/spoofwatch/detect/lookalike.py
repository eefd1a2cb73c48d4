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

Where the parts live: this module is the matcher (the order of the checks, the exact and
separator checks); :mod:`.lookalike_subdomain`, :mod:`.lookalike_words` and
:mod:`.lookalike_near` hold the other checks; :mod:`.lookalike_rules` the kinds,
thresholds, distances and filler words; :mod:`.lookalike_candidates` prepares watched and
candidate domains and :mod:`.lookalike_index` indexes them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from publicsuffixlist import PublicSuffixList
from rapidfuzz.distance import Levenshtein

from ..domains import default_psl
from ..text import script_of, skeleton
from .lookalike_candidates import Candidate, Hit, flat, prepare_candidate
from .lookalike_index import LookalikeIndex, build_index
from .lookalike_near import near
from .lookalike_rules import (
    LookalikeKind,
    LookalikeMatch,
    WatchedDomain,
    WatchedName,
    is_mixed_script,
    max_edits,
    scripts_in,
    visual_distance,
    visual_key,
)
from .lookalike_subdomain import subdomain_abuse
from .lookalike_words import added_words, combos

# The kinds, thresholds and distances live in lookalike_rules, the prepared domains in
# lookalike_candidates, the indexes in lookalike_index; the names callers and tests use are
# re-exported here, with script_of and skeleton from the text layer.
__all__ = ["LookalikeKind", "LookalikeMatch", "LookalikeMatcher", "WatchedDomain", "WatchedName",
           "is_mixed_script", "max_edits", "script_of", "scripts_in", "skeleton",
           "visual_distance", "visual_key"]


class LookalikeMatcher:
    """Finds the watched domain that a candidate domain imitates, if any.

    ``distinct`` lists legitimate neighbours (a state party, an unrelated retailer
    one letter away): they, their subdomains and anything sharing their registrable
    domain are never flagged. The same holds for the watched domains themselves.

    ``names`` are the organizations' names and aliases: a domain spelling one
    (proudboys.com, the-proud-boys.com, proud-boys-usa.com) imitates that organization
    as much as a domain spelling one of its domains.
    """

    def __init__(
        self,
        watched: Sequence[WatchedDomain],
        distinct: Collection[str] = (),
        psl: PublicSuffixList | None = None,
        names: Sequence[WatchedName] = (),
    ) -> None:
        self._ix = build_index(watched, distinct, psl or default_psl(), names)

    # -- preparation ---------------------------------------------------------------

    def _is_own(self, cand: Candidate) -> bool:
        ix = self._ix
        labels = cand.ascii.split(".")
        if any(".".join(labels[i:]) in ix.own_hosts for i in range(len(labels))):
            return True
        return ix.psl.privatesuffix(cand.ascii) in ix.own_registrables

    # -- matching ------------------------------------------------------------------

    def match(self, domain: str) -> LookalikeMatch | None:
        """The watched domain ``domain`` imitates and how, or None.

        Accepts an A-label or U-label domain (an address is cut at its last '@');
        malformed input, public suffixes and single labels give None.
        """
        ix = self._ix
        cand = prepare_candidate(domain, ix.psl)
        if cand is None or not ix.has_targets or self._is_own(cand):
            return None
        for check in (subdomain_abuse, _exact, _separators, added_words, near, combos):
            hits = check(ix, cand)
            if hits:
                best = min(hits, key=lambda h: h.rank(cand.suffix))
                return LookalikeMatch(
                    domain=cand.ascii,
                    unicode=cand.unicode,
                    target=best.target.host,
                    org=best.target.watched.org,
                    kind=str(best.kind),
                    distance=float(best.distance),
                    by_name=best.target.from_name,
                )
        return None


def _exact(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """Same name under another suffix (tld_swap) or the same visual key (homoglyph)."""
    hits: list[Hit] = []
    for k in ix.name_lengths(cand):
        # A common word (alaska) under another suffix is someone else's (alaska.edu).
        hits += [
            Hit(t, LookalikeKind.TLD_SWAP, 0)
            for t in ix.by_name.get(cand.tail(k), ())
            if not t.common
        ]
        hits += [
            Hit(t, LookalikeKind.HOMOGLYPH, 0)
            for t in ix.by_vkey.get(cand.vtail(k), ())
            if t.name != cand.tail(k)
        ]
    # A suffix of several labels swapped whole: sos.state.tx.us -> sos.state.tx.com.
    for k in ix.stem_labels:
        if len(cand.name_labels) >= k:
            hits += [
                Hit(t, LookalikeKind.TLD_SWAP, 0)
                for t in ix.by_stem.get(cand.tail(k), ())
            ]
    return hits

def _separators(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """Hyphens or dots added, moved or dropped: joe-biden, dosmyflorida, democ.rats."""
    hits: list[Hit] = []
    for j in range(1, min(len(cand.name_labels), ix.most_labels) + 1):
        raw = cand.tail(j)
        for target in ix.by_brand.get(visual_key(flat(raw)), ()):
            if target.common and raw == target.name:
                continue  # the common word itself under another suffix: alaska.edu
            if target.from_name:
                kind = (LookalikeKind.NAME if flat(raw) == target.name
                        else LookalikeKind.HOMOGLYPH)
            elif flat(raw) not in {flat(target.name), flat(target.stem)}:
                kind = LookalikeKind.HOMOGLYPH
            elif j > target.labels and flat(raw) == flat(target.name):
                kind = LookalikeKind.SUBDOMAIN_ABUSE
            else:
                kind = LookalikeKind.HYPHENATION
            hits.append(Hit(target, kind, Levenshtein.distance(raw, target.name)))
    return hits
