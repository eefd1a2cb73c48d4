"""The long fuzz run: hostile messages through the real spoofwatch service on its socket.

    .venv/bin/python bench/fuzz.py --messages 100000 --clients 8 --seed 1 [--scale 0.05]
        [--json FILE] [--timeout 30] [--kinds a,b,...] [--keep]

Starts the loopback DNS server and ``spoofwatch run`` (decision log, metrics, quarantine
store on), sends the generated messages of tests/fuzz/hostile.py (39 kinds plus the
reproductions of tests/data/repro) with ``--clients`` concurrent milter connections, and
prints the summary (crashes, silent sessions, internal errors, checks skipped, threats
missed, per-message time, RSS over time); ``--json`` writes it as JSON. Exit status 0
when every count that must be zero is zero, 1 otherwise. Definitions: tests/fuzz/runner.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fuzz.hostile import KINDS, generate  # noqa: E402
from fuzz.runner import FuzzSummary, fuzz  # noqa: E402


def must_be_zero(summary: FuzzSummary) -> dict[str, int]:
    """The counts a clean run has at zero."""
    return {
        "crashes": summary.crashes, "silent_sessions": summary.silent_sessions,
        "dropped_sessions": summary.dropped_sessions, "not_sent": summary.not_sent,
        "protocol_errors": summary.protocol_errors,
        "internal_errors": summary.internal_errors, "checks_skipped": summary.checks_skipped,
        "threats_missed": summary.threats_missed,
        "forged_headers_kept": summary.forged_headers_kept,
        "quarantine_records_lost": summary.quarantine_records_lost,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.05,
                        help="size bound in (0, 1]; 1 = the sizes of the hostile-input review")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds without a reply before a session counts as silent")
    parser.add_argument("--give-up-after", type=int, default=10,
                        help="silent sessions of one kind after which its rest is not sent")
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--no-repros", action="store_true",
                        help="leave out the reproductions of tests/data/repro")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the service's directory (log, decisions, quarantine)")
    args = parser.parse_args(argv)
    kinds = KINDS
    if args.kinds:
        wanted = set(args.kinds.split(","))
        unknown = wanted - {k.name for k in KINDS}
        if unknown:
            parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
        kinds = tuple(k for k in KINDS if k.name in wanted)
    samples = generate(args.seed, args.messages, args.scale, kinds,
                       with_repros=not args.no_repros)
    summary = fuzz(samples, seed=args.seed, scale=args.scale, clients=args.clients,
                   timeout=args.timeout, give_up_after=args.give_up_after,
                   keep_dir=args.keep)
    print(summary.human())
    if args.json:
        args.json.write_text(summary.to_json() + "\n")
    bad = {name: n for name, n in must_be_zero(summary).items() if n}
    if bad:
        print("fuzz: FAILED: " + ", ".join(f"{k}={v}" for k, v in bad.items()))
        return 1
    print("fuzz: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
