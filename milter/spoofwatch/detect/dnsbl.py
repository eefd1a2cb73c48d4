"""``dnsbl_listed``: the client IP is listed by one of the optional DNS blocklists
(``dnsbl_zones``), queried through our resolver."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from ..dns import DnsStatus, Lookup
from ..results import Envelope, Finding


def _reversed_name(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 4:
        return ".".join(reversed(ip.split(".")))
    nibbles = address.exploded.replace(":", "")
    return ".".join(reversed(nibbles))


def _listing(record: str) -> bool:
    # 127.0.0.0/8 answers are listings; 127.255.255.x are the lists' own error codes
    # (query refused, rate limited) and must not count as a listing.
    try:
        address = ipaddress.ip_address(record)
    except ValueError:
        return False
    return address in ipaddress.ip_network("127.0.0.0/8") and not str(address).startswith(
        "127.255.255."
    )


def listed_zones(ip: str, zones: tuple[str, ...], lookup: Lookup) -> tuple[str, ...]:
    """The zones that list ``ip`` (temporary failures count as not listed)."""
    name = _reversed_name(ip)
    if name is None or ipaddress.ip_address(ip).is_loopback:
        return ()
    listed = []
    for zone in zones:
        answer = lookup.lookup(f"{name}.{zone}", "A")
        if answer.status is DnsStatus.OK and any(_listing(r) for r in answer.records):
            listed.append(zone)
    return tuple(listed)


def dnsbl_findings(envelope: Envelope, zones: tuple[str, ...], lookup: Lookup,
                   weight: Callable[[str], float]) -> list[Finding]:
    if not zones or not envelope.client_ip:
        return []
    listed = listed_zones(envelope.client_ip, zones, lookup)
    if not listed:
        return []
    return [Finding("dnsbl_listed", weight("dnsbl_listed"),
                    f"The sending address {envelope.client_ip} is listed by {', '.join(listed)}.",
                    detail=tuple(("zone", z) for z in listed))]
