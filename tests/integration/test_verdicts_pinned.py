"""Speed work must not change what spoofwatch decides: the verdicts of a varied corpus are
pinned.

The first 300 messages of the profile corpus (bench/profile_corpus.py, seed 1: newsletters,
attachments, ARC forwards, spoofs, lookalikes, threats) go through ``analyze()`` with the
bundled default policy and example watchlist, over the loopback DNS server serving the
corpus's zones. Each message's level and the names of its findings are compared with
tests/data/profile_verdicts.txt. A change that means to alter detection regenerates the
file (``SPOOFWATCH_UPDATE_VERDICTS=1``) and shows the difference in its commit; a change
that means to be only faster leaves it as it is.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from spoofwatch.analyze import analyze
from spoofwatch.config import load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import Envelope
from support.dnsserver import DnsTestServer

REPO = Path(__file__).resolve().parents[2]


def _load_corpus_module() -> ModuleType:
    """bench/profile_corpus.py, loaded by path: bench/ must not go on sys.path, where its
    profile.py would hide the standard library's profile module (cProfile imports it)."""
    spec = importlib.util.spec_from_file_location("profile_corpus",
                                                  REPO / "bench" / "profile_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile_corpus"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


profile_corpus = _load_corpus_module()

PINNED = REPO / "tests" / "data" / "profile_verdicts.txt"
MESSAGES = 300
POLICIES = REPO / "policies"


def verdict_lines() -> list[str]:
    samples = profile_corpus.generate(1, MESSAGES)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "spoofwatch.yaml"
        path.write_text("authserv_id: mx.test.example\n"
                        f"policy: {POLICIES / 'default.yaml'}\n"
                        f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n"
                        f"trusted_arc_sealers: [{profile_corpus.LIST_DOMAIN}]\n")
        config = load_config(path)
    lines = []
    with DnsTestServer() as dns:
        dns.add_records(profile_corpus.zones())
        resolver = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=5.0,
                            lifetime=10.0)
        for n, sample in enumerate(samples):
            envelope = Envelope(client_ip=sample.client_ip, helo=sample.helo,
                                mail_from=sample.mail_from, rcpts=(profile_corpus.RCPT,))
            report = analyze(envelope, Message.from_bytes(sample.raw), config,
                             resolver.for_message())
            names = ",".join(sorted(f.name for f in report.verdict.findings)) or "-"
            lines.append(f"{n:04d} {sample.kind} {sample.shape} "
                         f"{report.verdict.level.value} {names}")
    return lines


def test_the_verdicts_of_the_profile_corpus_are_the_pinned_ones() -> None:
    lines = verdict_lines()
    if os.environ.get("SPOOFWATCH_UPDATE_VERDICTS") == "1":
        PINNED.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pinned = PINNED.read_text(encoding="utf-8").splitlines()
    diff = list(difflib.unified_diff(pinned, lines, "pinned", "now", lineterm="", n=0))
    assert diff == [], "\n".join(diff[:60])
