"""The parent process of ``spoofwatch run``: signals in, one libmilter worker out.

Why a parent at all: libmilter starts a thread that ``sigwait()``s SIGHUP, SIGTERM and
SIGINT and treats each of them as "stop" (SIGHUP included), and Python signal handlers
never run while the main thread sits in libmilter's loop. So a process that runs
libmilter cannot reload on SIGHUP. This parent never loads libmilter's loop; it keeps
ordinary Python signal handlers and

- SIGHUP: asks the worker to reload over a pipe (the worker validates the file and swaps
  its configuration, or keeps the running one and logs file:line: key: problem);
- SIGTERM / SIGINT: asks the worker to stop over the pipe (it lets the messages in
  flight finish, defers new ones with 451, then stops libmilter), waits for it and exits
  with its status; after ``STOP_TIMEOUT`` it kills it. (A SIGTERM sent to the worker
  itself stops libmilter at once, cutting messages in flight: the MTA then applies its
  milter_default_action. Hence KillMode=mixed in the systemd unit.);
- the worker dying on its own: exits non-zero, so that systemd's Restart=on-failure
  starts a fresh pair. The parent does not restart workers itself: one place (systemd)
  decides about restarts and rate limits.

The worker learns that the parent is gone from the end of the pipe and stops.
The parent is single-threaded when it forks, so forking without exec is safe.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("spoofwatch.supervisor")

STOP_TIMEOUT = 30.0  # the worker drains for at most service.DRAIN_SECONDS (15 s)
EX_SOFTWARE = 70
_HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def _ignore(signum: int, frame: object) -> None:
    """A Python-level handler, so the C handler writes the number to the wakeup fd."""


@dataclass
class _Worker:
    pid: int
    control: int  # write end of the control pipe
    stopping: bool = False
    deadline: float | None = None
    killed: bool = False

    def reload(self) -> None:
        try:
            os.write(self.control, b"reload\n")
        except BlockingIOError:
            log.warning("SIGHUP: a reload is already pending")
        except OSError as exc:  # the worker is gone; its exit status says why
            log.warning("SIGHUP: cannot reach the worker: %s", exc)
        else:
            log.info("SIGHUP: asked worker %d to reload the configuration", self.pid)

    def stop(self, signum: int) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.deadline = time.monotonic() + STOP_TIMEOUT
        log.info("%s: stopping worker %d", signal.Signals(signum).name, self.pid)
        try:
            os.write(self.control, b"stop\n")
        except OSError:  # pipe full or gone: libmilter's own stop, without draining
            self._kill(signal.SIGTERM)

    def escalate(self) -> None:
        if self.deadline is None or time.monotonic() < self.deadline or self.killed:
            return
        log.error("worker %d did not stop within %gs: killing it", self.pid, STOP_TIMEOUT)
        self.killed = True
        self._kill(signal.SIGKILL)

    def _kill(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def reap(self) -> int | None:
        """The worker's exit code (negative: killed by that signal), or None if running."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return -signal.SIGKILL
        return os.waitstatus_to_exitcode(status) if pid == self.pid else None


def _exit_status(worker: _Worker, code: int) -> int:
    if worker.stopping and code == 0 and not worker.killed:
        log.info("worker %d stopped", worker.pid)
        return 0
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
    if worker.stopping:
        log.error("worker %d %s while stopping", worker.pid, how)
    else:
        log.error("worker %d %s unexpectedly; exiting so the service manager can restart "
                  "spoofwatch", worker.pid, how)
    if code < 0:
        return 128 - code
    return code or EX_SOFTWARE


def _drain(fd: int) -> list[int]:
    signums: list[int] = []
    while True:
        try:
            data = os.read(fd, 512)
        except BlockingIOError:
            return signums
        if not data:
            return signums
        signums.extend(data)


def supervise(worker_main: Callable[[int], int]) -> int:
    """Fork ``worker_main(control_fd)`` and look after it; returns the exit status."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    control_r, control_w = os.pipe()
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    # Handlers before the fork: a signal (or the worker's death) right after it is not lost.
    for sig in _HANDLED:
        signal.signal(sig, _ignore)
    pid = os.fork()
    if pid == 0:  # the worker
        code = EX_SOFTWARE
        try:
            # Blocked before the handlers go back to default: no window in which a
            # SIGTERM would kill the worker outright (worker_main blocks them too).
            signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGHUP, signal.SIGTERM,
                                                      signal.SIGINT))
            signal.set_wakeup_fd(-1)
            for sig in _HANDLED:
                signal.signal(sig, signal.SIG_DFL)
            for fd in (wake_r, wake_w, control_w):
                os.close(fd)
            code = worker_main(control_r)
        except BaseException:
            log.exception("worker failed")
        finally:
            logging.shutdown()
            os._exit(code)
    os.close(control_r)
    os.set_blocking(control_w, False)
    worker = _Worker(pid, control_w)
    log.info("supervisor %d started worker %d", os.getpid(), pid)
    try:
        return _loop(worker, wake_r)
    finally:
        signal.set_wakeup_fd(-1)
        for fd in (wake_r, wake_w, control_w):
            os.close(fd)


def _loop(worker: _Worker, wake_r: int) -> int:
    while True:
        code = worker.reap()
        if code is not None:
            return _exit_status(worker, code)
        timeout = None
        if worker.deadline is not None:
            timeout = max(0.0, worker.deadline - time.monotonic()) + (5.0 if worker.killed else 0)
        select.select([wake_r], [], [], timeout)
        for signum in _drain(wake_r):
            if signum == signal.SIGHUP:
                worker.reload()
            elif signum in (signal.SIGTERM, signal.SIGINT):
                worker.stop(signum)
        worker.escalate()
