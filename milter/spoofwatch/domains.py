"""Domain names: the one place they are converted, validated and compared.

Every check (the From parser, SPF, DKIM, ARC, DMARC, the watchlist, the allowlist and
the look-alike detector) turns a name into the same *compared form* here, so that one
Unicode domain is one A-label everywhere:

* :func:`normalize_domain` - lower-case, without one trailing dot, U-labels converted to
  A-labels by IDNA 2008 with UTS #46 mapping, non-transitional (the ``idna`` package).
  "faß.de" is "xn--fa-hia.de", as registries and browsers treat it, never "fass.de"
  (the standard library's IDNA 2003 codec), which another party may have registered.
  Labels are converted one by one after the UTS #46 mapping of the whole name (as the
  ``idna`` package itself does), and ASCII labels are kept as written: the validator
  below, not the IDNA library, decides which ASCII names are acceptable, so a name such
  as ``a_b.münchen.de`` is judged by the same rule as ``a_b.muenchen.de``.
* :func:`is_dns_domain` - **the one validator** for a domain in compared form:
  ASCII, at most 253 characters, labels of 1 to 63 characters among ``a-z 0-9 - _``.
  It is as strict as it can be without refusing names DNS resolves: refusing a
  resolvable From domain would take it out of DMARC and the watchlist, trading the
  owner's policy for the weaker "invalid From" finding, so leading or trailing hyphens
  and underscores (both found in real host names) are accepted, and so are A-labels
  that do not decode.  :func:`is_qualified_domain` adds what a *registered* domain
  needs (two labels or more, a top-level label that is not all digits): SPF (RFC 7208
  section 4.3), the look-alike detector and the domains an operator lists in a policy.
* :func:`is_subdomain_or_self` - the one "this domain or under it" test.
* :func:`to_ascii` / :func:`to_unicode` - best-effort forms for display and look-alike
  comparison; a label IDNA 2008 refuses is kept as raw punycode so it still compares.
* :func:`registrable_domain` / :func:`public_suffix` - from the Public Suffix List. That
  is right for look-alike detection (who could have registered this name?) and
  deliberately not used for DMARC, which RFC 9989 does with a DNS tree walk.

Every function accepts arbitrary text and never raises: mail carries whatever a sender
typed, and a malformed domain is an answer, not a crash.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import idna
from publicsuffixlist import PublicSuffixList

__all__ = [
    "default_psl",
    "is_dns_domain",
    "is_qualified_domain",
    "is_subdomain_or_self",
    "normalize",
    "normalize_domain",
    "public_suffix",
    "registrable_domain",
    "to_ascii",
    "to_unicode",
]

_ACE_PREFIX = "xn--"
_MAX_NAME = 253  # presentation length without the trailing dot (RFC 1035 2.3.4)
_DNS_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


@functools.cache
def default_psl() -> PublicSuffixList:
    """The PSL shipped with publicsuffixlist, parsed once per process.

    Private-section suffixes (github.io, blogspot.com, ...) are honoured: a
    name under them is registered by a different party than the suffix owner.
    """
    return PublicSuffixList()


# --- the compared form -------------------------------------------------------


def _idna_label(label: str) -> str:
    """One UTS #46-mapped label as an A-label; raises when IDNA 2008 refuses it."""
    return idna.alabel(label).decode("ascii")


def normalize_domain(d: str) -> str:
    """The compared form: lower-case, one trailing dot dropped, U-labels as A-labels.

    "münchen.de" -> "xn--mnchen-3ya.de", "FAß.DE." -> "xn--fa-hia.de". UTS #46 also
    maps full-width letters and ideographic full stops to what DNS would resolve, so
    a look-alike spelling is evaluated as the domain it resolves to. A name that can
    not be converted is returned lower-cased, for :func:`is_dns_domain` to reject.
    """
    d = d.strip(" \t").removesuffix(".")
    if d.isascii():
        return d.lower()
    try:
        mapped = idna.uts46_remap(d, std3_rules=False, transitional=False)
        labels = mapped.removesuffix(".").split(".")
        return ".".join(label if label.isascii() else _idna_label(label) for label in labels)
    except Exception:  # noqa: BLE001 - idna raises several types on hostile input
        return d.lower()


