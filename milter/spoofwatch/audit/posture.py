"""What DNS says about one audited domain: existence, MX, SPF, DMARC, DKIM keys, MTA-STS, BIMI.

Every fact comes through the caller's ``Lookup`` (the one resolver), and every DNS failure
is kept as "unknown", never read as "absent". DMARC is the milter's own code: the record
and where the tree walk found it come from ``discover`` (RFC 9989 4.10), and the policy a
failing message gets (p=, sp= or np=, then t=y) from ``evaluate_dmarc`` given an
unauthenticated message, so the audit and the milter cannot disagree about it. Whether
the domain can send mail at all is ``detect/posture.py``'s ``mail_posture``, as for the
finding ``non_mail_domain``. DKIM keys are checked by ``auth/dkim_keys.py``'s
``KeyFetcher``, as for a signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..auth.dkim_keys import KeyFetcher
from ..auth.dmarc import evaluate_dmarc
from ..auth.dmarc_treewalk import DmarcQueries, discover, dmarc_domain
from ..detect.posture import MailPosture, mail_posture
from ..dns import DnsStatus, Lookup
from ..results import AuthResult, DkimResult, SpfCheck, SpfResult
from .spf_survey import SpfFacts, survey_spf

__all__ = ["COMMON_SELECTORS", "DkimKey", "DmarcFacts", "DomainFacts", "Known", "MxFacts",
           "gather"]

# DKIM selectors tried on every domain and signing domain, besides none: a short list of
# the most common ones (providers' defaults). Each costs one TXT query per domain.
COMMON_SELECTORS = ("default", "dkim", "mail", "selector1", "selector2", "google", "k1",
                    "s1", "s2")


class Known(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # a DNS failure: never read as "no"


@dataclass(frozen=True)
class MxFacts:
    state: Known  # it names mail hosts (yes), none or a null MX (no), or unknown
    null_mx: bool = False
    hosts: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class DmarcFacts:
    """The DMARC record that applies to a domain, and what it asks of a failing message."""

    state: Known  # a usable record applies (yes), none (no), or a DNS failure (unknown)
    record: str = ""  # the record's text as published
    policy_domain: str = ""  # where the tree walk found it
    source: str = ""  # "author", "organizational" or "psd"
    org_domain: str = ""
    p: str = ""
    sp: str = ""
    np: str = ""
    testing: bool = False  # t=y
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    requested: str = ""  # the policy asked for this domain (by tag)
    tag: str = ""  # the tag it comes from: "p", "sp" (a subdomain) or "np" (does not exist)
    applied: str = ""  # what a failing message gets after t=y: none, quarantine, reject
    reason: str = ""  # the evaluation's own sentence
    queries: tuple[str, ...] = ()  # the _dmarc names asked, in order (the tree walk)
    error: str = ""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    state: str  # "key", "revoked", "invalid", "unknown"
    note: str = ""


@dataclass(frozen=True)
class DomainFacts:
    domain: str
    org: str
    listed_sends_mail: bool  # the watchlist's sends_mail
    signing_domains: tuple[str, ...]
    exists: Known
    mx: MxFacts
    spf: SpfFacts
    dmarc: DmarcFacts
    dkim: tuple[DkimKey, ...]  # keys found (or unknown); selectors with no key left out
    dkim_probed: int  # key names asked
    mta_sts: Known
    bimi: Known
    posture: MailPosture  # detect/posture.py: why it cannot send mail, if it cannot


def gather(domain: str, org: str, sends_mail: bool, signing_domains: tuple[str, ...],
           lookup: Lookup) -> DomainFacts:
    """Every DNS fact the audit reports for ``domain`` (compared form)."""
    mx = _mx(domain, lookup)
    # A name exists unless a query for it answers NXDOMAIN (RFC 8020), as for DMARC's np=.
    exists = (mx.state if mx.state is Known.UNKNOWN
              else Known.NO if mx.error == "NXDOMAIN" else Known.YES)
    keys, probed = _dkim_keys((domain, *signing_domains), lookup)
    return DomainFacts(
        domain=domain, org=org, listed_sends_mail=sends_mail, signing_domains=signing_domains,
        exists=exists, mx=mx, spf=survey_spf(domain, lookup), dmarc=_dmarc(domain, lookup, exists),
        dkim=keys, dkim_probed=probed,
        mta_sts=_tagged_txt(f"_mta-sts.{domain}", "v=STSv1", lookup),
        bimi=_tagged_txt(f"default._bimi.{domain}", "v=BIMI1", lookup),
        posture=mail_posture(domain, lookup),
    )


def _mx(domain: str, lookup: Lookup) -> MxFacts:
    answer = lookup.lookup(domain, "MX")
    if answer.status is DnsStatus.TEMPERROR:
        return MxFacts(Known.UNKNOWN, error=answer.error or "temporary DNS error")
    if answer.status is DnsStatus.NXDOMAIN:
        return MxFacts(Known.NO, error="NXDOMAIN")
    hosts = tuple(r.split()[-1] for r in answer.records if r.split())
    if any(host == "." for host in hosts):
        return MxFacts(Known.NO, null_mx=True)
    return MxFacts(Known.YES if hosts else Known.NO, hosts=hosts)


def _tagged_txt(name: str, tag: str, lookup: Lookup) -> Known:
    answer = lookup.lookup(name, "TXT")
    if answer.status is DnsStatus.TEMPERROR:
        return Known.UNKNOWN
    found = any(r.replace(" ", "").lower().startswith(tag.lower() + ";") or r.strip() == tag
                for r in answer.records)
    return Known.YES if found else Known.NO


def _forged(domain: str) -> tuple[SpfResult, DkimResult]:
    """The authentication of a forgery: SPF fails for the domain, no DKIM signature."""
    check = SpfCheck("mailfrom", domain, f"postmaster@{domain}", AuthResult.FAIL)
    return SpfResult(mailfrom=check, helo=None), DkimResult(signatures=())


def _policy_tag(source: str, sp: str, np: str, exists: Known) -> str:
    # The choice evaluate_dmarc makes (RFC 9989 4.10.1), named for the report.
    if source == "author":
        return "p"
    if np and exists is Known.NO:
        return "np"
    return "sp" if sp else "p"


def _dmarc(domain: str, lookup: Lookup, exists: Known) -> DmarcFacts:
    author = dmarc_domain(domain)
    if author is None:
        return DmarcFacts(Known.NO, error="not a domain name")
    discovery = discover(DmarcQueries(lookup), author)
    result = evaluate_dmarc(author, *_forged(author), lookup)
    if discovery.temperror or result.result is AuthResult.TEMPERROR:
        return DmarcFacts(Known.UNKNOWN, queries=result.queries or discovery.queries,
                          error=discovery.error or result.reason, reason=result.reason)
    record = discovery.record
    if record is None:
        return DmarcFacts(Known.NO, org_domain=discovery.org_domain, reason=result.reason,
                          queries=result.queries)
    applies = result.result is AuthResult.FAIL
    return DmarcFacts(
        state=Known.YES if applies else Known.NO, record=record.raw,
        policy_domain=discovery.policy_domain, source=discovery.source.value,
        org_domain=result.org_domain or discovery.org_domain, p=record.p or "",
        sp=record.sp or "", np=record.np or "", testing=record.testing, adkim=record.adkim,
        aspf=record.aspf, rua=record.rua, ruf=record.ruf,
        requested=result.requested_policy if applies else "",
        tag=_policy_tag(discovery.source.value, record.sp or "", record.np or "", exists),
        applied=result.policy if applies else "", reason=result.reason,
        queries=result.queries,
    )


def _dkim_keys(domains: tuple[str, ...], lookup: Lookup) -> tuple[tuple[DkimKey, ...], int]:
    fetcher = KeyFetcher(lookup)
    found: list[DkimKey] = []
    probed = 0
    for domain in dict.fromkeys(domains):
        for selector in COMMON_SELECTORS:
            probed += 1
            name = f"{selector}._domainkey.{domain}"
            if fetcher(name.encode("ascii")) is not None:
                found.append(DkimKey(domain, selector, "key"))
                continue
            problem = fetcher.problems.get(name)
            if problem is None or problem.reason == "no key":
                continue
            state = ("unknown" if problem.result is AuthResult.TEMPERROR
                     else "revoked" if problem.reason == "key revoked" else "invalid")
            found.append(DkimKey(domain, selector, state, problem.reason))
    return tuple(found), probed
