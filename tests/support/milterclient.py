"""The MTA side of the milter protocol (version 6), in pure Python, for tests.

Tests use :class:`MilterClient` to talk to a real milter over its real socket
the way Postfix does: option negotiation, then one packet per SMTP event
(CONNECT, HELO, MAIL, RCPT, DATA, each header, end of headers, the body in
65535-byte chunks, end of message), each preceded by the macros for that
event, waiting for a reply only where the milter did not negotiate the reply
away.

Wire format (both directions): a 4-byte big-endian length that counts the
command byte and the data, the command byte, then the data.  Strings in the
data are NUL-terminated.

Header values are sent the way Postfix sends them: the value after the colon
with one leading space removed (unless the milter negotiated
``SMFIP_HDR_LEADSPC``), folded lines joined with ``"\\n"`` followed by the
continuation line's own leading whitespace.  The body is sent with CRLF line
ends.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import re
import socket
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 6
CHUNK_SIZE = 65535  # the largest body chunk an MTA sends (MILTER_CHUNK_SIZE)
_MAX_REPLY = 1 << 24  # refuse absurd reply lengths instead of allocating them


class Cmd(bytes, enum.Enum):
    """Commands the MTA sends (SMFIC_*)."""

    ABORT = b"A"
    BODY = b"B"
    CONNECT = b"C"
    MACRO = b"D"
    BODYEOB = b"E"
    HELO = b"H"
    QUIT_NC = b"K"
    HEADER = b"L"
    MAIL = b"M"
    EOH = b"N"
    OPTNEG = b"O"
    QUIT = b"Q"
    RCPT = b"R"
    DATA = b"T"
    UNKNOWN = b"U"


class Reply(bytes, enum.Enum):
    """Replies and requests the milter sends (SMFIR_*)."""

    ADDRCPT = b"+"
    DELRCPT = b"-"
    ADDRCPT_PAR = b"2"
    SHUTDOWN = b"4"
    ACCEPT = b"a"
    REPLBODY = b"b"
    CONTINUE = b"c"
    DISCARD = b"d"
    CHGFROM = b"e"
    CONN_FAIL = b"f"
    ADDHEADER = b"h"
    INSHEADER = b"i"
    SETSYMLIST = b"l"
    CHGHEADER = b"m"
    PROGRESS = b"p"
    QUARANTINE = b"q"
    REJECT = b"r"
    SKIP = b"s"
    TEMPFAIL = b"t"
    REPLYCODE = b"y"


class Act(enum.IntFlag):
    """What the milter may ask to change (SMFIF_*), offered in negotiation."""

    ADDHDRS = 0x001
    CHGBODY = 0x002
    ADDRCPT = 0x004
    DELRCPT = 0x008
    CHGHDRS = 0x010
    QUARANTINE = 0x020
    CHGFROM = 0x040
    ADDRCPT_PAR = 0x080
    SETSYMLIST = 0x100


class Proto(enum.IntFlag):
    """Protocol steps the milter may switch off (SMFIP_*)."""

    NOCONNECT = 0x000001
    NOHELO = 0x000002
    NOMAIL = 0x000004
    NORCPT = 0x000008
    NOBODY = 0x000010
    NOHDRS = 0x000020
    NOEOH = 0x000040
    NR_HDR = 0x000080
    NOUNKNOWN = 0x000100
    NODATA = 0x000200
    SKIP = 0x000400
    RCPT_REJ = 0x000800
    NR_CONN = 0x001000
    NR_HELO = 0x002000
    NR_MAIL = 0x004000
    NR_RCPT = 0x008000
    NR_DATA = 0x010000
    NR_UNKN = 0x020000
    NR_EOH = 0x040000
    NR_BODY = 0x080000
    HDR_LEADSPC = 0x100000


ALL_ACTIONS = Act(0x1FF)
# Everything Postfix offers when milter_protocol = 6: every "don't send",
# every "don't reply", SKIP, RCPT_REJ and HDR_LEADSPC.
POSTFIX_PROTOCOL = Proto(0x1FFFFF)

STAGES = ("connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom")
# SMFIM_* numbers the milter uses to ask for a macro list per stage.
_MACRO_STAGE_BY_NUMBER = {
    0: "connect", 1: "helo", 2: "mail", 3: "rcpt", 4: "data", 5: "eom", 6: "eoh",
}
# The commands libmilter accepts macros for, keyed by our stage names.
_MACRO_COMMAND = {
    "connect": Cmd.CONNECT,
    "helo": Cmd.HELO,
    "mail": Cmd.MAIL,
    "rcpt": Cmd.RCPT,
    "data": Cmd.DATA,
    "eoh": Cmd.EOH,
    "eom": Cmd.BODYEOB,
}
_FINAL_ACTIONS = {
    Reply.ACCEPT: "accept",
    Reply.DISCARD: "discard",
    Reply.REJECT: "reject",
    Reply.TEMPFAIL: "tempfail",
    Reply.REPLYCODE: "replycode",
    Reply.SHUTDOWN: "shutdown",
    Reply.CONN_FAIL: "connfail",
}
_REFUSALS = frozenset({"reject", "tempfail", "replycode"})


class MilterError(Exception):
    """The milter could not be talked to as the protocol requires."""


class MilterTimeout(MilterError):
    """The milter did not answer (or accept data) within the timeout."""


class MilterConnectionClosed(MilterError):
    """The milter closed the connection."""


class MilterProtocolError(MilterError):
    """The milter sent something the protocol does not allow here."""


@dataclass(frozen=True)
class Modification:
    """One change the milter requested at end of message.

    kinds and args: "addheader" (name, value); "insheader" (index, name, value);
    "chgheader" (index, name, value); "chgfrom" (addr, args); "addrcpt"
    (rcpt, args); "delrcpt" (rcpt,); "replbody" (bytes,); "quarantine"
    (reason,); "progress" ().
    """

    kind: str
    args: tuple = ()


@dataclass(frozen=True)
class RcptRefusal:
    """A recipient the milter refused at RCPT; the message goes on without it."""

    rcpt: str
    action: str  # "reject", "tempfail" or "replycode"
    reply: str  # the SMTP reply for "replycode", "" otherwise


@dataclass(frozen=True)
class MilterOutcome:
    """What the milter decided for one message (or for the connection)."""

    action: str  # "accept", "continue", "reject", "tempfail", "discard", "replycode"
    reply: str  # e.g. "550 5.7.1 text" for "replycode", "" otherwise
    modifications: tuple[Modification, ...]
    stage: str  # the step the final action came at; one of STAGES
    rejected_rcpts: tuple[RcptRefusal, ...] = ()


@dataclass(frozen=True)
class Negotiated:
    """The milter's answer to option negotiation."""

    version: int
    actions: Act
    protocol: Proto
    macro_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Answer:
    """The milter's reply to one event: an action plus any requests before it."""

    action: str  # "continue", "skip" or one of _FINAL_ACTIONS' values
    reply: str
    modifications: tuple[Modification, ...]


