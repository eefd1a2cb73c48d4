"""DMARC evaluation per RFC 9989 (DMARCbis), not RFC 7489.

The pieces, each usable on its own:

* ``dmarc_record``: `parse_record` reads one TXT string into a `DmarcRecord`
  (sections 4.7/4.8).
* ``dmarc_treewalk``: the DNS Tree Walk, the Organizational Domain and policy
  discovery (section 4.10).
* here: `is_aligned` / `check_alignment` compare two domains strictly or relaxed, and
  `evaluate_dmarc` puts it together into a `DmarcResult`.

Every reading we had to choose between is written down in
docs/dmarc-conformance.md.  DNS failures are results (temperror), never
exceptions.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from ..dns import DnsStatus, Lookup
from ..results import AuthResult, DkimResult, DmarcResult, SpfResult
from .dmarc_record import DmarcRecord, parse_record
from .dmarc_treewalk import (
    MAX_TREE_WALK_QUERIES,
    DmarcQueries,
    PolicyDiscovery,
    PolicySource,
    discover,
    discover_policy,
    dmarc_domain,
    organizational_domain,
    tree_walk,
    walk_targets,
)

# The record and tree-walk names are importable from here too: this is the module
# callers know DMARC by.
__all__ = [
    "MAX_DKIM_DOMAINS",
    "MAX_TREE_WALK_QUERIES",
    "Alignment",
    "DmarcRecord",
    "PolicySource",
    "check_alignment",
    "discover_policy",
    "evaluate_dmarc",
    "is_aligned",
    "organizational_domain",
    "parse_record",
    "tree_walk",
    "walk_targets",
]

log = logging.getLogger(__name__)

# Distinct passing DKIM signing domains whose alignment we examine.  Each may
# cost a tree walk of up to eight queries; an attacker can add signatures from
# domains it controls, so the work per message is bounded.  Skipping domains
# can only miss a pass, never invent one.
MAX_DKIM_DOMAINS = 10

_ONE_LEVEL_LOWER = {"reject": "quarantine", "quarantine": "none", "none": "none"}


class Alignment(StrEnum):
    ALIGNED = "aligned"
    NOT_ALIGNED = "not aligned"
    TEMPERROR = "temperror"  # a tree walk needed for relaxed alignment failed


def check_alignment(a: str, b: str, mode: str, lookup: Lookup) -> Alignment:
    """Identifier Alignment of two domains: "s" identical, "r" same Organizational Domain."""
    return _alignment(DmarcQueries(lookup), a, b, mode, {})


def is_aligned(a: str, b: str, mode: str, lookup: Lookup) -> bool:
    """True when aligned; a DNS failure during the tree walks counts as not aligned."""
    return check_alignment(a, b, mode, lookup) is Alignment.ALIGNED


def _alignment(queries: DmarcQueries, a: str, b: str, mode: str,
               known_orgs: dict[str, str]) -> Alignment:
    first, second = dmarc_domain(a), dmarc_domain(b)
    if first is None or second is None:
        return Alignment.NOT_ALIGNED
    if first == second:
        return Alignment.ALIGNED
    if mode == "s":
        return Alignment.NOT_ALIGNED
    # An Organizational Domain is always the domain itself or one of its
    # ancestors, so names without a common last label can never share one.
    if first.rsplit(".", 1)[-1] != second.rsplit(".", 1)[-1]:
        return Alignment.NOT_ALIGNED
    orgs = [known_orgs.get(name) or queries.walk(name).organizational_domain
            for name in (first, second)]
    if "" in orgs:
        return Alignment.TEMPERROR
    return Alignment.ALIGNED if orgs[0] == orgs[1] else Alignment.NOT_ALIGNED


# =================================================================== evaluation


def evaluate_dmarc(from_domain: str, spf: SpfResult, dkim: DkimResult,
                   lookup: Lookup) -> DmarcResult:
    """DMARC for one message: policy discovery, alignment of SPF and DKIM, the policy that applies.

    SPF counts through `spf.mailfrom` only: the MAIL FROM identity, which for
    a null reverse-path is postmaster@HELO (RFC 7208 2.4, RFC 9989 3.2.4).
    The HELO identity check (`spf.helo`) never counts on its own.
    """
    author = dmarc_domain(from_domain)
    if author is None:
        return _result(AuthResult.PERMERROR, from_domain,
                       f"the From domain {from_domain!r} is not a valid domain name")
    queries = DmarcQueries(lookup)
    discovery = discover(queries, author)
    if discovery.temperror:
        return _result(AuthResult.TEMPERROR, author,
                       f"DMARC policy discovery failed: {discovery.error}", queries)
    if discovery.record is None:
        return _result(AuthResult.NONE, author,
                       f"no DMARC policy record for {author} or its organizational domain",
                       queries, org_domain=discovery.org_domain)
    record = discovery.record.applicable()
    if record is None:
        return _result(AuthResult.PERMERROR, author,
                       f"the DMARC record at _dmarc.{discovery.policy_domain} has no valid p= "
                       "(or an invalid sp=/np=) and no valid rua=, so DMARC does not apply",
                       queries, policy_domain=discovery.policy_domain,
                       org_domain=discovery.org_domain)
    return _evaluate_with_policy(queries, discovery, record, spf, dkim)


def _evaluate_with_policy(queries: DmarcQueries, discovery: PolicyDiscovery,
                          record: DmarcRecord, spf: SpfResult, dkim: DkimResult) -> DmarcResult:
    author = discovery.author_domain
    known_orgs = {author: discovery.org_domain} if discovery.org_domain else {}
    spf_state, spf_note = _spf_state(queries, author, spf, record.aspf, known_orgs)
    dkim_state, dkim_note = _dkim_state(queries, author, dkim, record.adkim, known_orgs)
    states = (spf_state, dkim_state)
    if Alignment.ALIGNED in states:
        verdict = AuthResult.PASS
    elif Alignment.TEMPERROR in states:
        verdict = AuthResult.TEMPERROR
    else:
        verdict = AuthResult.FAIL
    requested, policy_note = _requested_policy(queries, discovery, record, verdict)
    if requested is None:  # existence of the Author Domain unknown and it matters
        verdict, requested = AuthResult.TEMPERROR, ""
    applied = _ONE_LEVEL_LOWER[requested] if record.testing and requested else requested
    org = discovery.org_domain or _org_if_walked(queries, author)
    reason = _reason(verdict, discovery, spf_note, dkim_note, policy_note, record, requested,
                     applied)
    return DmarcResult(
        result=verdict,
        from_domain=author,
        policy_domain=discovery.policy_domain,
        org_domain=org,
        policy=applied,
        requested_policy=requested,
        testing=record.testing,
        spf_aligned=spf_state is Alignment.ALIGNED,
        dkim_aligned=dkim_state is Alignment.ALIGNED,
        reason=reason,
        queries=tuple(queries.queries),
    )


def _spf_state(queries: DmarcQueries, author: str, spf: SpfResult, mode: str,
               known_orgs: dict[str, str]) -> tuple[Alignment, str]:
    check = spf.mailfrom
    if not check.domain:
        return Alignment.NOT_ALIGNED, "SPF: no MAIL FROM domain"
    # The SPF module marks a null reverse-path's postmaster@HELO check with identity "helo".
    what = f"SPF {check.result.value} for {check.domain}"
    if check.identity == "helo":
        what += " (null MAIL FROM, so postmaster@HELO)"
    if check.result not in (AuthResult.PASS, AuthResult.TEMPERROR):
        return Alignment.NOT_ALIGNED, what
    alignment = _alignment(queries, author, check.domain, mode, known_orgs)
    return _identifier_state(what, check.result, alignment, mode)


def _dkim_state(queries: DmarcQueries, author: str, dkim: DkimResult, mode: str,
                known_orgs: dict[str, str]) -> tuple[Alignment, str]:
    candidates = _dkim_candidates(dkim)
    if not candidates:
        return Alignment.NOT_ALIGNED, ("DKIM: no signature" if not dkim.signatures
                                       else "DKIM: no passing signature")
    notes: list[str] = []
    unknown = False
    for domain, result in candidates:
        alignment = _alignment(queries, author, domain, mode, known_orgs)
        state, note = _identifier_state(f"DKIM {result.value} for d={domain}", result,
                                        alignment, mode)
        if state is Alignment.ALIGNED:
            return state, note
        unknown = unknown or state is Alignment.TEMPERROR
        notes.append(note)
    return (Alignment.TEMPERROR if unknown else Alignment.NOT_ALIGNED), "; ".join(notes)


def _dkim_candidates(dkim: DkimResult) -> list[tuple[str, AuthResult]]:
    """Distinct signing domains that passed (or could have, on a DNS error), passes first."""
    best: dict[str, AuthResult] = {}
    for signature in dkim.signatures:
        domain = dmarc_domain(signature.domain)
        if domain is None or signature.result not in (AuthResult.PASS, AuthResult.TEMPERROR):
            continue
        if best.get(domain) is not AuthResult.PASS:
            best[domain] = signature.result
    ordered = sorted(best.items(), key=lambda item: item[1] is not AuthResult.PASS)
    if len(ordered) > MAX_DKIM_DOMAINS:
        log.info("DMARC: only the first %d of %d DKIM signing domains are examined",
                 MAX_DKIM_DOMAINS, len(ordered))
    return ordered[:MAX_DKIM_DOMAINS]


def _identifier_state(what: str, result: AuthResult, alignment: Alignment,
                      mode: str) -> tuple[Alignment, str]:
    words = "strict" if mode == "s" else "relaxed"
    if alignment is Alignment.TEMPERROR:
        return Alignment.TEMPERROR, f"{what}, alignment unknown (DNS error in the tree walk)"
    if alignment is Alignment.NOT_ALIGNED:
        return Alignment.NOT_ALIGNED, f"{what}, not aligned ({words})"
    if result is AuthResult.PASS:
        return Alignment.ALIGNED, f"{what}, aligned ({words})"
    # Aligned, but whether it passed is unknown: DMARC can neither pass nor fail on it.
    return Alignment.TEMPERROR, f"{what}, aligned ({words}) but the check itself failed"


def _requested_policy(queries: DmarcQueries, discovery: PolicyDiscovery, record: DmarcRecord,
                      verdict: AuthResult) -> tuple[str | None, str]:
    """p= for the Author Domain's own record, else sp= (existing) or np= (non-existent)."""
    own_policy = record.p or "none"  # applicable() guarantees p; "none" only satisfies typing
    if discovery.source is PolicySource.AUTHOR:
        return own_policy, "p="
    subdomain_policy = record.sp or own_policy
    if record.np is None or record.np == subdomain_policy:
        return subdomain_policy, "sp=" if record.sp else "p= (no sp=)"
    exists = _author_exists(queries, discovery.author_domain)
    if exists is None:
        if verdict is AuthResult.PASS:  # the policy is moot for a pass
            return subdomain_policy, "sp= (existence of the domain unknown)"
        return None, "existence of the domain unknown (DNS error)"
    if exists:
        return subdomain_policy, "sp=" if record.sp else "p= (no sp=)"
    return record.np, "np= (the domain does not exist)"


