"""From a verdict to actions: the headers we add and remove, tag, banner, disposition.

Pure: it only describes what the shell (milter or ``scan``) must do.
"""

from __future__ import annotations

import html
import re

from .actions import (
    Action,
    AddHeader,
    ChangeHeader,
    DeleteHeader,
    Quarantine,
    ReplaceBody,
    Reply,
    describe,
)
from .auth.authresults import fold_results, forged_indexes
from .banner import add_banner
from .config import Config, Policy
from .finding_registry import DEFERS_REJECT
from .message import Message
from .textsafe import fold_header
from .verdict import Verdict, header_value, reasons_value, safe_reason

VERDICT_HEADER = "X-Spoofwatch-Verdict"
REASONS_HEADER = "X-Spoofwatch-Reasons"
OUR_HEADER_PREFIX = "x-spoofwatch-"


def cleanup_actions(message: Message, authserv_id: str) -> list[Action]:
    """Remove headers that claim to be ours: forged A-R and any X-Spoofwatch-* header."""
    actions: list[Action] = []
    for index in reversed(forged_indexes(message.headers, authserv_id, "Authentication-Results")):
        actions.append(DeleteHeader("Authentication-Results", index, "claims our authserv-id"))
    seen: dict[str, int] = {}
    ours: list[tuple[str, int]] = []
    for name, _ in message.headers:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        if key.startswith(OUR_HEADER_PREFIX):
            ours.append((name, seen[key]))
    for name, index in reversed(ours):
        actions.append(DeleteHeader(name, index, "arrived from outside"))
    return actions


def plan(report_verdict: Verdict, message: Message, config: Config,
         ar_value: str | None) -> tuple[tuple[Action, ...], tuple[str, ...]]:
    """Turn a verdict into actions; in monitor mode also say what enforcement would do."""
    policy = config.policy
    wanted = policy.actions_for(report_verdict.level)
    actions: list[Action] = cleanup_actions(message, config.authserv_id)
    if ar_value is not None:
        actions.append(AddHeader("Authentication-Results", fold_results(ar_value), top=True))
    actions.append(AddHeader(VERDICT_HEADER, header_value(report_verdict)))
    actions.append(AddHeader(REASONS_HEADER, reasons_value(report_verdict)))
    enforcing: list[Action] = []
    if "banner" in wanted:
        enforcing.extend(_banner(message, policy, report_verdict))
    if "subject_tag" in wanted:
        enforcing.extend(_subject_tag(message, policy.subject_tag))
    if "quarantine" in wanted:
        names = ", ".join(dict.fromkeys(f.name for f in report_verdict.findings if f.weight))
        enforcing.append(Quarantine(
            f"spoofwatch {report_verdict.level.value} (score {report_verdict.score:g}): {names}"))
    dns_failed = any(f.name in DEFERS_REJECT for f in report_verdict.findings)
    if "reject" in wanted and dns_failed:
        # A verdict reached while DNS failed may be wrong: a permanent 550 would bounce
        # real mail for good, a 451 makes the sender try again once DNS answers.
        enforcing.append(Reply.parse("tempfail", policy.tempfail_reply))
    elif "reject" in wanted:
        enforcing.append(Reply.parse("reject", policy.reject_reply))
    elif "tempfail" in wanted:
        enforcing.append(Reply.parse("tempfail", policy.tempfail_reply))
    if policy.mode == "monitor":
        return tuple(actions), tuple(describe(a) for a in enforcing)
    return tuple(actions + enforcing), ()


def banner_reasons(verdict: Verdict) -> str:
    return " ".join(safe_reason(r) for r in verdict.reasons) or "no reasons recorded"


def _banner(message: Message, policy: Policy, verdict: Verdict) -> list[Action]:
    reasons = banner_reasons(verdict)
    result = add_banner(
        message,
        policy.banner_text.replace("{reasons}", reasons),
        policy.banner_html.replace("{reasons}", html.escape(reasons)),
    )
    if result is None:
        return []
    return [ReplaceBody(result.body, result.content_type, result.content_transfer_encoding)]


