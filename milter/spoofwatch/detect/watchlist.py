"""The watchlist: organizations that get impersonated, their domains, names and senders.

Loaded from YAML and validated once (errors name file, line and key); queried by the
impersonation checks. An organization owns its listed domains and their subdomains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..domains import is_qualified_domain, is_subdomain_or_self, normalize_domain
from ..schema import Section
from ..yamlload import ConfigError, load_yaml


@dataclass(frozen=True)
class WatchedDomainInfo:
    domain: str  # A-label, lower-case
    sends_mail: bool = True
    signing_domains: tuple[str, ...] = ()  # DKIM d= of its sending services that count as its own


@dataclass(frozen=True)
class Organization:
    name: str
    aliases: tuple[str, ...]
    domains: tuple[WatchedDomainInfo, ...]
    distinct: tuple[str, ...]  # legitimate neighbours that are never its lookalikes
    senders: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Watchlist:
    organizations: tuple[Organization, ...]
    distinct: tuple[str, ...] = ()  # global list of legitimate domains never flagged
    path: str = ""

    def owner_of(self, domain: str) -> tuple[Organization, WatchedDomainInfo] | None:
        """The organization that owns ``domain`` (the domain itself or a parent of it)."""
        domain = normalize_domain(domain)
        best: tuple[Organization, WatchedDomainInfo] | None = None
        for org in self.organizations:
            for info in org.domains:
                if is_subdomain_or_self(domain, info.domain):
                    if best is None or len(info.domain) > len(best[1].domain):
                        best = (org, info)
        return best

    def all_distinct(self) -> tuple[str, ...]:
        out = list(self.distinct)
        for org in self.organizations:
            out.extend(org.distinct)
        return tuple(dict.fromkeys(out))

    def is_distinct(self, domain: str, org: Organization | None = None) -> bool:
        """Is ``domain`` (or a parent of it) a listed legitimate neighbour: globally, or of
        ``org`` when given (of any organization when not)?"""
        domain = normalize_domain(domain)
        listed = list(self.distinct)
        for other in self.organizations:
            if org is None or other == org:
                listed.extend(other.distinct)
        return any(is_subdomain_or_self(domain, d) for d in listed)

    def signing_domains(self, org: Organization) -> set[str]:
        domains = {info.domain for info in org.domains}
        for info in org.domains:
            domains.update(info.signing_domains)
        return domains


EMPTY = Watchlist(organizations=())


def _domain(sec: Section, key: str, value: str) -> str:
    domain = normalize_domain(value)
    # the one rule for domains (spoofwatch.domains), as a registered domain: two labels
    if not is_qualified_domain(domain):
        raise sec.error(key, f"{value!r} is not a domain name")
    return domain


def _domains(sec: Section, key: str) -> tuple[str, ...]:
    return tuple(_domain(sec, key, d) for d in sec.str_list(key, ()))


def _load_domain(sec: Section, item: object) -> WatchedDomainInfo:
    if isinstance(item, str):
        return WatchedDomainInfo(_domain(sec, "domain", item))
    sub = Section(sec.path, item, sec.prefix, sec.line)
    info = WatchedDomainInfo(
        domain=_domain(sub, "domain", sub.str("domain")),
        sends_mail=sub.bool("sends_mail", True),
        signing_domains=_domains(sub, "signing_domains"),
    )
    sub.done()
    return info


def _load_org(sec: Section) -> Organization:
    name = sec.str("name").strip()
    if not name:
        raise sec.error("name", "must not be empty")
    raw_domains = sec.list("domains", [])
    domains = tuple(
        _load_domain(Section(sec.path, {}, f"{sec.key('domains')}[{i}]", sec.line_of("domains")),
                     item)
        for i, item in enumerate(raw_domains)
    )
    org = Organization(
        name=name,
        aliases=tuple(a.strip() for a in sec.str_list("aliases", ()) if a.strip()),
        domains=domains,
        distinct=_domains(sec, "distinct"),
        senders=tuple(s.lower() for s in sec.str_list("senders", ())),
    )
    sec.done()
    if not org.domains and not org.aliases:
        raise sec.error("domains", "an organization needs domains or aliases to watch")
    return org


def load_watchlist(path: str | Path) -> Watchlist:
    path = Path(path)
    top = Section(path, load_yaml(path))
    orgs = tuple(_load_org(s) for s in top.sections("organizations"))
    watchlist = Watchlist(organizations=orgs, distinct=_domains(top, "distinct"), path=str(path))
    top.done()
    seen: dict[str, str] = {}
    for org in orgs:
        for info in org.domains:
            if info.domain in seen and seen[info.domain] != org.name:
                raise ConfigError(path, None, "organizations",
                                  f"domain {info.domain} is listed under both "
                                  f"{seen[info.domain]!r} and {org.name!r}")
            seen[info.domain] = org.name
    return watchlist
