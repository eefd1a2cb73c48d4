"""Watched domains and candidate domains prepared for comparison, and the indexes over them.

A domain is split with the Public Suffix List into suffix and name and folded into visual
keys once (:func:`prepare_target`, :func:`prepare_candidate`); :func:`index_by_key` and
:func:`bucket_by_size` group the watched side so that :class:`.lookalike.LookalikeMatcher`
meets only keys a query can be near.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from ..domains import is_qualified_domain, normalize, to_ascii, to_unicode
from .lookalike_rules import COMMON_NAMES, LookalikeKind, WatchedDomain, WatchedName, visual_key

__all__ = ["Bucket", "Candidate", "Hit", "Target", "bucket_by_size", "flat", "index_by_key",
           "prepare_candidate", "prepare_name_target", "prepare_target"]

_COMMON_KEYS = frozenset(visual_key(word) for word in COMMON_NAMES)

log = logging.getLogger(__name__)


def flat(text: str) -> str:
    """``text`` without its separators ('.' and '-'): a name as one word."""
    return text.replace(".", "").replace("-", "")


def _vkey_labels(text: str) -> str:
    return ".".join(visual_key(label) for label in text.split("."))


@dataclass(frozen=True)
class Target:
    """A watched domain prepared for comparison."""

    watched: WatchedDomain
    host: str  # A-label
    suffix: str  # public suffix, A-label
    name: str  # host without the suffix, U-label, dots kept ("elections.alaska")
    stem: str  # host without its last label ("sos.state.tx" for sos.state.tx.us)
    vkey: str  # visual key of name
    host_vkey: str  # visual key of the whole host
    # From an organization's name or alias ("Proud Boys"), not a domain: host is the name
    # as written, suffix is empty, and only the brand checks (separators, added words,
    # combinations, subdomain labels) use it.
    from_name: bool = False

    @property
    def common(self) -> bool:
        """The watched name is a common word (a state's name): sharing it means nothing."""
        return self.vflat in _COMMON_KEYS

    @property
    def labels(self) -> int:
        return self.name.count(".") + 1

    @property
    def vflat(self) -> str:
        """The watched name as one word, the unit for thresholds and added words."""
        return flat(self.vkey)

    @property
    def brands(self) -> frozenset[str]:
        """Separator-free visual spellings: name, and host without its TLD when different.

        Separators are dropped before folding, so r-nc folds like rnc.
        """
        return frozenset({visual_key(flat(self.name)), visual_key(flat(self.stem))})


@dataclass(frozen=True)
class Candidate:
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
class Hit:
    target: Target
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


Bucket = tuple[tuple[str, ...], tuple[Target, ...]]


def index_by_key(pairs: Iterable[tuple[str, Target]]) -> dict[str, tuple[Target, ...]]:
    grouped: dict[str, list[Target]] = defaultdict(list)
    for key, target in pairs:
        if target not in grouped[key]:
            grouped[key].append(target)
    return {k: tuple(v) for k, v in grouped.items()}


def bucket_by_size(pairs: Iterable[tuple[str, Target]]) -> dict[tuple[int, int], Bucket]:
    """Keys grouped by (label count, length) so a query only meets keys it can be near."""
    grouped: dict[tuple[int, int], list[tuple[str, Target]]] = defaultdict(list)
    for text, target in pairs:
        grouped[(text.count(".") + 1, len(text))].append((text, target))
    return {k: (tuple(t for t, _ in v), tuple(t for _, t in v)) for k, v in grouped.items()}


def prepare_target(watched: WatchedDomain, psl: PublicSuffixList) -> Target | None:
    """A watched domain prepared for comparison; None (and a warning) when unusable."""
    host = to_ascii(watched.domain)
    suffix = psl.publicsuffix(host) if host else None
    if not host or not is_qualified_domain(host) or not suffix or suffix == host:
        log.warning("lookalike: ignoring unusable watched domain %r", watched.domain)
        return None
    unicode_host = to_unicode(host)
    name = to_unicode(host[: -len(suffix) - 1])
    return Target(
        watched=watched,
        host=host,
        suffix=suffix,
        name=name,
        stem=unicode_host.rsplit(".", 1)[0],
        vkey=_vkey_labels(name),
        host_vkey=_vkey_labels(unicode_host),
    )


def prepare_name_target(watched: WatchedName) -> Target | None:
    """An organization's name or alias as a brand: letters and digits only, a leading
    "the" dropped ("The Proud Boys" -> proudboys). None for names of fewer than three
    letters, and for common words (a state's name), which name no one in particular."""
    words = "".join(ch if ch.isalnum() else " " for ch in watched.name.casefold()).split()
    if words[:1] == ["the"]:
        words = words[1:]
    name = "".join(words)
    if len(name) < 3 or not name.isascii() or visual_key(name) in _COMMON_KEYS:
        return None
    vkey = visual_key(name)
    return Target(watched=WatchedDomain(watched.name, watched.org), host=watched.name.strip(),
                  suffix="", name=name, stem=name, vkey=vkey, host_vkey=vkey, from_name=True)


def prepare_candidate(domain: str, psl: PublicSuffixList) -> Candidate | None:
    """A domain (or address) split and folded for comparison; None when it cannot be one."""
    text = normalize(domain.rpartition("@")[2] if isinstance(domain, str) else "")
    ascii_host = to_ascii(text)
    if not is_qualified_domain(ascii_host):
        return None
    suffix = psl.publicsuffix(ascii_host)
    if not suffix or suffix == ascii_host:
        return None
    unicode_host = to_unicode(ascii_host)
    unicode_labels = tuple(unicode_host.split("."))
    suffix_labels = suffix.count(".") + 1
    host_vlabels = tuple(visual_key(label) for label in unicode_labels)
    return Candidate(
        ascii=ascii_host,
        unicode=unicode_host,
        suffix=suffix,
        name_labels=unicode_labels[:-suffix_labels],
        vlabels=host_vlabels[:-suffix_labels],
        host_vlabels=host_vlabels,
    )
