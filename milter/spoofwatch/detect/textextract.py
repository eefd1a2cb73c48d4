"""The text a reader sees, read by the standard parser: :func:`extract_text`, :func:`read_text`.

:func:`extract_text` undoes what hides words from a filter but not from a reader:
transfer encodings, charsets (declared wrongly or not at all), HTML markup between
letters, character references, forwarded messages. It works on attacker-controlled input
and is bounded: it never raises and its running time is linear in the (capped) size of
what it reads.

:func:`read_text` is what the threat check uses on a :class:`spoofwatch.message.Message`:
the standard parser reads mail of ordinary shape; mail it must not be given (more parts
or nesting than :mod:`spoofwatch.mime` allows) or cannot read (it raised) is read by the
tolerant reader (:mod:`.tolerant_text`), and what could not be read the normal way is
reported, so a message we could not fully read is never rated lower than one we could.

What one leaf shows (text/plain, HTML, AMP, enriched text, PDF and DOCX attachments) is
decided in :mod:`.part_text`, for this reader and the tolerant one alike; a document that
could not be read is reported as an :class:`Unreadable` (limit ``attachment``).

The rest of the text layer: HTML rendering in :mod:`.html_text`, charsets in
:mod:`.charsets`, the shared budget and result types in :mod:`.text_reading`, and the
form threat patterns match (:func:`~.text_normalize.normalize_text`) in
:mod:`.text_normalize`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from .. import message as rawmessage
from ..mime import MAX_MIME_DEPTH, exceeds_parser_limits
from ..textsafe import decode_words
from .attachment_text import MAX_DOCUMENTS
from .part_text import (
    PartText,
    document_text,
    document_unreadable,
    encoded_cap,
    is_text,
    source_factor,
    text_part,
)
from .text_reading import Budget, TextReading, Unreadable
from .tolerant_text import ENCODED_MESSAGE_TYPES, read_text_tolerant

log = logging.getLogger(__name__)

__all__ = ["TextReading", "Unreadable", "extract_text", "read_text", "read_text_tolerant"]

# The walk is bounded by the limits of spoofwatch.mime (MAX_MIME_PARTS, MAX_MIME_DEPTH; the
# reasons are there). extract_text skips what lies beyond them; read_text hands such mail
# to the tolerant reader, which reads it as raw text and says so.


def _subject(msg: Message) -> str:
    """The Subject as shown to a reader: RFC 2047 encoded-words decoded, never raising.

    The raw header value is used (not the policy's parsed header object) because the
    email package's header parsing can raise or recurse deeply on hostile values.
    """
    try:
        for name, value in msg.raw_items():
            if name.lower() == "subject" and isinstance(value, str):
                return decode_words(value[: 16 * 1024])
    except Exception:
        log.debug("subject unreadable", exc_info=True)
    return ""


@dataclass
class _Attachments:
    """What the walk met besides text: documents read, and what could not be read."""

    documents: int = 0
    problems: list[Unreadable] = field(default_factory=list)


def _document(part: Message, max_chars: int, seen: _Attachments) -> PartText:
    """The text of a leaf that is not text, if it is a document (PDF, DOCX)."""
    raw = part.get_payload()
    if not isinstance(raw, str):
        return PartText("")
    # The parser keeps 8bit bodies as str with surrogate escapes (as its own decoding
    # undoes them); only as much as a document may be is converted.
    left = MAX_DOCUMENTS - seen.documents
    result = _read_before(part, max_chars) if left > 0 else None
    if result is None:
        encoded = raw[: encoded_cap() + 1].encode("ascii", errors="surrogateescape")
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        result = document_text(encoded, cte, max_chars, left, len(raw))
        if left > 0:
            _remember(part, max_chars, result)
    seen.documents += result.document
    if result.problem:
        seen.problems.append(document_unreadable(result.problem))
    return result


# The parsed tree is the message's own (rawmessage.Message.email() is parsed once), and the
# threat check and the identity claim both read it: a leaf's text is remembered on its part,
# so a part (a PDF above all) is read once per message, not once per check.
_MEMO = "_spoofwatch_document"
# The same for a text part (the identity claim reads every part but attached messages, the
# threat check all of them): (decoded size, source cap it was read with, its PartText).
_TEXT_MEMO = "_spoofwatch_text"


def _read_before(part: Message, room: int) -> PartText | None:
    """The text this part gave before, if it was read whole and fits ``room``."""
    memo = part.__dict__.get(_MEMO)
    if memo is None:
        return None
    read_with, result = memo
    if read_with == room or len(result.text) < min(read_with, room):
        return result  # the same room, or a text that no room cut short
    return None


def _remember(part: Message, room: int, result: PartText) -> None:
    part.__dict__[_MEMO] = (room, result)


def _leaf_text(part: Message, max_chars: int, seen: _Attachments) -> PartText | None:
    """What a leaf part shows the reader (``part_text``): the text of text parts (plain,
    HTML, AMP, enriched) and of document attachments; "" for anything else.

    None when the part is text but its payload could not be read.
    """
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001 - hostile Content-Type values
        ctype = "text/plain"
    if not is_text(ctype):
        return _document(part, max_chars, seen)
    cap = max_chars * source_factor(ctype)
    memo = part.__dict__.get(_TEXT_MEMO)
    if memo is not None:
        size, read_cap, result = memo
        if read_cap == cap or size <= min(read_cap, cap):
            return result  # read with the same cap, or whole both times
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        log.debug("payload not decodable", exc_info=True)
        return None
    if isinstance(payload, str):
        payload = payload.encode("utf-8", errors="replace")
    if not isinstance(payload, bytes):
        payload = b""
        result = PartText("")
    else:
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001 - hostile parameter syntax
            charset = None
        result = text_part(ctype, payload[:cap], charset)
    part.__dict__[_TEXT_MEMO] = (len(payload), cap, result)
    return result


def _walk(root: Message, budget: Budget, seen: _Attachments | None = None) -> None:
    """Depth-first, iteratively (no recursion on attacker-chosen depth).

    A part that raises is skipped and noted in ``budget.failures`` ("part"), and so are a
    limit reached ("limit") and a multipart without a boundary ("boundary"): the caller
    decides whether another reader must take over.
    """
    seen = seen if seen is not None else _Attachments()
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack and not budget.full():
        part, depth = stack.pop()
        budget.parts_left -= 1
        children: list[Message] = []
        try:
            if part.is_multipart():
                payload = part.get_payload()
                children = [p for p in payload if isinstance(p, Message)] if isinstance(
                    payload, list) else []
                if part.get_content_type() in ENCODED_MESSAGE_TYPES and str(
                        part.get("content-transfer-encoding", "")).strip().lower() in (
                        "base64", "quoted-printable"):
                    # An attached message sent encoded: the parser reads its encoded text
                    # as a message; the tolerant reader decodes it first.
                    budget.failures.append("encoded")
                    continue
                if part.get_content_type() == "message/rfc822":
                    # A forwarded message: its subject is part of what the reader sees.
                    for inner in children:
                        budget.add(_subject(inner))
            elif part.get_content_maintype() == "multipart":
                # multipart without a usable boundary (the parser keeps its body as one
                # string): only the tolerant reader reads such a body, and reports it.
                budget.failures.append("boundary")
            else:
                leaf = _leaf_text(part, budget.max_chars - budget.chars, seen)
                if leaf is None:
                    budget.failures.append("part")
                    leaf = PartText("")
                budget.add(leaf.text)
                budget.hidden_splits += leaf.hidden_splits
        except Exception:
            log.debug("part skipped", exc_info=True)
            budget.failures.append("part")
            continue
        if depth + 1 > MAX_MIME_DEPTH:
            if children:
                budget.failures.append("limit")
            continue
        # Reversed so the stack pops children in document order.
        stack.extend((child, depth + 1) for child in reversed(children))
    if stack and budget.parts_left <= 0:
        budget.failures.append("limit")


def extract_text(msg: EmailMessage | Message, max_chars: int = 200_000) -> str:
    """The decoded Subject and the text of every text part (plain, HTML, AMP, enriched)
    and document attachment (PDF, DOCX).

    Transfer encodings and charsets are decoded (unknown or wrong charsets give U+FFFD,
    never an error), HTML is rendered to text, attached message/rfc822 parts are read
    recursively (their Subject too). At most ``max_chars`` characters are returned and
    at most a bounded number of parts and nesting levels are visited. Never raises.
    """
    budget = Budget(max_chars=max(0, max_chars))
    try:
        budget.add(_subject(msg))
        _walk(msg, budget)
    except Exception:
        log.debug("text extraction stopped early", exc_info=True)
        budget.failures.append("part")
    return budget.text()


def _read_standard(message: rawmessage.Message, budget: Budget,
                   problems: list[Unreadable], seen: _Attachments) -> bool:
    """Read ``message`` with the standard parser; False when the tolerant reader must."""
    try:
        parsed = message.email()
    except Exception as exc:  # noqa: BLE001 - RecursionError on hostile parameters or nesting
        log.info("standard MIME parser failed (%s); using the tolerant reader",
                 type(exc).__name__)
        problems.append(Unreadable(
            "mime_parser", f"The standard MIME parser could not read the message "
            f"({type(exc).__name__}); its text was read by the tolerant reader.",
            (("limit", "mime_parser"), ("error", type(exc).__name__))))
        return False
    budget.add(_subject(parsed))
    try:
        _walk(parsed, budget, seen)
    except Exception:
        log.debug("standard walk stopped", exc_info=True)
        budget.failures.append("part")
    if not budget.failures:
        return True
    failed = budget.failures.count("part")
    if failed:
        problems.append(Unreadable(
            "mime_part", f"{failed} MIME part(s) could not be read by the standard parser; "
            "the message was read by the tolerant reader.",
            (("limit", "mime_part"), ("parts", str(failed)))))
    # A limit reached here is reported by the tolerant reader, which reads past it.
    return False


def beyond_parser(message: rawmessage.Message) -> bool:
    """``mime.exceeds_parser_limits`` of the message's body, remembered on the message: the
    identity claim and the threat check both ask, and on a large body the scan is not free."""
    known = message.__dict__.get("_spoofwatch_beyond_parser")
    if known is None:
        known = exceeds_parser_limits(message.body)
        object.__setattr__(message, "_spoofwatch_beyond_parser", known)
    return bool(known)


def read_text(message: rawmessage.Message, max_chars: int = 200_000) -> TextReading:
    """The text a reader sees (as :func:`extract_text`), and what could not be read.

    Mail whose shape could exceed the MIME limits never reaches the standard parser (it
    is what is slow on such mail); mail on which it raises or a part of which it cannot
    read is read again by the tolerant reader. Never raises; linear time.
    """
    problems: list[Unreadable] = []
    if not beyond_parser(message):
        budget = Budget(max_chars=max(0, max_chars))
        seen = _Attachments()
        if _read_standard(message, budget, problems, seen):
            # (documents the tolerant reader reads again are reported by it instead)
            return TextReading(budget.text(), tuple(seen.problems),
                               hidden_splits=budget.hidden_splits)
    return read_text_tolerant(message, max_chars, tuple(problems))
