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

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ..addresses import domain_of, parse_address_header
from ..dns import nxdomain_trusted
from ..domains import is_subdomain_or_self, normalize_domain
from ..message import Message
from ..results import AuthResult, DkimResult, DmarcResult, Envelope, Finding, FromAddress
from ..text import fold_key, reading
from ..textsafe import ascii_safe
from .lookalike import LookalikeMatch, LookalikeMatcher
from .posture import mail_posture
from .watchlist import Organization, Watchlist

Weight = Callable[[str], float]

# Words are runs of Latin letters, digits and "|" (which reads as l) once look-alike letters
# are read as Latin; other characters separate them.
_WORD_SPLIT = re.compile(r"[^a-z0-9|]+")
# Relay shapes of mailing lists and ticket systems: "Alice via DemList" (Mailman, Google
# Groups), "Assistant on behalf of Alice" (Exchange). Only the author's side is judged:
# the left of "via", the right of "on behalf of". The list's own name is not a claim.
# Each starts only where a whitespace run starts: a bare "\s+via" is tried from every
# position of a long run of spaces and rescans the run each time (quadratic).
_VIA = re.compile(r"(?<!\s)\s+via\s+", re.I)
_ON_BEHALF = re.compile(r"(?<!\s)\s+on\s+behalf\s+of\s+", re.I)
# Words an impersonator adds around a name to look official ("DNC Official Notice",
# "Team Trump HQ 2026"). A short alias (DNC, GOP, CISA) matches only alone or with these,
# so a person or a group whose longer name merely contains it (Cisa Johnson, Alaska GOP,
# House Democrats) is not taken for the organization.
_FILLER_TEXT = """
    the of for and from a an official officials notice notices notification alert alerts
    team hq headquarters office staff admin administrator support help helpdesk desk center
    centre service services news newsletter update updates info information mail email
    mailer noreply no reply donotreply security secure department dept national committee
    election elections vote voting voter voters campaign us usa america american inc org
"""
_MISSPELT_MIN = 8  # letters (spaces and punctuation removed) before one edit counts
_MISSPELT_TWO = 16  # letters before two edits count
# Domains written in a display name are found in runs of word characters, '-' and '.'.
# Single-class runs scan in linear time; the obvious r"[\w-]+(?:\.[\w-]+)+" was tried
# from every position of a long run of letters and rescanned it each time (30 KB of
# letters cost seconds), and its repeated group keeps a backtracking record per label.
_DOMAIN_RUN = re.compile(r"[\w.-]+")
_DOT_RUN = re.compile(r"\.{2,}")


def name_words(text: str) -> tuple[str, ...]:
    """The words of a name as a reader sees them: case, punctuation, spacing, accents,
    zero-width characters and look-alike letters of other scripts folded away.

    Each word is the text layer's comparison key (the one look-alike domains use), except
    that a number ("2026") stays a number: 0 and 1 read as letters only in words."""
    words: list[str] = []
    for token in _WORD_SPLIT.split(reading(text)):
        if token.isdigit():
            words.append(token)
        elif token:
            words += [w for w in _WORD_SPLIT.split(fold_key(token)) if w]
    return tuple(words)


# Cached: the watchlist's aliases are folded again for every message otherwise (about
# half of detection time in the benchmark); the function is pure.
@functools.lru_cache(maxsize=4096)
def normalize_name(text: str) -> str:
    """``name_words`` joined by single spaces."""
    return " ".join(name_words(text))


def author_part(display_name: str) -> str:
    """The part of a relayed display name that names the author (see ``_VIA``)."""
    parts = _ON_BEHALF.split(display_name, maxsplit=1)
    if len(parts) == 2:
        return parts[1]
    return _VIA.split(display_name, maxsplit=1)[0]


@dataclass(frozen=True)
class NameMatch:
    org: Organization
    alias: str
    how: str  # "exact", "phrase", "misspelt", "address"


