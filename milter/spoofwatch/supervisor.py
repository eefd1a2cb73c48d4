"""The parent process of ``spoofwatch run``: signals in, libmilter workers out.

It forks ``milter.workers`` workers (worker.py opened the socket before: all accept on it)
and looks after each in its slot; what follows is said of one worker and holds for each.

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
- the worker dying on its own (a crash, the kernel's OOM killer, a stray ``kill -9``):
  starts a new worker after a delay that doubles from ``Backoff.first`` up to
  ``Backoff.maximum`` and starts again from the first once a worker has run for
  ``Backoff.reset_after``. Without this, one dead worker meant a dead service: under
  systemd until ``Restart=`` acted, elsewhere until an admin noticed. The socket stays
  open meanwhile (this process holds it), so connections wait instead of being refused.
  A new worker starts with what ``Hooks.reload`` last loaded (worker.py: the configuration
  the admin last applied); if a SIGHUP was handled before, it is also asked to reload at
  once, as every worker was;
- a worker that cannot work at all (exit status 71, EX_OSERR; 78, EX_CONFIG) is retried
  with the same backoff, but after ``GIVE_UP_AFTER`` quick failures in a row the
  supervisor exits with that status, so that the service manager (systemd's ``Restart=``
  and its start rate limit) or the admin decides instead of an endless loop.

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

STOP_TIMEOUT = 30.0  # the worker drains for at most worker.DRAIN_SECONDS (15 s)
EX_SOFTWARE = 70
EX_OSERR = 71
EX_CONFIG = 78
# Exit statuses that say "this worker cannot work here": restarting cannot help for long.
CANNOT_WORK = {EX_OSERR: "cannot open its socket", EX_CONFIG: "configuration error"}
GIVE_UP_AFTER = 5  # quick failures in a row with a CANNOT_WORK status before giving up
_HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def _ignore(signum: int, frame: object) -> None:
    """A Python-level handler, so the C handler writes the number to the wakeup fd."""


@dataclass
class Backoff:
    """Delays between worker restarts: doubling, capped, forgotten after a good run."""

    first: float = 0.5
    maximum: float = 30.0
    reset_after: float = 60.0  # a worker that ran this long was healthy
    failures: int = 0  # quick failures in a row, the one being handled included

    def next_delay(self, ran_for: float) -> float:
        """The delay before the next start, after a worker that ran ``ran_for`` seconds."""
        if ran_for >= self.reset_after:
            self.failures = 0
        delay = min(self.maximum, self.first * 2 ** min(self.failures, 30))
        self.failures += 1
        return delay


@dataclass
class _Worker:
    pid: int
    control: int  # write end of the control pipe
    started: float
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


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


def _exit_status(worker: _Worker, code: int) -> int:
    """The supervisor's own exit status once a worker it asked to stop has ended."""
    if code == 0 and not worker.killed:
        log.info("worker %d stopped", worker.pid)
        return 0
    log.error("worker %d %s while stopping", worker.pid, _describe(code))
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


