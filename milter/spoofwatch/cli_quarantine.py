"""``spoofwatch quarantine``: the commands that list, show, release, delete, purge and count
held messages, and mail a digest of the new ones.

The arguments, exit codes and usage errors are in :mod:`spoofwatch.cli_quarantine_args`
(its ``DESCRIPTION`` says what each exit status means). Every failure prints one clear
sentence on stderr; nothing is changed when a command fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pwd
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli_quarantine_args import (
    DEFAULT_CONFIG,
    EXIT_ALREADY,
    EXIT_CONFIG,
    EXIT_DAMAGED,
    EXIT_DISK_FULL,
    EXIT_MTA,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_STORE,
    EXIT_USAGE,
    QuarantineArgumentParser,
    UsageError,
    add_parser,
    parse_duration,
    parse_since,
)
from .config import ConfigError, load_config
from .quarantine.agent import run_agent
from .quarantine.digest import (
    CommandLine,
    DigestInfo,
    digest_message,
    is_address,
    local_host_name,
)
from .quarantine.index import Filter
from .quarantine.mta import MtaError, Postfix
from .quarantine.pg_schema import SchemaError, migrate
from .quarantine.pg_store import PostgresStore
from .quarantine.record import AlreadyReleased, Record, ReleaseEvent
from .quarantine.release import ReleaseKeyError, key_path, load_or_create_key
from .quarantine.review import format_time, record_table, show_json, show_text, stats_text
from .quarantine.store import Problem, QuarantineStore, StoreError
from .quarantine.stores import AnyStore, admin_store
from .release_header import add_release_header

__all__ = ["add_parser", "main", "run"]


# --- the context ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    store: AnyStore
    key_file: str
    retention_days: int
    postfix: Postfix
    decision_retention_days: int = 0


def _context(args: argparse.Namespace) -> Context:
    if args.store:
        return Context(QuarantineStore(args.store), str(key_path(args.store)), 30,
                       Postfix(args.postfix_config))
    config = load_config(args.config)
    q = config.quarantine
    store = admin_store(q)
    if store is None:
        raise StoreError("disabled", f"the quarantine store is disabled in {args.config} "
                                     "(quarantine.directory is empty)")
    decision_days = config.logging.database_retention_days if config.logging.database else 0
    return Context(store, str(key_path(q.directory, q.release_key_file)), q.retention_days,
                   Postfix(args.postfix_config), decision_days)


def _shared(ctx: Context) -> PostgresStore:
    if not isinstance(ctx.store, PostgresStore):
        raise UsageError("this command is for a shared store: set quarantine.database in the "
                         "configuration (see docs/operations.md, \"Several MX hosts\")")
    return ctx.store


def _actor() -> str:
    """Who runs the command: the admin behind sudo, else the login user."""
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        value = os.environ.get(var, "")
        if value:
            return value
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _emit(args: argparse.Namespace, text: str, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True))
    else:
        print(text)


def _problem(problem: Problem) -> int:
    print(f"spoofwatch quarantine: {problem.message}", file=sys.stderr)
    return EXIT_NOT_FOUND if problem.kind == "not_found" else EXIT_DAMAGED


# --- commands -------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit < 1 or args.offset < 0:
        raise UsageError("--limit must be at least 1 and --offset at least 0")
    since = parse_since(args.since, time.time()) if args.since else None
    flt = Filter(since=since, levels=tuple(args.level), org=args.org,
                 from_domain=args.from_domain, rcpt=args.rcpt, limit=args.limit,
                 offset=args.offset)
    page = ctx.store.list(flt)
    data = {"total": page.total, "offset": args.offset, "limit": args.limit,
            "records": [r.to_json() for r in page.records]}
    if page.damaged:
        data["damaged"] = list(page.damaged)
        print(f"spoofwatch quarantine: {len(page.damaged)} record(s) on this page cannot be "
              f"read and are not shown: {', '.join(page.damaged)}; `spoofwatch quarantine "
              "delete ID` removes one", file=sys.stderr)
    _emit(args, record_table(page.records, page.total, args.offset), data)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    loaded = ctx.store.read(args.id)
    if isinstance(loaded, Problem):
        return _problem(loaded)
    record, raw = loaded
    if args.raw:
        if sys.stdout.isatty():
            raise UsageError("--raw writes the message bytes as they are, escape sequences "
                             "included: redirect it to a file")
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        return EXIT_OK
    _emit(args, show_text(record, raw), show_json(record, raw))
    return EXIT_OK


def _release_key(ctx: Context) -> bytes:
    try:
        return load_or_create_key(Path(ctx.key_file))
    except ReleaseKeyError as exc:
        raise StoreError("permissions", str(exc)) from None


def cmd_release(args: argparse.Namespace, ctx: Context) -> int:
    loaded = ctx.store.read(args.id)
    if isinstance(loaded, Problem):
        return _problem(loaded)
    record, raw = loaded
    last = record.last_release
    if last is not None and not args.again:
        print(f"spoofwatch quarantine: {record.id} was already released by {last.actor} at "
              f"{format_time(last.time)}; use --again to deliver another copy",
              file=sys.stderr)
        return EXIT_ALREADY
    targets = tuple(args.to) or record.rcpts
    # In the shared store only the host holding the message looks in its hold queue.
    here = not isinstance(ctx.store, PostgresStore) or record.host == ctx.store.host
    if not here and not (args.reinject or args.to):
        return _request_release(args, ctx.store, record, targets)  # type: ignore[arg-type]
    use_hold = (here and not args.to
                and ctx.postfix.held(record.queue_id, record.mail_from, record.rcpts))
    event = ReleaseEvent("release", time.time(), _actor(), "hold" if use_hold else "reinject",
                         targets)
    key = b"" if use_hold else _release_key(ctx)
    try:
        # Runs the body only if no other release got there first; recorded if Postfix took it.
        with ctx.store.releasing(record, event, again=args.again):
            if use_hold:
                ctx.postfix.release(record.queue_id)
            else:
                ctx.postfix.reinject(add_release_header(record.id, raw, key),
                                     record.mail_from, targets)
    except AlreadyReleased as exc:
        print(f"spoofwatch quarantine: {exc}", file=sys.stderr)
        return EXIT_ALREADY
    how = (f"released from Postfix's hold queue (queue id {record.queue_id})" if use_hold
           else f"stored copy re-injected to {', '.join(targets)}")
    if not here and not args.to:
        how += f"; {record.host}'s agent removes the copy it holds"
    _emit(args, f"{record.id}: {how}; released by {event.actor}.",
          {"id": record.id, "method": event.method, "recipients": list(targets),
           "actor": event.actor, "time": event.time})
    return EXIT_OK


def _request_release(args: argparse.Namespace, store: PostgresStore, record: Record,
                     targets: tuple[str, ...]) -> int:
    """The shared store, another host holds the message: ask its agent, wait for it."""
    event = ReleaseEvent("release", time.time(), _actor(), "", targets)
    try:
        after = store.request_release(record, event, again=args.again)
    except AlreadyReleased as exc:
        print(f"spoofwatch quarantine: {exc}", file=sys.stderr)
        return EXIT_ALREADY
    deadline = time.monotonic() + max(0.0, args.wait)
    state, done = store.release_outcome(record.id, after)
    while done is None and time.monotonic() < deadline:
        time.sleep(0.2)
        state, done = store.release_outcome(record.id, after)
    data: dict[str, Any] = {"id": record.id, "host": record.host, "requested": True,
                            "recipients": list(targets), "actor": event.actor}
    if done is not None and done.action == "release":
        how = ("from its hold queue" if done.method == "hold"
               else f"stored copy re-injected to {', '.join(done.recipients)}")
        _emit(args, f"{record.id}: released by {record.host}'s agent, {how}; asked by "
                    f"{event.actor}.", {**data, "method": done.method, "time": done.time})
        return EXIT_OK
    if done is not None:
        print(f"spoofwatch quarantine: {record.host} could not release {record.id}: "
              f"{done.method}; nothing was delivered", file=sys.stderr)
        return EXIT_MTA
    print(f"spoofwatch quarantine: asked {record.host}, which holds {record.id}, to release "
          f"it; not done within {args.wait:g} s (state {state}): is `spoofwatch quarantine "
          f"agent` running there? It carries the request out when it runs; or use --reinject "
          f"to deliver the stored copy from this host", file=sys.stderr)
    return EXIT_PENDING


def cmd_delete(args: argparse.Namespace, ctx: Context) -> int:
    found = ctx.store.get(args.id)
    if isinstance(found, Problem):
        return _problem(found)
    record: Record = found
    ctx.store.writable_check()  # a store that cannot record the delete stops us here
    here = not isinstance(ctx.store, PostgresStore) or record.host == ctx.store.host
    # Another host's held copy is removed by that host's agent (the store asks it).
    in_hold = here and ctx.postfix.held(record.queue_id, record.mail_from, record.rcpts)
    if in_hold:
        ctx.postfix.delete_held(record.queue_id)
    problem = ctx.store.delete(record.id)
    if problem is not None:
        return _problem(problem)
    where = f" and from Postfix's hold queue ({record.queue_id})" if in_hold else ""
    _emit(args, f"{record.id}: deleted from the quarantine store{where}.",
          {"id": record.id, "deleted": True, "postfix_hold": in_hold})
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, ctx: Context) -> int:
    if args.older_than:
        age = parse_duration(args.older_than)
    elif ctx.retention_days > 0:
        age = ctx.retention_days * 86400.0
    else:
        _emit(args, "Retention is 0 (keep forever): nothing purged.", {"removed": []})
        return EXIT_OK
    result = ctx.store.purge(age)
    text = f"Purged {len(result.removed)} record(s) older than {format_time(time.time() - age)}."
    if isinstance(ctx.store, PostgresStore) and ctx.decision_retention_days > 0:
        rows = ctx.store.purge_decisions(ctx.decision_retention_days * 86400.0)
        text += (f" Purged {rows} decision log row(s) older than "
                 f"{ctx.decision_retention_days} days.")
    if result.failed:
        text += f" {len(result.failed)} could not be deleted (see the log)."
    _emit(args, text, {"removed": list(result.removed), "failed": list(result.failed)})
    return EXIT_STORE if result.failed else EXIT_OK


def cmd_stats(args: argparse.Namespace, ctx: Context) -> int:
    since = parse_since(args.since, time.time()) if args.since else None
    stats = ctx.store.stats(since)
    data: dict[str, Any] = {
        "since": since, "total": stats.total, "released": stats.released,
        "by_level": dict(stats.by_level), "by_org": dict(stats.by_org),
        "by_domain": dict(stats.by_domain), "by_day": dict(stats.by_day)}
    if isinstance(ctx.store, PostgresStore):
        data["by_host"] = dict(stats.by_host)
        data["checked"] = stats.checked
        data["checked_by_level"] = dict(stats.checked_by_level)
        data["spoofed_orgs"] = dict(stats.spoofed_orgs)
    _emit(args, stats_text(stats, since), data)
    return EXIT_OK


def _digest_commands(args: argparse.Namespace) -> CommandLine:
    """The show/release commands as this admin runs them: the same store and Postfix."""
    options: list[str] = []
    if args.store:
        options += ["--store", args.store]
    elif args.config != DEFAULT_CONFIG:
        options += ["--config", args.config]
    postfix = ("--postfix-config", args.postfix_config) if args.postfix_config else ()
    return CommandLine(options=tuple(options), postfix_options=postfix)


def cmd_digest(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    host = local_host_name()
    sender = args.sender or f"spoofwatch@{host}"
    for option, address in (("--to", args.to), ("--from", sender)):
        if not is_address(address):
            raise UsageError(f"{option} {address!r}: give a plain address such as "
                             "postmaster@example.org")
    now = time.time()
    info = DigestInfo(to=args.to, sender=sender, host=host,
                      since=parse_since(args.since, now), now=now,
                      commands=_digest_commands(args))
    if not args.send:
        page = ctx.store.pending_digest(info.since, args.limit)
        message = digest_message(page.records, page.total, info) if page.records else b""
        data = {"sent": False, "to": info.to, "total": page.total,
                "ids": [r.id for r in page.records], "message": message.decode("ascii")}
        _emit(args, message.decode("ascii").rstrip("\n") if message
              else _nothing_new(info.since), data)
        return EXIT_OK
    with ctx.store.digesting(info.since, args.limit) as page:  # marked only if sent
        if page.records:
            ctx.postfix.submit(digest_message(page.records, page.total, info), sender,
                               [info.to])
    ids = [r.id for r in page.records]
    text = (f"Sent a digest of {len(ids)} quarantined message(s) to {info.to}."
            if ids else _nothing_new(info.since) + " Nothing sent.")
    _emit(args, text, {"sent": bool(ids), "to": info.to, "total": page.total, "ids": ids})
    return EXIT_OK


def _nothing_new(since: float) -> str:
    return (f"No quarantined messages since {format_time(since)} that a digest has not "
            "listed yet.")


def cmd_migrate(args: argparse.Namespace, ctx: Context) -> int:
    store = _shared(ctx)
    with contextlib.closing(store.db.connect(autocommit=True)) as conn:
        try:
            result = migrate(conn, f"{_actor()} on {store.host}")
        except SchemaError as exc:
            raise StoreError("schema", str(exc)) from None
    if result.applied:
        text = (f"{store.directory}: schema version {result.before} -> {result.after} "
                f"(applied {', '.join(str(v) for v in result.applied)}).")
    else:
        text = f"{store.directory}: schema version {result.after} is current; nothing to do."
    _emit(args, text, {"before": result.before, "after": result.after,
                       "applied": list(result.applied)})
    return EXIT_OK


def cmd_agent(args: argparse.Namespace, ctx: Context) -> int:
    store = _shared(ctx)
    logging.getLogger("spoofwatch.quarantine").setLevel(logging.INFO)
    if args.interval < 0.1:
        raise UsageError("--interval must be at least 0.1 seconds")
    store.prepare()  # the schema must be there: say so at once, not in a loop
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # a stop waits for the step under way (a transition and one Postfix command)
        signal.signal(signum, lambda *_: stop.set())
    # A parent that blocked them (a thread of a test runner, a wrapper) must not make the
    # agent deaf to its stop: the mask is inherited across exec.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGTERM, signal.SIGINT))
    done = run_agent(store, ctx.postfix, lambda: _release_key(ctx), once=args.once,
                     interval=args.interval, stop=stop)
    _emit(args, f"{store.host}: released {done.released}, failed {done.failed}, removed "
                f"{done.removed} hold-queue copies.",
          {"host": store.host, "released": done.released, "failed": done.failed,
           "removed": done.removed})
    return EXIT_MTA if done.failed else EXIT_OK


_COMMANDS = {"list": cmd_list, "show": cmd_show, "release": cmd_release,
             "delete": cmd_delete, "purge": cmd_purge, "stats": cmd_stats,
             "digest": cmd_digest, "migrate": cmd_migrate, "agent": cmd_agent}


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``quarantine`` command; returns the exit status."""
    # The store logs for the service's log; here every outcome is said once, on stderr.
    logging.getLogger("spoofwatch.quarantine").setLevel(logging.CRITICAL)
    try:
        ctx = _context(args)
        return _COMMANDS[args.quarantine_command](args, ctx)
    except UsageError as exc:
        print(f"spoofwatch quarantine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"spoofwatch quarantine: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        if exc.kind == "disk_full":
            print(f"spoofwatch quarantine: the disk is full: {exc}; nothing was changed",
                  file=sys.stderr)
            return EXIT_DISK_FULL
        print(f"spoofwatch quarantine: {exc}", file=sys.stderr)
        return EXIT_STORE
    except MtaError as exc:
        print(f"spoofwatch quarantine: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_MTA


def main(argv: list[str] | None = None) -> int:
    """``python -m spoofwatch.cli_quarantine ...``: the same as ``spoofwatch quarantine ...``."""
    parser = QuarantineArgumentParser(prog="spoofwatch")
    add_parser(parser.add_subparsers(dest="command", required=True,
                                     parser_class=QuarantineArgumentParser))
    args = parser.parse_args(["quarantine", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
