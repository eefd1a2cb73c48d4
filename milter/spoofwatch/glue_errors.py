"""Exceptions pymilter's C glue raised before a callback of ours could run.

The listener installs ``glue_excepthook`` as the worker's ``sys.excepthook``; the session
takes what it recorded at its next callback and answers with the fail-safe action.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from .textsafe import ascii_safe

log = logging.getLogger("spoofwatch.service")


class _GlueErrors(threading.local):
    """Exceptions raised in pymilter's C glue, before any method of ours could run.

    pymilter decodes some callback arguments itself (a header *name*, the HELO name, the
    client host name) as strict UTF-8. When that fails it prints the exception (through
    ``sys.excepthook``) and returns the exception policy to libmilter without calling us.
    pymilter gives every session its own Python thread state, and ``threading.local``
    is per thread state: what the hook records here belongs to that session alone, and
    the session's next callback of ours finds it.
    """

    problem: str = ""


_GLUE = _GlueErrors()


def take_glue_problem() -> str:
    problem = _GLUE.problem
    if problem:
        _GLUE.problem = ""
    return problem


def glue_excepthook(kind: type[BaseException], exc: BaseException,
                    tb: TracebackType | None) -> None:
    """sys.excepthook in the worker: log (never print) and remember for the session."""
    text = f"{kind.__name__}: {ascii_safe(str(exc), 300)}"
    if not _GLUE.problem:
        _GLUE.problem = text
    log.error("pymilter could not pass a callback to spoofwatch (%s)", text,
              exc_info=(kind, exc, tb) if tb else None)

