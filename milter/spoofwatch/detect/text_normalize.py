"""The form threat patterns are matched against: :func:`normalize_text`.

It undoes the Unicode tricks that hide words from a filter but not from a reader:
right-to-left overrides, letter-spaced words, zero-width and bidi characters, fullwidth
and mathematical letters, Cyrillic/Greek/Coptic/other look-alike letters, overlay marks,
digits written for letters. Bounded: never raises, linear time.
"""

from __future__ import annotations

import re

from ..text import LEET, TYPOGRAPHY, join_spaced_letters, reading, visual_order

__all__ = ["normalize_text"]

# Invisible characters, look-alike letters, accents and the reading of digits are the text
# layer's (spoofwatch.text), shared with the look-alike domain and display-name checks.

# Leetspeak-lite: a digit is read as a letter only inside a word that is mostly letters
# ("y0u", "c0me", "1nformation", "w1ll", "wh0"), never in numbers, codes with many
# digits, names ending in a number ("covid19", "win10"), or ordinals, times and units
# ("3rd", "10am", "5k"). "vote 4 trump" is left alone: the patterns accept "4" for "for"
# themselves.
# Anchored at a word start so a long word without digits is scanned once, not once per
# letter.
_WORD_WITH_DIGIT = re.compile(r"(?<![^\W_])[^\W_]*\d[^\W_]*")
_NUMBER_WITH_UNIT = re.compile(
    r"\d+(?:st|nd|rd|th|am|pm|a|p|k|m|h|s|x|px|pt|kb|mb|gb|min|mins|hr|hrs|yr|yrs|sec|ft"
    r"|lb|lbs|oz|kg|km|mi|mph|cm|mm|d)"
    r"|[^\W\d_]+\d{2,}"
)
_WHITESPACE = re.compile(r"\s+")
# A word hyphenated at a line's end ("acc-" then "ordingly"): the line break goes, the
# hyphen stays, and the concept reader decides whether the pieces are one word.
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")


def _unleet_word(match: re.Match[str]) -> str:
    word = match.group(0)
    letters = sum(1 for c in word if c.isalpha())
    digits = len(word) - letters
    if not letters or digits > letters or _NUMBER_WITH_UNIT.fullmatch(word):
        return word
    return word.translate(LEET)


def normalize_text(text: str) -> str:
    """The form threat patterns match: right-to-left override runs in the order shown,
    NFKC, case folded, invisible characters removed, letter-spaced words joined,
    look-alike letters folded to Latin, in-word leet digits read as letters, curly
    quotes and dashes made ASCII, whitespace collapsed to single spaces.

    Accents are kept ("votarás" stays "votarás"): pattern matching folds them away on
    both sides, so Spanish patterns match text written with or without them.
    """
    # Override runs are reversed before reading() drops the override characters.
    text = reading(visual_order(text), keep_accents=True).translate(TYPOGRAPHY)
    text = join_spaced_letters(_LINE_END_HYPHEN.sub("-", text))
    text = _WORD_WITH_DIGIT.sub(_unleet_word, text)
    return _WHITESPACE.sub(" ", text).strip()
