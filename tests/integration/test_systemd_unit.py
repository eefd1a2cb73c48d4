"""The systemd unit: systemd's own checks, and its hardening tried on the real service.

PID 1 is not systemd where the tests run, so the unit cannot be started. What can be shown
is shown: `systemd-analyze verify` and `security` accept it, and the service does its work
under the memory rule MemoryDenyWriteExecute= imposes, set up by hand in two ways: the
kernel's PR_SET_MDWE, and a seccomp filter with the rules systemd.exec(5) documents (the
way systemd 252, Debian 12's, enforces the setting).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, ed25519_key, make_message, publish_key, rsa_key
from support.milterclient import MilterClient, MilterOutcome
from support.milterproc import REPO, write_config

UNIT = REPO / "systemd" / "spoofwatch.service"
SYSUSERS = REPO / "systemd" / "spoofwatch.sysusers"
OPERATIONS = REPO / "docs" / "operations.md"
BUNDLED_CONFIG = REPO / "policies" / "spoofwatch.yaml"
INSTALLED_BINARY = "/opt/spoofwatch/bin/spoofwatch"
MAX_EXPOSURE = 2.0


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> every value it is given, in order (unit files repeat keys)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_for_this_machine(directory: Path) -> Path:
    """A copy of the unit whose commands are the spoofwatch installed in this test venv.

    `systemd-analyze verify` checks that each command exists; /opt/spoofwatch is where
    scripts/install.sh puts it on a real server, not here.
    """
    binary = Path(sys.prefix) / "bin" / "spoofwatch"
    assert binary.is_file(), f"{binary} missing: run scripts/setup.sh --test"
    copy = directory / "spoofwatch.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                          timeout=60, check=False)


# --- what systemd says about the unit ------------------------------------------------------
def test_systemd_analyze_verify_reports_nothing(tmp_path: Path) -> None:
    result = analyze("verify", str(unit_for_this_machine(tmp_path)))
    # verify exits 0 even for unknown keys; those are only printed
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_analyze_verify_would_notice_a_mistake(tmp_path: Path) -> None:
    unit = unit_for_this_machine(tmp_path)
    unit.write_text(unit.read_text().replace("UMask=0077", "UMask=0077\nMemoryDenyWriteExecut=yes"))
    result = analyze("verify", str(unit))
    assert "Unknown key 'MemoryDenyWriteExecut'" in result.stderr


def test_exposure_is_at_most_2_0() -> None:
    result = analyze("security", "--offline=true", "--threshold=20", str(UNIT))
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"Overall exposure level for spoofwatch\.service: (\d+\.\d)", result.stdout)
    assert score, result.stdout
    assert float(score.group(1)) <= MAX_EXPOSURE


def test_every_hardening_gap_is_argued_in_the_operations_guide() -> None:
    result = analyze("security", "--offline=true", str(UNIT))
    gaps = {m.group(1) for m in re.finditer(r"^✗ (\w+)=", result.stdout, re.M)}
    assert gaps, result.stdout
    text = OPERATIONS.read_text()
    assert {gap for gap in gaps if f"{gap}=" not in text} == set()


# --- what the unit must say ------------------------------------------------------------------
def test_unit_runs_the_installed_command_as_user_spoofwatch() -> None:
    settings = unit_settings(UNIT.read_text())
    config = "--config /etc/spoofwatch/spoofwatch.yaml"
    assert settings["ExecStart"] == [f"{INSTALLED_BINARY} run {config}"]
    assert settings["ExecStartPre"] == [f"{INSTALLED_BINARY} check-config {config}"]
    assert settings["ExecReload"] == [f"{INSTALLED_BINARY} check-config {config}",
                                      "/bin/kill -HUP $MAINPID"]
    assert settings["Type"] == ["simple"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["User"] == ["spoofwatch"]
    assert settings["SupplementaryGroups"] == ["postfix"]
    for key in ("RuntimeDirectory", "StateDirectory", "ConfigurationDirectory"):
        assert settings[key] == ["spoofwatch"]


def test_unit_gives_chown_back_after_removing_privileged_calls() -> None:
    # ~@privileged contains @chown; without it the socket's chown to group postfix fails
    listed = subprocess.run(["systemd-analyze", "syscall-filter", "@privileged"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    assert "@chown" in listed.split()
    filters = unit_settings(UNIT.read_text())["SystemCallFilter"]
    assert filters == ["@system-service", "~@privileged @resources", "@chown"]


def test_sysusers_defines_the_service_user() -> None:
    lines = [line.split() for line in SYSUSERS.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert [line[:3] for line in lines] == [["u", "spoofwatch", "-"]]


def test_bundled_configuration_gives_the_socket_to_postfix() -> None:
    milter = yaml.safe_load(BUNDLED_CONFIG.read_text())["milter"]
    assert (milter["socket_group"], milter["socket_mode"]) == ("postfix", "0660")


# --- MemoryDenyWriteExecute= tried on the real service --------------------------------------
# Runs in a fresh interpreter: applies the memory rule, checks that it bites (a writable and
# executable mapping, and making a writable mapping executable, are refused), then runs the
# spoofwatch command in the same process. Exit 90: the rule could not be set up.
LAUNCHER = r'''
import ctypes, os, platform, struct, sys

mode, argv = sys.argv[1], sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
ulong = ctypes.c_ulong
libc.prctl.argtypes = [ctypes.c_int, ulong, ulong, ulong, ulong]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
MAP_FAILED = ctypes.c_void_p(-1).value


def fail(text):
    sys.stderr.write("launcher: " + text + "\n")
    sys.exit(90)


def apply_mdwe():
    PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        fail("PR_SET_MDWE failed (%s; kernel %s, needs 6.3 or later)"
             % (os.strerror(ctypes.get_errno()), platform.release()))
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) != PR_MDWE_REFUSE_EXEC_GAIN:
        fail("PR_GET_MDWE does not report PR_MDWE_REFUSE_EXEC_GAIN")


# (audit arch, mmap, mprotect, pkey_mprotect, shmat) per machine
ARCHES = {"x86_64": (0xC000003E, 9, 10, 329, 30), "aarch64": (0xC00000B7, 222, 226, 288, 196)}


def apply_seccomp():
    """systemd.exec(5)'s MemoryDenyWriteExecute= rules: EPERM for mmap with PROT_WRITE and
    PROT_EXEC together, mprotect/pkey_mprotect with PROT_EXEC, shmat with SHM_EXEC."""
    if platform.machine() not in ARCHES:
        fail("no syscall table for " + platform.machine())
    arch, mmap_nr, mprotect_nr, pkey_nr, shmat_nr = ARCHES[platform.machine()]
    LD, JEQ, JSET, AND, RET = 0x20, 0x15, 0x45, 0x54, 0x06
    ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
    ARG2 = 16 + 8 * 2  # seccomp_data.args[2], low 32 bits (little-endian)
    program = [  # (code, jump-if-true label, jump-if-false label, k); labels are names
        ("arch", LD, None, None, 4), (None, JEQ, "nr", "allow", arch),
        ("nr", LD, None, None, 0),
        (None, JEQ, "mmap", None, mmap_nr), (None, JEQ, "exec", None, mprotect_nr),
        (None, JEQ, "exec", None, pkey_nr), (None, JEQ, "shm", "allow", shmat_nr),
        ("mmap", LD, None, None, ARG2), (None, AND, None, None, PROT_WRITE | PROT_EXEC),
        (None, JEQ, "deny", "allow", PROT_WRITE | PROT_EXEC),
        ("exec", LD, None, None, ARG2), (None, JSET, "deny", "allow", PROT_EXEC),
        ("shm", LD, None, None, ARG2), (None, JSET, "deny", "allow", 0o100000),
        ("allow", RET, None, None, ALLOW), ("deny", RET, None, None, EPERM),
    ]
    where = {label: i for i, (label, *_rest) in enumerate(program) if label}
    code = b""
    for i, (_label, op, true, false, k) in enumerate(program):
        jt = where[true] - i - 1 if true else 0
        jf = where[false] - i - 1 if false else 0
        code += struct.pack("=HBBI", op, jt, jf, k)

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(code)
    prog = Prog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("PR_SET_NO_NEW_PRIVS failed")
    libc.prctl.argtypes = [ctypes.c_int, ulong, ctypes.c_void_p, ulong, ulong]
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        fail("seccomp filter refused: " + os.strerror(ctypes.get_errno()))


{"mdwe": apply_mdwe, "seccomp": apply_seccomp}[mode]()
wx = libc.mmap(None, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
if wx != MAP_FAILED:
    fail("a writable and executable mapping was allowed")
rw = libc.mmap(None, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
if rw == MAP_FAILED or libc.mprotect(rw, 4096, PROT_READ | PROT_EXEC) == 0:
    fail("making a writable mapping executable was allowed")
sys.stderr.write("launcher: %s in force\n" % mode)
sys.stderr.flush()

from spoofwatch.cli import main
sys.exit(main(argv))
'''

DOMAIN = "campaign.example"
CAMPAIGN_IP = "198.51.100.10"
RULES = ("mdwe", "seccomp")


def launch(rule: str, *argv: str, **popen: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, rule, *argv], cwd=REPO, **popen)


def _zone(dns: DnsTestServer) -> None:
    dns.add(DOMAIN, "TXT", f"v=spf1 ip4:{CAMPAIGN_IP} -all")
    dns.add(DOMAIN, "MX", f"10 mx.{DOMAIN}")
    dns.add(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "rsa1", DOMAIN, rsa_key())
    publish_key(dns, "ed1", DOMAIN, ed25519_key())


def _doubly_signed() -> bytes:
    msg = make_message(f"Campaign News <news@{DOMAIN}>", "voter@recipient.example",
                       "This week on the trail", "Join us on Saturday.\n")
    return dkim_sign(dkim_sign(msg, rsa_key(), "rsa1", DOMAIN), ed25519_key(), "ed1", DOMAIN)


@pytest.fixture(scope="module")
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="spoofwatch-mdwe-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def service_config(dns_server: DnsTestServer, work_dir: Path) -> Path:
    return write_config(work_dir, dns_port=dns_server.port,
                        socket_spec=f"unix:{work_dir}/spoofwatch.sock")


@pytest.fixture(scope="module")
def hardened_services(
    service_config: Path, work_dir: Path
) -> Iterator[dict[str, tuple[str, Path]]]:
    """`spoofwatch run` under each rule, side by side: rule -> (socket spec, log file).

    Started and stopped together: libmilter notices SIGTERM only within about 5 s.
    """
    procs: list[subprocess.Popen[bytes]] = []
    services: dict[str, tuple[str, Path]] = {}
    try:
        for rule in RULES:
            sock, log = work_dir / f"{rule}.sock", work_dir / f"{rule}.log"
            config = work_dir / f"{rule}.yaml"
            config.write_text(service_config.read_text().replace(
                str(work_dir / "spoofwatch.sock"), str(sock)))
            with open(log, "wb") as out:
                procs.append(launch(rule, "run", "--config", str(config),
                                    stdout=out, stderr=subprocess.STDOUT))
            services[rule] = (f"unix:{sock}", log)
        for proc, (spec, log) in zip(procs, services.values(), strict=True):
            _wait_for_socket(proc, Path(spec[5:]), log)
        yield services
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_for_socket(proc: subprocess.Popen[bytes], sock: Path, log: Path) -> None:
    import socket
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"spoofwatch exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(0.5)
                s.connect(str(sock))
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"spoofwatch did not listen within 20 s:\n{log.read_text()}")


def _inserted(outcome: MilterOutcome, name: str) -> list[str]:
    return [m.args[-1] for m in outcome.modifications
            if m.kind in ("addheader", "insheader") and m.args[-2] == name]


@pytest.mark.parametrize("rule", RULES)
def test_service_verifies_rsa_and_ed25519_signatures_under_the_memory_rule(
    rule: str, dns: DnsTestServer, hardened_services: dict[str, tuple[str, Path]]
) -> None:
    spec, log = hardened_services[rule]
    _zone(dns)
    with MilterClient(spec, timeout=20) as client:
        outcome = client.send_raw(_doubly_signed(), client_ip=CAMPAIGN_IP,
                                  helo=f"mail.{DOMAIN}", mail_from=f"<news@{DOMAIN}>")
    assert outcome.action == "accept"
    [results] = _inserted(outcome, "Authentication-Results")
    dkim = sorted(re.findall(r"dkim=(\w+) [^;]*header\.a=([\w-]+)", results))
    assert dkim == [("pass", "ed25519-sha256"), ("pass", "rsa-sha256")], results
    assert "spf=pass" in results and f"dmarc=pass (p=reject) header.from={DOMAIN}" in results
    assert _inserted(outcome, "X-Spoofwatch-Verdict") == ["clean; score=0; findings=none"]
    assert "in force" in log.read_text()


@pytest.mark.parametrize("rule", RULES)
def test_scan_judges_a_spoof_under_the_memory_rule(
    rule: str, dns: DnsTestServer, service_config: Path, work_dir: Path
) -> None:
    _zone(dns)
    message = work_dir / f"spoof-{rule}.eml"
    message.write_bytes(make_message(f"Campaign <news@{DOMAIN}>", "voter@recipient.example",
                                     "Donate now", "Send money.\n"))
    proc = launch(rule, "scan", "--config", str(service_config), "--json",
                  "--client-ip", "203.0.113.66", "--helo", "bulk.sender.example",
                  "--mail-from", f"news@{DOMAIN}", str(message),
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=60)
    assert b"in force" in stderr, stderr.decode()
    report = json.loads(stdout)
    assert (report["level"], proc.returncode) == ("spoof", 2)
    assert report["dmarc"]["result"] == "fail"



def test_unit_may_write_the_bundled_configurations_socket_directory() -> None:
    # the service must be able to create its socket where the shipped config puts it,
    # and that directory must be the one the tmpfiles snippet makes for group postfix
    socket_path = yaml.safe_load(BUNDLED_CONFIG.read_text())["milter"]["socket"]
    assert socket_path == "unix:/var/spool/postfix/spoofwatch/spoofwatch.sock"
    directory = socket_path[5:].rsplit("/", 1)[0]
    assert unit_settings(UNIT.read_text())["ReadWritePaths"] == [f"-{directory}"]
    tmpfiles = (REPO / "systemd" / "spoofwatch-postfix.tmpfiles").read_text().splitlines()
    assert [line for line in tmpfiles if line and not line.startswith("#")] == [
        f"d {directory} 2750 spoofwatch postfix -"]


def test_the_agent_unit_verifies_and_runs_the_agent_command(tmp_path: Path) -> None:
    binary = Path(sys.prefix) / "bin" / "spoofwatch"
    unit = tmp_path / "spoofwatch-agent.service"
    unit.write_text((REPO / "systemd" / "spoofwatch-agent.service").read_text()
                    .replace(INSTALLED_BINARY, str(binary)))
    result = analyze("verify", str(unit))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    start = unit_settings(unit.read_text())["ExecStart"]
    assert start == [f"{binary} quarantine agent --config /etc/spoofwatch/spoofwatch.yaml"]
