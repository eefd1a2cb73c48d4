"""SPF (RFC 7208) evaluation of the MAIL FROM and HELO identities.

The record logic is pyspf's; every DNS query it makes is answered by the
caller's `Lookup` (normally a per-message `BudgetedLookup`), so SPF shares the
resolver cache and the message's time budget, and concurrent checks never
touch pyspf's module-level DNS function.

Decisions worth knowing:

* Null MAIL FROM ("" or "<>"): RFC 7208 section 2.4 checks postmaster@HELO
  instead.  That check is put in `SpfResult.mailfrom` with identity "helo"
  (so DMARC and the header writer can tell), and `SpfResult.helo` holds the
  very same check rather than a second, identical evaluation.
* HELO that is not a multi-label domain name (an address literal such as
  "[192.0.2.1]", a bare IP address, a bare word such as "localhost"): no DNS is
  queried and the HELO check is `none` (RFC 7208 section 4.3).  No HELO at
  all: `SpfResult.helo` is None.
* A malformed MAIL FROM domain is `none` too (RFC 7208 section 4.3).
* Invalid client IP (empty, garbage): `none` for every identity, with the
  reason in the explanation.  It is not `permerror`, which would blame the
  sender domain's published record for a problem of our own SMTP session data,
  nor `temperror`, because asking again cannot help.
* Anything pyspf raises on hostile input becomes `permerror` with the reason;
  a DNS failure (timeout, SERVFAIL, budget exhausted) becomes `temperror`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

import spf as pyspf

from spoofwatch.dns import DnsAnswer, DnsStatus, Lookup
from spoofwatch.domains import is_dns_domain, is_qualified_domain, normalize_domain
from spoofwatch.results import AuthResult, SpfCheck, SpfResult

log = logging.getLogger(__name__)

__all__ = ["check_spf"]

_MAX_EXPLANATION = 512  # exp= text is chosen by the sender domain; keep it bounded
_MAX_QUERY_NAME = 253  # pyspf's rule for names its terms expand to (macros make anything)
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_RFC8601_WORDS = {r.value for r in AuthResult} - {AuthResult.POLICY.value}


def check_spf(lookup: Lookup, client_ip: str, mail_from: str, helo: str) -> SpfResult:
    """Evaluate SPF for the MAIL FROM identity and, when there is one, the HELO identity.

    Never raises: every failure is a `temperror`, `permerror` or `none` result.
    """
    ip, ip_problem = _parse_client_ip(client_ip)
    has_helo = bool(helo.strip())
    if _is_null_sender(mail_from):
        helo_check = _check_helo(lookup, ip, ip_problem, helo) if has_helo else None
        return SpfResult(mailfrom=_null_sender_check(helo_check), helo=helo_check)
    # MAIL FROM first: it is the identity DMARC uses, so a slow HELO domain
    # must not spend the message's DNS budget before it.
    mailfrom_check = _check_mailfrom(lookup, ip, ip_problem, mail_from, helo)
    helo_check = _check_helo(lookup, ip, ip_problem, helo) if has_helo else None
    return SpfResult(mailfrom=mailfrom_check, helo=helo_check)


# ------------------------------------------------------------------ identities


def _check_mailfrom(lookup: Lookup, ip: str | None, ip_problem: str, mail_from: str,
                    helo: str) -> SpfCheck:
    local, _, raw_domain = _strip_brackets(mail_from).rpartition("@")
    # RFC 7208 4.3: a sender without local-part is checked as postmaster@domain.
    local = local or "postmaster"
    domain, problem = _normalize_domain(raw_domain)
    sender = f"{local}@{domain or raw_domain}"
    if domain is None:
        return SpfCheck("mailfrom", "", _printable(sender), AuthResult.NONE,
                        f"MAIL FROM domain is not a valid domain name: {problem}")
    if ip is None:
        return SpfCheck("mailfrom", domain, _printable(sender), AuthResult.NONE, ip_problem)
    result, explanation = _run_pyspf(lookup, ip, domain, f"{local}@{domain}", helo)
    return SpfCheck("mailfrom", domain, _printable(sender), result, explanation)


def _check_helo(lookup: Lookup, ip: str | None, ip_problem: str, helo: str) -> SpfCheck:
    name = helo.strip()
    domain, problem = _normalize_domain(name)
    if domain is None:
        return SpfCheck("helo", "", _printable(f"postmaster@{name}"), AuthResult.NONE,
                        f"HELO is not checked: {problem}")
    sender = f"postmaster@{domain}"
    if ip is None:
        return SpfCheck("helo", domain, sender, AuthResult.NONE, ip_problem)
    result, explanation = _run_pyspf(lookup, ip, domain, sender, name)
    return SpfCheck("helo", domain, sender, result, explanation)


def _null_sender_check(helo_check: SpfCheck | None) -> SpfCheck:
    # RFC 7208 2.4: with a null reverse-path the MAIL FROM check *is* the HELO
    # check (postmaster@HELO), so it is reused rather than evaluated twice.
    if helo_check is not None:
        return helo_check
    return SpfCheck("helo", "", "", AuthResult.NONE,
                    "null MAIL FROM and no HELO: there is no identity to check")


def _is_null_sender(mail_from: str) -> bool:
    return _strip_brackets(mail_from) == ""


def _strip_brackets(mail_from: str) -> str:
    text = mail_from.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text


# ------------------------------------------------------------------ validation


def _parse_client_ip(client_ip: str) -> tuple[str | None, str]:
    """The client address in a form pyspf accepts, or None and the reason."""
    text = client_ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text[:5].lower() == "ipv6:":  # Sendmail's {client_addr} style
        text = text[5:]
    text = text.split("%", 1)[0]  # a zone index says nothing about the sender
    if not text:
        return None, "no client IP address, SPF cannot be evaluated"
    try:
        return str(ipaddress.ip_address(text)), ""
    except ValueError:
        return None, f"invalid client IP address {_printable(client_ip)[:64]!r}"


def _normalize_domain(text: str) -> tuple[str | None, str]:
    """The domain in compared form (``spoofwatch.domains``), or None and why not.

    RFC 7208 4.3: a malformed or single-label domain gives the result none.
    """
    name = text.strip()
    bare = name.removesuffix(".")
    if not bare:
        return None, "empty"
    if bare.startswith("[") or _is_ip_address(bare):
        return None, f"{_printable(bare)[:64]!r} is an address literal"
    domain = normalize_domain(name)
    if not domain.isascii():
        return None, f"{_printable(bare)[:64]!r} is not a valid internationalized name"
    if not is_dns_domain(domain):
        return None, f"{_printable(domain)[:64]!r} is malformed"
    if "." not in domain:
        return None, f"{_printable(domain)[:64]!r} is not a fully qualified domain name"
    if not is_qualified_domain(domain):
        return None, f"{_printable(domain)[:64]!r} has an all-numeric top-level label"
    return domain, ""


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _printable(text: str) -> str:
    """ASCII-safe text for results and logs: other characters become '?'."""
    return _UNPRINTABLE.sub("?", text)


# ------------------------------------------------------------------ evaluation


def _run_pyspf(lookup: Lookup, ip: str, domain: str, sender: str,
               helo: str) -> tuple[AuthResult, str]:
    try:
        query = _LookupQuery(lookup, ip, domain, sender, helo)
        word, _code, explanation = query.check()
    except pyspf.TempError as exc:
        return AuthResult.TEMPERROR, _explain(f"SPF Temporary Error: {exc}")
    except pyspf.PermError as exc:
        return AuthResult.PERMERROR, _explain(f"SPF Permanent Error: {exc}")
    except Exception as exc:  # noqa: BLE001 - hostile records must never crash the milter
        log.warning("pyspf raised on %s (client %s): %r", _printable(domain), ip, exc)
        return AuthResult.PERMERROR, _explain(
            f"SPF Permanent Error: record could not be evaluated ({type(exc).__name__})")
    if word not in _RFC8601_WORDS:
        # Only pyspf's harsh or lax modes produce other words; we use neither.
        return AuthResult.PERMERROR, _explain(f"unexpected pyspf result {word!r}: {explanation}")
    result = AuthResult(word)
    if result is AuthResult.NONE and not explanation:
        explanation = f"no SPF record found for {domain}"
    log.debug("SPF %s for %s from %s: %s", result, _printable(sender), ip, explanation)
    return result, _explain(str(explanation))


def _explain(text: str) -> str:
    text = _printable(text)
    if len(text) > _MAX_EXPLANATION:
        text = text[: _MAX_EXPLANATION - 3] + "..."
    return text


class _LookupQuery(pyspf.query):  # type: ignore[misc]  # pyspf is untyped
    """A pyspf query whose DNS goes to one `Lookup` instead of pyspf's global resolver.

    pyspf funnels every query (TXT, A, AAAA, MX, PTR) through `query.dns`, so
    overriding that one method is enough; the processing limits it enforces
    (10 DNS-querying terms, 2 void lookups) are kept.
    """

    def __init__(self, lookup: Lookup, ip: str, domain: str, sender: str, helo: str) -> None:
        # querytime=0: pyspf's own clock is not used; the Lookup's budget bounds time.
        super().__init__(i=ip, s=sender, h=helo, strict=True, querytime=0)
        self._lookup = lookup
        # pyspf splits the sender at the first "@"; the domain is after the last one.
        self.l = sender.rpartition("@")[0] or "postmaster"
        self.o = self.d = domain

    def dns(self, name: Any, qtype: str, cnames: Any = None,
            ignore_void: bool = False) -> list[Any]:
        if not name:
            raise pyspf.PermError("empty domain name in a DNS query")
        name = str(name)
        if name.endswith("."):
            name = name[:-1]
        # pyspf's rule: a name that cannot be sent gives no data (and is no void lookup).
        if not all(0 < len(label) < 64 for label in name.split(".")) or len(name) > _MAX_QUERY_NAME:
            return []
        name = name.lower()
        key = (name, qtype)
        if key in self.cache:
            result: list[Any] = self.cache[key]
        else:
            result = _to_pyspf(self._ask(name, qtype), qtype)
            self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > pyspf.MAX_VOID_LOOKUPS:
                raise pyspf.PermError(
                    f"Void lookup limit of {pyspf.MAX_VOID_LOOKUPS} exceeded")
        return list(result)

    def validated_ptrs(self) -> list[str]:
        """The client's PTR names that resolve back to it (the "ptr" mechanism and %{p}).

        RFC 7208 5.5: a DNS error on the PTR lookup makes the mechanism not
        match, and a DNS error on a name's address lookup skips that name.
        pyspf would turn both into temperror instead.
        """
        try:
            names = self.dns_ptr(self.i)
        except pyspf.TempError:
            return []
        validated = []
        for name in names[: pyspf.MAX_PTR]:
            try:
                addresses = self.dns_a(name, self.A)
            except pyspf.TempError:
                continue
            if self.cidrmatch(addresses, self.cidrmax):
                validated.append(name)
        return validated

    def _ask(self, name: str, qtype: str) -> DnsAnswer:
        try:
            answer = self._lookup.lookup(name, qtype)
        except Exception as exc:  # the Lookup promises not to raise; be safe anyway
            raise pyspf.TempError(f"DNS {qtype} lookup of {name} failed: {exc!r}") from exc
        if answer.status is DnsStatus.TEMPERROR:
            raise pyspf.TempError(f"DNS {qtype} lookup of {name}: {answer.error or 'error'}")
        return answer


def _to_pyspf(answer: DnsAnswer, qtype: str) -> list[Any]:
    """Our record texts in the shapes pyspf's dnspython driver produces."""
    if answer.status is not DnsStatus.OK:
        return []
    if qtype in ("TXT", "SPF"):
        # pyspf wants each record as a sequence of byte strings to join.
        return [(text.encode("utf-8", "surrogateescape"),) for text in answer.records]
    if qtype == "MX":
        return [mx for mx in map(_parse_mx, answer.records) if mx is not None]
    return list(answer.records)  # A/AAAA address text, PTR target names


def _parse_mx(text: str) -> tuple[int, str] | None:
    preference, _, exchange = text.strip().partition(" ")
    try:
        return int(preference), exchange.strip()
    except ValueError:
        return None
