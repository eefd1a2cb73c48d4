"""The milter socket and libmilter: prepare the socket, register the callbacks, serve.

``open_socket()`` registers with libmilter and opens the listening socket; it runs once, in
the supervisor, before any worker is forked. Every worker inherits the socket, and
libmilter, finding it open, opens no other (``smfi_opensocket`` then ``smfi_main``): so a
pool of workers shares one socket, and a worker that is restarted finds connections
waiting instead of a missing socket. ``serve()`` runs libmilter's loop in a worker until it
stops; ``wake_listener()`` makes a stopping loop notice at once; ``close_socket()`` removes
the socket once every worker has stopped.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass

import Milter
import milter

from . import libmilter_tuning, postfix_check
from .config import Config
from .glue_errors import glue_excepthook
from .service import Service
from .session import SpoofwatchMilter
from .socket_address import SocketAddress, parse_socket_address

log = logging.getLogger("spoofwatch.service")

MILTER_NAME = "spoofwatch"


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


def _listening_fd(address: SocketAddress) -> int | None:
    """libmilter's listening socket among our file descriptors (pymilter gives no handle)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if address.is_unix:
                if sock.family == socket.AF_UNIX and sock.getsockname() == address.path:
                    return fd
            elif (sock.family in (socket.AF_INET, socket.AF_INET6)
                  and sock.getsockname()[1] == address.port):
                return fd
        except OSError:
            pass
        finally:
            sock.close()
    return None


def _tune_listener(fd: int, address: SocketAddress) -> None:
    """Non-blocking, so that of several workers polling the one socket those that lose the
    race for a connection poll again (libmilter retries on EAGAIN) rather than wait in
    accept() where a stop cannot reach them; on TCP, TCP_NODELAY (accepted sockets inherit
    it on Linux), without which libmilter's small end-of-message writes wait for delayed
    ACKs."""
    os.set_blocking(fd, False)
    if address.is_unix:
        return
    with socket.socket(fileno=os.dup(fd)) as sock:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            log.warning("could not set TCP_NODELAY on the listening socket: %s", exc)



def _register_callbacks() -> None:
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


@dataclass(frozen=True)
class OpenSocket:
    """The listening socket ``open_socket`` opened: where, and (unix) which file it is."""

    address: SocketAddress
    identity: tuple[int, int] | None  # (device, inode) of a unix socket we created

    @property
    def spare(self) -> str:
        """A second name (hard link) of the unix socket, beside it: ``restore_socket``."""
        directory, name = os.path.split(self.address.path)
        return os.path.join(directory, f".{name}.spoofwatch-spare")


def open_socket(config: Config) -> OpenSocket:
    """Register with libmilter and open the listening socket (raises ``milter.error``).

    Runs in the supervisor, single-threaded, before any worker is forked: the workers
    inherit libmilter's registration and its open socket.
    """
    spec = config.milter.socket
    address = parse_socket_address(spec)
    _register_callbacks()
    if address.is_unix:
        _prepare_unix_socket(address.path, config.milter.socket_group)
    postfix_check.log_socket_warnings(spec)  # a socket a chrooted smtpd cannot see: say so
    milter.setconn(address.libmilter_spec())
    milter.settimeout(config.milter.timeout)
    libmilter_tuning.raise_data_size_limit()
    milter.register(
        MILTER_NAME,
        data=lambda ctx: ctx.getpriv().data(),
        unknown=lambda ctx, cmd: Milter.CONTINUE,
        negotiate=Milter.negotiate_callback,
    )
    milter.opensocket(True)
    identity = None
    if address.is_unix:
        _fix_unix_socket(address.path, config.milter.socket_mode, config.milter.socket_group)
        identity = _socket_identity(address.path)
    fd = _listening_fd(address)
    if fd is None:
        log.warning("could not find the listening socket to tune it")
    else:
        _tune_listener(fd, address)
    opened = OpenSocket(address, identity)
    if identity is not None:
        _keep_spare(opened)
    return opened


def _keep_spare(opened: OpenSocket) -> None:
    """A hard link to the socket, so that ``restore_socket`` can give it its name back.

    libmilter removes the socket's name when its loop ends in a process not running as
    root (``mi_closener``): a worker that stops on its own (a stray signal) would take the
    name with it while the others, and the worker that replaces it, go on listening on a
    socket nobody can reach.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(opened.spare)
    try:
        os.link(opened.address.path, opened.spare)
    except OSError as exc:
        log.warning("could not keep a second name for the socket (%s): a worker that stops "
                    "on its own may remove %s until the service restarts", exc,
                    opened.address.path)


def restore_socket(opened: OpenSocket) -> None:
    """Give the socket its name back if a worker's libmilter removed it (the supervisor
    calls this whenever a worker has ended); a name that another instance owns now is
    left alone."""
    if opened.identity is None or _socket_identity(opened.address.path) is not None:
        return
    if _socket_identity(opened.spare) != opened.identity:
        return
    try:
        os.link(opened.spare, opened.address.path)
    except OSError as exc:
        log.error("could not restore the socket %s: %s", opened.address.path, exc)
    else:
        log.warning("restored the socket %s, which a stopping worker had removed",
                    opened.address.path)


def close_socket(opened: OpenSocket) -> None:
    """Remove the unix socket, once every worker has stopped, if it is still the one we
    made (a new instance may own the path now)."""
    if opened.identity is None:
        return
    for path in (opened.spare, opened.address.path):
        if _socket_identity(path) != opened.identity:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # another worker of ours removed it a moment before
        except OSError as exc:
            log.warning("could not remove the socket %s: %s", path, exc)


def serve(service: Service) -> None:
    """Run libmilter's loop on the inherited socket until it stops (SIGTERM, SIGINT,
    SIGHUP). ``open_socket`` ran before: libmilter opens no second socket."""
    config = service.holder.current.config
    SpoofwatchMilter.service = service
    sys.excepthook = glue_excepthook
    service.apply(config)
    log.info("worker %d (of spoofwatch on %s) listening with policy %s", os.getpid(),
             config.milter.socket, config.policy.name)
    milter.main()


def wake_listener(address: SocketAddress) -> None:
    """Connect to our own socket until the process ends.

    libmilter's listener notices a stop only when its poll() returns, which without
    traffic takes up to 5 s; a connection makes it return at once. The connections
    close immediately, so libmilter's sessions for them end without a callback.
    """
    for _ in range(50):
        time.sleep(0.1)
        try:
            if address.is_unix:
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(1)
                    sock.connect(address.path)
            else:
                with socket.create_connection((address.host, address.port), timeout=1):
                    pass
        except OSError:
            return  # the listener is closed: libmilter is stopping
