"""milter.max_message_size: how a message's size is counted and what a message over it keeps.

One definition for both shells: the milter counts a message's size while it arrives (and
stops keeping its body once it is over the limit), ``scan`` counts the file it reads, and
``analyze()`` decides with the same rule what an oversized message gets. See
docs/configuration.md (``milter.max_message_size``).
"""

from __future__ import annotations

from .message import Message

# The verdict header value of a message too large to check (docs/configuration.md).
UNCHECKED_OVERSIZED = "unchecked; reason=oversized"
# Past the limit a shell keeps only the header fields cleanup needs, each value cut to
# this many characters (the authserv-id, which decides whether an A-R field is forged,
# comes first).
KEPT_VALUE_CHARS = 1024


def field_size(name: str, value: str) -> int:
    """Characters of one header field as ``Message`` holds it: name ":" value CRLF."""
    return len(name) + 1 + len(value) + 2


def milter_field_size(name: str, value: str) -> int:
    """``field_size`` of a header field as libmilter hands it over (folding and the eaten
    space after the colon restored exactly as ``Message.from_milter`` restores them)."""
    return field_size(*Message.from_milter(((name, value),), b"").headers[0])


def message_size(message: Message) -> int:
    """The size that is compared with max_message_size: header fields, separator, body."""
    return (sum(field_size(name, value) for name, value in message.headers)
            + len(message.separator) + len(message.body))


def over_limit(size: int, max_message_size: int) -> bool:
    return size > max_message_size


def kept_when_oversized(name: str) -> bool:
    """The header fields an oversized message's cleanup reads: A-R and X-Spoofwatch-*."""
    key = name.rstrip(" \t").lower()
    return key == "authentication-results" or key.startswith("x-spoofwatch-")
