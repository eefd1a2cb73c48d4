"""The test milter client speaks the milter protocol the way Postfix does.

Driven against tests/support/trivial_milter.py, a real pymilter/libmilter
milter run as a subprocess on a unix socket and on a loopback inet socket.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.milterclient import (
    ALL_ACTIONS,
    CHUNK_SIZE,
    MilterClient,
    MilterConnectionClosed,
    MilterError,
    MilterOutcome,
    MilterTimeout,
    Modification,
    Proto,
    RcptRefusal,
    apply_modifications,
    parse_socket_spec,
    split_message,
)

TRIVIAL_MILTER = Path(__file__).resolve().parents[1] / "support" / "trivial_milter.py"
START_DEADLINE = 15.0
ONE_MEGABYTE_BODY = b"".join(b"line %06d of a long body, padded to be a bit wider\r\n" % i
                             for i in range(20000))[: 1 << 20]


@dataclass(frozen=True)
class RunningMilter:
    spec: str  # how the client reaches it
    port: int = 0  # inet only


@contextmanager
def running_milter(
    pymilter_spec: str, client_spec: str, log_path: Path, variant: str = "full"
) -> Iterator[None]:
    """Run trivial_milter.py until the block ends; wait until it accepts connections."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(TRIVIAL_MILTER), pymilter_spec, "--variant", variant],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_accepting(client_spec, process, log_path)
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def _wait_until_accepting(spec: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    family, address = parse_socket_spec(spec)
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"trivial milter exited: {log_path.read_text(errors='replace')}")
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(address)
                return
            except OSError:
                pass
        time.sleep(0.02)  # poll interval, bounded by the deadline
    pytest.fail(f"trivial milter did not accept on {spec} within {START_DEADLINE}s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unix_milter(tmp_path_factory: pytest.TempPathFactory, variant: str) -> Iterator[RunningMilter]:
    directory = tmp_path_factory.mktemp(f"milter-{variant}")
    spec = f"unix:{directory / 'trivial.sock'}"
    with running_milter(spec, spec, directory / "milter.log", variant):
        yield RunningMilter(spec)


@pytest.fixture(scope="module")
def unix_milter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMilter]:
    yield from _unix_milter(tmp_path_factory, "full")


@pytest.fixture(scope="module")
def lean_milter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMilter]:
    yield from _unix_milter(tmp_path_factory, "lean")


@pytest.fixture(scope="module")
def leadspc_milter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMilter]:
    yield from _unix_milter(tmp_path_factory, "leadspc")


@pytest.fixture(scope="module")
def inet_milter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMilter]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("milter-inet") / "milter.log"
    spec = f"inet:{port}@127.0.0.1"
    with running_milter(spec, spec, log_path):
        yield RunningMilter(spec, port)


def _send(milter: RunningMilter, *actions: str, **envelope: object) -> MilterOutcome:
    headers = [("Subject", "hello"), *(("X-Test-Action", a) for a in actions)]
    with MilterClient(milter.spec, timeout=5) as client:
        return client.send_message(headers=headers, body=b"hi\r\n", **envelope)  # type: ignore[arg-type]


def _echo(outcome: MilterOutcome, name: str) -> object:
    """Decode the X-Echo-NAME header the trivial milter added."""
    values = [m.args[1] for m in outcome.modifications
              if m.kind == "addheader" and m.args[0] == f"X-Echo-{name}"]
    assert len(values) == 1, f"expected one X-Echo-{name} in {outcome.modifications}"
    return json.loads(values[0])


# -- negotiation ---------------------------------------------------------------


def test_negotiate_returns_the_flags_a_milter_with_every_callback_wants(
    unix_milter: RunningMilter,
) -> None:
    with MilterClient(unix_milter.spec) as client:
        actions, protocol = client.negotiate()
    assert (actions, protocol) == (ALL_ACTIONS, Proto.NOUNKNOWN | Proto.SKIP)


