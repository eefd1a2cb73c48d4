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

Two judgements about the name servers themselves live here too, because only the
resolver sees every lookup:

* **Outage.** When every lookup of the last ``outage_after`` messages failed (timeout,
  SERVFAIL, REFUSED, network error; NXDOMAIN and NODATA are answers, not failures), DNS
  is declared down: one warning is logged, ``ResolverStats.up`` turns False, and each
  message may then spend only ``outage_budget`` seconds on DNS instead of its full
  budget. Why: a silent name server makes every session wait its whole budget, and
  libmilter's worker pool then starts new sessions late, so the MTA waits two budgets
  or more. The first lookup that gets an answer (any message's, or a probe's) ends
  the outage with one "DNS is back" line. The probe exists for a resolver that answers
  but more slowly than ``outage_budget``: while DNS is down, at most every
  ``probe_interval`` seconds one background query repeats the last failed lookup with
  the full lifetime.
* **Untrustworthy NXDOMAIN.** A resolver that answers NXDOMAIN for names that must exist
  (the top-level zones in ``NXDOMAIN_CANARIES``) is broken; its "no such domain" proves
  nothing, and ``nxdomain_trusted()`` says so (checked at most every
  ``NXDOMAIN_CHECK_SECONDS``, logged once when the verdict changes).

