"""scripts/install.sh into a fake root (DESTDIR), run twice as an admin upgrading would.

One installation per module: building the virtualenv takes several seconds. pip takes the
dependencies from the package index, as on a real server.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def test_second_run_reuses_the_virtualenv(installation: Installation) -> None:
    assert "creating the virtualenv" in installation.first.stdout
    assert "creating the virtualenv" not in installation.second.stdout
