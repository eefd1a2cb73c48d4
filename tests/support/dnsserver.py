"""A small authoritative DNS server on loopback for integration tests.

It serves whatever records a test adds, over UDP and TCP on one port, and
behaves like an authoritative server for every name it is asked about:

* exact-match records, with CNAMEs followed inside the answer;
* NXDOMAIN for a name that has neither records nor descendants;
* NOERROR with an empty answer (NODATA) for a name that exists without the
  asked type, including empty non-terminals (names that only have children);
* negative answers carry an SOA in the authority section whose minimum is
  ``negative_ttl``, so resolvers can cache them (RFC 2308);
* UDP answers larger than the client's limit (512 bytes, or its EDNS payload
  size) are truncated with the TC bit so the client retries over TCP;
* ``never_answer(name)`` silently drops queries for exactly that name;
  ``servfail(name)`` answers SERVFAIL for it, and also for any query whose
  CNAME chain leads to it (as a recursive resolver would); ``refuse(name)``
  likewise answers REFUSED.
* ``silent = True`` drops every query (a dead name server); ``nxdomain_everything = True``
  answers NXDOMAIN for every name, the root and top-level zones included (a broken
  resolver). ``udp_delay`` (seconds) holds back every UDP answer (a slow resolver). All
  three are reset by ``clear()``.
* the root and the top-level zones in ``ROOT_ZONES`` always exist, as they do for a real
  recursive resolver: their SOA is answered, other types get NODATA.

Every query received is logged in ``queries`` as ``(name, rdtype)``, in order,
the name lower-case without the trailing dot; ``tcp_queries`` holds the ones
that arrived over TCP.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
from collections.abc import Mapping, Sequence

from dnslib import (
    AAAA,
    CNAME,
    MX,
    NS,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SOA,
    TXT,
    A,
    DNSLabel,
    DNSRecord,
)

log = logging.getLogger(__name__)

_TXT_CHUNK = 255  # a character-string holds at most 255 bytes (RFC 1035 3.3)
_UDP_DEFAULT_LIMIT = 512  # without EDNS a UDP answer may not exceed this
_MAX_CNAME_CHAIN = 8
_POLL_INTERVAL = 0.05  # how often the serving threads look at the stop flag
# Zones every real resolver knows (the root is ""): asked for their SOA, the server answers it.
ROOT_ZONES = frozenset({"", "com", "org", "net"})


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """Bind a UDP and a TCP socket to the same port (port 0 picks a port free for both)."""
    attempts = 50 if port == 0 else 1
    last_error: OSError | None = None
    for _ in range(attempts):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, port))
            chosen = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, chosen))
                tcp.listen(16)
            except OSError as exc:
                tcp.close()
                raise exc
            return udp, tcp
        except OSError as exc:
            udp.close()
            last_error = exc
    raise OSError(f"could not bind UDP and TCP on {host}:{port}: {last_error}")


class DnsTestServer:
    """Loopback authoritative DNS server; see the module docstring.

    ``negative_ttl`` (default 60, restored by ``clear()``) is the SOA minimum
    and TTL sent with NXDOMAIN and NODATA answers.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.negative_ttl = 60
        self.silent = False  # drop every query
        self.nxdomain_everything = False  # answer NXDOMAIN for every name
        self.udp_delay = 0.0  # seconds every UDP answer is held back
        self.pending = 0  # UDP queries received and not answered yet
        self.max_pending = 0  # the most at one time since clear(): questions asked together
        self.queries: list[tuple[str, str]] = []
        self.tcp_queries: list[tuple[str, str]] = []  # the subset of queries that came over TCP
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, list[tuple[str, int]]]] = {}
        self._never_answer: set[str] = set()
        self._failures: dict[str, int] = {}  # name -> error rcode answered for it
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None

    # ----------------------------------------------------------------- setup

    def add(self, name: str, rdtype: str, value: str, ttl: int = 300) -> None:
        """Add one record. TXT values are unquoted text; MX values are "PREF exchange"."""
        kind = rdtype.upper()
        self._rdata(kind, value)  # fail now, in the test, on a malformed value
        with self._lock:
            self._records.setdefault(_norm(name), {}).setdefault(kind, []).append((value, ttl))

    def add_records(self, records: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        """Add records given as {name: {rdtype: [value, ...]}} with the default TTL."""
        for name, by_type in records.items():
            for rdtype, values in by_type.items():
                if isinstance(values, str):
                    raise TypeError(f"{name} {rdtype}: give a sequence of values, not a str")
                for value in values:
                    self.add(name, rdtype, value)

    def never_answer(self, name: str) -> None:
        with self._lock:
            self._never_answer.add(_norm(name))

    def servfail(self, name: str) -> None:
        with self._lock:
            self._failures[_norm(name)] = RCODE.SERVFAIL

    def refuse(self, name: str) -> None:
        """Answer REFUSED for this name (and for CNAME chains leading to it)."""
        with self._lock:
            self._failures[_norm(name)] = RCODE.REFUSED

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._never_answer.clear()
            self._failures.clear()
            self.queries.clear()
            self.tcp_queries.clear()
            self.negative_ttl = 60
            self.silent = False
            self.nxdomain_everything = False
            self.udp_delay = 0.0
            self.max_pending = self.pending

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._threads:
            return
        self._udp, self._tcp = _bind_pair(self.host, self.port)
        self.port = self._udp.getsockname()[1]
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._serve_udp, name="dns-test-udp", daemon=True),
            threading.Thread(target=self._serve_tcp, name="dns-test-tcp", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None

    def __enter__(self) -> DnsTestServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --------------------------------------------------------------- serving

    def _serve_udp(self) -> None:
        assert self._udp is not None
        sock = self._udp
        while not self._stop.is_set():
            ready, _, _ = select.select([sock], [], [], _POLL_INTERVAL)
            if not ready:
                continue
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                continue
            reply = self._handle(data, tcp=False)
            if reply is None:
                continue
            with self._lock:
                self.pending += 1
                self.max_pending = max(self.max_pending, self.pending)
            if self.udp_delay > 0:
                timer = threading.Timer(self.udp_delay, self._send_udp, (sock, reply, peer))
                timer.daemon = True
                timer.start()
            else:
                self._send_udp(sock, reply, peer)

    def _send_udp(self, sock: socket.socket, reply: bytes, peer: tuple[str, int]) -> None:
        with self._lock:
            self.pending -= 1
        try:
            sock.sendto(reply, peer)
        except OSError as exc:
            log.debug("UDP send to %s failed: %s", peer, exc)

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        listener = self._tcp
        while not self._stop.is_set():
            ready, _, _ = select.select([listener], [], [], _POLL_INTERVAL)
            if not ready:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(
                target=self._serve_tcp_connection, args=(conn,), name="dns-test-tcp-conn",
                daemon=True,
            ).start()

    def _serve_tcp_connection(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            while not self._stop.is_set():
                try:
                    header = self._recv_exact(conn, 2)
                    if header is None:
                        return
                    (length,) = struct.unpack("!H", header)
                    data = self._recv_exact(conn, length)
                    if data is None:
                        return
                except OSError:
                    return
                reply = self._handle(data, tcp=True)
                if reply is None:
                    continue  # dropped on purpose: the client will time out
                try:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

    @staticmethod
    def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
        chunks = b""
        while len(chunks) < size:
            chunk = conn.recv(size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return chunks

    # ------------------------------------------------------------- answering

    def _handle(self, data: bytes, tcp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception as exc:  # noqa: BLE001 - a garbled packet must not kill the server thread
            log.debug("unparseable query: %s", exc)
            return None
        if not request.questions:
            return None
        question = request.q
        name = _norm(str(question.qname))
        rdtype = QTYPE.get(question.qtype, str(question.qtype))
        with self._lock:
            self.queries.append((name, rdtype))
            if tcp:
                self.tcp_queries.append((name, rdtype))
            if self.silent or name in self._never_answer:
                return None
            reply = self._answer(request, name, rdtype)
        packed = reply.pack()
        if not tcp and len(packed) > self._udp_limit(request):
            packed = self._truncated(reply).pack()
        return packed

    @staticmethod
    def _truncated(reply: DNSRecord) -> DNSRecord:
        # Keep the question (dnslib's own truncate() drops it, and a client
        # rightly ignores a reply whose question does not match) and set TC.
        short = DNSRecord(header=reply.header, questions=list(reply.questions))
        short.header.tc = 1
        return short

    @staticmethod
    def _udp_limit(request: DNSRecord) -> int:
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                return max(_UDP_DEFAULT_LIMIT, int(rr.rclass))  # OPT CLASS = payload size
        return _UDP_DEFAULT_LIMIT

    def _answer(self, request: DNSRecord, name: str, rdtype: str) -> DNSRecord:
        """Build the reply; the caller holds the lock."""
        if name in self._failures:
            return self._failure_reply(request, self._failures[name])
        reply = request.reply(ra=0, aa=1)
        if self.nxdomain_everything:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(name))
            return reply
        if rdtype == "SOA" and name in ROOT_ZONES and name not in self._records:
            reply.add_answer(self._soa(name))
            return reply
        current = name
        for _ in range(_MAX_CNAME_CHAIN):
            by_type = self._records.get(current, {})
            if rdtype in by_type:
                for value, ttl in by_type[rdtype]:
                    reply.add_answer(self._rr(current, rdtype, value, ttl))
                return reply
            if rdtype != "CNAME" and "CNAME" in by_type:
                value, ttl = by_type["CNAME"][0]
                reply.add_answer(self._rr(current, "CNAME", value, ttl))
                current = _norm(value)
                if current in self._failures:
                    # As a recursive resolver would: the chain's failure is the answer's.
                    return self._failure_reply(request, self._failures[current])
                continue
            break
        if not self._exists(current):
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(self._soa(current))
        return reply

    @staticmethod
    def _failure_reply(request: DNSRecord, rcode: int) -> DNSRecord:
        reply = request.reply(ra=0, aa=0)
        reply.header.rcode = rcode
        return reply

    def _exists(self, name: str) -> bool:
        if name in ROOT_ZONES or self._records.get(name):
            return True
        suffix = "." + name
        return any(other.endswith(suffix) and recs for other, recs in self._records.items())

    def _soa(self, name: str) -> RR:
        # The SOA owner must be an ancestor of the name for a resolver to use it
        # for negative caching; the top-level label always is.
        zone = name.rsplit(".", 1)[-1] if name else ""
        rdata = SOA(
            mname=f"ns.{zone}." if zone else "ns.",
            rname=f"hostmaster.{zone}." if zone else "hostmaster.",
            times=(1, 3600, 600, 86400, self.negative_ttl),
        )
        return RR(f"{zone}.", QTYPE.SOA, rdata=rdata, ttl=self.negative_ttl)

    def _rr(self, name: str, rdtype: str, value: str, ttl: int) -> RR:
        return RR(DNSLabel(f"{name}."), getattr(QTYPE, rdtype), rdata=self._rdata(rdtype, value),
                  ttl=ttl)

    @staticmethod
    def _rdata(rdtype: str, value: str) -> object:
        if rdtype == "TXT":
            raw = value.encode("utf-8", "surrogateescape")
            chunks = [raw[i:i + _TXT_CHUNK] for i in range(0, len(raw), _TXT_CHUNK)] or [b""]
            return TXT(chunks)
        if rdtype == "A":
            return A(value)
        if rdtype == "AAAA":
            return AAAA(value)
        if rdtype == "MX":
            preference, exchange = value.split(None, 1)
            return MX(exchange.strip(), int(preference))  # "." is the null MX's root target
        if rdtype in ("CNAME", "PTR", "NS"):
            target = value.rstrip(".") + "."
            return {"CNAME": CNAME, "PTR": PTR, "NS": NS}[rdtype](target)
        raise ValueError(f"DnsTestServer does not serve {rdtype} records")
