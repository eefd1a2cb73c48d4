"""The sender's own text, folded, and the lines of it that could claim an identity.

``identity_claim`` reads what the *sender* wrote, not what they pass on:

* attached messages (``message/rfc822``) are left out: a voter forwarding the threat as an
  attachment and asking "is this real?" does not claim to be its author;
* inline forwards and replies are cut at their marker ("---------- Forwarded message
  ----------", "-----Original Message-----", "Begin forwarded message:", "On ... wrote:",
  "Mensaje reenviado", "El ... escribió:"): everything after the first one is passed on;
* lines quoted with ``>`` are left out.

The text comes from the text layer (``textextract``: transfer encodings, charsets, HTML
rendered with hidden text dropped) and is folded once, whole, by ``text`` (``fold_key``:
case, invisible characters, look-alike letters, accents, letter pairs; letter-spaced words
joined; digits read as letters), so every check compares keys, never raw spellings.

Finding the lines is linear: the folded text is searched for the organizations' names with
separators removed (``P r o u d  B o y s``); only blocks that hold one are split further,
down to single lines, so padding of any size costs C-speed string scans, not Python work
per line (and no list of every line is ever built).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from .. import message as rawmessage
from ..text import LEET, fold_key, join_spaced_letters, visual_order
from ..textsafe import decode_words
from .name_reading import fold_pairs
from .textextract import beyond_parser, extract_text, read_text

log = logging.getLogger(__name__)

# Everything but key letters, digits and line breaks: removed to find names written with
# any spacing. One character class, so the substitution is linear.
_NOT_KEY = re.compile(r"[^a-z0-9\n]+")
# Blocks of the folded text at most this long are split into their lines.
_BLOCK = 4096


def fold(text: str) -> str:
    """``text`` as comparison keys, line breaks kept: right-to-left runs in the order shown,
    digits written for letters read as letters, the text layer's key (``fold_key``:
    invisible characters, look-alike letters, accents, case), then letter-spaced words
    joined. Joining after folding keeps one pass of ``reading`` (the costly part on
    accented text); a spaced "r n c" joins to "rnc", and every comparison folds letter
    pairs across words (``fold_pairs``), so it reads as RNC's key all the same."""
    return join_spaced_letters(fold_key(visual_order(text).translate(LEET)))


def compact(key: str) -> str:
    """Folded text without separators (line breaks kept), letter pairs folded across the
    former word boundaries as ``fold_key`` folds them inside a word."""
    return fold_pairs(_NOT_KEY.sub("", key))


def _subject(message: rawmessage.Message) -> str:
    values = message.get_all("Subject")
    return decode_words(values[0][: 16 * 1024]) if values else ""


def own_text(message: rawmessage.Message, max_chars: int) -> str:
    """The subject and the text of every part except attached messages.

    Mail the standard parser must not be given (or cannot read) is read whole by
    ``read_text``, attached messages included: hostile structure is not a voter's forward.
    """
    if beyond_parser(message):
        return read_text(message, max_chars).text
    try:
        root = message.email()
    except Exception:  # noqa: BLE001 - the tolerant reader takes over, as in read_text
        return read_text(message, max_chars).text
    pieces = [_subject(message)]
    left = max_chars - len(pieces[0])
    stack: list[Message] = [root]
    while stack and left > 0:
        part = stack.pop()
        try:
            if part.get_content_type() == "message/rfc822":
                continue  # passed on, not written by the sender
            if part.is_multipart():
                payload = part.get_payload()
                if isinstance(payload, list):
                    stack.extend(p for p in reversed(payload) if isinstance(p, Message))
                continue
            piece = extract_text(part, left)
        except Exception:  # a hostile part is skipped, as read_text skips it
            log.debug("part skipped", exc_info=True)
            continue
        pieces.append(piece)
        left -= len(piece) + 1
    return "\n".join(pieces)