# ---------------------------------------------------------------------------
# Encoding helpers


def _encode(text: str) -> bytes:
    # surrogateescape lets callers pass through undecodable bytes they parsed.
    return text.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _cstrings(*texts: str) -> bytes:
    return b"".join(_encode(t) + b"\0" for t in texts)


def _split_cstrings(data: bytes) -> list[str]:
    """NUL-terminated strings; a missing final terminator is tolerated."""
    if not data:
        return []
    parts = data.split(b"\0")
    if parts[-1] == b"":
        parts.pop()
    return [_decode(p) for p in parts]


def _unescape_percent(text: str) -> str:
    # libmilter doubles '%' in replies (sendmail uses them as format strings);
    # Postfix turns '%%' back into '%' and drops single ones. Do the same.
    return re.sub(r"%(.?)", lambda m: m.group(1), text)


def _strip_brackets(addr: str) -> str:
    addr = addr.strip()
    if addr.startswith("<") and addr.endswith(">"):
        return addr[1:-1]
    return addr


# ---------------------------------------------------------------------------
# Socket specs


def parse_socket_spec(spec: str) -> tuple[int, str | tuple[str, int]]:
    """(address family, address) for a milter socket spec.

    Accepts "unix:/path", "local:/path", "/path", "inet:PORT@HOST",
    "inet:HOST:PORT", "inet6:PORT@HOST" and "inet6:[HOST]:PORT".
    """
    if spec.startswith("/"):
        return socket.AF_UNIX, spec
    transport, sep, endpoint = spec.partition(":")
    if not sep or not endpoint:
        raise ValueError(f"bad milter socket spec: {spec!r}")
    if transport in ("unix", "local"):
        return socket.AF_UNIX, endpoint
    if transport not in ("inet", "inet6"):
        raise ValueError(f"unknown milter transport in {spec!r}")
    family = socket.AF_INET6 if transport == "inet6" else socket.AF_INET
    if "@" in endpoint:
        port_text, _, host = endpoint.partition("@")
    else:
        host, _, port_text = endpoint.rpartition(":")
        host = host.strip("[]")
    if not host or not port_text.isdigit():
        raise ValueError(f"bad milter socket spec: {spec!r}")
    return family, (host, int(port_text))


