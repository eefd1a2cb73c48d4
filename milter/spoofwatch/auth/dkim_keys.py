"""DKIM key records (RFC 6376 3.6.1), fetched through our Lookup for DKIM and ARC alike.

:class:`KeyFetcher` is dkimpy's ``dnsfunc``: one lookup per key name per message, and
the reason there was no usable key (temperror, no key, revoked, too small, restricted)
kept for the caller's result. Signing domains (d=) are put in compared form by
``spoofwatch.domains``, so ``d=faß.de`` asks for ``<s>._domainkey.xn--fa-hia.de`` and
aligns with a From of ``faß.de`` written either way.
"""

from __future__ import annotations

import binascii
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from ..dns import DnsStatus, Lookup, canonical_dns_name
from ..domains import normalize_domain
from ..results import AuthResult
from ..textsafe import ascii_safe
from .dkimpy_support import MIN_KEY_BITS, lenient_tags, text_of, without_whitespace

__all__ = ["KeyFetcher", "Outcome", "domain_text", "exception_text", "key_query_name"]

_KEY_LABEL = "._domainkey."


def domain_text(raw: bytes) -> str:
    """A d= (or i= domain) value in compared form (``spoofwatch.domains``): lower-case,
    without a trailing dot, U-labels as IDNA 2008 A-labels. A value that is not a domain
    comes back lower-cased (non-ASCII, or failing ``is_dns_domain``)."""
    return normalize_domain(text_of(without_whitespace(raw)))


def key_query_name(selector: bytes, domain: bytes) -> str | None:
    """<selector>._domainkey.<domain> as a valid DNS name, or None."""
    try:
        sel = selector.decode("ascii")
    except UnicodeDecodeError:
        return None
    dom = domain_text(domain)
    if not dom.isascii():
        return None
    return canonical_dns_name(f"{sel}{_KEY_LABEL}{dom}")


@dataclass(frozen=True)
class Outcome:
    """A result word and the human reason for it."""

    result: AuthResult
    reason: str