# Markers after which a message passes on someone else's text, as keys. A whole line that
# starts with "on"/"el" and ends with "wrote:"/"escribió:" is a reply's attribution line.
_FORWARD_MARKERS = tuple(fold(m) for m in (
    "forwarded message", "original message", "begin forwarded message", "forwarded by",
    "mensaje reenviado", "mensaje original", "mensaje remitido", "message transféré",
))
_WROTE = ((fold("wrote:"), (fold("on "),)),
          (fold("escribió:"), (fold("el "), fold("en "))))


def _attribution_line(key: str, word: str, starts: tuple[str, ...]) -> int:
    """Start of the first line that begins with one of ``starts`` and ends with ``word``
    (-1 if none). Each line is looked at once, however often ``word`` occurs in it."""
    at = key.find(word)
    while at >= 0:
        line_start = key.rfind("\n", 0, at) + 1
        line_end = key.find("\n", at)
        line_end = len(key) if line_end < 0 else line_end
        line = key[line_start:line_end].strip()
        if line.endswith(word) and line.startswith(starts):
            return line_start
        at = key.find(word, line_end)
    return -1


# A mail client's header block above a forwarded or replied-to message ("From: ...",
# "Sent: ...", "Subject: ..." in Outlook's style), by the line that ends it.
_HEADER_BLOCK_END = tuple(fold(m) for m in ("\nsubject:", "\nasunto:", "\nobjet:"))
_HEADER_BLOCK_FROM = tuple(fold(m) for m in ("from:", "de:", "von:"))
_HEADER_BLOCK_LINES = 5
# A voter's or a reporter's lead-in: the text after the line that holds one is passed on
# ("Is this real? Got this today:", "Voters received emails reading:"). A forger who opens
# with one loses this finding, not the others (docs/detection.md).
_PASSING_ON = tuple(fold(m) for m in (
    "is this real", "is it real", "is this legit", "is this a scam", "i got this",
    "got this today", "i received this", "received an email", "received emails",
    "received a text", "reading:",
    "said:", "says:", "wrote:", "es real", "me llegó", "recibí este", "recibieron correos",
    "decía:", "dice:", "escribió:",
))


def _header_block(key: str) -> int:
    """Start of the first header block that names its sender ("From:" within a few lines
    above "Subject:"), or -1. At most 100 "Subject:" lines are looked at."""
    for end_marker in _HEADER_BLOCK_END:
        at = key.find(end_marker)
        for _ in range(100):
            if at < 0:
                break
            begin = at
            for _ in range(_HEADER_BLOCK_LINES):
                if begin <= 0:
                    break
                begin = key.rfind("\n", 0, begin)  # -1: the text's first line
                line = key[begin + 1:key.find("\n", begin + 1)].lstrip()
                if line.startswith(_HEADER_BLOCK_FROM):
                    return begin + 1
            at = key.find(end_marker, at + 1)
    return -1


def _passed_on_after_lead(key: str) -> int:
    """Start of the line after the first one holding a passing-on lead-in, or -1."""
    hits = [at for at in (key.find(phrase) for phrase in _PASSING_ON) if at >= 0]
    if not hits:
        return -1
    end = key.find("\n", min(hits))
    return -1 if end < 0 else end + 1


def forward_start(key: str) -> int:
    """Where passed-on text starts in the folded text (its length when nowhere)."""
    found = [key.find(marker) for marker in _FORWARD_MARKERS]
    found += [_attribution_line(key, word, starts) for word, starts in _WROTE]
    found += [_header_block(key), _passed_on_after_lead(key)]
    hits = [at for at in found if at >= 0]
    if not hits:
        return len(key)
    return key.rfind("\n", 0, min(hits)) + 1  # the marker's whole line is passed on


def _has_word(text: str, word: str) -> bool:
    """Is ``word`` in ``text`` as a whole word (no letter or digit on either side)?"""
    at = text.find(word)
    while at >= 0:
        after = at + len(word)
        if ((at == 0 or not text[at - 1].isalnum())
                and (after == len(text) or not text[after].isalnum())):
            return True
        at = text.find(word, at + 1)
    return False


