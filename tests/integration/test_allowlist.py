"""The allowlist clears false positives, but only for mail authenticated as its sender."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.analyze import analyze
from spoofwatch.config import ConfigError, load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import Envelope, Level
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key
from support.milterproc import write_config

SENDER_IP = "198.51.100.20"


def _zones(dns: DnsTestServer) -> None:
    dns.add("votedemocrats.org", "TXT", f"v=spf1 ip4:{SENDER_IP} -all")
    dns.add("votedemocrats.org", "MX", "10 mx.votedemocrats.org")
    dns.add("_dmarc.votedemocrats.org", "TXT", "v=DMARC1; p=none")
    publish_key(dns, "v1", "votedemocrats.org", rsa_key())


def _report(tmp_path: Path, port: int, allowlist: str, *, signed: bool, client_ip: str):
    extra = f"allowlist: [{allowlist}]\n" if allowlist else ""
    config = load_config(write_config(tmp_path, dns_port=port,
                                      socket_spec=f"unix:{tmp_path}/s.sock", extra=extra))
    raw = make_message("Vote Democrats <news@votedemocrats.org>", "v@recipient.example",
                       "Canvassing this weekend", "Join us.\n")
    if signed:
        raw = dkim_sign(raw, rsa_key(), "v1", "votedemocrats.org")
    resolver = Resolver(nameservers=["127.0.0.1"], port=port, timeout=1.0, lifetime=2.0,
                        cache_size=0)
    envelope = Envelope(client_ip=client_ip, helo="mail.example",
                        mail_from="bounce@votedemocrats.org")
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(4.0))


def test_without_allowlist_the_lookalike_is_flagged(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _report(tmp_path, dns_server.port, "", signed=True, client_ip=SENDER_IP)
    assert "lookalike_domain" in report.verdict.names
    assert report.level is not Level.CLEAN


@pytest.mark.parametrize("entry", ["votedemocrats.org", "news@votedemocrats.org"])
def test_authenticated_allowlisted_sender_is_clean(
    entry: str, dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _report(tmp_path, dns_server.port, entry, signed=True, client_ip=SENDER_IP)
    assert report.level is Level.CLEAN
    assert report.verdict.names == ("allowlisted",)
    assert report.verdict.findings[0].text.endswith(
        "findings cleared: display_name_impersonation,lookalike_domain.")


def test_allowlist_does_not_apply_to_a_spoof_of_the_sender(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _report(tmp_path, dns_server.port, "votedemocrats.org", signed=False,
                     client_ip="203.0.113.66")
    assert "allowlisted" not in report.verdict.names
    assert "lookalike_domain" in report.verdict.names


def test_allowlist_entries_are_validated(tmp_path: Path, dns_server: DnsTestServer) -> None:
    path = write_config(tmp_path, dns_port=dns_server.port, socket_spec=f"unix:{tmp_path}/s",
                        extra="allowlist: ['not a domain']\n")
    with pytest.raises(ConfigError, match=r"allowlist: 'not a domain' is neither a domain"):
        load_config(path)
