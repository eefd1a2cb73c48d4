"""Would a pool of worker processes behind the one milter socket beat the single worker?

    .venv/bin/python bench/worker_pool.py [--workers 1 2] [--sessions 1 8 64]
        [--messages 1500] [--corpus scenario|profile] [--json FILE]

Issue 13 asked to measure it before choosing. Each configuration is ``spoofwatch run``
with ``milter.workers`` set (1, 2, ...): the supervisor opens the socket and forks the
workers, which all accept on it (docs/operations.md, "Worker processes"). The first
measurement (2026-12-07, bench/results/2026-12-07-worker-pool-scenario.json) was made with
a stand-in for the pool before ``milter.workers`` existed, the same mechanism at the
libmilter level.

Load: the milter protocol only (tests/support/milterclient.py), from ``--clients`` client
processes each driving an equal share of the sessions, every message on its own
connection. Measured per configuration: messages per second, the workers' CPU per message
(user + system, all children) and the p99 of connect-to-final-reply. Configurations are
interleaved over ``--rounds`` rounds and the median round is reported, so a change in the
machine's load hits all of them alike. The message is bench/scenario.py's signed
newsletter (``scenario``) or the first messages of bench/profile_corpus.py (``profile``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "milter")]

from support.dnsserver import DnsTestServer  # noqa: E402
from support.milterclient import MilterClient, split_message  # noqa: E402
from support.milterproc import MilterProcess, write_config  # noqa: E402
from support.modules import load_by_path  # noqa: E402

sys.path.insert(0, str(HERE))  # bench/ (already first when run as a script)
from peers import cpu_seconds  # noqa: E402

Job = tuple[str, str, str, list[tuple[str, str]], bytes]  # ip, helo, mail from, headers, body


def _load(name: str) -> Any:
    return load_by_path(HERE / f"{name}.py", name)


def corpus(kind: str, count: int) -> tuple[list[Job], dict[str, Any], str]:
    """Messages to send, the zones they need, and a trusted ARC sealer (or "")."""
    if kind == "scenario":
        scenario = _load("scenario")
        built = scenario.build(2000)
        headers, body = split_message(built.message)
        job = (scenario.CLIENT_IP, scenario.HELO, scenario.MAIL_FROM, headers, body)
        return [job], built.zones, ""
    profile_corpus = _load("profile_corpus")
    jobs = []
    for sample in profile_corpus.generate(1, count):
        headers, body = split_message(sample.raw)
        jobs.append((sample.client_ip, sample.helo, sample.mail_from, headers, body))
    return jobs, profile_corpus.zones(), profile_corpus.LIST_DOMAIN


class Pool:
    """``spoofwatch run`` with ``milter.workers`` set: the supervisor opens the socket and
    forks the workers, which all accept on it."""

    def __init__(self, config_path: Path, socket_path: str, workers: int) -> None:
        self.process = MilterProcess(config_path, f"unix:{socket_path}",
                                     config_path.parent / "milter.log")
        self.process.start(timeout=30)
        self.workers = self.process.worker_pids(workers)

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers)

    def stop(self) -> None:
        self.process.stop()


def _client(socket_path: str, jobs: list[Job], sessions: int, count: int, offset: int,
            out: Any) -> None:
    """One client process: ``count`` messages over ``sessions`` threads; latencies out."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    numbers = iter(range(count))

    def session() -> None:
        nonlocal errors
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            ip, helo, mail_from, headers, body = jobs[(offset + n) % len(jobs)]
            start = time.monotonic()
            try:
                with MilterClient(f"unix:{socket_path}", timeout=120) as client:
                    client.send_message(client_ip=ip, helo=helo, mail_from=f"<{mail_from}>",
                                        rcpts=("<reader@recipient.example>",),
                                        headers=headers, body=body,
                                        queue_id=f"Q{offset + n:07d}")
            except Exception:  # noqa: BLE001 - counted
                with lock:
                    errors += 1
                continue
            with lock:
                latencies.append(time.monotonic() - start)

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send((latencies, errors))


