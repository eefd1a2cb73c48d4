"""DMARC Policy Records (RFC 9989 sections 4.7 and 4.8): one TXT string to a `DmarcRecord`.

Unknown tags are ignored; a known tag that is invalid or repeated is listed in
`DmarcRecord.invalid_tags` and takes its default (policy tags stay None), and
`DmarcRecord.applicable` applies the rule of section 4.10.1 for records without a
usable policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["POLICIES", "DmarcRecord", "parse_record"]

POLICIES = ("none", "quarantine", "reject")
_KNOWN_TAGS = frozenset({"v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "rua", "ruf", "fo"})
_TAG_NAME = re.compile(r"[A-Za-z]+\Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s,!]+\Z")
_REPORT_SIZE = re.compile(r"!\d+[kmgt]?\Z", re.IGNORECASE)
_WSP = " \t"


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
