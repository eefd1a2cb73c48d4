"""The import rules of docs/architecture.md, checked on the source.

Every module under ``milter/spoofwatch/`` is parsed with ``ast`` and every import is
collected, including those inside functions and under ``TYPE_CHECKING`` (a local import
is still a dependency; it only hides it). The rules:

* the core never imports a shell (the milter adapter, the commands, the supervisor) nor
  what only shells use (the quarantine store, logs, metrics, the Postfix check), and
  never pymilter; only the milter adapter imports pymilter;
* ``auth`` never imports ``detect``;
* only ``dns.py`` imports dnspython; pyspf and dkimpy, which can ask DNS themselves, are
  imported only under ``auth/``, where every query they make goes to our ``Lookup``;
* no import cycle between packages (a subpackage, or a top-level module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from support.milterproc import write_config

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "milter" / "spoofwatch"

# The milter adapter: the only modules that may import pymilter.
MILTER_ADAPTER = frozenset({"service", "session", "listener", "worker"})
# Shells: the adapter, its process plumbing and the commands.
SHELLS = MILTER_ADAPTER | frozenset({
    "runtime", "analysis_gate", "glue_errors", "libmilter_tuning", "supervisor", "reloadable",
    "cli", "cli_quarantine", "cli_quarantine_args", "cli_audit",
})
# What only shells use: the quarantine store and release keys, logs, metrics, Postfix, and
# the audit (it reads the decision log and the quarantine store; it calls the core).
SHELL_SERVICES = frozenset({"quarantine", "logline", "metrics", "postfix_check", "audit"})
PYMILTER = frozenset({"milter", "Milter"})
# Third-party packages that do DNS, and the only places that may import them.
DNS_LIBRARIES = {"dns": ("dns",), "spf": ("auth",), "dkim": ("auth",)}


def _modules() -> dict[str, Path]:
    """Dotted name (spoofwatch.auth.dkim) -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """The absolute names ``module`` imports anywhere in ``source`` (functions included).

    ``from . import x`` and ``from .pkg import x`` name the submodule ``x`` when there is
    one, else the package.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base.pop()
                base = base[:len(base) - node.level + 1]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                found.add(child if child in MODULES else parent)
    return found


def _all_imports() -> dict[str, set[str]]:
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py")
            for name, path in MODULES.items()}


IMPORTS = _all_imports()


def unit(name: str) -> str:
    """The package a module belongs to: its subpackage, or itself at the top level."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _ours(name: str) -> bool:
    return name == "spoofwatch" or name.startswith("spoofwatch.")


def _core(name: str) -> bool:
    return unit(name) not in SHELLS | SHELL_SERVICES and name != "spoofwatch"


def _violations(rule: Callable[[str, str], str]) -> Iterator[str]:
    for module, targets in sorted(IMPORTS.items()):
        for target in sorted(targets):
            problem = rule(module, target)
            if problem:
                yield f"{module} imports {target}: {problem}"


def test_the_import_collector_sees_imports_inside_functions() -> None:
    source = "def f():\n    from .service import run\n    import Milter\n"
    assert imports_of(source, "spoofwatch.cli") == {"spoofwatch.service", "Milter"}


def test_every_shell_named_here_exists() -> None:
    units = {unit(name) for name in MODULES}
    assert (SHELLS | SHELL_SERVICES) - units == set()


def test_the_core_never_imports_a_shell_nor_pymilter() -> None:
    def rule(module: str, target: str) -> str:
        if not _core(module):
            return ""
        if _ours(target) and not _core(target):
            return "the core never imports a shell"
        if target.split(".")[0] in PYMILTER:
            return "pymilter belongs to the milter adapter"
        return ""

    assert list(_violations(rule)) == []


def test_only_the_milter_adapter_imports_pymilter() -> None:
    def rule(module: str, target: str) -> str:
        if target.split(".")[0] in PYMILTER and unit(module) not in MILTER_ADAPTER:
            return f"only {sorted(MILTER_ADAPTER)} import pymilter"
        return ""

    assert list(_violations(rule)) == []


def test_auth_never_imports_detect() -> None:
    def rule(module: str, target: str) -> str:
        if unit(module) == "auth" and unit(target) == "detect" and _ours(target):
            return "authentication results never depend on detection"
        return ""

    assert list(_violations(rule)) == []


def test_only_the_resolver_does_dns() -> None:
    def rule(module: str, target: str) -> str:
        allowed = DNS_LIBRARIES.get(target.split(".")[0])
        if allowed is not None and unit(module) not in allowed:
            return f"only {allowed} may import this DNS-capable library"
        return ""

    assert list(_violations(rule)) == []


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in IMPORTS.items():
        for target in targets:
            a, b = unit(module), unit(target)
            if _ours(target) and a and b and a != b:
                graph.setdefault(a, set()).add(b)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_packages() -> None:
    assert _cycles(_package_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})]


def test_scan_does_not_import_pymilter(tmp_path: Path) -> None:
    """``spoofwatch scan`` runs where pymilter is missing: it imports no milter code."""
    config = write_config(tmp_path, dns_port=9, socket_spec=f"unix:{tmp_path}/s.sock")
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    # a trusted client: checks are skipped, so no DNS is asked
    code = (
        "import sys\n"
        "from spoofwatch import cli\n"
        f"status = cli.main(['scan', '--config', {str(config)!r}, '--client-ip', "
        f"'10.99.0.1', '--helo', 'h.example', '--mail-from', 'a@example.com', "
        f"{str(message)!r}])\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('milter', 'Milter') or m in ('spoofwatch.service', 'spoofwatch.session')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.splitlines()[-1] == "0 []", result.stderr
    assert "Checks skipped: trusted client 10.99.0.1" in result.stdout
