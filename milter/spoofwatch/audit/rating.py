"""How spoofable a domain is, from its DNS facts: a rating and the reasons in plain words.

Pure: no DNS, no I/O. The rules (docs/audit.md says the same):

1. **non-mail** - the watchlist says ``sends_mail: false``, or the domain publishes a null
   MX, or it has no MX and an SPF record that authorizes nobody (``v=spf1 -all``): the
   judgement of ``detect/posture.py``, which the milter's ``non_mail_domain`` uses.
2. **unknown** - the DMARC policy could not be found out (a DNS failure in the tree walk,
   or in the existence check that np= needs).
3. **unprotected** - no DMARC record applies (none found by the tree walk, or one without
   a usable p= and rua=), or SPF authorizes every address (``+all``, an include of a
   record that ends ``+all``, an ``exists:`` of a name that always resolves, all of IPv4
   or of IPv6), which lets anyone pass SPF aligned, and so DMARC.
4. **monitor-only** - the policy a failing message gets is ``none``: p=none, or
   p=quarantine with t=y (RFC 9989: receivers apply one level lower).
5. **unknown** - the policy would be enforced, but a lookup of the SPF walk failed: the
   record (or an include) that could not be read may hide a ``+all``.
6. **enforced** - the policy a failing message gets is quarantine or reject (p=, sp= for
   a subdomain, np= for a name that does not exist; p=reject with t=y applies quarantine).

Rules 3-6 are also the ``protection`` of a non-mail domain: what other receivers do with
mail claiming it. ``spoofable`` is True for unprotected and monitor-only protection, False
for enforced, None when unknown: a rating is never better than the evidence.

``subdomains`` is the same judgement for the names *below* the domain (x.democrats.org),
which a forger may use instead of the domain itself: by the ``sp=`` (existing names) and
``np=`` (names that do not exist) of the record that applies, the worse of the two, since
the forger chooses. SPF is the subdomain's own, so it does not enter this judgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .posture import DmarcFacts, DomainFacts, Known

__all__ = ["Assessment", "Rating", "dmarc_protection", "rate", "subdomain_protection"]


class Rating(StrEnum):
    ENFORCED = "enforced"
    MONITOR_ONLY = "monitor-only"
    UNPROTECTED = "unprotected"
    NON_MAIL = "non-mail"
    UNKNOWN = "unknown"


def _spoofable(protection: Rating) -> bool | None:
    if protection is Rating.UNKNOWN:
        return None
    return protection is not Rating.ENFORCED


@dataclass(frozen=True)
class Assessment:
    rating: Rating
    protection: Rating  # what DMARC (and SPF) give at other receivers: never NON_MAIL
    reasons: tuple[str, ...]
    subdomains: Rating = Rating.UNKNOWN  # the protection of names below the domain
    subdomain_reason: str = ""

    @property
    def spoofable(self) -> bool | None:
        return _spoofable(self.protection)

    @property
    def subdomains_spoofable(self) -> bool | None:
        return _spoofable(self.subdomains)


def _where(dmarc: DmarcFacts) -> str:
    kind = {"author": "its own record", "organizational": "the organizational domain's record",
            "psd": "the public suffix domain's record"}.get(dmarc.source, "the record")
    return f"{kind} at _dmarc.{dmarc.policy_domain}"


def dmarc_protection(facts: DomainFacts) -> tuple[Rating, list[str]]:
    """What receivers do with unauthenticated mail claiming the domain, and why."""
    dmarc, spf = facts.dmarc, facts.spf
    if dmarc.state is Known.UNKNOWN:
        return Rating.UNKNOWN, [f"the DMARC lookup failed ({dmarc.error or 'DNS error'}): "
                                "whether receivers accept forged mail is unknown"]
    if dmarc.state is Known.NO:
        if dmarc.record:
            return Rating.UNPROTECTED, [
                f"the DMARC record at _dmarc.{dmarc.policy_domain} has no usable p= and no "
                "valid rua=, so receivers ignore it and accept unauthenticated mail "
                "claiming this domain"]
        return Rating.UNPROTECTED, ["no DMARC record: receivers accept unauthenticated mail "
                                    "claiming this domain"]
    if spf.authorizes_everyone:
        return Rating.UNPROTECTED, [
            f"SPF authorizes every address ({_everyone_cause(facts)}): anyone passes SPF for "
            "this domain, and with it DMARC, whatever its policy"]
    tag = dmarc.tag or "p"
    testing = dmarc.testing and dmarc.applied != dmarc.requested
    if dmarc.applied == "none":
        if testing:
            return Rating.MONITOR_ONLY, [
                f"DMARC {tag}={dmarc.requested} with t=y (testing) in {_where(dmarc)}: "
                "receivers apply none, so they accept unauthenticated mail and only report it"]
        return Rating.MONITOR_ONLY, [
            f"DMARC {tag}=none in {_where(dmarc)}: receivers accept unauthenticated mail "
            "claiming this domain and only report it"]
    reasons = [f"DMARC {tag}={dmarc.requested} in {_where(dmarc)}: receivers "
               f"{'reject' if dmarc.applied == 'reject' else 'quarantine'} unauthenticated "
               "mail claiming this domain"]
    if testing:
        reasons.append(f"t=y (testing): receivers apply {dmarc.applied} instead of "
                       f"{dmarc.requested}")
    if spf.present == "unknown" or (spf.present == "yes" and spf.valid is None):
        # A record (or an include) that could not be read may end +all: enforcement is
        # then unproven, and the rating never claims more than the evidence shows.
        return Rating.UNKNOWN, [
            "an SPF lookup failed: the part of the SPF record that could not be read may "
            "authorize every address, so whether forged mail passes DMARC is unknown",
            *reasons]
    return Rating.ENFORCED, reasons


def _everyone_cause(facts: DomainFacts) -> str:
    spf = facts.spf
    if spf.final == "+all":
        return "+all"
    if spf.everyone:
        return ", ".join(spf.everyone)
    return "all of IPv4" if spf.ipv4_addresses >= 2**32 else "all of IPv6"


_ONE_LEVEL_LOWER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
_SEVERITY = {"none": 0, "quarantine": 1, "reject": 2}


def subdomain_protection(facts: DomainFacts) -> tuple[Rating, str]:
    """What receivers do with unauthenticated mail claiming a name below the domain.

    The record that applies to the domain applies to its subdomains too (the tree walk
    finds no closer one for a name the organization does not publish): ``sp=`` for a name
    that exists, ``np=`` (else ``sp=``, else ``p=``) for one that does not, as
    ``auth/dmarc.py`` chooses; the weaker of the two counts, since the forger picks the name.
    """
    dmarc = facts.dmarc
    if dmarc.state is Known.UNKNOWN:
        return Rating.UNKNOWN, "the DMARC lookup failed: the policy for its subdomains is unknown"
    if dmarc.state is Known.NO:
        return Rating.UNPROTECTED, ("no DMARC record applies: receivers accept unauthenticated "
                                    "mail claiming its subdomains")
    existing = dmarc.sp or dmarc.p or "none"
    missing = dmarc.np or existing
    # Below a name that does not exist nothing exists: only np= can apply there.
    weaker = _SEVERITY.get(missing, 0) < _SEVERITY.get(existing, 0)
    tag, requested = (("np", missing) if weaker or (facts.exists is Known.NO and dmarc.np)
                      else ("sp" if dmarc.sp else "p", existing))
    applied = _ONE_LEVEL_LOWER.get(requested, "none") if dmarc.testing else requested
    where = f"_dmarc.{dmarc.policy_domain}"
    if applied == "none":
        return Rating.MONITOR_ONLY, (
            f"DMARC {tag}={requested}{' with t=y' if dmarc.testing else ''} at {where}: "
            "receivers accept unauthenticated mail claiming its subdomains")
    return Rating.ENFORCED, (f"DMARC {tag}={requested} at {where}: receivers {applied} "
                             "unauthenticated mail claiming its subdomains")


def _non_mail_reason(facts: DomainFacts) -> str:
    if not facts.listed_sends_mail:
        return "the watchlist says it sends no mail (sends_mail: false)"
    if facts.exists is Known.NO:
        return ""  # a name that does not exist: its rating is np='s (rules 3-5)
    return facts.posture.reason


def _notes(facts: DomainFacts) -> list[str]:
    notes: list[str] = []
    if facts.exists is Known.NO:
        notes.append(f"{facts.domain} does not exist in DNS (NXDOMAIN)")
    elif facts.exists is Known.UNKNOWN:
        notes.append(f"whether {facts.domain} exists is unknown (MX lookup: {facts.mx.error})")
    spf = facts.spf
    if spf.present == "unknown":
        notes.append("the SPF lookup failed: its SPF record is unknown")
    elif spf.present == "yes" and spf.valid is False:
        notes.append("SPF is invalid: " + "; ".join(spf.problems))
    if spf.unsized:
        notes.append("SPF terms whose addresses cannot be known without a message: "
                     + ", ".join(spf.unsized))
    return notes


def rate(facts: DomainFacts) -> Assessment:
    """The rating of one domain, with its reasons (most important first)."""
    protection, reasons = dmarc_protection(facts)
    subdomains, subdomain_reason = subdomain_protection(facts)
    non_mail = _non_mail_reason(facts)
    notes = _notes(facts)
    if non_mail:
        return Assessment(Rating.NON_MAIL, protection, (non_mail, *reasons, *notes),
                          subdomains, subdomain_reason)
    return Assessment(protection, protection, (*reasons, *notes), subdomains, subdomain_reason)
