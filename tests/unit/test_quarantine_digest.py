"""The quarantine digest: its exact text, its safety against hostile senders, and that each
record is listed by one sent digest only."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest

from spoofwatch import cli_quarantine
from spoofwatch.actions import Quarantine
from spoofwatch.analyze import analyze
from spoofwatch.config import load_config
from spoofwatch.message import Message
from spoofwatch.quarantine.digest import (
    CommandLine,
    DigestInfo,
    digest_body,
    digest_message,
    is_address,
    safe_line,
)
from spoofwatch.quarantine.mta import MtaError
from spoofwatch.quarantine.record import FindingEntry, Record, ReleaseEvent
from spoofwatch.quarantine.render import held_copy
from spoofwatch.quarantine.store import Page, QuarantineStore
from spoofwatch.report import Report
from spoofwatch.results import Envelope, Level
from support import seeds
from support.staticlookup import StaticLookup

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
HOUR = 3600.0
DAY = 86400.0

SEED = Record(
    id="20231114221320-0123456789", time=T0, queue_id="4XyZ1B2C3",
    client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM,
    rcpts=("voter@recipient.example",),
    header_from='"Proud Boys" <info@officialproudboys.com>',
    subject="Vote for Trump or else!", auth=(),
    findings=(
        FindingEntry("non_mail_domain", 4.0, "officialproudboys.com is listed as a domain of "
                     "Proud Boys that sends no mail.", "Proud Boys"),
        FindingEntry("threat_content", 6.0, "The text intimidates or coerces the reader (harm "
                     "threat, coercion vote; content score 7.5): we will come after you; vote "
                     "for trump on election day or we will come."),
        FindingEntry("dmarc_fail_none", 0.0, "Not counted."),
    ),
    level="threat", score=10.0, policy="default", orgs=("Proud Boys",),
    sending_domain="officialproudboys.com", size=1, sha256="0" * 64,
)
# A hostile one: a Subject that tries to start a header (CR LF), clear the screen (ESC),
# reverse the text (U+202E) and confuse escapes (a backslash); a Cyrillic display name.
HOSTILE = Record(
    id="20231114231320-abcdef0123", time=T0 + HOUR, queue_id="5QQ",
    client_ip="198.51.100.7", helo="h.example", mail_from="x@democrats-org.example",
    rcpts=("a@example.org", "b@example.org", "c@example.org", "d@example.org"),
    header_from="\u0414\u0435\u043c\u043e\u043a\u0440\u0430\u0442\u044b "
                "<info@democrats-org.example>",
    subject="W\u00e4hlen Sie\r\nBcc: victim@example.org\x1b[2J \u202eevil\\ and more words",
    auth=(),
    findings=(FindingEntry("lookalike_domain", 5.0, "democrats-org.example looks like "
                           "democrats.org, a domain of Democratic National Committee.",
                           "Democratic National Committee"),),
    level="spoof", score=5.0, policy="default", orgs=("Democratic National Committee",),
    sending_domain="democrats-org.example", size=1, sha256="0" * 64,
    events=(ReleaseEvent("release", T0 + 2 * HOUR, "alice", "hold", ()),),
)
INFO = DigestInfo(to="admin@example.org", sender="spoofwatch@mx.example.org",
                  host="mx.example.org", since=T0 - DAY, now=T0 + DAY)

EXPECTED_BODY = """\
spoofwatch on mx.example.org has held 3 new messages in quarantine
since 2023-11-13 22:13:20 UTC (up to 2023-11-15 22:13:20 UTC).
This digest lists the 2 oldest; the next one lists the rest.

Nothing held is delivered until someone releases it: read a message with its
Show command before you release it. From and Subject are quoted as the senders
wrote them, cut short, with control and invisible characters escaped.

[1] 20231114221320-0123456789
    Quarantined:   2023-11-14 22:13:20 UTC
    Level:         threat (score 10)
    Status:        held
    From:          "Proud Boys" <info@officialproudboys.com>
    Subject:       Vote for Trump or else!
    To:            voter@recipient.example
    Organizations: Proud Boys
    Why:
      - officialproudboys.com is listed as a domain of Proud Boys that sends
        no mail.
      - The text intimidates or coerces the reader (harm threat, coercion
        vote; content score 7.5); the matched phrases are in the show
        output.
    Show:          spoofwatch quarantine show 20231114221320-0123456789
    Release:       spoofwatch quarantine release 20231114221320-0123456789

