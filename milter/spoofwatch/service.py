"""The milter adapter: pymilter callbacks -> Envelope + Message -> analyze() -> milter calls.

This module holds no detection logic. Each SMTP connection gets its own
``SpoofwatchMilter`` object; what connections share is the ``Service``: the current
``Runtime`` (configuration and resolver, read-only, swapped as a whole on reload), the
metrics, the decision log and the count of messages in flight.

``run()`` is what ``spoofwatch run`` calls: a supervisor process (supervisor.py) that
handles the signals and forks the worker, ``worker_main()``, which runs libmilter. Why
two processes: libmilter's own signal thread takes SIGHUP, SIGTERM and SIGINT and stops
on every one of them, and Python signal handlers never run while the main thread is in
libmilter's loop. See docs/operations.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import grp
import logging
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import Milter
import milter

from . import actions as act
from . import libmilter_tuning, postfix_check
from .actions import action_names
from .analyze import Report, analyze
from .config import Config, load_config
from .dns import Resolver, ResolverStats
from .logline import (
    DecisionLog,
    DecisionLogSettings,
    SafeFormatter,
    decision_record,
    envelope_log_line,
    message_log_line,
)
from .message import Message
from .metrics import Endpoint, Metrics
from .plan import VERDICT_HEADER, cleanup_actions, header_safe
from .quarantine.release import ReleaseKeyError, key_path, load_or_create_key
from .quarantine.render import held_copy
from .quarantine.store import QuarantineStore, open_service_store, start_retention
from .reloadable import changed_restart_only_keys, restart_warning
from .results import Envelope
from .textsafe import ascii_safe

log = logging.getLogger("spoofwatch.service")

MILTER_NAME = "spoofwatch"
_BODY_CHUNK = 65535
# On stop, messages already in flight get this long to finish.
DRAIN_SECONDS = 15.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
_STOP_SIGNALS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}
# The verdict header of a message too large to check (docs/configuration.md).
UNCHECKED_OVERSIZED = "unchecked; reason=oversized"
# Past max_message_size only the headers cleanup needs are kept, each value cut to this.
_KEPT_VALUE_CHARS = 1024
# {auth_authen} that is not UTF-8: the MTA says the client authenticated, we cannot read who.
UNREADABLE_AUTH_USER = "(not UTF-8)"
# Messages larger than milter.spool_threshold enter analysis while the sum of their sizes
# stays within this budget (one at a time when one alone is larger). Analysis needs a few
# times a message's size (the message, its serialization, DKIM's and ARC's canonical
# bodies, the parsed MIME tree), so this bounds the worker's memory however many large
# messages arrive at once. See docs/benchmarks.md (memory).
ANALYSIS_BUDGET = 32 * 1_048_576
# A message waiting for its turn tells the MTA it is alive this often (SMFIR_PROGRESS
# restarts Postfix's milter_content_timeout, 300 s by default).
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class Runtime:
    """What every session reads: replaced as a whole, never mutated."""

    config: Config
    resolver: Resolver
    release_key: bytes = b""  # quarantine release key (b"" = releases are not honoured)
    store: QuarantineStore | None = None  # our own quarantine store (None = disabled)


def make_runtime(config: Config, resolver: Resolver) -> Runtime:
    """A Runtime with the quarantine store and release key the configuration names."""
    q = config.quarantine
    key = b""
    if q.directory or q.release_key_file:
        try:
            key = load_or_create_key(key_path(q.directory, q.release_key_file))
        except ReleaseKeyError as exc:
            log.error("quarantine releases will not pass: %s", exc)
    # open_service_store logs once what keeps the store from being used (and the fix)
    return Runtime(config, resolver, key, open_service_store(q.directory) if q.directory else None)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    error: str = ""  # what is wrong with the new file (file:line: key: problem)


class RuntimeHolder:
    """Holds the current Runtime; a reload swaps the reference in one assignment."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()

    @property
    def current(self) -> Runtime:
        return self._runtime

    def reload(self, path: str) -> ReloadResult:
        """Re-read the configuration; keep the running one if the new one is broken."""
        with self._lock:
            try:
                config = load_config(path)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old config
                log.error("reload failed, keeping the running configuration: %s", exc)
                return ReloadResult(False, str(exc))
            old = self._runtime
            resolver = old.resolver if config.dns == old.config.dns else make_resolver(config)
            self._runtime = make_runtime(config, resolver)
            log.info("configuration reloaded from %s (policy %s)", path, config.policy.name)
            return ReloadResult(True)


