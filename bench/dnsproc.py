"""The loopback DNS server in a process of its own, driven over stdin/stdout.

Why a separate process: the load generator runs Python threads, and a DNS server in the
same interpreter would compete with them for the GIL, slowing down most the milters
that query most (OpenDMARC has no cache). Here it has its own interpreter.

Protocol (one line each way): the server prints ``ready PORT`` once it listens; then
``count`` answers the number of queries received so far, ``stop`` (or end of input)
stops it.

    python dnsproc.py --address 127.0.0.153 --port 53 --zones zones.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.dnsserver import DnsTestServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zones", required=True, help="JSON: {name: {rdtype: [values]}}")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="hold back every UDP answer this many seconds (a slow resolver)")
    args = parser.parse_args()
    server = DnsTestServer(args.address, args.port)
    server.add_records(json.loads(Path(args.zones).read_text()))
    server.udp_delay = args.delay
    try:
        server.start()
    except OSError as exc:
        print(f"error {exc}", flush=True)
        return 1
    print(f"ready {server.port}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                print(len(server.queries), flush=True)
            elif command == "stop":
                break
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
