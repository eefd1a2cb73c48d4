"""The milter socket and libmilter: prepare the socket, register the callbacks, serve.

``serve()`` runs libmilter's loop until it stops; ``wake_listener()`` makes a stopping
loop notice at once.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import stat
import sys
import time

import Milter
import milter

from . import libmilter_tuning, postfix_check
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
    address = parse_socket_address(spec)
    _register_callbacks(service)
    sys.excepthook = glue_excepthook
    service.apply(config)
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
    ours = None
    if address.is_unix:
        _fix_unix_socket(address.path, config.milter.socket_mode, config.milter.socket_group)
        ours = _socket_identity(address.path)
    elif not _set_nodelay_on_listener(address.port):
        log.warning("could not set TCP_NODELAY on the listening socket")
    log.info("spoofwatch listening on %s (policy %s)", spec, config.policy.name)
    milter.main()
    # Remove the socket only if it is still the one we made (a new instance may own it now).
    if ours is not None and _socket_identity(address.path) == ours:
        try:
            os.unlink(address.path)
        except OSError as exc:
            log.warning("could not remove the socket %s: %s", address.path, exc)


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
