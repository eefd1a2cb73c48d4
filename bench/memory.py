"""Peak memory of the real service while N large messages arrive at once.

    .venv/bin/python bench/memory.py [--messages 64] [--size-mb 40] [--json FILE]

Starts a loopback DNS server and ``spoofwatch run`` (tests/support/milterproc.py), then
sends N DKIM-signed messages of about S MB each over the milter socket, all at once (one
connection per message, like N Postfix smtpd processes). While they run it samples
VmRSS of the service's processes (the supervisor and its worker) from /proc every 20 ms;
at the end it reads their VmHWM. It prints the peak of the summed samples, the summed
VmHWM, how many messages were answered, what they got, and errors. Every message is
checked in full: the A-R header it gets must say dkim=pass (the signature covers the
whole body).

The sending side keeps one copy of the message; the service spools bodies to disk past
milter.spool_threshold (temporary files under $TMPDIR).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.dnsserver import DnsTestServer  # noqa: E402
from support.mailfactory import dkim_sign, publish_key, rsa_key  # noqa: E402
from support.milterclient import MilterClient, MilterOutcome, split_message  # noqa: E402
from support.milterproc import MilterProcess, write_config  # noqa: E402

DOMAIN = "campaign.example"
CLIENT_IP = "198.51.100.10"
LINE = b"Join us on Saturday at the town hall; bring a friend and a folding chair.\r\n"


@dataclass
class Figures:
    messages: int
    size_bytes: int
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    dkim_pass: int = 0
    peak_rss_mb: float = 0.0  # highest sum of VmRSS over the service's processes (sampled)
    hwm_sum_mb: float = 0.0  # sum of the processes' VmHWM at the end (an upper bound)
    idle_rss_mb: float = 0.0  # sum of VmRSS before the first message
    seconds: float = 0.0
    processes: list[int] = field(default_factory=list)


def _message(size: int) -> bytes:
    head = (f"From: Campaign News <news@{DOMAIN}>\r\nTo: voter@recipient.example\r\n"
            "Subject: The whole archive\r\nMessage-ID: <big-1@campaign.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    body = LINE * max(1, size // len(LINE))
    return dkim_sign(head + body, rsa_key(), "s1", DOMAIN)


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Sums VmRSS over the given processes every ``interval`` seconds; keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, sum(_status_kb(p, "VmRSS") for p in self.pids))
            self.done.wait(self.interval)


def _send(spec: str, headers: list[tuple[str, str]], body: bytes,
          timeout: float) -> MilterOutcome:
    with MilterClient(spec, timeout=timeout) as client:
        return client.send_message(client_ip=CLIENT_IP, helo=f"mail.{DOMAIN}",
                                   mail_from=f"<news@{DOMAIN}>", headers=headers, body=body)


def run(messages: int, size: int, timeout: float) -> Figures:
    figures = Figures(messages, size)
    raw = _message(size)
    headers, body = split_message(raw)
    del raw
    dns = DnsTestServer()
    dns.start()
    workdir = Path(tempfile.mkdtemp(prefix="spoofwatch-membench-"))
    spec = f"unix:{workdir}/spoofwatch.sock"
    try:
        dns.add(DOMAIN, "TXT", f"v=spf1 ip4:{CLIENT_IP} -all")
        dns.add(DOMAIN, "MX", f"10 mx.{DOMAIN}")
        dns.add(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject")
        publish_key(dns, "s1", DOMAIN, rsa_key())
        config = write_config(workdir, dns_port=dns.port, socket_spec=spec)
        # messages wait their turn for analysis (service.ANALYSIS_BUDGET) at most
        # milter.timeout seconds: give the last of N large ones time to get there
        config.write_text(config.read_text().replace("  timeout: 30\n", "  timeout: 3600\n"))
        proc = MilterProcess(config, spec, workdir / "milter.log")
        proc.start()
        try:
            figures.processes = [proc.pid, proc.worker_pid()]
            figures.idle_rss_mb = round(
                sum(_status_kb(p, "VmRSS") for p in figures.processes) / 1024, 1)
            sampler = Sampler(figures.processes)
            sampler.start()
            lock = threading.Lock()

            def one() -> None:
                try:
                    outcome = _send(spec, headers, body, timeout)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        figures.errors.append(f"{type(exc).__name__}: {exc}")
                    return
                ar = [m.args[-1] for m in outcome.modifications
                      if m.kind in ("insheader", "addheader")
                      and m.args[-2] == "Authentication-Results"]
                with lock:
                    figures.answered += 1
                    figures.outcomes[outcome.action] = figures.outcomes.get(outcome.action, 0) + 1
                    if ar and "dkim=pass" in ar[0]:
                        figures.dkim_pass += 1

            start = time.monotonic()
            threads = [threading.Thread(target=one) for _ in range(messages)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            figures.seconds = round(time.monotonic() - start, 1)
            sampler.done.set()
            sampler.join()
            figures.peak_rss_mb = round(sampler.peak_kb / 1024, 1)
            figures.hwm_sum_mb = round(sum(_status_kb(p, "VmHWM") for p in figures.processes)
                                       / 1024, 1)
        finally:
            proc.stop()
    finally:
        dns.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=64)
    parser.add_argument("--size-mb", type=float, default=40.0)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="client-side seconds to wait for each answer")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = run(args.messages, int(args.size_mb * 1_000_000), args.timeout)
    text = json.dumps(asdict(figures), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if not figures.errors and figures.dkim_pass == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