Why one module of over 400 lines: it is the only code that talks to name servers (the
architecture test holds every other module to that), and its parts (cache, counters,
outage health, the exchange with a server, the per-message budget) share one resolver's
state and locks; none of them is used anywhere else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
OUTAGE_AFTER_DEFAULT = 5  # messages whose every lookup failed before DNS is declared down
OUTAGE_BUDGET_DEFAULT = 0.5  # seconds of DNS per message while DNS is down
PROBE_INTERVAL_DEFAULT = 5.0  # seconds between background probes while DNS is down
# Zones every working resolver can answer for: NXDOMAIN for them means a broken resolver.
NXDOMAIN_CANARIES = (("com", "SOA"), ("org", "SOA"))
NXDOMAIN_CHECK_SECONDS = 60.0  # how long a verdict about NXDOMAIN answers is kept
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
    up: False while DNS is declared down (see the module docstring).
    """

    hits: int = 0
    misses: int = 0
    timeouts: int = 0
    errors: int = 0
    up: bool = True


# ------------------------------------------------------------------ names


def canonical_dns_name(name: str) -> str | None:
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

    def snapshot(self, up: bool = True) -> ResolverStats:
        with self._lock:
            return ResolverStats(**self._values, up=up)


class _Health:
    """Are the name servers answering at all? Judged from whole messages, not single lookups.

    ``failed`` counts the messages that saw a lookup fail since the last lookup that got
    an answer; the outage starts when it reaches ``outage_after``. A message counts once,
    however many of its lookups failed, so one slow message cannot declare an outage.
    """

    def __init__(self, outage_after: int, outage_budget: float, clock: Clock) -> None:
        self._after = max(1, outage_after)
        self._budget = outage_budget
        self._clock = clock
        self._lock = threading.Lock()
        self._failed = 0
        self._since = 0.0
        self.down = False
        self.last_failed: tuple[str, str] | None = None  # what the probe asks again

    def failure(self, name: str, kind: str, error: str) -> None:
        with self._lock:
            self.last_failed = (name, kind)
            self._failed += 1
            if self.down or self._failed < self._after:
                return
            self.down = True
            self._since = self._clock()
        log.warning("DNS appears to be down: every lookup of the last %d messages failed "
                    "(last: %s %s: %s); until a name server answers, each message spends at "
                    "most %gs on DNS and DNS results are temperror",
                    self._after, name, kind, error, self._budget)

    def success(self) -> None:
        with self._lock:
            self._failed = 0
            if not self.down:
                return
            self.down = False
            lasted = self._clock() - self._since
        log.warning("DNS is back after %.0fs: full lookups restored", lasted)


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
        outage_after: int = OUTAGE_AFTER_DEFAULT,
        outage_budget: float = OUTAGE_BUDGET_DEFAULT,
        probe_interval: float = PROBE_INTERVAL_DEFAULT,
    ) -> None:
        self.timeout = timeout
        self.lifetime = lifetime
        self.message_budget = message_budget
        self.outage_budget = outage_budget
        self.probe_interval = probe_interval
        self._clock = clock
        self._cache = _Cache(cache_size, clock)
        self._counters = _Counters()
        self._health = _Health(outage_after, outage_budget, clock)
        self._probe_lock = threading.Lock()
        self._probing = False
        self._next_probe = 0.0
        self._trust_lock = threading.Lock()
        self._trusted = True
        self._trust_until = 0.0
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
        return self._counters.snapshot(up=not self._health.down)

    @property
    def up(self) -> bool:
        """False while DNS is declared down (every lookup of the last messages failed)."""
        return not self._health.down

    def clock(self) -> float:
        return self._clock()

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        return self._lookup(name, rdtype, BudgetedLookup(self, None))

    def is_cached(self, key: tuple[str, str]) -> bool:
        return self._cache.get(key) is not None

    def for_message(self, budget: float | None = None) -> BudgetedLookup:
        seconds = self.message_budget if budget is None else budget
        self._maybe_probe()
        return BudgetedLookup(self, self._clock() + seconds)

    # The shared path for plain and budgeted lookups.
    def _lookup(self, name: str, rdtype: str, message: BudgetedLookup) -> DnsAnswer:
        kind = rdtype.strip().upper()
        normal = canonical_dns_name(name)
        if normal is None:
            shown = name.lower().rstrip(".")
            return DnsAnswer(shown, kind, DnsStatus.NXDOMAIN, (), 0, "")
        cached = self._cache.get((normal, kind))
        if cached is not None:
            self._counters.bump("hits")
            return cached
        lifetime, why = self._time_allowed(message)
        if lifetime <= 0:
            self._counters.bump("timeouts")
            return DnsAnswer(normal, kind, DnsStatus.TEMPERROR, (), 0, why)
        answer = self._ask(normal, kind, lifetime)
        if answer.status is DnsStatus.TEMPERROR:
            log.info("DNS %s %s: temperror (%s)", normal, kind, answer.error)
            if not message.failed:  # a message counts once towards an outage
                message.failed = True
                self._health.failure(normal, kind, answer.error)
        else:
            self._health.success()
            self._cache.put((normal, kind), answer)
        return answer

    def _ask(self, name: str, kind: str, lifetime: float) -> DnsAnswer:
        """One query to the name servers, counted (never from the cache)."""
        self._counters.bump("misses")
        answer = self._query(name, kind, lifetime)
        if answer.status is DnsStatus.TEMPERROR:
            self._counters.bump("timeouts" if answer.error == "timeout" else "errors")
        return answer

    def _time_allowed(self, message: BudgetedLookup) -> tuple[float, str]:
        """Seconds this lookup may take, and what to say when there are none left."""
        now = self._clock()
        lifetime, why = self.lifetime, "budget exhausted"
        if message.deadline is not None:
            lifetime = min(lifetime, message.deadline - now)
        if self._health.down:
            # Messages already in flight when the outage was declared stop waiting too.
            short = message.started + self.outage_budget - now
            if short < lifetime:
                lifetime, why = short, "DNS appears to be down"
        return lifetime, why

    def _maybe_probe(self) -> None:
        """While DNS is down, now and then ask the last failed lookup again with full time."""
        if not self._health.down:
            return
        with self._probe_lock:
            if self._probing or self._clock() < self._next_probe:
                return
            self._probing = True
            self._next_probe = self._clock() + self.probe_interval
        threading.Thread(target=self._probe, name="dns-probe", daemon=True).start()

    def _probe(self) -> None:
        try:
            name, kind = self._health.last_failed or NXDOMAIN_CANARIES[0]
            answer = self._ask(name, kind, self.lifetime)
            if answer.status is not DnsStatus.TEMPERROR:
                log.info("DNS probe %s %s answered", name, kind)
                self._health.success()
        finally:
            with self._probe_lock:
                self._probing = False

    def nxdomain_trusted(self, message: BudgetedLookup | None = None) -> bool:
        """False when the name servers deny names that must exist (see NXDOMAIN_CANARIES).

        The verdict is kept for NXDOMAIN_CHECK_SECONDS; a check that gets no answer
        (timeout, SERVFAIL) keeps the previous verdict and is not remembered.
        """
        with self._trust_lock:
            if self._clock() < self._trust_until:
                return self._trusted
        verdict = self._check_nxdomain(message or BudgetedLookup(self, None))
        if verdict is None:
            return self._trusted
        with self._trust_lock:
            changed, self._trusted = verdict != self._trusted, verdict
            self._trust_until = self._clock() + NXDOMAIN_CHECK_SECONDS
        if changed and not verdict:
            log.warning("the name servers answer NXDOMAIN for %s, which exist: their "
                        "\"no such domain\" answers cannot be trusted, so no finding "
                        "non_mail_domain is reported on them until they answer correctly",
                        " and ".join(f"{n}. {k}" for n, k in NXDOMAIN_CANARIES))
        elif changed:
            log.warning("the name servers answer for existing zones again: NXDOMAIN "
                        "answers are trusted again")
        return verdict

    def _check_nxdomain(self, message: BudgetedLookup) -> bool | None:
        answered = False
        for name, kind in NXDOMAIN_CANARIES:
            lifetime, _ = self._time_allowed(message)
            if lifetime <= 0:
                break
            # Asked directly, never from the cache: the question is about the servers now.
            answer = self._ask(name, kind, lifetime)
            if answer.status is DnsStatus.NXDOMAIN:
                return False
            answered = answered or answer.status is not DnsStatus.TEMPERROR
        return True if answered else None

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
    answers costs at most the budget in total; while DNS is declared down, at most
    the resolver's ``outage_budget`` from the message's start. ``deadline`` None
    means no budget (one plain lookup).
    """

    def __init__(self, resolver: Resolver, deadline: float | None) -> None:
        self._resolver = resolver
        self.deadline = deadline
        self.started = resolver.clock()
        self.failed = False  # one of its lookups failed (it counts once towards an outage)
        self._memo: dict[tuple[str, str], DnsAnswer] = {}  # answers prefetched for it
        self._memo_used: set[tuple[str, str]] = set()

    @property
    def remaining(self) -> float:
        if self.deadline is None:
            return self._resolver.lifetime
        return max(0.0, self.deadline - self._resolver.clock())

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        if self._memo:
            key = (canonical_dns_name(name) or "", rdtype.strip().upper())
            found = self._memo.get(key)
            if found is not None:
                # The prefetch's query was this lookup (counted as a miss then); asked again,
                # it is answered without a query, as from the cache.
                if key in self._memo_used:
                    self._resolver._counters.bump("hits")
                self._memo_used.add(key)
                return found
        return self._resolver._lookup(name, rdtype, self)

    def prefetch(self, queries: Sequence[tuple[str, str]]) -> None:
        """Ask the questions the message's checks will ask first at the same time.

        SPF and DMARC each ask in turn; with an empty cache and a resolver 50 ms away that
        is a round trip per question, one after another. Here the ones not cached go out
        together, one thread each for this message only (dnspython's resolver is
        synchronous; no pool shared with other messages, whose silent names would then
        delay this one), waited for at most the message's remaining budget. Every answer,
        a temporary error included, is kept for the message: the check takes it as if it
        had asked, and never asks twice.
        """
        wanted: list[tuple[str, str]] = []
        for name, rdtype in queries:
            key = (canonical_dns_name(name) or "", rdtype.strip().upper())
            if key[0] and key not in wanted and key not in self._memo \
                    and not self._resolver.is_cached(key):
                wanted.append(key)
        if len(wanted) < 2 or not self._resolver.up:
            return  # nothing to gain (or DNS is down): the checks ask themselves
        answers: dict[tuple[str, str], DnsAnswer] = {}

        def ask(key: tuple[str, str]) -> None:
            answers[key] = self._resolver._lookup(key[0], key[1], self)

        threads = [threading.Thread(target=ask, args=(key,), name="dns-prefetch", daemon=True)
                   for key in wanted]
        for thread in threads:
            thread.start()
        until = time.monotonic() + self.remaining
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))
        self._memo.update(answers)

    def nxdomain_trusted(self) -> bool:
        return self._resolver.nxdomain_trusted(self)


