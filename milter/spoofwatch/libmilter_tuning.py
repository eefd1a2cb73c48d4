"""libmilter settings that pymilter does not expose.

libmilter refuses any milter packet larger than its data-size limit (64 KiB unless raised)
and closes the connection; the MTA then applies its ``milter_default_action`` (Debian's
Postfix: tempfail) and the message is deferred on every retry, never delivered. Postfix
passes a header field of up to ``header_size_limit`` (102,400 bytes by default) to the
milter in one packet, so a single large header (a long To list, a long References chain,
or a sender's deliberate giant header) would cost a message. libmilter can take packets of
up to 1 MiB (``smfi_setmaxdatasize``), but pymilter has no binding for it: we call the C
function through ctypes in the libmilter pymilter has already loaded (the same global
setting libmilter's loop reads).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# libmilter's largest supported packet (MILTER_MDS_1M in mfdef.h).
MAX_DATA_SIZE = 1024 * 1024 - 1


def _loaded_libmilter() -> str | None:
    """The path of the libmilter shared library mapped into this process, if any."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if "/libmilter.so" in path:
                    return path
    except OSError:
        pass
    return None


def raise_data_size_limit(size: int = MAX_DATA_SIZE) -> bool:
    """Let libmilter accept packets up to ``size`` bytes; False (logged) when it cannot."""
    path = _loaded_libmilter()
    if path is None:
        log.warning("libmilter is not loaded as a shared library: header fields over 64 KiB "
                    "will make the MTA apply its milter_default_action")
        return False
    try:
        lib = ctypes.CDLL(path)
        setter = lib.smfi_setmaxdatasize
        setter.argtypes = [ctypes.c_size_t]
        setter.restype = ctypes.c_size_t
        setter(size)
    except (OSError, AttributeError) as exc:
        log.warning("cannot raise libmilter's packet limit (%s): header fields over 64 KiB "
                    "will make the MTA apply its milter_default_action", exc)
        return False
    return True