def _author_exists(queries: DmarcQueries, author: str) -> bool | None:
    """Section 3.2.13 / A.4: a name exists unless a query for it answers NXDOMAIN.

    NXDOMAIN is about the name, not the type (RFC 8020), so one query is
    enough; NODATA means the name exists.  None on a DNS error.
    """
    answer = queries.lookup.lookup(author, "A")
    if answer.status is DnsStatus.TEMPERROR:
        return None
    return answer.status is not DnsStatus.NXDOMAIN


def _org_if_walked(queries: DmarcQueries, author: str) -> str:
    walk = queries.walked(author)
    return walk.organizational_domain if walk else ""


def _reason(verdict: AuthResult, discovery: PolicyDiscovery, spf_note: str, dkim_note: str,
            policy_note: str, record: DmarcRecord, requested: str, applied: str) -> str:
    where = f"record at _dmarc.{discovery.policy_domain} ({discovery.source.value} domain)"
    if verdict is AuthResult.PASS:
        head = f"DMARC pass: {spf_note}; {dkim_note}"
    elif verdict is AuthResult.TEMPERROR:
        head = f"DMARC temperror: {spf_note}; {dkim_note}"
    else:
        head = f"DMARC fail: {spf_note}; {dkim_note}"
    tail = f"{where}, policy from {policy_note}"
    if requested:
        tail += f" = {requested}"
    if record.testing and requested and applied != requested:
        tail += f", applied as {applied} because of t=y"
    elif record.testing:
        tail += ", t=y"
    if discovery.record is not None and discovery.record is not record:
        tail += " (invalid policy tags, treated as p=none because rua= is valid)"
    return f"{head}. {tail}."


def _result(result: AuthResult, from_domain: str, reason: str,
            queries: DmarcQueries | None = None, policy_domain: str = "",
            org_domain: str = "") -> DmarcResult:
    return DmarcResult(
        result=result,
        from_domain=from_domain,
        policy_domain=policy_domain,
        org_domain=org_domain,
        policy="",
        requested_policy="",
        testing=False,
        spf_aligned=False,
        dkim_aligned=False,
        reason=reason,
        queries=tuple(queries.queries) if queries else (),
    )
