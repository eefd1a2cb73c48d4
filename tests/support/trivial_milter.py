"""A tiny pymilter milter, used only to test tests/support/milterclient.py.

Run as ``python tests/support/trivial_milter.py SOCKETSPEC [--variant NAME]``
where SOCKETSPEC is pymilter's form ("unix:/path" or "inet:PORT@HOST").

What it does is driven by the message, so one running instance covers every
reply type:

* envelope: a sender starting with "<reject" is refused with a reply code at
  MAIL; a recipient starting with "<reject" is rejected, "<tempfail" is
  tempfailed and "<replycode" gets "550 5.1.1 no such user" at RCPT; HELO
  "reject.helo.test" is rejected at HELO; client name "tempfail.client.test"
  is tempfailed at CONNECT.
* "X-Test-Action: VALUE" headers (several allowed, applied in order at end of
  message): reject, replycode, tempfail, discard, accept, quarantine,
  addheader, addheader-folded, insheader, chgheader, delheader, replbody,
  replbody-large, chgfrom, addrcpt, addrcpt-par, delrcpt, progress, echo,
  sleep; and earlier: reject-at-header, accept-at-eoh, reject-at-body,
  skip-body (SKIP after the first body chunk), sleep-at-body.
* "echo" adds X-Echo-* headers (JSON) describing everything the milter
  received, so tests can check what the client sent.

Variants change what the milter negotiates: "full" (default: every callback,
every reply), "lean" (no connect/helo/data/eoh/body callbacks, no replies to
RCPT and headers) and "leadspc" (full, plus header values with leading space).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import Milter

SLEEP_SECONDS = 5.0
MACRO_NAMES = (
    "j", "_", "v", "{daemon_name}", "{daemon_addr}", "{client_addr}", "{client_name}",
    "i", "{mail_addr}", "{rcpt_addr}", "{auth_authen}", "{auth_type}",
)
RCPT_REFUSALS = {
    "<reject": ("reject", None),
    "<tempfail": ("tempfail", None),
    "<replycode": ("replycode", ("550", "5.1.1", "no such user")),
}


class TrivialMilter(Milter.Base):
    """Overrides every callback, so it asks for every event and every reply."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.seen: dict[str, object] = {}
        self._new_message()

    def _new_message(self) -> None:
        self.headers: list[list[str]] = []
        self.actions: list[str] = []
        self.body_hash = hashlib.sha256()
        self.body_length = 0
        self.body_chunks = 0
        self.rcpts: list[list[str]] = []

    # -- connection ---------------------------------------------------------

    def connect(self, hostname: str, family: int, hostaddr: object) -> int:
        self.events.append("connect")
        self.seen["connect"] = [hostname, int(family), _plain(hostaddr)]
        self.seen["connect_macros"] = self._macros()
        if hostname == "tempfail.client.test":
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def hello(self, hostname: str) -> int:
        self.events.append("hello")
        self.seen["helo"] = hostname
        if hostname == "reject.helo.test":
            return Milter.REJECT
        return Milter.CONTINUE

    # -- envelope -----------------------------------------------------------

    def envfrom(self, mailfrom: str, *args: str) -> int:
        self._new_message()
        self.events.append("envfrom")
        self.seen["mail"] = [mailfrom, *args]
        self.seen["mail_macros"] = self._macros()
        if mailfrom.startswith("<reject"):
            self.setreply("550", "5.7.1", "sender refused by trivial milter")
            return Milter.REJECT
        return Milter.CONTINUE

    def envrcpt(self, to: str, *args: str) -> int:
        self.events.append("envrcpt")
        self.rcpts.append([to, *args, self.getsymval("{rcpt_addr}") or ""])
        for prefix, (action, reply) in RCPT_REFUSALS.items():
            if to.startswith(prefix):
                if reply is not None:
                    self.setreply(*reply)
                return Milter.TEMPFAIL if action == "tempfail" else Milter.REJECT
        return Milter.CONTINUE

    def data(self) -> int:
        self.events.append("data")
        return Milter.CONTINUE

    # -- content ------------------------------------------------------------

    def header(self, name: str, value: str) -> int:
        self.events.append("header")
        self.headers.append([name, value])
        if name.lower() == "x-test-action":
            self.actions.append(value.strip())
            if value.strip() == "reject-at-header":
                return Milter.REJECT
        return Milter.CONTINUE

    def eoh(self) -> int:
        self.events.append("eoh")
        return Milter.ACCEPT if "accept-at-eoh" in self.actions else Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        self.events.append("body")
        self.body_hash.update(chunk)
        self.body_length += len(chunk)
        self.body_chunks += 1
        if "sleep-at-body" in self.actions:
            time.sleep(SLEEP_SECONDS)
        if "reject-at-body" in self.actions:
            return Milter.REJECT
        if "skip-body" in self.actions:
            return Milter.SKIP
        return Milter.CONTINUE

    def eom(self) -> int:
        self.events.append("eom")
        result = Milter.CONTINUE
        for action in self.actions:
            result = self._perform(action, result)
        return result

    def abort(self) -> int:
        self.events.append("abort")
        return Milter.CONTINUE

    def close(self) -> int:
        return Milter.CONTINUE

    # -- end-of-message actions ---------------------------------------------

    def _perform(self, action: str, result: int) -> int:
        final = {
            "reject": Milter.REJECT,
            "tempfail": Milter.TEMPFAIL,
            "discard": Milter.DISCARD,
            "accept": Milter.ACCEPT,
        }
        if action in final:
            return final[action]
        if action == "replycode":
            self.setreply("550", "5.7.1", "rejected by trivial milter, 100%% sure")
            return Milter.REJECT
        if action == "sleep":
            time.sleep(SLEEP_SECONDS)
        elif action == "echo":
            self._echo()
        else:
            self._modify(action)
        return result

    def _modify(self, action: str) -> None:
        if action == "quarantine":
            self.quarantine("held by trivial milter")
        elif action == "addheader":
            self.addheader("X-Trivial-Added", "yes")
        elif action == "addheader-folded":
            self.addheader("X-Trivial-Folded", "first line\n\tsecond line")
        elif action == "insheader":
            self.addheader("X-Trivial-Inserted", "top", idx=0)
        elif action == "chgheader":
            self.chgheader("Subject", 1, "changed by trivial milter")
        elif action == "delheader":
            self.chgheader("X-Remove-Me", 1, "")
        elif action == "replbody":
            self.replacebody(b"replaced body\r\n")
        elif action == "replbody-large":
            self.replacebody(b"z" * 100_000 + b"\r\n")
        elif action == "chgfrom":
            self.chgfrom("<changed@example.com>", "SIZE=100")
        elif action == "addrcpt":
            self.addrcpt("<added@example.org>")
        elif action == "addrcpt-par":
            self.addrcpt("<added@example.org>", "NOTIFY=NEVER")
        elif action == "delrcpt":
            self.delrcpt("<b@example.org>")
        elif action == "progress":
            self.progress()

    def _echo(self) -> None:
        report = {
            "Events": self.events,
            "Connect": self.seen.get("connect"),
            "Helo": self.seen.get("helo"),
            "Mail": self.seen.get("mail"),
            "Rcpts": self.rcpts,
            "Headers": self.headers,
            "Body-Length": self.body_length,
            "Body-Sha256": self.body_hash.hexdigest(),
            "Body-Chunks": self.body_chunks,
            "Connect-Macros": self.seen.get("connect_macros"),
            "Mail-Macros": self.seen.get("mail_macros"),
            "Eom-Macros": self._macros(),
            "Protocol": self._protocol,
        }
        for name, value in report.items():
            self.addheader(f"X-Echo-{name}", json.dumps(value, ensure_ascii=True))

    def _macros(self) -> dict[str, str]:
        values = {name: self.getsymval(name) for name in MACRO_NAMES}
        return {name: value for name, value in values.items() if value is not None}


