"""The audit as data: every domain's DNS facts, rating and spoofwatch's stance, and the history.

``audit_domains`` gathers the domains concurrently: a thread pool of at most
``AUDIT_CONCURRENCY`` workers shares the one resolver (thread-safe: the milter uses it from
libmilter's threads), each domain with its own time budget (``DOMAIN_BUDGET``) so a silent
name server makes a domain "unknown" instead of holding the audit. The renderers
(``report_text``, ``report_json``, ``report_html``, ``suggest``) only read an ``AuditReport``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from ..config import Config
from ..dns import Resolver
from .history import Counts, History
from .posture import DomainFacts, gather
from .rating import Assessment, rate
from .stance import Stance, stance

__all__ = ["AUDIT_CONCURRENCY", "DOMAIN_BUDGET", "AuditReport", "DomainAudit", "Target",
           "audit_domains", "targets_of"]

# Domains audited at once. Each worker asks one query at a time, so this bounds the queries
# in flight towards the name servers (a recursive resolver takes 8 easily; the answers
# for one domain depend on each other, so more workers would mostly wait).
AUDIT_CONCURRENCY = 8
# Seconds of DNS one domain may spend (all its lookups together, about 25 queries).
DOMAIN_BUDGET = 60.0

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Target:
    domain: str
    org: str  # "" for a domain given on the command line that no organization owns
    sends_mail: bool = True
    signing_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainAudit:
    facts: DomainFacts
    assessment: Assessment
    stance: Stance
    history: Counts

    @property
    def alert(self) -> bool:
        """Spoofable (or not known not to be) and being spoofed: the line not to miss."""
        return bool(self.alert_reason)

    @property
    def alert_reason(self) -> str:
        """Why it is an alert ("" when it is not). Forgeries from the domain itself are
        judged by its own protection, forgeries from names below it by the subdomain
        policy (sp=/np=): p=reject says nothing about x.domain when sp=none."""
        counts, assessment = self.history, self.assessment
        if counts.own_forgeries > 0 and assessment.spoofable is not False:
            return assessment.reasons[0]
        if counts.subdomain_forgeries > 0 and assessment.subdomains_spoofable is not False:
            return (f"{counts.subdomain_forgeries} from its subdomains: "
                    f"{assessment.subdomain_reason}")
        return ""


@dataclass(frozen=True)
class AuditReport:
    generated: float  # seconds since the epoch
    config_path: str
    domains: tuple[DomainAudit, ...]
    history: History | None  # None: no history source
    elapsed: float  # seconds the DNS part took

    @property
    def alerts(self) -> tuple[DomainAudit, ...]:
        return tuple(d for d in self.domains if d.alert)

    def orgs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.facts.org for d in self.domains))


def targets_of(config: Config, domains: Sequence[str] = ()) -> tuple[Target, ...]:
    """The watchlist's domains, or the given ones (with their watchlist facts, if listed)."""
    watchlist = config.detection.watchlist
    if not domains:
        return tuple(Target(info.domain, org.name, info.sends_mail, info.signing_domains)
                     for org in watchlist.organizations for info in org.domains)
    targets = []
    for domain in domains:
        owner = watchlist.owner_of(domain)
        if owner is None:
            targets.append(Target(domain, ""))
        else:
            org, info = owner
            signing = info.signing_domains if info.domain == domain else ()
            targets.append(Target(domain, org.name, info.sends_mail, signing))
    return tuple(targets)


def _audit_one(target: Target, config: Config, resolver: Resolver) -> tuple[DomainFacts, Stance]:
    lookup = resolver.for_message(DOMAIN_BUDGET)
    facts = gather(target.domain, target.org, target.sends_mail, target.signing_domains, lookup)
    return facts, stance(target.domain, target.org, config, lookup)


def audit_domains(targets: Sequence[Target], config: Config, resolver: Resolver,
                  history: History | None, progress: Progress | None = None) -> AuditReport:
    """Audit every target (concurrently, see ``AUDIT_CONCURRENCY``), in the targets' order."""
    started = time.monotonic()
    results: dict[int, tuple[DomainFacts, Stance]] = {}
    if targets:
        with ThreadPoolExecutor(max_workers=min(AUDIT_CONCURRENCY, len(targets)),
                                thread_name_prefix="audit") as pool:
            futures = {pool.submit(_audit_one, t, config, resolver): i
                       for i, t in enumerate(targets)}
            for done, future in enumerate(as_completed(futures), start=1):
                index = futures[future]
                results[index] = future.result()
                if progress is not None:
                    progress(done, len(targets), targets[index].domain)
    domains = []
    for i in range(len(targets)):
        facts, found = results[i]
        counts = history.domain(facts.domain) if history is not None else Counts()
        domains.append(DomainAudit(facts, rate(facts), found, counts))
    return AuditReport(time.time(), config.path, tuple(domains), history,
                       time.monotonic() - started)
