"""RFC 8601 Authentication-Results: building ours, spotting forged ones.

The header is built with the ``authres`` library. Values that come from the
message (addresses, selectors) are reduced to printable ASCII first: the
library quotes values but does not escape comments, and an attacker must not
be able to inject a ``;`` clause of their own into our header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import authres
import authres.arc
import authres.dkim_b
import authres.dmarc

from ..results import ArcResult, AuthResult, DkimResult, DmarcResult, SpfResult

_UNSAFE = re.compile(r"[^\x21-\x7e]")
_COMMENT_UNSAFE = re.compile(r"[^\x20-\x7e]|[()\\]")


def _value(text: str, limit: int = 255) -> str:
    """A property value safe inside an A-R header (printable ASCII, no spaces)."""
    return _UNSAFE.sub("?", text)[:limit]


def _comment(text: str, limit: int = 120) -> str:
    return _COMMENT_UNSAFE.sub("?", text)[:limit]


def _spf_clauses(spf: SpfResult) -> list[authres.core.AuthenticationResult]:
    clauses: list[authres.core.AuthenticationResult] = []
    mf = spf.mailfrom
    if mf.identity == "mailfrom":
        clauses.append(
            authres.SPFAuthenticationResult(
                result=mf.result.value, smtp_mailfrom=_value(mf.sender) or None,
                result_comment=_comment(mf.explanation) or None,
            )
        )
    if spf.helo is not None:
        clauses.append(
            authres.SPFAuthenticationResult(
                result=spf.helo.result.value, smtp_helo=_value(spf.helo.domain) or None,
                result_comment=_comment(spf.helo.explanation) or None,
            )
        )
    return clauses


def _dkim_clauses(dkim: DkimResult) -> list[authres.core.AuthenticationResult]:
    if not dkim.signatures:
        return [authres.DKIMAuthenticationResult(result="none")]
    clauses: list[authres.core.AuthenticationResult] = []
    for sig in dkim.signatures:
        clause = authres.dkim_b.DKIMAuthenticationResult(
            result=sig.result.value,
            result_comment=_comment(sig.reason) or None,
            header_d=_value(sig.domain) or None,
            header_i=_value(sig.identity) or None,
            header_b=_value(sig.b_prefix) or None,
        )
        if sig.selector:
            clause.properties.append(
                authres.core.AuthenticationResultProperty("header", "s", _value(sig.selector))
            )
        if sig.algorithm:
            clause.properties.append(
                authres.core.AuthenticationResultProperty("header", "a", _value(sig.algorithm))
            )
        clauses.append(clause)
    return clauses


def _arc_clause(arc: ArcResult) -> authres.core.AuthenticationResult:
    return authres.arc.ARCAuthenticationResult(
        result=arc.result.value,
        result_comment=_comment(arc.reason) or None,
    )


def _dmarc_clause(dmarc: DmarcResult) -> authres.core.AuthenticationResult:
    comment_parts = []
    if dmarc.policy:
        comment_parts.append(f"p={dmarc.requested_policy or dmarc.policy}")
    if dmarc.testing:
        comment_parts.append("t=y")
    if dmarc.override:
        comment_parts.append(f"override: {dmarc.override}")
    clause = authres.dmarc.DMARCAuthenticationResult(
        result=dmarc.result.value,
        result_comment=_comment(" ".join(comment_parts)) or None,
        header_from=_value(dmarc.from_domain) or None,
        # policy.dmarc says what was applied, which only means something when it failed
        policy=(_value(dmarc.policy) or None) if dmarc.result is AuthResult.FAIL else None,
    )
    return clause


def build_header_value(
    authserv_id: str,
    spf: SpfResult | None,
    dkim: DkimResult | None,
    arc: ArcResult | None,
    dmarc: DmarcResult | None,
) -> str:
    """The value (without the field name) of our Authentication-Results header."""
    results: list[authres.core.AuthenticationResult] = []
    if spf is not None:
        results.extend(_spf_clauses(spf))
    if dkim is not None:
        results.extend(_dkim_clauses(dkim))
    if arc is not None:
        results.append(_arc_clause(arc))
    if dmarc is not None:
        results.append(_dmarc_clause(dmarc))
    header = authres.AuthenticationResultsHeader(authserv_id=authserv_id, results=results)
    return header.header_value()


def fold_results(value: str, width: int = 78) -> str:
    """Fold a header value at its ``;`` clause boundaries (milter folding uses ``\\n\\t``)."""
    parts = value.split("; ")
    lines: list[str] = []
    current = parts[0]
    for part in parts[1:]:
        lines.append(current + ";")
        current = part
    lines.append(current)
    return "\n\t".join(lines)


_COMMENT_RE = re.compile(r"\((?:[^()\\]|\\.)*\)")


def authserv_id_of(value: str) -> str:
    """The authserv-id of an A-R header value, lower-cased ("" when unparseable).

    Written by hand rather than with ``authres`` parsing: a forged header is often
    malformed on purpose, and we must still recognise whose id it claims.
    """
    text = value.strip()
    for _ in range(8):  # leading CFWS comments, possibly several
        text = text.lstrip()
        match = _COMMENT_RE.match(text)
        if not match:
            break
        text = text[match.end():]
    text = text.lstrip()
    if text.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        return match.group(1).replace("\\", "").strip().lower() if match else ""
    match = re.match(r"[^\s;()]+", text)
    return match.group(0).lower() if match else ""


def forged_indexes(headers: Sequence[tuple[str, str]], authserv_id: str, name: str) -> list[int]:
    """1-based indexes, among headers called ``name``, whose authserv-id is ours."""
    out = []
    index = 0
    for header_name, value in headers:
        if header_name.lower() != name.lower():
            continue
        index += 1
        if authserv_id_of(value.replace("\r\n", " ").replace("\n", " ")) == authserv_id.lower():
            out.append(index)
    return out
