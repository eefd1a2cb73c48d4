"""``from_header_invalid``: the From header is missing, repeated, names several addresses in
different domains, or cannot be parsed. The header is parsed by ``addresses.parse_from``
(one parser for every check)."""

from __future__ import annotations

from collections.abc import Callable

from ..results import Finding, FromProblem

_SENTENCES = {
    "missing": "The message has no From header.",
    "multiple_headers": "The message has more than one From header.",
    "multiple_addresses": "The From header names several addresses in different domains.",
    "no_domain": "The From header has no usable domain.",
    "unparseable": "The From header cannot be parsed.",
}


def from_header_finding(problem: FromProblem, weight: Callable[[str], float]) -> Finding:
    text = _SENTENCES.get(problem.code, "The From header is unusable.")
    return Finding(
        "from_header_invalid", weight("from_header_invalid"), text,
        detail=(("problem", problem.code),),
    )
