"""Configuration and policy loading: valid files load, mistakes name file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spoofwatch.config import ConfigError, load_config, load_policy
from spoofwatch.results import Level

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"


def _write(tmp_path: Path, text: str, name: str = "spoofwatch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _config(tmp_path: Path, body: str) -> Path:
    return _write(tmp_path, f"authserv_id: mx.example.org\npolicy: {POLICIES}/default.yaml\n{body}")


def test_bundled_configuration_loads() -> None:
    config = load_config(POLICIES / "spoofwatch.yaml")
    assert config.authserv_id == "mx.example.org"
    assert config.milter.socket == "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock"
    assert config.milter.socket_mode == 0o660
    assert config.policy.name == "default"
    assert config.fail_safe == "accept"
    assert {o.name for o in config.detection.watchlist.organizations} >= {"Proud Boys"}


def test_default_socket_is_the_bundled_configurations(tmp_path: Path) -> None:
    # A configuration that leaves milter.socket out must get a socket Debian's chrooted
    # smtpd can see, the one the bundled configuration, unit, tmpfiles and guide use.
    bundled = load_config(POLICIES / "spoofwatch.yaml").milter.socket
    without = load_config(_config(tmp_path, "milter:\n  timeout: 30\n")).milter.socket
    assert without == bundled == "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock"


@pytest.mark.parametrize("name", ["default", "monitor", "strict"])
def test_bundled_policies_load(name: str) -> None:
    policy = load_policy(POLICIES / f"{name}.yaml")
    assert policy.name == name
    assert policy.actions_for(Level.CLEAN) == ("headers",)


def test_strict_policy_rejects_spoofs_and_monitor_only_watches() -> None:
    assert "reject" in load_policy(POLICIES / "strict.yaml").actions_for(Level.SPOOF)
    assert load_policy(POLICIES / "monitor.yaml").mode == "monitor"
    assert load_policy(POLICIES / "default.yaml").actions_for(Level.THREAT) == (
        "headers", "quarantine")


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    path = _config(tmp_path, "dns:\n  port: 53\n  timeout: fast\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:5: dns.timeout: must be a number, got str 'fast'"


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = _config(tmp_path, "trusted_network: [10.0.0.0/8]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:3: trusted_network: unknown key"


def test_missing_authserv_id_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, f"policy: {POLICIES}/default.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:1: authserv_id: is required"


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "authserv_id: mx.example.org\ndns: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.path == str(path)
    assert err.value.line is not None and err.value.line >= 2
    assert "invalid YAML" in str(err.value)


def test_missing_policy_file_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "authserv_id: mx.example.org\npolicy: nowhere.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:2: policy: policy file {tmp_path}/nowhere.yaml not found"


def test_bad_socket_and_network_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"milter.socket: must be unix:/PATH"):
        load_config(_config(tmp_path, "milter:\n  socket: /tmp/x.sock\n"))
    with pytest.raises(ConfigError, match=r":3: trusted_networks: '10.0.0.300/8' is not an IP"):
        load_config(_config(tmp_path, "trusted_networks: [10.0.0.300/8]\n"))


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "authserv_id: a.example\nauthserv_id: b.example\n")
    with pytest.raises(ConfigError, match=r":2: invalid YAML: duplicate key 'authserv_id'"):
        load_config(path)


def test_policy_thresholds_must_rise(tmp_path: Path) -> None:
    path = _write(tmp_path, "thresholds:\n  suspect: 8\n  spoof: 6\n", "p.yaml")
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(err.value) == (
        f"{path}:3: thresholds.spoof: thresholds must rise: suspect <= spoof <= threat")


def test_policy_unknown_action_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "actions:\n  spoof: [headers, explode]\n", "p.yaml")
    with pytest.raises(ConfigError, match=r"p.yaml:2: actions.spoof: unknown action 'explode'"):
        load_policy(path)


def test_policy_reply_must_be_an_smtp_reply(tmp_path: Path) -> None:
    path = _write(tmp_path, "reject_reply: 'go away'\n", "p.yaml")
    with pytest.raises(ConfigError,
                       match=r"p.yaml:1: reject_reply: must look like '550 5.7.1 text'"):
        load_policy(path)


def test_headers_action_is_always_included(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, "actions:\n  threat: [quarantine]\n", "p.yaml"))
    assert policy.actions_for(Level.THREAT) == ("headers", "quarantine")


def test_watchlist_errors_name_file_line_and_key(tmp_path: Path) -> None:
    wl = _write(tmp_path, "organizations:\n  - name: X\n    domains: [not a domain]\n", "w.yaml")
    path = _config(tmp_path, f"watchlist: {wl}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{wl}:3: organizations[0].domains[0].domain: ")
    assert "is not a domain name" in str(err.value)


def test_socket_mode_accepts_quoted_octal(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'milter:\n  socket_mode: "0600"\n'))
    assert config.milter.socket_mode == 0o600


def test_worker_count_is_checked_and_zero_means_one_per_cpu(tmp_path: Path) -> None:
    from spoofwatch.config import MAX_AUTO_WORKERS, worker_count

    with pytest.raises(ConfigError, match=r"milter.workers: must be at least 0, got -1"):
        load_config(_config(tmp_path, "milter:\n  workers: -1\n"))
    with pytest.raises(ConfigError, match=r"milter.workers: must be at most 64, got 65"):
        load_config(_config(tmp_path, "milter:\n  workers: 65\n"))
    assert load_config(_config(tmp_path, "milter:\n  workers: 3\n")).milter.workers == 3
    assert worker_count(3) == 3
    cpus = len(os.sched_getaffinity(0))
    assert worker_count(0) == max(1, min(MAX_AUTO_WORKERS, cpus))