def test_negotiate_returns_the_steps_a_lean_milter_switches_off(
    lean_milter: RunningMilter,
) -> None:
    with MilterClient(lean_milter.spec) as client:
        _, protocol = client.negotiate()
    assert protocol == (
        Proto.NOCONNECT | Proto.NOHELO | Proto.NODATA | Proto.NOUNKNOWN | Proto.NOEOH
        | Proto.NOBODY | Proto.NR_RCPT | Proto.NR_HDR | Proto.SKIP
    )


def test_steps_and_replies_negotiated_away_are_not_sent_or_awaited(
    lean_milter: RunningMilter,
) -> None:
    # Waiting for a RCPT or header reply the lean milter never sends would
    # end in MilterTimeout; sending CONNECT it did not ask for would show up
    # in its event list.
    with MilterClient(lean_milter.spec, timeout=2) as client:
        outcome = client.send_message(headers=[("Subject", "a"), ("To", "b")], body=b"x\r\n")
    assert outcome == MilterOutcome(
        "continue",
        "",
        (Modification("addheader", ("X-Echo-Events",
                                    '["envfrom", "envrcpt", "header", "header", "eom"]')),),
        "eom",
    )


def test_offering_no_protocol_flags_still_completes_a_transaction(
    lean_milter: RunningMilter,
) -> None:
    with MilterClient(lean_milter.spec, timeout=2) as client:
        client.negotiate(protocol=0)
        outcome = client.send_message(headers=[("Subject", "a")], body=b"x\r\n")
    assert (outcome.action, outcome.stage) == ("continue", "eom")
    assert _echo(outcome, "Events") == ["envfrom", "envrcpt", "header", "eom"]


def test_send_message_negotiates_by_itself(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client:
        client.send_message(headers=[("Subject", "a")], body=b"")
        assert client.negotiated is not None
        assert client.negotiated.version == 6


# -- final actions -------------------------------------------------------------


@pytest.mark.parametrize("action", ["reject", "tempfail", "discard", "accept"])
def test_final_action_at_end_of_message_round_trips(
    unix_milter: RunningMilter, action: str
) -> None:
    assert _send(unix_milter, action) == MilterOutcome(action, "", (), "eom")


def test_reply_code_arrives_with_doubled_percent_undone(unix_milter: RunningMilter) -> None:
    assert _send(unix_milter, "replycode") == MilterOutcome(
        "replycode", "550 5.7.1 rejected by trivial milter, 100% sure", (), "eom"
    )


def test_message_without_decision_ends_in_continue(unix_milter: RunningMilter) -> None:
    assert _send(unix_milter) == MilterOutcome("continue", "", (), "eom")


# -- modifications -------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("quarantine", Modification("quarantine", ("held by trivial milter",))),
        ("addheader", Modification("addheader", ("X-Trivial-Added", "yes"))),
        ("addheader-folded",
         Modification("addheader", ("X-Trivial-Folded", "first line\n\tsecond line"))),
        ("insheader", Modification("insheader", (0, "X-Trivial-Inserted", "top"))),
        ("chgheader", Modification("chgheader", (1, "Subject", "changed by trivial milter"))),
        ("delheader", Modification("chgheader", (1, "X-Remove-Me", ""))),
        ("replbody", Modification("replbody", (b"replaced body\r\n",))),
        ("chgfrom", Modification("chgfrom", ("<changed@example.com>", "SIZE=100"))),
        ("addrcpt", Modification("addrcpt", ("<added@example.org>", ""))),
        ("addrcpt-par", Modification("addrcpt", ("<added@example.org>", "NOTIFY=NEVER"))),
        ("delrcpt", Modification("delrcpt", ("<b@example.org>",))),
        ("progress", Modification("progress", ())),
    ],
)
def test_modification_round_trips(
    unix_milter: RunningMilter, action: str, expected: Modification
) -> None:
    assert _send(unix_milter, action) == MilterOutcome("continue", "", (expected,), "eom")


