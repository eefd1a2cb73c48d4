"""What every milter session reads: the configuration, resolver, release key and store.

A ``Runtime`` is built whole and never changed; a reload (SIGHUP) builds a new one and
``RuntimeHolder`` swaps the reference in one assignment, so a message keeps the runtime
it started with.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .config import Config, load_config
from .dns import Resolver, make_resolver
from .quarantine.release import ReleaseKeyError, key_path, load_or_create_key
from .quarantine.stores import AnyStore, service_store

log = logging.getLogger("spoofwatch.service")


@dataclass(frozen=True)
class Runtime:
    """What every session reads: replaced as a whole, never mutated."""

    config: Config
    resolver: Resolver
    release_key: bytes = b""  # quarantine release key (b"" = releases are not honoured)
    store: AnyStore | None = None  # our own quarantine store (None = disabled)


def make_runtime(config: Config, resolver: Resolver) -> Runtime:
    """A Runtime with the quarantine store and release key the configuration names."""
    q = config.quarantine
    key = b""
    if q.directory or q.release_key_file:
        try:
            key = load_or_create_key(key_path(q.directory, q.release_key_file))
        except ReleaseKeyError as exc:
            log.error("quarantine releases will not pass: %s", exc)
    # service_store logs once what keeps the store from being used (and the fix)
    return Runtime(config, resolver, key, service_store(q))


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
            resolver = old.resolver if config.dns == old.config.dns else make_resolver(config.dns)
            self._runtime = make_runtime(config, resolver)
            log.info("configuration reloaded from %s (policy %s)", path, config.policy.name)
            return ReloadResult(True)

