"""``image_only``: the message shows its reader images and (almost) no text.

A forger who knows we read every text part puts the threat in a picture: the reader sees
it, the filter reads nothing, and silence looks like innocence. We do not read images
(no OCR), so we say what we saw: a message whose only content is images, with no text
outside image ``alt`` text and tooltips. Weak and not spoof evidence (weight 1 by
default): legitimate mail is sometimes a single flyer image, and alone the finding stays
below every policy's ``suspect`` threshold; it adds to other evidence.

Counted as text: letters and digits of text/plain, HTML (rendered, hidden text not
counted), AMP and enriched parts, except alt text and tooltips; at least
:data:`MIN_TEXT_CHARS` of them mean the message carries text. A message with a document
attachment (read as text by the threat check) or with parts past the MIME limits (read as
raw text) is not image-only. The subject does not count: every message has one.

Cost: one structure walk (:func:`spoofwatch.mime.walk`, linear, no decoding) and at most
the first :data:`_SOURCE_BYTES` of each text part decoded and rendered, stopping at the
first part that carries text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..message import Message
from ..mime import Leaf, RawText, walk
from ..results import Finding
from .part_text import is_text, text_part, transfer_decode

log = logging.getLogger(__name__)

__all__ = ["MIN_TEXT_CHARS", "ImageContent", "image_content", "image_only_findings"]

# Letters and digits outside alt text that make a message "carry text". An image-only
# mail often has one line such as "View this email in your browser" (27); a legitimate
# image newsletter carries at least a footer (sender, postal address, unsubscribe: well
# over 40).
MIN_TEXT_CHARS = 40
# Decoded source of one text part looked at: 40 letters of visible text show up long
# before (a forger who pads with visible text has text, and no image_only to avoid).
_SOURCE_BYTES = 64 * 1024
# What str.isalnum() rejects: [^\W_] is exactly the characters for which it is true, so
# removing the rest and measuring counts them in C, not a Python step per character.
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class ImageContent:
    images: int  # image parts and images shown by HTML
    text_chars: int  # letters and digits outside alt text (counted up to MIN_TEXT_CHARS)
    other_parts: int  # documents and other attachments, raw text past limits


def _count(leaf: Leaf, body: bytes) -> tuple[int, int]:
    """(images, text characters) of one text leaf."""
    source = body[leaf.start:min(leaf.end, leaf.start + 2 * _SOURCE_BYTES + 1024)]
    payload = transfer_decode(source, leaf.fields.cte)[:_SOURCE_BYTES]
    part = text_part(leaf.fields.content_type, payload, leaf.fields.charset or None)
    chars = len(_NOT_ALNUM.sub("", part.text)) - part.alt_chars  # letters and digits
    return part.images, max(0, chars)


def image_content(message: Message) -> ImageContent:
    """What the message shows: images, text and other parts. Never raises."""
    images = chars = others = 0
    try:
        for event in walk(message.headers, message.body):
            if isinstance(event, RawText):
                others += 1
            elif isinstance(event, Leaf):
                ctype = event.fields.content_type
                if event.fields.maintype == "image":
                    images += 1
                elif is_text(ctype):
                    found, text = _count(event, message.body)
                    images, chars = images + found, chars + text
                else:
                    others += 1
            if chars >= MIN_TEXT_CHARS or others:
                break
    except Exception:  # a defect here must not stop the other checks
        log.debug("image_only: message not read", exc_info=True)
        return ImageContent(0, 0, 1)
    return ImageContent(images, chars, others)


def image_only_findings(message: Message, weight: Callable[[str], float]) -> list[Finding]:
    content = image_content(message)
    if not content.images or content.other_parts or content.text_chars >= MIN_TEXT_CHARS:
        return []
    return [Finding(
        "image_only", weight("image_only"),
        f"The message shows {content.images} image(s) and almost no text "
        f"({content.text_chars} letters outside image descriptions); text in images is "
        "not read.",
        detail=(("images", str(content.images)), ("text_chars", str(content.text_chars))),
    )]
