"""The Resolver against a real loopback DNS server (tests/support/dnsserver.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from spoofwatch.dns import DnsAnswer, DnsStatus, Resolver, ResolverStats
from support.dnsserver import DnsTestServer


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(dns_server: DnsTestServer, clock: FakeClock) -> Resolver:
    """Like the `resolver` fixture, but its cache and budgets run on `clock`."""
    return Resolver(
        nameservers=["127.0.0.1"], port=dns_server.port, timeout=0.5, lifetime=1.0,
        message_budget=3.0, clock=clock,
    )


@pytest.fixture
def quick(dns_server: DnsTestServer) -> Resolver:
    """A resolver that gives up fast, for tests of servers that never answer."""
    return Resolver(nameservers=["127.0.0.1"], port=dns_server.port, timeout=0.2, lifetime=0.4)


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port where nothing listens (UDP sends there are refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield port


# ----------------------------------------------------------- record types


def test_txt_record_is_its_text(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all", ttl=120)
    assert resolver.lookup("example.com", "TXT") == DnsAnswer(
        "example.com", "TXT", DnsStatus.OK, ("v=spf1 ip4:192.0.2.0/24 -all",), 120
    )


def test_each_txt_record_is_a_separate_entry(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add_records({"example.com": {"TXT": ["v=spf1 -all", "google-site-verification=x"]}})
    assert sorted(resolver.lookup("example.com", "TXT").records) == [
        "google-site-verification=x", "v=spf1 -all"
    ]


def test_txt_longer_than_255_bytes_is_split_and_rejoined(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    key = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns.add("sel._domainkey.example.com", "TXT", key)
    assert resolver.lookup("sel._domainkey.example.com", "TXT").records == (key,)


def test_utf8_txt_is_decoded(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "naïve café")
    assert resolver.lookup("example.com", "TXT").records == ("naïve café",)


def test_a_and_aaaa_records_are_addresses(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("host.example.com", "A", "192.0.2.10")
    dns.add("host.example.com", "AAAA", "2001:db8::10")
    assert resolver.lookup("host.example.com", "A").records == ("192.0.2.10",)
    assert resolver.lookup("host.example.com", "AAAA").records == ("2001:db8::10",)


def test_mx_records_are_preference_and_lower_case_exchange(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("example.com", "MX", "10 MX1.Example.COM")
    dns.add("example.com", "MX", "20 mx2.example.com.")
    assert sorted(resolver.lookup("example.com", "MX").records) == [
        "10 mx1.example.com", "20 mx2.example.com"
    ]


def test_null_mx_is_zero_dot(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("nomail.example.com", "MX", "0 .")
    assert resolver.lookup("nomail.example.com", "MX").records == ("0 .",)


def test_ptr_record_is_its_target(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("10.2.0.192.in-addr.arpa", "PTR", "Mail.Example.com.")
    assert resolver.lookup("10.2.0.192.in-addr.arpa", "PTR").records == ("mail.example.com",)


def test_ns_record_is_its_target(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "NS", "ns1.example.com")
    assert resolver.lookup("example.com", "NS").records == ("ns1.example.com",)


def test_rdtype_and_name_are_case_insensitive(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "hello")
    answer = resolver.lookup("EXAMPLE.com.", "txt")
    assert (answer.name, answer.rdtype, answer.records) == ("example.com", "TXT", ("hello",))


# ------------------------------------------------- nxdomain and nodata


def test_unknown_name_is_nxdomain(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "A", "192.0.2.1")
    answer = resolver.lookup("nope.example.com", "A")
    assert (answer.status, answer.records, answer.error) == (DnsStatus.NXDOMAIN, (), "")


def test_existing_name_without_the_type_is_nodata(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "A", "192.0.2.1")
    answer = resolver.lookup("example.com", "TXT")
    assert (answer.status, answer.records) == (DnsStatus.NODATA, ())


def test_empty_non_terminal_is_nodata(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("sel._domainkey.example.com", "TXT", "v=DKIM1; p=")
    assert resolver.lookup("_domainkey.example.com", "TXT").status is DnsStatus.NODATA


# ---------------------------------------------------------------- CNAME


def test_cname_is_followed_to_the_target_records(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("alias.example.com", "CNAME", "target.example.net")
    dns.add("target.example.net", "TXT", "v=spf1 -all")
    answer = resolver.lookup("alias.example.com", "TXT")
    assert (answer.name, answer.status, answer.records) == (
        "alias.example.com", DnsStatus.OK, ("v=spf1 -all",)
    )


def test_cname_chain_answer_ttl_is_the_smallest_in_the_chain(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("a.example.com", "CNAME", "b.example.com", ttl=30)
    dns.add("b.example.com", "CNAME", "c.example.com", ttl=600)
    dns.add("c.example.com", "A", "192.0.2.3", ttl=300)
    answer = resolver.lookup("a.example.com", "A")
    assert (answer.records, answer.ttl) == (("192.0.2.3",), 30)


def test_cname_to_a_missing_name_is_nxdomain(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("alias.example.com", "CNAME", "gone.example.com")
    assert resolver.lookup("alias.example.com", "TXT").status is DnsStatus.NXDOMAIN


def test_cname_to_a_name_without_the_type_is_nodata(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("alias.example.com", "CNAME", "target.example.com")
    dns.add("target.example.com", "A", "192.0.2.1")
    assert resolver.lookup("alias.example.com", "TXT").status is DnsStatus.NODATA


def test_asking_for_the_cname_itself_is_not_followed(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("alias.example.com", "CNAME", "Target.Example.com")
    dns.add("target.example.com", "A", "192.0.2.1")
    assert resolver.lookup("alias.example.com", "CNAME").records == ("target.example.com",)


# ------------------------------------------------------ truncation / TCP


def test_answer_too_big_for_udp_is_fetched_over_tcp(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    big = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(100)) + " -all"
    assert len(big) > 1232  # larger than the EDNS payload the resolver offers
    dns.add("big.example.com", "TXT", big)
    answer = resolver.lookup("big.example.com", "TXT")
    assert answer.records == (big,)
    assert dns.queries == [("big.example.com", "TXT"), ("big.example.com", "TXT")]
    assert dns.tcp_queries == [("big.example.com", "TXT")]


def test_small_answer_stays_on_udp(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    resolver.lookup("example.com", "TXT")
    assert (dns.queries, dns.tcp_queries) == ([("example.com", "TXT")], [])


# -------------------------------------------------------------- caching


def test_second_lookup_is_served_from_cache(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    first = resolver.lookup("example.com", "TXT")
    second = resolver.lookup("Example.com.", "TXT")
    assert second.records == first.records
    assert dns.queries == [("example.com", "TXT")]


def test_cache_is_keyed_by_type(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    resolver.lookup("example.com", "TXT")
    resolver.lookup("example.com", "MX")
    assert dns.queries == [("example.com", "TXT"), ("example.com", "MX")]


def test_cached_ttl_counts_down(dns: DnsTestServer, clocked: Resolver, clock: FakeClock) -> None:
    dns.add("example.com", "A", "192.0.2.1", ttl=100)
    clocked.lookup("example.com", "A")
    clock.advance(40)
    assert clocked.lookup("example.com", "A").ttl == 60


def test_cached_answer_expires_after_its_ttl(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all", ttl=1)
    clocked.lookup("example.com", "TXT")
    clock.advance(0.9)
    clocked.lookup("example.com", "TXT")
    assert len(dns.queries) == 1
    clock.advance(0.2)
    clocked.lookup("example.com", "TXT")
    assert len(dns.queries) == 2


def test_expired_answer_is_refetched_with_new_data(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "old", ttl=1)
    clocked.lookup("example.com", "TXT")
    dns.clear()
    dns.add("example.com", "TXT", "new", ttl=1)
    assert clocked.lookup("example.com", "TXT").records == ("old",)
    clock.advance(1.5)
    assert clocked.lookup("example.com", "TXT").records == ("new",)


def test_nxdomain_is_cached_for_the_soa_negative_ttl(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.negative_ttl = 5
    first = clocked.lookup("nope.example.com", "TXT")
    assert (first.status, first.ttl) == (DnsStatus.NXDOMAIN, 5)
    clock.advance(4.5)
    assert clocked.lookup("nope.example.com", "TXT").status is DnsStatus.NXDOMAIN
    assert len(dns.queries) == 1
    clock.advance(1)
    clocked.lookup("nope.example.com", "TXT")
    assert len(dns.queries) == 2


def test_nodata_is_cached_for_the_soa_negative_ttl(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.negative_ttl = 5
    dns.add("example.com", "A", "192.0.2.1")
    first = clocked.lookup("example.com", "TXT")
    assert (first.status, first.ttl) == (DnsStatus.NODATA, 5)
    clocked.lookup("example.com", "TXT")
    assert len(dns.queries) == 1
    clock.advance(5.5)
    clocked.lookup("example.com", "TXT")
    assert len(dns.queries) == 2


def test_temperror_is_not_cached(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.servfail("example.com")
    resolver.lookup("example.com", "TXT")
    resolver.lookup("example.com", "TXT")
    assert dns.queries == [("example.com", "TXT"), ("example.com", "TXT")]


def test_cache_keeps_only_the_most_recently_used_entries(dns: DnsTestServer) -> None:
    small = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=0.5, lifetime=1.0,
                     cache_size=2)
    for name in ("a.example.com", "b.example.com"):
        dns.add(name, "A", "192.0.2.1")
        small.lookup(name, "A")
    small.lookup("a.example.com", "A")  # a is now the most recently used
    dns.add("c.example.com", "A", "192.0.2.1")
    small.lookup("c.example.com", "A")  # evicts b, the least recently used
    dns.queries.clear()
    small.lookup("a.example.com", "A")
    small.lookup("b.example.com", "A")
    assert dns.queries == [("b.example.com", "A")]


def test_zero_cache_size_disables_caching(dns: DnsTestServer) -> None:
    uncached = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=0.5, lifetime=1.0,
                        cache_size=0)
    dns.add("example.com", "A", "192.0.2.1")
    uncached.lookup("example.com", "A")
    uncached.lookup("example.com", "A")
    assert len(dns.queries) == 2


# ------------------------------------------------------------- failures


def test_servfail_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.servfail("example.com")
    answer = resolver.lookup("example.com", "TXT")
    assert (answer.status, answer.records, answer.error) == (
        DnsStatus.TEMPERROR, (), "SERVFAIL"
    )


def test_servfail_on_a_cname_target_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("alias.example.com", "CNAME", "broken.example.com")
    dns.servfail("broken.example.com")
    answer = resolver.lookup("alias.example.com", "TXT")
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "SERVFAIL")


def test_refused_is_temperror(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.refuse("example.com")
    answer = resolver.lookup("example.com", "MX")
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "REFUSED")


def test_never_answering_name_is_temperror_within_the_lifetime(
    dns: DnsTestServer, quick: Resolver
) -> None:
    dns.never_answer("slow.example.com")
    started = time.monotonic()
    answer = quick.lookup("slow.example.com", "TXT")
    elapsed = time.monotonic() - started
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "timeout")
    assert 0.35 <= elapsed < 0.6
    assert dns.queries == [("slow.example.com", "TXT")] * 2  # one retry after the first timeout


def test_silent_server_port_is_temperror_within_the_lifetime(dead_port: int) -> None:
    nobody = Resolver(nameservers=["127.0.0.1"], port=dead_port, timeout=0.2, lifetime=0.4)
    started = time.monotonic()
    answer = nobody.lookup("example.com", "A")
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "timeout")
    assert time.monotonic() - started < 0.6


def test_bad_nameserver_setting_gives_temperror_not_an_exception() -> None:
    broken = Resolver(nameservers=["not-an-address"], port=53)
    answer = broken.lookup("example.com", "A")
    assert answer.status is DnsStatus.TEMPERROR
    assert "configuration" in answer.error


def test_unknown_record_type_is_temperror_without_a_query(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    answer = resolver.lookup("example.com", "NOSUCHTYPE")
    assert answer.status is DnsStatus.TEMPERROR
    assert dns.queries == []


@pytest.mark.parametrize(
    "name",
    ["", "example..com", "a" * 64 + ".com", "exa mple.com", "bad\x01.example.com",
     ".".join(["a" * 63] * 4)],
)
def test_invalid_name_is_nxdomain_without_a_query(
    dns: DnsTestServer, resolver: Resolver, name: str
) -> None:
    answer = resolver.lookup(name, "TXT")
    assert (answer.status, answer.records) == (DnsStatus.NXDOMAIN, ())
    assert dns.queries == []


def test_underscore_labels_are_valid(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("_dmarc.example.com", "TXT", "v=DMARC1; p=none")
    assert resolver.lookup("_dmarc.example.com", "TXT").status is DnsStatus.OK


# ---------------------------------------------------------------- budget


def test_budget_bounds_the_time_spent_on_a_never_answering_server(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.never_answer("slow.example.com")
    budgeted = resolver.for_message(budget=1.0)
    started = time.monotonic()
    answers = [budgeted.lookup("slow.example.com", rdtype)
               for rdtype in ("TXT", "A", "AAAA", "MX", "PTR")]
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert [a.status for a in answers] == [DnsStatus.TEMPERROR] * 5
    assert [a.error for a in answers[1:]] == ["budget exhausted"] * 4


def test_each_query_is_clipped_to_the_remaining_budget(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.never_answer("slow.example.com")
    budgeted = resolver.for_message(budget=0.2)  # well under the 1.0 s lifetime
    started = time.monotonic()
    answer = budgeted.lookup("slow.example.com", "TXT")
    elapsed = time.monotonic() - started
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "timeout")
    assert 0.15 <= elapsed < 0.45


def test_exhausted_budget_makes_no_query(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    budgeted = clocked.for_message(budget=2.0)
    clock.advance(2.0)
    answer = budgeted.lookup("example.com", "TXT")
    assert (answer.status, answer.error) == (DnsStatus.TEMPERROR, "budget exhausted")
    assert dns.queries == []


def test_default_budget_is_the_message_budget(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    budgeted = clocked.for_message()
    clock.advance(2.9)
    assert budgeted.lookup("example.com", "TXT").status is DnsStatus.OK
    clock.advance(0.2)  # 3.1 s > message_budget=3.0
    assert budgeted.lookup("example.com", "MX").error == "budget exhausted"


def test_cached_answers_are_served_after_the_budget_is_spent(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    budgeted = clocked.for_message(budget=1.0)
    budgeted.lookup("example.com", "TXT")
    clock.advance(5)
    assert budgeted.lookup("example.com", "TXT").records == ("v=spf1 -all",)


def test_budgeted_lookup_shares_the_resolver_cache(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    resolver.for_message().lookup("example.com", "TXT")
    resolver.for_message().lookup("example.com", "TXT")
    resolver.lookup("example.com", "TXT")
    assert len(dns.queries) == 1


def test_each_message_gets_its_own_budget(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    dns.add("example.com", "TXT", "v=spf1 -all")
    clocked.for_message(budget=1.0)
    clock.advance(5)
    assert clocked.for_message(budget=1.0).lookup("example.com", "TXT").status is DnsStatus.OK


# ----------------------------------------------------------------- stats


def test_stats_count_hits_misses_timeouts_and_errors(
    dns: DnsTestServer, quick: Resolver
) -> None:
    dns.add("example.com", "A", "192.0.2.1")
    dns.servfail("broken.example.com")
    dns.never_answer("slow.example.com")
    quick.lookup("example.com", "A")  # miss
    quick.lookup("example.com", "A")  # hit
    quick.lookup("example.com", "A")  # hit
    quick.lookup("nope.example.com", "A")  # miss (NXDOMAIN is an answer)
    quick.lookup("broken.example.com", "A")  # miss + error
    quick.lookup("slow.example.com", "A")  # miss + timeout
    quick.lookup("bad..name", "A")  # invalid: counted nowhere
    assert quick.stats == ResolverStats(hits=2, misses=4, timeouts=1, errors=1)


def test_budget_exhaustion_counts_as_a_timeout(
    dns: DnsTestServer, clocked: Resolver, clock: FakeClock
) -> None:
    budgeted = clocked.for_message(budget=1.0)
    clock.advance(1.0)
    budgeted.lookup("example.com", "A")
    assert clocked.stats == ResolverStats(hits=0, misses=0, timeouts=1, errors=0)


def test_stats_are_a_frozen_snapshot(dns: DnsTestServer, resolver: Resolver) -> None:
    dns.add("example.com", "A", "192.0.2.1")
    before = resolver.stats
    resolver.lookup("example.com", "A")
    assert (before.misses, resolver.stats.misses) == (0, 1)


# ----------------------------------------------------------- concurrency


def test_concurrent_lookups_from_eight_threads(dns: DnsTestServer, resolver: Resolver) -> None:
    for i in range(16):
        dns.add(f"h{i}.example.com", "A", f"192.0.2.{i}")
    results: dict[tuple[int, int], DnsAnswer] = {}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(thread: int) -> None:
        start.wait()
        for round_ in range(3):
            for i in range(16):
                answer = resolver.lookup(f"h{i}.example.com", "A")
                with lock:
                    results[(thread, round_ * 16 + i)] = answer

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8 * 48
    for (_, index), answer in results.items():
        assert answer.records == (f"192.0.2.{index % 16}",)
    stats = resolver.stats
    assert stats.hits + stats.misses == 8 * 48
    assert (stats.timeouts, stats.errors) == (0, 0)
    # Threads racing on a cold name may each ask once, but never more than that.
    assert 16 <= len(dns.queries) <= 16 * 8


# ------------------------------------------------------- the test server


def test_test_server_starts_and_stops_quickly_on_one_port_for_udp_and_tcp() -> None:
    started = time.monotonic()
    with DnsTestServer() as server:
        server.add("example.com", "A", "192.0.2.1")
        own = Resolver(nameservers=["127.0.0.1"], port=server.port, timeout=0.5, lifetime=1.0)
        answer = own.lookup("example.com", "A")
        with socket.create_connection(("127.0.0.1", server.port), timeout=1.0):
            pass  # the TCP side listens on the very same port
    assert answer.records == ("192.0.2.1",)
    assert time.monotonic() - started < 0.5


def test_test_server_clear_forgets_records_behaviours_and_queries(
    dns: DnsTestServer, resolver: Resolver
) -> None:
    dns.add("example.com", "A", "192.0.2.1")
    dns.servfail("broken.example.com")
    resolver.lookup("example.com", "A")
    dns.clear()
    assert dns.queries == []
    fresh = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=0.5, lifetime=1.0)
    assert fresh.lookup("example.com", "A").status is DnsStatus.NXDOMAIN
    assert fresh.lookup("broken.example.com", "A").status is DnsStatus.NXDOMAIN
