"""What happened here: the messages that claimed each watched organization, counted.

The facts come from ``HistorySource`` objects (``history_sources.py``: the JSON decision
log, the quarantine store's releases; a shared database later), so a second source is one
more class, not a change here. ``collect`` attributes each message to organizations and
counts it. Pure: no I/O beyond what the sources do.

A message *claims* an organization when

* its From domain is one of the organization's domains (or under one): it is counted for
  that domain too (``watchlist.owner_of``, as the milter does);
* its From domain imitates one of them (the milter found ``lookalike_domain`` and the
  matcher of the running configuration names the organization): the lookalike is listed;
* the milter's findings named the organization (the decision log's ``orgs``: a display
  name or a Reply-To that impersonates it).

Counts: ``authenticated`` (from the organization's own domain, checked, DMARC or DKIM
passed, and neither ``from_domain_unauthenticated`` nor ``non_mail_domain`` raised),
``suspect``/``spoof``/``threat`` (the verdict's level), ``quarantined`` (the action),
``released`` (the quarantine store's release events). A *forgery* is a message at level
spoof or threat; the sending networks (/24, /48) and the chart count forgeries.
``subdomain_forgeries`` counts the forgeries whose From domain is *below* the watched domain
(x@vote.democrats.org): DMARC protects those by ``sp=``/``np=``, not by ``p=``, so the
report judges them apart (``report.DomainAudit.alert``).

Signing domains: ``signing_seen`` lists every d= of authenticated mail (information only).
``signing_vouched`` counts, per d=, the messages that vouch for it as a sending service of
the domain: DMARC passed, exactly one DKIM signature passed, and it is *not* aligned with
the From domain, so DMARC passed through aligned SPF: the message left a server the
domain's own SPF authorizes, and that server signed it. A forger who replays a genuine
message can add signatures of their own, but the genuine message carries an aligned
signature (not counted) or passed SPF only from the original server (which a replay from
elsewhere fails). ``suggest.py`` proposes a d= only past ``SIGNING_MIN_MESSAGES``.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ..detect.lookalike import LookalikeMatcher
from ..detect.watchlist import Watchlist
from ..domains import is_qualified_domain, is_subdomain_or_self, registrable_domain

__all__ = ["Counts", "Decision", "History", "HistorySource", "LookalikeSeen", "OrgHistory",
           "Release", "collect", "day_of"]

TOP_NETWORKS = 5
FORGERY_LEVELS = frozenset({"spoof", "threat"})
_UNAUTHENTICATED = frozenset({"from_domain_unauthenticated", "non_mail_domain"})


@dataclass(frozen=True)
class Decision:
    """One message as the decision log (or another source) recorded the milter's verdict."""

    time: float
    from_domain: str
    client_ip: str
    level: str
    findings: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    dmarc: str = ""
    dkim: str = ""
    skipped: bool = False
    orgs: tuple[str, ...] = ()  # organizations its findings named
    dkim_domains: tuple[str, ...] = ()  # d= of its passing DKIM signatures


@dataclass(frozen=True)
class Release:
    time: float  # when the message was quarantined
    from_domain: str
    orgs: tuple[str, ...]


