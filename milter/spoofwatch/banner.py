"""The visible warning: a banner added to the text and HTML parts of a message.

The MIME structure is kept: only leaf ``text/plain`` and ``text/html`` parts that are not
attachments change, each keeping its transfer encoding where it can carry the new text
(a 7bit part that gains non-ASCII text becomes quoted-printable), and each keeping its
charset where the banner fits in it (otherwise it becomes UTF-8). The top-level headers
are never regenerated; when the message is a single text part whose encoding had to
change, the new Content-Type / Content-Transfer-Encoding are returned for the milter to set.

Written with the standard ``email`` package (compat32, so untouched parts are emitted as
they came): no library does "insert a notice into every displayed part" safely.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import quopri
import re
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message as EmailMessage
from io import BytesIO

from .message import Message

log = logging.getLogger(__name__)

_POLICY = email.policy.compat32.clone(linesep="\r\n")
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.I)
_MAX_PARTS = 200


@dataclass(frozen=True)
class BannerResult:
    body: bytes
    content_type: str = ""  # set when the top-level Content-Type must change
    content_transfer_encoding: str = ""
    parts_changed: int = 0


def _is_attachment(part: EmailMessage) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment"


def _charset_can_encode(charset: str, text: str) -> bool:
    try:
        text.encode(charset)
    except (LookupError, UnicodeError):
        return False
    return True


def _decoded_text(part: EmailMessage) -> tuple[str, str] | None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset), charset
    except (LookupError, UnicodeDecodeError):
        return None  # an unknown charset or undecodable bytes: leave the part alone


def _with_banner(text: str, subtype: str, banner_text: str, banner_html: str) -> str:
    if subtype == "html":
        match = _BODY_TAG.search(text)
        if match:
            return text[: match.end()] + banner_html + text[match.end():]
        return banner_html + text
    newline = "\r\n" if "\r\n" in text else "\n"
    return banner_text.replace("\n", newline) + newline + newline + text


def _set_text(part: EmailMessage, text: str, charset: str) -> None:
    """Replace a part's text, keeping its charset and transfer encoding where possible."""
    old_cte = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    if charset.lower() in ("us-ascii", "ascii") or not _charset_can_encode(charset, text):
        charset = "us-ascii" if text.isascii() else "utf-8"
    data = text.replace("\r\n", "\n").encode(charset)
    if old_cte in ("base64", "quoted-printable"):
        cte = old_cte
    elif data.isascii():
        cte = "7bit" if old_cte in ("7bit", "") else old_cte
    else:
        cte = "8bit" if old_cte in ("8bit", "binary") else "quoted-printable"
    if cte == "base64":
        payload = base64.encodebytes(data).decode("ascii")
    elif cte == "quoted-printable":
        payload = quopri.encodestring(data).decode("ascii")
    else:
        # BytesGenerator writes str payloads back with surrogateescape: raw 8-bit survives
        payload = data.decode("ascii", "surrogateescape")
    part.set_payload(payload)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = cte
    if part.get_param("charset") is not None or charset != "us-ascii":
        part.set_param("charset", charset)


def add_banner(message: Message, banner_text: str, banner_html: str) -> BannerResult | None:
    """The new body with the banner in every displayed text part; None if nothing changed."""
    try:
        root = email.message_from_bytes(message.as_bytes(), policy=_POLICY)
    except Exception:  # noqa: BLE001 - the email package can fail on hostile input
        log.warning("banner: message could not be parsed; left unchanged", exc_info=True)
        return None
    html_banner = banner_html
    changed = 0
    for count, part in enumerate(root.walk()):
        if count > _MAX_PARTS:
            break
        if part.is_multipart() or _is_attachment(part):
            continue
        if part.get_content_maintype() != "text":
            continue
        subtype = part.get_content_subtype()
        if subtype not in ("plain", "html"):
            continue
        decoded = _decoded_text(part)
        if decoded is None:
            continue
        text, charset = decoded
        _set_text(part, _with_banner(text, subtype, banner_text, html_banner), charset)
        changed += 1
    if not changed:
        return None
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0, policy=_POLICY).flatten(root)
    generated = out.getvalue()
    head, sep, body = generated.partition(b"\r\n\r\n")
    if not sep:
        return None
    result = BannerResult(body=body, parts_changed=changed)
    if not root.is_multipart():
        original = message.email()
        before = (original.get_content_type(), (original.get_content_charset() or "us-ascii"),
                  str(original.get("Content-Transfer-Encoding", "7bit")).strip().lower())
        after = (root.get_content_type(), (root.get_content_charset() or "us-ascii"),
                 str(root.get("Content-Transfer-Encoding", "7bit")).strip().lower())
        if before != after:
            result = BannerResult(body, str(root.get("Content-Type", "")), after[2], changed)
    return result

