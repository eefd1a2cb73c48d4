"""Bytes of a MIME part as text, in the charset it declares, never raising.

Shared by both text readers (:mod:`.textextract`, the standard parser's, and
:mod:`.tolerant_text`): a charset is read the same way whichever reader met the part.
"""

from __future__ import annotations

import codecs
import logging

log = logging.getLogger(__name__)

__all__ = ["decode_bytes"]

# Codecs that are "text encodings" to Python but interpret their input as escape
# sequences or refuse errors="replace"; no real mail charset names them.
_REFUSED_CODECS = frozenset({"unicode_escape", "raw_unicode_escape", "idna", "punycode",
                             "undefined"})
_ASCII_NAMES = frozenset({"", "us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968"})


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text in ``charset``; undecodable bytes become U+FFFD. Never raises.

    An unknown charset name, or none at all, is read as UTF-8: most mail is, and
    ASCII is a subset of it. A declared charset that is wrong yields replacement
    characters where its bytes do not fit, which is what a reader would see.
    """
    name = (charset or "").strip().strip("\"'").strip().lower()
    if name in _ASCII_NAMES:
        # Undeclared or "us-ascii" 8-bit mail is in practice UTF-8 more often than not.
        return data.decode("utf-8", errors="replace")
    try:
        info = codecs.lookup(name)
        if info.name.replace("-", "_") in _REFUSED_CODECS:
            raise LookupError(name)
        return data.decode(info.name, errors="replace")
    except Exception:  # noqa: BLE001 - unknown names, non-text codecs, misbehaving codecs
        log.debug("charset %r not usable; decoding as UTF-8", name[:40])
        return data.decode("utf-8", errors="replace")
