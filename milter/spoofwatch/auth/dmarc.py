"""DMARC evaluation per RFC 9989 (DMARCbis), not RFC 7489.

The Organizational Domain comes from the DNS Tree Walk (section 4.10), never
from a Public Suffix List.  The pieces, each usable on its own:

* `parse_record` reads one TXT string into a `DmarcRecord` (section 4.7/4.8).
* `walk_targets` / `tree_walk` perform the tree walk: the Author Domain, then at
  most seven shorter names, stopping at a record with psd=y or psd=n.
* `organizational_domain` applies the selection rules of section 4.10.2.
* `discover_policy` finds the record that applies (section 4.10.1): Author
  Domain, else Organizational Domain, else Public Suffix Domain.
* `is_aligned` / `check_alignment` compare two domains strictly or relaxed.
* `evaluate_dmarc` puts it together into a `DmarcResult`.

Every reading we had to choose between is written down in
docs/dmarc-conformance.md.  DNS failures are results (temperror), never
exceptions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from ..dns import DnsStatus, Lookup, normalize_name
from ..results import AuthResult, DkimResult, DmarcResult, SpfResult

log = logging.getLogger(__name__)

MAX_TREE_WALK_QUERIES = 8  # section 4.10: no tree walk makes more than eight queries
_SHORTENED_LABELS = 7  # step 4: a long name is cut down to seven labels after the first query
# Distinct passing DKIM signing domains whose alignment we examine.  Each may
# cost a tree walk of up to eight queries; an attacker can add signatures from
# domains it controls, so the work per message is bounded.  Skipping domains
# can only miss a pass, never invent one.
MAX_DKIM_DOMAINS = 10

POLICIES = ("none", "quarantine", "reject")
_ONE_LEVEL_LOWER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
_KNOWN_TAGS = frozenset({"v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "rua", "ruf", "fo"})
_TAG_NAME = re.compile(r"[A-Za-z]+\Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s,!]+\Z")
_REPORT_SIZE = re.compile(r"!\d+[kmgt]?\Z", re.IGNORECASE)
_WSP = " \t"


# ====================================================================== records


@dataclass(frozen=True)
class DmarcRecord:
    """One DMARC Policy Record as retrieved (section 4.7).

    A policy tag (p, sp, np) is None when absent or invalid; `invalid_tags`
    says which tags were present but unusable (bad value, empty, repeated).
    The other tags fall back to their defaults when invalid (section 4.8).
    """

    raw: str
    p: str | None = None
    sp: str | None = None
    np: str | None = None
    adkim: str = "r"
    aspf: str = "r"
    psd: str = "u"
    testing: bool = False  # t=y
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    fo: str = "0"
    invalid_tags: tuple[str, ...] = ()
    unknown_tags: tuple[str, ...] = ()

    @property
    def policy_tags_valid(self) -> bool:
        """A valid p= and no invalid sp= or np= (the condition of section 4.10.1)."""
        return (self.p is not None
                and "sp" not in self.invalid_tags and "np" not in self.invalid_tags)

    @property
    def has_valid_rua(self) -> bool:
        return any(_valid_report_uri(uri) for uri in self.rua)

    def applicable(self) -> DmarcRecord | None:
        """The record as section 4.10.1 says to apply it, or None for "no DMARC processing".

        Without a valid p= (or with an invalid sp=/np=) the record counts as
        p=none when rua= holds a syntactically valid URI, and not at all otherwise.
        """
        if self.policy_tags_valid:
            return self
        if self.has_valid_rua:
            return replace(self, p="none", sp=None, np=None)
        return None


def parse_record(txt: str) -> DmarcRecord | None:
    """Parse one TXT string; None unless it starts with the tag v=DMARC1.

    Unknown tags are ignored; an invalid or repeated known tag is listed in
    `invalid_tags` and takes its default (policy tags stay None).
    """
    parts = txt.strip(_WSP + "\r\n").split(";")
    if _version(parts[0]) != "DMARC1":
        return None
    seen: dict[str, list[str]] = {}
    unknown: list[str] = []
    for part in parts[1:]:
        name, value = _split_tag(part)
        if name is None:
            continue  # empty part (";;" or a trailing ";") or not a tag at all
        if name in _KNOWN_TAGS:
            seen.setdefault(name, []).append(value)
        else:
            unknown.append(name)
    # v must come first and only once; any repeated tag is ambiguous, so unusable.
    invalid = [name for name, found in seen.items() if name == "v" or len(found) > 1]
    values = {name: found[0] for name, found in seen.items() if name not in invalid}
    fields = _interpret(values, invalid)
    return DmarcRecord(
        raw=txt,
        invalid_tags=tuple(dict.fromkeys(invalid)),
        unknown_tags=tuple(dict.fromkeys(unknown)),
        **fields,  # type: ignore[arg-type]
    )


def _version(first: str) -> str | None:
    name, value = _split_tag(first)
    # The tag name is case-insensitive like every ABNF literal; "DMARC1" is %s"" (case-sensitive).
    return value if name == "v" else None


def _split_tag(part: str) -> tuple[str | None, str]:
    name, sep, value = part.partition("=")
    name = name.strip(_WSP + "\r\n")
    if not sep or not _TAG_NAME.match(name):
        return None, ""
    return name.lower(), value.strip(_WSP + "\r\n")


def _printable(value: str) -> bool:
    return bool(value) and all(0x20 <= ord(ch) <= 0x7E for ch in value)


def _interpret(values: dict[str, str], invalid: list[str]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for name, value in values.items():
        parsed = _parse_value(name, value) if _printable(value) else None
        if parsed is None:
            invalid.append(name)
        else:
            fields[_FIELD_NAMES.get(name, name)] = parsed
    return fields


_FIELD_NAMES = {"t": "testing"}


def _parse_value(name: str, value: str) -> object | None:
    word = value.lower()  # ABNF literals such as "reject" are case-insensitive
    if name in ("p", "sp", "np"):
        return word if word in POLICIES else None
    if name in ("adkim", "aspf"):
        return word if word in ("r", "s") else None
    if name == "psd":
        return word if word in ("y", "n", "u") else None
    if name == "t":
        return {"y": True, "n": False}.get(word)
    if name in ("rua", "ruf"):
        uris = tuple(uri.strip(_WSP) for uri in value.split(","))
        return uris if any(_valid_report_uri(uri) for uri in uris) else None
    if name == "fo":
        return word if _valid_fo(word) else None
    return None


def _valid_report_uri(uri: str) -> bool:
    # RFC 3986 URI, optionally followed by the obsolete "!size" suffix.
    return bool(_URI.match(_REPORT_SIZE.sub("", uri)))


def _valid_fo(value: str) -> bool:
    options = value.split(":")
    return (
        all(option in ("0", "1", "d", "s") for option in options)
        and len(set(options)) == len(options)
        and not {"0", "1"} <= set(options)
    )


# ==================================================================== tree walk


@dataclass(frozen=True)
class WalkStep:
    """One _dmarc query of a tree walk."""

    domain: str  # the domain the record would be for (without "_dmarc.")
    status: DnsStatus
    record: DmarcRecord | None  # the one DMARC record found there, else None
    note: str = ""  # why nothing usable was found, or the DNS error

    @property
    def query(self) -> str:
        return f"_dmarc.{self.domain}"


@dataclass(frozen=True)
class TreeWalk:
    """A DNS Tree Walk (section 4.10) from `start`, in query order."""

    start: str
    steps: tuple[WalkStep, ...]
    temperror: bool = False

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(step.query for step in self.steps)

    @property
    def found(self) -> tuple[WalkStep, ...]:
        """Steps that retrieved a DMARC record, longest name first."""
        return tuple(step for step in self.steps if step.record is not None)

    @property
    def error(self) -> str:
        failed = [step for step in self.steps if step.status is DnsStatus.TEMPERROR]
        return f"{failed[0].query}: {failed[0].note}" if failed else ""

    @property
    def organizational_domain(self) -> str:
        """Section 4.10.2 selection; "" when a DNS error left it undetermined."""
        if self.temperror:
            return ""
        return select_organizational_domain(self.start, self.found)


def walk_targets(domain: str) -> tuple[str, ...]:
    """The domains a full tree walk from `domain` queries, in order (at most eight).

    The domain itself, then (step 4) a name cut down to seven labels when it
    has eight or more, else its parent, then one label less each time.
    """
    labels = domain.split(".")
    targets = [domain]
    remaining = labels[max(1, len(labels) - _SHORTENED_LABELS):]
    while remaining:
        targets.append(".".join(remaining))
        remaining = remaining[1:]
    return tuple(targets)


def select_organizational_domain(start: str, found: Iterable[WalkStep]) -> str:
    """Section 4.10.2: pick the Organizational Domain from the records a walk found.

    Records are looked at from the longest name to the shortest: psd=n makes
    its domain the answer; psd=y (not at the start) makes the domain one label
    below it the answer; otherwise the record with the fewest labels wins.
    With no record at all the start domain is its own Organizational Domain.
    """
    steps = [step for step in found if step.record is not None]
    for step in steps:
        psd = step.record.psd if step.record else "u"
        if psd == "n":
            return step.domain
        if psd == "y" and step.domain != start:
            return _one_label_below(start, step.domain)
    if steps:
        return min(steps, key=lambda step: step.domain.count(".")).domain
    return start


def _one_label_below(start: str, ancestor: str) -> str:
    depth = ancestor.count(".") + 2
    return ".".join(start.split(".")[-depth:])


class _DmarcQueries:
    """The _dmarc lookups of one evaluation, each name asked once.

    Several tree walks of one message overlap (Author Domain, MAIL FROM
    domain, DKIM domains); remembering the steps keeps the queries to the
    distinct names, in the order first asked.
    """

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._steps: dict[str, WalkStep] = {}
        self._walks: dict[str, TreeWalk] = {}
        self.queries: list[str] = []

    def step(self, domain: str) -> WalkStep:
        if domain not in self._steps:
            self.queries.append(f"_dmarc.{domain}")
            self._steps[domain] = _query_step(self.lookup, domain)
        return self._steps[domain]

    def walked(self, start: str) -> TreeWalk | None:
        """The walk from `start` if one was made, without querying."""
        return self._walks.get(start)

    def walk(self, start: str) -> TreeWalk:
        if start not in self._walks:
            steps: list[WalkStep] = []
            temperror = False
            for target in walk_targets(start):
                step = self.step(target)
                steps.append(step)
                if step.status is DnsStatus.TEMPERROR:
                    temperror = True  # the rest cannot be trusted to say anything
                    break
                if step.record is not None and step.record.psd in ("y", "n"):
                    break
            self._walks[start] = TreeWalk(start, tuple(steps), temperror)
        return self._walks[start]


def _query_step(lookup: Lookup, domain: str) -> WalkStep:
    answer = lookup.lookup(f"_dmarc.{domain}", "TXT")
    if answer.status is DnsStatus.TEMPERROR:
        return WalkStep(domain, answer.status, None, answer.error or "temporary DNS error")
    if answer.status is not DnsStatus.OK:
        return WalkStep(domain, answer.status, None)
    records = [record for record in map(parse_record, answer.records) if record is not None]
    if len(records) > 1:
        return WalkStep(domain, answer.status, None,
                        f"{len(records)} DMARC records published, all discarded")
    return WalkStep(domain, answer.status, records[0] if records else None)


def tree_walk(domain: str, lookup: Lookup) -> TreeWalk:
    """Perform the DNS Tree Walk of section 4.10 from `domain` (at most eight queries)."""
    name = _normalize(domain)
    if name is None:
        return TreeWalk(domain, ())
    return _DmarcQueries(lookup).walk(name)


def organizational_domain(domain: str, lookup: Lookup) -> str:
    """The Organizational Domain of `domain` by tree walk; "" on a DNS error or a bad name."""
    return tree_walk(domain, lookup).organizational_domain if _normalize(domain) else ""


# ============================================================= policy discovery


class PolicySource(StrEnum):
    AUTHOR = "author"  # the Author Domain's own record: p=
    ORGANIZATIONAL = "organizational"  # the Organizational Domain's record: sp= / np=
    PUBLIC_SUFFIX = "psd"  # a Public Suffix Domain's record (psd=y): sp= / np=
    NONE = ""


@dataclass(frozen=True)
class PolicyDiscovery:
    """Which DMARC record applies to an Author Domain (section 4.10.1)."""

    author_domain: str
    record: DmarcRecord | None  # as retrieved; None when there is none (or temperror)
    policy_domain: str  # where it was found; "" when none
    source: PolicySource
    org_domain: str  # "" when not (yet) needed: the Author Domain had its own psd=u record
    queries: tuple[str, ...]  # _dmarc names asked, in order
    temperror: bool = False
    error: str = ""  # the failing query and the DNS error


def discover_policy(from_domain: str, lookup: Lookup) -> PolicyDiscovery:
    """Find the DMARC record for an Author Domain.

    Its own record, else its Organizational Domain's, else its Public Suffix Domain's.
    """
    author = _normalize(from_domain)
    if author is None:
        return PolicyDiscovery(from_domain, None, "", PolicySource.NONE, "", ())
    return _discover(_DmarcQueries(lookup), author)


def _discover(queries: _DmarcQueries, author: str) -> PolicyDiscovery:
    first = queries.step(author)
    if first.status is DnsStatus.TEMPERROR:
        return _discovery_error(queries, author, f"{first.query}: {first.note}")
    if first.record is not None:
        # Its own record applies; it is also the Organizational Domain when it says psd=y/n.
        org = author if first.record.psd in ("y", "n") else ""
        return PolicyDiscovery(author, first.record, author, PolicySource.AUTHOR, org,
                               tuple(queries.queries))
    walk = queries.walk(author)
    if walk.temperror:
        return _discovery_error(queries, author, walk.error)
    org = walk.organizational_domain
    by_domain = {step.domain: step for step in walk.found}
    if org in by_domain:
        chosen, source = by_domain[org], PolicySource.ORGANIZATIONAL
    else:
        psd_steps = [step for step in walk.found if step.record and step.record.psd == "y"]
        if not psd_steps:
            return PolicyDiscovery(author, None, "", PolicySource.NONE, org, tuple(queries.queries))
        chosen, source = psd_steps[0], PolicySource.PUBLIC_SUFFIX
    return PolicyDiscovery(author, chosen.record, chosen.domain, source, org,
                           tuple(queries.queries))


def _discovery_error(queries: _DmarcQueries, author: str, error: str) -> PolicyDiscovery:
    return PolicyDiscovery(author, None, "", PolicySource.NONE, "", tuple(queries.queries),
                           temperror=True, error=error)


# ==================================================================== alignment


class Alignment(StrEnum):
    ALIGNED = "aligned"
    NOT_ALIGNED = "not aligned"
    TEMPERROR = "temperror"  # a tree walk needed for relaxed alignment failed


def check_alignment(a: str, b: str, mode: str, lookup: Lookup) -> Alignment:
    """Identifier Alignment of two domains: "s" identical, "r" same Organizational Domain."""
    return _alignment(_DmarcQueries(lookup), a, b, mode, {})


def is_aligned(a: str, b: str, mode: str, lookup: Lookup) -> bool:
    """True when aligned; a DNS failure during the tree walks counts as not aligned."""
    return check_alignment(a, b, mode, lookup) is Alignment.ALIGNED


def _alignment(queries: _DmarcQueries, a: str, b: str, mode: str,
               known_orgs: dict[str, str]) -> Alignment:
    first, second = _normalize(a), _normalize(b)
    if first is None or second is None:
        return Alignment.NOT_ALIGNED
    if first == second:
        return Alignment.ALIGNED
    if mode == "s":
        return Alignment.NOT_ALIGNED
    # An Organizational Domain is always the domain itself or one of its
    # ancestors, so names without a common last label can never share one.
    if first.rsplit(".", 1)[-1] != second.rsplit(".", 1)[-1]:
        return Alignment.NOT_ALIGNED
    orgs = [known_orgs.get(name) or queries.walk(name).organizational_domain
            for name in (first, second)]
    if "" in orgs:
        return Alignment.TEMPERROR
    return Alignment.ALIGNED if orgs[0] == orgs[1] else Alignment.NOT_ALIGNED


# =================================================================== evaluation


def evaluate_dmarc(from_domain: str, spf: SpfResult, dkim: DkimResult,
                   lookup: Lookup) -> DmarcResult:
    """DMARC for one message: policy discovery, alignment of SPF and DKIM, the policy that applies.

    SPF counts through `spf.mailfrom` only: the MAIL FROM identity, which for
    a null reverse-path is postmaster@HELO (RFC 7208 2.4, RFC 9989 3.2.4).
    The HELO identity check (`spf.helo`) never counts on its own.
    """
    author = _normalize(from_domain)
    if author is None:
        return _result(AuthResult.PERMERROR, from_domain,
                       f"the From domain {from_domain!r} is not a valid domain name")
    queries = _DmarcQueries(lookup)
    discovery = _discover(queries, author)
    if discovery.temperror:
        return _result(AuthResult.TEMPERROR, author,
                       f"DMARC policy discovery failed: {discovery.error}", queries)
    if discovery.record is None:
        return _result(AuthResult.NONE, author,
                       f"no DMARC policy record for {author} or its organizational domain",
                       queries, org_domain=discovery.org_domain)
    record = discovery.record.applicable()
    if record is None:
        return _result(AuthResult.PERMERROR, author,
                       f"the DMARC record at _dmarc.{discovery.policy_domain} has no valid p= "
                       "(or an invalid sp=/np=) and no valid rua=, so DMARC does not apply",
                       queries, policy_domain=discovery.policy_domain,
                       org_domain=discovery.org_domain)
    return _evaluate_with_policy(queries, discovery, record, spf, dkim)


def _evaluate_with_policy(queries: _DmarcQueries, discovery: PolicyDiscovery,
                          record: DmarcRecord, spf: SpfResult, dkim: DkimResult) -> DmarcResult:
    author = discovery.author_domain
    known_orgs = {author: discovery.org_domain} if discovery.org_domain else {}
    spf_state, spf_note = _spf_state(queries, author, spf, record.aspf, known_orgs)
    dkim_state, dkim_note = _dkim_state(queries, author, dkim, record.adkim, known_orgs)
    states = (spf_state, dkim_state)
    if Alignment.ALIGNED in states:
        verdict = AuthResult.PASS
    elif Alignment.TEMPERROR in states:
        verdict = AuthResult.TEMPERROR
    else:
        verdict = AuthResult.FAIL
    requested, policy_note = _requested_policy(queries, discovery, record, verdict)
    if requested is None:  # existence of the Author Domain unknown and it matters
        verdict, requested = AuthResult.TEMPERROR, ""
    applied = _ONE_LEVEL_LOWER[requested] if record.testing and requested else requested
    org = discovery.org_domain or _org_if_walked(queries, author)
    reason = _reason(verdict, discovery, spf_note, dkim_note, policy_note, record, requested,
                     applied)
    return DmarcResult(
        result=verdict,
        from_domain=author,
        policy_domain=discovery.policy_domain,
        org_domain=org,
        policy=applied,
        requested_policy=requested,
        testing=record.testing,
        spf_aligned=spf_state is Alignment.ALIGNED,
        dkim_aligned=dkim_state is Alignment.ALIGNED,
        reason=reason,
        queries=tuple(queries.queries),
    )


def _spf_state(queries: _DmarcQueries, author: str, spf: SpfResult, mode: str,
               known_orgs: dict[str, str]) -> tuple[Alignment, str]:
    check = spf.mailfrom
    if not check.domain:
        return Alignment.NOT_ALIGNED, "SPF: no MAIL FROM domain"
    # The SPF module marks a null reverse-path's postmaster@HELO check with identity "helo".
    what = f"SPF {check.result.value} for {check.domain}"
    if check.identity == "helo":
        what += " (null MAIL FROM, so postmaster@HELO)"
    if check.result not in (AuthResult.PASS, AuthResult.TEMPERROR):
        return Alignment.NOT_ALIGNED, what
    alignment = _alignment(queries, author, check.domain, mode, known_orgs)
    return _identifier_state(what, check.result, alignment, mode)


def _dkim_state(queries: _DmarcQueries, author: str, dkim: DkimResult, mode: str,
                known_orgs: dict[str, str]) -> tuple[Alignment, str]:
    candidates = _dkim_candidates(dkim)
    if not candidates:
        return Alignment.NOT_ALIGNED, ("DKIM: no signature" if not dkim.signatures
                                       else "DKIM: no passing signature")
    notes: list[str] = []
    unknown = False
    for domain, result in candidates:
        alignment = _alignment(queries, author, domain, mode, known_orgs)
        state, note = _identifier_state(f"DKIM {result.value} for d={domain}", result,
                                        alignment, mode)
        if state is Alignment.ALIGNED:
            return state, note
        unknown = unknown or state is Alignment.TEMPERROR
        notes.append(note)
    return (Alignment.TEMPERROR if unknown else Alignment.NOT_ALIGNED), "; ".join(notes)


def _dkim_candidates(dkim: DkimResult) -> list[tuple[str, AuthResult]]:
    """Distinct signing domains that passed (or could have, on a DNS error), passes first."""
    best: dict[str, AuthResult] = {}
    for signature in dkim.signatures:
        domain = _normalize(signature.domain)
        if domain is None or signature.result not in (AuthResult.PASS, AuthResult.TEMPERROR):
            continue
        if best.get(domain) is not AuthResult.PASS:
            best[domain] = signature.result
    ordered = sorted(best.items(), key=lambda item: item[1] is not AuthResult.PASS)
    if len(ordered) > MAX_DKIM_DOMAINS:
        log.info("DMARC: only the first %d of %d DKIM signing domains are examined",
                 MAX_DKIM_DOMAINS, len(ordered))
    return ordered[:MAX_DKIM_DOMAINS]


def _identifier_state(what: str, result: AuthResult, alignment: Alignment,
                      mode: str) -> tuple[Alignment, str]:
    words = "strict" if mode == "s" else "relaxed"
    if alignment is Alignment.TEMPERROR:
        return Alignment.TEMPERROR, f"{what}, alignment unknown (DNS error in the tree walk)"
    if alignment is Alignment.NOT_ALIGNED:
        return Alignment.NOT_ALIGNED, f"{what}, not aligned ({words})"
    if result is AuthResult.PASS:
        return Alignment.ALIGNED, f"{what}, aligned ({words})"
    # Aligned, but whether it passed is unknown: DMARC can neither pass nor fail on it.
    return Alignment.TEMPERROR, f"{what}, aligned ({words}) but the check itself failed"


def _requested_policy(queries: _DmarcQueries, discovery: PolicyDiscovery, record: DmarcRecord,
                      verdict: AuthResult) -> tuple[str | None, str]:
    """p= for the Author Domain's own record, else sp= (existing) or np= (non-existent)."""
    own_policy = record.p or "none"  # applicable() guarantees p; "none" only satisfies typing
    if discovery.source is PolicySource.AUTHOR:
        return own_policy, "p="
    subdomain_policy = record.sp or own_policy
    if record.np is None or record.np == subdomain_policy:
        return subdomain_policy, "sp=" if record.sp else "p= (no sp=)"
    exists = _author_exists(queries, discovery.author_domain)
    if exists is None:
        if verdict is AuthResult.PASS:  # the policy is moot for a pass
            return subdomain_policy, "sp= (existence of the domain unknown)"
        return None, "existence of the domain unknown (DNS error)"
    if exists:
        return subdomain_policy, "sp=" if record.sp else "p= (no sp=)"
    return record.np, "np= (the domain does not exist)"


