"""`spoofwatch quarantine`, run as an admin runs it: tables, JSON, safe display, clear failures."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofwatch import cli_quarantine
from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.message import Message
from spoofwatch.quarantine.render import held_copy
from spoofwatch.quarantine.store import QuarantineStore
from spoofwatch.report import Report
from spoofwatch.results import Envelope, Finding, Level
from spoofwatch.verdict import Verdict
from support import seeds
from support.milterproc import REPO, write_config
from support.staticlookup import StaticLookup

DAY = 86400.0


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="spoofwatch-qcli-"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def config_file(workdir: Path) -> Path:
    return write_config(workdir, dns_port=53, socket_spec=f"unix:{workdir}/s.sock",
                        quarantine_dir=workdir / "quarantine")


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file)


def analysed(config: Config, raw: bytes, rcpts: tuple[str, ...] = ("voter@recipient.example",),
             queue_id: str = "4XyZ1B2C3") -> tuple[bytes, Report]:
    lookup = StaticLookup({seeds.SEED_DOMAIN: {"TXT": ["v=spf1 -all"], "A": ["192.0.2.80"]}})
    message = Message.from_bytes(raw)
    envelope = Envelope(client_ip=seeds.FOREIGN_IP, helo=seeds.FOREIGN_HELO,
                        mail_from=seeds.SEED_FROM, rcpts=rcpts, queue_id=queue_id)
    report = analyze(envelope, message, config, lookup)
    return held_copy(message, report.actions), report


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def save(config: Config, raw: bytes, report: Report, when: float) -> str:
    store = QuarantineStore(config.quarantine.directory, clock=Clock(when))
    record_id = store.save(raw, report, report.envelope.queue_id)
    assert record_id is not None
    return record_id


def cli(config_file: Path, *args: str, extra_env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", *args, "--config", str(config_file)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={**os.environ, **(extra_env or {})},
    )


@pytest.fixture
def two_records(config: Config) -> dict[str, str]:
    """The seed threat (1 day old) and a spoof to two recipients (40 days old)."""
    import time

    now = time.time()
    raw, report = analysed(config, seeds.plain())
    seed_id = save(config, raw, report, now - DAY)
    spoof = dataclasses.replace(
        report, verdict=Verdict(Level.SPOOF, 6.0, (Finding(
            "display_name_impersonation", 6.0, "The display name claims to be the DNC.",
            "Democratic Party"),)),
        envelope=dataclasses.replace(report.envelope, rcpts=("a@example.org", "b@example.org"),
                                     queue_id="5QQ"))
    spoof_id = save(config, raw, spoof, now - 40 * DAY)
    return {"seed": seed_id, "spoof": spoof_id}


# --- list ---------------------------------------------------------------------------------
def test_list_shows_a_table_newest_first(config_file: Path, two_records: dict[str, str]) -> None:
    result = cli(config_file, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "QUARANTINED", "(UTC)", "LEVEL", "FROM", "TO", "SUBJECT",
                                "STATUS"]
    assert lines[1].startswith(two_records["seed"])
    assert "threat  info@officialproudboys.com  voter@recipient.example" in lines[1]
    assert lines[1].endswith("Vote for Trump or else!  held")
    assert lines[2].startswith(two_records["spoof"])
    assert "a@example.org +1" in lines[2]
    assert lines[3] == "(1-2 of 2)"


def test_list_filters_and_pages_as_asked(
    config_file: Path, two_records: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    def ids(*args: str) -> list[str]:
        # in-process (the same parser and code as the command) to keep this file fast
        assert cli_quarantine.main(["list", "--json", *args, "--config", str(config_file)]) == 0
        return [r["id"] for r in json.loads(capsys.readouterr().out)["records"]]

    seed, spoof = two_records["seed"], two_records["spoof"]
    assert ids("--since", "7d") == [seed]
    assert ids("--level", "spoof") == [spoof]
    assert ids("--level", "spoof", "--level", "threat") == [seed, spoof]
    assert ids("--org", "democratic party") == [spoof]
    assert ids("--from-domain", "officialproudboys.com") == [seed, spoof]
    assert ids("--rcpt", "B@example.org") == [spoof]
    assert ids("--limit", "1", "--offset", "1") == [spoof]
    assert cli_quarantine.main(["list", "--json", "--limit", "1",
                                "--config", str(config_file)]) == 0
    page = json.loads(capsys.readouterr().out)
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 0)


def test_an_empty_store_lists_nothing_and_a_missing_one_is_an_error(
    config: Config, config_file: Path
) -> None:
    directory = config.quarantine.directory
    missing = cli(config_file, "list")
    assert (missing.returncode, missing.stderr) == (
        3, f"spoofwatch quarantine: quarantine directory {directory} does not exist\n")
    os.mkdir(directory, 0o700)
    result = cli(config_file, "list")
    assert (result.returncode, result.stdout) == (0, "No quarantined messages match.\n")


# --- show -----------------------------------------------------------------------------------
def test_show_explains_envelope_reasons_auth_headers_and_text(
    config_file: Path, two_records: dict[str, str]
) -> None:
    result = cli(config_file, "show", two_records["seed"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "  Verdict:     threat (score 16)\n  Status:      held\n" in out
    assert (f"  Client:           {seeds.FOREIGN_IP} (HELO {seeds.FOREIGN_HELO})\n"
            f"  MAIL FROM:        <{seeds.SEED_FROM}>\n"
            "  RCPT TO:          voter@recipient.example\n") in out
    assert ("Why it was held\n  - The From domain officialproudboys.com belongs to Proud Boys, "
            "but the message is not authenticated as theirs (dmarc=none).\n"
            "    (from_domain_unauthenticated, weight 6, organization Proud Boys)\n") in out
    assert "  spf.mailfrom  fail       officialproudboys.com\n" in out
    assert "  Subject: Vote for Trump or else!\n" in out
    assert "  We know you are registered as a Democrat." in out


def test_show_json_and_raw_give_the_record_and_the_exact_message(
    config: Config, config_file: Path, workdir: Path
) -> None:
    raw, report = analysed(config, seeds.plain())
    record_id = save(config, raw, report, 1_700_000_000.0)
    data = json.loads(cli(config_file, "show", "--json", record_id).stdout)
    assert (data["id"], data["level"], data["orgs"], data["released"]) == (
        record_id, "threat", ["Proud Boys"], False)
    assert {"name": "Subject", "value": "Vote for Trump or else!"} in data["headers"]
    out = workdir / "held.eml"
    with open(out, "wb") as f:
        result = subprocess.run(
            [sys.executable, "-m", "spoofwatch.cli_quarantine", "show", "--raw", record_id,
             "--config", str(config_file)], stdout=f, stderr=subprocess.PIPE, cwd=REPO,
            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == raw


def test_show_never_prints_escape_sequences_or_bidi_controls(
    config: Config, config_file: Path
) -> None:
    nasty = ("\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b[31mred\x1b[0m "
             "\u202eexe.gnp\u202c")
    raw = (f"From: info@officialproudboys.com\r\nSubject: {nasty}\r\n"
           "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           f"<p>{nasty}</p><p>We will come after you.</p>\r\n").encode()
    held, report = analysed(config, raw)
    record_id = save(config, held, report, 1_700_000_000.0)
    for args in (("show", record_id), ("list",)):
        result = cli(config_file, *args)
        assert result.returncode == 0, result.stderr
        for bad in ("\x1b", "\x07", "\u202e", "\u202c"):
            assert bad not in result.stdout, (args, bad)
    assert "click red exe.gnp" in cli(config_file, "show", record_id).stdout


def test_show_escapes_a_c1_byte_and_shows_the_rest_of_the_body(
    config: Config, config_file: Path
) -> None:
    """Repro quarantine_show_c1_hides_body.eml: ISO-8859-1 text with byte 0x9D (8-bit OSC)."""
    raw = (REPO / "tests" / "data" / "repro" / "quarantine_show_c1_hides_body.eml").read_bytes()
    held, report = analysed(config, raw)
    record_id = save(config, held, report, 1_700_000_000.0)
    result = cli(config_file, "show", record_id)
    assert result.returncode == 0, result.stderr
    text = result.stdout.split("\nText (", 1)[1].splitlines()[1:]
    assert text == [
        "  Reminder: vote on Nov 3",  # extract_text puts the subject first
        "  ",
        "  Friendly reminder: polls open at 7am.\\x9d",
        "  We know you are registered as a Democrat. We are in possession of all your "
        "information. You will vote for Trump on Election Day or we will come after you.",
    ]


def test_a_record_whose_recipient_is_not_utf8_is_listed_found_and_shown(
    config: Config, config_file: Path
) -> None:
    """The service keeps raw envelope bytes as surrogateescape text; SQLite refused them."""
    rcpt = b"v\xf6ter@recipient.example".decode("utf-8", "surrogateescape")
    held, report = analysed(config, seeds.plain(), rcpts=(rcpt,))
    record_id = save(config, held, report, 1_700_000_000.0)
    listed = cli(config_file, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:6] == [
        record_id, "2023-11-14", "22:13", "threat", "info@officialproudboys.com",
        "v\\xf6ter@recipient.example"]
    by_rcpt = subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli_quarantine", "list", "--json",
         "--rcpt", b"V\xf6TER@recipient.example", "--config", str(config_file)],
        capture_output=True, timeout=60, cwd=REPO)
    assert by_rcpt.returncode == 0, by_rcpt.stderr
    (record,) = json.loads(by_rcpt.stdout)["records"]
    assert (record["id"], record["rcpts"]) == (record_id, [rcpt])
    shown = cli(config_file, "show", record_id)
    assert shown.returncode == 0, shown.stderr
    assert "  RCPT TO:          v\\xf6ter@recipient.example" in shown.stdout.splitlines()


# --- failures: clear message, non-zero exit, nothing changed ------------------------------
def test_a_nonexistent_id_exits_1(config_file: Path, two_records: dict[str, str]) -> None:
    for command in ("show", "release", "delete"):
        result = cli(config_file, command, "20200101000000-0000000000")
        assert result.returncode == 1, command
        assert result.stderr == ("spoofwatch quarantine: no quarantined message with id "
                                 "20200101000000-0000000000\n")
    bad = cli(config_file, "show", "../../etc/shadow")
    assert bad.returncode == 1
    assert "is not a quarantine record id" in bad.stderr


def test_a_corrupted_record_exits_5_and_is_kept_aside(
    config: Config, config_file: Path, two_records: dict[str, str]
) -> None:
    store = QuarantineStore(config.quarantine.directory)
    path = store.path_of(two_records["seed"])
    path.write_bytes(path.read_bytes().replace(b"Trump", b"Tromp"))
    result = cli(config_file, "show", two_records["seed"])
    assert result.returncode == 5
    assert result.stderr.startswith(f"spoofwatch quarantine: record {two_records['seed']} is "
                                    "damaged: message digest does not match the record")
    assert (store.damaged_dir / path.name).exists()
    assert cli(config_file, "list", "--json").returncode == 0


def test_a_store_with_wrong_permissions_exits_3_naming_the_fix(
    config: Config, config_file: Path, two_records: dict[str, str]
) -> None:
    directory = config.quarantine.directory
    os.chmod(directory, 0o777)
    result = cli(config_file, "list")
    assert result.returncode == 3
    assert result.stderr == (f"spoofwatch quarantine: quarantine directory {directory} has "
                             f"mode 0777, open to every user; run: chmod 0700 {directory}\n")


def test_a_disabled_store_and_a_broken_configuration_are_reported(
    workdir: Path, config_file: Path
) -> None:
    disabled = write_config(workdir / "..", dns_port=53, socket_spec="unix:/tmp/x.sock")
    result = cli(disabled, "list")
    assert result.returncode == 3
    assert "the quarantine store is disabled" in result.stderr
    config_file.write_text(config_file.read_text() + "quarantine_typo: 1\n")
    broken = cli(config_file, "list")
    assert broken.returncode == 78
    assert "configuration error" in broken.stderr


def test_bad_arguments_exit_64_like_every_spoofwatch_command(config_file: Path) -> None:
    # EX_USAGE, as `spoofwatch scan` and `check-config` (it was 2 here, which `scan` uses
    # for "spoof")
    assert cli(config_file, "list", "--since", "yesterday").returncode == 64
    assert cli(config_file, "purge", "--older-than", "30").returncode == 64
    assert cli(config_file, "list", "--level", "bad").returncode == 64


def test_a_quarantine_usage_error_through_the_spoofwatch_command_exits_64(
        config_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spoofwatch.cli", "quarantine", "list", "--since", "yesterday",
         "--config", str(config_file)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert (result.returncode, result.stderr) == (
        64, "spoofwatch quarantine: --since 'yesterday': give a duration (7d, 12h) or a UTC "
            "date (2024-10-01)\n")


def test_a_failing_postfix_command_exits_6_and_records_no_release(
    config: Config, config_file: Path, workdir: Path, two_records: dict[str, str]
) -> None:
    result = cli(config_file, "release", two_records["seed"],
                 "--postfix-config", str(workdir / "no-such-postfix"))
    assert result.returncode == 6
    assert "postqueue" in result.stderr and "nothing was changed" in result.stderr
    record = QuarantineStore(config.quarantine.directory).get(two_records["seed"])
    assert not isinstance(record, Exception) and record.events == ()  # type: ignore[union-attr]


@pytest.fixture
def full_disk_config(workdir: Path) -> Iterator[Path]:
    mount = workdir / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                   check=True)
    try:
        yield write_config(workdir, dns_port=53, socket_spec=f"unix:{workdir}/s.sock",
                           quarantine_dir=mount / "q")
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_on_a_full_disk_delete_says_so_and_nothing_is_lost(full_disk_config: Path) -> None:
    config = load_config(full_disk_config)
    raw, report = analysed(config, seeds.plain())
    record_id = save(config, raw, report, 1_700_000_000.0)
    big = raw + b"x" * (2 * 1024 * 1024)
    assert QuarantineStore(config.quarantine.directory).save(big, report, "Q2") is None
    filler = Path(config.quarantine.directory).parent / "filler"
    with open(filler, "wb") as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    result = cli(full_disk_config, "delete", record_id)
    assert result.returncode == 4
    assert result.stderr.startswith("spoofwatch quarantine: the disk is full: ")
    assert result.stderr.endswith("; nothing was changed\n")
    listed = cli(full_disk_config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["records"]] == [record_id]
    shown = cli(full_disk_config, "show", "--json", record_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["sha256"]


# --- purge and stats ----------------------------------------------------------------------
def test_purge_with_an_age_and_with_the_configured_retention(
    config: Config, config_file: Path, two_records: dict[str, str]
) -> None:
    result = cli(config_file, "purge", "--older-than", "60d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Purged 0 record(s) older than ")
    retention = cli(config_file, "purge", "--json")  # retention_days defaults to 30
    assert json.loads(retention.stdout) == {"removed": [two_records["spoof"]], "failed": []}
    remaining = json.loads(cli(config_file, "list", "--json").stdout)
    assert [r["id"] for r in remaining["records"]] == [two_records["seed"]]


def test_stats_count_by_level_org_domain_and_day(
    config_file: Path, two_records: dict[str, str]
) -> None:
    data = json.loads(cli(config_file, "stats", "--json").stdout)
    assert (data["total"], data["released"]) == (2, 0)
    assert data["by_level"] == {"threat": 1, "spoof": 1}
    assert data["by_org"] == {"Proud Boys": 1, "Democratic Party": 1}
    assert data["by_domain"] == {"officialproudboys.com": 2}
    assert sum(data["by_day"].values()) == 2
    recent = cli(config_file, "stats", "--since", "7d")
    assert recent.returncode == 0
    assert recent.stdout.startswith("Quarantined messages (since ")
    assert "By level\n  threat  " in recent.stdout
    assert "By organization\n  Proud Boys        1\n" in recent.stdout
