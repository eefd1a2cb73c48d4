"""Send hostile messages through the real spoofwatch service on its real socket, and count.

The service is started as an admin starts it (``spoofwatch run``, via
:class:`support.milterproc.MilterProcess`), with the loopback DNS server serving the seed
zone, the JSON decision log, Prometheus metrics on a free loopback port and its own
quarantine store switched on. Several client threads each take the next sample and send
it on a fresh milter connection (:class:`support.milterclient.MilterClient`).

What is counted (definitions used by tests/fuzz/test_fuzz_short.py and bench/fuzz.py):

crashes
    the supervisor exited, or its worker process was replaced (a worker died and was
    restarted), or a connection was refused.
silent sessions
    no reply within the client timeout (``MilterTimeout``).
dropped sessions
    the service closed the connection without a final reply.
internal errors
    messages whose decision record says ``internal error``, plus ``internal error`` lines
    in the service log (the larger one counts). The service's
    ``spoofwatch_internal_errors_total`` is reported too; it also counts the fail-safe
    answers to bytes the MTA sent undecodable (raw mode), which are counted apart as
    ``mta_input_fail_safe``: the expected answer to input Postfix never sends.
checks skipped
    a message whose decision-log record (looked up by queue id) is missing, has no
    verdict (oversized, internal error), says ``skipped``, or lacks one of the timings
    spf, dkim, arc, detect (and dmarc, when it names a From address); plus every
    ``content not scored`` line in the service log (the decision log cannot tell that
    content scoring was abandoned: ``detect`` is timed as a whole).
threats missed
    a sample that hides the seed threat behind its structure whose verdict is not
    ``threat``.
forged headers kept
    an incoming ``Authentication-Results`` for our authserv-id or ``X-Spoofwatch-*``
    header still present after the milter's modifications are applied.
quarantine records lost
    messages the milter quarantined minus records in the quarantine store.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from support import seeds
from support.dnsserver import DnsTestServer
from support.milterclient import (
    MilterClient,
    MilterConnectionClosed,
    MilterError,
    MilterOutcome,
    MilterTimeout,
    apply_modifications,
)
from support.milterproc import MilterProcess, free_port, write_config

from .hostile import AUTHSERV_ID, CLIENT_IP, Sample

HERE = Path(__file__).resolve().parent
POLICY = HERE / "policy-fuzz.yaml"
REQUIRED_TIMINGS = ("spf", "dkim", "arc", "detect")
_HEADER_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_RSS_INTERVAL = 0.2
# failure categories that are the expected answer, reported but not failures
_EXPECTED = frozenset({"mta_input_fail_safe"})


# --- the service under test ---------------------------------------------------------------------
class FuzzService:
    """The real service, with decision log, metrics and quarantine store, on a unix socket."""

    def __init__(self, dns: DnsTestServer | None = None, fail_safe: str = "accept") -> None:
        self._own_dns = dns is None
        self.dns = dns or DnsTestServer()
        self.fail_safe = fail_safe
        self.dir = Path(tempfile.mkdtemp(prefix="spoofwatch-fuzz-"))
        os.chmod(self.dir, 0o755)
        self.metrics_port = free_port()
        self.decisions = self.dir / "decisions.jsonl"
        self.quarantine = self.dir / "quarantine"
        self.proc: MilterProcess | None = None
        self.worker_pids: list[int] = []

    def start(self) -> None:
        if self._own_dns:
            self.dns.start()
        seeds.publish_seed_zone(self.dns)
        spec = f"unix:{self.dir}/spoofwatch.sock"
        extra = (f"fail_safe: {self.fail_safe}\n"
                 f"metrics:\n  enabled: true\n  listen: 127.0.0.1:{self.metrics_port}\n"
                 f"logging:\n  level: info\n  json_file: {self.decisions}\n")
        config = write_config(self.dir, dns_port=self.dns.port, socket_spec=spec,
                              policy=POLICY, authserv_id=AUTHSERV_ID, extra=extra,
                              quarantine_dir=self.quarantine)
        self.proc = MilterProcess(config, spec, self.dir / "milter.log")
        self.proc.start()
        self.worker_pids = [self.proc.worker_pid()]

    @property
    def socket_spec(self) -> str:
        assert self.proc is not None
        return self.proc.socket_spec

    def alive(self) -> bool:
        return self.proc is not None and self.proc.proc is not None \
            and self.proc.proc.poll() is None

    def metric(self, name: str) -> float | None:
        try:
            text = urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def log(self) -> str:
        return self.proc.log() if self.proc is not None else ""

    def stop(self) -> int | None:
        code = self.proc.stop() if self.proc is not None else None
        if self._own_dns:
            self.dns.stop()
        return code

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> FuzzService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- what one message gave ----------------------------------------------------------------------
@dataclass(frozen=True)
class MessageResult:
    kind: str
    index: int
    queue_id: str
    size: int
    seconds: float  # connect to final reply (wall time)
    action: str  # the final milter reply, or "" on error
    error: str  # "" | "silent" | "dropped" | "refused" | "protocol: ..."
    quarantined: bool
    forged_kept: int  # incoming forged headers still there after the modifications
    expect_threat: bool
    expect_checked: bool


def queue_id_of(index: int) -> str:
    return f"FZ{index:08X}"


def postfix_split(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body as Postfix hands them to a milter.

    A line that is neither a header field nor a continuation ends the header section and
    is the first body line (Postfix's cleanup does this); header values lose one leading
    space and folded lines are joined with LF; lines end at LF, a CR before it is dropped.
    """
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    headers: list[list[bytes]] = []
    pos = 0
    while pos < len(lines):
        line = lines[pos]
        if not line:
            pos += 1
            break
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += b"\n" + line
        elif (match := _HEADER_START.match(line)) is not None:
            name = line[: match.end() - 1].rstrip(b" \t")
            value = line[match.end():]
            headers.append([name, value[1:] if value.startswith(b" ") else value])
        else:
            break
        pos += 1
    body = b"".join(line + b"\r\n" for line in lines[pos:])
    text = [(n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
            for n, v in headers]
    return text, body


def _is_forged(name: str, value: str) -> bool:
    lower = name.strip().lower()
    if lower.startswith("x-spoofwatch-"):
        return True
    if lower == "authentication-results":
        return value.split(";", 1)[0].strip().lower() == AUTHSERV_ID
    return False


def _forged_kept(headers: list[tuple[str, str]], outcome: MilterOutcome, body: bytes) -> int:
    """Forged headers in the result that the milter did not add itself."""
    final, _ = apply_modifications(headers, body, outcome.modifications)
    added = sum(1 for m in outcome.modifications
                if (m.kind == "addheader" and _is_forged(m.args[0], m.args[1]))
                or (m.kind == "insheader" and _is_forged(m.args[1], m.args[2])))
    present = sum(1 for name, value in final if _is_forged(name, value))
    return max(0, present - added)


def send_one(sample: Sample, socket_spec: str, timeout: float) -> MessageResult:
    queue_id = queue_id_of(sample.index)
    envelope: dict[str, Any] = {
        "client_ip": CLIENT_IP, "helo": sample.helo, "mail_from": sample.mail_from,
        "rcpts": sample.rcpts, "queue_id": queue_id, "macros": sample.macros or None,
    }
    if sample.raw_mode:
        headers, body = [], b""
    else:
        headers, body = postfix_split(sample.raw)
    start = time.monotonic()
    action, error, outcome = "", "", None
    try:
        with MilterClient(socket_spec, timeout=timeout) as client:
            if sample.raw_mode:
                outcome = client.send_raw(sample.raw, **envelope)
            else:
                outcome = client.send_message(headers=headers, body=body, **envelope)
        action = outcome.action
    except MilterTimeout:
        error = "silent"
    except MilterConnectionClosed:
        error = "dropped"
    except (ConnectionRefusedError, FileNotFoundError):
        error = "refused"
    except (MilterError, OSError) as exc:
        error = f"protocol: {type(exc).__name__}: {exc}"[:200]
    seconds = time.monotonic() - start
    quarantined = outcome is not None and any(m.kind == "quarantine"
                                              for m in outcome.modifications)
    forged = _forged_kept(headers, outcome, body) if outcome and not sample.raw_mode else 0
    return MessageResult(sample.kind, sample.index, queue_id, len(sample.raw), seconds, action,
                         error, quarantined, forged, sample.expect_threat,
                         sample.expect_checked)


# --- RSS over time ------------------------------------------------------------------------------
def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples the RSS of the supervisor plus its worker, and notices a replaced worker."""

    def __init__(self, service: FuzzService) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.samples: list[tuple[float, int]] = []  # (seconds since start, kB)
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()

    def sample(self) -> None:
        proc = self.service.proc
        if proc is None or not self.service.alive():
            return
        pids = [proc.pid]
        try:
            worker = proc.worker_pid(timeout=0.05)
        except RuntimeError:
            worker = None
        if worker is not None:
            pids.append(worker)
            if worker not in self.service.worker_pids:
                self.service.worker_pids.append(worker)
        self.samples.append((time.monotonic() - self._t0, sum(_rss_kb(p) for p in pids)))

    def run(self) -> None:
        while not self._stop_event.wait(_RSS_INTERVAL):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()


# --- the run ------------------------------------------------------------------------------------
def run_samples(samples: Iterable[Sample], service: FuzzService, clients: int = 4,
                timeout: float = 30.0, give_up_after: int = 10,
                ) -> tuple[list[MessageResult], RssSampler, float]:
    """Send every sample with ``clients`` concurrent connections; results in index order.

    Once ``give_up_after`` sessions of one kind went silent, the rest of that kind is not
    sent (each would cost a whole timeout) but recorded with the error "not sent".
    """
    work: queue.Queue[Sample | None] = queue.Queue(maxsize=clients * 4)
    results: list[MessageResult] = []
    silent: Counter[str] = Counter()
    lock = threading.Lock()

    def client_loop() -> None:
        while (sample := work.get()) is not None:
            with lock:
                hopeless = silent[sample.kind] >= give_up_after
            if hopeless:
                result = MessageResult(sample.kind, sample.index, queue_id_of(sample.index),
                                       len(sample.raw), 0.0, "", "not sent", False, 0,
                                       sample.expect_threat, sample.expect_checked)
            else:
                result = send_one(sample, service.socket_spec, timeout)
            with lock:
                results.append(result)
                if result.error == "silent":
                    silent[sample.kind] += 1

    rss = RssSampler(service)
    rss.sample()
    rss.start()
    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for sample in samples:
        work.put(sample)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    rss.stop()
    return sorted(results, key=lambda r: r.index), rss, seconds


# --- the summary --------------------------------------------------------------------------------
def _decisions(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for file in sorted(path.parent.glob(path.name + "*")):
        for line in file.read_text(encoding="ascii", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            out[str(record.get("queue_id", ""))] = record
    return out


def skipped_reason(record: dict[str, Any] | None) -> str:
    """Why a decision record shows a check skipped, or "" when every check ran."""
    if record is None:
        return "no decision record"
    if "level" not in record:
        return f"no verdict ({record.get('note', record.get('outcome', '?'))})"
    if record.get("skipped"):
        return f"skipped ({record['skipped']})"
    timings = record.get("timings_ms") or {}
    needed = REQUIRED_TIMINGS + (("dmarc",) if record.get("from") else ())
    missing = [name for name in needed if name not in timings]
    return f"no {'/'.join(missing)} timing" if missing else ""


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class KindFigures:
    messages: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    max_seconds: float = 0.0
    levels: Counter[str] = field(default_factory=Counter)


@dataclass
class FuzzSummary:
    seed: int
    scale: float
    clients: int
    messages: int
    seconds: float
    crashes: int
    worker_restarts: int
    silent_sessions: int
    dropped_sessions: int
    not_sent: int  # samples of a kind that had gone silent too often (see run_samples)
    refused_sessions: int
    protocol_errors: int
    internal_errors: int
    internal_errors_metric: float | None
    mta_input_fail_safe: int
    internal_error_log_lines: int
    checks_skipped: int
    content_not_scored_log_lines: int
    threats_missed: int
    forged_headers_kept: int
    quarantined: int
    quarantine_records: int
    quarantine_records_lost: int
    max_seconds: float
    p99_seconds: float
    p50_seconds: float
    slowest: str
    rss_kb_start: int
    rss_kb_end: int
    rss_kb_peak: int
    rss_series: list[tuple[float, int]]
    by_kind: dict[str, dict[str, Any]]
    examples: dict[str, list[str]]  # failure category -> a few "kind #index: detail"

    def failing_kinds(self) -> dict[str, dict[str, int]]:
        return {k: bad for k, v in self.by_kind.items()
                if (bad := {c: n for c, n in v["failures"].items() if c not in _EXPECTED})}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def human(self) -> str:
        per_1000 = self.seconds / self.messages * 1000 if self.messages else 0.0
        lines = [
            f"fuzz: {self.messages} messages, seed {self.seed}, scale {self.scale}, "
            f"{self.clients} clients, {self.seconds:.1f} s ({per_1000:.1f} s per 1,000)",
            f"  crashes {self.crashes} (worker restarts {self.worker_restarts}, refused "
            f"{self.refused_sessions}), silent sessions {self.silent_sessions}, dropped "
            f"{self.dropped_sessions}, not sent {self.not_sent}, protocol errors "
            f"{self.protocol_errors}",
            f"  internal errors {self.internal_errors} (log lines "
            f"{self.internal_error_log_lines}; metric {self.internal_errors_metric}, which "
            f"includes {self.mta_input_fail_safe} fail-safe answers to undecodable MTA input)",
            f"  checks skipped {self.checks_skipped} (content-not-scored log lines "
            f"{self.content_not_scored_log_lines}), threats missed {self.threats_missed}, "
            f"forged headers kept {self.forged_headers_kept}",
            f"  quarantined {self.quarantined}, records stored {self.quarantine_records}, "
            f"lost {self.quarantine_records_lost}",
            f"  time per message: max {self.max_seconds:.3f} s ({self.slowest}), "
            f"p99 {self.p99_seconds:.3f} s, p50 {self.p50_seconds:.3f} s",
            f"  service RSS: start {self.rss_kb_start / 1024:.1f} MB, end "
            f"{self.rss_kb_end / 1024:.1f} MB, peak {self.rss_kb_peak / 1024:.1f} MB",
        ]
        failing = self.failing_kinds()
        if failing:
            lines.append("  failing kinds:")
            for kind, failures in sorted(failing.items()):
                text = ", ".join(f"{name} {n}" for name, n in sorted(failures.items()))
                lines.append(f"    {kind}: {text}")
        for category, examples in sorted(self.examples.items()):
            lines.append(f"  e.g. {category}: " + "; ".join(examples))
        return "\n".join(lines)


def _failures(result: MessageResult, record: dict[str, Any] | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if result.error:
        out.append((result.error.split(":", 1)[0], result.error))
        return out
    note = str(record.get("note", "")) if record else ""
    if note.startswith("internal error"):
        out.append(("internal_error", note))
    if note.startswith("unreadable input from the MTA"):
        out.append(("mta_input_fail_safe", note))
    if result.expect_checked:
        reason = skipped_reason(record)
        if reason:
            out.append(("checks_skipped", reason))
    level = str(record.get("level", "")) if record else ""
    if result.expect_threat and level != "threat":
        out.append(("threat_missed", f"level {level or 'none'}"))
    if result.forged_kept:
        out.append(("forged_kept", f"{result.forged_kept} forged header(s)"))
    return out


def summarize(results: list[MessageResult], service: FuzzService, rss: RssSampler,
              seconds: float, seed: int, scale: float, clients: int) -> FuzzSummary:
    decisions = _decisions(service.decisions)
    log = service.log()
    metric = service.metric("spoofwatch_internal_errors_total")
    log_errors = log.count("internal error")
    content_lines = log.count("content not scored")
    by_kind: dict[str, KindFigures] = defaultdict(KindFigures)
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for result in results:
        record = decisions.get(result.queue_id)
        figures = by_kind[result.kind]
        figures.messages += 1
        figures.max_seconds = max(figures.max_seconds, result.seconds)
        figures.levels[str(record.get("level", "-")) if record else "-"] += 1
        for category, detail in _failures(result, record):
            figures.failures[category] += 1
            counts[category] += 1
            if len(examples[category]) < 3:
                examples[category].append(f"{result.kind} #{result.index}: {detail}")
    times = [r.seconds for r in results]
    slowest = max(results, key=lambda r: r.seconds, default=None)
    records = len(list((service.quarantine / "msg").glob("*.rec"))) \
        if (service.quarantine / "msg").is_dir() else 0
    quarantined = sum(r.quarantined for r in results)
    crashed = 0 if service.alive() else 1
    restarts = max(0, len(service.worker_pids) - 1)
    rss_values = [kb for _, kb in rss.samples] or [0]
    return FuzzSummary(
        seed=seed, scale=scale, clients=clients, messages=len(results), seconds=seconds,
        crashes=crashed + restarts + (1 if counts["refused"] else 0),
        worker_restarts=restarts,
        silent_sessions=counts["silent"], dropped_sessions=counts["dropped"],
        not_sent=counts["not sent"],
        refused_sessions=counts["refused"], protocol_errors=counts["protocol"],
        internal_errors=max(counts["internal_error"], log_errors),
        internal_errors_metric=metric, mta_input_fail_safe=counts["mta_input_fail_safe"],
        internal_error_log_lines=log_errors,
        checks_skipped=counts["checks_skipped"] + content_lines,
        content_not_scored_log_lines=content_lines,
        threats_missed=counts["threat_missed"], forged_headers_kept=counts["forged_kept"],
        quarantined=quarantined, quarantine_records=records,
        quarantine_records_lost=max(0, quarantined - records),
        max_seconds=max(times, default=0.0), p99_seconds=_percentile(times, 0.99),
        p50_seconds=_percentile(times, 0.5),
        slowest=f"{slowest.kind} #{slowest.index} ({slowest.size} bytes)" if slowest else "",
        rss_kb_start=rss_values[0], rss_kb_end=rss_values[-1], rss_kb_peak=max(rss_values),
        rss_series=_downsample(rss.samples, 60),
        by_kind={k: {"messages": f.messages, "failures": dict(f.failures),
                     "max_seconds": round(f.max_seconds, 3), "levels": dict(f.levels)}
                 for k, f in sorted(by_kind.items())},
        examples=dict(examples),
    )


def _downsample(samples: list[tuple[float, int]], points: int) -> list[tuple[float, int]]:
    if len(samples) <= points:
        return [(round(t, 1), kb) for t, kb in samples]
    step = len(samples) / points
    return [(round(samples[int(i * step)][0], 1), samples[int(i * step)][1])
            for i in range(points)] + [(round(samples[-1][0], 1), samples[-1][1])]


def fuzz(samples: Iterator[Sample] | list[Sample], *, seed: int, scale: float, clients: int,
         timeout: float = 30.0, give_up_after: int = 10, dns: DnsTestServer | None = None,
         keep_dir: bool = False) -> FuzzSummary:
    """Start the service, send the samples, stop it, and summarize."""
    service = FuzzService(dns)
    service.start()
    try:
        results, rss, seconds = run_samples(samples, service, clients, timeout, give_up_after)
        summary = summarize(results, service, rss, seconds, seed, scale, clients)
    finally:
        service.stop()
        if not keep_dir:
            service.remove()
    return summary
