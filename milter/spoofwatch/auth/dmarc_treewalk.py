"""The DNS Tree Walk of RFC 9989 section 4.10: Organizational Domain and policy discovery.

The Organizational Domain comes from the tree walk, never from a Public Suffix List.

* `walk_targets` / `tree_walk` perform the walk: the Author Domain, then at most
  seven shorter names, stopping at a record with psd=y or psd=n.
* `select_organizational_domain` / `organizational_domain` apply the selection rules
  of section 4.10.2.
* `discover_policy` finds the record that applies (section 4.10.1): Author Domain,
  else Organizational Domain, else Public Suffix Domain.
* `DmarcQueries` asks each ``_dmarc`` name once per evaluation, shared by the walks
  of one message.

Domains are taken in the compared form of ``spoofwatch.domains`` (`dmarc_domain`),
so a Unicode Author Domain is queried as its IDNA 2008 A-label. DNS failures are
results (temperror), never exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..dns import DnsStatus, Lookup
from ..domains import is_dns_domain, normalize_domain
from .dmarc_record import DmarcRecord, parse_record

__all__ = [
    "MAX_TREE_WALK_QUERIES",
    "DmarcQueries",
    "PolicyDiscovery",
    "PolicySource",
    "TreeWalk",
    "WalkStep",
    "discover",
    "discover_policy",
    "dmarc_domain",
    "organizational_domain",
    "select_organizational_domain",
    "tree_walk",
    "walk_targets",
]

MAX_TREE_WALK_QUERIES = 8  # section 4.10: no tree walk makes more than eight queries
_SHORTENED_LABELS = 7  # step 4: a long name is cut down to seven labels after the first query


def dmarc_domain(domain: str) -> str | None:
    """``domain`` in compared form (``spoofwatch.domains``), or None when it is not a
    domain name that can be looked up."""
    name = normalize_domain(domain) if domain else ""
    return name if is_dns_domain(name) else None


@dataclass(frozen=True)
class WalkStep:
    """One _dmarc query of a tree walk."""

    domain: str  # the domain the record would be for (without "_dmarc.")
    status: DnsStatus
    record: DmarcRecord | None  # the one DMARC record found there, else None
    note: str = ""  # why nothing usable was found, or the DNS error

    @property
    def query(self) -> str:
        return f"_dmarc.{self.domain}"


@dataclass(frozen=True)
class TreeWalk:
    """A DNS Tree Walk (section 4.10) from `start`, in query order."""

    start: str
    steps: tuple[WalkStep, ...]
    temperror: bool = False

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(step.query for step in self.steps)

    @property
    def found(self) -> tuple[WalkStep, ...]:
        """Steps that retrieved a DMARC record, longest name first."""
        return tuple(step for step in self.steps if step.record is not None)

    @property
    def error(self) -> str:
        failed = [step for step in self.steps if step.status is DnsStatus.TEMPERROR]
        return f"{failed[0].query}: {failed[0].note}" if failed else ""

    @property
    def organizational_domain(self) -> str:
        """Section 4.10.2 selection; "" when a DNS error left it undetermined."""
        if self.temperror:
            return ""
        return select_organizational_domain(self.start, self.found)


def walk_targets(domain: str) -> tuple[str, ...]:
    """The domains a full tree walk from `domain` queries, in order (at most eight).

    The domain itself, then (step 4) a name cut down to seven labels when it
    has eight or more, else its parent, then one label less each time.
    """
    labels = domain.split(".")
    targets = [domain]
    remaining = labels[max(1, len(labels) - _SHORTENED_LABELS):]
    while remaining:
        targets.append(".".join(remaining))
        remaining = remaining[1:]
    return tuple(targets)


def select_organizational_domain(start: str, found: Iterable[WalkStep]) -> str:
    """Section 4.10.2: pick the Organizational Domain from the records a walk found.

    Records are looked at from the longest name to the shortest: psd=n makes
    its domain the answer; psd=y (not at the start) makes the domain one label
    below it the answer; otherwise the record with the fewest labels wins.
    With no record at all the start domain is its own Organizational Domain.
    """
    steps = [step for step in found if step.record is not None]
    for step in steps:
        psd = step.record.psd if step.record else "u"
        if psd == "n":
            return step.domain
        if psd == "y" and step.domain != start:
            return _one_label_below(start, step.domain)
    if steps:
        return min(steps, key=lambda step: step.domain.count(".")).domain
    return start


def _one_label_below(start: str, ancestor: str) -> str:
    depth = ancestor.count(".") + 2
    return ".".join(start.split(".")[-depth:])


class DmarcQueries:
    """The _dmarc lookups of one evaluation, each name asked once.

    Several tree walks of one message overlap (Author Domain, MAIL FROM
    domain, DKIM domains); remembering the steps keeps the queries to the
    distinct names, in the order first asked.
    """

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._steps: dict[str, WalkStep] = {}
        self._walks: dict[str, TreeWalk] = {}
        self.queries: list[str] = []

    def step(self, domain: str) -> WalkStep:
        if domain not in self._steps:
            self.queries.append(f"_dmarc.{domain}")
            self._steps[domain] = _query_step(self.lookup, domain)
        return self._steps[domain]

    def walked(self, start: str) -> TreeWalk | None:
        """The walk from `start` if one was made, without querying."""
        return self._walks.get(start)

    def walk(self, start: str) -> TreeWalk:
        if start not in self._walks:
            steps: list[WalkStep] = []
            temperror = False
            for target in walk_targets(start):
                step = self.step(target)
                steps.append(step)
                if step.status is DnsStatus.TEMPERROR:
                    temperror = True  # the rest cannot be trusted to say anything
                    break
                if step.record is not None and step.record.psd in ("y", "n"):
                    break
            self._walks[start] = TreeWalk(start, tuple(steps), temperror)
        return self._walks[start]


def _query_step(lookup: Lookup, domain: str) -> WalkStep:
    answer = lookup.lookup(f"_dmarc.{domain}", "TXT")
    if answer.status is DnsStatus.TEMPERROR:
        return WalkStep(domain, answer.status, None, answer.error or "temporary DNS error")
    if answer.status is not DnsStatus.OK:
        return WalkStep(domain, answer.status, None)
    records = [record for record in map(parse_record, answer.records) if record is not None]
    if len(records) > 1:
        return WalkStep(domain, answer.status, None,
                        f"{len(records)} DMARC records published, all discarded")
    return WalkStep(domain, answer.status, records[0] if records else None)


def tree_walk(domain: str, lookup: Lookup) -> TreeWalk:
    """Perform the DNS Tree Walk of section 4.10 from `domain` (at most eight queries)."""
    name = dmarc_domain(domain)
    if name is None:
        return TreeWalk(domain, ())
    return DmarcQueries(lookup).walk(name)


def organizational_domain(domain: str, lookup: Lookup) -> str:
    """The Organizational Domain of `domain` by tree walk; "" on a DNS error or a bad name."""
    return tree_walk(domain, lookup).organizational_domain if dmarc_domain(domain) else ""


class PolicySource(StrEnum):
    AUTHOR = "author"  # the Author Domain's own record: p=
    ORGANIZATIONAL = "organizational"  # the Organizational Domain's record: sp= / np=
    PUBLIC_SUFFIX = "psd"  # a Public Suffix Domain's record (psd=y): sp= / np=
    NONE = ""


@dataclass(frozen=True)
class PolicyDiscovery:
    """Which DMARC record applies to an Author Domain (section 4.10.1)."""

    author_domain: str
    record: DmarcRecord | None  # as retrieved; None when there is none (or temperror)
    policy_domain: str  # where it was found; "" when none
    source: PolicySource
    org_domain: str  # "" when not (yet) needed: the Author Domain had its own psd=u record
    queries: tuple[str, ...]  # _dmarc names asked, in order
    temperror: bool = False
    error: str = ""  # the failing query and the DNS error


def discover_policy(from_domain: str, lookup: Lookup) -> PolicyDiscovery:
    """Find the DMARC record for an Author Domain.

    Its own record, else its Organizational Domain's, else its Public Suffix Domain's.
    """
    author = dmarc_domain(from_domain)
    if author is None:
        return PolicyDiscovery(from_domain, None, "", PolicySource.NONE, "", ())
    return discover(DmarcQueries(lookup), author)


def discover(queries: DmarcQueries, author: str) -> PolicyDiscovery:
    first = queries.step(author)
    if first.status is DnsStatus.TEMPERROR:
        return _discovery_error(queries, author, f"{first.query}: {first.note}")
    if first.record is not None:
        # Its own record applies; it is also the Organizational Domain when it says psd=y/n.
        org = author if first.record.psd in ("y", "n") else ""
        return PolicyDiscovery(author, first.record, author, PolicySource.AUTHOR, org,
                               tuple(queries.queries))
    walk = queries.walk(author)
    if walk.temperror:
        return _discovery_error(queries, author, walk.error)
    org = walk.organizational_domain
    by_domain = {step.domain: step for step in walk.found}
    if org in by_domain:
        chosen, source = by_domain[org], PolicySource.ORGANIZATIONAL
    else:
        psd_steps = [step for step in walk.found if step.record and step.record.psd == "y"]
        if not psd_steps:
            return PolicyDiscovery(author, None, "", PolicySource.NONE, org, tuple(queries.queries))
        chosen, source = psd_steps[0], PolicySource.PUBLIC_SUFFIX
    return PolicyDiscovery(author, chosen.record, chosen.domain, source, org,
                           tuple(queries.queries))


def _discovery_error(queries: DmarcQueries, author: str, error: str) -> PolicyDiscovery:
    return PolicyDiscovery(author, None, "", PolicySource.NONE, "", tuple(queries.queries),
                           temperror=True, error=error)
