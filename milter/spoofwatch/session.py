"""One SMTP connection: pymilter callbacks -> Envelope + Message -> analyze() -> milter calls.

Each connection gets its own ``SpoofwatchMilter``; what connections share is the
``Service`` (service.py). The session decides nothing about mail: how large is too large,
whether a release header is valid and which clients go unchecked are the core's
(``analyze()``), so ``spoofwatch scan`` prints what the milter does. What stays here is
the protocol: keep what arrives (the body spooled to a temporary file past
``spool_threshold``, only the fields cleanup needs past ``max_message_size``), answer the
MTA, apply the actions, log.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import Milter

from . import actions as act
from .actions import action_names
from .analyze import analyze
from .glue_errors import take_glue_problem
from .logline import decision_record, envelope_log_line, message_log_line
from .message import Message
from .plan import header_safe
from .quarantine.render import held_copy
from .report import Report, SkipReason
from .results import Envelope
from .runtime import Runtime
from .service import Service
from .size_limit import KEPT_VALUE_CHARS, kept_when_oversized, milter_field_size, over_limit
from .textsafe import ascii_safe

log = logging.getLogger("spoofwatch.service")

_BODY_CHUNK = 65535
# {auth_authen} that is not UTF-8: the MTA says the client authenticated, we cannot read who.
UNREADABLE_AUTH_USER = "(not UTF-8)"
# The blank line between header section and body, counted into the message's size.
_SEPARATOR_SIZE = 2


def _strip_brackets(address: str) -> str:
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    return address


@dataclass
class _Transaction:
    """Mutable per-message state, private to one connection's callbacks."""

    mail_from: str = ""
    rcpts: list[str] = field(default_factory=list)
    auth_user: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None  # SpooledTemporaryFile
    size: int = 0
    oversized: bool = False
    started: float = 0.0
    error: BaseException | None = None  # spooling failed (disk full, ...): fail-safe at the end
    counted: bool = False  # in InFlight's count (False: arrived while the service drains)
    header_count: int = 0  # every header field seen, kept or not


