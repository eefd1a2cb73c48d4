"""Where spoofwatch's CPU goes, stage by stage, over a varied corpus (bench/profile_corpus.py).

    .venv/bin/python bench/profile.py [--messages 1000] [--seed 1] [--json FILE]
        [--cprofile] [--service [--sessions 4]]

In-process (always): the loopback DNS server of tests/support serves the corpus's zones;
every message goes once through ``analyze()`` untimed (warming the DNS cache, as in a
running service), then once timed. The functions ``analyze()`` calls are wrapped from the
outside (module attributes are replaced in this process; the package is not edited), and
each wrapper measures thread CPU time (``time.thread_time``: the DNS server's threads in
this process do not count). A stage's *self* time excludes the wrapped stages it calls,
so the self times of all stages add up to the total per message. Printed per stage: calls
per message, mean / p50 / p99 of its CPU per message (ms), and share of the total.

``--cprofile``: a third pass under cProfile (its default clock; one thread, warm DNS, so
wall time is CPU time); the top functions by cumulative and by own time, and who calls
the top three.

``--service``: ``spoofwatch run`` on a unix socket (its DNS cache on), the corpus sent over
``--sessions`` concurrent milter connections (tests/support/milterclient.py, as
bench/memory.py does), one warm-up pass, then the timed pass: user + system CPU of the
service's processes per message, and its own per-check means (Prometheus histograms).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# This file is called profile.py: with its directory first on sys.path, the standard
# library's cProfile would import it as its "profile" module. Import cProfile first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import cProfile  # noqa: E402
import pstats  # noqa: E402

sys.path[:0] = [str(REPO / "tests"), str(HERE)]

import profile_corpus  # noqa: E402
from peers import cpu_seconds  # noqa: E402
from profile_corpus import LIST_DOMAIN, RCPT, Sample  # noqa: E402

import spoofwatch.analyze as sw_analyze  # noqa: E402
from spoofwatch.config import Config, load_config  # noqa: E402
from spoofwatch.detect import (  # noqa: E402
    checks,
    claim_reading,
    textextract,
    threat,
    tolerant_text,
)
from spoofwatch.dns import Resolver  # noqa: E402
from spoofwatch.message import Message  # noqa: E402
from spoofwatch.results import Envelope  # noqa: E402
from support.dnsserver import DnsTestServer  # noqa: E402
from support.milterclient import MilterClient, split_message  # noqa: E402
from support.milterproc import MilterProcess, free_port, scrape_metrics, write_config  # noqa: E402

POLICIES = REPO / "policies"

# (module, attribute, stage). Order is the order stages are printed in. Several functions
# may share a stage; a stage called inside another is charged to itself, not its caller.
STAGES: list[tuple[Any, str, str]] = [
    (Message, "from_bytes", "parse: header section (Message.from_bytes)"),
    (sw_analyze, "parse_from", "parse: From header"),
    (Message, "as_bytes", "parse: serialize (Message.as_bytes)"),
    (Message, "email", "parse: MIME tree (Message.email, memoized)"),
    (sw_analyze, "check_spf", "spf (MAIL FROM + HELO)"),
    (sw_analyze, "verify_dkim", "dkim"),
    (sw_analyze, "verify_arc", "arc"),
    (sw_analyze, "evaluate_dmarc", "dmarc"),
    (sw_analyze, "apply_arc_override", "dmarc"),
    (sw_analyze, "dmarc_findings", "dmarc"),
    (checks, "from_domain_findings", "detect: from domain"),
    (checks, "non_mail_findings", "detect: non-mail domain"),
    (checks, "display_name_findings", "detect: display name"),
    (checks, "lookalike_findings", "detect: lookalike"),
    (checks, "reply_to_findings", "detect: reply-to"),
    (claim_reading, "extract_text", "detect: identity claim: text extraction"),
    (claim_reading, "read_text", "detect: identity claim: text extraction"),
    (checks, "identity_claim_findings", "detect: identity claim (rest)"),
    (threat, "read_text", "detect: threat: text extraction"),
    (textextract, "document_text", "detect: attachments (PDF/DOCX text)"),
    (tolerant_text, "document_text", "detect: attachments (PDF/DOCX text)"),
    (threat, "paragraph_sentences", "detect: threat: normalisation"),
    (threat, "normalize_text", "detect: threat: normalisation"),
    (threat, "score_text", "detect: threat: phrases"),
    (threat, "score_concepts", "detect: threat: concepts + learned"),
    (checks, "threat_findings", "detect: threat (rest)"),
    (checks, "image_only_findings", "detect: image only"),
    (checks, "dnsbl_findings", "detect: dnsbl"),
    (sw_analyze, "detect", "detect: dispatch"),
    (sw_analyze, "allowlisted", "verdict + plan"),
    (sw_analyze, "decide", "verdict + plan"),
    (sw_analyze, "build_header_value", "verdict + plan"),
    (sw_analyze, "plan", "verdict + plan"),
]
OTHER = "analyze() itself (release check, skip rules, glue)"
TOTAL = "total"


# Stages run on behalf of several others: charged per caller ("... [for <caller>]").
BY_CALLER = frozenset({"parse: MIME tree (Message.email, memoized)",
                       "detect: attachments (PDF/DOCX text)"})


class StageClock:
    """Thread CPU time per stage and message, with nested stages charged to themselves."""

    def __init__(self) -> None:
        self.enabled = False
        # per open stage: [CPU of the wrapped stages it called, its name]
        self._stack: list[list[Any]] = []
        self.now: dict[str, float] = defaultdict(float)  # this message: stage -> self CPU
        self.calls: dict[str, int] = defaultdict(int)
        self.per_message: list[dict[str, float]] = []
        self.kinds: list[str] = []
        self._saved: list[tuple[Any, str, Any]] = []  # (owner, name, what it was)

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return fn(*args, **kwargs)
            key = stage
            if stage in BY_CALLER:
                caller = self._stack[-1][1] if self._stack else "analyze"
                key += f" [for {caller.removeprefix('detect: ')}]"
            frame: list[Any] = [0.0, key]
            self._stack.append(frame)
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - start
                self._stack.pop()
                self.now[key] += elapsed - frame[0]
                self.calls[key] += 1
                if self._stack:
                    self._stack[-1][0] += elapsed
        return timed

    def install(self) -> None:
        for owner, name, stage in STAGES:
            self._saved.append((owner, name, owner.__dict__.get(name)))
            original = getattr(owner, name, None)
            if original is None:
                print(f"profile: {owner.__name__}.{name} not found: stage {stage!r} not split",
                      file=sys.stderr)
                continue
            if isinstance(owner, type) and isinstance(owner.__dict__[name], classmethod):
                setattr(owner, name, classmethod(self.wrap(stage, original.__func__)))
            else:
                setattr(owner, name, self.wrap(stage, original))

    def uninstall(self) -> None:
        for owner, name, saved in reversed(self._saved):
            if saved is not None:
                setattr(owner, name, saved)
        self._saved.clear()

    def message(self, kind: str, run: Callable[[], object]) -> None:
        """Time one message: ``run`` is parse + analyze."""
        self.now.clear()
        self.enabled = True
        start = time.thread_time()
        try:
            run()
        finally:
            total = time.thread_time() - start
            self.enabled = False
        self.now[OTHER] = total - sum(self.now.values())
        self.now[TOTAL] = total
        self.per_message.append(dict(self.now))
        self.kinds.append(kind)

    def stage_names(self) -> list[str]:
        """Stages in STAGES order, each followed by its per-caller parts."""
        seen = {key for times in self.per_message for key in times}
        names = []
        for stage in [*dict.fromkeys(stage for _, _, stage in STAGES), OTHER, TOTAL]:
            names += [stage] if stage in seen else []
            names += sorted(k for k in seen if k.startswith(stage + " [for "))
        return names

    def samples(self, stage: str) -> list[float]:
        return [times.get(stage, 0.0) for times in self.per_message]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stage_table(clock: StageClock) -> list[dict[str, Any]]:
    n = len(clock.per_message)
    total_mean = statistics.fmean(clock.samples(TOTAL))
    rows = []
    for stage in clock.stage_names():
        values = clock.samples(stage)
        mean = statistics.fmean(values)
        rows.append({"stage": stage, "calls_per_msg": round(clock.calls.get(stage, n) / n, 2),
                     "mean_ms": mean * 1e3, "p50_ms": _pct(values, 0.5) * 1e3,
                     "p99_ms": _pct(values, 0.99) * 1e3, "max_ms": max(values) * 1e3,
                     "share": mean / total_mean})
    return rows


def kind_table(clock: StageClock) -> list[dict[str, Any]]:
    """Total CPU per message by kind of mail, and its largest stage."""
    by_kind: dict[str, list[dict[str, float]]] = defaultdict(list)
    for kind, times in zip(clock.kinds, clock.per_message, strict=True):
        by_kind[kind].append(times)
    grand = sum(clock.samples(TOTAL))
    rows = []
    for kind, group in sorted(by_kind.items()):
        totals = [t[TOTAL] for t in group]
        stages = {s: statistics.fmean(t.get(s, 0.0) for t in group)
                  for s in clock.stage_names() if s != TOTAL}
        top = max(stages, key=lambda s: stages[s])
        rows.append({"kind": kind, "messages": len(group),
                     "mean_ms": statistics.fmean(totals) * 1e3,
                     "p99_ms": _pct(totals, 0.99) * 1e3, "cpu_share": sum(totals) / grand,
                     "top_stage": top, "top_stage_ms": stages[top] * 1e3})
    return rows


def print_tables(stages: list[dict[str, Any]], kinds: list[dict[str, Any]]) -> None:
    width = max(len(r["stage"]) for r in stages)
    print(f"\n{'stage (self CPU, ms per message)':{width}} {'calls':>6} {'mean':>8} {'p50':>8} "
          f"{'p99':>8} {'max':>8} {'share':>6}")
    for r in stages:
        print(f"{r['stage']:{width}} {r['calls_per_msg']:6.2f} {r['mean_ms']:8.3f} "
              f"{r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['max_ms']:8.1f} {r['share']:6.1%}")
    print(f"\n{'kind':14} {'msgs':>5} {'mean ms':>8} {'p99 ms':>8} {'CPU share':>9}  "
          "largest stage (mean ms)")
    for r in kinds:
        print(f"{r['kind']:14} {r['messages']:5} {r['mean_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['cpu_share']:9.1%}  {r['top_stage']} ({r['top_stage_ms']:.2f})")


# --- in-process -------------------------------------------------------------------------
def make_config(directory: Path) -> Config:
    """The bundled default policy and example watchlist (as tests/support/analysis.py),
    trusting the corpus's mailing list as an ARC sealer."""
    path = directory / "spoofwatch.yaml"
    path.write_text("authserv_id: mx.test.example\n"
                    f"policy: {POLICIES / 'default.yaml'}\n"
                    f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n"
                    f"trusted_arc_sealers: [{LIST_DOMAIN}]\n", encoding="utf-8")
    return load_config(path)


