"""Speed work must not change what spoofwatch decides: the verdicts of a varied corpus are
pinned.

The first 300 messages of the profile corpus (bench/profile_corpus.py, seed 1: newsletters,
attachments, ARC forwards, spoofs, lookalikes, threats) go through ``analyze()`` with the
bundled default policy and example watchlist, over the loopback DNS server serving the
corpus's zones. Each message's level and the names of its findings are compared with
tests/data/profile_verdicts.txt. A change that means to alter detection regenerates the
file (``SPOOFWATCH_UPDATE_VERDICTS=1``) and shows the difference in its commit; a change
that means to be only faster leaves it as it is.

The pinned lines come from ``analyze(all_checks=True)``. The milter's own path leaves out
checks that cannot change the verdict (``detect.checks``: the threat reading of mail from a
sender not in doubt); a second test runs that path over the same messages, plus 40
authenticated newsletters that quote a threat (the mail the shortcut is for), and requires
the same level, score and weighted findings.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from spoofwatch.analyze import analyze
from spoofwatch.config import load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Envelope
from support.dnsserver import DnsTestServer
from support.modules import load_by_path

REPO = Path(__file__).resolve().parents[2]


# Loaded by path: bench/ must not go on sys.path, where its profile.py would hide the
# standard library's profile module (cProfile imports it).
profile_corpus = load_by_path(REPO / "bench" / "profile_corpus.py", "profile_corpus")

PINNED = REPO / "tests" / "data" / "profile_verdicts.txt"
MESSAGES = 300
POLICIES = REPO / "policies"


QUOTES = 40


@dataclass(frozen=True)
class Judged:
    line: str  # "<n> <kind> <shape> <level> <finding names>", as pinned
    full: Report  # analyze(all_checks=True)
    milter: Report  # analyze() as the milter calls it


@pytest.fixture(scope="module")
def judged() -> list[Judged]:
    samples = profile_corpus.generate(1, MESSAGES) + profile_corpus.news_quotes(1, QUOTES)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "spoofwatch.yaml"
        path.write_text("authserv_id: mx.test.example\n"
                        f"policy: {POLICIES / 'default.yaml'}\n"
                        f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n"
                        f"trusted_arc_sealers: [{profile_corpus.LIST_DOMAIN}]\n")
        config = load_config(path)
    out = []
    with DnsTestServer() as dns:
        dns.add_records(profile_corpus.zones())
        resolver = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=5.0,
                            lifetime=10.0)
        for n, sample in enumerate(samples):
            envelope = Envelope(client_ip=sample.client_ip, helo=sample.helo,
                                mail_from=sample.mail_from, rcpts=(profile_corpus.RCPT,))
            full, milter = (analyze(envelope, Message.from_bytes(sample.raw), config,
                                    resolver.for_message(), all_checks=every)
                            for every in (True, False))
            names = ",".join(sorted(f.name for f in full.verdict.findings)) or "-"
            out.append(Judged(f"{n:04d} {sample.kind} {sample.shape} "
                              f"{full.verdict.level.value} {names}", full, milter))
    return out


def test_the_verdicts_of_the_profile_corpus_are_the_pinned_ones(judged: list[Judged]) -> None:
    lines = [j.line for j in judged[:MESSAGES]]
    if os.environ.get("SPOOFWATCH_UPDATE_VERDICTS") == "1":
        PINNED.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pinned = PINNED.read_text(encoding="utf-8").splitlines()
    diff = list(difflib.unified_diff(pinned, lines, "pinned", "now", lineterm="", n=0))
    assert diff == [], "\n".join(diff[:60])


def _weighted(report: Report) -> tuple[str, float, list[tuple[str, float, str]]]:
    verdict = report.verdict
    return (verdict.level.value, verdict.score,
            [(f.name, f.weight, f.text) for f in verdict.findings if f.weight])


def test_leaving_out_checks_never_changes_a_verdict(judged: list[Judged]) -> None:
    differ = [j.line for j in judged if _weighted(j.full) != _weighted(j.milter)]
    assert differ == []
    assert all(j.full.skipped_checks == () for j in judged)


def test_the_threat_reading_is_left_out_exactly_where_the_sender_is_not_in_doubt(
        judged: list[Judged]) -> None:
    skipped = [j for j in judged if j.milter.skipped_checks]
    assert all(j.milter.skipped_checks == ("threat_content",) for j in skipped)
    # Where it ran, the milter's report is the full one; where it was left out, only the
    # unweighted threat_content finding of a sender not in doubt is missing.
    for j in judged:
        full_names = [f.name for f in j.full.verdict.findings]
        milter_names = [f.name for f in j.milter.verdict.findings]
        if j.milter.skipped_checks:
            assert [n for n in full_names if n != "threat_content"] == milter_names
        else:
            assert full_names == milter_names
    quotes = judged[MESSAGES:]
    # Every quoting newsletter is authenticated: its threat reading is left out, and the
    # full reading does find the quoted threat (so the shortcut saved real work) in most.
    assert [j.milter.skipped_checks for j in quotes] == [("threat_content",)] * QUOTES
    read = sum("threat_content" in [f.name for f in j.full.verdict.findings] for j in quotes)
    assert read >= QUOTES // 2, read
    # The newsletters of the corpus are left out too; no forgery is.
    kinds = {j.line.split()[1] for j in skipped}
    assert kinds >= {"newsletter", "news_quote"}
    assert not kinds & {"spoof_domain", "spoof_display", "lookalike", "threat"}