class _Supervisor:
    """Starts the workers, relays signals to them, restarts one that dies."""

    def __init__(self, worker_main: Callable[[int, int], int], workers: int, wake_r: int,
                 wake_w: int, backoff: Backoff, hooks: Hooks) -> None:
        self._worker_main = worker_main
        self._hooks = hooks
        self._slots = max(1, workers)
        self._wake_r = wake_r
        self._wake_w = wake_w
        self._reloaded = False  # a SIGHUP was handled: new workers must reload too
        self._backoff = backoff
        self._running: dict[int, _Worker] = {}  # slot -> its worker
        self._waiting: dict[int, float] = {}  # slot -> when its next worker starts
        self._restarts = 0
        self._stopping = False
        self._status = 0  # the exit status once every worker has stopped

    def run(self) -> int:
        for slot in range(self._slots):
            self._launch(slot)
        while self._running or self._waiting:
            self._reap()
            if not self._running and (self._stopping or not self._waiting):
                break
            now = time.monotonic()
            for slot, when in list(self._waiting.items()):
                if now >= when:
                    del self._waiting[slot]
                    self._launch(slot)
            select.select([self._wake_r], [], [], self._timeout())
            for signum in _drain(self._wake_r):
                self._signal(signum)
            for worker in self._running.values():
                worker.escalate()
        return self._status

    def _launch(self, slot: int) -> None:
        worker = self._start(slot)
        self._running[slot] = worker
        if self._restarts:
            log.warning("supervisor %d started worker %d (restart %d)", os.getpid(),
                        worker.pid, self._restarts)
        else:
            log.info("supervisor %d started worker %d", os.getpid(), worker.pid)

    def _timeout(self) -> float | None:
        """How long select() may wait: until the next restart or stop deadline."""
        deadlines = list(self._waiting.values())
        for worker in self._running.values():
            if worker.deadline is not None:
                deadlines.append(worker.deadline + (5.0 if worker.killed else 0.0))
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _reap(self) -> None:
        for slot, worker in list(self._running.items()):
            code = worker.reap()
            if code is None:
                continue
            del self._running[slot]
            os.close(worker.control)
            if self._hooks.worker_ended is not None:
                self._hooks.worker_ended()
            if worker.stopping:
                status = _exit_status(worker, code)
                self._status = self._status or status
                continue
            delay = self._backoff.next_delay(time.monotonic() - worker.started)
            give_up = self._gives_up(code)
            if give_up is not None:
                self._status = give_up
                self._stop_all(signal.SIGTERM)
                continue
            self._restarts += 1
            log.error("worker %d %s unexpectedly after %.1fs; starting a new one in %gs",
                      worker.pid, _describe(code), time.monotonic() - worker.started, delay)
            self._waiting[slot] = time.monotonic() + delay

    def _signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._reloaded = True
            if self._hooks.reload is not None:
                self._hooks.reload()
            for worker in self._running.values():
                worker.reload()
            if not self._running:
                log.info("SIGHUP: no worker is running; the next one reads the "
                         "configuration again")
        elif signum in (signal.SIGTERM, signal.SIGINT):
            if not self._running and self._waiting:
                log.info("%s: no worker is running", signal.Signals(signum).name)
                log.info("stopped while waiting to restart the worker")
            self._stop_all(signum)

    def _stop_all(self, signum: int) -> None:
        self._stopping = True
        self._waiting.clear()
        for worker in self._running.values():
            worker.stop(signum)

    def _gives_up(self, code: int) -> int | None:
        reason = CANNOT_WORK.get(code)
        if reason is None:
            return None
        failures = self._backoff.failures
        if failures < GIVE_UP_AFTER:
            log.error("the worker cannot work (exit status %d: %s); quick failure %d of %d "
                      "before the supervisor gives up", code, reason, failures, GIVE_UP_AFTER)
            return None
        log.error("the worker failed %d times in a row with exit status %d (%s): giving up; "
                  "exiting with %d so that the service manager or the admin decides", failures,
                  code, reason, code)
        return code

    def _start(self, slot: int) -> _Worker:
        control_r, control_w = os.pipe()
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
                others = [w.control for w in self._running.values()]
                for fd in (self._wake_r, self._wake_w, control_w, *others):
                    os.close(fd)
                code = self._worker_main(control_r, slot)
            except BaseException:
                log.exception("worker failed")
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(control_r)
        os.set_blocking(control_w, False)
        worker = _Worker(pid, control_w, time.monotonic())
        if self._reloaded and self._hooks.reload is None:
            # Read by the worker before its first message: it runs the file as last reloaded.
            # With a reload hook the worker was forked with the configuration the hook
            # loaded on the last SIGHUP; reading the file again would apply edits made
            # since, which the admin has not applied (and to that one worker only).
            worker.reload()
        return worker


@dataclass(frozen=True)
class Hooks:
    """What the supervisor runs in its own process: ``reload`` on SIGHUP, before asking the
    workers (so that a worker started later starts as the workers run); ``worker_ended``
    after a worker has ended, for whatever reason."""

    reload: Callable[[], None] | None = None
    worker_ended: Callable[[], None] | None = None


def supervise(worker_main: Callable[[int, int], int], backoff: Backoff | None = None,
              workers: int = 1, hooks: Hooks | None = None) -> int:
    """Fork ``workers`` times ``worker_main(control_fd, slot)`` (slot 0 .. workers - 1) and
    look after them; returns the exit status once all have stopped.

    ``backoff`` paces restarts of a worker that dies (tests pass short delays); a worker
    that dies is replaced in its slot, the others go on.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    previous_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    # Handlers before the fork: a signal (or the worker's death) right after it is not lost.
    previous = {sig: signal.signal(sig, _ignore) for sig in _HANDLED}
    try:
        return _Supervisor(worker_main, workers, wake_r, wake_w, backoff or Backoff(),
                           hooks or Hooks()).run()
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)
        for fd in (wake_r, wake_w):
            os.close(fd)
