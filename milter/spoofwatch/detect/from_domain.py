"""``from_domain_unauthenticated``: the From domain belongs to a watched organization and
the message is not authenticated as theirs — whatever that domain's own DMARC policy says
(``p=none`` and no record at all included)."""

from __future__ import annotations

from ..results import Finding
from ..textsafe import ascii_safe
from .impersonation import ImpersonationInput, Weight, authenticated_as


def from_domain_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    owner = inp.watchlist.owner_of(inp.sender.domain)
    if owner is None:
        return []
    org, info = owner
    if authenticated_as(org, inp.sender.domain, inp.dmarc, inp.dkim, inp.watchlist):
        return []
    dmarc_word = inp.dmarc.result.value if inp.dmarc else "none"
    text = (f"The From domain {ascii_safe(inp.sender.domain, 80)} belongs to "
            f"{ascii_safe(org.name, 80)}, but the message is not authenticated as theirs "
            f"(dmarc={dmarc_word}).")
    return [Finding("from_domain_unauthenticated", weight("from_domain_unauthenticated"), text,
                    org=org.name, detail=(("domain", inp.sender.domain),))]

