"""``display_name_impersonation``: the display name is a watched organization's name or
alias (or one of its addresses), or claims it among other words, while the address is not
theirs. The matching of names, and whether a longer name is consistent with its address,
is in ``name_match.py``."""

from __future__ import annotations

from ..results import Finding
from ..textsafe import ascii_safe
from .impersonation import ImpersonationInput, Weight, owned_by, signed_by
from .name_match import match_display_name


def _quoted(text: str, limit: int) -> str:
    return '"' + ascii_safe(text, limit).replace('"', "'") + '"'


def display_name_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    match = match_display_name(inp.sender.display_name, inp.watchlist,
                               (inp.sender.local_part, inp.sender.domain))
    if match is None:
        return []
    org, domain = match.org, inp.sender.domain
    # The organization's own address, a legitimate neighbour (a state party named "Florida
    # Democratic Party"), or mail signed by the organization or its sending service.
    if (owned_by(org, domain) or inp.watchlist.is_distinct(domain, org)
            or signed_by(org, inp.dkim, inp.watchlist)):
        return []
    text = (f"The sender's name {_quoted(inp.sender.display_name, 60)} presents the "
            f"message as coming from {ascii_safe(org.name, 80)}, but the address "
            f"{ascii_safe(inp.sender.address, 80)} is not theirs.")
    return [Finding("display_name_impersonation", weight("display_name_impersonation"), text,
                    org=org.name, detail=(("match", match.how), ("alias", match.alias)))]