def envelope(sample: Sample) -> Envelope:
    return Envelope(client_ip=sample.client_ip, helo=sample.helo, mail_from=sample.mail_from,
                    rcpts=(RCPT,))


def in_process(samples: list[Sample], dns_port: int, use_cprofile: bool, top: int
               ) -> tuple[StageClock, dict[str, dict[str, int]], str]:
    """Warm-up pass, timed pass (and the cProfile pass): the clock, verdicts and
    authentication results per kind, and the cProfile listing."""
    with tempfile.TemporaryDirectory() as scratch:
        config = make_config(Path(scratch))
    resolver = Resolver(nameservers=["127.0.0.1"], port=dns_port, timeout=1.0, lifetime=2.0)
    pairs = [(s, envelope(s)) for s in samples]

    def one(sample: Sample, env: Envelope) -> Any:
        return sw_analyze.analyze(env, Message.from_bytes(sample.raw), config,
                                  resolver.for_message())

    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample, env in pairs:  # warm-up: DNS cache, lazy loads, regex caches
        report = one(sample, env)
        tally = outcomes[sample.kind]
        tally[f"level={report.verdict.level.value}"] += 1
        for name in ("dkim", "dmarc", "arc"):
            result = getattr(report, name)
            status = getattr(result, "result", None) if result is not None else None
            tally[f"{name}={getattr(status, 'value', status)}"] += 1
    clock = StageClock()
    clock.install()
    for sample, env in pairs:
        clock.message(sample.kind, functools.partial(one, sample, env))
    clock.uninstall()  # the cProfile pass sees the package's own call graph
    listing = ""
    if use_cprofile:
        # cProfile's default clock (perf_counter): a thread CPU clock is a system call per
        # event, which made the pass six times slower and charged the calls' own cost to
        # call-heavy code. One thread and a warm DNS cache: wall time is CPU time here
        # (the pass's thread CPU is printed next to it to show it).
        profiler = cProfile.Profile()
        cpu = time.thread_time()
        profiler.enable()
        for sample, env in pairs:
            one(sample, env)
        profiler.disable()
        cpu = time.thread_time() - cpu
        listing = _top_functions(profiler, top) + (
            f"\n(cProfile pass: {cpu:.2f} s thread CPU under the profiler, against "
            f"{sum(clock.samples(TOTAL)):.2f} s in the timed pass without it)")
    return clock, {k: dict(v) for k, v in outcomes.items()}, listing