def make_resolver(config: Config) -> Resolver:
    dns = config.dns
    return Resolver(
        nameservers=dns.nameservers, port=dns.port, timeout=dns.timeout, lifetime=dns.lifetime,
        cache_size=dns.cache_size, message_budget=dns.message_budget,
        outage_after=dns.outage_after, outage_budget=dns.outage_budget,
        probe_interval=dns.probe_interval,
    )


def _decision_settings(config: Config) -> DecisionLogSettings:
    lc = config.logging
    return DecisionLogSettings(lc.json_file, lc.json_max_bytes, lc.json_backups)


class InFlight:
    """Messages between MAIL FROM and their end, so that a stop can let them finish.

    Once draining has begun, new messages are counted apart: the stop waits only for
    the ones that started before it (new ones are answered with a 4xx, see eom()).
    """

    def __init__(self) -> None:
        self._count = 0
        self._draining = False
        self._cond = threading.Condition()

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> bool:
        """Count a new message; False when it arrived during draining (not waited for)."""
        with self._cond:
            if self._draining:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuse new messages from now on; wait until the earlier ones are done."""
        with self._cond:
            self._draining = True
            return self._cond.wait_for(lambda: self._count <= 0, timeout)


class AnalysisGate:
    """Admits large messages into analysis in arrival order, within a byte budget.

    A message waits until it is first in line and its size fits beside those being
    analyzed (or nothing else is being analyzed). While it waits, ``tick`` runs every
    PROGRESS_SECONDS (the milter's progress reply), so the MTA does not time out.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._in_use = 0
        self._line: deque[object] = deque()
        self._cond = threading.Condition()

    def _fits(self, ticket: object, size: int) -> bool:
        return self._line[0] is ticket and (
            self._in_use == 0 or self._in_use + size <= self._budget)

    def enter(self, size: int, wait: float, tick: Callable[[], object]) -> bool:
        """Wait (at most ``wait`` seconds) for room; False when there was none in time."""
        ticket = object()
        now = time.monotonic()
        deadline, next_tick = now + wait, now + PROGRESS_SECONDS
        with self._cond:
            self._line.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._fits(ticket, size):
                        self._in_use += size
                        return True
                    now = time.monotonic()
                    if now >= deadline:
                        return False
                    if now < next_tick:
                        self._cond.wait(min(next_tick, deadline) - now)
                        continue
                next_tick = time.monotonic() + PROGRESS_SECONDS
                tick()  # outside the lock: it writes to the MTA
        finally:
            with self._cond:
                self._line.remove(ticket)
                self._cond.notify_all()

    def leave(self, size: int) -> None:
        with self._cond:
            self._in_use -= size
            self._cond.notify_all()


@dataclass(frozen=True)
class Service:
    """Everything the sessions of one worker process share."""

    holder: RuntimeHolder
    metrics: Metrics
    decisions: DecisionLog
    inflight: InFlight = field(default_factory=InFlight)
    gate: AnalysisGate = field(default_factory=lambda: AnalysisGate(ANALYSIS_BUDGET))

    @classmethod
    def create(cls, config: Config) -> Service:
        holder = RuntimeHolder(make_runtime(config, make_resolver(config)))

        def dns_stats() -> ResolverStats:
            return holder.current.resolver.stats

        metrics = Metrics(dns_stats)
        decisions = DecisionLog(_decision_settings(config),
                                on_error=metrics.decision_log_errors.inc)
        return cls(holder, metrics, decisions)

    def reload(self, path: str) -> ReloadResult:
        before = self.holder.current.config
        result = self.holder.reload(path)
        self.metrics.reloads.labels("success" if result.ok else "failure").inc()
        if result.ok:
            self.apply(self.holder.current.config, before)
        return result

    def apply(self, config: Config, before: Config | None = None) -> None:
        """Settings that live outside the Runtime: log level, decision log, exception policy."""
        logging.getLogger().setLevel(config.logging.level.upper())
        self.decisions.reconfigure(_decision_settings(config))
        # CONTINUE, whatever fail_safe says: an exception in a callback the MTA expects no
        # reply to (pymilter's glue failing on a header name, say) must leave libmilter in
        # step with the MTA. Any other answer makes libmilter drop the message's later
        # commands, end of message included, and the MTA waits for its timeout. Our own
        # callbacks catch what they raise; the glue's failures reach us through
        # _glue_excepthook and get the fail_safe action at end of message.
        milter.set_exception_policy(milter.CONTINUE)
        if before is not None and (keys := changed_restart_only_keys(before, config)):
            log.warning("%s", restart_warning(keys))


class _GlueErrors(threading.local):
    """Exceptions raised in pymilter's C glue, before any method of ours could run.

    pymilter decodes some callback arguments itself (a header *name*, the HELO name, the
    client host name) as strict UTF-8. When that fails it prints the exception (through
    ``sys.excepthook``) and returns the exception policy to libmilter without calling us.
    pymilter gives every session its own Python thread state, and ``threading.local``
    is per thread state: what the hook records here belongs to that session alone, and
    the session's next callback of ours finds it.
    """

    problem: str = ""


_GLUE = _GlueErrors()


def _take_glue_problem() -> str:
    problem = _GLUE.problem
    if problem:
        _GLUE.problem = ""
    return problem


def _glue_excepthook(kind: type[BaseException], exc: BaseException,
                     tb: TracebackType | None) -> None:
    """sys.excepthook in the worker: log (never print) and remember for the session."""
    text = f"{kind.__name__}: {ascii_safe(str(exc), 300)}"
    if not _GLUE.problem:
        _GLUE.problem = text
    log.error("pymilter could not pass a callback to spoofwatch (%s)", text,
              exc_info=(kind, exc, tb) if tb else None)


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
            self._count(len(name) + len(value) + 4)
        elif _needed_for_cleanup(name):
            # Too large to check, but forged headers must still go: keep only those a
            # cleanup needs, and only their start (the authserv-id comes first).
            tx.headers.append((name, value[:_KEPT_VALUE_CHARS]))
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
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
            problem = _take_glue_problem() or self.connection_problem
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
        _take_glue_problem()  # the message it belonged to is gone
        self._discard_body()
        return Milter.CONTINUE

    def close(self) -> int:
        self._discard_body()
        return Milter.CONTINUE

    # --- helpers ---------------------------------------------------------------------
    def _connection_glue_problem(self) -> None:
        """What failed in the glue before MAIL belongs to the connection: CONNECT or HELO."""
        problem = _take_glue_problem()
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
        if self.tx.size > self.runtime.config.milter.max_message_size:
            self.tx.oversized = True

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
            service.decisions.write(decision_record(
                envelope, None, outcome, time.monotonic() - tx.started,
                note=f"{what}: {detail.split(':', 1)[0]}"))
        return Milter.TEMPFAIL if runtime.config.fail_safe == "tempfail" else Milter.ACCEPT

    def _finish(self, runtime: Runtime, tx: _Transaction) -> int:
        envelope = self._envelope(tx)
        if tx.oversized:
            return self._finish_oversized(runtime, tx, envelope)
        config = runtime.config
        large = tx.size > config.milter.spool_threshold
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
        tx.body.seek(0)
        body = tx.body.read()
        _close_quietly(tx.body)  # the spool file is read: give its space back
        tx.body = None
        message = Message.from_milter(tx.headers, body)
        del body
        lookup = runtime.resolver.for_message()
        report = analyze(envelope, message, runtime.config, lookup, runtime.release_key)
        result = self._apply(report.actions)
        if runtime.store is not None and any(isinstance(a, act.Quarantine)
                                             for a in report.actions):
            # never raises: Postfix holds the message whether or not our copy is saved
            runtime.store.save(held_copy(message, report.actions), report, envelope.queue_id)
        elapsed = time.monotonic() - tx.started
        log.info("%s", message_log_line(report, elapsed))
        self._record(report, result, elapsed)
        return result

    def _finish_oversized(self, runtime: Runtime, tx: _Transaction, envelope: Envelope) -> int:
        """Not checked, but not trusted either: forged headers go, the verdict says why."""
        config = runtime.config
        service = self.service
        note = f"larger than {config.milter.max_message_size} bytes: not checked"
        log.warning("%s", envelope_log_line(envelope, "accept", note))
        service.metrics.skipped.labels("oversized").inc()
        headers = Message.from_milter(tx.headers, b"")
        actions = (*cleanup_actions(headers, config.authserv_id),
                   act.AddHeader(VERDICT_HEADER, UNCHECKED_OVERSIZED))
        result = self._apply(actions)
        service.decisions.write(decision_record(
            envelope, None, "accept", time.monotonic() - tx.started, note=note))
        return result

    def _record(self, report: Report, result: int, elapsed: float) -> None:
        service = self.service
        outcome = {Milter.REJECT: "reject", Milter.TEMPFAIL: "tempfail"}.get(result, "accept")
        service.decisions.write(decision_record(report.envelope, report, outcome, elapsed))
        service.metrics.observe_message(report.level.value, action_names(report.actions),
                                        report.timings, elapsed)
        if report.skipped:
            reason = ("authenticated" if report.skipped.startswith("auth")
                      else "released" if report.skipped.startswith("released")
                      else "trusted_client")
            service.metrics.skipped.labels(reason).inc()

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


def _needed_for_cleanup(name: str) -> bool:
    key = name.rstrip(" \t").lower()
    return key == "authentication-results" or key.startswith("x-spoofwatch-")


def _close_quietly(body: Any) -> None:
    if body is None:
        return
    try:
        body.close()
    except OSError:
        pass


# --- the socket ----------------------------------------------------------------------
def _group_id(group: str) -> int | None:
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("socket group %r does not exist; the socket keeps its group", group)
        return None


def _prepare_unix_socket(path: str, group: str) -> None:
    """Create the socket's directory so that the socket group can reach the socket.

    A directory we create is 0750 with the socket group (0755 without one): Postfix's
    smtpd runs as user postfix and must traverse it. A directory that exists (systemd's
    RuntimeDirectory) is left as the admin made it.
    """
    directory = os.path.dirname(path)
    if not directory or os.path.isdir(directory):
        return
    gid = _group_id(group)
    os.makedirs(directory, exist_ok=True)
    try:
        if gid is not None:
            os.chown(directory, -1, gid)
            os.chmod(directory, 0o750)
        else:
            os.chmod(directory, 0o755)
    except OSError as exc:
        log.warning("could not set the owner or mode of %s: %s", directory, exc)


def _fix_unix_socket(path: str, mode: int, group: str) -> None:
    """Let Postfix's smtpd (user postfix) connect: the process umask must not decide."""
    gid = _group_id(group)
    try:
        if gid is not None:
            os.chown(path, -1, gid)
        os.chmod(path, mode)
    except OSError as exc:
        # Without capabilities only a group we belong to is allowed: say so, keep serving.
        log.error("could not give the socket %s group %r and mode %o: %s; Postfix may be "
                  "unable to connect", path, group, mode, exc)


def _set_nodelay_on_listener(port: int) -> bool:
    """TCP_NODELAY on libmilter's listening socket (accepted sockets inherit it on Linux).

    pymilter gives no handle to the socket, so find it among our file descriptors.
    Without it libmilter's small end-of-message writes wait for delayed ACKs.
    """
    done = False
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.getsockname()[1] == port:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                done = True
        except OSError:
            pass
        finally:
            sock.close()
    return done


def libmilter_socket(spec: str) -> str:
    """Our socket syntax -> libmilter's (unix:/path, inet:port@host, inet6:port@host)."""
    if spec.startswith("unix:"):
        return spec
    family, rest = spec.split(":", 1)
    if "@" in rest:
        return spec
    host, port = rest.rsplit(":", 1)
    return f"{family}:{port}@{host}"


def socket_port(spec: str) -> int | None:
    if spec.startswith("unix:"):
        return None
    rest = spec.split(":", 1)[1]
    if "@" in rest:
        return int(rest.split("@", 1)[0])
    return int(rest.rsplit(":", 1)[1])


def _register_callbacks(service: Service) -> None:
    SpoofwatchMilter.service = service
    Milter.factory = SpoofwatchMilter
    milter.set_flags(milter.ADDHDRS | milter.CHGHDRS | milter.CHGBODY | milter.QUARANTINE)
    milter.set_connect_callback(Milter.connect_callback)
    milter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    milter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    milter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    milter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    milter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    milter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    milter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    milter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    milter.set_close_callback(Milter.close_callback)


def _socket_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


def serve(service: Service) -> None:
    """Open the socket and run libmilter's loop until it stops (SIGTERM, SIGINT, SIGHUP)."""
    config = service.holder.current.config
    spec = config.milter.socket
    _register_callbacks(service)
    sys.excepthook = _glue_excepthook
    service.apply(config)
    if spec.startswith("unix:"):
        _prepare_unix_socket(spec[5:], config.milter.socket_group)
    postfix_check.log_socket_warnings(spec)  # a socket a chrooted smtpd cannot see: say so
    milter.setconn(libmilter_socket(spec))
    milter.settimeout(config.milter.timeout)
    libmilter_tuning.raise_data_size_limit()
    milter.register(
        MILTER_NAME,
        data=lambda ctx: ctx.getpriv().data(),
        unknown=lambda ctx, cmd: Milter.CONTINUE,
        negotiate=Milter.negotiate_callback,
    )
    milter.opensocket(True)
    ours = None
    if spec.startswith("unix:"):
        _fix_unix_socket(spec[5:], config.milter.socket_mode, config.milter.socket_group)
        ours = _socket_identity(spec[5:])
    else:
        port = socket_port(spec)
        if port is not None and not _set_nodelay_on_listener(port):
            log.warning("could not set TCP_NODELAY on the listening socket")
    log.info("spoofwatch listening on %s (policy %s)", spec, config.policy.name)
    milter.main()
    # Remove the socket only if it is still the one we made (a new instance may own it now).
    if ours is not None and _socket_identity(spec[5:]) == ours:
        try:
            os.unlink(spec[5:])
        except OSError as exc:
            log.warning("could not remove the socket %s: %s", spec[5:], exc)


def drain_and_stop(service: Service) -> None:
    """Let the messages in flight finish (bounded), then stop libmilter.

    libmilter's own stop cuts every open session at once, and its sessions then get no
    more callbacks: so the draining happens here, while libmilter still runs.
    """
    log.info("stopping: %d message(s) in flight; new ones are deferred with 451",
             service.inflight.count)
    if not service.inflight.drain(DRAIN_SECONDS):
        log.warning("%d message(s) still in flight after %gs; the MTA applies its "
                    "milter_default_action to them", service.inflight.count, DRAIN_SECONDS)
    # libmilter's signal thread takes it from here (every thread blocks SIGTERM).
    os.kill(os.getpid(), signal.SIGTERM)
    _wake_listener(service.holder.current.config.milter.socket)


def _wake_listener(spec: str) -> None:
    """Connect to our own socket until the process ends.

    libmilter's listener notices a stop only when its poll() returns, which without
    traffic takes up to 5 s; a connection makes it return at once. The connections
    close immediately, so libmilter's sessions for them end without a callback.
    """
    for _ in range(50):
        time.sleep(0.1)
        try:
            if spec.startswith("unix:"):
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(1)
                    sock.connect(spec[5:])
            else:
                host = spec.split(":", 1)[1]
                port = socket_port(spec)
                host = host.split("@", 1)[1] if "@" in host else host.rsplit(":", 1)[0]
                with socket.create_connection((host, port or 0), timeout=1):
                    pass
        except OSError:
            return  # the listener is closed: libmilter is stopping


def _control_reader(fd: int, service: Service, config_path: str) -> None:
    """Commands from the supervisor, one per line; end of file means it is gone."""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        for line in iter(pipe.readline, b""):
            command = line.strip()
            if command == b"reload":
                service.reload(config_path)
            elif command == b"stop":
                drain_and_stop(service)
                return
            else:
                log.warning("unknown control command %s", ascii_safe(line.decode("latin-1")))
    log.warning("the supervisor is gone: stopping")
    drain_and_stop(service)


def _start_metrics(service: Service, config: Config) -> Endpoint | None:
    if not config.metrics.enabled:
        return None
    try:
        return service.metrics.serve(config.metrics.listen)
    except OSError as exc:
        # Mail comes first: run without the endpoint rather than not at all.
        log.error("cannot serve metrics on %s: %s; running without them",
                  config.metrics.listen, exc)
        return None


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _tune_malloc() -> None:
    """Give large buffers back to the system as soon as they are freed.

    glibc raises its mmap threshold after a large block is freed (up to 32 MiB), so the
    next message's multi-megabyte buffers come from per-thread heaps that are seldom
    returned; with libmilter's thread per session the worker then keeps the peak of
    every thread. A fixed threshold keeps every block of 256 KiB and more in its own
    mapping, unmapped when freed.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        ok = libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024) == 1 and (
            libc.mallopt(_M_TRIM_THRESHOLD, 1_048_576) == 1)
    except (OSError, AttributeError):
        ok = False
    if not ok:
        log.info("could not tune malloc (not glibc?); memory peaks may stay allocated")


def worker_main(config_path: str, control_fd: int | None, config: Config) -> int:
    """The libmilter process (``config`` was loaded from ``config_path`` before the fork;
    reloads read the path again). Returns its exit status."""
    _tune_malloc()
    # Before any thread exists: libmilter's signal thread sigwait()s these, which only
    # works when every thread blocks them (threads inherit the mask of their creator).
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    service = Service.create(config)
    endpoint = _start_metrics(service, config)

    def retention() -> tuple[str, int]:
        q = service.holder.current.config.quarantine
        return q.directory, q.retention_days

    start_retention(retention, threading.Event())
    if control_fd is not None:
        threading.Thread(target=_control_reader, args=(control_fd, service, config_path),
                         name="control", daemon=True).start()
    try:
        serve(service)
    except milter.error as exc:
        log.error("cannot run the milter on %s: %s", config.milter.socket, exc)
        return 71  # EX_OSERR
    finally:
        service.decisions.close()
        if endpoint is not None:
            endpoint.close()
    log.info("stopped")
    return 0


def use_safe_log_format() -> None:
    """Every handler of the root logger escapes what it prints (see logline.SafeFormatter)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(SafeFormatter(LOG_FORMAT))


def run(config_path: str, config: Config) -> int:
    """``spoofwatch run``: the supervisor, which forks the libmilter worker.

    ``config`` is the validated configuration from ``config_path`` (loaded once, before
    the fork, so a broken file fails at once; the worker inherits it).
    """
    from .supervisor import supervise

    use_safe_log_format()
    return supervise(lambda control_fd: worker_main(config_path, control_fd, config))
