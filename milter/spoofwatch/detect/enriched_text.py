"""``text/enriched`` (RFC 1896) and its ancestor ``text/richtext`` (RFC 1341) as the reader
sees them; linear time, never raising.

Mail clients that show these types (Apple Mail, Thunderbird, mutt) drop the formatting
commands, so a filter must too: ``<bold>v</bold>ote`` reads "vote". In text/enriched
``<<`` is a literal ``<``, the content of ``<param>`` is not text (a colour name, a font
family), a single line break is a space and each further one a line break (except inside
``<nofill>``). In text/richtext ``<lt>`` is ``<`` and ``<nl>`` a line break; line breaks
in the source are spaces.
"""

from __future__ import annotations

import re

__all__ = ["enriched_to_text"]

# A formatting command (RFC 1896: up to 60 letters, digits and hyphens, optionally
# negated by "/") or the "<<" escape. One alternation without nested repetition: linear.
_TOKEN = re.compile(r"<<|<(/?)([A-Za-z0-9-]{1,60})>")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _unfold(text: str) -> str:
    """RFC 1896 line breaks: n line breaks in a row give n-1 (one alone is a space)."""
    out: list[str] = []
    run = 0
    pos = 0
    for match in _NEWLINES.finditer(text):
        if match.start() != pos:
            if run:
                out.append(" " if run == 1 else "\n" * (run - 1))
            out.append(text[pos:match.start()])
            run = 0
        run += 1
        pos = match.end()
    if run:
        out.append(" " if run == 1 else "\n" * (run - 1))
    out.append(text[pos:])
    return "".join(out)


def enriched_to_text(source: str, richtext: bool = False) -> str:
    """The text of a text/enriched (or, with ``richtext``, text/richtext) body."""
    out: list[str] = []
    param = 0  # inside <param>: not text
    nofill = 0  # inside <nofill>: line breaks are kept as they are
    pos = 0

    def emit(chunk: str) -> None:
        if chunk and not param:
            if richtext:
                out.append(_NEWLINES.sub(" ", chunk))
            else:
                out.append(chunk if nofill else _unfold(chunk))

    for match in _TOKEN.finditer(source):
        emit(source[pos:match.start()])
        pos = match.end()
        if match.group(0) == "<<":
            emit("<")  # richtext has no such escape; a "<" read for "<<" changes no word
            continue
        closing, name = match.group(1), match.group(2).lower()
        step = -1 if closing else 1
        if name == "param" and not richtext:
            param = max(0, param + step)
        elif name == "nofill" and not richtext:
            nofill = max(0, nofill + step)
        elif richtext and not closing and name == "lt":
            emit("<")
        elif richtext and not closing and name == "nl":
            out.append("\n")
    emit(source[pos:])
    return "".join(out)
