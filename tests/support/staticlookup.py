"""An in-memory ``Lookup`` for unit tests of pure logic: no cache, no network."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence

from spoofwatch.dns import DnsAnswer, DnsStatus, canonical_dns_name


class StaticLookup:
    """An in-memory Lookup for unit tests of pure logic (no cache, no network).

    ``zone`` maps names to {rdtype: [record text, ...]} in the formats above.
    Names absent from the zone answer NXDOMAIN, unless they have descendants in
    the zone (empty non-terminals answer NODATA, as in real DNS); present names
    without the type answer NODATA; names in ``temperror`` answer TEMPERROR.
    Names are normalised like the real resolver's, and CNAMEs in the zone are
    followed. ``queries`` logs every (name, rdtype) asked, in order.
    """

    _MAX_CHAIN = 8

    def __init__(
        self,
        zone: Mapping[str, Mapping[str, Sequence[str]]],
        temperror: Collection[str] = (),
        ttl: int = 300,
    ) -> None:
        self._zone: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, by_type in zone.items():
            key = name.lower().rstrip(".")
            entry = self._zone.setdefault(key, {})
            for rdtype, values in by_type.items():
                entry[rdtype.upper()] = entry.get(rdtype.upper(), ()) + tuple(values)
        self._temperror = frozenset(name.lower().rstrip(".") for name in temperror)
        self._ttl = ttl
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        kind = rdtype.strip().upper()
        normal = canonical_dns_name(name)
        if normal is None:
            return DnsAnswer(name.lower().rstrip("."), kind, DnsStatus.NXDOMAIN, ())
        with self._lock:
            self.queries.append((normal, kind))
        current = normal
        for _ in range(self._MAX_CHAIN):
            if current in self._temperror:
                return DnsAnswer(normal, kind, DnsStatus.TEMPERROR, (), 0, "temperror (static)")
            by_type = self._zone.get(current, {})
            if kind in by_type:
                return DnsAnswer(normal, kind, DnsStatus.OK, by_type[kind], self._ttl)
            if kind != "CNAME" and by_type.get("CNAME"):
                current = by_type["CNAME"][0].lower().rstrip(".")
                continue
            break
        if self._exists(current):
            return DnsAnswer(normal, kind, DnsStatus.NODATA, (), self._ttl)
        return DnsAnswer(normal, kind, DnsStatus.NXDOMAIN, (), self._ttl)

    def _exists(self, name: str) -> bool:
        if name in self._zone:
            return True
        suffix = "." + name
        return any(other.endswith(suffix) for other in self._zone)
