"""The tolerant reader's text: mail the standard parser must not be given, or could not read.

:func:`read_text_tolerant` follows :func:`spoofwatch.mime.walk` over the raw bytes: parts
past the MIME limits and parts that cannot be decoded are read as raw text (MIME lines
dropped, HTML rendered), and each such event is reported as an :class:`.Unreadable`, so a
message we could not fully read is never rated lower than one we could. Leaves are read as
the standard reader reads them (:mod:`.part_text`: text parts, PDF and DOCX attachments).
"""

from __future__ import annotations

import itertools
import logging
import re

from .. import message as rawmessage
from ..mime import MAX_MIME_DEPTH, MAX_MIME_PARTS, Leaf, LimitReached, RawText, Subject, walk
from ..textsafe import decode_words
from .attachment_text import MAX_DOCUMENTS
from .html_text import html_to_text
from .part_text import (
    PartText,
    document_text,
    document_unreadable,
    encoded_cap,
    is_text,
    source_factor,
    text_part,
    transfer_decode,
)
from .raw_documents import raw_documents
from .text_reading import HTML_SOURCE_FACTOR, Budget, TextReading, Unreadable

log = logging.getLogger(__name__)

__all__ = ["read_text_tolerant"]

_LIMIT_SENTENCES = {
    "mime_parts": (MAX_MIME_PARTS, "The message has more than {n} MIME parts; the parts "
                                   "after the {n}th were read as raw text."),
    "mime_depth": (MAX_MIME_DEPTH, "The MIME structure is nested deeper than {n} levels; "
                                   "the deeper parts were read as raw text."),
    "mime_boundary": (0, "A multipart part declares no usable boundary; its body was read "
                         "as raw text."),
}
# Attached messages sent base64- or quoted-printable-encoded (RFC 2046 forbids it; mail
# clients decode and show them all the same) are decoded and read. Each level of such
# encoding is a new message to parse, so the levels are bounded; deeper ones are reported.
MAX_ENCODED_MESSAGES = 3
ENCODED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_ENCODINGS = frozenset({"base64", "quoted-printable"})
# Raw text (past a limit, or a part that could not be decoded) is read at most this many
# times the remaining character budget, after MIME delimiter and header lines are dropped.
_RAW_SOURCE_FACTOR = 32
_RAW_STRUCTURE_LINE = re.compile(
    rb"(?im)^(?:--[^\r\n]*|(?:content-[a-z0-9-]*|mime-version)[ \t]*:[^\r\n]*)(?:\r\n|\r|\n)?")
_LOOKS_LIKE_HTML = re.compile(rb"<(?:[a-zA-Z][a-zA-Z0-9]*[\s/>]|!--)")


def _limit_unreadable(event: LimitReached) -> Unreadable:
    value, sentence = _LIMIT_SENTENCES[event.limit]
    detail = (("limit", event.limit),) + ((("max", str(event.value)),) if value else ())
    return Unreadable(event.limit, sentence.format(n=value), detail)


def _raw_text(data: bytes, room: int) -> str:
    """Bytes read as plain text, the last resort: MIME delimiter and header lines dropped,
    HTML rendered if it looks like HTML, empty lines and repeats of the line before dropped.

    Dropping repeats loses nothing a threat score counts (a category counts fifty copies
    like one) and keeps padding (a hundred thousand parts of "x" in front of the threat)
    from filling the character budget before the text that matters.
    """
    data = _RAW_STRUCTURE_LINE.sub(b"", data[: room * _RAW_SOURCE_FACTOR])
    data = data[: room * HTML_SOURCE_FACTOR]
    text = data.decode("utf-8", errors="replace")
    if _LOOKS_LIKE_HTML.search(data):
        text = html_to_text(text)
    lines = (line for line, _ in itertools.groupby(filter(None, map(str.strip,
                                                                     text.splitlines()))))
    return "\n".join(lines)[: room * 2]


def _tolerant_leaf_text(leaf: Leaf, body: bytes, room: int, documents_left: int) -> PartText:
    """What the part shows the reader (``part_text``)."""
    ctype = leaf.fields.content_type
    if not is_text(ctype):
        source = body[leaf.start:min(leaf.end, leaf.start + encoded_cap() + 1)]
        return document_text(source, leaf.fields.cte, room, documents_left,
                             leaf.end - leaf.start)
    cap = room * source_factor(ctype)
    # Encoded source is longer than what it decodes to (base64 4:3, plus line breaks).
    source = body[leaf.start:min(leaf.end, leaf.start + 2 * cap + 1024)]
    payload = transfer_decode(source, leaf.fields.cte)[:cap]
    return text_part(ctype, payload, leaf.fields.charset or None)


def _root_subject(headers: tuple[tuple[str, str], ...]) -> str:
    for name, value in headers:
        if name.rstrip(" \t").lower() == "subject":
            return _subject_text(value)
    return ""


