"""How long ``spoofwatch audit`` takes for 50 domains, cold cache and warm.

    .venv/bin/python bench/audit.py [--domains 50] [--runs 3]

Builds a watchlist of N organizations (one domain each, a mix of the example watchlist's
shapes: DMARC reject, none, quarantine with t=y, none at all, a subdomain found by the tree
walk, SPF with includes, a null MX, a DKIM key) and serves their zones from the loopback
DNS server in a process of its own (``dnsproc.py``: no GIL shared with the audit's
threads). Each run audits every domain with a new resolver (cold: every answer asked) and
then again with the same one (warm: every answer cached). Prints the median of the runs and
the number of queries one cold audit sends. docs/audit.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "milter"), str(HERE.parent / "tests")]

from spoofwatch.audit.report import AUDIT_CONCURRENCY, audit_domains, targets_of  # noqa: E402
from spoofwatch.config import load_config  # noqa: E402
from spoofwatch.dns import Resolver  # noqa: E402
from support.milterproc import write_config  # noqa: E402

SHAPES = (
    {"MX": ["10 mx.{d}"], "TXT": ["v=spf1 ip4:198.51.100.0/24 include:_spf.{d} ~all"]},
    {"MX": ["10 mx.{d}"]},
    {"MX": ["0 ."]},
    {"A": ["192.0.2.80"], "TXT": ["v=spf1 -all"]},
)
DMARC = ("v=DMARC1; p=reject; rua=mailto:r@{d}", "v=DMARC1; p=none", "v=DMARC1; p=quarantine; t=y",
         "")


def zones(count: int) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    records: dict[str, dict[str, list[str]]] = {}
    domains = []
    for i in range(count):
        domain = f"org{i}.example" if i % 5 else f"mail.org{i}.example"
        domains.append(domain)
        for rdtype, values in SHAPES[i % len(SHAPES)].items():
            records.setdefault(domain, {})[rdtype] = [v.format(d=domain) for v in values]
        records[f"_spf.{domain}"] = {"TXT": [f"v=spf1 ip4:203.0.113.0/25 a:mx.{domain} -all"]}
        records[f"mx.{domain}"] = {"A": ["198.51.100.25"]}
        dmarc = DMARC[i % len(DMARC)].format(d=domain)
        if dmarc:
            records[f"_dmarc.{domain.removeprefix('mail.')}"] = {"TXT": [dmarc]}
        if i % 3 == 0:
            records[f"selector1._domainkey.{domain}"] = {"TXT": ["v=DKIM1; k=rsa; p="]}
    return records, domains


def watchlist(domains: list[str]) -> str:
    lines = ["organizations:"]
    for i, domain in enumerate(domains):
        lines += [f"  - name: Organization {i}", "    domains:", f"      - {domain}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records, domains = zones(args.domains)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "zones.json").write_text(json.dumps(records))
        (work / "watchlist.yaml").write_text(watchlist(domains))
        server = subprocess.Popen(
            [sys.executable, str(HERE / "dnsproc.py"), "--address", "127.0.0.1", "--port", "0",
             "--zones", str(work / "zones.json")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None and server.stdin is not None
            port = int(server.stdout.readline().split()[1])
            config = load_config(write_config(work, dns_port=port, socket_spec="unix:/x",
                                              watchlist=work / "watchlist.yaml"))
            targets = targets_of(config)
            cold, warm, queries = [], [], []
            for _ in range(args.runs):
                server.stdin.write("count\n")
                server.stdin.flush()
                before = int(server.stdout.readline())
                resolver = Resolver(nameservers=["127.0.0.1"], port=port, timeout=2.0,
                                    lifetime=4.0, cache_size=10000)
                start = time.perf_counter()
                audit_domains(targets, config, resolver, None)
                cold.append(time.perf_counter() - start)
                server.stdin.write("count\n")
                server.stdin.flush()
                queries.append(int(server.stdout.readline()) - before)
                start = time.perf_counter()
                audit_domains(targets, config, resolver, None)
                warm.append(time.perf_counter() - start)
            server.stdin.write("stop\n")
            server.stdin.flush()
        finally:
            server.wait(timeout=10)
    print(f"{len(targets)} domains, {AUDIT_CONCURRENCY} workers, median of {args.runs} runs:")
    print(f"  cold cache: {statistics.median(cold):.3f} s ({statistics.median(queries):.0f} "
          f"queries, {statistics.median(queries) / len(targets):.0f} per domain)")
    print(f"  warm cache: {statistics.median(warm):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
