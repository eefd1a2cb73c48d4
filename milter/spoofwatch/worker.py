"""The libmilter worker process: start, control pipe, drain and stop; and ``run()``.

``run()`` is what ``spoofwatch run`` calls: it opens the milter socket (listener.py), then
the supervisor (supervisor.py) handles the signals and forks ``milter.workers`` times
``worker_main()``, all accepting on that one socket. See service.py for why there are
several processes, and docs/operations.md ("Worker processes") for what each serves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading

import milter

from .config import Config, ConfigError, load_config, worker_count
from .listener import (
    OpenSocket,
    close_socket,
    open_socket,
    restore_socket,
    serve,
    wake_listener,
)
from .logline import SafeFormatter
from .metrics import Endpoint
from .quarantine.pg_writer import stop_writers
from .quarantine.retention import start_retention
from .service import Service
from .socket_address import parse_socket_address
from .supervisor import Hooks, supervise
from .textsafe import ascii_safe

log = logging.getLogger("spoofwatch.service")

# On stop, messages already in flight get this long to finish.
DRAIN_SECONDS = 15.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
_STOP_SIGNALS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}


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
    wake_listener(parse_socket_address(service.holder.current.config.milter.socket))


def _control_reader(fd: int, service: Service, config_path: str,
                    orphaned: threading.Event) -> None:
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
    orphaned.set()
    drain_and_stop(service)


def metrics_listen(listen: str, slot: int) -> str:
    """Where the worker in ``slot`` serves its metrics: ``metrics.listen`` for the first,
    the next ports for the others (each worker counts its own messages)."""
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + slot}"


def _start_metrics(service: Service, config: Config, slot: int) -> Endpoint | None:
    if not config.metrics.enabled:
        return None
    listen = metrics_listen(config.metrics.listen, slot)
    try:
        return service.metrics.serve(listen)
    except (OSError, OverflowError, ValueError) as exc:  # port + slot past 65535 too
        # Mail comes first: run without the endpoint rather than not at all.
        log.error("cannot serve metrics on %s: %s; running without them", listen, exc)
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


def worker_main(config_path: str, control_fd: int | None, config: Config,
                opened: OpenSocket, slot: int = 0) -> int:
    """A libmilter process (``config`` was loaded from ``config_path`` before the fork;
    reloads read the path again; ``opened`` is the socket the supervisor opened). The
    worker in slot 0 also sweeps the quarantine. Returns its exit status."""
    _tune_malloc()
    # Before any thread exists: libmilter's signal thread sigwait()s these, which only
    # works when every thread blocks them (threads inherit the mask of their creator).
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    service = Service.create(config)
    endpoint = _start_metrics(service, config, slot)

    if slot == 0:
        start_retention(lambda: service.holder.current.config,
                        lambda: service.holder.current.store, threading.Event())
    orphaned = threading.Event()
    if control_fd is not None:
        threading.Thread(target=_control_reader,
                         args=(control_fd, service, config_path, orphaned),
                         name="control", daemon=True).start()
    try:
        serve(service)
    except milter.error as exc:
        log.error("cannot run the milter on %s: %s", config.milter.socket, exc)
        return 71  # EX_OSERR
    finally:
        service.decisions.close()
        stop_writers(timeout=5.0)  # rows still in memory go to the spool
        if endpoint is not None:
            endpoint.close()
        if orphaned.is_set():
            close_socket(opened)  # the supervisor that would have is gone
    log.info("stopped")
    return 0


def use_safe_log_format() -> None:
    """Every handler of the root logger escapes what it prints (see logline.SafeFormatter)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(SafeFormatter(LOG_FORMAT))


class _LastGood:
    """The configuration a new worker starts with: the one the workers run.

    Loaded at start and again by the supervisor on every SIGHUP (before the workers are
    asked to reload), so a worker that replaces a dead one starts with the configuration
    the admin last applied, even when the file has been broken since, and serves nothing
    with an older one while its own reload is under way.
    """

    def __init__(self, path: str, config: Config) -> None:
        self.path = path
        self.config = config

    def reload(self) -> None:
        try:
            self.config = load_config(self.path)
        except ConfigError as exc:
            log.error("reload: %s; new workers start with the configuration running now",
                      exc)


def run(config_path: str, config: Config) -> int:
    """``spoofwatch run``: open the socket, then the supervisor, which forks the workers.

    ``config`` is the validated configuration from ``config_path`` (loaded once, before
    the fork, so a broken file fails at once; the workers inherit it).
    """
    use_safe_log_format()
    try:
        opened = open_socket(config)
    except milter.error as exc:
        log.error("cannot open the milter socket %s: %s", config.milter.socket, exc)
        return 71  # EX_OSERR
    workers = worker_count(config.milter.workers)
    log.info("spoofwatch listening on %s with %d worker process%s", config.milter.socket,
             workers, "" if workers == 1 else "es")
    last_good = _LastGood(config_path, config)
    hooks = Hooks(reload=last_good.reload, worker_ended=lambda: restore_socket(opened))
    try:
        return supervise(lambda control_fd, slot: worker_main(
            config_path, control_fd, last_good.config, opened, slot), workers=workers,
            hooks=hooks)
    finally:
        close_socket(opened)
