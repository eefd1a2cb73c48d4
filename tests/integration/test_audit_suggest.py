"""``spoofwatch audit --suggest``: which signing domains it proposes (never a forger's, from
replayed mail), and diffs that ``patch`` applies and the watchlist loader then reads, edited
at the right organization's entry; what cannot be edited safely is said as a comment."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from spoofwatch import cli
from spoofwatch.detect.watchlist import load_watchlist
from spoofwatch.logline import json_line
from support.dnsserver import DnsTestServer
from support.milterproc import write_config

ZONES = {
    "democrats.org": {"MX": ["10 mx.democrats.org"]},
    "_dmarc.democrats.org": {"TXT": ["v=DMARC1; p=reject"]},
    "dnc.org": {"MX": ["0 ."]},  # a null MX: sends_mail: false is suggested
    "quoted.org": {"MX": ["0 ."]},
    "gop.com": {"MX": ["10 mx.gop.com"]},
    "floridadems.org": {"MX": ["10 mx.floridadems.org"]},
}

WATCHLIST = """\
# my watchlist
organizations:
  - name: Florida Democratic Party
    domains:
      - floridadems.org
    distinct:
      - dnc.org
  - name: Democratic National Committee
    domains:
      - domain: democrats.org
        signing_domains:
          - ngpvan.com   # the party's mailer
      - dnc.org   # party HQ
  - name: Quoted Org
    domains:
      - "quoted.org"
  - name: Republican National Committee
    domains:
      - gop.com
"""

# What patch makes of WATCHLIST with the suggestions of the log below.
PATCHED = """\
# my watchlist
organizations:
  - name: Florida Democratic Party
    domains:
      - floridadems.org
    distinct:
      - dnc.org
  - name: Democratic National Committee
    domains:
      - domain: democrats.org
        signing_domains:
          - ngpvan.com   # the party's mailer
          - mailer.example
      - domain: dnc.org   # party HQ
        sends_mail: false
  - name: Quoted Org
    domains:
      - domain: "quoted.org"
        sends_mail: false
  - name: Republican National Committee
    domains:
      - gop.com
"""


def _line(**fields: Any) -> str:
    return json_line({"time": "2024-10-20T12:00:00.000Z", "client_ip": "198.51.100.9",
                      "from": "news@democrats.org", "level": "clean", "findings": [],
                      "actions": ["accept"], "spf": "pass", "dmarc": "pass", "dkim": "pass",
                      **fields})


# A genuine message of the party, signed by democrats.org, replayed five times by a forger
# who added a signature of their own: DMARC passes on the party's signature every time.
REPLAYED = [_line(dkim_domains=["democrats.org", "attacker.example"]) for _ in range(5)]
# The party's mailer: DMARC passes through SPF, one signature, the mailer's own.
MAILER = [_line(dkim_domains=["mailer.example"]) for _ in range(3)]


def _suggest(dns: DnsTestServer, tmp_path: Path, watchlist: str, lines: list[str],
             capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    dns.add_records(ZONES)
    path = tmp_path / "watchlist.yaml"
    path.write_text(watchlist)
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(line + "\n" for line in lines))
    config = write_config(tmp_path, dns_port=dns.port, socket_spec=f"unix:{tmp_path}/s.sock",
                          watchlist=path)
    cli.main(["audit", "--config", str(config), "--suggest", "--decision-log", str(log),
              "--since", "2024-10-01", "--until", "2024-10-31"])
    assert path.read_text() == watchlist  # never written
    return path, capsys.readouterr().out


def _patched(tmp_path: Path, path: Path, diff: str) -> Path:
    copy = tmp_path / "patched.yaml"
    copy.write_text(path.read_text())
    patch = tmp_path / "suggest.diff"
    patch.write_text(diff)
    result = subprocess.run(["patch", "--batch", "--silent", str(copy), str(patch)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    return copy


def test_a_replayed_message_with_a_forgers_signature_never_makes_it_a_signing_domain(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _suggest(dns, tmp_path, WATCHLIST, REPLAYED, capsys)
    assert "attacker.example" not in out
    assert [line for line in out.splitlines() if line.startswith("+ ")] == [
        "+      - domain: dnc.org   # party HQ", "+        sends_mail: false",
        "+      - domain: \"quoted.org\"", "+        sends_mail: false"]


def test_a_signing_domain_needs_three_messages_that_passed_through_spf(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _suggest(dns, tmp_path, WATCHLIST, [*MAILER[:2], *REPLAYED], capsys)
    assert "mailer.example" not in out


def test_the_diff_applies_and_the_watchlist_loads_with_every_suggestion(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, diff = _suggest(dns, tmp_path, WATCHLIST, [*REPLAYED, *MAILER], capsys)
    assert diff.startswith(f"--- {path}\n")  # no comment: every suggestion is an edit
    patched = _patched(tmp_path, path, diff)
    assert patched.read_text() == PATCHED
    loaded = load_watchlist(patched)
    assert [(o.name, i.domain, i.sends_mail, i.signing_domains)
            for o in loaded.organizations for i in o.domains] == [
        ("Florida Democratic Party", "floridadems.org", True, ()),
        ("Democratic National Committee", "democrats.org", True,
         ("ngpvan.com", "mailer.example")),
        ("Democratic National Committee", "dnc.org", False, ()),
        ("Quoted Org", "quoted.org", False, ()),
        ("Republican National Committee", "gop.com", True, ()),
    ]
    assert loaded.organizations[0].distinct == ("dnc.org",)


def test_a_flow_style_signing_list_is_rewritten_in_place(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = WATCHLIST.replace(
        "        signing_domains:\n          - ngpvan.com   # the party's mailer\n",
        "        signing_domains: [ngpvan.com]   # the party's mailer\n")
    path, diff = _suggest(dns, tmp_path, watchlist, MAILER, capsys)
    patched = _patched(tmp_path, path, diff)
    assert "        signing_domains: [ngpvan.com, mailer.example]   # the party's mailer\n" \
        in patched.read_text()
    info = load_watchlist(patched).organizations[1].domains[0]
    assert info.signing_domains == ("ngpvan.com", "mailer.example")


def test_an_entry_that_cannot_be_edited_safely_is_said_as_a_comment(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = WATCHLIST.replace("      - dnc.org   # party HQ\n", "").replace(
        "  - name: Quoted Org\n    domains:\n      - \"quoted.org\"\n",
        "  - name: Quoted Org\n    domains: [quoted.org, dnc.org]\n")
    path, diff = _suggest(dns, tmp_path, watchlist, [], capsys)
    assert diff.splitlines() == [
        "# not edited (its domains list is written in flow style ([...])): add under "
        "organization 'Quoted Org', domain quoted.org: sends_mail: false",
        "# not edited (its domains list is written in flow style ([...])): add under "
        "organization 'Quoted Org', domain dnc.org: sends_mail: false",
    ]


def test_a_file_without_a_final_line_break_still_patches(
        dns: DnsTestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = "organizations:\n  - name: Quoted Org\n    domains:\n      - quoted.org"
    path, diff = _suggest(dns, tmp_path, watchlist, [], capsys)
    patched = _patched(tmp_path, path, diff)
    assert patched.read_text() == ("organizations:\n  - name: Quoted Org\n    domains:\n"
                                   "      - domain: quoted.org\n        sends_mail: false\n")
