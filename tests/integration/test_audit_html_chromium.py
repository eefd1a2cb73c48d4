"""The HTML audit report as a browser shows it: rendered by Debian's headless Chromium.

The report of the example watchlist (loopback zones, a generated decision log) is written
by ``spoofwatch audit --html``, with a hostile TXT record (an SPF record holding a
``<script>`` that would rename the page if it ran). Chromium loads the file (with
JavaScript on, as a reader's browser has it); ``--dump-dom`` gives the rendered DOM back,
and the test reads the table's cells and the chart's bars from it.
Without Chromium this module fails, it does not skip (``scripts/setup.sh --test``).
"""

from __future__ import annotations

import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spoofwatch import cli
from support.audit_history import write_decision_log
from support.audit_zones import EXPECTED_RATINGS, publish_example_zones
from support.chromium import dump_dom
from support.dnsserver import DnsTestServer
from support.mailfactory import rsa_key
from support.milterproc import write_config

HOSTILE = "<script>document.title='owned'</script>"


class _Page(HTMLParser):
    """The cells of the domains table (by row's data-domain) and the chart bars."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self.bars: dict[str, list[tuple[str, int]]] = {}
        self.subdomains: dict[str, str] = {}  # domain -> the rating of the names below it
        self.scripts = 0
        self.title = ""
        self._row = ""
        self._field = ""
        self._org = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "title" and not self.title:  # the page's, not a chart bar's
            self._in_title = True
        elif tag == "tr" and a.get("data-domain"):
            self._row = a["data-domain"] or ""
            self.cells[self._row] = {}
        elif tag == "td" and self._row and a.get("data-field"):
            self._field = a["data-field"] or ""
            self.cells[self._row][self._field] = ""
        elif tag == "section":
            self._org = a.get("data-org") or ""
        elif tag == "p" and a.get("data-subdomains"):
            self.subdomains[a.get("data-for") or ""] = a["data-subdomains"] or ""
        elif tag == "rect" and "bar" in (a.get("class") or ""):
            self.bars.setdefault(self._org, []).append(
                (a.get("data-date") or "", int(a.get("data-count") or 0)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = ""
        elif tag == "tr":
            self._row = ""
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._row and self._field:
            self.cells[self._row][self._field] += data
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def rendered(dns_server: DnsTestServer) -> tuple[_Page, str]:
    dns_server.clear()
    publish_example_zones(dns_server, rsa_key())
    dns_server.add("dnc.org", "TXT", f"v=spf1 {HOSTILE} -all")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = work / "decisions.jsonl"
        write_decision_log(log)
        config = write_config(work, dns_port=dns_server.port, socket_spec=f"unix:{tmp}/s.sock")
        report = work / "audit.html"
        cli.main(["audit", "--config", str(config), "--decision-log", str(log),
                  "--since", "2024-10-01", "--until", "2024-10-31", "--html", str(report)])
        source = report.read_text(encoding="utf-8")
        dom = dump_dom(report, work / "profile", budget_ms=3000)
    dns_server.clear()
    page = _Page()
    page.feed(dom)
    return page, source


def test_the_table_shows_every_domain_with_its_rating(rendered: tuple[_Page, str]) -> None:
    page, _ = rendered
    assert {domain: cells["rating"] for domain, cells in page.cells.items()} == EXPECTED_RATINGS


def test_the_table_cells_read_as_in_the_terminal(rendered: tuple[_Page, str]) -> None:
    page, _ = rendered
    assert page.cells["officialproudboys.com"] == {
        "organization": "Proud Boys", "domain": "officialproudboys.com", "rating": "non-mail",
        "dmarc": "none found", "spf": "-all, 0 lookups", "mx": "none", "dkim": "none found",
        "claiming": "4", "auth": "0", "forged": "4", "quar": "0", "alert": "SPOOFABLE+SPOOFED"}
    assert page.cells["democrats.org"]["claiming"] == "12"
    assert page.cells["democrats.org"]["alert"] == ""  # enforced: spoofed, but not spoofable


def test_the_chart_has_a_bar_per_day_with_the_forgeries(rendered: tuple[_Page, str]) -> None:
    page, _ = rendered
    bars = page.bars["Proud Boys"]
    assert len(bars) == 31  # 2024-10-01 .. 2024-10-31
    assert [bar for bar in bars if bar[1]] == [("2024-10-20", 2), ("2024-10-21", 2)]
    assert sum(count for _, count in page.bars["Democratic National Committee"]) == 6


def test_hostile_dns_text_is_shown_as_text_never_run(rendered: tuple[_Page, str]) -> None:
    page, source = rendered
    assert page.scripts == 0
    assert page.title == "spoofwatch audit"
    assert "&lt;script&gt;document.title=" in source
    assert "<script" not in source


def test_the_page_needs_nothing_from_outside(rendered: tuple[_Page, str]) -> None:
    _, source = rendered
    assert "http://" not in source.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in source and " src=" not in source and "<link" not in source
    assert "@media print" in source


def test_each_domain_says_how_its_subdomains_are_protected(rendered: tuple[_Page, str]) -> None:
    page, _ = rendered
    assert set(page.subdomains) == set(EXPECTED_RATINGS)
    assert page.subdomains["democrats.org"] == "enforced"  # p=reject, no sp=: it applies below
    assert page.subdomains["dnc.org"] == "monitor-only"  # p=none
    assert page.subdomains["gop.com"] == "unprotected"  # no DMARC record
    assert page.subdomains["trumpvictory.com"] == "unknown"  # its DMARC lookup fails
