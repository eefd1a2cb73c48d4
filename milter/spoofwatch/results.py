"""Typed, immutable results shared by every check.

Field values use the RFC 8601 vocabulary so they map one to one onto an
Authentication-Results header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AuthResult(StrEnum):
    """RFC 8601 result words (SPF, DKIM, DMARC, ARC use subsets)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
    POLICY = "policy"


@dataclass(frozen=True)
class SpfCheck:
    """One SPF evaluation (RFC 7208) of one identity."""

    identity: str  # "mailfrom" or "helo"
    domain: str  # the domain that was checked ("" when there was none)
    sender: str  # the full identity checked (postmaster@helo for HELO)
    result: AuthResult
    explanation: str = ""


@dataclass(frozen=True)
class SpfResult:
    mailfrom: SpfCheck
    helo: SpfCheck | None

    @property
    def effective(self) -> SpfCheck:
        """The check DMARC uses: MAIL FROM, or HELO when MAIL FROM was null."""
        return self.mailfrom


@dataclass(frozen=True)
class DkimSignature:
    """One DKIM-Signature header and its verification (RFC 6376 / RFC 8463)."""

    domain: str  # d=
    selector: str  # s=
    algorithm: str  # a=
    result: AuthResult  # pass, fail, neutral (unparseable), temperror, permerror, policy
    reason: str  # human explanation, e.g. "body hash mismatch", "signature expired"
    b_prefix: str = ""  # first characters of b= for header.b
    identity: str = ""  # i=


@dataclass(frozen=True)
class DkimResult:
    signatures: tuple[DkimSignature, ...]

    @property
    def result(self) -> AuthResult:
        if not self.signatures:
            return AuthResult.NONE
        if any(s.result is AuthResult.PASS for s in self.signatures):
            return AuthResult.PASS
        return self.signatures[0].result

    def passing_domains(self) -> tuple[str, ...]:
        return tuple(s.domain for s in self.signatures if s.result is AuthResult.PASS)


@dataclass(frozen=True)
class ArcResult:
    """ARC chain validation (RFC 8617)."""

    result: AuthResult  # pass, fail, none
    reason: str
    instances: int  # highest i= seen
    sealers: tuple[str, ...]  # d= of each ARC-Seal, in instance order
    # authserv-id -> the dmarc= result the sealer recorded in its ARC-Authentication-Results
    sealer_dmarc: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DmarcResult:
    """DMARC evaluation per RFC 9989."""

    result: AuthResult  # pass, fail, none, temperror, permerror
    from_domain: str
    policy_domain: str  # where the record was found ("" when none)
    org_domain: str  # organizational domain found by the tree walk
    policy: str  # the policy that applies: none, quarantine, reject ("" if no record)
    requested_policy: str  # p= / sp= / np= as chosen, before t=y testing mode
    testing: bool  # t=y
    spf_aligned: bool
    dkim_aligned: bool
    reason: str
    queries: tuple[str, ...] = ()  # DNS names queried for _dmarc, in order
    override: str = ""  # local policy override (e.g. "arc trusted sealer lists.example.org")


@dataclass(frozen=True)
class FromAddress:
    """The RFC 5322.From identity as DMARC sees it."""

    display_name: str
    local_part: str
    domain: str  # lower-case, IDNA A-label form

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"


@dataclass(frozen=True)
class FromProblem:
    """Why no single usable From domain exists.

    No header, several headers, several addresses in different domains, or unparseable.
    """

    code: str  # "missing", "multiple_headers", "multiple_addresses", "unparseable", "no_domain"
    detail: str


@dataclass(frozen=True)
class Envelope:
    """What the SMTP session told us about a message."""

    client_ip: str = ""
    client_name: str = ""
    helo: str = ""
    mail_from: str = ""  # without angle brackets; "" for the null sender
    rcpts: tuple[str, ...] = ()
    queue_id: str = ""
    auth_user: str = ""  # {auth_authen}
    macros: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Finding:
    """A named observation with a weight, like an rspamd symbol."""

    name: str
    weight: float
    text: str  # one human sentence, ASCII-safe
    org: str = ""  # watched organization concerned, if any
    detail: tuple[tuple[str, str], ...] = field(default_factory=tuple)


class Level(StrEnum):
    CLEAN = "clean"
    SUSPECT = "suspect"
    SPOOF = "spoof"
    THREAT = "threat"


LEVEL_ORDER = {Level.CLEAN: 0, Level.SUSPECT: 1, Level.SPOOF: 2, Level.THREAT: 3}
