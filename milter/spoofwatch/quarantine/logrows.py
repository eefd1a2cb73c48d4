"""A decision log line as a row of the shared store's ``decisions`` table."""

from __future__ import annotations

from typing import Any

from ..logline import json_line
from .index import column

__all__ = ["decision_values"]


def _domain(address: object) -> str:
    text = str(address or "")
    return text.rpartition("@")[2].strip("<>").lower() if "@" in text else ""


def decision_values(row: dict[str, Any], host: str) -> tuple[Any, ...]:
    """The insert's values: id, time, host, queue id, level, outcome, From domain, orgs and
    the whole line (as the JSON decision log has it). The From domain is the header's, or
    the envelope's when the header had none."""
    data = {k: v for k, v in row.items() if k != "db_id"}
    from_domain = _domain(row.get("from")) or _domain(row.get("mail_from"))
    orgs = row.get("orgs") or []
    return (str(row["db_id"]), str(row.get("time", "")), host,
            column(str(row.get("queue_id", ""))), column(str(row.get("level", "unchecked"))),
            column(str(row.get("outcome", ""))), column(from_domain),
            [column(str(o)) for o in orgs if isinstance(o, str)], json_line(data))
