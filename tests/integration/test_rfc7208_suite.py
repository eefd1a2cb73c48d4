"""The openspf RFC 7208 test suite, run through check_spf and the loopback DNS server.

Each suite scenario's zonedata is served by the real test DNS server and each
test is checked with `check_spf` through a real `Resolver`, so the pyspf
adapter, the resolver and the record formats are all exercised together.

Translating the suite's zonedata (see the notes at the top of the YAML file):

* "SPF" (type 99) records are served as TXT for a name that has no TXT entry
  of its own: the suite relies on that duplication by the test driver.  Type
  SPF itself is not served: RFC 7208 verifiers only query TXT.
* "TXT: NONE" means the name has no TXT record (and blocks the duplication).
* "TIMEOUT" means queries for the name get no answer.  The server can drop all
  queries for a name but not only some types, so a name that has records and
  TIMEOUT is served normally; in this suite that happens only where the
  missing type is SPF (type 99), which we never query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from spoofwatch.auth.spf import check_spf
from spoofwatch.dns import Resolver
from spoofwatch.results import AuthResult
from support.dnsserver import DnsTestServer

SUITE_FILE = Path(__file__).resolve().parents[1] / "data" / "rfc7208-tests.yml"
SUITE_SIZE = 203  # tests in the 2014.04 (+2019.08 additions) release shipped with pyspf 2.0.14

# A query that gets no answer must cost little: every query's lifetime is
# clipped to what is left of this per-test budget.
DNS_BUDGET = 0.5

# The explanation of a fail without a usable exp= (the suite writes "DEFAULT";
# every such test expects fail).
DEFAULT_EXPLANATION = "SPF fail - not authorized"

# Suite tests this implementation does not pass, each with the reason.  They run
# as strict xfails, so a test that starts passing fails the run until removed.
KNOWN_DEVIATIONS: dict[str, str] = {
    "macro-mania-in-domain": (
        "the a: target expands (%_ and %-) to 'macro%percent  space%20url-space.example.com'; "
        "spoofwatch.dns refuses names containing whitespace or control characters and "
        "answers NXDOMAIN without querying, so the A record is never seen and the result "
        "is fail instead of pass"
    ),
}


@dataclass(frozen=True)
class SuiteCase:
    scenario: str
    name: str
    spec: dict[str, Any]
    zonedata: dict[str, list[Any]]


def load_cases() -> list[SuiteCase]:
    with SUITE_FILE.open("rb") as handle:
        scenarios = list(yaml.safe_load_all(handle))
    cases = [
        SuiteCase(str(scenario["description"]), str(name), spec, scenario["zonedata"])
        for scenario in scenarios
        for name, spec in scenario["tests"].items()
    ]
    return cases


CASES = load_cases()


@dataclass(frozen=True)
class Zone:
    records: dict[str, dict[str, list[str]]]
    timeouts: frozenset[str]


def zone_from(zonedata: Mapping[str, Sequence[Any]]) -> Zone:
    records: dict[str, dict[str, list[str]]] = {}
    timeouts: set[str] = set()
    for name, entries in zonedata.items():
        by_type, timed_out = _name_records(entries)
        if by_type:
            records[name] = by_type
        elif timed_out:
            timeouts.add(name)
    return Zone(records, frozenset(timeouts))


def _name_records(entries: Sequence[Any]) -> tuple[dict[str, list[str]], bool]:
    """One name's servable records, and whether the suite says it times out."""
    by_type: dict[str, list[str]] = {}
    spf_type: list[str] = []
    has_txt_entry = False
    timed_out = False
    for entry in entries:
        if entry == "TIMEOUT":
            timed_out = True
            continue
        ((rdtype, value),) = entry.items()
        if rdtype == "TXT":
            has_txt_entry = True
        if value == "NONE":
            continue
        text = _record_text(rdtype, value)
        if rdtype == "SPF":
            spf_type.append(text)
        else:
            by_type.setdefault(rdtype, []).append(text)
    if spf_type and not has_txt_entry:
        by_type["TXT"] = spf_type
    return by_type, timed_out


def _record_text(rdtype: str, value: Any) -> str:
    if rdtype in ("TXT", "SPF"):
        # Several character-strings are one record, glued without separator.
        return "".join(value) if isinstance(value, list) else str(value)
    if rdtype == "MX":
        preference, exchange = value
        return f"{preference} {exchange or '.'}"
    return str(value)


def allowed_results(spec: Mapping[str, Any]) -> set[AuthResult]:
    expected = spec["result"]
    words = expected if isinstance(expected, list) else [expected]
    return {AuthResult(word) for word in words}


def _params() -> list[Any]:
    return [
        pytest.param(case, id=case.name, marks=_deviation_marks(case.name)) for case in CASES
    ]


def _deviation_marks(name: str) -> list[pytest.MarkDecorator]:
    if name not in KNOWN_DEVIATIONS:
        return []
    return [pytest.mark.xfail(reason=KNOWN_DEVIATIONS[name], strict=True)]


def test_suite_file_holds_every_test_under_a_unique_name() -> None:
    names = [case.name for case in CASES]
    assert len(names) == SUITE_SIZE
    assert len(set(names)) == SUITE_SIZE


def test_every_known_deviation_names_a_suite_test() -> None:
    assert set(KNOWN_DEVIATIONS) <= {case.name for case in CASES}


@pytest.mark.parametrize("case", _params())
def test_rfc7208_suite(case: SuiteCase, dns: DnsTestServer, resolver: Resolver) -> None:
    zone = zone_from(case.zonedata)
    dns.add_records(zone.records)
    for name in zone.timeouts:
        dns.never_answer(name)
    spec = case.spec

    result = check_spf(resolver.for_message(budget=DNS_BUDGET), str(spec["host"]),
                       str(spec["mailfrom"]), str(spec["helo"]))

    # The suite's result is check_host() for MAIL FROM, or postmaster@HELO when it is null.
    checked = result.mailfrom
    assert checked.result in allowed_results(spec), checked.explanation
    if "explanation" in spec:
        expected = str(spec["explanation"])
        if expected == "DEFAULT":
            expected = DEFAULT_EXPLANATION
        assert checked.explanation == expected
