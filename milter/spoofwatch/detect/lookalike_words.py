"""Watched names with words added: filler and impostor words (added_word: secure-democrats,
gop2026, elections.login-alaska.gov) and arbitrary words (combosquat: gop-news,
dnclogin), with places, chambers and chapters left to affiliates (texasdemocrats).

Two of the checks of :class:`.lookalike.LookalikeMatcher`, with the search for the watched
names inside a candidate's labels that both use.
"""

from __future__ import annotations

from collections.abc import Iterator

from .lookalike_candidates import Candidate, Hit, Target, flat
from .lookalike_index import LookalikeIndex
from .lookalike_rules import LookalikeKind, is_affiliate, is_filler, is_plausible_name

__all__ = ["added_words", "combos"]


def added_words(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """The watched name plus filler words or numbers: secure-democrats, gop2026, dnc-org.

    A common-word name (alaska) counts only with impostor words, numbers or its own
    suffix spelled out (alaska-login, alaska-gov): alaska-news is a newspaper's.
    """
    hits: list[Hit] = _added_in_label(ix, cand) if ix.multi else []
    for target, leftover, _aligned, added in _brand_spans(ix, cand):
        words = ix.words
        if target.common:
            # Words in other labels (www.alaska.edu) are the owner's subdomains.
            if sum(map(len, leftover)) + len(target.vflat) > len(flat(cand.vlabels[-1])):
                continue
            words = ix.impostor_words | {flat(target.suffix)}
        if all(is_filler(piece, words) for piece in leftover):
            hits.append(
                Hit(target, LookalikeKind.ADDED_WORD, added, flat(target.suffix) in leftover)
            )
    return hits


def combos(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """The watched name combined with arbitrary words.

    A separated token (gop-news) counts for any name; glued to other letters
    (texasdemocrats, democratsabroad) only for names of six or more characters
    with at least two extra characters, since short names hide inside ordinary
    words (devote, peace).

    What is added decides: places, chambers and chapters only (texasdemocrats,
    democratsabroad, gop-alaska, harriscountydemocrats) make an affiliate, not a
    lookalike. A common-word name (alaska) never combines: alaskaair is an airline.
    """
    hits: list[Hit] = _added_in_label(ix, cand, combos=True) if ix.multi else []
    for target, leftover, aligned, added in _brand_spans(ix, cand):
        if target.common or (
            _typed_plainly(cand, target)
            and all(is_affiliate(p, ix.affiliate_words) for p in leftover)
        ):
            continue
        # An acronym no one can pronounce (dnc, dccc) does not hide inside ordinary
        # words the way gop (gopher) or vote (devote) do: glued words count for it too.
        # Typed as such: m folds to rn, and mcafee is not rnc glued to "afee".
        glued_ok = len(target.vflat) >= 6 or (
            not is_plausible_name(target.name) and target.name in flat(cand.tail(1))
        )
        if aligned or (glued_ok and all(len(p) >= 3 for p in leftover)):
            hits.append(Hit(target, LookalikeKind.COMBOSQUAT, added))
    return hits


def _typed_plainly(cand: Candidate, target: Target) -> bool:
    """The candidate is plain ASCII and spells the watched name as typed: only then may
    an affiliate word excuse it. texasdem0crats.org and a Cyrillic а in texas are
    visual tricks on a state party's name, not a state party."""
    return cand.ascii == cand.unicode and flat(target.name) in flat(cand.tail(
        len(cand.name_labels)))


def _brand_spans(
    ix: LookalikeIndex, cand: Candidate
) -> Iterator[tuple[Target, list[str], bool, int]]:
    """(target, leftover pieces, token-aligned, added chars) per watched name found.

    The watched name must start or end on a token boundary ('-' or '.') and
    reach into the registrable label: a watched name sitting only in a
    subdomain label (gop.example.com) is the subdomain owner's business.
    """
    yield from _spans_in(ix, cand.vlabels, ix.by_brand)
    # The typed spelling too: folding runs across the seam between a name and a glued
    # word (dnc + login folds "cl" to "d"), so a plain ASCII domain is also read as typed.
    typed = tuple(label.lower() for label in cand.name_labels)
    if cand.ascii == cand.unicode and typed != cand.vlabels:
        yield from _spans_in(ix, typed, ix.by_typed_brand)


def _spans_in(
    ix: LookalikeIndex, vlabels: tuple[str, ...], brands: dict[str, tuple[Target, ...]]
) -> Iterator[tuple[Target, list[str], bool, int]]:
    last_tokens = [tok for tok in vlabels[-1].split("-") if tok]
    for j in range(1, min(len(vlabels), ix.most_labels) + 1):
        tokens = [tok for label in vlabels[-j:] for tok in label.split("-") if tok]
        joined = "".join(tokens)
        last_start = len(joined) - sum(len(tok) for tok in last_tokens)
        bounds = [0]
        for tok in tokens:
            bounds.append(bounds[-1] + len(tok))
        starts, ends = set(bounds[:-1]), set(bounds[1:])
        spans: set[tuple[int, int]] = set()
        for length in ix.brand_lengths:
            spans.update((s, s + length) for s in starts if s + length <= len(joined))
            spans.update((e - length, e) for e in ends if e - length >= 0)
        for start, end in spans:
            targets = brands.get(joined[start:end])
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


def _added_in_label(ix: LookalikeIndex, cand: Candidate, combos: bool = False) -> list[Hit]:
    """elections.login-alaska.gov, sos.state.securetx.us: words glued to one label of a
    watched host of several labels. Each label is cut once per position and the rest
    looked up in a set, so the cost is linear in the length of the host.

    With ``combos``, other words count as for a single-label name (see ``combos``):
    set off by a hyphen (elections.center-alaska.gov), or glued to a label of six
    letters or more (dos.centermyflorida.com); places and chapters are affiliates.
    """
    hits: list[Hit] = []
    labels = cand.host_vlabels
    for i, label in enumerate(labels):
        for cut in range(1, len(label)):
            for core, extra in ((label[cut:], label[:cut]), (label[:cut], label[cut:])):
                separated = extra.startswith("-") or extra.endswith("-")
                extra = extra.strip("-")
                if core not in ix.multi or not extra:
                    continue
                pieces = [p for p in extra.split("-") if p]
                if not combos:
                    if not all(is_filler(p, ix.words) for p in pieces):
                        continue
                    kind = LookalikeKind.ADDED_WORD
                else:
                    if all(is_affiliate(p, ix.affiliate_words) for p in pieces):
                        continue
                    if not separated and (len(core) < 6 or len(extra) < 3):
                        continue
                    kind = LookalikeKind.COMBOSQUAT
                host = ".".join((*labels[:i], core, *labels[i + 1 :]))
                hits += [
                    Hit(t, kind, len(extra)) for t in ix.by_host_vkey.get(host, ())
                ]
    return hits