def _top_functions(profiler: cProfile.Profile, top: int) -> str:
    out = []
    for key, title in (("cumulative", "cumulative"), ("tottime", "own (tottime)")):
        stream = _Capture()
        stats = pstats.Stats(profiler, stream=stream)  # type: ignore[arg-type]
        stats.strip_dirs().sort_stats(key).print_stats(top)
        lines = stream.text.splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        out.append(f"\ncProfile, top {top} by {title} time (seconds):")
        out.extend(line for line in lines[start:] if line.strip())
    # Built-ins such as re.Pattern.sub are shared by many callers: say whose they are.
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    out.append("\nwho calls the top 3 by own time (own seconds spent for that caller):")
    for func, (_, _, own, _, callers) in sorted(raw.items(), key=lambda i: -i[1][2])[:3]:
        by = sorted(callers.items(), key=lambda c: -c[1][2])[:3]
        name = f"{Path(func[0]).name}:{func[1]}({func[2]})"
        out.append(f"  {name} ({own:.3f} s): " + "; ".join(
            f"{Path(c[0]).name}:{c[1]}({c[2]}) {v[2]:.3f}" for c, v in by))
    return "\n".join(out)


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s


# --- the service --------------------------------------------------------------------------
def service(samples: list[Sample], dns_port: int, sessions: int) -> dict[str, Any]:
    """The corpus through ``spoofwatch run`` over ``sessions`` concurrent connections."""
    parts = [(s, *split_message(s.raw)) for s in samples]
    workdir = Path(tempfile.mkdtemp(prefix="spoofwatch-profile-"))
    spec = f"unix:{workdir}/spoofwatch.sock"
    metrics_port = free_port()
    config = write_config(workdir, dns_port=dns_port, socket_spec=spec,
                          extra=f"trusted_arc_sealers: [{LIST_DOMAIN}]\nmetrics:\n"
                                f"  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n")
    # write_config turns the DNS cache off for tests whose zones change; ours do not
    config.write_text(config.read_text().replace("cache_size: 0", "cache_size: 10000"))
    proc = MilterProcess(config, spec, workdir / "milter.log")
    proc.start()
    errors: list[str] = []
    try:
        pids = [proc.pid, proc.worker_pid()]

        def send_all() -> float:
            queue: Iterator[int] = iter(range(len(parts)))
            lock = threading.Lock()

            def worker() -> None:
                while True:
                    with lock:
                        i = next(queue, None)
                    if i is None:
                        return
                    sample, headers, body = parts[i]
                    try:
                        with MilterClient(spec, timeout=120) as client:
                            client.send_message(
                                client_ip=sample.client_ip, helo=sample.helo,
                                mail_from=f"<{sample.mail_from}>", rcpts=(f"<{RCPT}>",),
                                headers=headers, body=body, queue_id=f"Q{i:06d}")
                    except Exception as exc:  # noqa: BLE001 - counted and reported
                        with lock:
                            errors.append(f"{sample.kind} #{i}: {type(exc).__name__}: {exc}")

            start = time.monotonic()
            threads = [threading.Thread(target=worker) for _ in range(sessions)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.monotonic() - start

        send_all()  # warm-up
        cpu0, metrics0 = sum(cpu_seconds(p) for p in pids), scrape_metrics(metrics_port)
        seconds = send_all()
        cpu1, metrics1 = sum(cpu_seconds(p) for p in pids), scrape_metrics(metrics_port)
    finally:
        proc.stop()
    checks_ms = {}
    for key, total in metrics1.items():
        if key.startswith("spoofwatch_check_seconds_sum"):
            count_key = key.replace("_sum", "_count")
            n = metrics1[count_key] - metrics0.get(count_key, 0.0)
            if n:
                label = key[key.index("{"):] if "{" in key else ""
                checks_ms[label] = round((total - metrics0.get(key, 0.0)) / n * 1e3, 3)
    n = len(parts)
    return {"messages": n, "sessions": sessions, "seconds": round(seconds, 2),
            "msg_per_s": round(n / seconds, 1),
            "service_cpu_ms_per_msg": round((cpu1 - cpu0) / n * 1e3, 3),
            "service_check_wall_ms_mean": checks_ms, "errors": errors[:20],
            "error_count": len(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--cprofile", action="store_true", help="add a cProfile pass")
    parser.add_argument("--top", type=int, default=10, help="functions listed by --cprofile")
    parser.add_argument("--service", action="store_true",
                        help="also run the corpus through the service on its milter socket")
    parser.add_argument("--sessions", type=int, default=4)
    args = parser.parse_args(argv)

    started = time.monotonic()
    samples = profile_corpus.generate(args.seed, args.messages)
    print(profile_corpus.describe(samples))
    print(f"(generated in {time.monotonic() - started:.1f} s)")
    figures: dict[str, Any] = {"command": " ".join(sys.argv), "seed": args.seed,
                               "messages": len(samples),
                               "corpus_digest": profile_corpus.digest(samples)}
    with DnsTestServer() as dns:
        dns.add_records(profile_corpus.zones())
        clock, outcomes, listing = in_process(samples, dns.port, args.cprofile, args.top)
        figures["dns_queries_in_process"] = len(dns.queries)
        stages, kinds = stage_table(clock), kind_table(clock)
        print("\nresults per kind (warm-up pass):")
        for kind, tally in sorted(outcomes.items()):
            print(f"  {kind:14} " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
        print_tables(stages, kinds)
        figures.update(stages=stages, kinds=kinds, outcomes=outcomes)
        if listing:
            print(listing)
            figures["cprofile"] = listing
        if args.service:
            result = service(samples, dns.port, args.sessions)
            figures["service"] = result
            print(f"\nservice: {result['messages']} messages, {result['sessions']} sessions, "
                  f"{result['seconds']} s ({result['msg_per_s']} msg/s), service CPU "
                  f"{result['service_cpu_ms_per_msg']} ms per message, "
                  f"{result['error_count']} errors")
            for label, value in result["service_check_wall_ms_mean"].items():
                print(f"  service mean wall per check {label}: {value} ms")
            for error in result["errors"]:
                print(f"  error: {error}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