def test_several_modifications_arrive_in_order_before_the_final_action(
    unix_milter: RunningMilter,
) -> None:
    outcome = _send(unix_milter, "addheader", "progress", "chgheader", "addheader", "reject")
    assert outcome == MilterOutcome(
        "reject",
        "",
        (
            Modification("addheader", ("X-Trivial-Added", "yes")),
            Modification("progress", ()),
            Modification("chgheader", (1, "Subject", "changed by trivial milter")),
            Modification("addheader", ("X-Trivial-Added", "yes")),
        ),
        "eom",
    )


def test_replacement_body_sent_in_several_packets_is_one_modification(
    unix_milter: RunningMilter,
) -> None:
    outcome = _send(unix_milter, "replbody-large")
    assert outcome.modifications == (Modification("replbody", (b"z" * 100_000 + b"\r\n",)),)


# -- early decisions -----------------------------------------------------------


def test_rejected_only_recipient_ends_the_message_at_rcpt(unix_milter: RunningMilter) -> None:
    outcome = _send(unix_milter, "echo", rcpts=["<reject@example.org>"])
    assert outcome == MilterOutcome(
        "reject", "", (), "rcpt", (RcptRefusal("<reject@example.org>", "reject", ""),)
    )


def test_refused_recipients_are_listed_and_the_message_goes_on(
    unix_milter: RunningMilter,
) -> None:
    outcome = _send(
        unix_milter,
        rcpts=["<tempfail@example.org>", "<ok@example.org>", "<replycode@example.org>"],
    )
    assert outcome == MilterOutcome(
        "continue",
        "",
        (),
        "eom",
        (
            RcptRefusal("<tempfail@example.org>", "tempfail", ""),
            RcptRefusal("<replycode@example.org>", "replycode", "550 5.1.1 no such user"),
        ),
    )


def test_sender_refused_with_reply_code_at_mail(unix_milter: RunningMilter) -> None:
    assert _send(unix_milter, mail_from="<reject@example.com>") == MilterOutcome(
        "replycode", "550 5.7.1 sender refused by trivial milter", (), "mail"
    )


def test_client_tempfailed_at_connect(unix_milter: RunningMilter) -> None:
    assert _send(unix_milter, client_name="tempfail.client.test") == MilterOutcome(
        "tempfail", "", (), "connect"
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("reject-at-header", MilterOutcome("reject", "", (), "header")),
        ("accept-at-eoh", MilterOutcome("accept", "", (), "eoh")),
        ("reject-at-body", MilterOutcome("reject", "", (), "body")),
    ],
)
def test_decision_before_end_of_message_stops_there(
    unix_milter: RunningMilter, action: str, expected: MilterOutcome
) -> None:
    assert _send(unix_milter, action) == expected


def test_next_message_on_the_connection_works_after_an_early_reject(
    unix_milter: RunningMilter,
) -> None:
    with MilterClient(unix_milter.spec, timeout=5) as client:
        first = client.send_message(
            rcpts=["<reject@example.org>"], headers=[("Subject", "a")], body=b"x\r\n"
        )
        second = client.send_message(
            headers=[("Subject", "b"), ("X-Test-Action", "echo")], body=b"y\r\n"
        )
    assert first.stage == "rcpt"
    assert (second.action, second.stage) == ("continue", "eom")
    # The milter saw the refused message aborted, then the whole second one.
    assert _echo(second, "Events") == [
        "connect", "hello", "envfrom", "envrcpt", "abort",
        "envfrom", "envrcpt", "data", "header", "header", "eoh", "body", "eom",
    ]
    assert _echo(second, "Headers") == [["Subject", "b"], ["X-Test-Action", "echo"]]


