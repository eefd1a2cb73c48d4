"""The shared quarantine store (PostgreSQL) against the one-host store (SQLite), in one run.

    .venv/bin/python bench/shared_store.py [--messages 3000] [--sessions 8] [--rounds 3]
        [--json FILE]

Two measurements, each configuration interleaved over ``--rounds`` rounds, median reported:

1. **Through the milter**: one ``spoofwatch run`` (default worker count) fed ``--messages``
   messages over the milter protocol at ``--sessions`` sessions, one in seven the 2020
   threat (held: a record is stored), the rest an ordinary newsletter. Configurations:
   ``sqlite`` (quarantine.directory), ``postgresql`` (quarantine.database), and
   ``postgresql+decisions`` (logging.database: a row per message too). Reported: messages
   per second as the milter answered them, and the seconds until the store held every
   record (for PostgreSQL the writer thread's lag after the last answer).
2. **Storing one record**, in-process, by message size (4 kB, 100 kB, 5 MB): the SQLite
   store's ``save`` (fsynced file + index row) against the PostgreSQL insert of the record
   with its ``bytea`` body (the writer's statement), on the same data. This is the "bodies
   in the database" cost docs/operations.md refers to.

The PostgreSQL cluster is a throwaway one (tests/support/postgres.py) with its default
durability settings (fsync on), unlike the test suite's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "milter")]

import psycopg  # noqa: E402

from spoofwatch.quarantine.index import SqliteIndex  # noqa: E402
from spoofwatch.quarantine.pg_schema import migrate  # noqa: E402
from spoofwatch.quarantine.pg_store import INSERT_RECORD, record_row  # noqa: E402
from spoofwatch.quarantine.record import Record, new_record_id  # noqa: E402
from spoofwatch.quarantine.record_files import write_record_file  # noqa: E402
from support import seeds  # noqa: E402
from support.dnsserver import DnsTestServer  # noqa: E402
from support.milterclient import MilterClient  # noqa: E402
from support.milterproc import MilterProcess, write_config  # noqa: E402
from support.postgres import PostgresServer  # noqa: E402

ORDINARY = (b"From: Volunteer Desk <desk@county-party.example>\r\nTo: voter@recipient.example\r\n"
            b"Subject: Canvass this Saturday\r\n\r\nWe meet at the library at 10.\r\n")
THREAT_EVERY = 7


def _config(base: Path, name: str, dns_port: int, url: str) -> tuple[Path, str]:
    directory = base / name
    directory.mkdir()
    spec = f"unix:{directory}/s.sock"
    extra = ""
    if name.startswith("postgresql"):
        extra = f'  database: "{url}"\n  host_name: bench\n  database_timeout: 20\n'
        if name.endswith("decisions"):
            extra += "logging:\n  database: true\n"
    path = write_config(directory, dns_port=dns_port, socket_spec=spec,
                        quarantine_dir=directory / "quarantine", extra=extra, workers=0)
    return path, spec


def _stored(name: str, base: Path, url: str) -> int:
    if name == "sqlite":
        return len(list((base / name / "quarantine" / "msg").glob("*.rec")))
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SELECT count(*) FROM quarantine_records").fetchone()[0])


def _drive(spec: str, messages: int, sessions: int, offset: int) -> float:
    lock = threading.Lock()
    nxt = {"n": 0}

    def session() -> None:
        while True:
            with lock:
                n = nxt["n"]
                nxt["n"] += 1
            if n >= messages:
                return
            threat = (n + offset) % THREAT_EVERY == 0
            with MilterClient(spec, timeout=120) as client:
                client.send_raw(seeds.plain() if threat else ORDINARY,
                                client_ip=seeds.FOREIGN_IP if threat else "198.51.100.20",
                                helo=seeds.FOREIGN_HELO,
                                mail_from=f"<{seeds.SEED_FROM}>" if threat
                                else "<desk@county-party.example>",
                                rcpts=("<voter@recipient.example>",), queue_id=f"B{n}")

    start = time.monotonic()
    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


def milter_round(names: list[str], base: Path, dns_port: int, pg: PostgresServer,
                 messages: int, sessions: int, round_no: int) -> dict[str, dict[str, float]]:
    out = {}
    for name in names:
        url = pg.create_database(f"r{round_no}_{name.replace('+', '_')}")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "bench")
        config, spec = _config(base / f"round{round_no}", name, dns_port, url)
        proc = MilterProcess(config, spec, config.parent / "milter.log")
        proc.start()
        try:
            held = len(range(0, messages, THREAT_EVERY))
            elapsed = _drive(spec, messages, sessions, 0)
            answered = time.monotonic()
            while _stored(name, base / f"round{round_no}", url) < held:
                time.sleep(0.05)
            lag = time.monotonic() - answered
        finally:
            proc.stop()
        out[name] = {"msg_per_s": messages / elapsed, "store_lag_s": lag}
    return out


def _record(raw: bytes, now: float) -> Record:
    return Record(id=new_record_id(now), time=now, queue_id="Q", client_ip="203.0.113.66",
                  helo="h", mail_from="a@b.example", rcpts=("v@r.example",), header_from="a",
                  subject="s", auth=(), findings=(), level="threat", score=9.0,
                  policy="default", orgs=("Proud Boys",), sending_domain="b.example",
                  size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), host="bench")


def store_round(base: Path, url: str, sizes: list[int], per_size: int) -> dict[str, float]:
    """Records stored per second, SQLite store vs PostgreSQL insert, by message size."""
    from spoofwatch.quarantine.record import encode_record

    out: dict[str, float] = {}
    directory = base / f"files{time.monotonic_ns()}"
    (directory / "msg").mkdir(parents=True)
    (directory / "tmp").mkdir()
    index = SqliteIndex(directory / "index.sqlite")
    with psycopg.connect(url, autocommit=True) as conn:
        for size in sizes:
            # base64 lines of random bytes, as attachments are: compression gains nothing
            raw = b"\r\n".join(base64.b64encode(os.urandom(57))
                                for _ in range(size // 78)) + b"\r\n"
            start = time.monotonic()
            for _ in range(per_size):
                record = _record(raw, time.time())
                write_record_file(directory / "tmp" / f"{record.id}.t",
                                  directory / "msg" / f"{record.id}.rec",
                                  encode_record(record), raw, lambda fd: None)
                index.add(record)
            out[f"sqlite_{size}"] = per_size / (time.monotonic() - start)
            start = time.monotonic()
            for _ in range(per_size):
                conn.execute(INSERT_RECORD, record_row(_record(raw, time.time()), raw))
            out[f"postgresql_{size}"] = per_size / (time.monotonic() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    names = ["sqlite", "postgresql", "postgresql+decisions"]
    sizes = [4_000, 100_000, 5_000_000]
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-bench-store-"))
    base.chmod(0o755)
    dns = DnsTestServer()
    dns.start()
    seeds.publish_seed_zone(dns)
    pg = PostgresServer(base / "pg")
    (base / "pg").mkdir()
    pg.init()
    conf = pg.data / "postgresql.conf"  # the bench keeps PostgreSQL's own durability
    conf.write_text(conf.read_text().replace("fsync = off", "fsync = on")
                    .replace("synchronous_commit = off", "synchronous_commit = on")
                    .replace("full_page_writes = off", "full_page_writes = on"))
    pg.start()
    rounds: list[dict[str, Any]] = []
    try:
        url = pg.create_database("stores")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, "bench")
        for r in range(args.rounds):
            order = names if r % 2 == 0 else list(reversed(names))
            (base / f"round{r}").mkdir()
            result = milter_round(order, base, dns.port, pg, args.messages, args.sessions, r)
            result["store"] = store_round(base, url, sizes, 40)  # type: ignore[assignment]
            rounds.append(result)
            print(f"round {r + 1}: " + ", ".join(
                f"{n} {result[n]['msg_per_s']:.1f} msg/s" for n in names), flush=True)
    finally:
        pg.stop()
        dns.stop()
    summary: dict[str, Any] = {"messages": args.messages, "sessions": args.sessions,
                               "rounds": args.rounds}
    print(f"\nThrough the milter ({args.messages} messages, 1 in {THREAT_EVERY} held, "
          f"{args.sessions} sessions; median of {args.rounds} rounds)")
    print(f"{'store':<22} {'msg/s':>8} {'ratio':>6} {'store lag s':>12}")
    base_rate = statistics.median(r["sqlite"]["msg_per_s"] for r in rounds)
    for name in names:
        rate = statistics.median(r[name]["msg_per_s"] for r in rounds)
        lag = statistics.median(r[name]["store_lag_s"] for r in rounds)
        summary[name] = {"msg_per_s": rate, "store_lag_s": lag}
        print(f"{name:<22} {rate:>8.1f} {rate / base_rate:>6.2f} {lag:>12.2f}")
    print("\nStoring one record (records per second, median)")
    print(f"{'size':>10} {'sqlite':>10} {'postgresql':>12}")
    summary["store"] = {}
    for size in sizes:
        lite = statistics.median(r["store"][f"sqlite_{size}"] for r in rounds)
        pgs = statistics.median(r["store"][f"postgresql_{size}"] for r in rounds)
        summary["store"][str(size)] = {"sqlite": lite, "postgresql": pgs}
        print(f"{size:>10} {lite:>10.1f} {pgs:>12.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
