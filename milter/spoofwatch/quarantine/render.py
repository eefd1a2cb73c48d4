"""The message as the MTA holds it after our changes: what the quarantine stores.

The milter never sees the final message: it asks the MTA for changes (add, delete,
change headers, replace the body) and the MTA applies them. To store the copy that
Postfix holds - so that a release from our store delivers the same bytes as a release
from Postfix's hold queue - we apply the same changes here the way Postfix does:

* an added header is written ``Name: value``; a "\\n" in the value becomes a line break;
* "top" inserts above every header, the others go below the last header;
* a header index counts, among the fields of that name, those that remain after the
  changes before it (libmilter's convention); an empty value deletes the field; changing
  a field that does not exist adds it.

Postfix never shows a milter the Received line it adds itself, so the copy made here is
the held message without that one line (checked end to end in
tests/e2e/test_quarantine_e2e.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..actions import Action, AddHeader, ChangeHeader, DeleteHeader, ReplaceBody
from ..message import Message

__all__ = ["apply_actions", "held_copy"]


def _value(value: str) -> str:
    """A milter value as the MTA stores it: a leading space, CRLF line breaks."""
    value = value.replace("\r\n", "\n").replace("\n", "\r\n")
    return " " + value


def _position(headers: list[tuple[str, str]], name: str, index: int) -> int | None:
    wanted = name.lower()
    seen = 0
    for position, (field_name, _) in enumerate(headers):
        if field_name.rstrip(" \t").lower() == wanted:
            seen += 1
            if seen == index:
                return position
    return None


def _change(headers: list[tuple[str, str]], name: str, index: int, value: str) -> None:
    position = _position(headers, name, index)
    if position is None:
        if value:
            headers.append((name, _value(value)))
        return
    if value:
        headers[position] = (headers[position][0], _value(value))
    else:
        del headers[position]


def apply_actions(message: Message, actions: Sequence[Action]) -> Message:
    """``message`` with the header and body changes among ``actions`` applied in order."""
    headers = list(message.headers)
    body = message.body
    for action in actions:
        match action:
            case AddHeader(name, value, top):
                if top:
                    headers.insert(0, (name, _value(value)))
                else:
                    headers.append((name, _value(value)))
            case DeleteHeader(name, index, _):
                _change(headers, name, index, "")
            case ChangeHeader(name, index, value):
                _change(headers, name, index, value)
            case ReplaceBody(new_body, content_type, cte):
                if content_type:
                    _change(headers, "Content-Type", 1, content_type)
                if cte:
                    _change(headers, "Content-Transfer-Encoding", 1, cte)
                body = new_body
    return Message(tuple(headers), body, message.separator or b"\r\n")


def held_copy(message: Message, actions: Sequence[Action]) -> bytes:
    """The bytes to hand to ``QuarantineStore.save``: the message as the MTA holds it."""
    return apply_actions(message, actions).as_bytes()