def nxdomain_trusted(lookup: object) -> bool:
    """Can this Lookup's NXDOMAIN answers be believed? True for lookups that cannot tell."""
    check = getattr(lookup, "nxdomain_trusted", None)
    return True if check is None else bool(check())


@dataclass(frozen=True)
class ResolverSettings:
    """The ``dns:`` section of the configuration: what ``make_resolver`` reads.

    One class for both (``config.DnsConfig`` is this class): the configuration loads it,
    the resolver is built from it, so a setting cannot exist on one side only.
    """

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 2.0
    lifetime: float = 4.0
    message_budget: float = 10.0
    cache_size: int = 10000
    outage_after: int = OUTAGE_AFTER_DEFAULT  # messages whose every lookup failed: DNS down
    outage_budget: float = OUTAGE_BUDGET_DEFAULT  # seconds of DNS per message while down
    probe_interval: float = PROBE_INTERVAL_DEFAULT  # seconds between probes while down


def make_resolver(settings: ResolverSettings) -> Resolver:
    """The resolver the ``dns:`` section of the configuration describes."""
    return Resolver(
        nameservers=settings.nameservers, port=settings.port, timeout=settings.timeout,
        lifetime=settings.lifetime, cache_size=settings.cache_size,
        message_budget=settings.message_budget, outage_after=settings.outage_after,
        outage_budget=settings.outage_budget, probe_interval=settings.probe_interval,
    )
