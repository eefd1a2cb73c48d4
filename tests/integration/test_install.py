"""scripts/install.sh into a fake root (DESTDIR), run twice as an admin upgrading would.

One installation per module: building the virtualenv takes several seconds. pip takes the
dependencies from the package index, as on a real server.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from support.milterproc import REPO

INSTALL = REPO / "scripts" / "install.sh"
PREFIX = "/opt/spoofwatch"
UNIT = "/usr/local/lib/systemd/system/spoofwatch.service"
CONFIG_FILES = ("spoofwatch.yaml", "default.yaml", "monitor.yaml", "strict.yaml",
                "watchlist.example.yaml")
ADMIN_EDIT = "\n# edited by the admin\n"
OLD_RELEASE = "# strict.yaml of an older release\nname: strict\n"


@dataclass(frozen=True)
class Installation:
    root: Path
    first: subprocess.CompletedProcess[str]
    modes_after_first: dict[str, int]  # path inside root -> st_mode
    second: subprocess.CompletedProcess[str]


def run_install(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESTDIR": str(root), "PREFIX": PREFIX}
    return subprocess.run(["bash", str(INSTALL)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def snapshot(root: Path) -> dict[str, int]:
    modes = {}
    for path in root.rglob("*"):
        inside = "/" + str(path.relative_to(root))
        if inside.startswith(PREFIX + "/lib") or inside.startswith(PREFIX + "/include"):
            continue  # the virtualenv's own files
        modes[inside] = path.lstat().st_mode
    return modes


# The target's service user, as systemd-sysusers would have made it (any unused number).
SERVICE_UID, SERVICE_GID = 64_801, 64_802
STORE_FILES = ("var/lib/spoofwatch/quarantine/index.sqlite",
               "var/lib/spoofwatch/quarantine/release.key",
               "var/lib/spoofwatch/quarantine/msg/20241021053012-0a1b2c3d4e.rec",
               "var/lib/spoofwatch/quarantine/tmp/partial",
               "var/lib/spoofwatch/quarantine/damaged/x.rec",
               "var/log/spoofwatch/decisions.jsonl")


def leave_a_root_owned_store(root: Path) -> None:
    """What `spoofwatch run` as root leaves behind, and the user the target has by now."""
    (root / "etc/passwd").write_text(
        f"root:x:0:0::/root:/bin/sh\n"
        f"spoofwatch:x:{SERVICE_UID}:{SERVICE_GID}::/var/lib/spoofwatch:/usr/sbin/nologin\n")
    (root / "etc/group").write_text(f"root:x:0:\nspoofwatch:x:{SERVICE_GID}:\n")
    for name in STORE_FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("data\n")
        os.chown(path, 0, 0)
    # a link planted in the store must not hand its target over
    os.symlink("/etc/passwd", root / "var/lib/spoofwatch/quarantine/msg/link")


@pytest.fixture(scope="module")
def installation() -> Iterator[Installation]:
    root = Path(tempfile.mkdtemp(prefix="spoofwatch-destdir-"))
    try:
        first = run_install(root)
        assert first.returncode == 0, first.stdout + first.stderr
        modes = snapshot(root)
        config = root / "etc/spoofwatch/spoofwatch.yaml"
        config.write_text(config.read_text() + ADMIN_EDIT)
        # strict.yaml as an older release shipped it, never edited: an upgrade replaces it
        for copy in (root / "etc/spoofwatch", root / PREFIX.lstrip("/") / "share/spoofwatch/etc"):
            (copy / "strict.yaml").write_text(OLD_RELEASE)
        leave_a_root_owned_store(root)
        second = run_install(root)
        assert second.returncode == 0, second.stdout + second.stderr
        yield Installation(root, first, modes, second)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def inside(inst: Installation, path: str) -> Path:
    return inst.root / path.lstrip("/")


# --- the first run ------------------------------------------------------------------------
def test_first_run_puts_each_file_in_its_place_with_its_mode(installation: Installation) -> None:
    expected = {
        f"{PREFIX}/bin/spoofwatch": 0o755,
        UNIT: 0o644,
        "/usr/local/lib/systemd/system/spoofwatch-agent.service": 0o644,
        "/usr/local/lib/sysusers.d/spoofwatch.conf": 0o644,
        "/usr/local/lib/tmpfiles.d/spoofwatch.conf": 0o644,
        "/usr/local/lib/tmpfiles.d/spoofwatch-postfix.conf": 0o644,  # group postfix exists here
        "/etc/spoofwatch": 0o755,
        **{f"/etc/spoofwatch/{name}": 0o644 for name in CONFIG_FILES},
        f"{PREFIX}/share/doc/spoofwatch/operations.md": 0o644,
        f"{PREFIX}/share/doc/spoofwatch/postfix.md": 0o644,
    }
    modes = installation.modes_after_first
    assert {path: stat.S_IMODE(modes[path]) for path in expected if path in modes} == expected


def test_first_run_installs_nothing_else_in_etc(installation: Installation) -> None:
    etc = sorted(p for p in installation.modes_after_first if p.startswith("/etc/"))
    assert etc == ["/etc/spoofwatch"] + [f"/etc/spoofwatch/{n}" for n in sorted(CONFIG_FILES)]


def test_config_files_are_the_bundled_ones(installation: Installation) -> None:
    for name in CONFIG_FILES[1:]:
        installed = inside(installation, f"/etc/spoofwatch/{name}").read_bytes()
        assert installed == (REPO / "policies" / name).read_bytes(), name


def test_command_is_linked_into_usr_local_bin(installation: Installation) -> None:
    link = inside(installation, "/usr/local/bin/spoofwatch")
    assert stat.S_ISLNK(installation.modes_after_first["/usr/local/bin/spoofwatch"])
    assert os.readlink(link) == f"{PREFIX}/bin/spoofwatch"


def test_units_commands_exist_in_the_installed_tree(installation: Installation) -> None:
    unit = inside(installation, UNIT).read_text()
    commands = [line.split("=", 1)[1].split()[0] for line in unit.splitlines()
                if line.startswith(("ExecStart=", "ExecStartPre=", "ExecReload="))]
    ours = [c for c in commands if c != "/bin/kill"]
    assert ours == [f"{PREFIX}/bin/spoofwatch"] * 3
    assert all(os.access(inside(installation, c), os.X_OK) for c in ours)


def test_installed_unit_passes_systemd_analyze_verify(installation: Installation,
                                                      tmp_path: Path) -> None:
    # the fake root's paths stand in for the real ones; /bin/kill is this machine's
    unit = inside(installation, UNIT).read_text()
    copy = tmp_path / "spoofwatch.service"
    copy.write_text(unit.replace(PREFIX, str(inside(installation, PREFIX))))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_installed_command_accepts_the_installed_configuration(installation: Installation) -> None:
    config = inside(installation, "/etc/spoofwatch/spoofwatch.yaml")
    result = subprocess.run(
        [str(inside(installation, f"{PREFIX}/bin/spoofwatch")), "check-config", "--config",
         str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    # relative paths in the config lead to the policies installed beside it
    policy = inside(installation, "/etc/spoofwatch/default.yaml")
    assert f"policy default from {policy}" in result.stdout


def test_first_run_says_it_left_the_system_alone(installation: Installation) -> None:
    out = installation.first.stdout
    assert "DESTDIR is set: not creating the user" in out
    assert "install: installed /etc/spoofwatch/spoofwatch.yaml" in out


def test_sysusers_and_tmpfiles_create_the_user_and_directories(installation: Installation,
                                                               tmp_path: Path) -> None:
    # a scratch root with the installed snippets and a postfix group, as on a mail server
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                         "postfix:x:107:114::/var/spool/postfix:/usr/sbin/nologin\n")
    (tmp_path / "etc/group").write_text("root:x:0:\npostfix:x:114:\n")
    for kind in ("sysusers.d", "tmpfiles.d"):
        shutil.copytree(inside(installation, f"/usr/local/lib/{kind}"),
                        tmp_path / f"usr/local/lib/{kind}")
    for tool in (["systemd-sysusers"], ["systemd-tmpfiles", "--create"]):
        result = subprocess.run([*tool, f"--root={tmp_path}"], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    user = next(line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()
                if line.startswith("spoofwatch:"))
    uid, gid, home, shell = int(user[2]), int(user[3]), user[5], user[6]
    assert (home, shell) == ("/var/lib/spoofwatch", "/usr/sbin/nologin")
    assert 0 < uid < 1000  # a system user

    def owner_mode(path: str) -> tuple[int, int, int]:
        st = (tmp_path / path.lstrip("/")).stat()
        return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

    assert owner_mode("/var/lib/spoofwatch") == (uid, gid, 0o750)
    assert owner_mode("/var/lib/spoofwatch/quarantine") == (uid, gid, 0o750)
    assert owner_mode("/var/spool/postfix/spoofwatch") == (uid, 114, 0o2750)


# --- the second run -----------------------------------------------------------------------
def test_second_run_keeps_the_edited_config_and_puts_the_new_one_beside_it(
    installation: Installation,
) -> None:
    config = inside(installation, "/etc/spoofwatch/spoofwatch.yaml")
    bundled = (REPO / "policies/spoofwatch.yaml").read_text()
    assert config.read_text() == bundled + ADMIN_EDIT
    assert Path(f"{config}.dist").read_text() == bundled
    assert ("kept your edited /etc/spoofwatch/spoofwatch.yaml; the new version is "
            "/etc/spoofwatch/spoofwatch.yaml.dist") in installation.second.stdout


def test_second_run_updates_a_config_file_the_admin_did_not_edit(
    installation: Installation,
) -> None:
    strict = inside(installation, "/etc/spoofwatch/strict.yaml")
    assert strict.read_bytes() == (REPO / "policies/strict.yaml").read_bytes()
    assert not Path(f"{strict}.dist").exists()
    assert ("install: updated /etc/spoofwatch/strict.yaml (you had not changed it)"
            in installation.second.stdout.splitlines())


def test_second_run_leaves_unchanged_config_files_alone(installation: Installation) -> None:
    said = installation.second.stdout
    for name in ("default.yaml", "monitor.yaml", "watchlist.example.yaml"):
        assert not inside(installation, f"/etc/spoofwatch/{name}.dist").exists()
        for verb in ("installed", "updated", "kept your edited"):
            assert f"install: {verb} /etc/spoofwatch/{name}" not in said


def test_second_run_gives_a_root_owned_store_to_the_service_user(
    installation: Installation,
) -> None:
    root = installation.root
    tree = [root / "var/lib/spoofwatch", root / "var/log/spoofwatch"]
    paths = [p for top in tree for p in (top, *top.rglob("*"))]
    owners = {str(p.relative_to(root)): (p.lstat().st_uid, p.lstat().st_gid) for p in paths}
    assert set(owners.values()) == {(SERVICE_UID, SERVICE_GID)}, owners
    assert set(STORE_FILES) <= set(owners)
    assert os.stat("/etc/passwd").st_uid == 0  # the link was changed, not its target
    assert ("install: /var/lib/spoofwatch and everything in it: owned by spoofwatch"
            in installation.second.stdout.splitlines())


def test_second_run_reuses_the_virtualenv(installation: Installation) -> None:
    assert "creating the virtualenv" in installation.first.stdout
    assert "creating the virtualenv" not in installation.second.stdout


# --- scripts/run.sh: the README's "run it" command ------------------------------------------
def test_run_sh_keeps_its_socket_and_store_in_the_development_state_directory(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    log = tmp_path / "run.log"
    env = {**os.environ, "SPOOFWATCH_SETUP": "no", "SPOOFWATCH_STATE": str(state)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(REPO / "scripts/run.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_for_unix_socket(proc, state / "spoofwatch.sock", log)
    finally:
        proc.terminate()  # run.sh execs the service: this is its supervisor's PID
        code = proc.wait(timeout=30)
    written = yaml.safe_load((state / "spoofwatch.yaml").read_text())
    assert written["milter"]["socket"] == f"unix:{state}/spoofwatch.sock"
    assert written["quarantine"]["directory"] == f"{state}/quarantine"
    assert written["policy"] == str(REPO / "policies/default.yaml")
    assert (state / "quarantine/release.key").is_file()
    assert stat.S_IMODE((state / "quarantine").stat().st_mode) == 0o700
    assert code == 0, log.read_text()
    assert (f"run: development state in {state} (socket unix:{state}/spoofwatch.sock, "
            f"quarantine {state}/quarantine); the production paths are not touched"
            in log.read_text())


def wait_for_unix_socket(proc: subprocess.Popen[bytes], path: Path, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"run.sh exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(path))
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"no socket at {path} within 30 s:\n{log.read_text()}")


# --- scripts/setup.sh --test and the machine's Postfix ----------------------------------------
DEBCONF_QUESTION = "postfix/main_mailer_type"


def private_debconf(directory: Path) -> dict[str, str]:
    """The environment for a debconf database of our own, a copy of this machine's.

    The tools (debconf-set-selections, debconf-communicate, debconf-show) are the real
    ones; DEBCONF_SYSTEMRC points them at the copy, so the machine's answers stay as they are.
    """
    for name in ("config.dat", "templates.dat"):
        shutil.copy(f"/var/cache/debconf/{name}", directory / name)
    rc = directory / "debconf.conf"
    rc.write_text(f"Config: configdb\nTemplates: templatedb\n\n"
                  f"Name: configdb\nDriver: File\nFilename: {directory}/config.dat\n\n"
                  f"Name: templatedb\nDriver: File\nMode: 644\n"
                  f"Filename: {directory}/templates.dat\n")
    return {**os.environ, "DEBCONF_SYSTEMRC": str(rc)}


def debconf_line(env: dict[str, str]) -> str:
    shown = subprocess.run(["debconf-show", "postfix"], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    return next(line for line in shown.splitlines() if DEBCONF_QUESTION in line)


def run_postfix_debconf(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts/postfix-debconf.sh"), action], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_setup_leaves_no_recorded_no_configuration_answer_for_an_unconfigured_postfix(
    tmp_path: Path,
) -> None:
    env = private_debconf(tmp_path)
    env["POSTFIX_MAIN_CF"] = str(tmp_path / "absent-main.cf")
    assert run_postfix_debconf("preseed", env).returncode == 0
    # what the previous set-up left for good: the answer, marked as seen
    assert debconf_line(env) == f"* {DEBCONF_QUESTION}: No configuration"
    forgotten = run_postfix_debconf("forget", env)
    assert forgotten.returncode == 0, forgotten.stderr
    # unseen: dpkg-reconfigure asks again; the value keeps unattended upgrades inert
    assert debconf_line(env) == f"  {DEBCONF_QUESTION}: No configuration"
    assert forgotten.stdout.endswith("To make it this machine's mail server: "
                                     "dpkg-reconfigure postfix\n")


def test_setup_leaves_the_answer_of_a_configured_postfix_alone(tmp_path: Path) -> None:
    env = private_debconf(tmp_path)
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n")
    env["POSTFIX_MAIN_CF"] = str(tmp_path / "main.cf")
    subprocess.run(["debconf-set-selections"], input=f"postfix {DEBCONF_QUESTION} select "
                   "Internet Site\n", env=env, text=True, check=True, timeout=60)
    forgotten = run_postfix_debconf("forget", env)
    assert (forgotten.returncode, forgotten.stdout) == (0, "")
    assert debconf_line(env) == f"* {DEBCONF_QUESTION}: Internet Site"


def test_setup_script_preseeds_only_for_an_installation_and_then_forgets() -> None:
    script = (REPO / "scripts/setup.sh").read_text()
    assert "debconf-set-selections" not in script  # only through postfix-debconf.sh
    assert script.index("postfix-debconf.sh preseed") < script.index("apt-get install") \
        < script.index("postfix-debconf.sh forget")
