"""The visible warning: a banner added to the text and HTML parts of a message.

Only the displayed text leaves change: ``text/plain`` and ``text/html`` parts that are not
attachments (no ``attachment`` disposition, no file name), outside attached messages
(``message/rfc822``) and outside signed or encrypted containers (``multipart/signed``,
``multipart/encrypted``: a banner inside would break the signature the reader checks).

Everything else stays byte for byte as it came: the MIME tree is walked over the raw bytes
and only the byte ranges of the changed leaves are replaced, so boundaries, preambles,
epilogues, attachments and every untouched header line are exactly the original bytes.
The email package is used for what it does well (parameters, transfer decoding), never to
regenerate the message.

A changed leaf keeps its charset where the banner fits in it (otherwise it becomes UTF-8)
and its transfer encoding where that can carry the new text (7bit text that gains
non-ASCII characters becomes quoted-printable). Its ``Content-Type`` / ``Content-Transfer-
Encoding`` lines are rewritten only when they must change. For a single-part message those
headers are the message's own: the new values are returned for the milter to set, again
only when they changed. Broken MIME (a multipart without its boundary, a transfer encoding
we do not know) is left alone; ``add_banner`` then returns None rather than guess.

A forger writes the structure too, so a hostile part must not take the warning off the
parts a reader sees: parts are walked in document order, and a part that cannot be read
(header bytes the email package chokes on, a nested multipart without a usable boundary)
or that lies past the limits (``_MAX_DEPTH`` levels, ``_MAX_PARTS`` parts) is skipped
alone. The first text and HTML alternatives come first in that order, so they always
get the banner.

In HTML the place is chosen by an HTML5 parser (``banner_html``), never by searching the
text for ``<body>``, which a comment or a script can fake.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import logging
import quopri
import re
from dataclasses import dataclass, field

from .banner_html import insert_banner
from .message import Message

log = logging.getLogger(__name__)

_CRLF = b"\r\n"
_POLICY = email.policy.compat32
_MAX_PARTS = 200
_MAX_DEPTH = 20
_IDENTITY = ("7bit", "8bit", "binary", "")
_KNOWN_CTE = (*_IDENTITY, "base64", "quoted-printable")
_OPAQUE_MULTIPART = ("signed", "encrypted")


class _Broken(Exception):
    """The MIME structure cannot be followed: leave the message alone."""


@dataclass(frozen=True)
class BannerResult:
    body: bytes
    content_type: str = ""  # set when the top-level Content-Type must change
    content_transfer_encoding: str = ""  # set when the top-level CTE must change
    parts_changed: int = 0


@dataclass(frozen=True)
class _Fields:
    """The MIME header fields of one entity, parsed leniently."""

    content_type: str  # raw unfolded value, "" when absent
    cte: str  # lower-case token, "" when absent
    disposition: str  # raw unfolded value, "" when absent

    def parsed(self, default: str) -> email.message.Message:
        msg = email.message.Message(policy=_POLICY)
        msg.set_default_type(default)
        if self.content_type:
            msg["Content-Type"] = self.content_type
        if self.disposition:
            msg["Content-Disposition"] = self.disposition
        return msg


@dataclass
class _Edit:
    """A byte range of the body to replace, and header changes of a single-part root."""

    start: int
    end: int
    data: bytes
    root_headers: dict[str, str] = field(default_factory=dict)


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).strip(" \t")


def _fields_of(headers: tuple[tuple[str, str], ...]) -> _Fields:
    wanted = {"content-type": "", "content-transfer-encoding": "", "content-disposition": ""}
    for name, value in headers:
        key = name.rstrip(" \t").lower()
        if key in wanted and not wanted[key]:
            wanted[key] = _unfold(value)
    cte = wanted["content-transfer-encoding"].split(";")[0].strip().lower()
    return _Fields(wanted["content-type"], cte, wanted["content-disposition"])


def _is_displayed_text(fields: _Fields, msg: email.message.Message) -> bool:
    if msg.get_content_type() not in ("text/plain", "text/html"):
        return False
    if msg.get_content_disposition() == "attachment":
        return False
    # A text part with a file name is an attached file for most mail readers.
    return msg.get_filename() is None and msg.get_param("name") is None


def _split_entity(data: bytes) -> tuple[bytes, bytes] | None:
    """(header block with its final CRLF, body) of a MIME entity; None without a header end."""
    if data.startswith(_CRLF):
        return b"", data[2:]
    end = data.find(_CRLF + _CRLF)
    if end < 0:
        return None
    return data[: end + 2], data[end + 4 :]


def _delimiters(body: bytes, boundary: str) -> list[tuple[int, int, bool]]:
    """(start of the line break before, end of the delimiter line, closing?) per delimiter."""
    pattern = re.compile(
        rb"(?:^|\r\n)--" + re.escape(boundary.encode("utf-8", "surrogateescape"))
        + rb"(--)?[ \t]*(?:\r\n|$)"
    )
    found: list[tuple[int, int, bool]] = []
    pos = 0
    while True:
        match = pattern.search(body, pos)
        if match is None:
            return found
        found.append((match.start(), match.end(), match.group(1) is not None))
        if match.group(1) is not None:
            return found
        # the line break that ends a delimiter line may begin the next one
        pos = match.end() - 2 if body[match.end() - 2 : match.end()] == _CRLF else match.end()


class _Walker:
    def __init__(self, banner_text: str, banner_html: str) -> None:
        self.banner_text = banner_text
        self.banner_html = banner_html
        self.parts = 0
        self.edits: list[_Edit] = []

    def entity(self, headers: tuple[tuple[str, str], ...], header_block: bytes, body: bytes,
               offset: int, depth: int, default: str, root: bool) -> None:
        """Look at one entity whose body starts at ``offset`` of the message body."""
        self.parts += 1
        if self.parts > _MAX_PARTS or depth > _MAX_DEPTH:
            # the parts before this one (the ones a reader sees first) keep their banner
            log.info("banner: part %d (depth %d) past the limits, skipped", self.parts, depth)
            return
        try:
            fields = _fields_of(headers)
            msg = fields.parsed(default)
            if msg.get_content_maintype() == "multipart":
                self.multipart(msg, body, offset, depth)
                return
            if not _is_displayed_text(fields, msg) or fields.cte not in _KNOWN_CTE:
                return
            edit = _leaf_edit(header_block, body, fields, msg, self.banner_text,
                              self.banner_html, root)
        except _Broken:
            if root:
                raise
            log.info("banner: part %d skipped: broken MIME", self.parts)
            return
        except Exception:
            # The email package raises TypeError, UnicodeError or ValueError on hostile
            # header bytes (8-bit or NUL in parameters); only this part goes without.
            log.info("banner: part %d skipped: unreadable", self.parts, exc_info=True)
            return
        if edit is not None:
            new_header, new_body, changed = edit
            if root:
                self.edits.append(_Edit(offset, offset + len(body), new_body, changed))
            else:
                # the part starts with its header block and the empty line after it
                start = offset - len(header_block) - 2
                self.edits.append(_Edit(start, offset + len(body),
                                        new_header + _CRLF + new_body))

    def multipart(self, msg: email.message.Message, body: bytes, offset: int,
                  depth: int) -> None:
        if msg.get_content_subtype() in _OPAQUE_MULTIPART:
            return
        boundary = msg.get_boundary()
        if not boundary:
            raise _Broken("multipart without a boundary")
        marks = _delimiters(body, boundary)
        if not marks or marks[0][2]:
            raise _Broken("multipart without parts")
        default = "message/rfc822" if msg.get_content_subtype() == "digest" else "text/plain"
        ends = [*marks[1:], (len(body), 0, True)]
        for (_, line_end, _), (next_start, _, _) in zip(marks, ends, strict=True):
            part = body[line_end:next_start]
            split = _split_entity(part)
            if split is None:
                continue  # a part without a header end: not something a reader displays
            header_block, part_body = split
            headers = Message.from_bytes(header_block + _CRLF).headers if header_block else ()
            body_offset = offset + line_end + len(header_block) + 2
            self.entity(headers, header_block, part_body, body_offset, depth + 1, default,
                        root=False)


def _decode(payload: bytes, charset: str) -> str | None:
    try:
        return payload.decode(charset, "surrogateescape")
    except (LookupError, UnicodeError, ValueError):
        return None


def _encode(text: str, charset: str) -> bytes | None:
    try:
        return text.encode(charset, "surrogateescape")
    except (LookupError, UnicodeError, ValueError):
        return None


def _with_banner(text: str, subtype: str, banner_text: str, banner_html: str) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    if subtype == "html":
        return insert_banner(text, banner_html, newline)
    return banner_text.replace("\r\n", "\n").replace("\n", newline) + newline + newline + text


def _transfer_encode(data: bytes, cte: str) -> bytes:
    """``data`` (LF line ends) in transfer encoding ``cte``, with CRLF line ends."""
    if cte == "base64":
        return base64.encodebytes(data.replace(b"\n", _CRLF)).replace(b"\n", _CRLF)
    if cte == "quoted-printable":
        return quopri.encodestring(data).replace(b"\n", _CRLF)
    return data.replace(b"\n", _CRLF)


def _leaf_edit(header_block: bytes, body: bytes, fields: _Fields, msg: email.message.Message,
               banner_text: str, banner_html: str,
               root: bool) -> tuple[bytes, bytes, dict[str, str]] | None:
    """(new header block, new body, changed header values) for one displayed text leaf."""
    leaf = email.message_from_bytes(header_block + _CRLF + body, policy=_POLICY)
    try:
        payload = leaf.get_payload(decode=True)
    except (ValueError, binascii.Error, AssertionError):
        return None
    if not isinstance(payload, bytes):
        return None
    charset = msg.get_content_charset() or "us-ascii"
    text = _decode(payload, charset)
    if text is None:
        return None
    new_text = _with_banner(text, msg.get_content_subtype(), banner_text, banner_html)
    new_text = new_text.replace("\r\n", "\n")
    data = _encode(new_text, charset)
    if data is None or (not data.isascii() and charset.lower() in ("us-ascii", "ascii")):
        charset = "utf-8"
        data = _encode(new_text, charset)
        if data is None:
            return None
    cte = fields.cte
    if not data.isascii() and cte in ("7bit", "") and payload.isascii():
        # our text brought the first 8-bit bytes; a part that already carried them
        # undeclared (common with 8BITMIME) travels as it did
        cte = "quoted-printable"
    changed: dict[str, str] = {}
    if charset != (msg.get_content_charset() or "us-ascii"):
        ctype = email.message.Message(policy=_POLICY)
        ctype["Content-Type"] = fields.content_type or "text/plain"
        ctype.set_param("charset", charset)
        changed["Content-Type"] = str(ctype["Content-Type"])
    if cte != fields.cte:
        changed["Content-Transfer-Encoding"] = cte
    new_body = _transfer_encode(data, cte)
    # keep the original's last line break (the one before a delimiter belongs to it)
    if body.endswith(_CRLF) and not new_body.endswith(_CRLF):
        new_body += _CRLF
    elif not body.endswith(_CRLF) and new_body.endswith(_CRLF):
        new_body = new_body[:-2]
    if root:
        return header_block, new_body, changed
    return _rewrite_headers(header_block, changed), new_body, changed


def _rewrite_headers(header_block: bytes, changed: dict[str, str]) -> bytes:
    """The header block with only the changed fields replaced (or added), others as they were."""
    if not changed:
        return header_block
    fields = list(Message.from_bytes(header_block + _CRLF).headers) if header_block else []
    todo = dict(changed)
    out: list[tuple[str, str]] = []
    for name, value in fields:
        key = next((k for k in todo if k.lower() == name.rstrip(" \t").lower()), None)
        if key is None:
            out.append((name, value))
        else:
            out.append((name, " " + todo.pop(key)))
    out.extend((name, " " + value) for name, value in todo.items())
    return Message(tuple(out), b"", b"").as_bytes()


def add_banner(message: Message, banner_text: str, banner_html: str) -> BannerResult | None:
    """The new body with the banner in every displayed text part; None if nothing changed
    (no displayed text part, or MIME too broken to change safely)."""
    walker = _Walker(banner_text, banner_html)
    try:
        root_block = Message(message.headers, b"", b"").as_bytes()
        walker.entity(message.headers, root_block, message.body, 0, 0, "text/plain", root=True)
    except _Broken as exc:
        log.info("banner: message left unchanged: %s", exc)
        return None
    except Exception:
        log.warning("banner: message could not be walked; left unchanged", exc_info=True)
        return None
    if not walker.edits:
        return None
    body = message.body
    root_headers: dict[str, str] = {}
    for edit in sorted(walker.edits, key=lambda e: e.start, reverse=True):
        body = body[: edit.start] + edit.data + body[edit.end :]
        root_headers.update(edit.root_headers)
    return BannerResult(
        body=body,
        content_type=_unfold(root_headers.get("Content-Type", "")),
        content_transfer_encoding=root_headers.get("Content-Transfer-Encoding", ""),
        parts_changed=len(walker.edits),
    )
