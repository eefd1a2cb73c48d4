"""Throughput, latency and memory of spoofwatch through a real Postfix, next to OpenDKIM +
OpenDMARC and to rspamd (its SPF, DKIM, ARC and DMARC modules only), on this machine, over
loopback only.

    .venv/bin/python bench/throughput.py [--messages N] [--sessions K] [--json FILE]
                                         [--no-rspamd]

Run as root (Postfix, the reference milters and a DNS server on port 53 need it). It
starts everything it uses in a temporary directory and stops it by PID; the machine's own
Postfix and /etc/resolv.conf are not touched. A run is bounded: each configuration stops
after N messages or --max-seconds, whichever comes first, and the whole run stops
starting new phases after --budget seconds. See bench/README.md for what is measured and
how; docs/benchmarks.md for recorded figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import loadgen  # noqa: E402
import peers  # noqa: E402
import scenario  # noqa: E402

from support.milterproc import MilterProcess, free_port, free_ports  # noqa: E402
from support.postfix import PostfixInstance  # noqa: E402

ENVELOPE = loadgen.Envelope(scenario.CLIENT_IP, scenario.HELO, scenario.MAIL_FROM,
                            scenario.RCPT)
REQUIRED_TOOLS = ("postfix", "smtp-source", "smtp-sink", "opendkim", "opendmarc", "unshare")
PAIR = "OpenDKIM + OpenDMARC"  # what the other contenders are set against


# --- results -----------------------------------------------------------------------------
@dataclass
class RunFigures:
    name: str
    milters: str  # what Postfix's smtpd_milters said
    generator: str
    sessions: int
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    msg_per_s: float = 0.0
    session_p50_ms: float | None = None
    session_p95_ms: float | None = None
    eom_p50_ms: float | None = None
    eom_p95_ms: float | None = None
    delivered: int = 0  # "status=sent" lines Postfix logged for this run
    left_in_queue: int = 0
    dns_queries_per_msg: float | None = None
    milter_cpu_ms_per_msg: float | None = None  # user+system CPU of the milter processes
    auth_results: list[str] = field(default_factory=list)  # A-R of one delivered message
    errors: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class MemoryFigures:
    name: str
    sessions: int
    sent: int
    failed: int
    peak_sockets_over_idle: int  # milter connections (and the milters' DNS sockets) at most
    peak_rss_kib: dict[str, int | None]  # process -> VmHWM
    peak_pss_kib: int  # the largest summed PSS of the processes seen while sampling
    errors: list[str] = field(default_factory=list)

    @property
    def total_kib(self) -> int:
        return sum(v for v in self.peak_rss_kib.values() if v)


# --- small helpers -----------------------------------------------------------------------
def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) \
            else "unknown"

    debian = Path("/etc/debian_version")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "debian": debian.read_text().strip() if debian.exists() else "",
        "memory_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "python": platform.python_version(),
        "postfix": version(["postconf", "-d", "-h", "mail_version"]),
        "spoofwatch": version([sys.executable, "-m", "spoofwatch.cli", "--version"]),
        "git_commit": version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "opendkim": version(["opendkim", "-V"]),
        "opendmarc": version(["opendmarc", "-V"]),
        "rspamd": version(["rspamd", "--version"]) if shutil.which("rspamd") else "",
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def socket_fds(pid: int) -> int:
    """How many sockets a process has open (each milter connection is one)."""
    count = 0
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    count += 1
            except OSError:
                continue
    except OSError:
        return 0
    return count


@dataclass
class Peaks:
    sockets: int = 0
    pss_kib: int = 0


@contextmanager
def sampling(pids: list[int], interval: float = 0.1) -> Iterator[Peaks]:
    """Track the largest total socket count and summed PSS of ``pids`` while the block runs."""
    peaks = Peaks()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks.sockets = max(peaks.sockets, sum(socket_fds(p) for p in pids))
            peaks.pss_kib = max(peaks.pss_kib, sum(peers.pss_kib(p) or 0 for p in pids))
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join(2)


# --- the processes the benchmark owns ----------------------------------------------------
class DnsProcess:
    """bench/dnsproc.py in a child process (see there for why)."""

    def __init__(self, address: str, zones: dict[str, Any], base: Path,
                 delay: float = 0.0) -> None:
        zones_file = base / "zones.json"
        zones_file.write_text(json.dumps(zones))
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "dnsproc.py"), "--address", address, "--port", "53",
             "--zones", str(zones_file), "--delay", str(delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"DNS server on {address}:53 did not start: {line or 'no output'}"
                               " (is something else listening on that address and port?)")

    def queries(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().strip() or 0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)


class Sink:
    """Postfix's own smtp-sink, appending every message to one dump file."""

    def __init__(self, base: Path) -> None:
        directory = base / "sink"
        directory.mkdir()
        shutil.chown(directory, "postfix")
        self.dump = directory / "dump"
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-D", str(self.dump), f"127.0.0.1:{self.port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not peers.accepts(f"inet:127.0.0.1:{self.port}"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("smtp-sink did not start")
            time.sleep(0.02)

    def last_auth_results(self) -> list[str]:
        """The Authentication-Results headers of the last message in the dump."""
        try:
            data = self.dump.read_bytes()[-200_000:]
        except OSError:
            return []
        # Each transaction starts with the envelope; the message headers follow.
        last = data.rsplit(b"\nX-Client-Addr:", 1)[-1] if b"X-Client-Addr:" in data else data
        text = last.decode("utf-8", "replace").replace("\r\n", "\n")
        unfolded = re.sub(r"\n[ \t]+", " ", text)
        return [line.split(":", 1)[1].strip() for line in unfolded.split("\n")
                if line.lower().startswith("authentication-results:")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class Mta:
    """The throwaway Postfix; restarted with each milter configuration."""

    def __init__(self, base: Path, sink_port: int) -> None:
        self.postfix = PostfixInstance(base / "postfix", "", sink_port)
        self.postfix.configure()
        # The XCLIENT address is not in mynetworks, so anvil would cap its concurrent
        # sessions at 50 (421 "too many connections"): lift that for the 64-session burst.
        self.postfix.set(smtpd_client_connection_count_limit="0")
        self.running = False

    def use(self, milters: str) -> None:
        if self.running:
            self.postfix.stop()
        self.postfix.set(smtpd_milters=milters, non_smtpd_milters="")
        self.postfix.start()
        self.running = True

    @property
    def port(self) -> int:
        return self.postfix.port

    def delivered(self) -> int:
        return self.postfix.log().count("status=sent")

    def drain(self, timeout: float = 60.0) -> int:
        """Wait until the queue is empty; how many messages are still in it."""
        deadline = time.monotonic() + timeout
        left = len(self.postfix.queue_json())
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = len(self.postfix.queue_json())
        return left

    def stop(self) -> None:
        if self.running:
            self.postfix.stop()
            self.running = False


# --- measuring ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    messages: int
    sessions: int
    max_seconds: float
    warmup: int
    body_size: int
    memory_sessions: int
    memory_messages: int
    workers: int = 1
    dns_delay: float = 0.0  # seconds every DNS answer is held back
    cache_size: int = 10000  # spoofwatch's dns.cache_size (0 = a cold cache for every message)
    watchlist: bool = True  # spoofwatch with the example watchlist (its impersonation checks)
    unix_only: bool = False  # leave out the loopback TCP runs
    rspamd: bool = True  # rspamd as a third contender
    rspamd_scanners: int = 2  # its normal workers behind the milter proxy


def measure(name: str, milters: str, mta: Mta, sink: Sink, dns: DnsProcess, message: bytes,
            settings: Settings, pids: tuple[int, ...] = (),
            around: Callable[[str], None] | None = None) -> RunFigures:
    """Warm up, then one timed run of the load generator; delivery checked afterwards.

    ``around("before")`` and ``around("after")`` are called just before and after the
    timed part (to read the milter's own counters over exactly those messages).
    """
    figures = RunFigures(name, milters or "(none)", "loadgen", settings.sessions)
    mta.use(milters)
    loadgen.run_load(mta.port, message, ENVELOPE, sessions=settings.sessions,
                     messages=settings.warmup, max_seconds=settings.max_seconds)
    mta.drain()
    delivered_before, queries_before = mta.delivered(), dns.queries()
    if around:
        around("before")
    cpu_before = sum(peers.cpu_seconds(p) for p in pids)
    result = loadgen.run_load(mta.port, message, ENVELOPE, sessions=settings.sessions,
                              messages=settings.messages, max_seconds=settings.max_seconds)
    cpu = sum(peers.cpu_seconds(p) for p in pids) - cpu_before
    if around:
        around("after")
    queries = dns.queries() - queries_before
    if pids and result.sent:
        figures.milter_cpu_ms_per_msg = round(cpu / result.sent * 1000, 2)
    figures.left_in_queue = mta.drain()
    figures.delivered = mta.delivered() - delivered_before
    _fill(figures, result)
    figures.dns_queries_per_msg = round(queries / result.sent, 2) if result.sent else None
    figures.auth_results = sink.last_auth_results()
    return figures


def _fill(figures: RunFigures, result: loadgen.LoadResult) -> None:
    figures.sent, figures.failed = result.sent, result.failed
    figures.seconds = round(result.seconds, 2)
    figures.msg_per_s = round(result.rate, 1)
    figures.session_p50_ms = ms(loadgen.percentile(result.session_latencies, 0.50))
    figures.session_p95_ms = ms(loadgen.percentile(result.session_latencies, 0.95))
    figures.eom_p50_ms = ms(loadgen.percentile(result.eom_latencies, 0.50))
    figures.eom_p95_ms = ms(loadgen.percentile(result.eom_latencies, 0.95))
    figures.errors = result.errors


def smtp_source_run(mta: Mta, settings: Settings) -> RunFigures:
    """The same no-milter Postfix driven by Postfix's own smtp-source, as a yardstick for
    the Python load generator's own overhead (its body is unsigned and from 127.0.0.1)."""
    figures = RunFigures("no milter (smtp-source)", "(none)", "smtp-source", settings.sessions)
    mta.use("")
    argv = ["smtp-source", "-l", str(len(scenario.body_text(settings.body_size))),
            "-m", str(settings.messages), "-s", str(settings.sessions),
            "-f", scenario.MAIL_FROM, "-t", scenario.RCPT, f"127.0.0.1:{mta.port}"]
    delivered_before = mta.delivered()
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=settings.max_seconds * 3)
    except subprocess.TimeoutExpired:
        figures.skipped = "smtp-source did not finish in time"
        return figures
    seconds = time.perf_counter() - start
    figures.seconds = round(seconds, 2)
    if done.returncode != 0:
        figures.errors = [done.stderr.strip()[-300:]]
    figures.left_in_queue = mta.drain()
    figures.delivered = mta.delivered() - delivered_before
    figures.sent = settings.messages if done.returncode == 0 else 0
    figures.msg_per_s = round(figures.sent / seconds, 1)
    return figures


def memory_burst(name: str, pids: dict[str, int], mta: Mta, message: bytes,
                 settings: Settings) -> MemoryFigures:
    """memory_sessions concurrent sessions; then the milter processes' peak RSS."""
    idle_sockets = sum(socket_fds(p) for p in pids.values())
    with sampling(list(pids.values())) as peaks:
        result = loadgen.run_load(mta.port, message, ENVELOPE,
                                  sessions=settings.memory_sessions,
                                  messages=settings.memory_messages,
                                  max_seconds=settings.max_seconds)
    mta.drain()
    return MemoryFigures(name, settings.memory_sessions, result.sent, result.failed,
                         max(0, peaks.sockets - idle_sockets),
                         {n: peers.peak_rss_kib(p) for n, p in pids.items()}, peaks.pss_kib,
                         result.errors)


_SAMPLE = re.compile(r'^(spoofwatch_\w+?)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)$')


def scrape(port: int) -> dict[tuple[str, str], float]:
    """spoofwatch's Prometheus metrics as {(name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return samples


def per_check(before: dict[tuple[str, str], float],
              after: dict[tuple[str, str], float]) -> dict[str, Any]:
    """Mean time per check (ms) over the messages between two scrapes."""
    def delta(name: str, labels: str = "") -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    out: dict[str, Any] = {}
    for check in ("spf", "dkim", "arc", "dmarc", "detect"):
        label = f'check="{check}"'
        count = delta("spoofwatch_check_seconds_count", label)
        if count:
            out[check] = round(delta("spoofwatch_check_seconds_sum", label) / count * 1000, 3)
    count = delta("spoofwatch_message_seconds_count")
    if count:
        out["whole message (MAIL FROM to end-of-message reply)"] = round(
            delta("spoofwatch_message_seconds_sum") / count * 1000, 3)
        out["messages"] = int(count)
    for outcome in ("hits", "misses", "timeouts", "errors"):
        out[f"dns_{outcome}"] = int(delta("spoofwatch_dns_lookups_total", f'outcome="{outcome}"'))
    return out


def scan_timings(config: Path, message_file: Path, repeats: int = 3) -> dict[str, Any]:
    """Report.timings from ``spoofwatch scan --json`` (a fresh process: cold DNS cache)."""
    argv = [sys.executable, "-m", "spoofwatch.cli", "scan", "--config", str(config),
            "--client-ip", scenario.CLIENT_IP, "--helo", scenario.HELO,
            "--mail-from", scenario.MAIL_FROM, "--rcpt", scenario.RCPT, "--json",
            str(message_file)]
    runs: list[dict[str, float]] = []
    level = ""
    for _ in range(repeats):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            return {"error": (done.stderr or done.stdout).strip()[-300:]}
        level = report.get("level", "")
        runs.append({name: seconds * 1000 for name, seconds in report.get("timings", [])})
    checks = runs[0].keys() if runs else []
    median = {c: round(statistics.median(r.get(c, 0.0) for r in runs), 3) for c in checks}
    return {"level": level, "repeats": repeats, "median_ms": median}


# --- the whole benchmark -----------------------------------------------------------------
@dataclass
class Bench:
    settings: Settings
    dns_address: str
    budget: float
    base: Path
    started: float = field(default_factory=time.monotonic)
    runs: list[RunFigures] = field(default_factory=list)
    memory: list[MemoryFigures] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def over_budget(self, what: str) -> bool:
        if time.monotonic() - self.started > self.budget:
            self.notes.append(f"not measured (time budget of {self.budget:g} s spent): {what}")
            return True
        return False

    def run(self) -> None:
        built = scenario.build(self.settings.body_size)
        message_file = self.base / "message.eml"
        message_file.write_bytes(built.message)
        stack: list[Callable[[], None]] = []
        try:
            dns = DnsProcess(self.dns_address, built.zones, self.base,
                             self.settings.dns_delay)
            stack.append(dns.stop)
            sink = Sink(self.base)
            stack.append(sink.stop)
            mta = Mta(self.base, sink.port)
            stack.append(mta.stop)
            self._phases(mta, sink, dns, built.message, message_file)
        finally:
            for stop in reversed(stack):
                stop()

    def _phases(self, mta: Mta, sink: Sink, dns: DnsProcess, message: bytes,
                message_file: Path) -> None:
        s = self.settings
        self.runs.append(smtp_source_run(mta, s))
        self.runs.append(measure("no milter", "", mta, sink, dns, message, s))
        transports = ("unix",) if s.unix_only else ("unix", "inet")
        for transport in transports:
            self._spoofwatch(transport, mta, sink, dns, message, message_file)
        for transport in transports:
            self._reference(transport, mta, sink, dns, message)
        if s.rspamd:
            for transport in transports:
                self._rspamd(transport, mta, sink, dns, message)

    def _spec(self, transport: str, name: str) -> str:
        if transport == "unix":
            return f"unix:{self.base / 'run' / name}.sock"
        return f"inet:127.0.0.1:{free_port()}"

    def _spoofwatch(self, transport: str, mta: Mta, sink: Sink, dns: DnsProcess,
                    message: bytes, message_file: Path) -> None:
        name = f"spoofwatch ({transport})"
        if self.over_budget(name):
            return
        spec = self._spec(transport, "spoofwatch")
        metrics_port = free_ports(self.settings.workers)
        workers = self.settings.workers
        process: MilterProcess = peers.start_spoofwatch(
            self.base / "run", socket_spec=spec, dns_address=self.dns_address,
            metrics_port=metrics_port, workers=workers, cache_size=self.settings.cache_size,
            watchlist=self.settings.watchlist)
        scrapes: dict[str, dict[tuple[str, str], float]] = {}

        def around(when: str) -> None:
            # each worker serves its own metrics, on consecutive ports: summed
            summed: dict[tuple[str, str], float] = {}
            for k in range(workers):
                for key, value in scrape(metrics_port + k).items():
                    summed[key] = summed.get(key, 0.0) + value
            scrapes[when] = summed

        pids = {"spoofwatch supervisor": process.pid}
        for n, pid in enumerate(process.worker_pids(workers)):
            pids[f"spoofwatch worker {n + 1}" if workers > 1 else "spoofwatch worker"] = pid
        try:
            self.runs.append(measure(name, spec, mta, sink, dns, message, self.settings,
                                     tuple(pids.values()), around))
            self.checks[f"metrics_{transport}_mean_ms"] = per_check(scrapes["before"],
                                                                   scrapes["after"])
            if transport == "unix":
                self.checks["scan_cold_cache"] = scan_timings(
                    process.config, message_file)
                if not self.over_budget(f"memory at {self.settings.memory_sessions} sessions, "
                                        "spoofwatch"):
                    self.memory.append(memory_burst("spoofwatch (unix)", pids, mta, message,
                                                    self.settings))
        finally:
            mta.stop()
            process.stop()

    def _reference(self, transport: str, mta: Mta, sink: Sink, dns: DnsProcess,
                   message: bytes) -> None:
        name = f"{PAIR} ({transport})"
        if self.over_budget(name):
            return
        pair = peers.start_reference(
            self.base / f"ref-{transport}", dkim_spec=self._spec(transport, "opendkim"),
            dmarc_spec=self._spec(transport, "opendmarc"), dns_address=self.dns_address)
        try:
            self.runs.append(measure(name, pair.milters, mta, sink, dns, message,
                                     self.settings, tuple(pair.pids().values())))
            if transport == "unix" and not self.over_budget(
                    f"memory at {self.settings.memory_sessions} sessions, reference pair"):
                self.memory.append(memory_burst(f"{PAIR} (unix)", pair.pids(),
                                                mta, message, self.settings))
        finally:
            mta.stop()
            pair.stop()

    def _rspamd(self, transport: str, mta: Mta, sink: Sink, dns: DnsProcess,
                message: bytes) -> None:
        name = f"rspamd ({transport})"
        if self.over_budget(name):
            return
        db = self.base / "rspamd-db"  # the compiled public suffix list, for every start
        if not db.exists():
            peers.warm_rspamd_cache(self.base / "rspamd-warm", db, dns_address=self.dns_address)
        rspamd = peers.start_rspamd(
            self.base / f"rspamd-{transport}", db,
            socket_spec=self._spec(transport, "rspamd"), dns_address=self.dns_address,
            scanners=self.settings.rspamd_scanners)
        try:
            self.runs.append(measure(name, rspamd.milters, mta, sink, dns, message,
                                     self.settings, tuple(rspamd.pids().values())))
            if transport == "unix" and not self.over_budget(
                    f"memory at {self.settings.memory_sessions} sessions, rspamd"):
                self.memory.append(memory_burst("rspamd (unix)", rspamd.pids(), mta, message,
                                                self.settings))
        finally:
            mta.stop()
            rspamd.stop()


# --- output ------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def auth_summary(results: list[str]) -> str:
    """The methods and results seen in the delivered message, e.g. 'spf=pass dkim=pass'."""
    found = []
    for header in results:
        for method in ("spf", "dkim", "arc", "dmarc"):
            match = re.search(rf"\b{method}=(\w+)", header)
            if match:
                found.append(f"{method}={match.group(1)}")
    return " ".join(dict.fromkeys(found)) or "-"


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value is not None and base else None


def ratios(bench: Bench) -> dict[str, dict[str, float | None]]:
    """Each contender's figures divided by the pair's on the same transport (memory: the
    --memory-sessions burst, unix sockets only)."""
    runs = {r.name: r for r in bench.runs if not r.skipped}
    memory = {m.name: m for m in bench.memory}
    out: dict[str, dict[str, float | None]] = {}
    for name, run in runs.items():
        contender, _, transport = name.removesuffix(")").rpartition(" (")
        pair = runs.get(f"{PAIR} ({transport})")
        if contender not in ("spoofwatch", "rspamd") or pair is None:
            continue
        out[name] = {
            "msg_per_s": _ratio(run.msg_per_s, pair.msg_per_s),
            "session_p50_ms": _ratio(run.session_p50_ms, pair.session_p50_ms),
            "eom_p50_ms": _ratio(run.eom_p50_ms, pair.eom_p50_ms),
            "milter_cpu_ms_per_msg": _ratio(run.milter_cpu_ms_per_msg,
                                            pair.milter_cpu_ms_per_msg),
        }
        mine, theirs = memory.get(name), memory.get(f"{PAIR} ({transport})")
        if mine and theirs:
            out[name]["peak_rss"] = _ratio(mine.total_kib, theirs.total_kib)
            out[name]["peak_pss"] = _ratio(mine.peak_pss_kib, theirs.peak_pss_kib)
    return out


def table(bench: Bench) -> str:
    head = (f"{'configuration':34} {'sent':>5} {'fail':>4} {'msg/s':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'eom50':>6} {'eom95':>6} {'cpu/msg':>7} {'dns/msg':>7}  "
            "delivered message says")
    lines = [head, "-" * len(head)]
    for r in bench.runs:
        if r.skipped:
            lines.append(f"{r.name:34} skipped: {r.skipped}")
            continue
        lines.append(
            f"{r.name:34} {r.sent:>5} {r.failed:>4} {r.msg_per_s:>7.1f} "
            f"{_fmt(r.session_p50_ms):>7} {_fmt(r.session_p95_ms):>7} "
            f"{_fmt(r.eom_p50_ms):>6} {_fmt(r.eom_p95_ms):>6} "
            f"{_fmt(r.milter_cpu_ms_per_msg, 2):>7} {_fmt(r.dns_queries_per_msg, 2):>7}"
            f"  {auth_summary(r.auth_results)}")
    lines.append("")
    for m in bench.memory:
        parts = ", ".join(f"{n} {_fmt(v / 1024 if v else None)} MiB"
                          for n, v in m.peak_rss_kib.items())
        lines.append(f"peak RSS at {m.sessions} sessions, {m.name}: {m.total_kib / 1024:.1f} MiB "
                     f"({parts}); peak PSS summed {m.peak_pss_kib / 1024:.1f} MiB; "
                     f"{m.sent} sent, {m.failed} failed, "
                     f"at most {m.peak_sockets_over_idle} sockets open over idle"
                     + (f"; errors: {m.errors}" if m.errors else ""))
    factors = ratios(bench)
    if factors:
        lines.append("")
        lines.append(f"against {PAIR} on the same transport (contender / pair; above 1 is "
                     "more msg/s, or slower, more CPU, more memory):")
        labels = {"msg_per_s": "msg/s", "session_p50_ms": "p50", "eom_p50_ms": "eom50",
                  "milter_cpu_ms_per_msg": "cpu/msg", "peak_rss": "peak RSS",
                  "peak_pss": "peak PSS"}
        for name, values in factors.items():
            parts = "  ".join(f"{labels[k]} {_fmt(v, 2)}x" for k, v in values.items())
            lines.append(f"  {name:20} {parts}")
    lines.append("")
    lines.append("Authentication-Results of the last message delivered in each run:")
    for r in bench.runs:
        if r.auth_results:
            for header in r.auth_results:
                lines.append(f"  {r.name}: {header}")
    lines.append("")
    for key, value in bench.checks.items():
        lines.append(f"{key}: {json.dumps(value)}")
    lines.extend(f"note: {n}" for n in bench.notes)
    return "\n".join(lines)


def as_json(bench: Bench, argv: list[str], info: dict[str, Any], date: str,
            loads: tuple[str, str], elapsed: float) -> dict[str, Any]:
    return {
        "date": date,
        "command": shlex.join(argv),
        "machine": info,
        "loadavg_before": loads[0],
        "loadavg_after": loads[1],
        "elapsed_s": round(elapsed, 1),
        "settings": asdict(bench.settings),
        "runs": [asdict(r) for r in bench.runs],
        "memory": [{**asdict(m), "total_kib": m.total_kib} for m in bench.memory],
        "ratios_to_pair": ratios(bench),
        "per_check": bench.checks,
        "notes": bench.notes,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1000, help="messages per configuration")
    p.add_argument("--sessions", type=int, default=4, help="concurrent SMTP sessions")
    p.add_argument("--max-seconds", type=float, default=30.0,
                   help="stop each configuration's run after this long")
    p.add_argument("--warmup", type=int, default=20,
                   help="untimed messages before each run (fills caches, spawns smtpd)")
    p.add_argument("--size", type=int, default=2000, help="approximate body size in bytes")
    p.add_argument("--workers", type=int, default=1,
                   help="spoofwatch's milter.workers (its worker processes)")
    p.add_argument("--memory-sessions", type=int, default=64)
    p.add_argument("--memory-messages", type=int, default=640)
    p.add_argument("--dns-address", default="127.0.0.153",
                   help="loopback address for the DNS server (port 53)")
    p.add_argument("--budget", type=float, default=270.0,
                   help="start no new phase after this many seconds")
    p.add_argument("--dns-delay", type=float, default=0.0, metavar="MS",
                   help="the DNS server holds back every answer this many milliseconds")
    p.add_argument("--cold", action="store_true",
                   help="spoofwatch without its DNS cache (dns.cache_size 0): every message "
                        "asks again, as the pair does")
    p.add_argument("--no-watchlist", action="store_true",
                   help="spoofwatch without a watchlist: the impersonation checks have no "
                        "organization to check (authentication only, as the pair)")
    p.add_argument("--unix-only", action="store_true",
                   help="only the unix-socket runs (no loopback TCP)")
    p.add_argument("--no-rspamd", action="store_true",
                   help="leave rspamd out (spoofwatch and the pair only)")
    p.add_argument("--rspamd-scanners", type=int, default=2,
                   help="rspamd's normal workers behind its milter proxy")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if min(args.messages, args.sessions, args.memory_sessions, args.memory_messages,
           args.rspamd_scanners) < 1:
        p.error("counts must be at least 1")
    return args


def preflight(rspamd: bool) -> str:
    """Why the benchmark cannot run here, or ''."""
    if os.geteuid() != 0:
        return "run as root (Postfix, the reference milters and port 53 need it)"
    tools = (*REQUIRED_TOOLS, "rspamd") if rspamd else REQUIRED_TOOLS
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return (f"missing: {', '.join(missing)} (bash scripts/setup.sh --bench installs "
                "them" + ("; --no-rspamd leaves rspamd out" if "rspamd" in missing else "")
                + ")")
    if rspamd:
        try:
            pwd.getpwnam(peers.RSPAMD_USER)
        except KeyError:
            return (f"no user {peers.RSPAMD_USER} (the rspamd package creates it; "
                    "--no-rspamd leaves rspamd out)")
    return ""


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the finally blocks: everything started is stopped


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    problem = preflight(not args.no_rspamd)
    if problem:
        print(f"throughput.py: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    settings = Settings(args.messages, args.sessions, args.max_seconds, args.warmup, args.size,
                        args.memory_sessions, args.memory_messages, args.workers,
                        args.dns_delay / 1000.0, 0 if args.cold else 10000,
                        not args.no_watchlist, args.unix_only, not args.no_rspamd,
                        args.rspamd_scanners)
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-bench-"))
    os.chmod(base, 0o755)  # the postfix user must reach sockets and the queue
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    loads_before = loadavg()
    bench = Bench(settings, args.dns_address, args.budget, base)
    try:
        bench.run()
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - bench.started
    print(table(bench))
    print(f"\nelapsed {elapsed:.0f} s; load average before {loads_before}, after {loadavg()}")
    if args.json:
        data = as_json(bench, ["bench/throughput.py", *argv], machine(), date,
                       (loads_before, loadavg()), elapsed)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
