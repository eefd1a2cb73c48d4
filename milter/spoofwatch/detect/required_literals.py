"""Words a regular expression cannot match without: a cheap prefilter for the threat patterns.

Scoring runs each threat pattern over the whole text; most patterns need a word that most
mail does not contain ("registration", "come"). :func:`required_literals` reads a compiled
pattern's parse tree and returns strings of which every match contains at least one; when
none of them is in the text (``str.__contains__``, far faster than a regex scan) the
pattern cannot match and is skipped, so results are identical. A pattern whose tree it
cannot read (or that ignores case) gets no prefilter: it is always run.

It reads ``re._parser`` (the parser behind ``re``, stable in CPython 3.11 to 3.13); any
surprise there means "no prefilter", never a wrong skip.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["required_literals"]

# A requirement: strings of which every match contains one. () means "none known".
Requirement = tuple[str, ...]


def _better(a: Requirement, b: Requirement) -> Requirement:
    """The more selective of two requirements (longer shortest string, then fewer)."""
    if not a:
        return b
    if not b:
        return a
    return max(a, b, key=lambda r: (min(map(len, r)), -len(r)))


def _sequence(items: Any) -> Requirement:
    best: Requirement = ()
    run: list[str] = []
    for op, arg in list(items) + [(None, None)]:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(arg))
            continue
        if run:
            best = _better(best, ("".join(run),))
            run = []
        if name == "SUBPATTERN":
            best = _better(best, _sequence(arg[-1]))
        elif name == "BRANCH":
            alternatives = [_sequence(alt) for alt in arg[1]]
            if alternatives and all(alternatives):
                best = _better(best, tuple(dict.fromkeys(s for alt in alternatives
                                                         for s in alt)))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
            best = _better(best, _sequence(arg[2]))
        elif name == "ATOMIC_GROUP":
            best = _better(best, _sequence(arg))
    return best


def required_literals(compiled: re.Pattern[str]) -> Requirement:
    """Strings one of which every match of ``compiled`` contains; () if none are known."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        if compiled.flags & re.IGNORECASE:
            return ()
        tree = _parser.parse(compiled.pattern, compiled.flags)
        if tree.state.flags & re.IGNORECASE:
            return ()
        return _sequence(tree)
    except Exception:  # an unknown parser shape means no prefilter, never a wrong skip
        log.debug("no prefilter for %r", compiled.pattern[:60], exc_info=True)
        return ()
