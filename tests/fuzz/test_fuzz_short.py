"""The short fuzz run: 2,000 hostile messages through the real service, four clients at once.

Every kind of tests/fuzz/hostile.py and every reproduction of tests/data/repro goes
through ``spoofwatch run`` on its unix socket (loopback DNS with the seed zone, decision
log, metrics and quarantine store on). Definitions of each count: tests/fuzz/runner.py.
The long run (100,000 messages) is ``bench/fuzz.py``; its figures are in
docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fuzz.hostile import KIND_NAMES, generate, reproductions
from fuzz.runner import FuzzSummary, fuzz
from support.dnsserver import DnsTestServer

SEED = 20261207
MESSAGES = 2_000
SCALE = 0.01  # display names up to 1 KB, 1,000 parts, 100-deep nesting: ~50 s on 2 cores
CLIENTS = 4
TIMEOUT = 20.0  # seconds without a reply: a silent session (the service's DNS budget is 6 s)
GIVE_UP_AFTER = 3  # silent sessions of one kind before its rest is recorded as "not sent"


@pytest.fixture(scope="module")
def summary(dns_server: DnsTestServer) -> Iterator[FuzzSummary]:
    dns_server.clear()
    result = fuzz(generate(SEED, MESSAGES, SCALE), seed=SEED, scale=SCALE, clients=CLIENTS,
                  timeout=TIMEOUT, give_up_after=GIVE_UP_AFTER, dns=dns_server)
    print(result.human())
    yield result
    dns_server.clear()


def _failing(summary: FuzzSummary, *categories: str) -> dict[str, dict[str, int]]:
    out = {}
    for kind, figures in summary.by_kind.items():
        hits = {c: n for c, n in figures["failures"].items() if c in categories}
        if hits:
            out[kind] = hits
    return out


def test_the_same_seed_generates_the_same_messages_and_another_seed_others() -> None:
    first = [s.raw for s in generate(5, 120, SCALE)]
    assert first == [s.raw for s in generate(5, 120, SCALE)]
    assert first != [s.raw for s in generate(6, 120, SCALE)]


def test_every_kind_and_every_reproduction_was_sent(summary: FuzzSummary) -> None:
    repros = {r.name for r in reproductions()}
    assert len(KIND_NAMES) >= 31
    assert set(summary.by_kind) == set(KIND_NAMES) | repros
    assert summary.messages == MESSAGES


def test_the_service_never_crashes(summary: FuzzSummary) -> None:
    assert (summary.crashes, summary.worker_restarts, summary.refused_sessions) == (0, 0, 0), \
        summary.human()


def test_no_session_goes_silent_or_is_dropped(summary: FuzzSummary) -> None:
    failing = _failing(summary, "silent", "not sent", "dropped", "protocol")
    assert failing == {}, summary.human()


def test_no_internal_errors(summary: FuzzSummary) -> None:
    assert _failing(summary, "internal_error") == {}, summary.human()
    assert summary.internal_error_log_lines == 0, summary.human()


def test_undecodable_mta_input_is_the_only_fail_safe_answer(summary: FuzzSummary) -> None:
    # the metric counts internal errors and fail-safe answers to undecodable MTA input
    assert summary.internal_errors_metric == summary.mta_input_fail_safe, summary.human()


def test_no_check_is_skipped(summary: FuzzSummary) -> None:
    failing = _failing(summary, "checks_skipped")
    assert (failing, summary.content_not_scored_log_lines) == ({}, 0), summary.human()


def test_the_seed_threat_behind_every_structure_is_still_a_threat(summary: FuzzSummary) -> None:
    assert _failing(summary, "threat_missed") == {}, summary.human()


def test_no_forged_authentication_or_spoofwatch_header_survives(summary: FuzzSummary) -> None:
    assert _failing(summary, "forged_kept") == {}, summary.human()


def test_every_quarantined_message_has_its_record(summary: FuzzSummary) -> None:
    assert summary.quarantined > 0
    assert summary.quarantine_records == summary.quarantined, summary.human()
