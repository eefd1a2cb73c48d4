"""The findings of DMARC: ``dmarc_fail_reject`` / ``_quarantine`` / ``_none``,
``dmarc_temperror``, ``dmarc_permerror``, and ``arc_override`` (a trusted ARC sealer vouched
for mail whose DMARC failed; the override itself is decided here too).

DMARC is evaluated in ``auth/dmarc.py``, ARC in ``auth/arc.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..domains import is_subdomain_or_self
from ..results import ArcResult, AuthResult, DmarcResult, Finding
from ..textsafe import ascii_safe

Weight = Callable[[str], float]

# The finding for the policy that applies to a failing message (after t=y testing mode).
FAIL_FINDINGS = {
    "reject": "dmarc_fail_reject",
    "quarantine": "dmarc_fail_quarantine",
    "none": "dmarc_fail_none",
}


def apply_arc_override(dmarc: DmarcResult, arc: ArcResult,
                       trusted_sealers: tuple[str, ...]) -> DmarcResult:
    """Local policy override (RFC 8617 section 7.2): a trusted intermediary vouched for the mail.

    Trusted only when the chain validates and a sealer whose authserv-id is on the
    trusted list recorded dmarc=pass. The authserv-id must also lie within the
    domain that signed that seal, so nobody can claim a trusted list's identity
    under their own ARC key.
    """
    if dmarc.result is not AuthResult.FAIL or arc.result is not AuthResult.PASS:
        return dmarc
    trusted = set(trusted_sealers)
    for authserv_id, result in arc.sealer_dmarc:
        if authserv_id.lower() not in trusted or result.lower() != "pass":
            continue
        sealed = any(is_subdomain_or_self(authserv_id, d) for d in arc.sealers)
        if sealed:
            return replace(dmarc, override=f"arc trusted sealer {authserv_id}")
    return dmarc


def dmarc_findings(dmarc: DmarcResult | None, weight: Weight) -> list[Finding]:
    if dmarc is None:
        return []
    domain = ascii_safe(dmarc.from_domain, 100)
    if dmarc.override and dmarc.result is AuthResult.FAIL:
        return [
            Finding(
                "arc_override", weight("arc_override"),
                f"DMARC failed for {domain} but {ascii_safe(dmarc.override, 100)} vouched for it.",
            )
        ]
    if dmarc.result is AuthResult.FAIL:
        # a failure needs a record, whose p= is one of the three (results.DmarcResult)
        applied = dmarc.policy or "none"
        name = FAIL_FINDINGS[applied]
        return [
            Finding(
                name, weight(name),
                f"DMARC failed for {domain} (policy {applied}): "
                "neither SPF nor DKIM authenticated the From domain.",
                detail=(("policy_domain", dmarc.policy_domain), ("policy", applied)),
            )
        ]
    if dmarc.result is AuthResult.TEMPERROR:
        return [
            Finding(
                "dmarc_temperror", weight("dmarc_temperror"),
                f"DMARC for {domain} could not be evaluated: a DNS lookup failed.",
            )
        ]
    if dmarc.result is AuthResult.PERMERROR:
        return [
            Finding(
                "dmarc_permerror", weight("dmarc_permerror"),
                f"DMARC for {domain} could not be evaluated: {ascii_safe(dmarc.reason, 120)}",
            )
        ]
    return []
