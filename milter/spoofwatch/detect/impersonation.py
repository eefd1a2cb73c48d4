"""What the sender findings share: the message as its sender presents it, and whether it
is authenticated as a watched organization's.

Each finding about who a message pretends to come from has a module of its own:

- ``from_domain.py``: ``from_domain_unauthenticated``
- ``display_name.py``: ``display_name_impersonation`` (names matched in ``name_match.py``)
- ``lookalike_finding.py``: ``lookalike_domain`` (domains matched in ``lookalike.py``)
- ``reply_to.py``: ``reply_to_diversion``
- ``non_mail.py``: ``non_mail_domain``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..addresses import parse_address_header
from ..domains import is_subdomain_or_self, normalize_domain
from ..message import Message
from ..results import AuthResult, DkimResult, DmarcResult, Envelope, FromAddress
from .lookalike import LookalikeMatcher
from .watchlist import Organization, Watchlist

Weight = Callable[[str], float]  # a finding's name -> its weight in the policy


def signed_by(org: Organization, dkim: DkimResult | None, watchlist: Watchlist) -> bool:
    """A valid DKIM signature of the organization or of a service that sends for it."""
    if dkim is None:
        return False
    own = watchlist.signing_domains(org)
    return any(is_subdomain_or_self(domain, d) for domain in dkim.passing_domains() for d in own)


def authenticated_as(org: Organization, from_domain: str, dmarc: DmarcResult | None,
                     dkim: DkimResult | None, watchlist: Watchlist) -> bool:
    """Is mail from ``from_domain`` (one of ``org``'s) really from ``org``? DMARC pass (or a
    trusted ARC override) for that From domain, or a passing DKIM signature of one of the
    org's signing domains."""
    if dmarc is not None and dmarc.from_domain == from_domain:
        if dmarc.result is AuthResult.PASS or (dmarc.override and dmarc.result is AuthResult.FAIL):
            return True
    return signed_by(org, dkim, watchlist)


@dataclass(frozen=True)
class ImpersonationInput:
    envelope: Envelope
    message: Message
    sender: FromAddress
    dmarc: DmarcResult | None
    dkim: DkimResult | None
    watchlist: Watchlist
    matcher: LookalikeMatcher | None


def owned_by(org: Organization, domain: str) -> bool:
    return any(is_subdomain_or_self(domain, i.domain) for i in org.domains)


def reply_to_domains(message: Message) -> list[str]:
    """Normalized (lower-case A-label) domains of every Reply-To mailbox, literals left out,
    each once, in order."""
    normalized: dict[str, str] = {}  # as written -> normalized: convert each spelling once
    domains: dict[str, None] = {}
    for value in message.get_all("Reply-To"):
        parsed = parse_address_header(value)
        if not isinstance(parsed, list):
            continue
        for mailbox in parsed:
            if not mailbox.domain or mailbox.is_literal:
                continue
            domain = normalized.get(mailbox.domain)
            if domain is None:
                domain = normalized[mailbox.domain] = normalize_domain(mailbox.domain)
            domains[domain] = None
    return list(domains)

