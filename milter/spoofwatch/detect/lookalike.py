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

Where the parts live: this module is the matcher (the order of the checks and each check);
:mod:`.lookalike_rules` holds the kinds, thresholds, distances and filler words;
:mod:`.lookalike_candidates` prepares watched and candidate domains and indexes them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from publicsuffixlist import PublicSuffixList
from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from ..domains import default_psl, to_ascii, to_unicode
from ..text import script_of, skeleton
from .lookalike_candidates import (
    Bucket,
    Candidate,
    Hit,
    Target,
    bucket_by_size,
    flat,
    index_by_key,
    prepare_candidate,
    prepare_name_target,
    prepare_target,
)
from .lookalike_rules import (
    ADDED_WORDS,
    AFFILIATE_WORDS,
    IMPOSTOR_WORDS,
    LookalikeKind,
    LookalikeMatch,
    WatchedDomain,
    WatchedName,
    is_affiliate,
    is_filler,
    is_mixed_script,
    is_plausible_name,
    max_edits,
    scripts_in,
    short_edit_is_lookalike,
    visual_distance,
    visual_key,
)

# The kinds, thresholds and distances live in lookalike_rules, the prepared domains and
# indexes in lookalike_candidates; the names callers and tests use are re-exported here,
# with script_of and skeleton from the text layer.
__all__ = ["LookalikeKind", "LookalikeMatch", "LookalikeMatcher", "WatchedDomain", "WatchedName",
           "is_mixed_script", "max_edits", "script_of", "scripts_in", "skeleton",
           "visual_distance", "visual_key"]

