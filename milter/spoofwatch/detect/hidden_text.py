"""``hidden_text``: HTML text hidden from the reader was inserted into the lines they read.

Junk in a zero-size or invisible element inside a word (``vo<span style="font-size:0">xyz
</span>te``) is a filter-evasion trick: the reader sees "vote", a naive filter reads
"voxyzte"; hidden words between the words of one line (``we will <span hidden>not</span>
come``) change what a filter reads of the sentence. The renderer (:mod:`.html_text`) reads
what the reader sees; this weak finding says the trick was used. Hidden text on a line of
its own (a newsletter's hidden preheader) is common in legitimate mail and is not
reported. Not spoof evidence.
"""

from __future__ import annotations

from collections.abc import Callable

from ..results import Finding

__all__ = ["hidden_text_finding"]


def hidden_text_finding(weight: Callable[[str], float], splits: int) -> Finding | None:
    """The finding for ``splits`` places where hidden words sat inside a visible word or
    between the words of a line (None for none)."""
    if splits <= 0:
        return None
    return Finding(
        "hidden_text", weight("hidden_text"),
        f"Text hidden from the reader (invisible or zero-size HTML) was inserted into "
        f"the words they see, in {splits} place(s).",
        detail=(("places", str(splits)),),
    )
