"""``non_mail_domain``: the From domain says by its own DNS (or the watchlist says) that it
sends no mail. The DNS posture is read in ``posture.py``."""

from __future__ import annotations

from ..dns import nxdomain_trusted
from ..results import AuthResult, Finding
from ..textsafe import ascii_safe
from .impersonation import ImpersonationInput, Weight, authenticated_as
from .posture import mail_posture


def non_mail_findings(inp: ImpersonationInput, lookup: object, weight: Weight) -> list[Finding]:
    owner = inp.watchlist.owner_of(inp.sender.domain)
    if owner is not None and not owner[1].sends_mail:
        if authenticated_as(owner[0], inp.sender.domain, inp.dmarc, inp.dkim, inp.watchlist):
            return []
        text = (f"{ascii_safe(inp.sender.domain, 80)} is listed as a domain of "
                f"{ascii_safe(owner[0].name, 80)} that sends no mail.")
        return [Finding("non_mail_domain", weight("non_mail_domain"), text, org=owner[0].name)]
    if inp.dmarc is not None and inp.dmarc.result is AuthResult.PASS:
        return []  # it authenticated: its DNS evidently lets it send
    if inp.dkim is not None and inp.sender.domain in inp.dkim.passing_domains():
        return []  # it signs its own mail, so it does send mail (whatever its MX says)
    posture = mail_posture(inp.sender.domain, lookup)  # type: ignore[arg-type]
    if not posture.reason:
        return []
    if not nxdomain_trusted(lookup):
        return []  # the name servers deny zones that exist: their "no" proves nothing
    return [Finding("non_mail_domain", weight("non_mail_domain"),
                    f"The From domain cannot send mail: {ascii_safe(posture.reason, 160)}.")]
