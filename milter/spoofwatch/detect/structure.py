"""``unreadable_structure``: part of the message could not be read as a whole (hostile MIME,
a limit reached). Visible in the reasons, but not evidence about the sender.

Raised where the reading stopped: the text reader's limits (``textextract.read_text``,
reported by ``threat.py``, which reads the text) and the Reply-To limit of the lookalike
check (``lookalike_finding.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..results import Finding

Weight = Callable[[str], float]


def unreadable_finding(weight: Weight, sentence: str,
                       detail: tuple[tuple[str, str], ...]) -> Finding:
    return Finding("unreadable_structure", weight("unreadable_structure"), sentence,
                   detail=detail)


def limit_finding(weight: Weight, limit: str, text: str, examined: int,
                  found: int) -> Finding:
    """A check looked at only the first ``examined`` of ``found`` items."""
    return unreadable_finding(weight, text, (("limit", limit), ("examined", str(examined)),
                                             ("found", str(found))))