class HistorySource(Protocol):
    """Where the history comes from. ``problems`` says what could not be read."""

    name: str

    def decisions(self, since: float) -> Iterable[Decision]: ...
    def releases(self, since: float) -> Iterable[Release]: ...
    def problems(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Counts:
    claiming: int = 0
    authenticated: int = 0
    suspect: int = 0
    spoof: int = 0
    threat: int = 0
    quarantined: int = 0
    released: int = 0
    subdomain_forgeries: int = 0  # forgeries from names below the domain (among spoof+threat)

    @property
    def forgeries(self) -> int:
        return self.spoof + self.threat

    @property
    def own_forgeries(self) -> int:
        """Forgeries from the domain itself (not from a name below it)."""
        return self.forgeries - self.subdomain_forgeries


@dataclass(frozen=True)
class LookalikeSeen:
    domain: str
    target: str  # the watched domain (or name) it imitates
    kind: str
    messages: int
    first: str  # UTC date
    last: str


@dataclass(frozen=True)
class OrgHistory:
    org: str
    counts: Counts
    domains: tuple[tuple[str, Counts], ...]  # per watched domain, in watchlist order
    lookalikes: tuple[LookalikeSeen, ...]
    networks: tuple[tuple[str, int], ...]  # top sending networks of forgeries
    forgeries_by_day: tuple[tuple[str, int], ...]  # UTC date -> forgeries
    signing_seen: tuple[tuple[str, tuple[str, ...]], ...]  # domain -> d= on authenticated mail
    # domain -> ((d=, messages vouching for it), ...): see the module's docstring
    signing_vouched: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()


@dataclass(frozen=True)
class History:
    since: float
    until: float
    orgs: tuple[OrgHistory, ...]
    messages: int  # decisions read in the period
    sources: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def org(self, name: str) -> OrgHistory | None:
        return next((o for o in self.orgs if o.org == name), None)

    def domain(self, domain: str) -> Counts:
        for org in self.orgs:
            for name, counts in org.domains:
                if name == domain:
                    return counts
        return Counts()


def day_of(when: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(when))


def network_of(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, decision: Decision, own: bool, below: bool = False) -> None:
        c = self.counts
        c["claiming"] += 1
        if own and _authenticated(decision):
            c["authenticated"] += 1
        if decision.level in ("suspect", "spoof", "threat"):
            c[decision.level] += 1
        if below and decision.level in FORGERY_LEVELS:
            c["subdomain_forgeries"] += 1
        if "quarantine" in decision.actions:
            c["quarantined"] += 1

    def frozen(self) -> Counts:
        return Counts(**{k: self.counts[k] for k in Counts.__dataclass_fields__})


def _authenticated(decision: Decision) -> bool:
    return (not decision.skipped and "pass" in (decision.dmarc, decision.dkim)
            and not _UNAUTHENTICATED & set(decision.findings))


def _aligned(signing: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment, read generously: one under the other, or one registrable
    domain (Public Suffix List). Generous on purpose: a d= wrongly taken as aligned only
    withholds a suggestion."""
    if is_subdomain_or_self(signing, from_domain) or is_subdomain_or_self(from_domain, signing):
        return True
    registrable = registrable_domain(from_domain)
    return bool(registrable) and registrable == registrable_domain(signing)


def vouched_signer(decision: Decision) -> str:
    """The d= this message vouches for as a sending service of its From domain, or "".

    DMARC passed, exactly one DKIM signature passed and it is not aligned: DMARC then
    passed through aligned SPF, i.e. from a server the domain's SPF authorizes.
    """
    if (decision.skipped or decision.dmarc != "pass" or len(decision.dkim_domains) != 1
            or _UNAUTHENTICATED & set(decision.findings)):
        return ""
    signer = decision.dkim_domains[0].lower().rstrip(".")
    if not is_qualified_domain(signer) or _aligned(signer, decision.from_domain):
        return ""
    return signer


@dataclass
class _Seen:
    target: str
    kind: str
    first: float
    last: float
    messages: int = 0

    def add(self, when: float) -> None:
        self.messages += 1
        self.first, self.last = min(self.first, when), max(self.last, when)


@dataclass
class _OrgTally:
    total: _Tally = field(default_factory=_Tally)
    domains: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    lookalikes: dict[str, _Seen] = field(default_factory=dict)
    networks: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)
    signing: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    vouched: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


class _Collector:
    def __init__(self, watchlist: Watchlist, matcher: LookalikeMatcher | None) -> None:
        self.watchlist = watchlist
        self.matcher = matcher
        self.orgs = {org.name: _OrgTally() for org in watchlist.organizations}

    def add(self, decision: Decision) -> None:
        claimed: set[str] = set()
        owner = self.watchlist.owner_of(decision.from_domain) if decision.from_domain else None
        if owner is not None:
            org, info = owner
            claimed.add(org.name)
            tally = self.orgs[org.name]
            tally.domains[info.domain].add(decision, own=True,
                                           below=decision.from_domain != info.domain)
            if _authenticated(decision) and decision.dkim_domains:
                tally.signing[info.domain].update(decision.dkim_domains)
            signer = vouched_signer(decision)
            if signer:
                tally.vouched[info.domain][signer] += 1
        elif "lookalike_domain" in decision.findings and self.matcher and decision.from_domain:
            match = self.matcher.match(decision.from_domain)
            if match is not None and match.org in self.orgs:
                claimed.add(match.org)
                seen = self.orgs[match.org].lookalikes.setdefault(
                    decision.from_domain, _Seen(match.target, match.kind, decision.time,
                                                decision.time))
                seen.add(decision.time)
        claimed.update(o for o in decision.orgs if o in self.orgs)
        for name in claimed:
            tally = self.orgs[name]
            own = owner is not None and owner[0].name == name
            tally.total.add(decision, own=own,
                            below=own and owner is not None
                            and decision.from_domain != owner[1].domain)
            if decision.level in FORGERY_LEVELS:
                tally.networks[network_of(decision.client_ip)] += 1
                tally.days[day_of(decision.time)] += 1

    def release(self, release: Release) -> None:
        owner = self.watchlist.owner_of(release.from_domain) if release.from_domain else None
        names = set(release.orgs) | ({owner[0].name} if owner else set())
        for name in names & set(self.orgs):
            self.orgs[name].total.counts["released"] += 1
            if owner is not None and owner[0].name == name:
                self.orgs[name].domains[owner[1].domain].counts["released"] += 1

    def history(self, name: str) -> OrgHistory:
        tally = self.orgs[name]
        org = next(o for o in self.watchlist.organizations if o.name == name)
        lookalikes = tuple(
            LookalikeSeen(domain, v.target, v.kind, v.messages, day_of(v.first), day_of(v.last))
            for domain, v in sorted(tally.lookalikes.items(),
                                    key=lambda item: (-item[1].messages, item[0])))
        return OrgHistory(
            org=name, counts=tally.total.frozen(),
            domains=tuple((info.domain, tally.domains[info.domain].frozen())
                          for info in org.domains),
            lookalikes=lookalikes,
            networks=tuple(sorted(tally.networks.items(),
                                  key=lambda item: (-item[1], item[0]))[:TOP_NETWORKS]),
            forgeries_by_day=tuple(sorted(tally.days.items())),
            signing_seen=tuple((d, tuple(sorted(s))) for d, s in sorted(tally.signing.items())),
            signing_vouched=tuple(
                (d, tuple(sorted(c.items(), key=lambda item: (-item[1], item[0]))))
                for d, c in sorted(tally.vouched.items())),
        )


def collect(sources: Iterable[HistorySource], watchlist: Watchlist,
            matcher: LookalikeMatcher | None, since: float, until: float) -> History:
    """Count every decision and release of the sources between ``since`` and ``until``."""
    collector = _Collector(watchlist, matcher)
    messages = 0
    names: list[str] = []
    problems: list[str] = []
    for source in sources:
        names.append(source.name)
        for decision in source.decisions(since):
            if since <= decision.time <= until:
                messages += 1
                collector.add(decision)
        for release in source.releases(since):
            if since <= release.time <= until:
                collector.release(release)
        problems.extend(source.problems())
    orgs = tuple(collector.history(org.name) for org in watchlist.organizations)
    return History(since, until, orgs, messages, tuple(names), tuple(problems))
