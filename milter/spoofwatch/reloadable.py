"""Which configuration keys a reload (SIGHUP) cannot apply, and the log line that says so.

The listening socket and libmilter's timeout are set once, before libmilter's loop starts
(pymilter has no way to re-listen in a running loop), and the metrics endpoint is bound
once. Everything else, the two size limits of ``milter`` included, is read per message
from the running configuration and changes with a reload.
"""

from __future__ import annotations

import dataclasses

from .config import Config

# section -> the keys of that section that only a restart applies
RESTART_ONLY = {
    "milter": ("socket", "socket_mode", "socket_group", "timeout", "workers"),
    "metrics": ("enabled", "listen"),
}
RESTART_COMMAND = "systemctl restart spoofwatch"


def changed_restart_only_keys(before: Config, after: Config) -> tuple[str, ...]:
    """Dotted names ("milter.socket") of restart-only keys whose value changed, in order."""
    changed: list[str] = []
    for section, keys in RESTART_ONLY.items():
        old, new = getattr(before, section), getattr(after, section)
        assert dataclasses.is_dataclass(old)  # a section, not a plain value
        changed += [f"{section}.{key}" for key in keys
                    if getattr(old, key) != getattr(new, key)]
    return tuple(changed)


def restart_warning(keys: tuple[str, ...]) -> str:
    """The log line for a reload that changed ``keys`` (not empty)."""
    return (f"reload did not apply {', '.join(keys)}: "
            f"{'it takes' if len(keys) == 1 else 'they take'} effect at the next restart "
            f"({RESTART_COMMAND}); the service keeps running with the old "
            f"{'value' if len(keys) == 1 else 'values'}")
