"""The loopback SMTP sink of the Postfix tests keeps answering, whatever a module set.

dnstwist sets a process-wide socket timeout (12 s) when it is imported; in full runs the
sink's listening socket inherited it, accept() ended with TimeoutError after 12 idle
seconds, the sink stopped, and a Postfix test's mail sat in the active queue until the
test gave up (an intermittent failure of the walk-through in full runs only).
"""

from __future__ import annotations

import smtplib
import socket
import struct
from collections.abc import Iterator

import dnstwist  # noqa: F401 - imported for its side effect, as the recall test does
import pytest

from support.postfix import SmtpSink


@pytest.fixture
def short_default_timeout() -> Iterator[None]:
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.01)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def test_the_test_session_runs_without_a_process_wide_socket_timeout() -> None:
    # set to 12 s by dnstwist when this module was collected; tests/conftest.py undoes it
    assert socket.getdefaulttimeout() is None


def test_the_sinks_listening_socket_blocks_under_a_default_timeout(
    short_default_timeout: None,
) -> None:
    sink = SmtpSink()
    sink.start()
    try:
        assert sink._sock.gettimeout() is None
    finally:
        sink.stop()


def test_the_sink_keeps_accepting_after_a_connection_reset_at_once() -> None:
    sink = SmtpSink()
    sink.start()
    try:
        aborted = socket.create_connection((sink.host, sink.port))
        aborted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        aborted.close()  # RST
        with smtplib.SMTP(sink.host, sink.port, timeout=30) as client:
            client.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nhi\r\n")
        assert [m.mail_from for m in sink.wait_for(1, timeout=30)] == ["a@example.org"]
    finally:
        sink.stop()
