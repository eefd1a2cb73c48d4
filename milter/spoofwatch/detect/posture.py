"""Can a domain send mail at all, by its own DNS?

A domain with no DNS at all, a null MX (RFC 7505), or no MX together with an SPF record
that authorizes nobody (``v=spf1 -all``) has said it sends no mail: mail "from" it is
forged by definition. That was the 2020 case: one SPF record, ``-all``, and no MX.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dns import DnsStatus, Lookup


@dataclass(frozen=True)
class MailPosture:
    domain: str
    reason: str  # why the domain cannot send mail; "" when it can or we could not tell
    temperror: bool = False


def _spf_records(lookup: Lookup, domain: str) -> tuple[DnsStatus, list[str]]:
    answer = lookup.lookup(domain, "TXT")
    records = [r for r in answer.records
               if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]
    return answer.status, records


def spf_authorizes_nothing(record: str) -> bool:
    """True for records whose only mechanism is ``-all`` (modifiers such as exp= allowed)."""
    terms = record.split()[1:]
    mechanisms = [t.lower() for t in terms if "=" not in t.split(":")[0]]
    return mechanisms == ["-all"]


def mail_posture(domain: str, lookup: Lookup) -> MailPosture:
    if not domain:
        return MailPosture(domain, "")
    mx = lookup.lookup(domain, "MX")
    if mx.status is DnsStatus.TEMPERROR:
        return MailPosture(domain, "", temperror=True)
    if mx.status is DnsStatus.NXDOMAIN:
        return MailPosture(domain, f"{domain} does not exist in DNS")
    if mx.status is DnsStatus.OK:
        if any(r.split()[-1] == "." for r in mx.records if r.split()):
            return MailPosture(domain,
                               f"{domain} publishes a null MX: it accepts and sends no mail")
        return MailPosture(domain, "")
    status, records = _spf_records(lookup, domain)
    if status is DnsStatus.TEMPERROR:
        return MailPosture(domain, "", temperror=True)
    if len(records) == 1 and spf_authorizes_nothing(records[0]):
        return MailPosture(
            domain, f"{domain} has no MX and its SPF record (v=spf1 -all) authorizes no sender"
        )
    return MailPosture(domain, "")