class LeanMilter(Milter.Base):
    """Leaves connect/helo/data/eoh/body to pymilter's defaults (not wanted)
    and does not reply to RCPT or headers."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def envfrom(self, mailfrom: str, *args: str) -> int:
        self.events = ["envfrom"]
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *args: str) -> int:
        self.events.append("envrcpt")
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name: str, value: str) -> int:
        self.events.append("header")
        return Milter.CONTINUE

    def eom(self) -> int:
        self.events.append("eom")
        self.addheader("X-Echo-Events", json.dumps(self.events))
        return Milter.CONTINUE


@Milter.header_leading_space
class LeadingSpaceMilter(TrivialMilter):
    """TrivialMilter that receives header values with their leading space."""


VARIANTS: dict[str, type[Milter.Base]] = {
    "full": TrivialMilter,
    "lean": LeanMilter,
    "leadspc": LeadingSpaceMilter,
}


def _plain(value: object) -> object:
    """JSON-friendly form of pymilter's hostaddr (tuple, str or None)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket", help='pymilter socket spec, e.g. "unix:/tmp/x.sock"')
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="full")
    options = parser.parse_args(argv)
    Milter.factory = VARIANTS[options.variant]
    Milter.set_flags(
        Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT
        | Milter.ADDRCPT_PAR | Milter.DELRCPT | Milter.QUARANTINE | Milter.CHGFROM
    )
    Milter.runmilter("trivial", options.socket, timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
