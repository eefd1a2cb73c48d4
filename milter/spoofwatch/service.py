"""The milter adapter: pymilter callbacks -> Envelope + Message -> analyze() -> milter calls.

This module holds no detection logic. Each SMTP connection gets its own
``SpoofwatchMilter`` object; what connections share is read-only (the current
``Runtime``: configuration and resolver), swapped as a whole on reload.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import Milter
import milter

from . import actions as act
from .analyze import Report, analyze
from .config import Config, load_config
from .dns import Resolver
from .logline import message_log_line
from .message import Message
from .results import Envelope

log = logging.getLogger("spoofwatch.service")

MILTER_NAME = "spoofwatch"
_BODY_CHUNK = 65535


@dataclass(frozen=True)
class Runtime:
    """What every session reads: replaced as a whole, never mutated."""

    config: Config
    resolver: Resolver


class RuntimeHolder:
    """Holds the current Runtime; a reload swaps the reference in one assignment."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()

    @property
    def current(self) -> Runtime:
        return self._runtime

    def reload(self, path: str) -> bool:
        """Re-read the configuration; keep the running one if the new one is broken."""
        with self._lock:
            try:
                config = load_config(path)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old config
                log.error("reload failed, keeping the running configuration: %s", exc)
                return False
            old = self._runtime
            resolver = old.resolver if config.dns == old.config.dns else make_resolver(config)
            self._runtime = Runtime(config, resolver)
            log.info("configuration reloaded from %s (policy %s)", path, config.policy.name)
            return True


def make_resolver(config: Config) -> Resolver:
    dns = config.dns
    return Resolver(
        nameservers=dns.nameservers, port=dns.port, timeout=dns.timeout, lifetime=dns.lifetime,
        cache_size=dns.cache_size, message_budget=dns.message_budget,
    )


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


class SpoofwatchMilter(Milter.Base):
    holder: RuntimeHolder  # set by serve() before the first connection

    def __init__(self) -> None:
        self.client_ip = ""
        self.client_name = ""
        self.helo_name = ""
        self.tx: _Transaction | None = None
        self.runtime: Runtime | None = None

    # --- SMTP stages -----------------------------------------------------------------
    @Milter.noreply
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
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
        # A message starts here: it keeps the configuration it started with, whatever a
        # reload does meanwhile.
        self.runtime = self.holder.current
        self.tx = _Transaction(
            mail_from=_strip_brackets(mailfrom),
            auth_user=self.getsymval("{auth_authen}") or "",
            started=time.monotonic(),
        )
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
        if self.tx is not None and not self.tx.oversized:
            self.tx.headers.append((name, value))
            self._count(len(name) + len(value) + 4)
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        if self.tx is not None and not self.tx.oversized:
            self._count(len(chunk))
            if not self.tx.oversized:
                self.tx.body.write(chunk)
        return Milter.CONTINUE

    def eom(self) -> int:
        runtime = self.runtime or self.holder.current
        tx = self.tx
        try:
            if tx is None:
                return Milter.ACCEPT
            return self._finish(runtime, tx)
        except Exception:  # noqa: BLE001 - one bad message must never kill the service
            log.exception("internal error on queue id %s; fail-safe action %s",
                          self.getsymval("i") or "?", runtime.config.fail_safe)
            return Milter.TEMPFAIL if runtime.config.fail_safe == "tempfail" else Milter.ACCEPT
        finally:
            self._discard_body()

    def abort(self) -> int:
        self._discard_body()
        return Milter.CONTINUE

    def close(self) -> int:
        self._discard_body()
        return Milter.CONTINUE

    # --- helpers ---------------------------------------------------------------------
    def _count(self, n: int) -> None:
        assert self.tx is not None and self.runtime is not None
        self.tx.size += n
        if self.tx.size > self.runtime.config.milter.max_message_size:
            self.tx.oversized = True

    def _discard_body(self) -> None:
        if self.tx is not None and self.tx.body is not None:
            self.tx.body.close()
        self.tx = None

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

    def _finish(self, runtime: Runtime, tx: _Transaction) -> int:
        envelope = self._envelope(tx)
        if tx.oversized:
            log.warning("queue id %s: message larger than %d bytes accepted unchecked",
                        envelope.queue_id or "?", runtime.config.milter.max_message_size)
            return Milter.ACCEPT
        tx.body.seek(0)
        message = Message.from_milter(tx.headers, tx.body.read())
        lookup = runtime.resolver.for_message()
        report = analyze(envelope, message, runtime.config, lookup)
        result = self._apply(report)
        elapsed = time.monotonic() - tx.started
        log.info("%s", message_log_line(report, elapsed))
        return result

    def _apply(self, report: Report) -> int:
        outcome = Milter.ACCEPT
        for action in report.actions:
            match action:
                case act.AddHeader(name, value, top):
                    self.addheader(name, value, 0 if top else -1)
                case act.DeleteHeader(name, index, _):
                    self.chgheader(name, index, "")
                case act.ChangeHeader(name, index, value):
                    self.chgheader(name, index, value)
                case act.ReplaceBody(body, content_type, cte):
                    if content_type:
                        self.chgheader("Content-Type", 1, content_type)
                    if cte:
                        self.chgheader("Content-Transfer-Encoding", 1, cte)
                    for start in range(0, len(body), _BODY_CHUNK):
                        self.replacebody(body[start:start + _BODY_CHUNK])
                case act.Quarantine(reason):
                    self.quarantine(reason)
                case act.Reply(kind, code, xcode, text):
                    self.setreply(code, xcode, text)
                    outcome = Milter.REJECT if kind == "reject" else Milter.TEMPFAIL
        return outcome


# --- the socket ----------------------------------------------------------------------
def _prepare_unix_socket(path: str) -> None:
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o750, exist_ok=True)


def _fix_unix_socket(path: str, mode: int, group: str) -> None:
    """Let Postfix's smtpd (user postfix) connect: the process umask must not decide."""
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            log.warning("socket group %r does not exist; socket keeps its group", group)
        else:
            os.chown(path, -1, gid)
    os.chmod(path, mode)


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


def serve(holder: RuntimeHolder) -> None:
    """Open the socket and run libmilter's loop until it stops."""
    config = holder.current.config
    spec = config.milter.socket
    SpoofwatchMilter.holder = holder
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
    if spec.startswith("unix:"):
        _prepare_unix_socket(spec[5:])
    milter.setconn(libmilter_socket(spec))
    milter.settimeout(config.milter.timeout)
    milter.register(
        MILTER_NAME,
        data=lambda ctx: ctx.getpriv().data(),
        unknown=lambda ctx, cmd: Milter.CONTINUE,
        negotiate=Milter.negotiate_callback,
    )
    milter.opensocket(True)
    if spec.startswith("unix:"):
        _fix_unix_socket(spec[5:], config.milter.socket_mode, config.milter.socket_group)
    else:
        port = socket_port(spec)
        if port is not None and not _set_nodelay_on_listener(port):
            log.warning("could not set TCP_NODELAY on the listening socket")
    log.info("spoofwatch listening on %s (policy %s)", spec, config.policy.name)
    milter.main()


def run(config_path: str) -> int:
    config = load_config(config_path)
    holder = RuntimeHolder(Runtime(config, make_resolver(config)))
    serve(holder)
    return 0
