"""Near spellings of watched names: typos, transpositions and look-alike letters within a
small edit distance on the visual key (see ``lookalike_rules.max_edits``), searched over
watched names of similar length only. One of the checks of
:class:`.lookalike.LookalikeMatcher`.
"""

from __future__ import annotations

from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from ..domains import to_unicode
from .lookalike_candidates import Bucket, Candidate, Hit, Target, flat
from .lookalike_index import LookalikeIndex
from .lookalike_rules import (
    DISGUISE_EDITS,
    LookalikeKind,
    is_disguised,
    is_mixed_script,
    max_edits,
    may_be_disguised,
    short_edit_is_lookalike,
    visual_distance,
    without_strokes,
)

__all__ = ["near"]

_MAX_EDITS = 2


def near(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """Small edit distance on the visual key: typos, transpositions, near IDN spellings."""
    hits: list[Hit] = []
    for k in ix.name_lengths(cand):
        # The spelling as typed first (a typo), then the visual key (a typo
        # hidden behind look-alike characters, or look-alikes alone).
        hits += _near_in(ix, ix.raw_buckets, cand.tail(k), cand, cand.tail(k), False)
        if not hits:
            hits += _near_in(
                ix, ix.name_buckets, cand.vtail(k), cand, cand.tail(k), False, visual=True
            )
    # Whole-host view: typos inside a multi-label suffix or across labels
    # (sos.state.fl.us -> sos.state.fk.us).
    for m in ix.host_labels:
        if len(cand.host_vlabels) >= m:
            query = ".".join(cand.host_vlabels[-m:])
            raw = ".".join(cand.unicode.split(".")[-m:])
            hits += _near_in(ix, ix.host_buckets, query, cand, raw, True, visual=True)
    return hits


def _near_in(
    ix: LookalikeIndex,
    buckets: dict[tuple[int, int], Bucket],
    query: str,
    cand: Candidate,
    raw: str,
    by_host: bool,
    visual: bool = False,
) -> list[Hit]:
    hits: list[Hit] = []
    labels = query.count(".") + 1
    # Two look-alike substitutions cost one visual edit, so look one edit further.
    reach = _MAX_EDITS + 1
    # Most names carry no trick at all: decided once per query, not per watched name.
    tricked = visual and not by_host and may_be_disguised(raw, query)
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
                shorter = min(shorter, len(flat(key)), len(flat(query)))
            same_suffix = cand.suffix == target.suffix or target.from_name
            allowed = max_edits(shorter, by_host or same_suffix)
            if target.from_name:
                # One edit only: two letters more are often a place (dc + democraticparty).
                allowed = min(allowed, 1)
            if dist == 0:
                continue
            if allowed and dist <= allowed:
                hits.append(Hit(target, _near_kind(raw, target, by_host, allowed), dist))
                continue
            # Only look-alike swaps, at half an edit each, can still bring it in.
            if allowed and visual and dist <= 2 * allowed:
                weighted = visual_distance(query, key)
                if weighted <= allowed:
                    hits.append(Hit(target, LookalikeKind.HOMOGLYPH, weighted))
                    continue
            disguised = (_disguised_near(raw, query, key, target, shorter, same_suffix, dist)
                         if tricked else None)
            if disguised is not None:
                hits.append(Hit(target, LookalikeKind.HOMOGLYPH, disguised))
                continue
            if not by_host and _short_edit(raw, target, cand):
                hits.append(Hit(target, _near_kind(raw, target, by_host, 1), 1))
    return hits


def _disguised_near(raw: str, query: str, key: str, target: Target, shorter: int,
                    same_suffix: bool, dist: float) -> float | None:
    """A disguised spelling (``is_disguised``: an IDN passing for Latin letters, 0 for o,
    cl for d; or strokes set against stemmed letters, dlnc) a little further than
    ``max_edits`` allows: the trick is the evidence, so dńe.org (dnc), qóp.com (gop) and
    dlnc.org count although one plain edit of those names would not. Under another
    suffix the trick buys half an edit (one look-alike letter: dńe.com).

    The visual distance when it is near enough, else None."""
    if target.labels != 1:
        return None
    typed = target.name.lower()
    plain = max_edits(shorter, same_suffix)
    # Strokes set against stemmed letters (dlnc for dnc) are the disguise; what is left
    # must be as near as a plain spelling may be. The stroke may not excuse a letter that
    # is really there (aldemocrats, dlcc.org): only strokes the watched name lacks count.
    bare = without_strokes(query)
    if bare != query and without_strokes(key) == key:
        if bare in (key, typed):
            return visual_distance(query, key)
        if visual_distance(bare, key) <= min(plain, 0.5):
            return visual_distance(query, key)
    allowed = plain + (DISGUISE_EDITS if same_suffix else 0.5)
    if dist > 2 * allowed or not is_disguised(raw, query, typed, key):
        return None
    # Folding the watched name can move it away from the disguise (rnc folds to "mc", and
    # rrç to "rrc"): the typed name is compared too.
    weighted = min(visual_distance(query, key), visual_distance(query, typed))
    return weighted if weighted <= allowed else None


def _short_edit(raw: str, target: Target, cand: Candidate) -> bool:
    """One plain edit of a short name (six letters or fewer) under the same suffix
    that leaves no plausible name of its own: gopk, gop1, ggop, dnx (see
    ``short_edit_is_lookalike``)."""
    return (
        cand.suffix == target.suffix
        and target.labels == 1
        and len(target.name) <= 6
        and raw.isascii()
        and target.name.isascii()
        and not target.common
        and OSA.distance(raw, target.name) == 1
        and short_edit_is_lookalike(raw.lower(), target.name)
    )


def _near_kind(raw: str, target: Target, by_host: bool, allowed: float) -> LookalikeKind:
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
