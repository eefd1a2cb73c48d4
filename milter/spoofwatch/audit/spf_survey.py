"""What a domain's SPF record (RFC 7208) allows: validity, final qualifier, DNS-lookup count,
and the size of the address space it authorizes.

Why not pyspf (which ``auth/spf.py`` uses for messages): pyspf evaluates a record for one
client address and stops at the first mechanism that matches, so it neither counts every
DNS-querying term of a record nor says which addresses the record authorizes. This walk
reads the whole record instead, following ``include:`` and ``redirect=`` through the same
``Lookup`` as every check, and applies the limits of RFC 7208 section 4.6.4 (ten terms
that query DNS, two void lookups) as permerror, as a receiver would.

Only addresses a term *passes* (qualifier ``+`` or none) count towards the address space;
``a``/``mx`` terms count their resolved addresses. An ``include:`` passes what its target
record passes, and only when its own qualifier is ``+``: ``-include:`` of a record that
lists every address authorizes nobody. Terms through which *every* address passes are kept
in ``everyone``: an ``include:`` (or ``redirect=``) of a record that ends ``+all`` or itself
lets everyone through, and an ``exists:`` of a fixed name (no macro) that resolves, which
matches whatever the client. ``ptr`` and terms with macros (``%{i}`` ...) cannot be sized
without a message: they are listed in ``unsized`` and the space is then a lower bound. A
DNS failure makes the facts "unknown", never "none".

Loops: an ``include:``/``redirect=`` that names a record already on the path from the
domain's own record is a loop (receivers answer permerror); two includes of one record
(a diamond) are not.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..dns import DnsStatus, Lookup

__all__ = ["MAX_DNS_LOOKUPS", "SpfFacts", "survey_spf"]

MAX_DNS_LOOKUPS = 10  # RFC 7208 4.6.4: terms that query DNS
MAX_VOID_LOOKUPS = 2  # RFC 7208 4.6.4: lookups that return nothing
MAX_MX_HOSTS = 10  # RFC 7208 4.6.4: addresses looked up per mx term
_WALK_LIMIT = 40  # stop following includes past this many lookups (the count stays exact up to it)

_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_QUERYING = frozenset({"include", "a", "mx", "ptr", "exists"})
# DOTALL: a record may hold a newline, and ".*\Z" failing on one would backtrack the name
# character by character (quadratic); with it ".*" always reaches the end.
_TERM = re.compile(r"(?P<q>[+\-~?]?)(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)(?P<rest>.*)\Z", re.DOTALL)
_MODIFIER = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)=(?P<value>.*)\Z", re.DOTALL)
_CIDR = re.compile(r"(?P<spec>[^/]*)(?:/(?P<v4>\d{1,2}))?(?://(?P<v6>\d{1,3}))?\Z")
_QUALIFIER_WORDS = {"-": "fail", "~": "softfail", "?": "neutral", "+": "pass"}


@dataclass(frozen=True)
class SpfFacts:
    """The SPF facts of one domain. ``present``: "yes", "no" or "unknown" (DNS failure)."""

    present: str
    record: str = ""
    valid: bool | None = None  # None: unknown (a DNS failure part-way)
    problems: tuple[str, ...] = ()  # why it is invalid or incomplete, in plain words
    final: str = ""  # "-all", "~all", "?all", "+all", or "" (no all: neutral by default)
    dns_lookups: int = 0  # terms that query DNS, includes and redirects followed
    void_lookups: int = 0
    ipv4_addresses: int = 0  # IPv4 addresses it authorizes (a lower bound when unsized)
    ipv6_networks: int = 0  # IPv6 /64 networks it authorizes
    unsized: tuple[str, ...] = ()  # terms whose addresses cannot be known without a message
    everyone: tuple[str, ...] = ()  # passing terms that match every address (include of +all)

    @property
    def authorizes_everyone(self) -> bool:
        # All of IPv6 counts as much as all of IPv4: a forger needs only one of the two.
        return (self.final == "+all" or bool(self.everyone) or self.ipv4_addresses >= 2**32
                or self.ipv6_networks >= 2**64)


@dataclass
class _Walk:
    lookup: Lookup
    lookups: int = 0
    voids: int = 0
    problems: list[str] = field(default_factory=list)
    unknown: bool = False
    unsized: list[str] = field(default_factory=list)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    everyone: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # the records being walked, outermost first

    def count(self, term: str) -> bool:
        """Count one DNS-querying term; False once the walk has gone far enough."""
        self.lookups += 1
        if self.lookups == MAX_DNS_LOOKUPS + 1:
            self.problems.append(f"more than {MAX_DNS_LOOKUPS} DNS lookups (at {term}): "
                                 "receivers answer permerror")
        return self.lookups <= _WALK_LIMIT

    def answer(self, name: str, rdtype: str) -> tuple[str, ...] | None:
        """The records, () for nothing (a void lookup), None on a DNS failure."""
        answer = self.lookup.lookup(name, rdtype)
        if answer.status is DnsStatus.TEMPERROR:
            self.unknown = True
            self.problems.append(f"{rdtype} lookup of {name} failed ({answer.error or 'error'})")
            return None
        return answer.records if answer.status is DnsStatus.OK else ()

    def void(self, name: str) -> None:
        self.voids += 1
        if self.voids == MAX_VOID_LOOKUPS + 1:
            self.problems.append(f"more than {MAX_VOID_LOOKUPS} lookups found nothing "
                                 f"(at {name}): receivers answer permerror")


def _spf_records(texts: tuple[str, ...]) -> list[str]:
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def survey_spf(domain: str, lookup: Lookup) -> SpfFacts:
    """The SPF facts of ``domain`` (compared form)."""
    walk = _Walk(lookup)
    texts = walk.answer(domain, "TXT")
    if texts is None:
        return SpfFacts("unknown", problems=tuple(walk.problems))
    records = _spf_records(texts)
    if not records:
        return SpfFacts("no")
    if len(records) > 1:
        return SpfFacts("yes", records[0], False,
                        (f"{len(records)} SPF records published: receivers answer permerror",))
    walk.path.append(domain)
    final = _record(walk, domain, records[0], passes=True)
    valid = None if walk.unknown else not walk.problems
    space = ipaddress.collapse_addresses(n for n in walk.networks if n.version == 4)
    space6 = ipaddress.collapse_addresses(n for n in walk.networks if n.version == 6)
    return SpfFacts(
        present="yes", record=records[0], valid=valid, problems=tuple(walk.problems),
        final=final, dns_lookups=walk.lookups, void_lookups=walk.voids,
        ipv4_addresses=sum(n.num_addresses for n in space),
        ipv6_networks=sum(2 ** max(0, 64 - n.prefixlen) for n in space6),
        unsized=tuple(dict.fromkeys(walk.unsized)),
        everyone=tuple(dict.fromkeys(walk.everyone)),
    )


def _record(walk: _Walk, domain: str, record: str, passes: bool) -> str:
    """Walk one record; its final qualifier ("-all" ...; "" without all or redirect).

    ``passes``: whether what this record passes is authorized by the domain surveyed
    (False inside an include whose qualifier is not ``+``: its matches do not pass).
    """
    redirect = ""
    for term in record.split()[1:]:
        modifier = _MODIFIER.match(term)
        if modifier and modifier.group("name").lower() not in _MECHANISMS:
            if modifier.group("name").lower() == "redirect":
                redirect = modifier.group("value")
            continue  # exp= and unknown modifiers are ignored (RFC 7208 6)
        match = _TERM.match(term)
        name = match.group("name").lower() if match else ""
        if match is None or name not in _MECHANISMS:
            walk.problems.append(f"{domain}: unknown term {term!r}: receivers answer permerror")
            return ""
        qualifier = match.group("q") or "+"
        if name == "all":
            return qualifier + "all"  # terms after all are never reached; redirect is ignored
        _mechanism(walk, domain, term, name, passes and qualifier == "+", match.group("rest"))
    if redirect:
        return _follow(walk, redirect, f"redirect={redirect}", passes, is_redirect=True)
    return ""


def _mechanism(walk: _Walk, domain: str, term: str, name: str, passes: bool,
               rest: str) -> None:
    """One mechanism; ``passes``: what it matches is authorized (its qualifier, and the
    qualifiers of the includes that led here, are all ``+``)."""
    if name in _QUERYING and not walk.count(term):
        return
    if name in ("ip4", "ip6"):
        _network(walk, domain, term, name, rest, passes)
        return
    if name == "include":
        if not rest.startswith(":") or len(rest) < 2:
            walk.problems.append(f"{domain}: {term!r} names no domain: receivers answer permerror")
            return
        # An include matches when its target's record passes the client: a target that
        # ends +all passes every client, so this term does too (RFC 7208 5.2).
        if _follow(walk, rest[1:], term, passes, is_redirect=False) == "+all" and passes:
            walk.everyone.append(term)
        return
    if name == "exists" and "%" not in rest and rest.startswith(":") and len(rest) > 1:
        _exists(walk, rest[1:], term, passes)
        return
    if name in ("ptr", "exists") or "%" in rest:
        walk.unsized.append(term)
        return
    spec = _CIDR.match(rest.removeprefix(":") if rest.startswith(":") else rest)
    if spec is None or (rest and not rest.startswith((":", "/"))):
        walk.problems.append(f"{domain}: malformed term {term!r}: receivers answer permerror")
        return
    target = spec.group("spec") or domain
    v4 = int(spec.group("v4") or 32)
    v6 = int(spec.group("v6") or 128)
    hosts = [target] if name == "a" else _mx_hosts(walk, target)
    for host in hosts[:MAX_MX_HOSTS]:
        _host_addresses(walk, host, v4, v6, passes)


def _exists(walk: _Walk, target: str, term: str, passes: bool) -> None:
    """``exists:`` of a fixed name: it matches every client when the name resolves, none
    when it does not (a void lookup)."""
    records = walk.answer(target.rstrip("."), "A")
    if records is None:
        return
    if not records:
        walk.void(target)
    elif passes:
        walk.everyone.append(term)


def _mx_hosts(walk: _Walk, target: str) -> list[str]:
    records = walk.answer(target, "MX")
    if not records:
        if records is not None:
            walk.void(target)
        return []
    return [r.split()[-1] for r in records if r.split() and r.split()[-1] != "."]


def _host_addresses(walk: _Walk, host: str, v4: int, v6: int, passes: bool) -> None:
    found = False
    for rdtype, prefix in (("A", v4), ("AAAA", v6)):
        for address in walk.answer(host, rdtype) or ():
            found = True
            if passes:
                walk.networks.append(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    if not found and not walk.unknown:
        walk.void(host)


def _network(walk: _Walk, domain: str, term: str, name: str, rest: str, passes: bool) -> None:
    try:
        network = ipaddress.ip_network(rest.removeprefix(":"), strict=False)
    except ValueError:
        network = None
    wanted = 4 if name == "ip4" else 6
    if network is None or not rest.startswith(":") or network.version != wanted:
        walk.problems.append(f"{domain}: malformed term {term!r}: receivers answer permerror")
        return
    if passes:
        walk.networks.append(network)


def _follow(walk: _Walk, target: str, term: str, passes: bool, is_redirect: bool) -> str:
    """Walk the record of an include or redirect target; its final qualifier."""
    if "%" in target:
        walk.unsized.append(term)
        return ""
    if is_redirect and not walk.count(term):
        return ""
    name = target.lower().rstrip(".")
    # Only a record already on the current path is a loop; a record included twice from
    # different places (a diamond) is evaluated twice by receivers, which is fine. The
    # walk stays bounded by _WALK_LIMIT lookups either way.
    if name in walk.path:
        walk.problems.append(f"{term} loops back to {name}: receivers answer permerror")
        return ""
    texts = walk.answer(name, "TXT")
    if texts is None:
        return ""
    records = _spf_records(texts)
    if len(records) != 1:
        if not texts:
            walk.void(name)
        walk.problems.append(f"{term}: {name} publishes {len(records)} SPF records: "
                             "receivers answer permerror")
        return ""
    walk.path.append(name)
    try:
        return _record(walk, name, records[0], passes)
    finally:
        walk.path.pop()
