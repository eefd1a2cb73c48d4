"""Folding text to what a reader sees: one rule per disguise, for every check.

The look-alike domain check, the display-name check and the content check all read text an
attacker wrote to look like something else. They fold it here, with the same rules:

* **invisible characters** (``strip_invisible``): the characters of ``data/invisible.txt``
  (default-ignorable, format and control characters) are removed, so a zero-width space or
  a NUL inside a word does not split it.
* **compatibility forms**: NFKC (Python's), so fullwidth and mathematical letters are plain.
* **look-alike letters** (``reading``): a non-ASCII character that reads as Latin letters
  becomes them: its UTS #39 prototype (``skeleton``) when that is Latin, a Latin letter
  with a hook, stroke or tail or in small-capital form read as its base letter, and a few
  letters from ``_READS_AS``. Characters that read as nothing Latin are left alone.
* **overlay marks** (strokes and slashes drawn through letters) are dropped always.
* **accents** (``strip_marks``): combining marks dropped. The content check keeps them
  (its patterns fold accents on both sides, and Spanish patterns need them).
* **digits for letters**: see ``_STROKES`` and ``LEET`` below.

``reading`` gives readable text (the content check matches regexes against it).
``fold_key`` gives a comparison key (look-alike domains and display names compare keys):
``reading`` without accents, then the TR39 skeleton of everything left (``0`` -> ``o``,
``1``/``I``/``|`` -> ``l``, ``m`` -> ``rn``), the stroke letters made one, and the letter
pairs that render as one letter folded. The invariant the tests pin:
``fold_key(reading(s)) == fold_key(s)`` for every string, so the three checks agree on
what any string looks like.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from .unicode_data import data_text, invisible_class, parse_ranges, skeleton_table

_INVISIBLE = re.compile(invisible_class())

# The stroke letters: 1, l, I, | and i. TR39 gives 1, I and | the prototype l (the same
# vertical stroke); i differs by a dot a reader does not check, and in running text 1 is
# written for i ("w1n", "1nformation") at least as often as for l ("paypa1"). No single
# reading of "Dem1" is right, so comparison keys do not choose: all five are one letter,
# written "l" (TR39's prototype). "Dem1", "Deml", "DemI" and "Demi" have the key "deml"
# in every check. Readable text must choose a letter: there 1 inside a word reads as i
# (LEET), and its key is the same.
_STROKES = str.maketrans({"i": "l"})

# Digits written for letters in running text ("y0u", "c4n", "1nformation"). Used only where
# words are read (content): in names and domains a digit is as likely a number ("gop4",
# "dnc2024"); there only the look-alike digits 0 and 1 fold, through the skeleton.
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})

# Typographic punctuation that text patterns write in ASCII: apostrophes, quotes, dashes.
TYPOGRAPHY = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u00b4": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-",
    "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})

# Letter pairs that render as one letter in common sans-serif fonts. TR39 maps m to rn
# itself; keys fold the other way so m stays one character and edit distances stay
# comparable with the raw spelling.
LETTER_PAIRS = (("rn", "m"), ("nn", "m"), ("vv", "w"), ("cl", "d"))

# Letters that read as a Latin letter although their TR39 prototype is not Latin (TR39
# maps lower-case Cyrillic т, к, м, н and Greek ε, κ, τ to small capitals and other
# letters; casefolding produces exactly those from the capitals that imitate T, K, M, H,
# E), and Latin letters the base-letter rule misses (script g, alpha, dotless i/j).
_READS_AS: dict[str, str] = {
    "в": "b", "к": "k", "м": "m", "н": "h", "т": "t", "ԁ": "d", "ѡ": "w", "Ꮃ": "w",
    "β": "b", "γ": "y", "ε": "e", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "χ": "x",
    "ω": "w", "Ꮓ": "z", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ı": "i", "ȷ": "j",
    # Capitals imitating the Latin capital I (TR39: l) read as I does once case-folded.
    "І": "i", "Ι": "i",
}

_LATIN_VARIANT = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: WITH .*)?"
)


# Combining marks drawn *through* a letter (short and long stroke and solidus overlays, the
# long vertical line overlays): "v̶o̶t̶e̶" reads "vote" struck through, not an accented word.
# Dropped even where accents are kept. (The fold_key invariant holds: keys drop all marks.)
_OVERLAY_MARKS = dict.fromkeys([*range(0x0334, 0x0339), 0x20D2, 0x20D3, 0x20D8, 0x20D9,
                                0x20DA, 0x20E5, 0x20E6, 0x20EA, 0x20EB])


def strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``: NFD, every character replaced by its prototype, NFD."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", decomposed.translate(skeleton_table()))


def strip_marks(text: str) -> str:
    """``text`` without combining marks (accents), decomposed."""
    decomposed = unicodedata.normalize("NFD", text)
    if decomposed.isascii():
        return decomposed
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def base_letter(char: str) -> str:
    """A Latin letter with a hook, stroke, tail or in small-capital form reads as its base.

    TR39 leaves such letters (ɾ, ƈ, ᴍ, ʀ, ɢ) as their own prototypes; in a domain name
    shown at mail-client size they pass for r, c, m, r, g.
    """
    found = _LATIN_VARIANT.fullmatch(unicodedata.name(char, ""))
    return found.group(1).lower() if found else char


def _latin_reading(char: str) -> str:
    """The Latin letters ``char`` reads as (decomposed, marks kept), or ``char`` itself."""
    if char in _READS_AS:
        return _READS_AS[char]
    if base_letter(char) != char:  # before the skeleton, which maps ᴍ to Cyrillic м
        return base_letter(char)
    folded = "".join(c if c.isascii() or unicodedata.combining(c) else base_letter(c)
                     for c in skeleton(char))
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return folded if bare and bare.isascii() and bare.isalnum() else char


@functools.cache
def _latin_table() -> dict[int, str]:
    """``str.translate`` table of every non-ASCII character that reads as Latin letters.

    The candidates are the characters with a skeleton, the Latin-script letters and
    ``_READS_AS``; each maps to its reading. Applied to decomposed text, so precomposed
    letters are covered by their base letter.
    """
    candidates = set(skeleton_table()) | {ord(c) for c in _READS_AS}
    for first, last, script in parse_ranges(data_text("scripts.txt")):
        if script == "Latin":
            candidates.update(range(first, last + 1))
    table: dict[int, str] = {}
    for cp in sorted(candidates):
        if cp < 0x80:
            continue
        reading_ = _latin_reading(chr(cp))
        if reading_ != chr(cp):
            table[cp] = reading_
    return table


def reading(text: str, keep_accents: bool = False) -> str:
    """``text`` as a reader takes it: invisible characters removed, NFKC, look-alike letters
    made Latin, case folded; accents dropped unless ``keep_accents``. ASCII letters and
    digits are left as they are."""
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    if text.isascii():
        return text.casefold()
    text = unicodedata.normalize("NFD", text).translate(_OVERLAY_MARKS)
    table = _latin_table()
    text = unicodedata.normalize("NFD", text).translate(table).casefold()
    # Case folding turns capitals into small letters, some of them look-alikes too.
    text = unicodedata.normalize("NFD", text).translate(table)
    return unicodedata.normalize("NFC", text) if keep_accents else strip_marks(text)


def _letters_key(text: str) -> str:
    """``fold_key`` before the letter pairs and the strokes: for ASCII text, character by
    character (``_ascii_tables`` relies on it)."""
    key = strip_marks(skeleton(reading(text))).casefold()
    if not key.isascii():
        # The skeleton can map to a letter that has a reading of its own.
        key = strip_marks(key.translate(_latin_table())).casefold()
    return key


@functools.cache
def _ascii_tables() -> tuple[bytes, bytes, tuple[tuple[str, str], ...]]:
    """``_letters_key`` of each ASCII character, as a ``bytes.translate`` table for the
    characters whose key is one ASCII character, the characters it deletes, and the
    replacements for the few whose key is longer (``m`` -> ``rn``, ``"`` -> ``''``)."""
    table = bytearray(range(256))
    deleted = bytearray()
    longer = []
    for code in range(128):
        key = _letters_key(chr(code))
        if key == "":
            deleted.append(code)
        elif len(key) == 1 and key.isascii():
            table[code] = ord(key)
        elif key != chr(code):
            longer.append((chr(code), key))
    return bytes(table), bytes(deleted), tuple(longer)


def fold_key(text: str) -> str:
    """The comparison key of ``text``: what it looks like, for equality and edit distance."""
    if text.isascii():
        # The same key, in C: on ASCII every step before the letter pairs maps one
        # character at a time (NFKC and NFD leave ASCII alone), and a newsletter's text
        # is read here in full by the identity claim. A test compares both ways.
        table, deleted, longer = _ascii_tables()
        key = text.encode("ascii").translate(table, deleted).decode("ascii")
        for char, replacement in longer:
            if char in key:
                key = key.replace(char, replacement)
    else:
        key = _letters_key(text)
    for pair, single in LETTER_PAIRS:
        key = key.replace(pair, single)
    return key.translate(_STROKES)
