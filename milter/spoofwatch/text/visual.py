"""Text in the order and the words a reader sees: right-to-left overrides, spaced letters.

* ``visual_order``: characters between RIGHT-TO-LEFT OVERRIDE (U+202E) and POP DIRECTIONAL
  FORMATTING (U+202C), or the end of the line, are shown in reverse order; a forger writes
  "uoy retfa emoc lliw ew" there and the reader sees "we will come after you". The run is
  reversed (nested overrides and embeddings inside a run are not modelled: the run ends at
  the next U+202C, U+202E or line break).
* ``join_spaced_letters``: a word written with one separator between its letters
  (``v o t e``, ``V.O.T.E``, ``v-o-t-e``, ``v  o  t  e``: one to three spaces or one of
  ``. - _ * · / |``) is joined. Only runs of three or more single letters with the *same*
  separator are joined, so "a I", "e.g." and initials written with
  a space after the dot ("J. R. R.") stay as they are; a run with more digits than letters
  (``1.2.3``, ``10.0.0.1``) is a number and stays. A sentence whose every letter is spaced
  the same way becomes one long word (word boundaries cannot be told apart); the usual
  form spaces words wider than letters and is read.

Both are linear: the override run cannot contain its own start, and a spaced run is
matched once from its first letter.
"""

from __future__ import annotations

import re

__all__ = ["join_spaced_letters", "visual_order"]

_OVERRIDE_RUN = re.compile("\u202e([^\u202e\u202c\n]*)")
_SPACED_LETTERS = re.compile(
    r"(?<![^\W_])[^\W_]( {1,3}|[.\-_*·/|])[^\W_](?![^\W_])(?:\1[^\W_](?![^\W_]))+")


def visual_order(text: str) -> str:
    """``text`` with right-to-left override runs reversed (the override characters stay,
    for the invisible-character rules to drop)."""
    if "\u202e" not in text:
        return text
    return _OVERRIDE_RUN.sub(lambda m: "\u202e" + m.group(1)[::-1], text)


def _joined(match: re.Match[str]) -> str:
    run = match.group(0)
    letters = "".join(run.split(match.group(1)))
    if sum(c.isdigit() for c in letters) * 2 > len(letters):
        return run
    return letters


def join_spaced_letters(text: str) -> str:
    """``text`` with letter-spaced words joined (see the module doc for which)."""
    return _SPACED_LETTERS.sub(_joined, text)