_MAX_EDITS = 2


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
        self._psl = psl or default_psl()
        targets = [t for t in (prepare_target(w, self._psl) for w in watched) if t is not None]
        name_targets = [t for t in map(prepare_name_target, names) if t is not None]
        self._has_targets = bool(targets or name_targets)
        self._own_hosts = frozenset(t.host for t in targets) | frozenset(
            h for h in (to_ascii(d) for d in distinct) if h
        )
        self._own_registrables = frozenset(
            r for r in (self._psl.privatesuffix(h) for h in self._own_hosts) if r
        )
        self._by_name = index_by_key((t.name, t) for t in targets)
        self._by_stem = index_by_key((t.stem, t) for t in targets if t.stem != t.name)
        self._by_vkey = index_by_key((t.vkey, t) for t in targets)
        self._by_brand = index_by_key(
            (b, t) for t in (*targets, *name_targets) for b in t.brands
        )
        self._by_host_vkey = index_by_key((t.host_vkey, t) for t in targets)
        self._name_labels = tuple(sorted({t.labels for t in targets}))
        self._stem_labels = tuple(
            sorted({t.stem.count(".") + 1 for t in targets if t.stem != t.name})
        )
        self._host_labels = tuple(sorted({t.host_vkey.count(".") + 1 for t in targets}))
        # Labels of watched hosts of several name labels (elections.alaska.gov): a word
        # glued to one of them (elections.login-alaska.gov) is looked for label by label.
        self._multi = frozenset(
            label
            for t in targets
            if t.labels > 1 or "." in t.suffix
            for label in t.host_vkey.split(".")
        )
        self._most_labels = max((t.stem.count(".") + 1 for t in targets), default=1) + 1
        self._by_typed_brand = index_by_key(
            (flat(t.name).lower(), t) for t in (*targets, *name_targets)
        )
        self._brand_lengths = tuple(
            sorted({len(b) for b in (*self._by_brand, *self._by_typed_brand)})
        )
        # Both spellings of each word: folded for the visual view, as typed for the typed one.
        self._words = frozenset(visual_key(w) for w in ADDED_WORDS) | ADDED_WORDS
        self._impostor_words = frozenset(visual_key(w) for w in IMPOSTOR_WORDS) | IMPOSTOR_WORDS
        self._affiliate_words = (
            frozenset(visual_key(w) for w in AFFILIATE_WORDS) | AFFILIATE_WORDS
        )
        # Names of seven letters or more are compared for typos too (proudboyz), as if
        # under the candidate's suffix: a name has none of its own.
        typo_names = [t for t in name_targets if len(t.vflat) >= 7]
        self._name_buckets = bucket_by_size((t.vkey, t) for t in (*targets, *typo_names))
        self._raw_buckets = bucket_by_size((t.name, t) for t in (*targets, *typo_names))
        # Whole-host comparison for names whose suffix has several labels or that
        # have several labels themselves (sos.state.tx.us, elections.alaska.gov).
        self._host_buckets = bucket_by_size(
            (t.host_vkey, t) for t in targets if t.labels > 1 or "." in t.suffix
        )

    # -- preparation ---------------------------------------------------------------

    def _is_own(self, cand: Candidate) -> bool:
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
        cand = prepare_candidate(domain, self._psl)
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
                    by_name=best.target.from_name,
                )
        return None

    def _name_lengths(self, cand: Candidate) -> Iterator[int]:
        """The label counts of watched names, as far as the candidate's name has labels."""
        for k in self._name_labels:
            if len(cand.name_labels) < k:
                return
            yield k

    def _subdomain_abuse(self, cand: Candidate) -> list[Hit]:
        """democrats.org.example.com, democrats-org.example.com: the watched host in subdomains.

        The whole watched host must appear; the bare name in a subdomain label
        (gop.example.com, vote.nyc.gov) is too common to mean anything.
        """
        hits: list[Hit] = []
        labels = cand.host_vlabels
        # Windows ending at the last name label are the candidate's own registrable
        # domain and are judged by the other checks.
        sub_end = len(cand.name_labels) - 1
        for m in self._host_labels:
            for start in range(0, sub_end - m + 1):
                window = ".".join(labels[start : start + m])
                hits += [
                    Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                    for t in self._by_host_vkey.get(window, ())
                ]
        for label in labels[:sub_end]:
            hits += [
                Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                for t in self._by_host_vkey.get(label.replace("-", "."), ())
            ]
        hits += self._host_into_registrable(cand)
        hits += self._name_under_impostor(cand)
        return hits

    def _host_into_registrable(self, cand: Candidate) -> list[Hit]:
        """democrats.org-verify.com: the watched host runs from a subdomain label into the
        registrable label, cut at a hyphen. The host and its last label are looked up
        whole, so the cost is one dictionary look-up per label."""
        hits: list[Hit] = []
        labels = cand.host_vlabels
        last_name = len(cand.name_labels) - 1
        for m in self._host_labels:
            for start in range(0, last_name - m + 2):
                if start + m - 1 > last_name or start + m - 1 < 1:
                    continue
                head = labels[start : start + m - 1]
                token = labels[start + m - 1].split("-", 1)
                if len(token) < 2:
                    continue
                window = ".".join((*head, token[0]))
                hits += [
                    Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                    for t in self._by_host_vkey.get(window, ())
                ]
        return hits

    def _name_under_impostor(self, cand: Candidate) -> list[Hit]:
        """democrats.mail-update.net: a watched name (alone or with impostor words) as a
        subdomain label of a registrable domain whose label is made only of impostor words.

        The bare name under someone's ordinary domain (gop.example.com, vote.nyc.gov)
        stays the subdomain owner's business.
        """
        registrable = [tok for tok in cand.vlabels[-1].split("-") if tok]
        if not registrable or not all(
            is_filler(tok, self._impostor_words) for tok in registrable
        ):
            return []
        hits: list[Hit] = []
        for label in cand.vlabels[:-1]:
            tokens = [tok for tok in label.split("-") if tok]
            for i, tok in enumerate(tokens):
                rest = tokens[:i] + tokens[i + 1 :]
                if all(is_filler(r, self._impostor_words) for r in rest):
                    hits += [
                        Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                        for t in self._by_brand.get(tok, ())
                    ]
        return hits

    def _exact(self, cand: Candidate) -> list[Hit]:
        """Same name under another suffix (tld_swap) or the same visual key (homoglyph)."""
        hits: list[Hit] = []
        for k in self._name_lengths(cand):
            # A common word (alaska) under another suffix is someone else's (alaska.edu).
            hits += [
                Hit(t, LookalikeKind.TLD_SWAP, 0)
                for t in self._by_name.get(cand.tail(k), ())
                if not t.common
            ]
            hits += [
                Hit(t, LookalikeKind.HOMOGLYPH, 0)
                for t in self._by_vkey.get(cand.vtail(k), ())
                if t.name != cand.tail(k)
            ]
        # A suffix of several labels swapped whole: sos.state.tx.us -> sos.state.tx.com.
        for k in self._stem_labels:
            if len(cand.name_labels) >= k:
                hits += [
                    Hit(t, LookalikeKind.TLD_SWAP, 0)
                    for t in self._by_stem.get(cand.tail(k), ())
                ]
        return hits

    def _separators(self, cand: Candidate) -> list[Hit]:
        """Hyphens or dots added, moved or dropped: joe-biden, dosmyflorida, democ.rats."""
        hits: list[Hit] = []
        for j in range(1, min(len(cand.name_labels), self._most_labels) + 1):
            raw = cand.tail(j)
            for target in self._by_brand.get(visual_key(flat(raw)), ()):
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

    def _brand_spans(self, cand: Candidate) -> Iterator[tuple[Target, list[str], bool, int]]:
        """(target, leftover pieces, token-aligned, added chars) per watched name found.

        The watched name must start or end on a token boundary ('-' or '.') and
        reach into the registrable label: a watched name sitting only in a
        subdomain label (gop.example.com) is the subdomain owner's business.
        """
        yield from self._spans_in(cand.vlabels, self._by_brand)
        # The typed spelling too: folding runs across the seam between a name and a glued
        # word (dnc + login folds "cl" to "d"), so a plain ASCII domain is also read as typed.
        typed = tuple(label.lower() for label in cand.name_labels)
        if cand.ascii == cand.unicode and typed != cand.vlabels:
            yield from self._spans_in(typed, self._by_typed_brand)

    def _spans_in(
        self, vlabels: tuple[str, ...], brands: dict[str, tuple[Target, ...]]
    ) -> Iterator[tuple[Target, list[str], bool, int]]:
        last_tokens = [tok for tok in vlabels[-1].split("-") if tok]
        for j in range(1, min(len(vlabels), self._most_labels) + 1):
            tokens = [tok for label in vlabels[-j:] for tok in label.split("-") if tok]
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

    def _added_in_label(self, cand: Candidate, combos: bool = False) -> list[Hit]:
        """elections.login-alaska.gov, sos.state.securetx.us: words glued to one label of a
        watched host of several labels. Each label is cut once per position and the rest
        looked up in a set, so the cost is linear in the length of the host.

        With ``combos``, other words count as for a single-label name (see ``_combos``):
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
                    if core not in self._multi or not extra:
                        continue
                    pieces = [p for p in extra.split("-") if p]
                    if not combos:
                        if not all(is_filler(p, self._words) for p in pieces):
                            continue
                        kind = LookalikeKind.ADDED_WORD
                    else:
                        if all(is_affiliate(p, self._affiliate_words) for p in pieces):
                            continue
                        if not separated and (len(core) < 6 or len(extra) < 3):
                            continue
                        kind = LookalikeKind.COMBOSQUAT
                    host = ".".join((*labels[:i], core, *labels[i + 1 :]))
                    hits += [
                        Hit(t, kind, len(extra)) for t in self._by_host_vkey.get(host, ())
                    ]
        return hits

    def _added_words(self, cand: Candidate) -> list[Hit]:
        """The watched name plus filler words or numbers: secure-democrats, gop2026, dnc-org.

        A common-word name (alaska) counts only with impostor words, numbers or its own
        suffix spelled out (alaska-login, alaska-gov): alaska-news is a newspaper's.
        """
        hits: list[Hit] = self._added_in_label(cand) if self._multi else []
        for target, leftover, _aligned, added in self._brand_spans(cand):
            words = self._words
            if target.common:
                # Words in other labels (www.alaska.edu) are the owner's subdomains.
                if sum(map(len, leftover)) + len(target.vflat) > len(flat(cand.vlabels[-1])):
                    continue
                words = self._impostor_words | {flat(target.suffix)}
            if all(is_filler(piece, words) for piece in leftover):
                hits.append(
                    Hit(target, LookalikeKind.ADDED_WORD, added, flat(target.suffix) in leftover)
                )
        return hits

    @staticmethod
    def _typed_plainly(cand: Candidate, target: Target) -> bool:
        """The candidate is plain ASCII and spells the watched name as typed: only then may
        an affiliate word excuse it. texasdem0crats.org and a Cyrillic а in texas are
        visual tricks on a state party's name, not a state party."""
        return cand.ascii == cand.unicode and flat(target.name) in flat(cand.tail(
            len(cand.name_labels)))

    def _combos(self, cand: Candidate) -> list[Hit]:
        """The watched name combined with arbitrary words.

        A separated token (gop-news) counts for any name; glued to other letters
        (texasdemocrats, democratsabroad) only for names of six or more characters
        with at least two extra characters, since short names hide inside ordinary
        words (devote, peace).

        What is added decides: places, chambers and chapters only (texasdemocrats,
        democratsabroad, gop-alaska, harriscountydemocrats) make an affiliate, not a
        lookalike. A common-word name (alaska) never combines: alaskaair is an airline.
        """
        hits: list[Hit] = self._added_in_label(cand, combos=True) if self._multi else []
        for target, leftover, aligned, added in self._brand_spans(cand):
            if target.common or (
                self._typed_plainly(cand, target)
                and all(is_affiliate(p, self._affiliate_words) for p in leftover)
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

    def _near(self, cand: Candidate) -> list[Hit]:
        """Small edit distance on the visual key: typos, transpositions, near IDN spellings."""
        hits: list[Hit] = []
        for k in self._name_lengths(cand):
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
        cand: Candidate,
        raw: str,
        by_host: bool,
        visual: bool = False,
    ) -> list[Hit]:
        hits: list[Hit] = []
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
                    shorter = min(shorter, len(flat(key)), len(flat(query)))
                same_suffix = cand.suffix == target.suffix or target.from_name
                allowed = max_edits(shorter, by_host or same_suffix)
                if target.from_name:
                    # One edit only: two letters more are often a place (dc + democraticparty).
                    allowed = min(allowed, 1)
                if dist == 0:
                    continue
                if allowed and dist <= allowed:
                    hits.append(Hit(target, self._near_kind(raw, target, by_host, allowed), dist))
                    continue
                # Only look-alike swaps, at half an edit each, can still bring it in.
                if allowed and visual and dist <= 2 * allowed:
                    weighted = visual_distance(query, key)
                    if weighted <= allowed:
                        hits.append(Hit(target, LookalikeKind.HOMOGLYPH, weighted))
                        continue
                if not by_host and self._short_edit(raw, target, cand):
                    hits.append(Hit(target, self._near_kind(raw, target, by_host, 1), 1))
        return hits

    @staticmethod
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

    @staticmethod
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
