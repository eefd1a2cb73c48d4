"""Text in the order and the words a reader sees: right-to-left overrides, spaced letters.

* ``visual_order``: characters between RIGHT-TO-LEFT OVERRIDE (U+202E) and its POP
  DIRECTIONAL FORMATTING (U+202C), or the end of the line, are shown in reverse order; a
  forger writes "uoy retfa emoc lliw ew" there and the reader sees "we will come after
  you". Nesting is followed as the Unicode bidirectional algorithm does for Latin text: a
  LEFT-TO-RIGHT OVERRIDE (U+202D) or an embedding (U+202A, U+202B) inside a reversed run
  keeps its own content in order and moves as one piece; each U+202C closes the innermost
  open one; a line break closes all; nesting deeper than 125 (the algorithm's limit) is
  ignored. Right-to-left *letters* (Hebrew, Arabic) are not reordered: the patterns read
  Latin text.
* ``join_spaced_letters``: a word written with one separator between its letters
  (``v o t e``, ``V.O.T.E``, ``v-o-t-e``, ``v  o  t  e``: one to three spaces or one of
  ``. - _ * · / |``) is joined. Only runs of three or more single letters with the *same*
  separator are joined, so "a I", "e.g." and initials written with
  a space after the dot ("J. R. R.") stay as they are; a run with more digits than letters
  (``1.2.3``, ``10.0.0.1``) is a number and stays. A sentence whose every letter is spaced
  the same way becomes one long word (word boundaries cannot be told apart); the usual
  form spaces words wider than letters and is read.

Both are linear: the text is split once at the directional controls and each piece is
copied at most once per open level; a spaced run is matched once from its first letter.
"""

from __future__ import annotations

import re

__all__ = ["join_spaced_letters", "visual_order"]

_BIDI_CONTROL = re.compile("([\u202a-\u202e\n])")
_RLO, _LRO, _PDF = "\u202e", "\u202d", "\u202c"
_MAX_DEPTH = 125
_SPACED_LETTERS = re.compile(
    r"(?<![^\W_])[^\W_]( {1,3}|[.\-_*·/|])[^\W_](?![^\W_])(?:\1[^\W_](?![^\W_]))+")


def visual_order(text: str) -> str:
    """``text`` with right-to-left override runs in the order shown (the control
    characters stay, for the invisible-character rules to drop)."""
    if _RLO not in text:
        return text
    # frames: (reversed?, pieces in final form); the outermost is the paragraph (in order)
    frames: list[tuple[bool, list[str]]] = [(False, [])]

    def close() -> None:
        reverse, pieces = frames.pop()
        frames[-1][1].append("".join(reversed(pieces) if reverse else pieces))

    for piece in _BIDI_CONTROL.split(text):
        if not piece:
            continue
        if piece == "\n":
            while len(frames) > 1:
                close()
            frames[0][1].append(piece)
        elif piece == _PDF:
            if len(frames) > 1:
                close()
            frames[-1][1].append(piece)
        elif piece in "\u202a\u202b\u202d\u202e" and len(piece) == 1:
            frames[-1][1].append(piece)
            if len(frames) <= _MAX_DEPTH:
                frames.append((piece == _RLO, []))
        else:
            frames[-1][1].append(piece[::-1] if frames[-1][0] else piece)
    while len(frames) > 1:
        close()
    return "".join(frames[0][1])


def _joined(match: re.Match[str]) -> str:
    run = match.group(0)
    letters = "".join(run.split(match.group(1)))
    if sum(c.isdigit() for c in letters) * 2 > len(letters):
        return run
    return letters


def join_spaced_letters(text: str) -> str:
    """``text`` with letter-spaced words joined (see the module doc for which)."""
    return _SPACED_LETTERS.sub(_joined, text)