class SpoofwatchMilter(Milter.Base):
    service: Service  # set by serve() before the first connection

    def __init__(self) -> None:
        self.client_ip = ""
        self.client_name = ""
        self.helo_name = ""
        self.tx: _Transaction | None = None
        self.runtime: Runtime | None = None
        self.connected = False  # our connect() ran
        # CONNECT failed in pymilter's glue: no message of this connection can be checked
        self.connection_problem = ""

    # --- SMTP stages -----------------------------------------------------------------
    @Milter.noreply
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        self.connected = True
        self.client_name = hostname or ""
        if family in (socket.AF_INET, socket.AF_INET6) and hostaddr:
            self.client_ip = str(hostaddr[0])
        else:
            self.client_ip = ""
        return Milter.CONTINUE

    @Milter.noreply
    def hello(self, hostname: str) -> int:
        self.helo_name = hostname or ""
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mailfrom: str, *params: str) -> int:
        self._discard_body()
        self._connection_glue_problem()
        # A message starts here: it keeps the configuration it started with, whatever a
        # reload does meanwhile.
        self.runtime = self.service.holder.current
        self.tx = _Transaction(
            mail_from=_strip_brackets(mailfrom),
            auth_user=self._auth_user(),
            started=time.monotonic(),
        )
        self.tx.counted = self.service.inflight.enter()
        threshold = self.runtime.config.milter.spool_threshold
        self.tx.body = tempfile.SpooledTemporaryFile(max_size=threshold)
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *params: str) -> int:
        if self.tx is not None:
            self.tx.rcpts.append(_strip_brackets(to))
        return Milter.CONTINUE

    def data(self) -> int:
        # Replying here (rather than negotiating DATA away) avoids a TCP delayed-ACK stall
        # of about 40-90 ms per message on inet sockets: see docs/architecture.md.
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name: str, value: str) -> int:
        tx = self.tx
        if tx is None:
            return Milter.CONTINUE
        tx.header_count += 1
        if not tx.oversized:
            tx.headers.append((name, value))
            self._count(milter_field_size(name, value))
        elif kept_when_oversized(name):
            # Too large to check, but forged headers must still go: keep only those a
            # cleanup needs, and only their start (the authserv-id comes first).
            tx.headers.append((name, value[:KEPT_VALUE_CHARS]))
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
        if self.tx is not None and not self.tx.oversized:
            self._count(_SEPARATOR_SIZE)
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        tx = self.tx
        if tx is not None and not tx.oversized and tx.error is None:
            self._count(len(chunk))
            if not tx.oversized:
                try:
                    tx.body.write(chunk)
                except OSError as exc:
                    # Spooling to disk failed (full, gone): answer at the end of the
                    # message with the configured fail-safe action, not pymilter's.
                    tx.error = exc
            else:
                _close_quietly(tx.body)  # it will not be read: give the space back now
                tx.body = None
        return Milter.CONTINUE

    def eom(self) -> int:
        runtime = self.runtime or self.service.holder.current
        tx = self.tx
        try:
            if tx is None:
                return Milter.ACCEPT
            if tx.error is not None:
                raise tx.error
            problem = take_glue_problem() or self.connection_problem
            if problem:
                return self._fail_safe(runtime, tx, _UnreadableInput(problem),
                                       "unreadable input from the MTA")
            if not tx.counted:
                # Started after the stop began: the sender retries, with the next instance.
                self.setreply("451", "4.3.2", "spoofwatch is restarting, try again later")
                return Milter.TEMPFAIL
            return self._finish(runtime, tx)
        except Exception as exc:  # noqa: BLE001 - one bad message must never kill the service
            return self._fail_safe(runtime, tx, exc)
        finally:
            self._discard_body()

    def abort(self) -> int:
        take_glue_problem()  # the message it belonged to is gone
        self._discard_body()
        return Milter.CONTINUE

    def close(self) -> int:
        self._discard_body()
        return Milter.CONTINUE

    # --- helpers ---------------------------------------------------------------------
    def _connection_glue_problem(self) -> None:
        """What failed in the glue before MAIL belongs to the connection: CONNECT or HELO."""
        problem = take_glue_problem()
        if not problem:
            return
        if self.connected:
            # Only the HELO name was unreadable: check without it (SPF's HELO check says
            # none) rather than defer every message of a client with an 8-bit HELO.
            log.warning("the HELO name is unreadable (%s); checking without it", problem)
            self.helo_name = ""
        else:
            self.connection_problem = problem

    def _auth_user(self) -> str:
        """{auth_authen}; pymilter cannot return one that is not UTF-8 (it raises)."""
        try:
            return self.getsymval("{auth_authen}") or ""
        except UnicodeDecodeError:
            # Only the MTA sets this macro, after a successful SMTP AUTH: the client did
            # authenticate, under a name we cannot read.
            log.warning("the {auth_authen} macro is not UTF-8; the session counts as "
                        "authenticated (user %s)", UNREADABLE_AUTH_USER)
            return UNREADABLE_AUTH_USER

    def _count(self, n: int) -> None:
        assert self.tx is not None and self.runtime is not None
        self.tx.size += n
        if over_limit(self.tx.size, self.runtime.config.milter.max_message_size):
            self.tx.oversized = True  # stop keeping it: analyze() will not check it

    def _discard_body(self) -> None:
        tx = self.tx
        if tx is None:
            return
        self.tx = None
        if tx.counted:
            self.service.inflight.leave()
        _close_quietly(tx.body)

    def _envelope(self, tx: _Transaction) -> Envelope:
        return Envelope(
            client_ip=self.client_ip,
            client_name=self.client_name,
            helo=self.helo_name,
            mail_from=tx.mail_from,
            rcpts=tuple(tx.rcpts),
            queue_id=self.getsymval("i") or "",
            auth_user=tx.auth_user,
        )

    def _fail_safe(self, runtime: Runtime, tx: _Transaction | None, exc: Exception,
                   what: str = "internal error") -> int:
        outcome = "fail_safe_" + runtime.config.fail_safe
        service = self.service
        service.metrics.internal_errors.inc()
        if tx is None:
            log.exception("%s; %s", what, outcome)
        else:
            envelope = self._envelope(tx)
            unreadable = isinstance(exc, (_UnreadableInput, _Busy))
            detail = str(exc) if unreadable else f"{type(exc).__name__}: {exc}"
            log.error("%s (%s); %s", what, ascii_safe(detail, 300),
                      envelope_log_line(envelope, outcome), exc_info=None if unreadable else exc)
            service.log_decision(runtime, decision_record(
                envelope, None, outcome, time.monotonic() - tx.started,
                note=f"{what}: {detail.split(':', 1)[0]}"))
        return Milter.TEMPFAIL if runtime.config.fail_safe == "tempfail" else Milter.ACCEPT

    def _finish(self, runtime: Runtime, tx: _Transaction) -> int:
        envelope = self._envelope(tx)
        config = runtime.config
        # an oversized message was not kept: nothing of it to analyze, no room to take
        large = not tx.oversized and tx.size > config.milter.spool_threshold
        if large and not self.service.gate.enter(tx.size, config.milter.timeout, self.progress):
            return self._fail_safe(runtime, tx, _Busy(
                f"no room to analyze {tx.size} bytes within {config.milter.timeout}s"),
                "too busy")
        try:
            return self._analyze(runtime, tx, envelope)
        finally:
            if large:
                self.service.gate.leave(tx.size)

    def _analyze(self, runtime: Runtime, tx: _Transaction, envelope: Envelope) -> int:
        body = b""
        if not tx.oversized:
            tx.body.seek(0)
            body = tx.body.read()
            _close_quietly(tx.body)  # the spool file is read: give its space back
            tx.body = None
        # An oversized message is only the header fields kept for cleanup; ``size`` tells
        # analyze() what the whole was, and it decides what such a message gets.
        message = Message.from_milter(tx.headers, body)
        del body
        lookup = runtime.resolver.for_message()
        report = analyze(envelope, message, runtime.config, lookup, runtime.release_key,
                         size=tx.size)
        result = self._apply(report.actions)
        if runtime.store is not None and any(isinstance(a, act.Quarantine)
                                             for a in report.actions):
            # never raises: Postfix holds the message whether or not our copy is saved
            runtime.store.save(held_copy(message, report.actions), report, envelope.queue_id)
        self._record(runtime, report, result, time.monotonic() - tx.started)
        return result

    def _record(self, runtime: Runtime, report: Report, result: int, elapsed: float) -> None:
        service = self.service
        outcome = {Milter.REJECT: "reject", Milter.TEMPFAIL: "tempfail"}.get(result, "accept")
        skip = report.skip
        if skip is not None:
            service.metrics.skipped.labels(skip.reason.value).inc()
        if skip is not None and skip.reason is SkipReason.OVERSIZED:
            # Not checked: logged as a message that got no verdict, with the reason.
            log.warning("%s", envelope_log_line(report.envelope, outcome, skip.text))
            service.log_decision(runtime, decision_record(report.envelope, None, outcome,
                                                          elapsed, note=skip.text))
            return
        log.info("%s", message_log_line(report, elapsed))
        service.log_decision(runtime, decision_record(report.envelope, report, outcome, elapsed))
        service.metrics.observe_message(report.level.value, action_names(report.actions),
                                        report.timings, elapsed)

    def _apply(self, actions: tuple[act.Action, ...]) -> int:
        """Each action on its own: one that fails is logged and counted, the rest happen.

        The disposition goes first (quarantine, then the SMTP reply), so that no header
        or body change that fails can let a threat through.
        """
        outcome = Milter.ACCEPT
        for action in sorted(actions, key=_apply_order):
            if isinstance(action, act.Reply):
                # decided even if setting the reply text fails: the MTA uses its own text
                outcome = Milter.REJECT if action.kind == "reject" else Milter.TEMPFAIL
            try:
                self._apply_one(action)
            except Exception as exc:  # noqa: BLE001 - one action must not cancel the others
                self.service.metrics.internal_errors.inc()
                log.error("could not apply the action %s (%s: %s); the other actions still "
                          "apply", ascii_safe(act.describe(action), 200), type(exc).__name__,
                          ascii_safe(str(exc), 200))
        return outcome

    def _apply_one(self, action: act.Action) -> None:
        match action:
            case act.AddHeader(name, value, top):
                self.addheader(name, header_safe(value), 0 if top else -1)
            case act.DeleteHeader(name, index, _):
                self.chgheader(name, index, "")
            case act.ChangeHeader(name, index, value):
                self.chgheader(name, index, header_safe(value))
            case act.ReplaceBody(body, content_type, cte):
                if content_type:
                    self.chgheader("Content-Type", 1, header_safe(content_type))
                if cte:
                    self.chgheader("Content-Transfer-Encoding", 1, header_safe(cte))
                for start in range(0, len(body), _BODY_CHUNK):
                    self.replacebody(body[start:start + _BODY_CHUNK])
            case act.Quarantine(reason):
                self.quarantine(ascii_safe(reason, 400))
            case act.Reply(_, code, xcode, text):
                self.setreply(code, xcode, text)


class _UnreadableInput(Exception):
    """The MTA sent something pymilter could not hand to us (see _GlueErrors)."""


class _Busy(Exception):
    """Large messages ahead of this one kept the analysis budget for too long."""


def _apply_order(action: act.Action) -> int:
    if isinstance(action, act.Quarantine):
        return 0
    return 1 if isinstance(action, act.Reply) else 2


def _close_quietly(body: Any) -> None:
    if body is None:
        return
    try:
        body.close()
    except OSError:
        pass

