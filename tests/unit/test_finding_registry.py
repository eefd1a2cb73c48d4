"""The registry of findings: one record per finding, and its name leads to the module that
builds it in one hop. Nothing in the package builds a finding the registry does not know,
and a policy naming an unknown finding is a configuration error with file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from spoofwatch import cli
from spoofwatch.config import ConfigError, load_policy
from spoofwatch.finding_registry import (
    BY_NAME,
    DEFAULT_WEIGHTS,
    DEFERS_REJECT,
    REGISTRY,
    SPOOF_EVIDENCE,
    THREAT_CONTENT,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "milter" / "spoofwatch"
POLICIES = REPO / "policies"


def _built_names(path: Path) -> tuple[set[str], list[str]]:
    """Finding names a module builds: the string first argument of each ``Finding(...)``,
    or the values of a module-level ``*_FINDINGS`` dict when the name is chosen from one.
    Also the calls whose name is neither (they would escape this check)."""
    tree = ast.parse(path.read_text())
    tables: set[str] = set()
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id.endswith("_FINDINGS")
                        for t in node.targets)):
            tables.update(v.value for v in node.value.values
                          if isinstance(v, ast.Constant) and isinstance(v.value, str))
    names: set[str] = set()
    unchecked: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "Finding" and node.args):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
        elif tables:
            names.update(tables)
        else:
            unchecked.append(f"{path.name}:{node.lineno}")
    return names, unchecked


def _package_builders() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names, unchecked = _built_names(path)
        assert unchecked == [], "a Finding whose name is not a literal nor from *_FINDINGS"
        if names:
            found[path.relative_to(PACKAGE).as_posix()] = names
    return found


def test_each_finding_is_built_in_the_module_the_registry_names() -> None:
    builders = _package_builders()
    for kind in REGISTRY:
        assert kind.name in builders.get(kind.module, set()), kind


def test_every_finding_the_package_builds_is_registered_to_that_module() -> None:
    for module, names in _package_builders().items():
        assert {n: BY_NAME[n].module if n in BY_NAME else "unregistered" for n in names} == {
            n: module for n in names}


def test_the_name_collector_sees_literal_and_table_names(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text('X_FINDINGS = {"a": "one_finding"}\n'
                      'def f(n):\n    return [Finding("two_finding", 1, ""), Finding(n, 1, "")]\n')
    assert _built_names(source) == ({"one_finding", "two_finding"}, [])
    source.write_text('def f(n):\n    return Finding(n, 1, "")\n')
    assert _built_names(source) == (set(), ["m.py:2"])


def test_one_record_per_finding() -> None:
    assert len(BY_NAME) == len(REGISTRY)


def test_the_registry_keeps_the_weights_and_classes_the_findings_had() -> None:
    assert DEFAULT_WEIGHTS == {
        "dmarc_fail_reject": 6.0, "dmarc_fail_quarantine": 6.0, "dmarc_fail_none": 1.0,
        "dmarc_temperror": 0.0, "dmarc_permerror": 1.0, "from_header_invalid": 4.0,
        "arc_override": 0.0, "from_domain_unauthenticated": 6.0, "non_mail_domain": 4.0,
        "display_name_impersonation": 4.0, "lookalike_domain": 5.0,
        "reply_to_diversion": 3.0, "threat_content": 6.0, "dnsbl_listed": 2.0,
        "unreadable_structure": 1.0, "hidden_text": 1.0,
        "image_only": 1.0,  # issue 12: weak, spoof-neutral
        "identity_claim": 4.0,  # issue 12: the text's first-person claim, spoof evidence
    }
    assert SPOOF_EVIDENCE == {
        "dmarc_fail_reject", "dmarc_fail_quarantine", "from_header_invalid",
        "from_domain_unauthenticated", "display_name_impersonation", "lookalike_domain",
        "non_mail_domain", "reply_to_diversion", "identity_claim",
    }
    assert THREAT_CONTENT == {"threat_content"}
    assert DEFERS_REJECT == {"dmarc_temperror"}
    assert (BY_NAME["allowlisted"].weight, BY_NAME["allowlisted"].adjustable) == (0.0, False)


@pytest.mark.parametrize("name", ["default.yaml", "monitor.yaml", "strict.yaml"])
def test_the_bundled_policies_name_only_known_findings(name: str) -> None:
    policy = load_policy(POLICIES / name)
    assert set(dict(policy.weights)) == set(DEFAULT_WEIGHTS)


def _policy(tmp_path: Path, weights: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"name: typo\nmode: enforce\nweights:\n{weights}")
    return path


def test_a_policy_naming_an_unknown_finding_fails_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _policy(tmp_path, "  lookalike_domain: 5\n  treat_content: 6\n")
    config = tmp_path / "spoofwatch.yaml"
    config.write_text(f"authserv_id: mx.example.org\npolicy: {policy}\n")
    assert cli.main(["check-config", "--config", str(config)]) == 78
    known = ", ".join(sorted(DEFAULT_WEIGHTS))
    assert capsys.readouterr().err == (
        f"spoofwatch: configuration error: {policy}:5: weights.treat_content: unknown finding "
        f"'treat_content'; did you mean threat_content? known: {known}\n")


def test_an_unknown_finding_unlike_any_gets_no_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_policy(_policy(tmp_path, "  zzz: 1\n"))
    assert (raised.value.line, raised.value.key, raised.value.problem) == (
        4, "weights.zzz", f"unknown finding 'zzz'; known: {', '.join(sorted(DEFAULT_WEIGHTS))}")


def test_the_allowlisted_weight_is_fixed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_policy(_policy(tmp_path, "  allowlisted: -5\n"))
    assert str(raised.value) == (
        f"{tmp_path}/policy.yaml:4: weights.allowlisted: the weight of allowlisted is fixed "
        "at 0: An authenticated sender on the allowlist: all other findings were cleared.")


# detect.checks runs these after every finding that can put the sender in doubt, and leaves
# the threat reading out when none did: that is sound only while they make no spoof evidence.
CONTENT_AND_CLIENT_MODULES = ("detect/threat.py", "detect/structure.py",
                              "detect/hidden_text.py", "detect/image_only.py",
                              "detect/dnsbl.py")


def test_the_checks_run_after_the_shortcut_make_no_spoof_evidence() -> None:
    late = {k.name for k in REGISTRY if k.module in CONTENT_AND_CLIENT_MODULES}
    assert late == {"threat_content", "unreadable_structure", "hidden_text", "image_only",
                    "dnsbl_listed"}
    assert not late & SPOOF_EVIDENCE
    for module in CONTENT_AND_CLIENT_MODULES:
        built, _ = _built_names(PACKAGE / module)
        assert not built & SPOOF_EVIDENCE, module
