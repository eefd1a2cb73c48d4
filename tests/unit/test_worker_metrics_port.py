"""Worker k serves its metrics on metrics.listen's port + k; past port 65535 that worker
runs without metrics (logged), it does not crash in a restart loop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spoofwatch.config import load_config
from spoofwatch.service import Service
from spoofwatch.worker import _start_metrics, metrics_listen

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_each_worker_has_the_next_port() -> None:
    assert metrics_listen("127.0.0.1:9464", 0) == "127.0.0.1:9464"
    assert metrics_listen("127.0.0.1:9464", 3) == "127.0.0.1:9467"
    assert metrics_listen("[::1]:9464", 1) == "[::1]:9465"


def test_a_port_past_65535_means_no_metrics_for_that_worker(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "spoofwatch.yaml"
    path.write_text(f"authserv_id: mx.example.org\npolicy: {POLICIES}/default.yaml\n"
                    "metrics:\n  enabled: true\n  listen: 127.0.0.1:65535\n")
    config = load_config(path)
    service = Service.create(config)
    with caplog.at_level(logging.ERROR):
        assert _start_metrics(service, config, 1) is None
    assert "cannot serve metrics on 127.0.0.1:65536" in caplog.text
