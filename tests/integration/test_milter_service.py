"""The real milter service over its real socket, driven like an MTA drives it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key
from support.milterclient import MilterClient, MilterOutcome, Modification
from support.milterproc import REPO, MilterProcess, free_port, write_config
from support.scratch import scratch_dir

AUTHSERV = "mx.test.example"
CAMPAIGN_IP = "198.51.100.10"
FOREIGN_IP = "203.0.113.66"


@pytest.fixture(scope="module")
def service_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and later tests let the
    # postfix user reach sockets in here.
    with scratch_dir("spoofwatch-svc-", mode=0o755) as path:
        yield path


@pytest.fixture(scope="module")
def milter_unix(dns_server: DnsTestServer, service_dir: Path) -> Iterator[MilterProcess]:
    spec = f"unix:{service_dir}/spoofwatch.sock"
    config = write_config(service_dir, dns_port=dns_server.port, socket_spec=spec,
                          extra="trusted_arc_sealers: [lists.example.net]\n")
    proc = MilterProcess(config, spec, service_dir / "milter.log")
    proc.start()
    yield proc
    proc.stop()


def _campaign_zone(dns: DnsTestServer) -> None:
    dns.add("campaign.example", "TXT", f"v=spf1 ip4:{CAMPAIGN_IP} -all")
    dns.add("campaign.example", "MX", "10 mx.campaign.example")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")
    dns.add("mail.campaign.example", "TXT", f"v=spf1 ip4:{CAMPAIGN_IP} -all")
    publish_key(dns, "s1", "campaign.example", rsa_key())


def _newsletter() -> bytes:
    msg = make_message("Campaign News <news@campaign.example>", "voter@recipient.example",
                       "This week on the trail", "Join us on Saturday.\n")
    return dkim_sign(msg, rsa_key(), "s1", "campaign.example")


def _send(milter: MilterProcess, raw: bytes, *, client_ip: str = CAMPAIGN_IP,
          helo: str = "mail.campaign.example", mail_from: str = "<news@campaign.example>",
          **kw: object) -> MilterOutcome:
    with MilterClient(milter.socket_spec, timeout=20) as client:
        return client.send_raw(raw, client_ip=client_ip, helo=helo, mail_from=mail_from, **kw)


def _added(outcome: MilterOutcome, name: str) -> list[str]:
    out = []
    for mod in outcome.modifications:
        if mod.kind == "addheader" and mod.args[0] == name:
            out.append(mod.args[1])
        if mod.kind == "insheader" and mod.args[1] == name:
            out.append(mod.args[2])
    return out


def _b_prefix(raw: bytes) -> str:
    """The first 8 characters of the DKIM signature's b= tag (read as a tag list: a search
    for "b=" could find it inside another tag's base64, bh= say)."""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b"").replace(b"\r\n ", b"")
    signature = next(line for line in head.split(b"\r\n")
                     if line.lower().startswith(b"dkim-signature:"))
    tags = dict(tag.strip().split(b"=", 1) for tag in signature.split(b":", 1)[1].split(b";")
                if b"=" in tag)
    prefix = b"".join(tags[b"b"].split())[:8].decode()
    # A value with a "/" is not an RFC 2045 token: the header writes it quoted.
    return f'"{prefix}"' if "/" in prefix else prefix


def test_unix_socket_is_created_group_writable(milter_unix: MilterProcess) -> None:
    path = milter_unix.socket_spec[5:]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert mode == 0o660