def domain_tokens(text: str) -> list[str]:
    """Dotted names in ``text``: labels of word characters and '-' joined by single dots
    ("democrats.org", "x@vote.gov" gives "vote.gov"), in order."""
    tokens: list[str] = []
    for run in _DOMAIN_RUN.findall(text):
        for piece in _DOT_RUN.split(run):  # ".." ends a name, as it ends a DNS name
            piece = piece.strip(".")
            if "." in piece:
                tokens.append(piece)
    return tokens


def _address_match(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    """A watched domain (or an address in it) written in the display name."""
    for token in dict.fromkeys(domain_tokens(display_name.lower())):
        domain = normalize_domain(token)
        owner = watchlist.owner_of(domain)
        if owner is not None:
            return NameMatch(owner[0], owner[1].domain, "address")
    return None


# compared after folding, like the names ("official" has the key "offlclal")
FILLER_WORDS = frozenset(name_words(_FILLER_TEXT))


@dataclass(frozen=True)
class _Name:
    """A display name's words, prepared once for comparison with every alias."""

    words: tuple[str, ...]
    compact: str  # the words joined
    core: str  # the words that are neither filler nor numbers, joined
    # unfilled[i]: how many of words[:i] are neither filler nor numbers. Whether the words
    # outside a span are all filler is then one subtraction, not a pass over the name
    # (which made a name repeating an alias quadratic).
    unfilled: tuple[int, ...]

    @classmethod
    def of(cls, words: tuple[str, ...]) -> _Name:
        counts = [0]
        core: list[str] = []
        for word in words:
            plain = not (word in FILLER_WORDS or word.isdigit())
            counts.append(counts[-1] + plain)
            if plain:
                core.append(word)
        return cls(words, "".join(words), "".join(core), tuple(counts))

    def only_filler_outside(self, start: int, end: int) -> bool:
        return self.unfilled[-1] - (self.unfilled[end] - self.unfilled[start]) == 0


def _contains(name: _Name, want: str) -> list[tuple[int, int]]:
    """Spans of the name's words whose letters spell ``want`` (spacing inside words ignored)."""
    if want not in name.compact:  # one C-speed scan rules out almost every name
        return []
    words = name.words
    spans = []
    for start in range(len(words)):
        if not want.startswith(words[start]):
            continue
        joined = ""
        for end in range(start, len(words)):
            joined += words[end]
            if joined == want:
                spans.append((start, end + 1))
            if len(joined) >= len(want):
                break
    return spans


def _match_alias(name: _Name, alias: str, primary: bool, fuzzy: bool) -> str | None:
    target = name_words(alias)
    if not target:
        return None
    want = "".join(target)
    if name.compact == want:
        return "exact"
    if fuzzy:
        return _misspelt(name, want)
    for start, end in _contains(name, want):
        if name.only_filler_outside(start, end):
            return "phrase"
        # The organization's full name is distinctive enough inside a short longer name
        # ("Proud Boys Florida"); its aliases are not ("House Democrats").
        if primary and len(target) >= 2 and len(name.words) - (end - start) <= 3:
            return "phrase"
    return None


def _misspelt(name: _Name, want: str) -> str | None:
    """One edit from an alias of 8+ letters, two from one of 16+ ("Demokrats"), alone or
    with filler words."""
    allowed = 2 if len(want) >= _MISSPELT_TWO else 1 if len(want) >= _MISSPELT_MIN else 0
    for candidate in dict.fromkeys((name.compact, name.core)):
        # Texts whose lengths differ by more than the allowance are never that close.
        if allowed and abs(len(candidate) - len(want)) <= allowed and Levenshtein.distance(
                candidate, want, score_cutoff=allowed) <= allowed:
            return "misspelt"
    return None


def match_display_name(display_name: str, watchlist: Watchlist) -> NameMatch | None:
    """The watched organization a display name presents the message as coming from."""
    if not display_name.strip():
        return None
    author = author_part(display_name)
    found = _address_match(author, watchlist)
    if found is not None:
        return found
    words = name_words(author)
    if not words:
        return None
    name = _Name.of(words)
    for fuzzy in (False, True):  # an exact or phrase match anywhere wins over a misspelling
        for org in watchlist.organizations:
            for alias in org.names():
                how = _match_alias(name, alias, alias == org.name, fuzzy)
                if how is not None:
                    return NameMatch(org, alias, how)
    return None


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


def _owned_by(org: Organization, domain: str) -> bool:
    return any(is_subdomain_or_self(domain, i.domain) for i in org.domains)


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


def _quoted(text: str, limit: int) -> str:
    return '"' + ascii_safe(text, limit).replace('"', "'") + '"'


def display_name_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    match = match_display_name(inp.sender.display_name, inp.watchlist)
    if match is None:
        return []
    org, domain = match.org, inp.sender.domain
    # The organization's own address, a legitimate neighbour (a state party named "Florida
    # Democratic Party"), or mail signed by the organization or its sending service.
    if (_owned_by(org, domain) or inp.watchlist.is_distinct(domain, org)
            or signed_by(org, inp.dkim, inp.watchlist)):
        return []
    text = (f"The sender's name {_quoted(inp.sender.display_name, 60)} presents the "
            f"message as coming from {ascii_safe(org.name, 80)}, but the address "
            f"{ascii_safe(inp.sender.address, 80)} is not theirs.")
    return [Finding("display_name_impersonation", weight("display_name_impersonation"), text,
                    org=org.name, detail=(("match", match.how), ("alias", match.alias)))]


# Reply-To domains compared with the watched domains (a lookalike check costs about
# 0.1 ms; a hostile Reply-To can list thousands). No real message has this many: more
# are reported as unreadable_structure. The diversion check costs a few comparisons per
# domain and looks at all of them.
REPLY_TO_LOOKALIKE_LIMIT = 20


def _reply_to_domains(message: Message) -> list[str]:
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


def _limit_finding(weight: Weight, limit: str, text: str, examined: int,
                   found: int) -> Finding:
    return Finding("unreadable_structure", weight("unreadable_structure"), text,
                   detail=(("limit", limit), ("examined", str(examined)),
                           ("found", str(found))))


def lookalike_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    if inp.matcher is None:
        return []
    reply_to = _reply_to_domains(inp.message)
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
        text = (f"The {where} domain {ascii_safe(match.unicode or match.domain, 80)} imitates "
                f"{match.target} of {ascii_safe(match.org, 80)} ({match.kind.replace('_', ' ')}).")
        findings.append(Finding("lookalike_domain", weight("lookalike_domain"), text,
                                org=match.org, detail=(("where", where), ("domain", domain),
                                                       ("target", match.target),
                                                       ("kind", match.kind))))
    if len(reply_to) > REPLY_TO_LOOKALIKE_LIMIT:
        findings.append(_limit_finding(
            weight, "reply_to_lookalike_domains",
            f"The Reply-To header names {len(reply_to)} domains; only the first "
            f"{REPLY_TO_LOOKALIKE_LIMIT} were checked for lookalike domains.",
            REPLY_TO_LOOKALIKE_LIMIT, len(reply_to)))
    return findings


def reply_to_findings(inp: ImpersonationInput, weight: Weight) -> list[Finding]:
    """Mail presenting itself as from a watched organization (its From domain or its name)
    whose replies would go to a domain that is neither the organization's nor the From
    domain itself (a display-name impersonation from gmail.com replying to gmail.com is
    already counted as such)."""
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
    for domain in _reply_to_domains(inp.message):
        if _owned_by(org, domain) or domain == inp.sender.domain:
            continue
        if any(is_subdomain_or_self(domain, d) for d in own):
            continue
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
    if inp.dkim is not None and inp.sender.domain in inp.dkim.passing_domains():
        return []  # it signs its own mail, so it does send mail (whatever its MX says)
    posture = mail_posture(inp.sender.domain, lookup)  # type: ignore[arg-type]
    if not posture.reason:
        return []
    if not nxdomain_trusted(lookup):
        return []  # the name servers deny zones that exist: their "no" proves nothing
    return [Finding("non_mail_domain", weight("non_mail_domain"),
                    f"The From domain cannot send mail: {ascii_safe(posture.reason, 160)}.")]
