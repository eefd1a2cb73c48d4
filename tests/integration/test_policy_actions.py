"""Policy actions that depend on how sure the verdict is."""

from __future__ import annotations

from pathlib import Path

from spoofwatch.actions import Reply
from spoofwatch.analyze import analyze
from spoofwatch.config import load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import Envelope
from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.milterproc import POLICIES, write_config


def _strict(tmp_path: Path, port: int):
    path = write_config(tmp_path, dns_port=port, socket_spec=f"unix:{tmp_path}/s.sock",
                        policy=POLICIES / "strict.yaml")
    return load_config(path)


def _run(tmp_path: Path, port: int) -> tuple[Reply, ...]:
    config = _strict(tmp_path, port)
    resolver = Resolver(nameservers=["127.0.0.1"], port=port, timeout=0.3, lifetime=0.5,
                        cache_size=0)
    raw = make_message("DNC <info@democrats.org>", "voter@recipient.example", "Urgent", "x\n")
    envelope = Envelope(client_ip="203.0.113.66", helo="bulk.example",
                        mail_from="x@bulk.example")
    report = analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(2.0))
    return tuple(a for a in report.actions if isinstance(a, Reply))


def test_strict_policy_rejects_a_spoof_of_a_watched_organization(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    dns.add("democrats.org", "TXT", "v=spf1 ip4:192.0.2.10 -all")
    dns.add("democrats.org", "MX", "10 mx.democrats.org")
    dns.add("_dmarc.democrats.org", "TXT", "v=DMARC1; p=reject")
    assert _run(tmp_path, dns_server.port) == (
        Reply("reject", "550", "5.7.1",
              "Message rejected: the sender could not be verified (spoofwatch)"),)


def test_strict_policy_tempfails_when_dns_failed(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    dns.add("democrats.org", "MX", "10 mx.democrats.org")
    dns.never_answer("_dmarc.democrats.org")
    assert _run(tmp_path, dns_server.port) == (
        Reply("tempfail", "451", "4.7.1", "Message deferred by spoofwatch, try again later"),)