@dataclass(frozen=True)
class NameKeys:
    """What a line that could claim an organization holds. ``runs``: names of several
    words, found with separators removed ("P r o u d  B o y s", "ProudBoys"). ``words``:
    acronyms, found as whole words, and for two letters also spelt with one separator
    ("P.B.", "P B"; three or more spaced letters are joined by the text layer). An acronym
    is not looked for inside runs: "dnc", "eac", "gop" are in the letters of ordinary
    text ("peace", "from candidates" holds "mc", RNC's key) and made every line a
    candidate."""

    runs: tuple[str, ...]
    words: tuple[str, ...]

    @classmethod
    def of(cls, runs: tuple[str, ...], acronyms: tuple[str, ...]) -> NameKeys:
        words = list(acronyms)
        words += [sep.join(a) for a in acronyms if len(a) == 2 for sep in " .-"]
        return cls(runs, tuple(dict.fromkeys(words)))

    def held_by(self, text: str) -> bool:
        if self.runs:
            flat = compact(text)
            if any(name in flat for name in self.runs):
                return True
        return any(_has_word(text, word) for word in self.words)


def candidate_lines(key: str, end: int, names: NameKeys) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of ``key[:end]`` that holds one of ``names``, in order.
    Blocks without one are dropped after one scan; a block with one is halved at a line
    break until blocks are single lines or short enough to split."""
    stack = [(0, end)]
    while stack:
        start, stop = stack.pop()
        if not names.held_by(key[start:stop]):
            continue
        if stop - start > _BLOCK:
            middle = key.find("\n", (start + stop) // 2, stop)
            if middle >= 0:
                stack.append((middle + 1, stop))
                stack.append((start, middle))
                continue
            middle = key.rfind("\n", start, (start + stop) // 2)
            if middle >= 0:
                stack.append((middle + 1, stop))
                stack.append((start, middle))
                continue
        at = start
        for line in key[start:stop].split("\n"):
            if names.held_by(line):
                yield at, at + len(line)
            at += len(line) + 1


def previous_line(key: str, start: int, skip_blank: int = 3) -> str:
    """The nearest non-blank line before the one starting at ``start`` (at most
    ``skip_blank`` blank lines apart), or ""."""
    end = start - 1
    for _ in range(skip_blank + 1):
        if end < 0:
            return ""
        begin = key.rfind("\n", 0, end) + 1
        line = key[begin:end].strip()
        if line:
            return line
        end = begin - 1
    return ""


def is_quoted_line(line: str) -> bool:
    """A line a mail client marks as quoted ("> ..."). (A "|" bar folds to "l" in keys;
    it is not a mark clients add to text/plain replies.)"""
    return line.lstrip().startswith(">")


# A quotation mark as claim_grammar's tokens read one: a run of apostrophes (a straight or
# curly double quote folds to two) or a lone one not between letters, or a guillemet. Each
# alternative starts with a distinct character: linear.
_QUOTE_MARK = re.compile(r"''+|[«»\"]|(?<![a-z0-9])'|'(?![a-z0-9])")
QUOTE_LINES = 3  # lines of the paragraph before a line that may open a quotation it is in


def quoted_before(key: str, start: int) -> bool:
    """Does a quotation opened in the (at most ``QUOTE_LINES``) lines of the paragraph
    before the line at ``start`` stay open? Looking back a few lines, not to the start of
    the paragraph: one stray quotation mark must not silence a whole message, and the cost
    stays linear (each line is looked at for at most ``QUOTE_LINES`` lines after it)."""
    begin = start
    for _ in range(QUOTE_LINES):
        if begin <= 0:
            break
        previous = key.rfind("\n", 0, begin - 1) + 1
        if not key[previous:begin - 1].strip():
            break  # a blank line ends the paragraph
        begin = previous
    return sum(1 for _ in _QUOTE_MARK.finditer(key, begin, start)) % 2 == 1