def _subject_text(value: str) -> str:
    try:
        return decode_words(re.sub(r"\r?\n", "", value[: 16 * 1024]))
    except Exception:  # a subject never stops the reading
        log.debug("subject unreadable", exc_info=True)
        return ""


def _read_tolerant(message: rawmessage.Message, budget: Budget,
                   problems: list[Unreadable], depth: int = 0,
                   documents: list[int] | None = None) -> None:
    """Read ``message`` with the tolerant walker; failures are caught per part.

    ``depth``: how many encoded attached messages this one is inside; ``documents``: the
    documents read so far in the whole message (MAX_DOCUMENTS per message)."""
    body = message.body
    documents = documents if documents is not None else [0]
    budget.add(_root_subject(message.headers))
    try:
        for event in walk(message.headers, body):
            if budget.full():
                return
            if isinstance(event, LimitReached):
                problems.append(_limit_unreadable(event))
            elif isinstance(event, Subject):
                budget.add(_subject_text(event.value))
            elif isinstance(event, RawText):
                budget.add(_raw_text(body[event.start:event.end], budget.room()))
                _read_raw_documents(body[event.start:event.end], budget, problems,
                                    documents)
            elif (event.fields.content_type in ENCODED_MESSAGE_TYPES
                  and event.fields.cte in _ENCODINGS):
                _read_encoded_message(body[event.start:event.end], event.fields.cte, budget,
                                      problems, depth + 1, documents)
            else:
                _read_leaf(event, body, budget, problems, documents)
    except Exception:
        # A defect of the walker itself must not cost the text: read the body as raw text.
        log.warning("tolerant MIME reader failed; reading the raw text", exc_info=True)
        problems.append(Unreadable(
            "mime_reader", "The MIME structure could not be followed; the message was read "
            "as raw text.", (("limit", "mime_reader"),)))
        budget.add(_raw_text(body, budget.room()))


def _read_encoded_message(source: bytes, cte: str, budget: Budget,
                          problems: list[Unreadable], depth: int,
                          documents: list[int]) -> None:
    """An attached message sent transfer-encoded: decoded and read as a message."""
    if depth > MAX_ENCODED_MESSAGES:
        problems.append(Unreadable(
            "encoded_message", f"An attached message is encoded inside more than "
            f"{MAX_ENCODED_MESSAGES} levels of encoded messages; the deeper ones were not "
            "read.", (("limit", "encoded_message"), ("max", str(MAX_ENCODED_MESSAGES)))))
        return
    room = budget.room()
    inner = rawmessage.Message.from_bytes(
        transfer_decode(source[: 2 * room * HTML_SOURCE_FACTOR + 1024], cte))
    nested = Budget(max_chars=room, parts_left=2**62)
    _read_tolerant(inner, nested, problems, depth, documents)
    budget.add(nested.text())
    budget.hidden_splits += nested.hidden_splits


def _read_raw_documents(data: bytes, budget: Budget, problems: list[Unreadable],
                        documents: list[int]) -> None:
    """Documents among the parts read as raw text (past a MIME limit)."""
    for part in raw_documents(data, budget.room(), MAX_DOCUMENTS - documents[0]):
        documents[0] += 1
        if part.problem:
            problems.append(document_unreadable(part.problem))
        budget.add(part.text)


def _read_leaf(leaf: Leaf, body: bytes, budget: Budget, problems: list[Unreadable],
               documents: list[int]) -> None:
    try:
        part = _tolerant_leaf_text(leaf, body, budget.room(), MAX_DOCUMENTS - documents[0])
        documents[0] += part.document
        if part.problem:
            problems.append(document_unreadable(part.problem))
        budget.add(part.text)
        budget.hidden_splits += part.hidden_splits
    except Exception as exc:
        log.debug("MIME part not decodable; reading its raw text", exc_info=True)
        problems.append(Unreadable(
            "mime_part", f"A {leaf.fields.content_type} part could not be decoded "
            f"({type(exc).__name__}); its raw text was read instead.",
            (("limit", "mime_part"), ("error", type(exc).__name__))))
        budget.add(_raw_text(body[leaf.start:leaf.end], budget.room()))


def read_text_tolerant(message: rawmessage.Message, max_chars: int = 200_000,
                       problems: tuple[Unreadable, ...] = ()) -> TextReading:
    """The text a reader sees, read by the tolerant reader alone (``problems``: what was
    found before; what this reading meets is added). Never raises; linear time."""
    found = list(problems)
    # parts are counted by the walker itself (mime.MAX_MIME_PARTS), not by the budget
    budget = Budget(max_chars=max(0, max_chars), parts_left=2**62)
    _read_tolerant(message, budget, found)
    return TextReading(budget.text(), tuple(found), budget.hidden_splits)
