"""What the text readers share: the character budget they fill, and what they report.

:class:`TextReading` is the result of :func:`.textextract.read_text`; an
:class:`Unreadable` says what stopped the normal reading of a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..mime import MAX_MIME_PARTS

__all__ = ["HTML_SOURCE_FACTOR", "TEXT_SOURCE_FACTOR", "Budget", "TextReading",
           "Unreadable"]

# How much of one part's source is read, relative to max_chars. HTML carries markup, so
# its source may be much longer than the text it renders to.
TEXT_SOURCE_FACTOR = 2
HTML_SOURCE_FACTOR = 8
_PIECE_SEPARATOR = "\n\n"


@dataclass
class Budget:
    """What one reading has collected, and how much more it may: characters and parts."""

    max_chars: int
    parts_left: int = MAX_MIME_PARTS
    chars: int = 0
    pieces: list[str] = field(default_factory=list)
    # what the standard parser's walk could not read: "limit" or "part" per occurrence
    failures: list[str] = field(default_factory=list)
    hidden_splits: int = 0  # words hidden HTML text was inserted into (html_text)

    def full(self) -> bool:
        return self.chars >= self.max_chars or self.parts_left <= 0

    def room(self) -> int:
        return max(0, self.max_chars - self.chars)

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
            self.pieces.append(text)
            self.chars += len(text) + len(_PIECE_SEPARATOR)

    def text(self) -> str:
        return _PIECE_SEPARATOR.join(self.pieces)[: self.max_chars]


@dataclass(frozen=True)
class Unreadable:
    """Something that stopped the normal reading of a message (an unreadable_structure)."""

    limit: str  # "mime_parts", "mime_depth", "mime_boundary", "mime_parser", "mime_part",
    # "mime_reader"
    sentence: str  # a plain sentence for the reasons
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TextReading:
    text: str
    unreadable: tuple[Unreadable, ...] = ()
    hidden_splits: int = 0  # words of the visible text that hidden HTML text split