# ---------------------------------------------------------------------------
# Messages


def _split_raw_headers(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers as (name, text after the colon, leading whitespace kept), body.

    Folded lines are joined with "\\n" plus their own leading whitespace, the
    form Postfix hands to milters.  The body gets CRLF line ends.
    """
    match = re.search(rb"\r?\n\r?\n", raw)
    if raw.startswith((b"\r\n", b"\n")):
        head, body = b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    elif match is None:
        head, body = raw, b""
    else:
        head, body = raw[: match.start()], raw[match.end() :]
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        text = _decode(line)
        if text[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + text)
            continue
        name, colon, value = text.partition(":")
        if not colon:
            # Not a header field; Postfix would treat it as body, but for a
            # test helper keeping it visible is more useful than guessing.
            name, value = text, ""
        headers.append((name.rstrip(" \t"), value))
    return headers, _crlf_body(body)


def _crlf_body(body: bytes) -> bytes:
    if not body:
        return b""
    lines = re.split(rb"\r?\n", body)
    if lines[-1] == b"":
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


def _without_one_space(value: str) -> str:
    # Postfix (like sendmail) eats one space, not a tab, after the colon.
    return value[1:] if value.startswith(" ") else value


def split_message(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Split an RFC 5322 message into (name, value) headers and a CRLF body.

    Values are what a milter receives by default: one leading space removed,
    folded lines joined with "\\n" plus the original leading whitespace.
    """
    headers, body = _split_raw_headers(raw)
    return [(name, _without_one_space(value)) for name, value in headers], body


def apply_modifications(
    headers: Sequence[tuple[str, str]], body: bytes, mods: Sequence[Modification]
) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and body the MTA would deliver after the milter's changes.

    addheader appends; insheader inserts at a 0-based position among all
    headers; chgheader changes the index-th (1-based, 0 counts as 1) header of
    that name (case-insensitive), deletes it when the value is empty, and
    appends a new header when there is no such instance; replbody replaces the
    body.  Envelope changes, quarantine and progress do not touch the content.
    """
    result = list(headers)
    new_body = body
    for mod in mods:
        if mod.kind == "addheader":
            name, value = mod.args
            result.append((name, value))
        elif mod.kind == "insheader":
            index, name, value = mod.args
            result.insert(min(max(index, 0), len(result)), (name, value))
        elif mod.kind == "chgheader":
            index, name, value = mod.args
            _change_header(result, max(index, 1), name, value)
        elif mod.kind == "replbody":
            (new_body,) = mod.args
    return result, new_body


def _change_header(headers: list[tuple[str, str]], index: int, name: str, value: str) -> None:
    positions = [i for i, (n, _) in enumerate(headers) if n.lower() == name.lower()]
    if index > len(positions):
        if value:
            headers.append((name, value))
        return
    position = positions[index - 1]
    if value:
        headers[position] = (headers[position][0], value)
    else:
        del headers[position]


# ---------------------------------------------------------------------------
# The client


@dataclass(frozen=True)
class _Envelope:
    client_ip: str
    client_name: str
    client_port: int
    helo: str
    mail_from: str
    mail_args: tuple[str, ...]
    rcpts: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # values with leading whitespace kept
    body: bytes
    macros: Mapping[str, Mapping[str, str]]
    queue_id: str


class _Stop(Exception):
    """Internal: the transaction ended early with this outcome."""

    def __init__(self, outcome: MilterOutcome) -> None:
        super().__init__(outcome.action)
        self.outcome = outcome


class MilterClient:
    """One MTA-to-milter connection (one SMTP session), as Postfix opens it.

    send_message() negotiates if needed, reports the SMTP client (CONNECT and
    HELO) once per connection, then one message.  Further send_message()
    calls are further messages in the same SMTP session.
    """

    def __init__(self, socket_spec: str, timeout: float = 10.0) -> None:
        family, address = parse_socket_spec(socket_spec)
        self.socket_spec = socket_spec
        self.timeout = timeout
        self.negotiated: Negotiated | None = None
        self._session_started = False
        self._session_over: MilterOutcome | None = None
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(address)
        except TimeoutError as exc:
            self.close()
            raise MilterTimeout(f"connect to {socket_spec} timed out") from exc
        except OSError:
            self.close()
            raise

    # -- context management -------------------------------------------------

    def __enter__(self) -> MilterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the connection without saying goodbye (as a crashed MTA would)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def closed(self) -> bool:
        return self._sock is None

    # -- packets ------------------------------------------------------------

    def send_packet(self, command: bytes, data: bytes = b"") -> None:
        """Send one raw packet (for robustness tests that need bad input)."""
        sock = self._require_socket()
        packet = struct.pack("!I", len(command) + len(data)) + command + data
        try:
            sock.sendall(packet)
        except TimeoutError as exc:
            raise MilterTimeout(f"sending {command!r} timed out") from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise MilterConnectionClosed(f"milter closed the connection: {exc}") from exc

    def read_packet(self) -> tuple[bytes, bytes]:
        """Receive one packet: (command byte, data)."""
        header = self._read_exactly(4)
        (length,) = struct.unpack("!I", header)
        if length < 1 or length > _MAX_REPLY:
            raise MilterProtocolError(f"bad packet length {length}")
        payload = self._read_exactly(length)
        return payload[:1], payload[1:]

    def _read_exactly(self, size: int) -> bytes:
        sock = self._require_socket()
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            try:
                chunk = sock.recv(remaining)
            except TimeoutError as exc:
                raise MilterTimeout(f"no reply within {self.timeout}s") from exc
            except ConnectionResetError as exc:
                raise MilterConnectionClosed("milter reset the connection") from exc
            if not chunk:
                raise MilterConnectionClosed("milter closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise MilterConnectionClosed("client connection is closed")
        return self._sock

    # -- negotiation --------------------------------------------------------

    def negotiate(
        self, actions: int = ALL_ACTIONS, protocol: int = POSTFIX_PROTOCOL
    ) -> tuple[int, int]:
        """Offer actions and protocol flags; return (actions, protocol) the milter wants."""
        self.send_packet(
            Cmd.OPTNEG.value, struct.pack("!III", PROTOCOL_VERSION, actions, protocol)
        )
        command, data = self.read_packet()
        if command != Cmd.OPTNEG.value:
            raise MilterProtocolError(f"expected OPTNEG reply, got {command!r}")
        if len(data) < 12:
            raise MilterProtocolError("OPTNEG reply too short")
        version, wanted_actions, wanted_protocol = struct.unpack("!III", data[:12])
        if version > PROTOCOL_VERSION or version < 2:
            raise MilterProtocolError(f"milter speaks protocol version {version}")
        if wanted_actions & ~actions:
            raise MilterProtocolError(
                f"milter wants actions {wanted_actions:#x} beyond offered {actions:#x}"
            )
        self.negotiated = Negotiated(
            version=version,
            actions=Act(wanted_actions),
            protocol=Proto(wanted_protocol),
            macro_lists=_parse_macro_lists(data[12:]),
        )
        return wanted_actions, wanted_protocol

    def _flags(self) -> Proto:
        assert self.negotiated is not None
        return self.negotiated.protocol

    # -- whole transactions -------------------------------------------------

    def send_message(
        self,
        *,
        client_ip: str = "192.0.2.1",
        client_name: str = "unknown",
        client_port: int = 54321,
        helo: str = "mx.example.net",
        mail_from: str = "<a@example.com>",
        mail_args: Sequence[str] = (),
        rcpts: Sequence[str] = ("<b@example.org>",),
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        macros: Mapping[str, Mapping[str, str]] | None = None,
        queue_id: str = "ABC123",
    ) -> MilterOutcome:
        """Run one full transaction and return what the milter decided.

        headers are (name, value) with values as the milter sees them by
        default (no leading space; folded lines joined by "\\n" + whitespace).
        macros, keyed by stage ("connect", "helo", "mail", "rcpt", "data",
        "eoh", "eom"), are merged over the Postfix-like defaults.
        """
        envelope = self._envelope(
            client_ip, client_name, client_port, helo, mail_from, mail_args, rcpts,
            _leading_space(headers), body, macros, queue_id,
        )
        return self._transaction(envelope, stop_after=None)

    def send_raw(self, raw: bytes, **envelope: object) -> MilterOutcome:
        """Run one transaction for a full RFC 5322 message (headers + body)."""
        return self._raw_transaction(raw, None, envelope)

    def send_until(self, stage: str, raw: bytes | None = None, **envelope: object) -> MilterOutcome:
        """Run a transaction only up to and including `stage`, then stop.

        For robustness tests: follow with close() to drop the connection in the
        middle of a message.  "body" sends every body chunk but not the end of
        message.  Envelope keywords are those of send_message; pass raw to take
        headers and body from a full message instead.
        """
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        if raw is not None:
            return self._raw_transaction(raw, stage, envelope)
        headers = envelope.pop("headers", ())
        body = envelope.pop("body", b"")
        env = self._envelope_from_kwargs(envelope, _leading_space(headers), body)  # type: ignore[arg-type]
        return self._transaction(env, stop_after=stage)

    def abort(self) -> None:
        """Tell the milter the current message is abandoned (SMFIC_ABORT)."""
        self.send_packet(Cmd.ABORT.value)

    def quit(self) -> None:
        """End the session politely (SMFIC_QUIT) and close the connection."""
        if self._sock is not None:
            try:
                self.send_packet(Cmd.QUIT.value)
            except MilterError:
                log.debug("milter went away before QUIT")
        self.close()

    # -- transaction internals ---------------------------------------------

    def _raw_transaction(
        self, raw: bytes, stop_after: str | None, envelope: dict[str, object]
    ) -> MilterOutcome:
        headers, body = _split_raw_headers(raw)
        env = self._envelope_from_kwargs(envelope, tuple(headers), body)
        return self._transaction(env, stop_after=stop_after)

    def _envelope_from_kwargs(
        self, kwargs: Mapping[str, object], headers: tuple[tuple[str, str], ...], body: bytes
    ) -> _Envelope:
        allowed = {
            "client_ip", "client_name", "client_port", "helo", "mail_from", "mail_args",
            "rcpts", "macros", "queue_id",
        }
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unknown envelope keywords: {sorted(unknown)}")
        return self._envelope(
            str(kwargs.get("client_ip", "192.0.2.1")),
            str(kwargs.get("client_name", "unknown")),
            int(kwargs.get("client_port", 54321)),  # type: ignore[call-overload]
            str(kwargs.get("helo", "mx.example.net")),
            str(kwargs.get("mail_from", "<a@example.com>")),
            kwargs.get("mail_args", ()),  # type: ignore[arg-type]
            kwargs.get("rcpts", ("<b@example.org>",)),  # type: ignore[arg-type]
            headers,
            body,
            kwargs.get("macros"),  # type: ignore[arg-type]
            str(kwargs.get("queue_id", "ABC123")),
        )

    @staticmethod
    def _envelope(
        client_ip: str, client_name: str, client_port: int, helo: str, mail_from: str,
        mail_args: Sequence[str], rcpts: Sequence[str], headers: tuple[tuple[str, str], ...],
        body: bytes, macros: Mapping[str, Mapping[str, str]] | None, queue_id: str,
    ) -> _Envelope:
        if isinstance(rcpts, str):
            raise TypeError("rcpts must be a sequence of addresses, not one string")
        unknown = set(macros or {}) - set(_MACRO_COMMAND)
        if unknown:
            raise ValueError(f"macros for unknown stages: {sorted(unknown)}")
        return _Envelope(
            client_ip, client_name, client_port, helo, mail_from, tuple(mail_args),
            tuple(rcpts), headers, bytes(body), macros or {}, queue_id,
        )

    def _transaction(self, env: _Envelope, stop_after: str | None) -> MilterOutcome:
        if self._session_over is not None:
            raise MilterError(
                f"the milter already ended this session with {self._session_over.action!r}"
            )
        if stop_after in ("connect", "helo") and self._session_started:
            raise ValueError(f"{stop_after} was already sent on this connection")
        if self.negotiated is None:
            self.negotiate()
        try:
            for stage, step in self._steps(env):
                step()
                if stage == stop_after:
                    return MilterOutcome("continue", "", (), stage)
            raise AssertionError("the eom step always stops the transaction")
        except _Stop as stop:
            return stop.outcome

    def _steps(self, env: _Envelope) -> Iterator[tuple[str, Callable[[], None]]]:
        """(stage, callable) pairs in protocol order; a callable raises _Stop to end."""
        refusals: list[RcptRefusal] = []
        if not self._session_started:
            self._session_started = True
            yield "connect", lambda: self._connect_step(env)
            yield "helo", lambda: self._helo_step(env)
        yield "mail", lambda: self._mail_step(env)
        yield "rcpt", lambda: self._rcpt_step(env, refusals)
        yield "data", lambda: self._message_step(
            "data", Proto.NODATA, Proto.NR_DATA, Cmd.DATA, b"", env, refusals
        )
        yield "header", lambda: self._header_step(env, refusals)
        yield "eoh", lambda: self._message_step(
            "eoh", Proto.NOEOH, Proto.NR_EOH, Cmd.EOH, b"", env, refusals
        )
        yield "body", lambda: self._body_step(env, refusals)
        yield "eom", lambda: self._eom_step(env, refusals)

    # Connection-level steps: a final answer ends the whole session.

    def _connect_step(self, env: _Envelope) -> None:
        self._send_macros("connect", env)
        if self._flags() & Proto.NOCONNECT:
            return
        self.send_packet(Cmd.CONNECT.value, _connect_data(env))
        self._session_answer("connect", Proto.NR_CONN)

    def _helo_step(self, env: _Envelope) -> None:
        self._send_macros("helo", env)
        if self._flags() & Proto.NOHELO:
            return
        self.send_packet(Cmd.HELO.value, _cstrings(env.helo))
        self._session_answer("helo", Proto.NR_HELO)

    def _session_answer(self, stage: str, no_reply: Proto) -> None:
        if self._flags() & no_reply:
            return
        answer = self._read_answer(stage)
        if answer.action != "continue":
            outcome = MilterOutcome(answer.action, answer.reply, answer.modifications, stage)
            self._session_over = outcome
            raise _Stop(outcome)

    # Message-level steps: a final answer ends the message; ABORT resets the milter.

    def _mail_step(self, env: _Envelope) -> None:
        self._message_step(
            "mail", Proto.NOMAIL, Proto.NR_MAIL, Cmd.MAIL,
            _cstrings(env.mail_from, *env.mail_args), env, [],
        )

    def _rcpt_step(self, env: _Envelope, refusals: list[RcptRefusal]) -> None:
        for rcpt in env.rcpts:
            self._send_macros("rcpt", env, rcpt=rcpt)
            if self._flags() & Proto.NORCPT:
                continue
            self.send_packet(Cmd.RCPT.value, _cstrings(rcpt))
            if self._flags() & Proto.NR_RCPT:
                continue
            answer = self._read_answer("rcpt")
            if answer.action in _REFUSALS:
                # A refused recipient is dropped; the message goes on for the rest.
                refusals.append(RcptRefusal(rcpt, answer.action, answer.reply))
            elif answer.action != "continue":
                self._end_message(answer, "rcpt", refusals)
        if env.rcpts and len(refusals) == len(env.rcpts):
            last = refusals[-1]
            self._end_message(_Answer(last.action, last.reply, ()), "rcpt", refusals)

    def _message_step(
        self, stage: str, no_send: Proto, no_reply: Proto, command: Cmd, data: bytes,
        env: _Envelope, refusals: list[RcptRefusal],
    ) -> None:
        # Like Postfix, macros go out even when the event itself is skipped,
        # except for EOH, whose macros only accompany the EOH event.
        if stage != "eoh" or not self._flags() & no_send:
            self._send_macros(stage, env)
        if self._flags() & no_send:
            return
        self.send_packet(command.value, data)
        if self._flags() & no_reply:
            return
        answer = self._read_answer(stage)
        if answer.action != "continue":
            self._end_message(answer, stage, refusals)

    def _header_step(self, env: _Envelope, refusals: list[RcptRefusal]) -> None:
        if self._flags() & Proto.NOHDRS:
            return
        keep_space = bool(self._flags() & Proto.HDR_LEADSPC)
        for name, value in env.headers:
            sent = value if keep_space else _without_one_space(value)
            self.send_packet(Cmd.HEADER.value, _cstrings(name, sent))
            if self._flags() & Proto.NR_HDR:
                continue
            answer = self._read_answer("header")
            if answer.action != "continue":
                self._end_message(answer, "header", refusals)

    def _body_step(self, env: _Envelope, refusals: list[RcptRefusal]) -> None:
        if self._flags() & Proto.NOBODY:
            return
        for start in range(0, len(env.body), CHUNK_SIZE):
            self.send_packet(Cmd.BODY.value, env.body[start : start + CHUNK_SIZE])
            if self._flags() & Proto.NR_BODY:
                continue
            answer = self._read_answer("body")
            if answer.action == "skip":
                return
            if answer.action != "continue":
                self._end_message(answer, "body", refusals)

    def _eom_step(self, env: _Envelope, refusals: list[RcptRefusal]) -> None:
        self._send_macros("eom", env)
        self.send_packet(Cmd.BODYEOB.value)
        answer = self._read_answer("eom")
        raise _Stop(
            MilterOutcome(
                answer.action, answer.reply, answer.modifications, "eom", tuple(refusals)
            )
        )

    def _end_message(self, answer: _Answer, stage: str, refusals: list[RcptRefusal]) -> None:
        # Postfix sends ABORT once a message ends before end-of-message, so
        # the milter is ready for the next MAIL on the same connection.
        self.abort()
        raise _Stop(
            MilterOutcome(
                answer.action, answer.reply, answer.modifications, stage, tuple(refusals)
            )
        )

    # -- macros -------------------------------------------------------------

    def _send_macros(self, stage: str, env: _Envelope, rcpt: str = "") -> None:
        values = dict(_default_macros(stage, env, rcpt))
        values.update(env.macros.get(stage, {}))
        assert self.negotiated is not None
        wanted = self.negotiated.macro_lists.get(stage)
        if wanted is not None:
            values = {name: value for name, value in values.items() if name in wanted}
        values = {name: value for name, value in values.items() if value}
        if not values:
            return
        pairs = [text for item in values.items() for text in item]
        self.send_packet(Cmd.MACRO.value, _MACRO_COMMAND[stage].value + _cstrings(*pairs))

    # -- replies ------------------------------------------------------------

    def _read_answer(self, stage: str) -> _Answer:
        """Read replies until one that decides this event; collect requests."""
        mods: list[Modification] = []
        while True:
            command, data = self.read_packet()
            try:
                reply = Reply(command)
            except ValueError:
                raise MilterProtocolError(f"unknown reply {command!r} at {stage}") from None
            if reply is Reply.PROGRESS:
                mods.append(Modification("progress", ()))
            elif reply is Reply.CONTINUE:
                return _Answer("continue", "", tuple(mods))
            elif reply is Reply.SKIP:
                if stage != "body" or not self._flags() & Proto.SKIP:
                    raise MilterProtocolError(f"SKIP not allowed at {stage}")
                return _Answer("skip", "", tuple(mods))
            elif reply in _FINAL_ACTIONS:
                text = (_unescape_percent(_decode(data.rstrip(b"\0")))
                        if reply is Reply.REPLYCODE else "")
                return _Answer(_FINAL_ACTIONS[reply], text, tuple(mods))
            elif stage == "eom":
                _append_modification(mods, reply, data)
            else:
                raise MilterProtocolError(f"request {reply.name} not allowed at {stage}")


def _append_modification(mods: list[Modification], reply: Reply, data: bytes) -> None:
    if reply is Reply.REPLBODY:
        # Consecutive chunks together make up the one replacement body.
        if mods and mods[-1].kind == "replbody":
            mods[-1] = Modification("replbody", (mods[-1].args[0] + data,))
        else:
            mods.append(Modification("replbody", (data,)))
        return
    mods.append(_parse_modification(reply, data))


def _parse_modification(reply: Reply, data: bytes) -> Modification:
    if reply in (Reply.INSHEADER, Reply.CHGHEADER):
        if len(data) < 4:
            raise MilterProtocolError(f"{reply.name} too short")
        (index,) = struct.unpack("!I", data[:4])
        name, value = _fields(reply, data[4:], 2, 2)
        kind = "insheader" if reply is Reply.INSHEADER else "chgheader"
        return Modification(kind, (index, name, value))
    if reply is Reply.ADDHEADER:
        return Modification("addheader", tuple(_fields(reply, data, 2, 2)))
    if reply in (Reply.CHGFROM, Reply.ADDRCPT_PAR):
        addr, *args = _fields(reply, data, 1, 2)
        kind = "chgfrom" if reply is Reply.CHGFROM else "addrcpt"
        return Modification(kind, (addr, args[0] if args else ""))
    if reply is Reply.ADDRCPT:
        return Modification("addrcpt", (_fields(reply, data, 1, 1)[0], ""))
    if reply is Reply.DELRCPT:
        return Modification("delrcpt", tuple(_fields(reply, data, 1, 1)))
    if reply is Reply.QUARANTINE:
        return Modification("quarantine", tuple(_fields(reply, data, 1, 1)))
    raise MilterProtocolError(f"unexpected {reply.name} at eom")


def _fields(reply: Reply, data: bytes, least: int, most: int) -> list[str]:
    values = _split_cstrings(data)
    if not least <= len(values) <= most:
        raise MilterProtocolError(f"{reply.name} carries {len(values)} strings")
    return values


def _parse_macro_lists(data: bytes) -> dict[str, tuple[str, ...]]:
    """The optional (stage number, "name name ...") lists after OPTNEG."""
    lists: dict[str, tuple[str, ...]] = {}
    while len(data) >= 4:
        (number,) = struct.unpack("!I", data[:4])
        text, _, data = data[4:].partition(b"\0")
        stage = _MACRO_STAGE_BY_NUMBER.get(number)
        if stage is None:
            log.warning("milter asked for macros of unknown stage %d", number)
            continue
        lists[stage] = tuple(_decode(text).split())
    return lists


def _connect_data(env: _Envelope) -> bytes:
    # Postfix reports an unknown client name as "[address]".
    name = env.client_name
    if name == "unknown" and env.client_ip:
        name = f"[{env.client_ip}]"
    if not env.client_ip:
        return _cstrings(name) + b"U"
    if env.client_ip.startswith("/"):
        return _cstrings(name) + b"L" + struct.pack("!H", 0) + _cstrings(env.client_ip)
    family = b"6" if ipaddress.ip_address(env.client_ip).version == 6 else b"4"
    return _cstrings(name) + family + struct.pack("!H", env.client_port) + _cstrings(env.client_ip)


def _default_macros(stage: str, env: _Envelope, rcpt: str) -> dict[str, str]:
    """The macros Postfix sends by default for each stage."""
    if stage == "connect":
        return {
            "j": "mx.spoofwatch.test",
            "{daemon_name}": "smtpd",
            "{daemon_addr}": "127.0.0.1",
            "v": "Postfix 3.8.0",
            "_": f"{env.client_name} [{env.client_ip}]" if env.client_ip else env.client_name,
            "{client_addr}": env.client_ip,
            "{client_name}": env.client_name,
        }
    if stage == "mail":
        return {"i": env.queue_id, "{mail_addr}": _strip_brackets(env.mail_from)}
    if stage == "rcpt":
        return {"{rcpt_addr}": _strip_brackets(rcpt), "{rcpt_mailer}": "smtp"}
    if stage in ("data", "eoh", "eom"):
        return {"i": env.queue_id}
    return {}


def _leading_space(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, " " + value) for name, value in headers)