@dataclass
class KeyFetcher:
    """dkimpy's ``dnsfunc``: fetches DKIM keys through our Lookup.

    dkimpy only learns "a key" or "no key"; why there was no usable key is kept
    in ``problems`` (by query name) so the caller can report temperror, "no key",
    "key revoked" and so on. ``algorithm`` (a=) lets key restrictions be checked.
    """

    lookup: Lookup
    algorithm: bytes = b""
    identity_domain: str | None = None  # i= domain, for t=s keys
    signing_domain: str = ""
    problems: MutableMapping[str, Outcome] = field(default_factory=dict)
    # One lookup per name: ARC asks for the same key for seal and signature, and a
    # name that timed out once should not spend the message's DNS budget twice.
    _seen: dict[str, tuple[bytes | None, Outcome | None]] = field(default_factory=dict)

    def __call__(self, name: bytes, timeout: float = 5.0) -> bytes | None:
        # `timeout` is dkimpy's; our Lookup has its own timeouts and budget.
        query = _ascii_name(name)
        if query is None:
            label = ascii_safe(text_of(name), 80)
            self.problems[label] = Outcome(AuthResult.PERMERROR, f"invalid key name {label}")
            return None
        if query not in self._seen:
            self._seen[query] = self._fetch(query)
        record, problem = self._seen[query]
        if problem is not None:
            self.problems[query] = problem
            return None
        return record

    def _fetch(self, query: str) -> tuple[bytes | None, Outcome | None]:
        answer = self.lookup.lookup(query, "TXT")
        if answer.status is DnsStatus.TEMPERROR:
            why = answer.error or "temporary DNS error"
            return None, Outcome(AuthResult.TEMPERROR, f"key lookup failed: {why}")
        if answer.status is not DnsStatus.OK or not answer.records:
            return None, Outcome(AuthResult.PERMERROR, "no key")
        records = answer.records
        if len(records) > 1:
            # RFC 6376 3.6.2.2: several records make the result undefined; we only
            # accept the case where exactly one of them looks like a key.
            keyish = [
                r for r in records if b"p" in lenient_tags(r.encode("utf-8", "surrogateescape"))
            ]
            if len(keyish) != 1:
                return None, Outcome(
                    AuthResult.PERMERROR, f"ambiguous key: {len(records)} TXT records"
                )
            records = (keyish[0],)
        raw = records[0].encode("utf-8", errors="surrogateescape")
        problem = self._check_key(query, raw)
        return (None, problem) if problem is not None else (raw, None)

    def _check_key(self, query: str, raw: bytes) -> Outcome | None:
        try:
            tags = parse_tag_value(raw)
        except InvalidTagValueList:
            return Outcome(AuthResult.PERMERROR, "malformed key record")
        if tags.get(b"v", b"DKIM1") != b"DKIM1":
            return Outcome(AuthResult.PERMERROR, "key record version is not DKIM1")
        if b"p" not in tags:
            return Outcome(AuthResult.PERMERROR, "key record has no p=")
        if not without_whitespace(tags[b"p"]):
            return Outcome(AuthResult.PERMERROR, "key revoked")
        kind = tags.get(b"k", b"rsa").lower()
        if kind not in (b"rsa", b"ed25519"):
            return Outcome(
                AuthResult.PERMERROR, f"unsupported key type k={ascii_safe(text_of(kind), 40)}"
            )
        if self.algorithm and not self.algorithm.startswith(kind + b"-"):
            return Outcome(
                AuthResult.PERMERROR,
                f"key type k={kind.decode()} does not match"
                f" a={ascii_safe(text_of(self.algorithm), 40)}",
            )
        problem = self._check_restrictions(tags)
        if problem is not None:
            return problem
        try:
            _, bits, _, _ = dkim.evaluate_pk(query.encode("ascii"), raw)
        except (dkim.DKIMException, binascii.Error, ValueError, TypeError, IndexError) as exc:
            return Outcome(AuthResult.PERMERROR, f"malformed key: {exception_text(exc)}")
        if kind == b"rsa" and bits is not None and bits < MIN_KEY_BITS:
            return Outcome(
                AuthResult.PERMERROR, f"key too small ({bits} bits, {MIN_KEY_BITS} required)"
            )
        return None

    def _check_restrictions(self, tags: dict[bytes, bytes]) -> Outcome | None:
        """The key's h=, s= and t=s restrictions (RFC 6376 3.6.1)."""
        if b"h" in tags and self.algorithm:
            allowed = {h.strip().lower() for h in tags[b"h"].split(b":")}
            digest = self.algorithm.rsplit(b"-", 1)[-1]
            if digest not in allowed:
                return Outcome(AuthResult.PERMERROR, "key does not allow this hash algorithm")
        if b"s" in tags:
            services = {s.strip().lower() for s in tags[b"s"].split(b":")}
            if not services & {b"*", b"email"}:
                return Outcome(AuthResult.PERMERROR, "key is not for email")
        flags = {f.strip().lower() for f in tags.get(b"t", b"").split(b":")}
        if b"s" in flags and self.identity_domain is not None:
            if self.identity_domain != self.signing_domain:
                return Outcome(AuthResult.PERMERROR, "key requires i= domain to equal d=")
        return None

    def first_problem(self) -> Outcome | None:
        return next(iter(self.problems.values()), None)


def _ascii_name(name: bytes) -> str | None:
    """A key name from dkimpy (``<s>._domainkey.<d>.``, d= may be a UTF-8 U-label domain)
    as a valid ASCII DNS name, the domain converted as every check converts it."""
    try:
        text = name.decode("utf-8")
    except UnicodeError:
        return None
    if not text.isascii():
        selector, sep, domain = text.partition(_KEY_LABEL)
        ascii_domain = normalize_domain(domain.removesuffix("."))
        if not sep or not selector.isascii() or not ascii_domain.isascii():
            return None
        text = f"{selector}{_KEY_LABEL}{ascii_domain}"
    return canonical_dns_name(text) if text else None


def exception_text(exc: BaseException) -> str:
    """An exception's message as short printable ASCII (dkimpy puts raw bytes in them)."""
    return ascii_safe(str(exc) or type(exc).__name__, 120)
