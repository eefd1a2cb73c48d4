"""DNS lookups for every check: one cached, thread-safe resolver per process.

All checks (SPF, DKIM, ARC, DMARC, detection) ask DNS through the small
``Lookup`` protocol and get a ``DnsAnswer`` back; nothing here raises on a DNS
problem. A failure to get an answer (timeout, SERVFAIL, REFUSED, network
error, exhausted per-message budget) is a ``TEMPERROR`` answer with a human
``error`` text, so each check can map it onto its own ``temperror`` result.

Record text formats (``DnsAnswer.records``):

* TXT: the record's character-strings concatenated, decoded as UTF-8 with
  ``errors="surrogateescape"`` (so any byte survives a round trip);
* A / AAAA: the address text;
* MX: ``"PREF exchange"``, exchange lower-case without the trailing dot, and a
  null MX (RFC 7505) kept as ``"0 ."``;
* PTR / CNAME / NS: the target name, lower-case, without the trailing dot;
* any other type: dnspython's presentation text of the rdata.

CNAMEs are followed (by the server and dnspython), so asking for the TXT of an
alias gives the TXT of its target. Names are normalised (lower-case, one
trailing dot removed). A name that cannot be a DNS name (empty label, label
over 63 octets, name over 253 octets, whitespace, control or non-ASCII
characters) answers NXDOMAIN without any query: no such name can exist, and
callers already treat NXDOMAIN as "nothing published there".
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

import dns.entropy
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.mxbase
import dns.rdtypes.nsbase
import dns.rdtypes.txtbase
import dns.resolver

log = logging.getLogger(__name__)

NEGATIVE_TTL_DEFAULT = 60  # seconds a negative answer is kept when no SOA says otherwise
MAX_CACHE_TTL = 86400  # never keep anything longer than a day, whatever the TTL says

_MAX_NAME_LENGTH = 253  # presentation length without the trailing dot (RFC 1035 2.3.4)
_MAX_LABEL_LENGTH = 63
# EDNS payload size from DNS flag day 2020: larger answers arrive truncated
# over UDP and are asked again over TCP.
_EDNS_PAYLOAD = 1232

Clock = Callable[[], float]


class DnsStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    TEMPERROR = "temperror"


@dataclass(frozen=True)
class DnsAnswer:
    name: str  # queried name, lower-case, no trailing dot
    rdtype: str  # "TXT", "A", "AAAA", "MX", "PTR", "CNAME", ...
    status: DnsStatus
    records: tuple[str, ...]  # text of each record; () unless status is OK
    ttl: int = 0
    error: str = ""  # human reason for TEMPERROR ("timeout", "SERVFAIL", "budget exhausted", ...)


class Lookup(Protocol):
    def lookup(self, name: str, rdtype: str) -> DnsAnswer: ...


@dataclass(frozen=True)
class ResolverStats:
    """A snapshot of a resolver's counters since it was made.

    hits: lookups answered from the cache.
    misses: lookups that had to ask a name server.
    timeouts: queries that timed out, plus lookups refused because the
        message's budget was exhausted (both are "ran out of time").
    errors: other TEMPERROR outcomes (SERVFAIL, REFUSED, network errors, ...).
    """

    hits: int = 0
    misses: int = 0
    timeouts: int = 0
    errors: int = 0


# ------------------------------------------------------------------ names


def normalize_name(name: str) -> str | None:
    """The name lower-case without one trailing dot, or None when it is not a valid DNS name."""
    text = name.lower()
    if text.endswith("."):
        text = text[:-1]
    if not text or len(text) > _MAX_NAME_LENGTH:
        return None
    if not text.isascii() or not text.isprintable() or any(ch.isspace() for ch in text):
        return None
    labels = text.split(".")
    if any(not label or len(label) > _MAX_LABEL_LENGTH for label in labels):
        return None
    return text


def _to_dns_name(name: str) -> dns.name.Name:
    # Built from raw labels, not parsed from text, so characters such as "\\"
    # or "@" are taken literally instead of as zone-file syntax.
    return dns.name.Name([label.encode("ascii") for label in name.split(".")] + [b""])


def _name_text(name: dns.name.Name) -> str:
    text = name.to_text(omit_final_dot=True).lower()
    return "." if name == dns.name.root else text


# ----------------------------------------------------------- record text


def _record_text(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, dns.rdtypes.txtbase.TXTBase):  # TXT (and SPF type 99)
        return b"".join(rdata.strings).decode("utf-8", "surrogateescape")
    if isinstance(rdata, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA):
        return str(rdata.address)
    if isinstance(rdata, dns.rdtypes.mxbase.MXBase):
        return f"{rdata.preference} {_name_text(rdata.exchange)}"
    if isinstance(rdata, dns.rdtypes.nsbase.NSBase):  # NS, CNAME, PTR, DNAME
        return _name_text(rdata.target)
    return str(rdata.to_text())


# ------------------------------------------------------------------ cache


class _Cache:
    """A size-bounded LRU map of (name, rdtype) to answers, expiring on TTL."""

    def __init__(self, max_size: int, clock: Clock) -> None:
        self._max_size = max(0, max_size)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[DnsAnswer, float]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> DnsAnswer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            answer, expires = entry
            remaining = expires - self._clock()
            if remaining <= 0:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        # The TTL counts down while cached, as a caching resolver's would.
        return replace(answer, ttl=max(1, int(remaining)))

    def put(self, key: tuple[str, str], answer: DnsAnswer) -> None:
        ttl = min(answer.ttl, MAX_CACHE_TTL)
        if ttl <= 0 or self._max_size == 0 or answer.status is DnsStatus.TEMPERROR:
            return
        with self._lock:
            self._entries[key] = (answer, self._clock() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"hits": 0, "misses": 0, "timeouts": 0, "errors": 0}

    def bump(self, counter: str) -> None:
        with self._lock:
            self._values[counter] += 1

    def snapshot(self) -> ResolverStats:
        with self._lock:
            return ResolverStats(**self._values)


# --------------------------------------------------------------- resolver


class _Exchange:
    """One lookup's conversation with the name servers, bounded by a real-time deadline.

    dnspython's ``Resolver.resolve`` sleeps a growing back-off between rounds
    even past its lifetime, so a server that never answers could cost more
    than the time we allow; this loop clips every wait, UDP and TCP alike, to
    the deadline. Servers take turns; one that answered with an error rcode or
    a network error is dropped for the rest of the lookup, one that timed out
    keeps its turn (as in dnspython).
    """

    def __init__(
        self, servers: Sequence[tuple[str, int]], timeout: float, lifetime: float
    ) -> None:
        self._servers = list(servers)
        self._timeout = timeout
        self._deadline = time.monotonic() + lifetime
        self._problems: list[str] = []  # non-timeout failures, first one is reported

    def run(self, request: dns.message.Message) -> dns.message.QueryMessage | str:
        """The first usable response, or the reason there is none."""
        while self._servers:
            for server in list(self._servers):
                if self._left() <= 0:
                    return "timeout"
                response = self._ask(request, server)
                if isinstance(response, dns.message.QueryMessage):
                    return response
                if response is not None:  # answers to queries are QueryMessages
                    return "bad response: not a query response"
        return self._problems[0] if self._problems else "no name server configured"

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def _ask(
        self, request: dns.message.Message, server: tuple[str, int]
    ) -> dns.message.Message | None:
        address, port = server
        request.id = dns.entropy.random_16()
        try:
            try:
                response = dns.query.udp(
                    request, address, timeout=min(self._timeout, self._left()), port=port,
                    ignore_unexpected=True, raise_on_truncation=True,
                )
            except dns.message.Truncated:
                # Too big for UDP: ask again over TCP (RFC 7766).
                response = dns.query.tcp(
                    request, address, timeout=max(0.001, min(self._timeout, self._left())),
                    port=port,
                )
        except dns.exception.Timeout:
            return None
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            self._drop(server, f"network error: {exc}" if isinstance(exc, OSError | EOFError)
                       else f"bad response: {exc}")
            return None
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return response
        self._drop(server, dns.rcode.to_text(rcode))  # SERVFAIL, REFUSED, FORMERR, ...
        return None

    def _drop(self, server: tuple[str, int], problem: str) -> None:
        self._problems.append(problem)
        if server in self._servers:
            self._servers.remove(server)


def _has_soa(response: dns.message.Message) -> bool:
    return any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.authority)


def _server_list(nameservers: Sequence[str], port: int) -> tuple[tuple[str, int], ...]:
    """Validated (address, port) pairs, from the arguments or /etc/resolv.conf."""
    if nameservers:
        config = dns.resolver.Resolver(configure=False)
        config.nameservers = list(nameservers)  # validates the addresses
    else:
        config = dns.resolver.Resolver(configure=True)
    servers = []
    for server in config.nameservers:
        if isinstance(server, str):
            servers.append((server, port))
        elif isinstance(server, dns.nameserver.Do53Nameserver):
            servers.append((server.address, server.port if not nameservers else port))
        else:
            log.warning("ignoring name server %s: only plain DNS is supported", server)
    return tuple(servers)


class Resolver:
    """The process-wide DNS resolver: cached, thread-safe, never raising.

    ``nameservers`` empty means the servers in the system's /etc/resolv.conf;
    either way they are asked on ``port``. ``timeout`` bounds each attempt and ``lifetime``
    one whole lookup (retries, TCP fallback). ``clock`` (monotonic seconds) drives cache
    expiry and message budgets; tests inject a fake one to age the cache
    without sleeping. The network waits themselves always use real time.
    """

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        port: int = 53,
        timeout: float = 2.0,
        lifetime: float = 4.0,
        cache_size: int = 10000,
        message_budget: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.lifetime = lifetime
        self.message_budget = message_budget
        self._clock = clock
        self._cache = _Cache(cache_size, clock)
        self._counters = _Counters()
        self._setup_error = ""
        self._servers: tuple[tuple[str, int], ...] = ()
        try:
            self._servers = _server_list(nameservers, port)
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            # Every lookup will then be a TEMPERROR naming this problem.
            self._setup_error = f"no usable resolver configuration: {exc}"
            log.error("DNS resolver setup failed: %s", exc)

    @property
    def stats(self) -> ResolverStats:
        return self._counters.snapshot()

    def clock(self) -> float:
        return self._clock()

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        return self._lookup(name, rdtype, deadline=None)

    def for_message(self, budget: float | None = None) -> BudgetedLookup:
        seconds = self.message_budget if budget is None else budget
        return BudgetedLookup(self, self._clock() + seconds)

    # The shared path for plain and budgeted lookups.
    def _lookup(self, name: str, rdtype: str, deadline: float | None) -> DnsAnswer:
        kind = rdtype.strip().upper()
        normal = normalize_name(name)
        if normal is None:
            shown = name.lower().rstrip(".")
            return DnsAnswer(shown, kind, DnsStatus.NXDOMAIN, (), 0, "")
        cached = self._cache.get((normal, kind))
        if cached is not None:
            self._counters.bump("hits")
            return cached
        lifetime = self.lifetime
        if deadline is not None:
            lifetime = min(lifetime, deadline - self._clock())
            if lifetime <= 0:
                self._counters.bump("timeouts")
                return DnsAnswer(normal, kind, DnsStatus.TEMPERROR, (), 0, "budget exhausted")
        self._counters.bump("misses")
        answer = self._query(normal, kind, lifetime)
        if answer.status is DnsStatus.TEMPERROR:
            self._counters.bump("timeouts" if answer.error == "timeout" else "errors")
            log.info("DNS %s %s: temperror (%s)", normal, kind, answer.error)
        else:
            self._cache.put((normal, kind), answer)
        return answer

    def _query(self, name: str, kind: str, lifetime: float) -> DnsAnswer:
        def fail(error: str) -> DnsAnswer:
            return DnsAnswer(name, kind, DnsStatus.TEMPERROR, (), 0, error)

        if self._setup_error:
            return fail(self._setup_error)
        try:
            rdtype = dns.rdatatype.from_text(kind)
        except dns.exception.DNSException:
            return fail(f"unknown record type {kind!r}")
        request = dns.message.make_query(_to_dns_name(name), rdtype, use_edns=0,
                                         payload=_EDNS_PAYLOAD)
        outcome = _Exchange(self._servers, self.timeout, lifetime).run(request)
        if isinstance(outcome, str):
            return fail(outcome)
        try:
            chain = outcome.resolve_chaining()
        except dns.exception.DNSException as exc:  # CNAME loop, NXDOMAIN with data, ...
            return fail(f"bad response: {exc}")
        ttl = int(chain.minimum_ttl)
        if chain.answer is None and not _has_soa(outcome):
            ttl = min(ttl, NEGATIVE_TTL_DEFAULT)  # no SOA to say how long "nothing" lasts
        if outcome.rcode() == dns.rcode.NXDOMAIN:
            return DnsAnswer(name, kind, DnsStatus.NXDOMAIN, (), ttl)
        if chain.answer is None:
            return DnsAnswer(name, kind, DnsStatus.NODATA, (), ttl)
        records = tuple(_record_text(rdata) for rdata in chain.answer)
        return DnsAnswer(name, kind, DnsStatus.OK, records, ttl)


class BudgetedLookup:
    """A Lookup for one message: shares its resolver's cache, stops querying at a deadline.

    Cached answers are still served after the deadline (they cost nothing);
    anything that would need a query then answers TEMPERROR "budget exhausted".
    Each query's lifetime is clipped to the time left, so a server that never
    answers costs at most the budget in total.
    """

    def __init__(self, resolver: Resolver, deadline: float) -> None:
        self._resolver = resolver
        self.deadline = deadline

    @property
    def remaining(self) -> float:
        return max(0.0, self.deadline - self._resolver.clock())

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        return self._resolver._lookup(name, rdtype, deadline=self.deadline)


class StaticLookup:
    """An in-memory Lookup for unit tests of pure logic (no cache, no network).

    ``zone`` maps names to {rdtype: [record text, ...]} in the formats above.
    Names absent from the zone answer NXDOMAIN, unless they have descendants in
    the zone (empty non-terminals answer NODATA, as in real DNS); present names
    without the type answer NODATA; names in ``temperror`` answer TEMPERROR.
    Names are normalised like the real resolver's, and CNAMEs in the zone are
    followed. ``queries`` logs every (name, rdtype) asked, in order.
    """

    _MAX_CHAIN = 8

    def __init__(
        self,
        zone: Mapping[str, Mapping[str, Sequence[str]]],
        temperror: Collection[str] = (),
        ttl: int = 300,
    ) -> None:
        self._zone: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, by_type in zone.items():
            key = name.lower().rstrip(".")
            entry = self._zone.setdefault(key, {})
            for rdtype, values in by_type.items():
                entry[rdtype.upper()] = entry.get(rdtype.upper(), ()) + tuple(values)
        self._temperror = frozenset(name.lower().rstrip(".") for name in temperror)
        self._ttl = ttl
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        kind = rdtype.strip().upper()
        normal = normalize_name(name)
        if normal is None:
            return DnsAnswer(name.lower().rstrip("."), kind, DnsStatus.NXDOMAIN, ())
        with self._lock:
            self.queries.append((normal, kind))
        current = normal
        for _ in range(self._MAX_CHAIN):
            if current in self._temperror:
                return DnsAnswer(normal, kind, DnsStatus.TEMPERROR, (), 0, "temperror (static)")
            by_type = self._zone.get(current, {})
            if kind in by_type:
                return DnsAnswer(normal, kind, DnsStatus.OK, by_type[kind], self._ttl)
            if kind != "CNAME" and by_type.get("CNAME"):
                current = by_type["CNAME"][0].lower().rstrip(".")
                continue
            break
        if self._exists(current):
            return DnsAnswer(normal, kind, DnsStatus.NODATA, (), self._ttl)
        return DnsAnswer(normal, kind, DnsStatus.NXDOMAIN, (), self._ttl)

    def _exists(self, name: str) -> bool:
        if name in self._zone:
            return True
        suffix = "." + name
        return any(other.endswith(suffix) for other in self._zone)
