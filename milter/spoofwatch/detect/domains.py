"""Domain-name helpers: normalisation, IDNA conversion and registrable domains.

The registrable domain here comes from the Public Suffix List. That is right for
lookalike detection (who could have registered this name?) and deliberately not
used for DMARC policy discovery, which RFC 9989 does with a DNS tree walk.

Every function accepts arbitrary text and never raises: mail headers carry
whatever a sender typed, and a malformed domain is an answer, not a crash.
"""

from __future__ import annotations

import encodings.idna
import functools
import logging
import unicodedata

from publicsuffixlist import PublicSuffixList

log = logging.getLogger(__name__)

_ACE_PREFIX = "xn--"
_MAX_LABEL = 63


@functools.cache
def default_psl() -> PublicSuffixList:
    """The PSL shipped with publicsuffixlist, parsed once per process.

    Private-section suffixes (github.io, blogspot.com, ...) are honoured: a
    name under them is registered by a different party than the suffix owner.
    """
    return PublicSuffixList()


def normalize(domain: str) -> str:
    """Lower-case, trimmed, without brackets, a trailing dot or empty labels."""
    text = (domain or "").strip().strip("<>[]").strip().rstrip(".")
    text = unicodedata.normalize("NFC", text).lower()
    # Full-width and ideographic dots are label separators in IDNA (RFC 3490 3.1).
    for dot in ("\u3002", "\uff0e", "\uff61"):
        text = text.replace(dot, ".")
    return ".".join(label for label in text.split(".") if label)


def _label_to_ascii(label: str) -> str:
    if label.isascii():
        return label
    try:
        return encodings.idna.ToASCII(label).decode("ascii")
    except UnicodeError:
        # Nameprep refused the label (prohibited code point, bidi rule, ...);
        # raw punycode still gives a stable, comparable A-label.
        try:
            return _ACE_PREFIX + label.encode("punycode").decode("ascii")
        except UnicodeError:
            return label


def _label_to_unicode(label: str) -> str:
    if not label.startswith(_ACE_PREFIX):
        return label
    try:
        return label[len(_ACE_PREFIX):].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def to_ascii(domain: str) -> str:
    """The A-label form (``xn--...``) of a domain; best effort, never raises."""
    return ".".join(_label_to_ascii(label) for label in normalize(domain).split(".") if label)


def to_unicode(domain: str) -> str:
    """The U-label form of a domain for display and confusable checks; never raises."""
    return ".".join(_label_to_unicode(label) for label in to_ascii(domain).split("."))


def is_hostname(ascii_domain: str) -> bool:
    """True for an A-label domain made of LDH labels, at least two of them."""
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        return False
    for label in labels:
        if not label or len(label) > _MAX_LABEL or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in label):
            return False
    return True


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


def is_subdomain_or_self(domain: str, parent: str) -> bool:
    """True when ``domain`` equals ``parent`` or lies under it (both A-labels)."""
    return domain == parent or domain.endswith("." + parent)