[2] 20231114231320-abcdef0123
    Quarantined:   2023-11-14 23:13:20 UTC
    Level:         spoof (score 5)
    Status:        released by alice at 2023-11-15 00:13:20 UTC
    From:          \u0414\u0435\u043c\u043e\u043a\u0440\u0430\u0442\u044b \
<info@democrats-org.example>
    Subject:       W\u00e4hlen Sie\\r\\nBcc: victim@example.org\\x1b[2J \\u202eevil\\\\...
    To:            a@example.org, b@example.org, c@example.org and 1 more
    Organizations: Democratic National Committee
    Why:
      - democrats-org.example looks like democrats.org, a domain of
        Democratic National Committee.
    Show:          spoofwatch quarantine show 20231114231320-abcdef0123
    Release:       spoofwatch quarantine release 20231114231320-abcdef0123

--\x20
Sent by spoofwatch quarantine digest; no message is listed in two digests.
Everything held since then: spoofwatch quarantine list --since 2023-11-13T22:13
"""


# --- rendering ----------------------------------------------------------------------------
def test_the_digest_body_lists_each_record_with_its_reasons_and_commands() -> None:
    assert digest_body([SEED, HOSTILE], 3, INFO) == EXPECTED_BODY


def test_the_digest_headers_are_ours_and_the_body_is_quoted_printable_utf8() -> None:
    raw = digest_message([SEED, HOSTILE], 3, INFO)
    assert raw.isascii()
    head, _, encoded = raw.partition(b"\n\n")
    assert head.decode().split("\n") == [
        "From: spoofwatch <spoofwatch@mx.example.org>",
        "To: <admin@example.org>",
        "Subject: [spoofwatch] 3 new quarantined messages on mx.example.org",
        "Date: Wed, 15 Nov 2023 22:13:20 +0000",
        "Message-ID: <spoofwatch-digest.20231115221320.8bed6a9dc85f5e7f@mx.example.org>",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
    ]
    assert all(len(line) <= 76 for line in encoded.split(b"\n"))
    parsed = message_from_bytes(raw, policy=email_policy.default)
    assert parsed.get_content() == EXPECTED_BODY  # type: ignore[attr-defined]
    assert parsed.get_all("Bcc") is None
    assert b"\x1b" not in raw and b"\r" not in raw


def test_an_ascii_digest_is_sent_as_7bit_us_ascii() -> None:
    raw = digest_message([SEED], 1, INFO)
    head, _, body = raw.partition(b"\n\n")
    assert head.endswith(b"Content-Type: text/plain; charset=us-ascii\n"
                         b"Content-Transfer-Encoding: 7bit")
    assert b"Subject: [spoofwatch] 1 new quarantined message on mx.example.org\n" in head
    assert body.decode("ascii").startswith(
        "spoofwatch on mx.example.org has held 1 new message in quarantine\n")


def test_commands_repeat_the_store_and_postfix_options_the_admin_used() -> None:
    commands = CommandLine(options=("--config", "/etc/spoofwatch/other config.yaml"),
                           postfix_options=("--postfix-config", "/etc/postfix-out"))
    assert commands.show(SEED.id) == (
        "spoofwatch quarantine show 20231114221320-0123456789 "
        "--config '/etc/spoofwatch/other config.yaml'")
    assert commands.release(SEED.id) == (
        "spoofwatch quarantine release 20231114221320-0123456789 "
        "--config '/etc/spoofwatch/other config.yaml' --postfix-config /etc/postfix-out")


@pytest.mark.parametrize(("text", "width", "expected"), [
    ("  plain\tsubject  ", 60, "plain subject"),
    ("a\r\nBcc: x@y", 60, "a\\r\\nBcc: x@y"),
    ("\x1b]0;title\x07ok", 60, "\\x1b]0;title\\x07ok"),
    ("zero\u200bwidth \u202ertl", 60, "zero\\u200bwidth \\u202ertl"),
    ("bad byte \udcff", 60, "bad byte \\xff"),
    ("back\\slash", 60, "back\\\\slash"),
    ("\u00e9t\u00e9 \u0441\u0435\u0440\u0432\u0435\u0440", 60,
     "\u00e9t\u00e9 \u0441\u0435\u0440\u0432\u0435\u0440"),
    ("abcdefghij", 8, "abcde..."),
    ("abcd\x1bxyz", 8, "abcd..."),  # an escape is never cut in half
])
def test_safe_line_escapes_what_could_break_or_hide_and_keeps_readable_text(
    text: str, width: int, expected: str
) -> None:
    assert safe_line(text, width) == expected


@pytest.mark.parametrize("address", [
    "admin@example.org\r\nBcc: x@example.org", "admin", "-oQ/tmp@example.org",
    "admin@exa mple.org", "a..b@example.org", "<admin@example.org>", "admin@-x.org",
])
def test_addresses_that_could_inject_a_header_or_an_option_are_refused(address: str) -> None:
    assert not is_address(address)
    with pytest.raises(ValueError):
        digest_message([SEED], 1, dataclasses.replace(INFO, to=address))


# --- the digest does not look like the threat it reports -----------------------------------
def test_a_digest_of_the_seed_threat_is_not_held_even_where_localhost_is_not_trusted() -> None:
    config = load_config(REPO / "policies" / "spoofwatch.yaml")
    untrusting = dataclasses.replace(config, trusted_networks=())
    digest = Message.from_bytes(digest_message([SEED], 1, INFO).replace(b"\n", b"\r\n"))
    envelope = Envelope(client_ip="127.0.0.1", helo="localhost", mail_from=INFO.sender,
                        rcpts=(INFO.to,), queue_id="1A")
    report = analyze(envelope, digest, untrusting, StaticLookup({}))
    assert "threat_content" not in report.verdict.names
    assert report.level is not Level.THREAT
    assert not any(isinstance(a, Quarantine) for a in report.actions)
    # ... and with the bundled configuration it is not even checked: local submission
    # reaches the milter from 127.0.0.1, a trusted network.
    trusted = analyze(envelope, digest, config, StaticLookup({}))
    assert trusted.skipped == "trusted client 127.0.0.1"


# --- once-only bookkeeping -----------------------------------------------------------------
class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def seed_report() -> tuple[bytes, Report]:
    config = load_config(REPO / "policies" / "spoofwatch.yaml")
    lookup = StaticLookup({seeds.SEED_DOMAIN: {"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}})
    message = Message.from_bytes(seeds.plain())
    envelope = Envelope(client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                        mail_from=seeds.SEED_FROM, rcpts=("voter@recipient.example",),
                        queue_id="4XyZ1B2C3")
    report = analyze(envelope, message, config, lookup)
    return held_copy(message, report.actions), report


@pytest.fixture
def qdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="spoofwatch-qd-"))
    yield base / "quarantine"
    subprocess.run(["rm", "-rf", str(base)], check=False)


def saved(qdir: Path, seed_report: tuple[bytes, Report], when: float) -> str:
    raw, report = seed_report
    record_id = QuarantineStore(qdir, clock=Clock(when)).save(raw, report, "4XyZ1B2C3")
    assert record_id is not None
    return record_id


def ids(page: Page) -> list[str]:
    return [r.id for r in page.records]


def test_a_sent_digest_marks_its_records_and_the_next_lists_only_newer_ones(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    first = saved(qdir, seed_report, T0)
    second = saved(qdir, seed_report, T0 + HOUR)
    store = QuarantineStore(qdir, clock=Clock(T0 + 2 * HOUR))
    assert ids(store.pending_digest(T0 - DAY, 100)) == [first, second]  # oldest first
    assert ids(store.pending_digest(T0 - DAY, 100)) == [first, second]  # a preview marks nothing
    with store.digesting(T0 - DAY, 100) as page:
        assert (ids(page), page.total) == ([first, second], 2)
    with store.digesting(T0 - DAY, 100) as page:
        assert (ids(page), page.total) == ([], 0)
    third = saved(qdir, seed_report, T0 + 3 * HOUR)
    with store.digesting(T0 - DAY, 100) as page:
        assert ids(page) == [third]


def test_a_digest_that_could_not_be_sent_marks_nothing(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    first = saved(qdir, seed_report, T0)
    store = QuarantineStore(qdir)
    with pytest.raises(MtaError), store.digesting(T0 - DAY, 100) as page:
        assert ids(page) == [first]
        raise MtaError("sendmail failed (exit 75): queue file write error")
    with store.digesting(T0 - DAY, 100) as page:
        assert ids(page) == [first]


def test_the_limit_lists_the_oldest_and_leaves_the_rest_for_the_next_digest(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    first = saved(qdir, seed_report, T0)
    second = saved(qdir, seed_report, T0 + HOUR)
    store = QuarantineStore(qdir)
    with store.digesting(T0 - DAY, 1) as page:
        assert (ids(page), page.total) == ([first], 2)
    with store.digesting(T0 - DAY, 1) as page:
        assert (ids(page), page.total) == ([second], 1)


def test_records_older_than_the_window_are_not_listed(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    saved(qdir, seed_report, T0 - 8 * DAY)
    recent = saved(qdir, seed_report, T0)
    with QuarantineStore(qdir).digesting(T0 - 7 * DAY, 100) as page:
        assert (ids(page), page.total) == ([recent], 1)


def test_marks_of_deleted_records_are_dropped(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    first = saved(qdir, seed_report, T0)
    store = QuarantineStore(qdir)
    with store.digesting(T0 - DAY, 100):
        pass
    assert store.delete(first) is None
    with store.digesting(T0 - DAY, 100):
        pass
    with sqlite3.connect(qdir / "index.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM notified").fetchone() == (0,)


def test_an_index_from_before_the_digest_gets_its_table_and_lists_everything(
    qdir: Path, seed_report: tuple[bytes, Report]
) -> None:
    first = saved(qdir, seed_report, T0)
    conn = sqlite3.connect(qdir / "index.sqlite")
    conn.execute("DROP TABLE notified")
    conn.commit()
    conn.close()
    with QuarantineStore(qdir).digesting(T0 - DAY, 100) as page:
        assert ids(page) == [first]


# --- the command (preview only here; sending is tested through Postfix in tests/e2e) -------
def test_print_shows_the_mail_and_remembers_nothing(
    qdir: Path, seed_report: tuple[bytes, Report], capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    record_id = saved(qdir, seed_report, time.time() - HOUR)
    argv = ["digest", "--to", "admin@example.org", "--from", "sw@mx.example.org",
            "--store", str(qdir)]
    for _ in range(2):
        assert cli_quarantine.main(argv) == 0
        out = capsys.readouterr().out
        assert "\nTo: <admin@example.org>\n" in out
        assert f"    Release:       spoofwatch quarantine release {record_id} --store {qdir}\n" \
            in out
    assert cli_quarantine.main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["sent"], data["ids"], data["total"]) == (False, [record_id], 1)


def test_nothing_new_prints_one_sentence(
    qdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    QuarantineStore(qdir).prepare()
    assert cli_quarantine.main(["digest", "--to", "admin@example.org", "--since", "2023-11-14",
                                "--store", str(qdir)]) == 0
    assert capsys.readouterr().out == (
        "No quarantined messages since 2023-11-14 00:00:00 UTC that a digest has not listed "
        "yet.\n")


def test_a_hostile_to_address_is_a_usage_error(
    qdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    QuarantineStore(qdir).prepare()
    code = cli_quarantine.main(["digest", "--to", "admin@example.org\nBcc: x@example.org",
                                "--store", str(qdir)])
    assert code == 64  # EX_USAGE, as every spoofwatch command
    assert capsys.readouterr().err == (
        "spoofwatch quarantine: --to 'admin@example.org\\nBcc: x@example.org': give a plain "
        "address such as postmaster@example.org\n")
