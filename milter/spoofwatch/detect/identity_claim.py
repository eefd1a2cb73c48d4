"""``identity_claim``: the sender's own text says, in the first person, that it is a watched
organization ("We are the Proud Boys", "This is the DNC", "— The Proud Boys"), and the
message is not authenticated as that organization.

A forger with a cheap domain of his own (``proudboys-news.com`` with working SPF and MX, no
watched display name) passes every check of the envelope and the headers; the claim in the
text is what tells the reader who is speaking, so it is evidence too. Which text is the
sender's own and which lines could hold a claim is ``claim_reading``'s; what a claim looks
like (and what quoted, forwarded and reported speech looks like) is ``claim_grammar``'s.

Authenticated as the organization means what the other sender checks mean
(``impersonation.authenticated_as``): a passing DKIM signature of one of the organization's
signing domains, or DMARC passing for a From domain (or listed sender) of the organization.
A From domain of the organization that is not authenticated is already
``from_domain_unauthenticated``; the claim adds nothing to it and is not reported. A listed
legitimate neighbour (``distinct``) authenticated as itself may speak of itself.
"""

from __future__ import annotations

from ..results import AuthResult, Finding
from ..textsafe import ascii_safe
from .claim_grammar import Claim, claim_names, line_claims
from .claim_reading import (
    candidate_lines,
    fold,
    forward_start,
    is_quoted_line,
    own_text,
    previous_line,
    quoted_before,
)
from .impersonation import ImpersonationInput, Weight, authenticated_as, owned_by, signed_by
from .watchlist import Organization

# As much text as the threat check reads (threat.MAX_TEXT_CHARS), for the same reasons: a
# claim after megabytes of padding is found; the copies folding makes stay bounded.
MAX_TEXT_CHARS = 8_000_000
_MAX_CLAIMS = 20  # claims examined per message; one per organization is reported


def _text_bound(inp: ImpersonationInput) -> int:
    message = inp.message
    size = len(message.body) + sum(len(n) + len(v) + 4 for n, v in message.headers)
    return min(2 * size + 1024, MAX_TEXT_CHARS)


def claims(text: str, inp: ImpersonationInput) -> list[Claim]:
    """Every first-person claim the sender makes in ``text``, in order (at most
    ``_MAX_CLAIMS``)."""
    names = claim_names(inp.watchlist)
    keys = names.keys()
    key = fold(text)
    found: list[Claim] = []
    for start, end in candidate_lines(key, forward_start(key), keys):
        line = key[start:end]
        if is_quoted_line(line):
            continue
        found += line_claims(line, previous_line(key, start), quoted_before(key, start),
                             names)
        if len(found) >= _MAX_CLAIMS:
            break
    return found[:_MAX_CLAIMS]


def speaks_as(org: Organization, inp: ImpersonationInput) -> bool:
    """Is the message authenticated as ``org`` (or as a listed neighbour of it)?"""
    domain = inp.sender.domain
    if signed_by(org, inp.dkim, inp.watchlist):
        return True
    if owned_by(org, domain) or inp.sender.address.lower() in org.senders:
        return authenticated_as(org, domain, inp.dmarc, inp.dkim, inp.watchlist)
    return (inp.watchlist.is_distinct(domain, org) and inp.dmarc is not None
            and inp.dmarc.from_domain == domain and inp.dmarc.result is AuthResult.PASS)


def identity_claim_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    if not claim_names(inp.watchlist).names:
        return []
    text = own_text(inp.message, _text_bound(inp))
    findings: list[Finding] = []
    seen: set[str] = set()
    for claim in claims(text, inp):
        org = claim.org
        if org.name in seen:
            continue
        seen.add(org.name)
        if owned_by(org, inp.sender.domain) or speaks_as(org, inp):
            continue  # authenticated, or from_domain_unauthenticated says it already
        findings.append(Finding(
            "identity_claim", weight("identity_claim"),
            f"The text says it comes from {ascii_safe(org.name, 80)} "
            f"(\"{ascii_safe(claim.alias, 60)}\", {claim.form}), but the message from "
            f"{ascii_safe(inp.sender.domain, 80)} is not authenticated as theirs.",
            org=org.name, detail=(("alias", claim.alias), ("form", claim.form)),
        ))
    return findings