def is_dns_domain(d: str) -> bool:
    """True for a domain in compared form that can be looked up (see the module docstring):
    ASCII labels of letters, digits, '-' and '_', 1-63 characters each, 253 in all."""
    if not d or len(d) > _MAX_NAME or not d.isascii():
        return False
    return all(_DNS_LABEL.fullmatch(label) for label in d.split("."))


def is_qualified_domain(d: str) -> bool:
    """:func:`is_dns_domain`, with two labels or more and a top-level label not all digits
    (so neither "localhost" nor an IPv4 address)."""
    return is_dns_domain(d) and "." in d and not d.rpartition(".")[2].isdigit()


def is_subdomain_or_self(child: str, parent: str) -> bool:
    """True when ``child`` equals ``parent`` or lies under it; both in compared form
    (:func:`normalize_domain`). An empty ``parent`` contains nothing."""
    if not parent:
        return False
    return child == parent or child.endswith("." + parent)


# --- best-effort forms for display and look-alike comparison -----------------


def normalize(domain: str) -> str:
    """Lenient clean-up of a domain-like text: trimmed, without brackets, a trailing dot
    or empty labels, NFC, lower-case, ideographic full stops as dots."""
    text = (domain or "").strip().strip("<>[]").strip().rstrip(".")
    text = unicodedata.normalize("NFC", text).lower()
    # Full-width and ideographic dots are label separators in IDNA (RFC 3490 3.1).
    for dot in ("\u3002", "\uff0e", "\uff61"):
        text = text.replace(dot, ".")
    return ".".join(label for label in text.split(".") if label)


def _best_effort_label(label: str) -> str:
    if label.isascii():
        return label
    try:
        return ".".join(part if part.isascii() else _idna_label(part) for part in
                        idna.uts46_remap(label, std3_rules=False, transitional=False).split("."))
    except Exception:  # noqa: BLE001 - IDNA 2008 refused it (symbol, bidi rule, ...)
        # raw punycode still gives a stable, comparable A-label
        try:
            return _ACE_PREFIX + label.encode("punycode").decode("ascii")
        except UnicodeError:
            return label


def to_ascii(domain: str) -> str:
    """The A-label form of a domain-like text; the compared form whenever IDNA 2008 takes
    every label, else label by label with raw punycode for refused ones. Never raises."""
    text = normalize(domain)
    converted = normalize_domain(text)
    if converted.isascii():
        return converted
    return ".".join(_best_effort_label(label) for label in text.split("."))


def _label_to_unicode(label: str) -> str:
    if not label.startswith(_ACE_PREFIX):
        return label
    try:
        return label[len(_ACE_PREFIX):].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def to_unicode(domain: str) -> str:
    """The U-label form of a domain for display and confusable checks; never raises."""
    return ".".join(_label_to_unicode(label) for label in to_ascii(domain).split("."))


# --- the Public Suffix List --------------------------------------------------


def public_suffix(domain: str, psl: PublicSuffixList | None = None) -> str:
    """The public suffix of ``domain`` (A-label form), or "" when there is none."""
    name = to_ascii(domain)
    if not name:
        return ""
    return (psl or default_psl()).publicsuffix(name) or ""


def registrable_domain(domain: str, psl: PublicSuffixList | None = None) -> str:
    """The registrable domain (public suffix plus one label), in A-label form.

    "" when ``domain`` is empty, is itself a public suffix, or is a single label.
    """
    name = to_ascii(domain)
    if not name:
        return ""
    return (psl or default_psl()).privatesuffix(name) or ""
