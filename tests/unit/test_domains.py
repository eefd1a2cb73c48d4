"""The one domain module: conversion (IDNA 2008 / UTS #46), the one validator, the one
subdomain test, and that no other module converts or compares domains its own way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spoofwatch
from spoofwatch.domains import (
    is_dns_domain,
    is_qualified_domain,
    is_subdomain_or_self,
    normalize_domain,
    to_ascii,
    to_unicode,
)

PACKAGE = Path(spoofwatch.__file__).resolve().parent


# --- conversion -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "compared"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: not fass.de (IDNA 2003's answer)
        ("FAß.DE", "xn--fa-hia.de"),
        ("faß.de.", "xn--fa-hia.de"),
        ("FAß.DE.", "xn--fa-hia.de"),
        ("XN--FA-HIA.DE.", "xn--fa-hia.de"),
        ("\uff26\uff21\u00df\uff0e\uff24\uff25", "xn--fa-hia.de"),  # full-width letters and dot
        ("Mail.Example.COM.", "mail.example.com"),
        ("a_b.münchen.de", "a_b.xn--mnchen-3ya.de"),  # ASCII labels judged by our rule
        ("xn--zz.münchen.de", "xn--zz.xn--mnchen-3ya.de"),
        ("ex\u202eample.de", "ex\u202eample.de"),  # refused by IDNA: kept, then invalid
    ],
)
def test_normalize_domain_gives_the_compared_form(raw: str, compared: str) -> None:
    assert normalize_domain(raw) == compared


def test_only_one_trailing_dot_is_dropped() -> None:
    assert normalize_domain("example.com..") == "example.com."
    assert not is_dns_domain(normalize_domain("example.com.."))


@pytest.mark.parametrize(
    ("raw", "ascii_form", "unicode_form"),
    [
        ("faß.de", "xn--fa-hia.de", "faß.de"),
        ("<FAß.DE.>", "xn--fa-hia.de", "faß.de"),
        ("straße.de", "xn--strae-oqa.de", "straße.de"),
        # IDNA 2008 refuses the symbol; raw punycode keeps it comparable (it is the name
        # DNS resolves for registrations made under IDNA 2003)
        ("i\u2764.ws", "xn--i-7iq.ws", "i\u2764.ws"),
        ("a..b.example", "a.b.example", "a.b.example"),
    ],
)
def test_best_effort_forms(raw: str, ascii_form: str, unicode_form: str) -> None:
    assert to_ascii(raw) == ascii_form
    assert to_unicode(raw) == unicode_form


# --- the one validator ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "valid", "qualified"),
    [
        ("example.com", True, True),
        ("xn--fa-hia.de", True, True),
        ("mail_server.example.com", True, True),
        ("-x.example.com", True, True),  # DNS resolves it: refusing would skip its policy
        ("x-.example.com", True, True),
        ("localhost", True, False),
        ("192.0.2.1", True, False),
        ("a.b1", True, True),
        ("", False, False),
        ("a..b", False, False),
        ("example.com.", False, False),  # not in compared form
        ("Example.com", False, False),  # not in compared form
        ("ex!ample.com", False, False),
        ("exa mple.com", False, False),
        ("faß.de", False, False),
        ("x" * 64 + ".com", False, False),
        (".".join(["a" * 63] * 4), False, False),  # 255 characters
    ],
)
def test_one_rule_for_every_check(domain: str, valid: bool, qualified: bool) -> None:
    assert is_dns_domain(domain) is valid
    assert is_qualified_domain(domain) is qualified


# --- the one subdomain test -----------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent", "inside"),
    [
        ("example.com", "example.com", True),
        ("mail.example.com", "example.com", True),
        ("a.b.example.com", "example.com", True),
        ("badexample.com", "example.com", False),
        ("example.com", "mail.example.com", False),
        ("com", "example.com", False),
        ("mail.xn--fa-hia.de", "xn--fa-hia.de", True),
        ("mail.fass.de", "xn--fa-hia.de", False),
        ("example.com", "", False),
        ("", "", False),
    ],
)
def test_is_subdomain_or_self(child: str, parent: str, inside: bool) -> None:
    assert is_subdomain_or_self(child, parent) is inside


# --- nobody else converts or compares domains ----------------------------------------


def _sources() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path.name != "domains.py"]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def test_no_module_uses_the_standard_library_idna_2003_codec() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            func = call.func
            if (isinstance(func, ast.Attribute) and func.attr in ("encode", "decode")
                    and any(isinstance(a, ast.Constant) and a.value == "idna"
                            for a in call.args)):
                offenders.append(f"{path.name}:{call.lineno}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                module = getattr(node, "module", None) or ""
                if "encodings.idna" in names or module == "encodings.idna":
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_no_module_writes_its_own_subdomain_test() -> None:
    # domain.endswith("." + parent) is is_subdomain_or_self's job
    offenders = []
    for path in _sources():
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            func = call.func
            if (isinstance(func, ast.Attribute) and func.attr == "endswith" and call.args
                    and isinstance(call.args[0], ast.BinOp)
                    and isinstance(call.args[0].left, ast.Constant)
                    and call.args[0].left.value == "."):
                offenders.append(f"{path.name}:{call.lineno}")
    assert offenders == []
