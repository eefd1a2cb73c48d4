"""Subdomain abuse: a watched host, or a watched name, placed in the labels of someone
else's domain (democrats.org.example.com, democrats.org-verify.com, democrats.mail-update.net).

The whole watched host must appear, or the name must sit under a registrable domain made
only of impostor words: the bare name in a subdomain label (gop.example.com, vote.nyc.gov)
is too common to mean anything. One of the checks of :class:`.lookalike.LookalikeMatcher`.
"""

from __future__ import annotations

from .lookalike_candidates import Candidate, Hit
from .lookalike_index import LookalikeIndex
from .lookalike_rules import LookalikeKind, is_filler

__all__ = ["subdomain_abuse"]


def subdomain_abuse(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """democrats.org.example.com, democrats-org.example.com: the watched host in subdomains.

    The whole watched host must appear; the bare name in a subdomain label
    (gop.example.com, vote.nyc.gov) is too common to mean anything.
    """
    hits: list[Hit] = []
    labels = cand.host_vlabels
    # Windows ending at the last name label are the candidate's own registrable
    # domain and are judged by the other checks.
    sub_end = len(cand.name_labels) - 1
    for m in ix.host_labels:
        for start in range(0, sub_end - m + 1):
            window = ".".join(labels[start : start + m])
            hits += [
                Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                for t in ix.by_host_vkey.get(window, ())
            ]
    for label in labels[:sub_end]:
        hits += [
            Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
            for t in ix.by_host_vkey.get(label.replace("-", "."), ())
        ]
    hits += _host_into_registrable(ix, cand)
    hits += _name_under_impostor(ix, cand)
    return hits


def _host_into_registrable(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """democrats.org-verify.com: the watched host runs from a subdomain label into the
    registrable label, cut at a hyphen. The host and its last label are looked up
    whole, so the cost is one dictionary look-up per label."""
    hits: list[Hit] = []
    labels = cand.host_vlabels
    last_name = len(cand.name_labels) - 1
    for m in ix.host_labels:
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
                for t in ix.by_host_vkey.get(window, ())
            ]
    return hits


def _name_under_impostor(ix: LookalikeIndex, cand: Candidate) -> list[Hit]:
    """democrats.mail-update.net: a watched name (alone or with impostor words) as a
    subdomain label of a registrable domain whose label is made only of impostor words.

    The bare name under someone's ordinary domain (gop.example.com, vote.nyc.gov)
    stays the subdomain owner's business.
    """
    registrable = [tok for tok in cand.vlabels[-1].split("-") if tok]
    if not registrable or not all(
        is_filler(tok, ix.impostor_words) for tok in registrable
    ):
        return []
    hits: list[Hit] = []
    for label in cand.vlabels[:-1]:
        tokens = [tok for tok in label.split("-") if tok]
        for i, tok in enumerate(tokens):
            rest = tokens[:i] + tokens[i + 1 :]
            if all(is_filler(r, ix.impostor_words) for r in rest):
                hits += [
                    Hit(t, LookalikeKind.SUBDOMAIN_ABUSE, 0)
                    for t in ix.by_brand.get(tok, ())
                ]
    return hits