def test_session_ended_at_helo_refuses_further_messages(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec, timeout=5) as client:
        outcome = client.send_message(helo="reject.helo.test", headers=[], body=b"")
        assert outcome == MilterOutcome("reject", "", (), "helo")
        with pytest.raises(MilterError, match="already ended this session"):
            client.send_message(headers=[], body=b"")


# -- what the milter receives --------------------------------------------------


def test_folded_headers_arrive_as_postfix_sends_them(unix_milter: RunningMilter) -> None:
    raw = (
        b"Subject:  two spaces\r\n"
        b"X-Folded: first\r\n\tsecond\r\n  third\r\n"
        b"X-Tab:\tvalue\r\n"
        b"X-Empty:\r\n"
        b"X-Test-Action: echo\r\n"
        b"\r\n"
        b"body\r\n"
    )
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_raw(raw)
    assert _echo(outcome, "Headers") == [
        ["Subject", " two spaces"],
        ["X-Folded", "first\n\tsecond\n  third"],
        ["X-Tab", "\tvalue"],
        ["X-Empty", ""],
        ["X-Test-Action", "echo"],
    ]


def test_header_values_keep_their_leading_space_when_negotiated(
    leadspc_milter: RunningMilter,
) -> None:
    raw = b"Subject:  two spaces\r\nX-Folded: a\r\n\tb\r\nX-Test-Action: echo\r\n\r\n"
    with MilterClient(leadspc_milter.spec) as client:
        outcome = client.send_raw(raw)
    assert _echo(outcome, "Headers") == [
        ["Subject", "  two spaces"],
        ["X-Folded", " a\n\tb"],
        ["X-Test-Action", " echo"],
    ]