def test_authenticated_newsletter_gets_exact_results_and_is_clean(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    _campaign_zone(dns)
    raw = _newsletter()
    outcome = _send(milter_unix, raw)
    assert outcome.action == "accept"
    ar = _added(outcome, "Authentication-Results")
    assert ar == [
        f"{AUTHSERV};\n\tspf=pass (sender SPF authorized) smtp.mailfrom=news@campaign.example;\n"
        f"\tspf=pass (sender SPF authorized) smtp.helo=mail.campaign.example;\n"
        f"\tdkim=pass (signature verified) header.d=campaign.example header.b={_b_prefix(raw)} "
        f"header.s=s1 header.a=rsa-sha256;\n"
        f"\tarc=none (no ARC sets);\n\tdmarc=pass (p=reject) header.from=campaign.example"
    ]
    # the A-R header goes to the very top (RFC 8601 section 5)
    assert Modification("insheader", (0, "Authentication-Results", ar[0])) in outcome.modifications
    assert _added(outcome, "X-Spoofwatch-Verdict") == ["clean; score=0; findings=none"]
    assert _added(outcome, "X-Spoofwatch-Reasons") == ["No problems found."]
    assert [m.kind for m in outcome.modifications].count("chgheader") == 0


def test_forged_mail_from_enforcing_domain_is_spoof_and_tagged(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    _campaign_zone(dns)
    raw = make_message("Campaign <news@campaign.example>", "voter@recipient.example",
                       "Donate now", "Send money.\n")
    outcome = _send(milter_unix, raw, client_ip=FOREIGN_IP, helo="bulk.sender.example",
                    mail_from="<x@campaign.example>")
    assert outcome.action == "accept"
    assert _added(outcome, "X-Spoofwatch-Verdict") == [
        "spoof; score=6; findings=dmarc_fail_reject"
    ]
    [ar] = _added(outcome, "Authentication-Results")
    assert "spf=fail (SPF fail - not authorized) smtp.mailfrom=x@campaign.example;" in ar
    assert "dmarc=fail (p=reject) header.from=campaign.example policy.dmarc=reject" in ar
    assert Modification("chgheader", (1, "Subject", "[SPOOF?] Donate now")) in (
        outcome.modifications
    )


def test_forged_authentication_results_claiming_our_id_is_removed(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    _campaign_zone(dns)
    raw = make_message(
        "Campaign News <news@campaign.example>", "voter@recipient.example", "Hi", "Body\n",
        extra_headers=[
            ("Authentication-Results", "other.example; dkim=pass header.d=x.example"),
            ("Authentication-Results",
             f"{AUTHSERV.upper()}; dmarc=pass header.from=campaign.example"),
            ("Authentication-Results", f"(comment) {AUTHSERV} ; spf=pass"),
            ("X-Spoofwatch-Verdict", "clean; score=0; findings=none"),
        ],
    )
    raw = dkim_sign(raw, rsa_key(), "s1", "campaign.example")
    outcome = _send(milter_unix, raw)
    deletions = [m for m in outcome.modifications if m.kind == "chgheader" and m.args[2] == ""]
    # highest index first: libmilter counts among the headers that remain
    assert deletions == [
        Modification("chgheader", (3, "Authentication-Results", "")),
        Modification("chgheader", (2, "Authentication-Results", "")),
        Modification("chgheader", (1, "X-Spoofwatch-Verdict", "")),
    ]


def test_trusted_client_is_not_checked(dns: DnsTestServer, milter_unix: MilterProcess) -> None:
    raw = make_message("a@unchecked.example", "b@recipient.example", "internal", "x\n")
    outcome = _send(milter_unix, raw, client_ip="10.99.1.2", helo="internal.example",
                    mail_from="<a@unchecked.example>")
    assert outcome.action == "accept"
    assert outcome.modifications == ()
    assert dns.queries == []


def test_authenticated_submission_is_not_checked(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    raw = make_message("a@unchecked.example", "b@recipient.example", "from a user", "x\n")
    outcome = _send(milter_unix, raw, client_ip=FOREIGN_IP, helo="laptop",
                    mail_from="<a@unchecked.example>",
                    macros={"mail": {"{auth_authen}": "alice"}})
    assert outcome.modifications == ()
    assert dns.queries == []


def test_message_without_from_gets_a_defined_verdict(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    raw = b"To: b@recipient.example\r\nSubject: no author\r\n\r\nbody\r\n"
    outcome = _send(milter_unix, raw, client_ip=FOREIGN_IP, helo="x.example",
                    mail_from="<a@nowhere.example>")
    assert outcome.action == "accept"
    assert _added(outcome, "X-Spoofwatch-Verdict") == [
        "suspect; score=4; findings=from_header_invalid"
    ]


def test_two_from_headers_get_a_defined_verdict(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    raw = (b"From: a@example.com\r\nFrom: b@victim.example\r\nTo: c@recipient.example\r\n"
           b"Subject: two authors\r\n\r\nbody\r\n")
    outcome = _send(milter_unix, raw, client_ip=FOREIGN_IP, helo="x.example",
                    mail_from="<a@example.com>")
    assert _added(outcome, "X-Spoofwatch-Verdict") == [
        "suspect; score=4; findings=from_header_invalid"
    ]
    [ar] = _added(outcome, "Authentication-Results")
    assert "dmarc=" not in ar


def test_concurrent_sessions_each_get_their_own_verdict(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    _campaign_zone(dns)
    good = _newsletter()
    bad = make_message("Campaign <news@campaign.example>", "v@recipient.example", "Fake", "x\n")
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            if i % 2:
                outcome = _send(milter_unix, bad, client_ip=FOREIGN_IP, helo="bulk.example",
                                mail_from="<x@campaign.example>")
            else:
                outcome = _send(milter_unix, good)
            results[i] = _added(outcome, "X-Spoofwatch-Verdict")[0].split(";")[0]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == {i: ("spoof" if i % 2 else "clean") for i in range(16)}


def test_inet_socket_serves_the_same_verdicts(
    dns: DnsTestServer, dns_server: DnsTestServer, service_dir: Path
) -> None:
    _campaign_zone(dns)
    port = free_port()
    spec = f"inet:127.0.0.1:{port}"
    sub = service_dir / "inet"
    sub.mkdir(exist_ok=True)
    config = write_config(sub, dns_port=dns_server.port, socket_spec=spec)
    proc = MilterProcess(config, spec, sub / "milter.log")
    proc.start()
    try:
        outcome = _send(proc, _newsletter())
    finally:
        proc.stop()
    assert _added(outcome, "X-Spoofwatch-Verdict") == ["clean; score=0; findings=none"]
    assert "TCP_NODELAY" not in proc.log()  # no warning that it could not be set


def test_bad_config_exits_78_and_names_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"authserv_id: mx.example\npolicy: {REPO}/policies/default.yaml\n"
                      "dns:\n  timeout: fast\n")
    result = subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 78
    assert f"{config}:4: dns.timeout: must be a number, got str 'fast'" in result.stderr


def test_service_survives_a_client_that_drops_mid_message(
    dns: DnsTestServer, milter_unix: MilterProcess
) -> None:
    _campaign_zone(dns)
    with MilterClient(milter_unix.socket_spec, timeout=10) as client:
        client.send_until("body", _newsletter(), client_ip=CAMPAIGN_IP,
                          helo="mail.campaign.example", mail_from="<news@campaign.example>")
    outcome = _send(milter_unix, _newsletter())
    assert _added(outcome, "X-Spoofwatch-Verdict") == ["clean; score=0; findings=none"]
