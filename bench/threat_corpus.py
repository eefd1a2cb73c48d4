"""Today's threat check on the labelled corpus of tests/data/threat_corpus/.

    .venv/bin/python bench/threat_corpus.py [--json FILE]

Each text becomes the body of a message in the 2020 seed's forged envelope (From
info@officialproudboys.com, a domain with ``v=spf1 -all`` and no MX, sent from a foreign
address; tests/support/analysis.py), so every message carries spoof evidence and the level
turns on the content alone: a text is *flagged* when analyze() returns ``threat``. Prints
recall (threatening texts flagged) and precision (flagged texts that are threats) per
language, for the train and the held-out part separately, over the loopback DNS server.
Per-category counts are printed for the train part only: tuning never looks at the
held-out texts, not even at which of them are missed.

The rows ``fresh`` count tests/data/threat_fresh/: 300 texts written on 2026-12-07 by an
author who read neither the corpus, the word lists nor the code, for evaluation only (the
training script never reads a held-out record, and the concept lists were never tuned on
them). It measures what a new author's mail gets, which the held-out part of the corpus,
written by the corpus's own author, overstates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from spoofwatch.dns import Resolver  # noqa: E402
from spoofwatch.results import Level  # noqa: E402
from support import seeds  # noqa: E402
from support.analysis import analyze_seed, default_config  # noqa: E402
from support.dnsserver import DnsTestServer  # noqa: E402
from support.threat_corpus import LANGUAGES, SPLITS, Record, load, load_set  # noqa: E402

# A neutral subject, so that only the body decides (the seed's subject is itself a threat).
SUBJECT = {"en": "Election information", "es": "Informacion electoral"}


@dataclass(frozen=True)
class Figures:
    language: str
    split: str
    threats: int
    legit: int
    true_positives: int
    false_positives: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.threats

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None


def message(record: Record, number: int) -> bytes:
    """The record's text as an 8-bit UTF-8 plain-text message from the seed's address."""
    head = (
        f"From: {seeds.SEED_FROM}\r\n"
        "To: voter@recipient.example\r\n"
        f"Subject: {SUBJECT[record.language]}\r\n"
        "Date: Tue, 20 Oct 2020 09:14:00 +0000\r\n"
        f"Message-ID: <corpus-{number}@vps-4821.hosting.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + (record.text + "\n").replace("\n", "\r\n").encode("utf-8")


def flagged_records(records: list[Record]) -> set[str]:
    """Ids of the records whose message analyze() calls a threat."""
    flagged = set()
    with DnsTestServer() as dns, tempfile.TemporaryDirectory() as scratch:
        seeds.publish_seed_zone(dns)
        config = default_config(Path(scratch))
        resolver = Resolver(nameservers=["127.0.0.1"], port=dns.port, timeout=0.5,
                            lifetime=1.0, message_budget=3.0)
        for number, record in enumerate(records):
            report = analyze_seed(resolver, config, message(record, number))
            if report.level is Level.THREAT:
                flagged.add(record.id)
    return flagged


def fresh_records() -> list[Record]:
    """The evaluation set of tests/data/threat_fresh/, as the split "fresh"."""
    return [replace(r, split="fresh") for r in load_set("threat_fresh")]


def figures(records: list[Record], flagged: set[str]) -> list[Figures]:
    rows = []
    for language in LANGUAGES:
        for split in (*SPLITS, "fresh"):
            part = [r for r in records if r.language == language and r.split == split]
            rows.append(Figures(
                language, split,
                threats=sum(r.label == "threat" for r in part),
                legit=sum(r.label == "legit" for r in part),
                true_positives=sum(r.label == "threat" and r.id in flagged for r in part),
                false_positives=sum(r.label == "legit" and r.id in flagged for r in part)))
    return rows


def _percent(value: float | None) -> str:
    return "n/a (nothing flagged)" if value is None else f"{100 * value:.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    records = load() + fresh_records()
    flagged = flagged_records(records)
    rows = figures(records, flagged)
    print("language split    threats flagged  recall    legit flagged  precision")
    for row in rows:
        print(f"{row.language:8} {row.split:8} {row.threats:7} {row.true_positives:7}  "
              f"{_percent(row.recall):8} {row.legit:6} {row.false_positives:7}  "
              f"{_percent(row.precision)}")
    print("\ntrain part by category (flagged / texts):")
    for label in ("threat", "legit"):
        for language in LANGUAGES:
            train = [r for r in records if (r.label, r.language, r.split)
                     == (label, language, "train")]
            total = Counter(r.kind for r in train)
            hit = Counter(r.kind for r in train if r.id in flagged)
            print(f"  {label} {language}: " + ", ".join(
                f"{kind} {hit[kind]}/{total[kind]}" for kind in sorted(total)))
    if args.json:
        args.json.write_text(json.dumps(
            [asdict(row) | {"recall": row.recall, "precision": row.precision}
             for row in rows], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
