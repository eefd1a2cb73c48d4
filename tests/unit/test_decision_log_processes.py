"""Several worker processes write one decision log (milter.workers > 1): no line is lost or
torn, and the file is rotated by size once, not once per process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from spoofwatch.logline import DecisionLog, DecisionLogSettings

PROCESSES = 3
RECORDS = 300
MAX_BYTES = 16_384


def _write_records(path: Path, writer: int) -> None:
    log = DecisionLog(DecisionLogSettings(str(path), MAX_BYTES, backups=100))
    for n in range(RECORDS):
        assert log.write({"writer": writer, "n": n, "pad": "x" * (n % 97)})
    log.close()


def test_processes_share_one_rotated_log_without_losing_a_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    children = []
    for writer in range(PROCESSES):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _write_records(path, writer)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    files = sorted(tmp_path.iterdir())
    assert {f.name for f in files} == {"decisions.jsonl"} | {
        f"decisions.jsonl.{n}" for n in range(1, len(files))}
    seen = set()
    for f in files:
        data = f.read_bytes()
        assert len(data) <= MAX_BYTES, f.name  # rotated before a line would overflow it
        for line in data.decode("ascii").splitlines():
            record = json.loads(line)
            seen.add((record["writer"], record["n"]))
    assert seen == {(w, n) for w in range(PROCESSES) for n in range(RECORDS)}
    total = sum(f.stat().st_size for f in files)
    # one rotation per full file: every rotated file is nearly full
    assert len(files) - 1 <= total // (MAX_BYTES - 200)
