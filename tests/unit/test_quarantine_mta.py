"""The Postfix commands' outcomes as the quarantine reads them (stand-in commands on PATH:
what matters here is how each exit and output is taken, not Postfix itself, which the e2e
tests drive for real)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spoofwatch.quarantine.mta import MtaError, Postfix


def _command(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bindir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def test_a_failing_flush_after_the_release_from_hold_still_counts_as_released(
    bindir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _command(bindir, "postsuper", 'echo "postsuper: Released from hold: 1 message" >&2')
    _command(bindir, "postqueue", 'echo "postqueue: fatal: mail system is down" >&2; exit 69')
    with caplog.at_level(logging.WARNING, logger="spoofwatch.quarantine"):
        Postfix().release("4XyZ1")  # no MtaError: the message left the hold queue
    assert "goes at Postfix's next queue run" in caplog.text


def test_a_release_postsuper_did_not_do_is_an_error(bindir: Path) -> None:
    _command(bindir, "postsuper", "echo 'postsuper: Released from hold: 0 messages' >&2")
    _command(bindir, "postqueue", "exit 0")
    with pytest.raises(MtaError, match="did not release 4XyZ1"):
        Postfix().release("4XyZ1")


def test_an_address_with_a_nul_byte_is_an_mta_error_not_a_crash(bindir: Path) -> None:
    _command(bindir, "sendmail", "cat >/dev/null")
    with pytest.raises(MtaError, match="NUL byte"):
        Postfix().reinject(b"Subject: x\r\n\r\nx\r\n", "bad\x00@example.org", ["a@b.example"])
