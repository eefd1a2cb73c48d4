"""``spoofwatch quarantine agent``: the host holding a message carries out what other hosts
asked for.

Only the host whose Postfix holds a message can take it out of the hold queue
(``postsuper`` is local and needs root). The agent runs there as root
(``systemd/spoofwatch-agent.service``), listens on the shared store for its own host name
(``LISTEN``/``NOTIFY``, and every ``interval`` seconds anyway) and

* releases the messages a release was requested for on another host: from the hold queue
  when the copy is still there, else by re-injecting the stored copy (signed with this
  host's release key, so its milter lets it through); the request's admin is recorded as
  the actor, this host as where it happened;
* removes hold-queue copies whose records were released from the stored copy, or deleted,
  on another host, so that nothing is delivered twice and nothing is left behind.

Every step is one of the store's exactly-once transitions: two agents (or an agent and an
admin) cannot both release a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..release_header import add_release_header
from .mta import MtaError, Postfix
from .pg_store import NOTIFY_CHANNEL, PostgresStore, close_quietly
from .record import AlreadyReleased, ReleaseEvent
from .record_files import Problem, StoreError

__all__ = ["AgentRound", "agent_round", "run_agent"]

log = logging.getLogger("spoofwatch.quarantine")


@dataclass(frozen=True)
class AgentRound:
    released: int = 0
    failed: int = 0
    removed: int = 0  # hold-queue copies removed


def agent_round(store: PostgresStore, postfix: Postfix, key: Callable[[], bytes]) -> AgentRound:
    """Carry out everything waiting for this host once."""
    released = failed = removed = 0
    for record, request in store.requested_here():
        loaded = store.read(record.id)
        if isinstance(loaded, Problem):
            log.error("release of %s requested by %s on %s: %s", record.id, request.actor,
                      request.host, loaded.message)
            store.fail_request(record.id, request.actor, loaded.message)  # the asker is told
            failed += 1
            continue
        raw = loaded[1]
        targets = request.recipients or record.rcpts
        use_hold = (set(targets) == set(record.rcpts)
                    and postfix.held(record.queue_id, record.mail_from, record.rcpts))
        event = ReleaseEvent("release", time.time(), request.actor,
                             "hold" if use_hold else "reinject", targets)
        try:
            with store.releasing(record, event, requested=True):
                if use_hold:
                    postfix.release(record.queue_id)
                else:
                    postfix.reinject(add_release_header(record.id, raw, key()),
                                     record.mail_from, targets)
        except AlreadyReleased:
            continue
        except MtaError as exc:
            log.error("release of %s requested by %s on %s failed: %s", record.id,
                      request.actor, request.host, exc)
            failed += 1
            continue
        released += 1
        log.info("released %s (%s) as requested by %s on %s", record.id,
                 "from the hold queue" if use_hold else "stored copy re-injected",
                 request.actor, request.host)
    for removal in store.hold_removals_here():
        try:
            if postfix.held(removal.queue_id, removal.mail_from, removal.rcpts):
                postfix.delete_held(removal.queue_id)
                removed += 1
                log.info("removed %s (queue id %s) from the hold queue: %s", removal.record_id,
                         removal.queue_id, removal.reason)
        except MtaError as exc:
            log.error("could not remove %s (queue id %s) from the hold queue: %s; trying "
                      "again next round", removal.record_id, removal.queue_id, exc)
            store.hold_removal_failed(removal.seq)
            continue
        store.hold_removal_done(removal.seq)
    return AgentRound(released, failed, removed)


def run_agent(store: PostgresStore, postfix: Postfix, key: Callable[[], bytes], *,
              once: bool = False, interval: float = 30.0,
              stop: threading.Event | None = None) -> AgentRound:
    """Rounds until ``stop`` is set (or one with ``once``); a round runs when another host
    names this one, and every ``interval`` seconds. Database outages are waited out."""
    stop = stop or threading.Event()
    total = AgentRound()
    listener = None
    while True:
        try:
            if listener is None and not once:
                listener = store.db.connect()
                listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            done = agent_round(store, postfix, key)
            total = AgentRound(total.released + done.released, total.failed + done.failed,
                               total.removed + done.removed)
            if once or stop.is_set():
                return total
            store.wait_for_work(listener, interval, stop)
        except StoreError as exc:
            if once:
                raise
            log.error("%s; trying again in %g s", exc, interval)
            close_quietly(listener)
            listener = None
            if stop.wait(interval):
                return total
        except Exception as exc:  # psycopg's errors on the listening connection
            if once:
                raise
            log.error("the shared store's connection failed (%s); trying again in %g s",
                      exc, interval)
            close_quietly(listener)
            listener = None
            if stop.wait(interval):
                return total
        if stop.is_set():
            return total