def drive(socket_path: str, jobs: list[Job], sessions: int, messages: int,
          clients: int) -> tuple[float, list[float], int]:
    """Send ``messages`` over ``sessions`` sessions; (seconds, latencies, errors)."""
    clients = max(1, min(clients, sessions))
    ctx = multiprocessing.get_context("fork")
    procs, pipes = [], []
    start = time.monotonic()
    for c in range(clients):
        share = sessions // clients + (1 if c < sessions % clients else 0)
        count = messages // clients + (1 if c < messages % clients else 0)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client, args=(socket_path, jobs, share, count,
                                                 c * messages, send))
        proc.start()
        procs.append(proc)
        pipes.append(recv)
    latencies: list[float] = []
    errors = 0
    for recv in pipes:
        lat, err = recv.recv()
        latencies += lat
        errors += err
    for proc in procs:
        proc.join()
    return time.monotonic() - start, latencies, errors


def _p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)] if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--corpus", choices=("scenario", "profile"), default="scenario")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    jobs, zones, sealer = corpus(args.corpus, 300)
    results: dict[tuple[int, int], list[dict[str, float]]] = {}
    with DnsTestServer() as dns, tempfile.TemporaryDirectory() as scratch:
        dns.add_records(zones)
        configs = {}
        for workers in args.workers:
            directory = Path(scratch) / f"w{workers}"
            directory.mkdir()
            socket_path = str(directory / "milter.sock")
            config = write_config(directory, dns_port=dns.port,
                                  socket_spec=f"unix:{socket_path}", workers=workers,
                                  extra=f"trusted_arc_sealers: [{sealer}]\n" if sealer else "")
            config.write_text(config.read_text().replace("cache_size: 0", "cache_size: 10000"))
            configs[workers] = (config, socket_path)
        for _ in range(args.rounds):
            for sessions in args.sessions:
                for workers in args.workers:
                    config, socket_path = configs[workers]
                    pool = Pool(config, socket_path, workers)
                    try:
                        drive(socket_path, jobs, sessions, min(200, args.messages), 2)  # warm
                        cpu0 = pool.cpu()
                        seconds, latencies, errors = drive(socket_path, jobs, sessions,
                                                           args.messages, args.clients)
                        cpu1 = pool.cpu()
                    finally:
                        pool.stop()
                    done = len(latencies)
                    results.setdefault((workers, sessions), []).append({
                        "msg_per_s": done / seconds, "cpu_ms_per_msg": (cpu1 - cpu0) / done * 1e3,
                        "p99_ms": _p99(latencies) * 1e3, "errors": errors})
                    print(f"  round: {workers} worker(s), {sessions:3} sessions: "
                          f"{done / seconds:7.1f} msg/s", file=sys.stderr)
    rows = []
    print(f"\ncorpus {args.corpus}, {args.messages} messages per run, median of {args.rounds} "
          f"rounds, load average now {os.getloadavg()[0]:.2f}")
    print(f"{'workers':>7} {'sessions':>8} {'msg/s':>8} {'cpu ms/msg':>10} {'p99 ms':>8} "
          f"{'errors':>6}  vs 1 worker")
    for (workers, sessions), runs in sorted(results.items(), key=lambda kv: (kv[0][1],
                                                                          kv[0][0])):
        best = sorted(runs, key=lambda r: r["msg_per_s"])[len(runs) // 2]
        base = sorted(results[(args.workers[0], sessions)],
                      key=lambda r: r["msg_per_s"])[len(runs) // 2]
        ratio = best["msg_per_s"] / base["msg_per_s"]
        rows.append({"workers": workers, "sessions": sessions, **best, "ratio": ratio,
                     "all_msg_per_s": [r["msg_per_s"] for r in runs]})
        print(f"{workers:7} {sessions:8} {best['msg_per_s']:8.1f} {best['cpu_ms_per_msg']:10.2f} "
              f"{best['p99_ms']:8.1f} {int(best['errors']):6}  {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "corpus": args.corpus,
                                         "rounds": args.rounds, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
