"""The milter socket address (``milter.socket``), parsed once into a typed value.

Our syntax is ``unix:/PATH``, ``inet:HOST:PORT`` or ``inet:PORT@HOST`` (``inet6`` alike);
libmilter's is ``unix:/PATH`` or ``inet:PORT@HOST``. The configuration validates the
text with ``parse_socket_address``; the listener, the worker's stop and the Postfix
check read the same parsed value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# Written by the operator; the configuration refuses anything else.
_SOCKET_RE = re.compile(r"^(unix:/\S+|inet6?:[^\s:]+:\d{1,5}|inet6?:\d{1,5}@\S+)$")

Family = Literal["unix", "inet", "inet6"]


@dataclass(frozen=True)
class SocketAddress:
    family: Family
    path: str = ""  # unix only
    host: str = ""  # inet and inet6 only
    port: int = 0  # inet and inet6 only

    @property
    def is_unix(self) -> bool:
        return self.family == "unix"

    def libmilter_spec(self) -> str:
        """The address as ``milter.setconn`` takes it."""
        if self.is_unix:
            return f"unix:{self.path}"
        return f"{self.family}:{self.port}@{self.host}"


def parse_socket_address(spec: str) -> SocketAddress:
    """``spec`` as a SocketAddress; ValueError when it is none of the accepted forms."""
    if not _SOCKET_RE.match(spec):
        raise ValueError(
            f"must be unix:/PATH, inet:HOST:PORT or inet:PORT@HOST; got {spec!r}")
    family, rest = spec.split(":", 1)
    if family == "unix":
        return SocketAddress("unix", path=rest)
    inet: Family = "inet6" if family == "inet6" else "inet"
    if "@" in rest:
        port, host = rest.split("@", 1)
    else:
        host, port = rest.rsplit(":", 1)
    return SocketAddress(inet, host=host, port=int(port))