def test_bare_newlines_in_a_raw_body_become_crlf(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_raw(b"X-Test-Action: echo\n\nline one\nline two")
    assert _echo(outcome, "Body-Sha256") == hashlib.sha256(b"line one\r\nline two\r\n").hexdigest()


def test_one_megabyte_body_arrives_whole_in_65535_byte_chunks(
    unix_milter: RunningMilter,
) -> None:
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_message(headers=[("X-Test-Action", "echo")], body=ONE_MEGABYTE_BODY)
    assert _echo(outcome, "Body-Length") == 1 << 20
    assert _echo(outcome, "Body-Sha256") == hashlib.sha256(ONE_MEGABYTE_BODY).hexdigest()
    assert _echo(outcome, "Body-Chunks") == -(-(1 << 20) // CHUNK_SIZE)


def test_skip_reply_stops_the_body_after_the_first_chunk(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_message(
            headers=[("X-Test-Action", "skip-body"), ("X-Test-Action", "echo")],
            body=ONE_MEGABYTE_BODY,
        )
    assert (outcome.action, outcome.stage) == ("continue", "eom")
    assert (_echo(outcome, "Body-Chunks"), _echo(outcome, "Body-Length")) == (1, CHUNK_SIZE)


def test_envelope_arrives_as_sent(unix_milter: RunningMilter) -> None:
    outcome = _send(
        unix_milter, "echo",
        helo="relay.example.net",
        mail_from="<sender@example.com>",
        mail_args=["SIZE=1234", "BODY=8BITMIME"],
        rcpts=["<one@example.org>", "<two@example.org>"],
    )
    assert _echo(outcome, "Helo") == "relay.example.net"
    assert _echo(outcome, "Mail") == ["<sender@example.com>", "SIZE=1234", "BODY=8BITMIME"]
    assert _echo(outcome, "Rcpts") == [
        ["<one@example.org>", "one@example.org"], ["<two@example.org>", "two@example.org"],
    ]


def test_unknown_ipv4_client_is_reported_by_bracketed_address(
    unix_milter: RunningMilter,
) -> None:
    outcome = _send(unix_milter, "echo", client_ip="198.51.100.7", client_port=2525)
    assert _echo(outcome, "Connect") == [
        "[198.51.100.7]", socket.AF_INET, ["198.51.100.7", 2525],
    ]


def test_ipv6_client_is_reported_with_its_name(unix_milter: RunningMilter) -> None:
    outcome = _send(unix_milter, "echo", client_ip="2001:db8::25", client_name="mx.example.net")
    assert _echo(outcome, "Connect") == [
        "mx.example.net", socket.AF_INET6, ["2001:db8::25", 54321, 0, 0],
    ]


def test_default_and_given_macros_reach_the_milter(unix_milter: RunningMilter) -> None:
    outcome = _send(
        unix_milter, "echo",
        queue_id="4XyZ12",
        macros={"mail": {"{auth_authen}": "alice", "{auth_type}": "PLAIN"}},
    )
    macros = _echo(outcome, "Eom-Macros")
    assert isinstance(macros, dict)
    assert {k: macros[k] for k in ("i", "{mail_addr}", "{auth_authen}", "{auth_type}", "j")} == {
        "i": "4XyZ12",
        "{mail_addr}": "a@example.com",
        "{auth_authen}": "alice",
        "{auth_type}": "PLAIN",
        "j": "mx.spoofwatch.test",
    }


def test_macros_for_an_unknown_stage_are_refused(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client, pytest.raises(ValueError, match="body"):
        client.send_message(headers=[], body=b"", macros={"body": {"x": "y"}})


# -- partial transactions, timeouts and broken connections ---------------------


def test_send_until_stops_after_the_named_stage(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_until("rcpt", headers=[("Subject", "a")], body=b"x\r\n")
    assert outcome == MilterOutcome("continue", "", (), "rcpt")


def test_milter_survives_a_client_that_drops_mid_body(unix_milter: RunningMilter) -> None:
    with MilterClient(unix_milter.spec) as client:
        client.send_until("body", headers=[("Subject", "a")], body=ONE_MEGABYTE_BODY)
    assert _send(unix_milter, "accept") == MilterOutcome("accept", "", (), "eom")


def test_silent_milter_raises_timeout_instead_of_hanging(unix_milter: RunningMilter) -> None:
    started = time.monotonic()
    with MilterClient(unix_milter.spec, timeout=0.5) as client, pytest.raises(MilterTimeout):
        client.send_message(headers=[("X-Test-Action", "sleep-at-body")], body=b"x\r\n")
    assert time.monotonic() - started < 3.0


def test_silent_milter_at_end_of_message_raises_timeout(unix_milter: RunningMilter) -> None:
    started = time.monotonic()
    with MilterClient(unix_milter.spec, timeout=0.5) as client, pytest.raises(MilterTimeout):
        client.send_message(headers=[("X-Test-Action", "sleep")], body=b"x\r\n")
    assert time.monotonic() - started < 3.0


class HangUpPeer:
    """A fake milter that negotiates, says CONTINUE, and hangs up at the first BODY."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            stream = conn.makefile("rb")
            try:
                while True:
                    (length,) = struct.unpack("!I", stream.read(4))
                    command = stream.read(length)[:1]
                    if command == b"O":
                        conn.sendall(struct.pack("!IcIII", 13, b"O", 6, 0, 0))
                    elif command == b"B":
                        return
                    elif command not in (b"D", b"A"):
                        conn.sendall(struct.pack("!Ic", 1, b"c"))
            finally:
                stream.close()

    def __enter__(self) -> HangUpPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


def test_milter_hanging_up_mid_body_raises_connection_closed(tmp_path: Path) -> None:
    with HangUpPeer(tmp_path / "hangup.sock") as peer:
        with MilterClient(f"unix:{peer.path}", timeout=5) as client:
            with pytest.raises(MilterConnectionClosed):
                client.send_message(headers=[("Subject", "a")], body=ONE_MEGABYTE_BODY)


def test_quit_closes_the_connection(unix_milter: RunningMilter) -> None:
    client = MilterClient(unix_milter.spec)
    client.negotiate()
    client.quit()
    assert client.closed


# -- inet sockets --------------------------------------------------------------


@pytest.mark.parametrize("form", ["inet:{port}@127.0.0.1", "inet:127.0.0.1:{port}"])
def test_inet_socket_spec_forms_reach_the_milter(inet_milter: RunningMilter, form: str) -> None:
    with MilterClient(form.format(port=inet_milter.port)) as client:
        outcome = client.send_message(
            headers=[("X-Test-Action", "addheader"), ("X-Test-Action", "discard")], body=b"x\r\n"
        )
    assert outcome == MilterOutcome(
        "discard", "", (Modification("addheader", ("X-Trivial-Added", "yes")),), "eom"
    )


def test_inet_one_megabyte_body_arrives_whole(inet_milter: RunningMilter) -> None:
    with MilterClient(inet_milter.spec) as client:
        outcome = client.send_message(headers=[("X-Test-Action", "echo")], body=ONE_MEGABYTE_BODY)
    assert _echo(outcome, "Body-Sha256") == hashlib.sha256(ONE_MEGABYTE_BODY).hexdigest()


# -- pure helpers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("unix:/run/m.sock", (socket.AF_UNIX, "/run/m.sock")),
        ("local:/run/m.sock", (socket.AF_UNIX, "/run/m.sock")),
        ("inet:8891@127.0.0.1", (socket.AF_INET, ("127.0.0.1", 8891))),
        ("inet:127.0.0.1:8891", (socket.AF_INET, ("127.0.0.1", 8891))),
        ("inet6:[::1]:8891", (socket.AF_INET6, ("::1", 8891))),
        ("inet6:8891@::1", (socket.AF_INET6, ("::1", 8891))),
    ],
)
def test_parse_socket_spec(spec: str, expected: tuple[int, object]) -> None:
    assert parse_socket_spec(spec) == expected


@pytest.mark.parametrize("spec", ["inet:", "inet:host", "tcp:1@h", "nonsense"])
def test_parse_socket_spec_refuses_malformed_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_socket_spec(spec)


def test_split_message_unfolds_like_postfix_and_crlfs_the_body() -> None:
    headers, body = split_message(b"A: one\nB:  two\n\tmore\nC:\tthree\n\nx\ny\n")
    assert headers == [("A", "one"), ("B", " two\n\tmore"), ("C", "\tthree")]
    assert body == b"x\r\ny\r\n"


def test_apply_modifications_edits_headers_and_body_like_the_mta() -> None:
    headers = [("Subject", "s"), ("X-A", "1"), ("X-A", "2"), ("X-Gone", "g")]
    mods = [
        Modification("insheader", (0, "X-Top", "t")),
        Modification("chgheader", (2, "x-a", "two")),
        Modification("chgheader", (1, "X-Gone", "")),
        Modification("chgheader", (3, "X-A", "new")),
        Modification("addheader", ("X-End", "e")),
        Modification("quarantine", ("why",)),
        Modification("replbody", (b"new\r\n",)),
    ]
    assert apply_modifications(headers, b"old\r\n", mods) == (
        [("X-Top", "t"), ("Subject", "s"), ("X-A", "1"), ("X-A", "two"), ("X-A", "new"),
         ("X-End", "e")],
        b"new\r\n",
    )


def test_apply_modifications_on_what_the_milter_asked(unix_milter: RunningMilter) -> None:
    raw = b"Subject: old\r\nX-Remove-Me: x\r\nX-Test-Action: chgheader\r\n" \
          b"X-Test-Action: delheader\r\nX-Test-Action: replbody\r\n\r\nold body\r\n"
    with MilterClient(unix_milter.spec) as client:
        outcome = client.send_raw(raw)
    assert apply_modifications(*split_message(raw), outcome.modifications) == (
        [("Subject", "changed by trivial milter"), ("X-Test-Action", "chgheader"),
         ("X-Test-Action", "delheader"), ("X-Test-Action", "replbody")],
        b"replaced body\r\n",
    )
