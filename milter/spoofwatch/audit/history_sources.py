"""The sources of the audit's history: the JSON decision log and the quarantine store.

``DecisionLogFile`` reads ``logging.json_file`` and its rotations (``FILE.N`` ... ``FILE.1``,
then ``FILE``; a ``.gz`` rotation made by logrotate too), oldest first. A line that is not
a decision (not JSON, nested too deep to parse, or a message that got no verdict: a
fail-safe outcome) is skipped and counted. ``QuarantineReleases`` reads the release events
of the quarantine store, which the decision log does not carry (a release happens later, by
an admin's command).
"""

from __future__ import annotations

import calendar
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..addresses import domain_of
from ..domains import normalize_domain
from ..quarantine.index import Filter, IndexUnusable
from ..quarantine.pg_store import PostgresStore
from ..quarantine.record_files import StoreError
from ..quarantine.store import QuarantineStore
from .history import Decision, Release

__all__ = ["DecisionLogFile", "QuarantineReleases", "SharedDecisions", "decision_from_json"]

_PAGE = 500  # quarantine records read per query


def _time(text: object) -> float | None:
    """The decision log's "2020-10-20T12:00:00.123Z" as seconds since the epoch."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        whole = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    fraction = text[19:].rstrip("Z")
    try:
        return whole + (float(fraction) if fraction.startswith(".") else 0.0)
    except ValueError:
        return float(whole)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def decision_from_json(data: dict[str, Any]) -> Decision | None:
    """One decision-log record, or None when it holds no verdict on a From domain."""
    when = _time(data.get("time"))
    level = data.get("level")
    if when is None or not isinstance(level, str):
        return None
    sender = data.get("from")
    domain = normalize_domain(domain_of(sender)) if isinstance(sender, str) and sender else ""
    return Decision(
        time=when, from_domain=domain, client_ip=str(data.get("client_ip") or ""),
        level=level, findings=_strings(data.get("findings")),
        actions=_strings(data.get("actions")), dmarc=str(data.get("dmarc") or ""),
        dkim=str(data.get("dkim") or ""), skipped=bool(data.get("skipped")),
        orgs=_strings(data.get("orgs")), dkim_domains=_strings(data.get("dkim_domains")),
    )


class DecisionLogFile:
    """The JSON decision log and its rotated files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"decision log {self.path}"
        self._problems: list[str] = []

    def files(self) -> list[Path]:
        rotated: list[Path] = []
        n = 1
        while True:
            found = [p for p in (Path(f"{self.path}.{n}"), Path(f"{self.path}.{n}.gz"))
                     if p.exists()]
            if not found:
                break
            rotated.extend(found)
            n += 1
        return [*reversed(rotated), *([self.path] if self.path.exists() else [])]

    def decisions(self, since: float) -> Iterator[Decision]:
        files = self.files()
        if not files:
            self._problems.append(f"{self.path}: no decision log found (logging.json_file)")
        skipped = [0]
        for path in files:
            try:
                with self._open(path) as handle:
                    yield from _from_lines(handle, since, skipped)
            except OSError as exc:
                self._problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        if skipped[0]:
            self._problems.append(f"{self.path}: {skipped[0]} lines without a verdict skipped")

    @staticmethod
    def _open(path: Path) -> IO[str]:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8", errors="replace")
        return open(path, encoding="utf-8", errors="replace")

    @staticmethod
    def _decision(line: str) -> Decision | None:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            # RecursionError: a line of deeply nested brackets; unreadable like any other.
            return None
        return decision_from_json(data) if isinstance(data, dict) else None

    def releases(self, since: float) -> Iterable[Release]:
        return ()

    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)


class QuarantineReleases:
    """The quarantine store's released records (quarantined at or after ``since``): the
    one-host store in a directory, or the shared store (every host's records)."""

    def __init__(self, directory: str | Path, store: PostgresStore | None = None) -> None:
        self.directory = store.directory if store is not None else str(directory)
        self._shared = store
        self.name = f"quarantine store {self.directory}"
        self._problems: list[str] = []

    def decisions(self, since: float) -> Iterable[Decision]:
        return ()

    def releases(self, since: float) -> Iterator[Release]:
        try:
            store = self._shared or QuarantineStore(self.directory)
            offset = 0
            while True:
                page = store.list(Filter(since=since, limit=_PAGE, offset=offset))
                for record in page.records:
                    if record.released:
                        yield Release(record.time, normalize_domain(record.sending_domain),
                                      record.orgs)
                offset += _PAGE
                if offset >= page.total:
                    return
        except (StoreError, IndexUnusable, OSError) as exc:
            self._problems.append(f"{self.name}: released counts unknown: {exc}")

    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)


class SharedDecisions:
    """The decision log rows of every host in the shared store (``logging.database``)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.name = f"decision log in {store.directory}"
        self._problems: list[str] = []

    def decisions(self, since: float) -> Iterator[Decision]:
        skipped = [0]
        try:
            yield from _from_lines(self.store.decision_lines(since), since, skipped)
        except StoreError as exc:
            self._problems.append(f"{self.name}: cannot read: {exc}")
        if skipped[0]:
            self._problems.append(f"{self.name}: {skipped[0]} rows without a verdict skipped")


    def releases(self, since: float) -> Iterable[Release]:
        return ()

    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)


def _from_lines(lines: Iterable[str], since: float, skipped: list[int]) -> Iterator[Decision]:
    """The decisions of decision-log lines at or after ``since``; ``skipped[0]`` counts the
    lines that hold none."""
    for line in lines:
        decision = DecisionLogFile._decision(line)
        if decision is None:
            skipped[0] += 1
        elif decision.time >= since:
            yield decision
