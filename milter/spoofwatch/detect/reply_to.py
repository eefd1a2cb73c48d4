"""``reply_to_diversion``: mail from (or posing as) a watched organization asks for answers
to be sent somewhere else."""

from __future__ import annotations

from ..domains import is_subdomain_or_self
from ..results import Finding
from ..textsafe import ascii_safe
from .impersonation import (
    ImpersonationInput,
    Weight,
    authenticated_as,
    owned_by,
    reply_to_domains,
    signed_by,
)
from .name_match import match_display_name


def reply_to_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    """Mail presenting itself as from a watched organization (its From domain or its name)
    whose replies would go to a domain that is neither the organization's nor the From
    domain itself (a display-name impersonation from gmail.com replying to gmail.com is
    already counted as such)."""
    domains = [d for d in reply_to_domains(inp.message) if d != inp.sender.domain]
    if not domains:
        return []  # most mail: no Reply-To, or one to the From domain (no name matching)
    owner = inp.watchlist.owner_of(inp.sender.domain)
    if owner is not None:
        org = owner[0]
        if authenticated_as(org, inp.sender.domain, inp.dmarc, inp.dkim, inp.watchlist):
            return []  # the organization itself chose where replies go
    else:
        match = match_display_name(inp.sender.display_name, inp.watchlist)
        if match is None or signed_by(match.org, inp.dkim, inp.watchlist):
            return []
        org = match.org
        if inp.watchlist.is_distinct(inp.sender.domain, org):
            return []
    own = inp.watchlist.signing_domains(org)
    for domain in domains:
        if owned_by(org, domain):
            continue
        if any(is_subdomain_or_self(domain, d) for d in own):
            continue
        text = (f"Replies to this message, which presents itself as from "
                f"{ascii_safe(org.name, 80)}, would go to {ascii_safe(domain, 80)}, "
                "which is not theirs.")
        return [Finding("reply_to_diversion", weight("reply_to_diversion"), text,
                        org=org.name, detail=(("reply_to_domain", domain),))]
    return []