def _author_exists(queries: _DmarcQueries, author: str) -> bool | None:
    """Section 3.2.13 / A.4: a name exists unless a query for it answers NXDOMAIN.

    NXDOMAIN is about the name, not the type (RFC 8020), so one query is
    enough; NODATA means the name exists.  None on a DNS error.
    """
    answer = queries.lookup.lookup(author, "A")
    if answer.status is DnsStatus.TEMPERROR:
        return None
    return answer.status is not DnsStatus.NXDOMAIN


def _org_if_walked(queries: _DmarcQueries, author: str) -> str:
    walk = queries.walked(author)
    return walk.organizational_domain if walk else ""


def _reason(verdict: AuthResult, discovery: PolicyDiscovery, spf_note: str, dkim_note: str,
            policy_note: str, record: DmarcRecord, requested: str, applied: str) -> str:
    where = f"record at _dmarc.{discovery.policy_domain} ({discovery.source.value} domain)"
    if verdict is AuthResult.PASS:
        head = f"DMARC pass: {spf_note}; {dkim_note}"
    elif verdict is AuthResult.TEMPERROR:
        head = f"DMARC temperror: {spf_note}; {dkim_note}"
    else:
        head = f"DMARC fail: {spf_note}; {dkim_note}"
    tail = f"{where}, policy from {policy_note}"
    if requested:
        tail += f" = {requested}"
    if record.testing and requested and applied != requested:
        tail += f", applied as {applied} because of t=y"
    elif record.testing:
        tail += ", t=y"
    if discovery.record is not None and discovery.record is not record:
        tail += " (invalid policy tags, treated as p=none because rua= is valid)"
    return f"{head}. {tail}."


def _result(result: AuthResult, from_domain: str, reason: str,
            queries: _DmarcQueries | None = None, policy_domain: str = "",
            org_domain: str = "") -> DmarcResult:
    return DmarcResult(
        result=result,
        from_domain=from_domain,
        policy_domain=policy_domain,
        org_domain=org_domain,
        policy="",
        requested_policy="",
        testing=False,
        spf_aligned=False,
        dkim_aligned=False,
        reason=reason,
        queries=tuple(queries.queries) if queries else (),
    )


def _normalize(domain: str) -> str | None:
    return normalize_name(domain.strip()) if domain else None
