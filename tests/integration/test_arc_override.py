"""Mailing lists break the author's DKIM; a trusted ARC sealer may vouch for the original."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.results import AuthResult, Envelope, Level
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, mailing_list_forward, make_message, publish_key, rsa_key
from support.milterproc import write_config

LIST_IP = "198.51.100.77"
LIST_RESULTS = ("spf=pass smtp.mailfrom=author.example; dkim=pass header.d=author.example; "
                "dmarc=pass header.from=author.example")


def _config(tmp_path: Path, port: int, trusted: str) -> Config:
    path = write_config(tmp_path, dns_port=port, socket_spec=f"unix:{tmp_path}/s.sock",
                        extra=f"trusted_arc_sealers: [{trusted}]\n" if trusted else "")
    return load_config(path)


def _zones(dns: DnsTestServer) -> None:
    dns.add("author.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")
    dns.add("author.example", "MX", "10 mx.author.example")
    dns.add("_dmarc.author.example", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "a1", "author.example", rsa_key())
    dns.add("lists.example.net", "TXT", f"v=spf1 ip4:{LIST_IP} -all")
    dns.add("lists.example.net", "MX", "10 mx.lists.example.net")
    publish_key(dns, "l1", "lists.example.net", rsa_key(name="list"))
    dns.add("evil.example", "TXT", f"v=spf1 ip4:{LIST_IP} -all")
    publish_key(dns, "e1", "evil.example", rsa_key(name="evil"))


def _list_message(sealer: str = "lists.example.net", authserv_id: str = "lists.example.net",
                  selector: str = "l1", key_name: str = "list") -> bytes:
    original = dkim_sign(
        make_message("Author <news@author.example>", "list@lists.example.net", "Meeting",
                     "See you Tuesday.\n"),
        rsa_key(), "a1", "author.example",
    )
    return mailing_list_forward(original, rsa_key(name=key_name), selector, sealer,
                                authserv_id=authserv_id, results=LIST_RESULTS)


def _analyze(raw: bytes, config: Config, sender_domain: str = "lists.example.net"):
    resolver = Resolver(nameservers=["127.0.0.1"], port=config.dns.port, timeout=0.5,
                        lifetime=1.0, cache_size=0)
    envelope = Envelope(client_ip=LIST_IP, helo=f"mx.{sender_domain}",
                        mail_from=f"bounce@{sender_domain}")
    return analyze(envelope, Message.from_bytes(raw), config, resolver.for_message(3.0))


@pytest.mark.parametrize("trusted", ["", "lists.example.net"])
def test_list_mail_breaks_author_dkim_and_fails_dmarc_without_override(
    trusted: str, dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    report = _analyze(_list_message(), _config(tmp_path, dns_server.port, trusted))
    assert report.arc is not None and report.arc.result is AuthResult.PASS
    assert report.arc.sealers == ("lists.example.net",)
    assert report.dkim is not None and [s.result for s in report.dkim.signatures] == [
        AuthResult.FAIL]
    assert report.dmarc is not None and report.dmarc.result is AuthResult.FAIL
    if trusted:
        assert report.dmarc.override == "arc trusted sealer lists.example.net"
        assert report.verdict.names == ("arc_override",)
        assert report.level is Level.CLEAN
        ar = report.actions[0]
        assert "dmarc=fail (p=reject override: arc trusted sealer lists.example.net)" in (
            ar.value)  # type: ignore[union-attr]
    else:
        assert report.dmarc.override == ""
        assert report.verdict.names == ("dmarc_fail_reject",)
        assert report.level is Level.SPOOF


def test_a_sealer_cannot_borrow_a_trusted_authserv_id(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    """evil.example seals with its own key but writes lists.example.net as authserv-id."""
    _zones(dns)
    raw = _list_message(sealer="evil.example", authserv_id="lists.example.net",
                        selector="e1", key_name="evil")
    report = _analyze(raw, _config(tmp_path, dns_server.port, "lists.example.net"),
                      sender_domain="evil.example")
    assert report.arc is not None and report.arc.result is AuthResult.PASS
    assert report.dmarc is not None and report.dmarc.override == ""
    assert report.level is Level.SPOOF


def test_a_failed_chain_is_never_trusted(
    dns: DnsTestServer, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    _zones(dns)
    raw = _list_message().replace(b"See you Tuesday.", b"See you Friday!!")
    report = _analyze(raw, _config(tmp_path, dns_server.port, "lists.example.net"))
    assert report.arc is not None and report.arc.result is AuthResult.FAIL
    assert report.dmarc is not None and report.dmarc.override == ""
    assert report.level is Level.SPOOF
