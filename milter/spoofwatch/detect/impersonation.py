"""Findings about who a message pretends to come from.

- ``from_domain_unauthenticated``: the From domain belongs to a watched organization and
  the message is not authenticated as theirs — whatever that domain's own DMARC policy
  says (``p=none`` and no record at all included).
- ``display_name_impersonation``: the display name is a watched organization's name or
  alias (or one of its addresses), while the address is not theirs.
- ``lookalike_domain``: From, Reply-To or the envelope sender imitates a watched domain.
- ``reply_to_diversion``: mail from (or posing as) a watched organization asks for answers
  to be sent somewhere else.
- ``non_mail_domain``: the From domain says by its own DNS that it sends no mail.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz

from ..addresses import domain_of, parse_address_header
from ..message import Message
from ..results import AuthResult, DkimResult, DmarcResult, Envelope, Finding, FromAddress
from ..textsafe import ascii_safe
from .lookalike import LookalikeMatch, LookalikeMatcher
from .posture import mail_posture
from .textextract import normalize_text
from .watchlist import Organization, Watchlist

Weight = Callable[[str], float]

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
# Display-name shapes of mailing lists and ticket systems ("Alice via DemList",
# "X on behalf of Y") name a real person relaying for a list: not impersonation.
_RELAY_SHAPES = re.compile(r"\b(via|on behalf of|through|per)\b", re.I)
_FUZZY_MIN_LEN = 8
_FUZZY_RATIO = 90.0


def normalize_name(text: str) -> str:
    """Case, punctuation, spacing, Unicode confusables and zero-width characters folded."""
    text = normalize_text(text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _PUNCT.sub(" ", text)
    return _SPACES.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class NameMatch:
    org: Organization
    alias: str
    how: str  # "exact", "phrase", "misspelt", "address"


def match_display_name(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    if not display_name.strip():
        return None
    raw = display_name.lower()
    for org in watchlist.organizations:
        for info in org.domains:
            if re.search(r"@" + re.escape(info.domain) + r"\b", raw) or raw.strip() == info.domain:
                return NameMatch(org, info.domain, "address")
    name = normalize_name(display_name)
    if not name or _RELAY_SHAPES.search(name):
        return None
    padded = f" {name} "
    for org in watchlist.organizations:
        for alias in org.names():
            target = normalize_name(alias)
            if not target:
                continue
            if name == target:
                return NameMatch(org, alias, "exact")
            # A multi-word alias (or a long one) inside a short display name: "DNC Official
            # Notice", "Proud Boys Florida". Short single words ("GOP") only match whole names.
            if (" " in target or len(target) >= _FUZZY_MIN_LEN) and f" {target} " in padded:
                if len(name.split()) <= len(target.split()) + 3:
                    return NameMatch(org, alias, "phrase")
            if len(target) >= _FUZZY_MIN_LEN and fuzz.ratio(name, target) >= _FUZZY_RATIO:
                return NameMatch(org, alias, "misspelt")
    return None


def authenticated_as(org: Organization, from_domain: str, dmarc: DmarcResult | None,
                     dkim: DkimResult | None, watchlist: Watchlist) -> bool:
    """Is the message really from ``org``? DMARC pass (or a trusted ARC override) for the
    From domain, or a passing DKIM signature of one of the org's signing domains."""
    if dmarc is not None and dmarc.from_domain == from_domain:
        if dmarc.result is AuthResult.PASS or (dmarc.override and dmarc.result is AuthResult.FAIL):
            return True
    if dkim is not None:
        own = watchlist.signing_domains(org)
        for domain in dkim.passing_domains():
            if any(domain == d or domain.endswith("." + d) for d in own):
                return True
    return False


@dataclass(frozen=True)
class ImpersonationInput:
    envelope: Envelope
    message: Message
    sender: FromAddress
    dmarc: DmarcResult | None
    dkim: DkimResult | None
    watchlist: Watchlist
    matcher: LookalikeMatcher | None


def _owned_by(org: Organization, domain: str) -> bool:
    return any(domain == i.domain or domain.endswith("." + i.domain) for i in org.domains)


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


def display_name_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    match = match_display_name(inp.sender.display_name, inp.watchlist)
    if match is None or _owned_by(match.org, inp.sender.domain):
        return []
    text = (f"The sender's name {ascii_safe(inp.sender.display_name, 60)!r} presents the "
            f"message as coming from {ascii_safe(match.org.name, 80)}, but the address "
            f"{ascii_safe(inp.sender.address, 80)} is not theirs.")
    return [Finding("display_name_impersonation", weight("display_name_impersonation"), text,
                    org=match.org.name, detail=(("match", match.how), ("alias", match.alias)))]


def _reply_to_domains(message: Message) -> list[str]:
    domains: list[str] = []
    for value in message.get_all("Reply-To"):
        parsed = parse_address_header(value)
        if isinstance(parsed, list):
            domains.extend(m.domain for m in parsed if getattr(m, "domain", ""))
    return domains


def lookalike_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    if inp.matcher is None:
        return []
    candidates = [("From", inp.sender.domain)]
    candidates += [("Reply-To", d) for d in _reply_to_domains(inp.message)]
    if inp.envelope.mail_from:
        candidates.append(("envelope sender", domain_of(inp.envelope.mail_from)))
    findings: list[Finding] = []
    seen: set[str] = set()
    for where, domain in candidates:
        if not domain or domain in seen:
            continue
        seen.add(domain)
        match: LookalikeMatch | None = inp.matcher.match(domain)
        if match is None:
            continue
        text = (f"The {where} domain {ascii_safe(match.unicode or match.domain, 80)} imitates "
                f"{match.target} of {ascii_safe(match.org, 80)} ({match.kind.replace('_', ' ')}).")
        findings.append(Finding("lookalike_domain", weight("lookalike_domain"), text,
                                org=match.org, detail=(("where", where), ("domain", domain),
                                                       ("target", match.target),
                                                       ("kind", match.kind))))
    return findings


def reply_to_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    owner = inp.watchlist.owner_of(inp.sender.domain)
    org = owner[0] if owner else None
    if org is None:
        match = match_display_name(inp.sender.display_name, inp.watchlist)
        org = match.org if match else None
    if org is None:
        return []
    for domain in _reply_to_domains(inp.message):
        if domain and not _owned_by(org, domain):
            text = (f"Replies to this message, which presents itself as from "
                    f"{ascii_safe(org.name, 80)}, would go to {ascii_safe(domain, 80)}, "
                    "which is not theirs.")
            return [Finding("reply_to_diversion", weight("reply_to_diversion"), text,
                            org=org.name, detail=(("reply_to_domain", domain),))]
    return []


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
    posture = mail_posture(inp.sender.domain, lookup)  # type: ignore[arg-type]
    if not posture.reason:
        return []
    return [Finding("non_mail_domain", weight("non_mail_domain"),
                    f"The From domain cannot send mail: {ascii_safe(posture.reason, 160)}.")]
