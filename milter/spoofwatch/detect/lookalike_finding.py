"""``lookalike_domain``: From, Reply-To or the envelope sender imitates a watched domain.
The matching of domains is in ``lookalike.py``."""

from __future__ import annotations

from ..addresses import domain_of
from ..results import Finding
from ..textsafe import ascii_safe
from .impersonation import ImpersonationInput, Weight, reply_to_domains
from .lookalike import LookalikeMatch
from .structure import limit_finding

# Reply-To domains compared with the watched domains (a lookalike check costs about
# 0.1 ms; a hostile Reply-To can list thousands). No real message has this many: more
# are reported as unreadable_structure. The diversion check (reply_to.py) costs a few
# comparisons per domain and looks at all of them.
REPLY_TO_LOOKALIKE_LIMIT = 20


def lookalike_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    if inp.matcher is None:
        return []
    reply_to = reply_to_domains(inp.message)
    candidates = [("From", inp.sender.domain)]
    candidates += [("Reply-To", d) for d in reply_to[:REPLY_TO_LOOKALIKE_LIMIT]]
    if inp.envelope.mail_from:
        candidates.append(("envelope sender", domain_of(inp.envelope.mail_from)))
    findings: list[Finding] = []
    seen: set[str] = set()
    for where, domain in candidates:
        if not domain or domain in seen or domain.startswith("["):
            continue
        seen.add(domain)
        match: LookalikeMatch | None = inp.matcher.match(domain)
        if match is None:
            continue
        imitated = (f"the name \"{ascii_safe(match.target, 80)}\"" if match.by_name
                    else match.target)
        text = (f"The {where} domain {ascii_safe(match.unicode or match.domain, 80)} imitates "
                f"{imitated} of {ascii_safe(match.org, 80)} ({match.kind.replace('_', ' ')}).")
        findings.append(Finding("lookalike_domain", weight("lookalike_domain"), text,
                                org=match.org, detail=(("where", where), ("domain", domain),
                                                       ("target", match.target),
                                                       ("kind", match.kind))))
    if len(reply_to) > REPLY_TO_LOOKALIKE_LIMIT:
        findings.append(limit_finding(
            weight, "reply_to_lookalike_domains",
            f"The Reply-To header names {len(reply_to)} domains; only the first "
            f"{REPLY_TO_LOOKALIKE_LIMIT} were checked for lookalike domains.",
            REPLY_TO_LOOKALIKE_LIMIT, len(reply_to)))
    return findings

