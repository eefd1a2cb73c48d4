"""``allowlisted``: the authenticated sender is on the configuration's allowlist, and every
other finding is cleared (this finding, of weight 0, records which)."""

from __future__ import annotations

from ..domains import is_subdomain_or_self
from ..finding_registry import BY_NAME
from ..results import AuthResult, DkimResult, DmarcResult, Finding, FromAddress, FromProblem
from ..textsafe import ascii_safe


def _authenticated_for(domain: str, dmarc: DmarcResult | None, dkim: DkimResult | None) -> bool:
    """DMARC pass for the From domain, or a passing DKIM signature of it (or a parent)."""
    if dmarc is not None and dmarc.from_domain == domain and dmarc.result is AuthResult.PASS:
        return True
    if dkim is None:
        return False
    return any(is_subdomain_or_self(domain, d) for d in dkim.passing_domains())


def allowlisted(sender: FromAddress | FromProblem, dmarc: DmarcResult | None,
                dkim: DkimResult | None, allowlist: tuple[str, ...]) -> str:
    """The allowlist entry that clears this message, or "".

    An entry (a domain, covering its subdomains, or an address) only applies when the
    message is authenticated for its From domain: a spoofer can write any From address,
    but cannot make DMARC or DKIM pass for it.
    """
    if not allowlist or not isinstance(sender, FromAddress):
        return ""
    address = sender.address.lower()
    domain = sender.domain
    for entry in allowlist:
        matches = (address == entry) if "@" in entry else is_subdomain_or_self(domain, entry)
        if matches and _authenticated_for(domain, dmarc, dkim):
            return entry
    return ""


def allowlist_finding(entry: str, sender: FromAddress, findings: list[Finding]) -> Finding:
    """The one finding left for an allowlisted message, naming what it cleared."""
    cleared = ",".join(dict.fromkeys(f.name for f in findings if f.weight)) or "none"
    return Finding(
        "allowlisted", BY_NAME["allowlisted"].weight,  # fixed: a policy cannot set it
        f"The authenticated sender {ascii_safe(sender.domain, 80)} is on the allowlist "
        f"({ascii_safe(entry, 80)}); findings cleared: {cleared}.",
        detail=(("entry", entry), ("cleared", cleared)),
    )
