"""The milter service: what the sessions of one worker process share.

The milter is split along its seams (see docs/architecture.md):

* ``runtime``: the configuration, resolver, release key and store a session reads;
* ``service`` (here): what the sessions share, the ``Service``: the holder of the current
  Runtime, the metrics, the decision log, the messages in flight and the analysis gate;
* ``session``: one SMTP connection's pymilter callbacks, which turn the MTA's input into
  an Envelope and a Message, call ``analyze()`` and apply the Report's actions. It holds
  no detection logic and no decisions: size limit, release and skip are the core's;
* ``listener``: the socket and libmilter (registration, tuning, the loop);
* ``worker``: the libmilter process (``worker_main``), its control pipe and its stop, and
  ``run()``, which ``spoofwatch run`` calls: it opens the socket, and a supervisor
  process (supervisor.py) handles the signals and forks the workers (``milter.workers``,
  all on that socket). Why a separate supervisor: libmilter's own signal
  thread takes SIGHUP, SIGTERM and SIGINT and stops on every one of them, and Python
  signal handlers never run while the main thread is in libmilter's loop. See
  docs/operations.md.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import milter

from .analysis_gate import ANALYSIS_BUDGET, AnalysisGate
from .config import Config
from .dns import ResolverStats, make_resolver
from .logline import DecisionLog, DecisionLogSettings
from .metrics import Metrics
from .quarantine.pg_store import PostgresStore
from .reloadable import changed_restart_only_keys, restart_warning
from .runtime import ReloadResult, Runtime, RuntimeHolder, make_runtime

log = logging.getLogger("spoofwatch.service")


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
        holder = RuntimeHolder(make_runtime(config, make_resolver(config.dns)))

        def dns_stats() -> ResolverStats:
            return holder.current.resolver.stats

        metrics = Metrics(dns_stats)
        decisions = DecisionLog(_decision_settings(config),
                                on_error=metrics.decision_log_errors.inc)
        return cls(holder, metrics, decisions)

    def log_decision(self, runtime: Runtime, row: dict[str, Any]) -> None:
        """One message's decision: to the JSON decision log and, when configured, to the
        shared store's ``decisions`` table (queued there: never waits, never raises)."""
        self.decisions.write(row)
        store = runtime.store
        if runtime.config.logging.database and isinstance(store, PostgresStore):
            store.log_decision(row)

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
        # glue_errors.glue_excepthook and get the fail_safe action at end of message.
        milter.set_exception_policy(milter.CONTINUE)
        if before is not None and (keys := changed_restart_only_keys(before, config)):
            log.warning("%s", restart_warning(keys))

