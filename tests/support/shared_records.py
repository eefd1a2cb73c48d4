"""Quarantine records written straight into a shared store's database, for tests of what
the commands and the store do with them (the service's own path has its tests too)."""

from __future__ import annotations

import hashlib
import time

import psycopg

from spoofwatch.quarantine.pg_store import INSERT_RECORD, record_row
from spoofwatch.quarantine.record import FindingEntry, Record, new_record_id

__all__ = ["insert_records"]


def insert_records(url: str, host: str, n: int, *, queue_prefix: str = "Q") -> list[str]:
    """``n`` threat records held on ``host``; their ids, oldest first."""
    ids = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            raw = (f"From: info@officialproudboys.com\r\nTo: voter{i}@recipient.example\r\n"
                   f"Subject: Vote or else {i}\r\nMessage-ID: <t{i}@x>\r\n\r\nWe know.\r\n"
                   ).encode()
            now = time.time() - n + i
            record = Record(
                id=new_record_id(now), time=now, queue_id=f"{queue_prefix}{i}",
                client_ip="203.0.113.66", helo="vps.example",
                mail_from="info@officialproudboys.com", rcpts=(f"voter{i}@recipient.example",),
                header_from="info@officialproudboys.com", subject=f"Vote or else {i}", auth=(),
                findings=(FindingEntry("threat", 6.0, "threatens voters", "Proud Boys"),),
                level="threat", score=9.0, policy="default", orgs=("Proud Boys",),
                sending_domain="officialproudboys.com", size=len(raw),
                sha256=hashlib.sha256(raw).hexdigest(), host=host)
            conn.execute(INSERT_RECORD, record_row(record, raw))
            ids.append(record.id)
    return ids