def _subject_tag(message: Message, tag: str) -> list[Action]:
    subjects = message.get_all("Subject")
    if not subjects:
        return [AddHeader("Subject", header_safe(tag, "Subject"))]
    current = subjects[0]
    if current.startswith(tag):
        return []
    return [ChangeHeader("Subject", 1, header_safe(f"{tag} {current}", "Subject"))]


# --- header values the MTA can take ------------------------------------------------------
# libmilter takes a header value as a C string, pymilter encodes it as strict UTF-8, and a
# header outside SMTPUTF8 must be ASCII: a value copied from a message (a raw 8-bit Subject,
# kept as lone surrogates by Message) is turned into RFC 2047 encoded-words first.

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_WORD_PREFIX = "=?utf-8?q?"
_MAX_ENCODED_WORD = 75  # RFC 2047 section 2
_Q_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")


def header_safe(value: str, name: str = "") -> str:
    """``value`` unchanged when it is printable ASCII (folding included), else encoded.

    Encoding keeps the ASCII words as they are (encoded-words already in the value stay
    encoded-words) and turns each run of other words into UTF-8 encoded-words, folded
    for a milter (see textsafe.fold_header).
    """
    if _is_ascii_header(value):
        return value
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", value)
    return fold_header(name, encode_words(unfolded))


def _is_ascii_header(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F or ch in "\t\n" for ch in value) and (
        "\n" not in value or re.search(r"\n(?![ \t])", value) is None)


def raw_text(value: str) -> str:
    """A value as Message keeps it (undecodable bytes as lone surrogates) as text: its
    bytes read as UTF-8 when they are, else as Latin-1 (every byte is a character)."""
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def encode_words(value: str) -> str:
    """Unstructured header text as ASCII, with RFC 2047 encoded-words where needed."""
    words = re.split(r"[ \t]+", raw_text(value))
    gaps = re.findall(r"[ \t]+", raw_text(value))
    parts: list[str] = []
    i = 0
    while i < len(words):
        if not _needs_encoding(words[i]):
            parts.append(words[i])
            parts.append(gaps[i] if i < len(gaps) else "")
            i += 1
            continue
        j = i
        while j + 1 < len(words) and _needs_encoding(words[j + 1]):
            j += 1
        run = "".join(words[k] + (gaps[k] if k < j else "") for k in range(i, j + 1))
        if i > 0 and _ENCODED_WORD.fullmatch(words[i - 1]):
            # whitespace between two encoded-words vanishes when decoded: carry it inside
            run = parts.pop() + run
            parts.append(" ")  # encoded-words still need whitespace between them
        after = gaps[j] if j < len(gaps) else ""
        if j + 1 < len(words) and _ENCODED_WORD.fullmatch(words[j + 1]):
            run, after = run + after, " "
        parts.append(_encoded_words(run))
        parts.append(after)
        i = j + 1
    return "".join(parts)


def _needs_encoding(word: str) -> bool:
    return any(not 0x20 < ord(ch) < 0x7F for ch in word)


def _encoded_words(text: str) -> str:
    """``text`` as UTF-8 "Q" encoded-words of at most 75 characters, never splitting a
    character between two words."""
    words: list[str] = []
    current = ""
    room = _MAX_ENCODED_WORD - len(_WORD_PREFIX) - 2
    for ch in text:
        piece = "".join(_q_byte(b) for b in ch.encode("utf-8"))
        if current and len(current) + len(piece) > room:
            words.append(f"{_WORD_PREFIX}{current}?=")
            current = ""
        current += piece
    words.append(f"{_WORD_PREFIX}{current}?=")
    return " ".join(words)


def _q_byte(byte: int) -> str:
    if byte == 0x20:
        return "_"
    return chr(byte) if byte in _Q_SAFE else f"={byte:02X}"
