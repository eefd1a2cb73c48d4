"""Postfix's side of a quarantined message: its hold queue, and re-injection.

Only the Postfix command-line tools are used (postqueue, postsuper, sendmail), each with
the configuration directory the admin names (``-c DIR``; sendmail spells it ``-C DIR``),
so a second Postfix instance is handled like the system one.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MtaError", "Postfix"]

log = logging.getLogger("spoofwatch.quarantine")

_TIMEOUT = 120.0


class MtaError(Exception):
    """A Postfix command failed; the message says which and why."""


@dataclass(frozen=True)
class QueueEntry:
    queue_id: str
    queue_name: str  # "hold", "deferred", "active", "incoming", "maildrop"
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Postfix:
    config_dir: str = ""  # "" = the system's default configuration

    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> str:
        # Postfix's tools live in /usr/sbin, which a non-root PATH often lacks.
        program = shutil.which(argv[0]) or f"/usr/sbin/{argv[0]}"
        try:
            result = subprocess.run([program, *argv[1:]], input=stdin, capture_output=True,
                                    timeout=_TIMEOUT, check=False)
        except FileNotFoundError:
            raise MtaError(f"{argv[0]} not found: is Postfix installed?") from None
        except subprocess.TimeoutExpired:
            raise MtaError(f"{argv[0]} did not finish within {_TIMEOUT:g} s") from None
        except OSError as exc:
            raise MtaError(f"cannot run {argv[0]}: {exc.strerror}") from None
        except ValueError:  # an argument (an address from the message) holds a NUL byte
            raise MtaError(f"cannot run {argv[0]}: an address holds a NUL byte") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
            raise MtaError(f"{' '.join(argv)} failed (exit {result.returncode}): {detail}")
        # surrogateescape: an address with a byte that is not UTF-8 must compare equal to
        # the one in our record (kept the same way), or a held message looks gone.
        return (result.stdout + result.stderr).decode("utf-8", "surrogateescape")

    def _c(self) -> list[str]:
        return ["-c", self.config_dir] if self.config_dir else []

    def entry(self, queue_id: str) -> QueueEntry | None:
        """Where Postfix keeps ``queue_id`` now, or None when it is not in any queue."""
        if not queue_id:
            return None
        out = self._run(["postqueue", *self._c(), "-j"])
        for line in out.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("queue_id") == queue_id:
                return QueueEntry(
                    queue_id=queue_id, queue_name=str(item.get("queue_name", "")),
                    sender=str(item.get("sender", "")),
                    recipients=tuple(str(r.get("address", ""))
                                     for r in item.get("recipients", [])),
                )
        return None

    def held(self, queue_id: str, sender: str, rcpts: Sequence[str]) -> bool:
        """Is our message still in the hold queue? The envelope must match too: a short
        Postfix queue id can be given to another message once ours is gone."""
        entry = self.entry(queue_id)
        if entry is None or entry.queue_name != "hold":
            return False
        return (entry.sender.lower() == sender.lower()
                and {r.lower() for r in entry.recipients} <= {r.lower() for r in rcpts})

    def release(self, queue_id: str) -> None:
        """Move the message from the hold queue and ask Postfix to deliver now.

        Once ``postsuper -H`` has succeeded the message is on its way (Postfix delivers it at
        its next queue run), so the release is done: a failing ``postqueue -f`` after it is
        only logged. Raising then would record the release as not done, and a second try
        would find no held copy and deliver the stored one: twice.
        """
        out = self._run(["postsuper", *self._c(), "-H", queue_id])
        if "Released from hold: 1 message" not in out:
            raise MtaError(f"postsuper did not release {queue_id}: {out.strip()}")
        try:
            self._run(["postqueue", *self._c(), "-f"])
        except MtaError as exc:
            log.warning("released %s from the hold queue; asking Postfix to deliver it now "
                        "failed (%s): it goes at Postfix's next queue run", queue_id, exc)

    def delete_held(self, queue_id: str) -> None:
        out = self._run(["postsuper", *self._c(), "-d", queue_id, "hold"])
        if "Deleted: 1 message" not in out:
            raise MtaError(f"postsuper did not delete {queue_id}: {out.strip()}")

    def reinject(self, message: bytes, sender: str, rcpts: Sequence[str]) -> None:
        """Hand ``message`` to the local MTA (as a relay, so addresses are not rewritten)."""
        if not rcpts:
            raise MtaError("the message has no recipients to deliver to")
        config = ["-C", self.config_dir] if self.config_dir else []
        self._run(["sendmail", *config, "-G", "-i", "-f", sender, "--", *rcpts],
                  stdin=message)

    def submit(self, message: bytes, sender: str, rcpts: Sequence[str]) -> None:
        """Submit mail of our own (the digest) like any local program does.

        Unlike ``reinject`` this is not a relay (no ``-G``): the MTA's rewriting of local
        addresses applies, as for every locally written message.
        """
        if not rcpts:
            raise MtaError("no recipient to send to")
        config = ["-C", self.config_dir] if self.config_dir else []
        self._run(["sendmail", *config, "-i", "-f", sender, "--", *rcpts], stdin=message)
