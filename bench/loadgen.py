"""A small SMTP load generator: K concurrent sessions, one fixed message each time.

Why not smtp-source: it sends a body of its own making, unsigned, from 127.0.0.1, so a
DKIM/DMARC milter has nothing to verify and skips the client or finds no signature. A
fair comparison needs every milter to do its whole job, so every message here is the
same DKIM-signed message, and each session first says ``XCLIENT ADDR=…`` so that
Postfix and the milters see a client address the sender's SPF record authorizes.

Each message is one SMTP connection, as smtp-source does by default and as most
inbound mail arrives: connect, EHLO, XCLIENT, EHLO, MAIL, RCPT, DATA, QUIT. So the
milter connection set-up (and, on TCP, its stalls) is part of every message's cost.

Two latencies are recorded per message: ``session`` from connect() to the reply to the
final "." (what a sending server waits for), and ``eom`` from sending the final "." to
that reply (the part spent in the milters' end-of-message work).
"""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Envelope:
    client_ip: str
    helo: str
    mail_from: str
    rcpt: str


@dataclass
class LoadResult:
    sent: int = 0  # messages answered 250 after DATA
    failed: int = 0  # any other outcome (a 4xx/5xx reply, a dropped connection)
    seconds: float = 0.0  # wall time from the first connect to the last reply
    session_latencies: list[float] = field(default_factory=list)
    eom_latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first few, for the report

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class SmtpFailure(Exception):
    pass


class _Conn:
    """Just enough SMTP client: read a (multi-line) reply, send a command."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def reply(self, expect: int) -> None:
        while True:
            line = self.reader.readline(4096)
            if not line:
                raise SmtpFailure(f"connection closed (expected {expect})")
            if len(line) < 4 or line[3:4] != b"-":
                break
        code = int(line[:3]) if line[:3].isdigit() else 0
        if code != expect:
            raise SmtpFailure(line.decode("ascii", "replace").strip())

    def command(self, text: str, expect: int) -> None:
        self.sock.sendall(text.encode("ascii") + b"\r\n")
        self.reply(expect)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def dot_stuff(message: bytes) -> bytes:
    """The DATA payload: leading dots doubled, CRLF at the end, then the terminating dot."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return stuffed + b"\r\n.\r\n"


def send_one(port: int, payload: bytes, env: Envelope, timeout: float) -> tuple[float, float]:
    """One message on a fresh connection; (session seconds, end-of-message seconds)."""
    start = time.perf_counter()
    conn = _Conn(port, timeout)
    try:
        conn.reply(220)
        conn.command("EHLO loadgen.bench.example", 250)
        conn.command(f"XCLIENT ADDR={env.client_ip} NAME=[UNAVAILABLE] HELO={env.helo}", 220)
        conn.command(f"EHLO {env.helo}", 250)
        conn.command(f"MAIL FROM:<{env.mail_from}>", 250)
        conn.command(f"RCPT TO:<{env.rcpt}>", 250)
        conn.command("DATA", 354)
        conn.sock.sendall(payload[:-3])
        eom_start = time.perf_counter()
        conn.sock.sendall(payload[-3:])
        conn.reply(250)
        done = time.perf_counter()
        conn.command("QUIT", 221)
        return done - start, done - eom_start
    finally:
        conn.close()


def run_load(port: int, message: bytes, env: Envelope, *, sessions: int, messages: int,
             max_seconds: float, timeout: float = 30.0) -> LoadResult:
    """Send up to ``messages`` messages over ``sessions`` concurrent sessions.

    Stops early once ``max_seconds`` have passed (each session finishes the message it is
    on), so a slow configuration cannot stretch the benchmark.
    """
    payload = dot_stuff(message)
    result = LoadResult()
    lock = threading.Lock()
    tickets = iter(range(messages))
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if next(tickets, None) is None:
                    return
            try:
                session, eom = send_one(port, payload, env, timeout)
            except (OSError, SmtpFailure) as exc:
                with lock:
                    result.failed += 1
                    if len(result.errors) < 5:
                        result.errors.append(str(exc))
                continue
            with lock:
                result.sent += 1
                result.session_latencies.append(session)
                result.eom_latencies.append(eom)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + 2 * timeout)
    result.seconds = time.perf_counter() - start
    return result


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
