"""Prometheus metrics of the milter worker, in a registry of its own.

A dedicated ``CollectorRegistry`` (never prometheus-client's global default one) keeps
the metrics of one service object apart from anything else in the process, so tests
can build as many as they like. The HTTP endpoint is off unless ``metrics.enabled``
and listens on loopback by default (``metrics.listen``).

DNS counters are read from the resolver at scrape time (a custom collector), so they
cost nothing per lookup; so is ``spoofwatch_dns_up`` (1, or 0 while every lookup of the
last ``dns.outage_after`` messages failed: see dns.py). A reload that changes the DNS
settings builds a new resolver, whose counters start at zero: Prometheus treats that as
a counter reset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .dns import ResolverStats
from .results import Level

log = logging.getLogger("spoofwatch.metrics")

CHECKS = ("spf", "dkim", "arc", "dmarc", "detect")
# Seconds. DNS-bound checks spend milliseconds with a warm cache and up to the message
# budget (10 s by default) when name servers are silent.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


_DNS_UP_HELP = "1 while name servers answer; 0 while every lookup of the last messages failed"


class _DnsCollector(Collector):
    """The current resolver's counters and health, read when Prometheus scrapes."""

    def __init__(self, stats: Callable[[], ResolverStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._stats()
        family = CounterMetricFamily(
            "spoofwatch_dns_lookups", "DNS lookups by outcome (cache hit, miss, timeout, error)",
            labels=["outcome"])
        for outcome in ("hits", "misses", "timeouts", "errors"):
            family.add_metric([outcome], getattr(stats, outcome))
        yield family
        yield GaugeMetricFamily("spoofwatch_dns_up", _DNS_UP_HELP, value=1 if stats.up else 0)

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        # Without describe() the registry would call collect() at registration time.
        yield CounterMetricFamily("spoofwatch_dns_lookups", "", labels=["outcome"])
        yield GaugeMetricFamily("spoofwatch_dns_up", "")


@dataclass(frozen=True)
class Endpoint:
    """A running metrics HTTP server (prometheus-client's WSGI server and its thread)."""

    server: Any
    thread: Any
    address: tuple[str, int]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Metrics:
    """Counters and histograms the service updates once per message."""

    def __init__(self, dns_stats: Callable[[], ResolverStats]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.messages = Counter("spoofwatch_messages", "Messages by verdict level",
                                ["level"], registry=reg)
        self.actions = Counter("spoofwatch_actions", "Actions taken, by action",
                               ["action"], registry=reg)
        self.skipped = Counter("spoofwatch_messages_skipped",
                               "Messages not checked (trusted or authenticated client, oversized)",
                               ["reason"], registry=reg)
        self.check_seconds = Histogram("spoofwatch_check_seconds", "Time spent per check",
                                       ["check"], buckets=LATENCY_BUCKETS, registry=reg)
        self.message_seconds = Histogram("spoofwatch_message_seconds",
                                         "Time from MAIL FROM to the end-of-message reply",
                                         buckets=LATENCY_BUCKETS, registry=reg)
        self.internal_errors = Counter("spoofwatch_internal_errors",
                                       "Messages answered with the fail-safe action after an "
                                       "internal error", registry=reg)
        self.reloads = Counter("spoofwatch_config_reloads", "Configuration reloads by result",
                               ["result"], registry=reg)
        self.decision_log_errors = Counter("spoofwatch_decision_log_errors",
                                           "Decision log lines that could not be written",
                                           registry=reg)
        reg.register(_DnsCollector(dns_stats))
        # Zero-valued series exist from the start, so rate() works from the first scrape.
        for level in Level:
            self.messages.labels(level.value)
        for check in CHECKS:
            self.check_seconds.labels(check)
        for result in ("success", "failure"):
            self.reloads.labels(result)

    def observe_message(self, level: str, actions: tuple[str, ...],
                        timings: tuple[tuple[str, float], ...], elapsed: float) -> None:
        self.messages.labels(level).inc()
        for action in actions:
            self.actions.labels(action).inc()
        for check, seconds in timings:
            self.check_seconds.labels(check).observe(seconds)
        self.message_seconds.observe(elapsed)

    def serve(self, listen: str) -> Endpoint:
        """Start the HTTP endpoint on ``HOST:PORT`` (``[v6]:PORT`` for IPv6)."""
        host, port = listen.rsplit(":", 1)
        host = host.strip("[]")
        server, thread = start_http_server(int(port), addr=host, registry=self.registry)
        address = server.server_address[:2]
        log.info("metrics endpoint on http://%s:%d/metrics", host, address[1])
        return Endpoint(server, thread, (host, int(address[1])))
