"""Operating spoofwatch behind a real Postfix: the milter dies or stops, mail is deferred, not lost.

A rig of its own (module scope: Postfix, sink, spoofwatch), because these tests kill and
restart the milter, which the session's shared rig must never see.
"""

from __future__ import annotations

import os
import signal
import smtplib
from collections.abc import Iterator

import pytest

from support.dnsserver import DnsTestServer
from support.mailfactory import make_message
from support.postfix import Mta, send
from support.rig import mta_rig

FOREIGN_IP = "203.0.113.66"
FORGED = make_message("Campaign <news@campaign.example>", "voter@recipient.example",
                      "Donate now", "Send money.\n")


@pytest.fixture(scope="module")
def ops_mta(dns_server: DnsTestServer) -> Iterator[Mta]:
    with mta_rig("spoofwatch-ops-", dns_server.port) as rig:
        yield rig


@pytest.fixture()
def rig(ops_mta: Mta, dns: DnsTestServer) -> Mta:
    dns.add("campaign.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")
    ops_mta.sink.clear()
    ops_mta.postfix.clear_queue()
    milter = ops_mta.milter
    if milter.proc is None or milter.proc.poll() is not None:
        milter.start()
    return ops_mta


def _send_forged(mta: Mta) -> int:
    result = send(mta.postfix.port, FORGED, client_ip=FOREIGN_IP, helo="bulk.sender.example",
                  mail_from="x@campaign.example")
    return result.code


def _mail_flows(mta: Mta) -> None:
    assert _send_forged(mta) == 250
    [delivered] = mta.sink.wait_for(1)
    assert delivered.email()["X-Spoofwatch-Verdict"] == "spoof; score=6; findings=dmarc_fail_reject"


def test_message_is_deferred_when_the_worker_dies_mid_message_and_flows_after_restart(
    rig: Mta,
) -> None:
    # The supervisor replaces a killed worker by itself (issue 9); systemd's Restart= is
    # only the outer net. The message in flight is deferred, never lost or let through.
    milter = rig.milter
    head, _, tail = FORGED.partition(b"\r\n\r\n")
    with smtplib.SMTP("127.0.0.1", rig.postfix.port, timeout=30) as smtp:
        smtp.ehlo("test-client.example")
        assert smtp.docmd("XCLIENT", f"ADDR={FOREIGN_IP} HELO=bulk.sender.example")[0] == 220
        smtp.ehlo_resp = None
        smtp.ehlo("bulk.sender.example")
        assert smtp.mail("x@campaign.example")[0] == 250
        assert smtp.rcpt("voter@recipient.example")[0] == 250
        assert smtp.docmd("DATA")[0] == 354
        smtp.send(head + b"\r\n\r\n")
        killed = milter.worker_pid()
        os.kill(killed, signal.SIGKILL)
        smtp.send(tail + b"\r\n.\r\n")
        code, reply = smtp.getreply()
    assert (code, reply.split(b" ")[0]) == (451, b"4.7.1"), reply
    assert rig.sink.messages == []
    assert rig.postfix.queue_json() == []
    supervisor = milter.pid
    milter.wait_for_replacement(killed)
    assert milter.pid == supervisor
    _mail_flows(rig)


def test_mail_is_deferred_while_the_milter_is_stopped_and_flows_after_start(rig: Mta) -> None:
    milter = rig.milter
    milter.signal(signal.SIGTERM)
    assert milter.wait(timeout=15) == 0
    code = _send_forged(rig)
    assert 400 <= code < 500
    assert rig.sink.messages == []
    milter.start()
    _mail_flows(rig)


def test_sighup_reload_does_not_interrupt_mail(rig: Mta) -> None:
    milter = rig.milter
    worker = milter.worker_pid()
    reloads = milter.log().count("configuration reloaded from")
    milter.signal(signal.SIGHUP)
    milter.wait_for_log("configuration reloaded from", count=reloads + 1)
    assert milter.worker_pid() == worker
    _mail_flows(rig)
