"""Every regular expression that reads attacker-controlled text runs in linear time.

A backtracking regex that is quadratic on some input ties up the worker (and, through the
GIL, every other session) for seconds per 30 KB and hours per megabyte. Each audited
regex is run the way the code applies it (search, sub, split ...) on adversarial input
built for it (long runs of word characters, spaces, dots, '<', quotes, repeated
near-matches ...) at about 10 KB and then, in a worker process with a timeout derived
from the small run, at about 100 KB and 1 MB. A linear regex costs about 100 times more
CPU on 100 times the input, a quadratic one 10,000 times; the test allows 500 (the
machine is shared) and fails on a timeout.

The inventory test fails when a regex appears in the package (``re.compile`` and the
other ``re`` functions, found in the source) that is neither audited here nor listed in
``NOT_ATTACKER_TEXT`` with the reason it never sees attacker text. The threat patterns of
``spoofwatch/data/threat_patterns.yaml`` are audited one by one, on near-misses built
from their own examples.
"""

from __future__ import annotations

import ast
import importlib
import multiprocessing
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
import yaml

import spoofwatch
from spoofwatch.detect.content import fold_accents, load_patterns
from spoofwatch.detect.text_normalize import normalize_text

PACKAGE = Path(spoofwatch.__file__).resolve().parent
SMALL, MEDIUM, LARGE = 10_000, 100_000, 1_000_000
# Allowed CPU growth for 10x and 100x the input. Linear code measures about 10x and 100x
# (up to 151x seen for 100x on a loaded machine); quadratic code 100x and 10,000x. The
# limits sit well between the two, so load cannot make a linear regex fail.
MEDIUM_RATIO, LARGE_RATIO = 50, 500
# The wall-clock timeouts only catch a regex that would run for hours: they are far above
# any ratio that passes, because a loaded machine stretches wall time, not CPU time.
TIMEOUT_FACTOR, TIMEOUT_SLACK = 10, 10.0
_RE_FUNCTIONS = frozenset(
    {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"})

# Families every regex meets; each is repeated into a run of its own.
UNIVERSAL = (
    "a", "1", "o", " ", "\t", "\n", "\r\n", " \n", "\r", ".", "a.", "a ", "-", "<", '"',
    "\\", "(", "=?", "@", ":", "é", "\x1b", "&#", "--",
)

# (module, name) -> (how the code applies it, extra adversarial units). ``name`` is the
# module-level variable, or the pattern text of an inline call such as re.sub(r"...").
AUDITED: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    # From, Reply-To and other address headers; display names
    ("spoofwatch.addresses", "_DOT_ATOM_CHARS"): ("call:_is_dot_atom", ("a.a", "a..")),
    ("spoofwatch.domains", "_DNS_LABEL"): ("fullmatch", ()),
    ("spoofwatch.addresses", "\\r?\\n(?=[ \\t])"): ("sub", ("\r\n\r\n", "\r\n ")),
    ("spoofwatch.detect.name_reading", "_WORD_SPLIT"): ("split", ()),
    ("spoofwatch.detect.name_reading", "_VIA"): ("split1", (" via", " v", "  on")),
    ("spoofwatch.detect.name_reading", "_ON_BEHALF"): (
        "split1", (" on behalf", " on", " on behalf of")),
    ("spoofwatch.detect.name_reading", "_DOMAIN_RUN"): ("findall", ("a.b", "a..")),
    ("spoofwatch.detect.name_reading", "_DOT_RUN"): ("split", ("..", "a..")),
    ("spoofwatch.detect.name_reading", "_INNER_APOSTROPHE"): ("sub", ("a'", "'a", "a''a", "a'a")),
    ("spoofwatch.detect.name_reading", "_RAW_TOKEN"): ("findall", ("a_", "_a", "a1_")),
    ("spoofwatch.detect.lookalike_rules", "_NUMBER"): ("split", ("ol", "o1", "lo0")),
    # message text: extraction, normalization, threat scoring
    ("spoofwatch.detect.content", "_COMBINING_ACCENT"): ("sub", ("e\u0301",)),
    ("spoofwatch.detect.html_text", "_UNCLOSED_LT"): ("sub", ("<a", "<![", "<a<")),
    ("spoofwatch.detect.html_text", "_NUMERIC_REF"): ("sub", ("&#x0", "&#0", "&#x")),
    ("spoofwatch.detect.html_text", "_HTML_SPACE"): ("sub", ()),
    ("spoofwatch.detect.tolerant_text", "_RAW_STRUCTURE_LINE"): (
        "bsub", ("--a\n", "content-type", "content-type:", "mime-version\n")),
    ("spoofwatch.detect.tolerant_text", "_LOOKS_LIKE_HTML"): ("bsearch", ("<a", "<!-", "<a1")),
    ("spoofwatch.detect.part_text", "_NOT_BASE64"): ("bsub", ()),
    ("spoofwatch.detect.part_text", "_BASE64_JUNK"): ("bmatch", ("\r\n", " a", "!")),
    ("spoofwatch.detect.enriched_text", "_TOKEN"): (
        "finditer", ("<<", "<a", "</a", "<a>", "<<a>", "</", "<-", "<" + "a" * 61 + ">")),
    ("spoofwatch.detect.enriched_text", "_NEWLINES"): ("finditer", ("\r\n\r", "\r\r\n")),
    ("spoofwatch.detect.raw_documents", "_BASE64_FIELD"): (
        "bfinditer", ("content-transfer-encoding:", "content-transfer-encoding: base64 ",
                      "\ncontent-transfer-encoding: \t", "base64\r")),
    ("spoofwatch.detect.threat_concepts", "_TOKEN"): (
        "finditer", ('a"', "a.", "a.!?", '"a"', "a_", "a-", "a-a", "a--", "a-_", "a\u00b7")),
    ("spoofwatch.detect.threat_concepts", "_JOINER"): ("split", ("a-", "-", "a-a", "_-")),
    ("spoofwatch.detect.threat_concepts", "_FORWARD"): (
        "search", ("forwarded ", "original messag", "mensaje ", "begin forward")),
    ("spoofwatch.detect.threat_concepts", "_WORD"): ("findall", ("a_", "a1")),
    ("spoofwatch.detect.threat", "_PARAGRAPH_BREAK"): ("sub", ("\n\n", "\n \t\r\n", "\n ")),
    ("spoofwatch.text.fold", "_INVISIBLE"): ("sub", ("\u200b",)),
    ("spoofwatch.text.visual", "_BIDI_CONTROL"): ("split", ("\u202e", "\u202ea", "\u202c")),
    ("spoofwatch.text.visual", "_SPACED_LETTERS"): (
        "sub", ("a ", "a.", "a-", "a b", "a.b.", "ab ", "a 1", "a  ", "a -", " a")),
    ("spoofwatch.detect.text_normalize", "_WORD_WITH_DIGIT"): ("sub", ("a1", "1a")),
    ("spoofwatch.detect.text_normalize", "_NUMBER_WITH_UNIT"): ("fullmatch", ("1k", "a11")),
    ("spoofwatch.detect.text_normalize", "_WHITESPACE"): ("sub", ()),
    ("spoofwatch.detect.text_normalize", "_LINE_END_HYPHEN"): (
        "sub", ("a-\n", "a- \n ", "a-", "a- ", "-\na", "a-\t\t")),
    ("spoofwatch.detect.claim_reading", "_NOT_KEY"): ("sub", ("a\n", "a-", "a\n-")),
    ("spoofwatch.detect.claim_reading", "_QUOTE_MARK"): (
        "finditer", ("a'", "'a", "a'a", "''", "a''a", "' ", "«a»")),
    ("spoofwatch.detect.claim_grammar", "_TOKEN"): (
        "finditer", ("a'", "'a", "a'a", "''", "a.", "a1'", "a ")),
    ("spoofwatch.detect.claim_grammar", "_NOT_WORD"): ("sub", ("a'", "a.")),
    ("spoofwatch.detect.html_text", "(?<![ \\t])[ \\t]*\\n[ \\t]*|\\n[ \\t]*"): ("sub", ()),
    ("spoofwatch.detect.html_text", "\\n{3,}"): ("sub", ("\n\n",)),
    ("spoofwatch.detect.tolerant_text", "\\r?\\n"): ("sub", ()),
    # MIME structure (raw bytes of the message)
    ("spoofwatch.mime", "_DASH_LINE"): ("bsearch", ("\n-", "\n--")),
    ("spoofwatch.mime_fields", "EOL"): ("bsearch", ()),
    ("spoofwatch.mime_fields", "_HEADER_START"): ("bmatch", ("a ",)),
    ("spoofwatch.mime", "_CONTAINER"): (
        "bfinditer", ("content-type:", "content-type: \r\n", "content-type:multipart")),
    ("spoofwatch.mime_fields", "_TYPE"): ("fullmatch", ("a/", "a/a/")),
    ("spoofwatch.mime_fields", "_PARAM"): ("match", ('a="', 'a="\\"', "a=", " a")),
    ("spoofwatch.mime_fields", "_QUOTED_PAIR"): ("sub", ()),
    ("spoofwatch.message", "_BARE_LF"): ("bsub", ()),
    ("spoofwatch.message", "_HEADER_START"): ("bmatch", ("a ",)),
    ("spoofwatch.message", "_FOLD"): ("sub", ()),
    # header values we write or show: subject tags, reasons, the quarantine, logs
    ("spoofwatch.textsafe", "_TERMINAL_SEQUENCE"): (
        "sub", ("\x1b[", "\x1b[0", "\x1b]", "\x1b]a", "\x1bP", "\x1b ")),
    ("spoofwatch.textsafe", "_LINE_BREAKS"): ("sub", (" \t", " \r\n ")),
    ("spoofwatch.textsafe", "_ENCODED_WORD"): (
        "finditer", ("=?a", "=?a?q?", "=?a*", "=?a?q?a")),
    ("spoofwatch.textsafe", "[ \\t]*[^ \\t]+|[ \\t]+$"): ("findall", ()),
    ("spoofwatch.textsafe", "\\r?\\n(?=[ \\t])"): ("sub", ()),
    ("spoofwatch.plan", "_ENCODED_WORD"): ("finditer", ("=?a", "=?a?q?", "=?a?q?a")),
    ("spoofwatch.plan", "\\r?\\n(?=[ \\t])"): ("sub", ()),
    ("spoofwatch.plan", "[ \\t]+"): ("split", ()),
    ("spoofwatch.plan", "\\n(?![ \\t])"): ("search", ()),
    ("spoofwatch.banner", "\\r?\\n(?=[ \\t])"): ("sub", ()),
    ("spoofwatch.banner", "<dynamic in _delimiters>"): (
        "bdelimiters", ("\r\n--b", "\r\n--b--  ")),
    ("spoofwatch.logline", "_UNSAFE"): ("sub", ()),
    ("spoofwatch.quarantine.digest", "_LABEL"): ("fullmatch", ("a-",)),
    ("spoofwatch.quarantine.digest", "_LOCAL_PART"): ("fullmatch", ()),
    ("spoofwatch.quarantine.digest", "_WSP"): ("sub", ()),
    ("spoofwatch.quarantine.record", "_ID_RE"): ("match", ("12345678901234-",)),
    ("spoofwatch.release_header", "_VALUE_RE"): (
        "match", ("12345678901234-0123456789;", " ", "sig=")),
    ("spoofwatch.release_header", "_WSP"): ("sub", ()),
    ("spoofwatch.release_header", "_BARE_LF"): ("bsub", ()),
    # authentication: header fields of the message and the sender's own DNS records
    ("spoofwatch.auth.arc", "_AAR_INSTANCE"): ("bmatch", (" i ", " i = 1 ")),
    ("spoofwatch.auth.arc", "_INSTANCE_VALUE"): ("bfullmatch", ()),
    ("spoofwatch.auth.arc", "(?im)^arc-(seal|message-signature|authentication-results)\\s*:"): (
        "bsearch", ("\narc-seal", "\narc-seal ")),
    ("spoofwatch.auth.arc", "\\r?\\n\\r?\\n"): ("bsplit1", ("\r\n\r",)),
    ("spoofwatch.auth.authresults", "_UNSAFE"): ("sub", ()),
    ("spoofwatch.auth.authresults", "_COMMENT_UNSAFE"): ("sub", ()),
    ("spoofwatch.auth.authresults", "_COMMENT_RE"): ("match", ("(\\(", "(a")),
    ("spoofwatch.auth.authresults", '"((?:[^"\\\\]|\\\\.)*)"'): ("match", ('"\\"', '"a')),
    ("spoofwatch.auth.authresults", "[^\\s;()]+"): ("match", ()),
    ("spoofwatch.auth.dkim", "_BASE64"): ("bfullmatch", ("AB=", "A=")),
    ("spoofwatch.auth.dkim", "_DIGITS"): ("bfullmatch", ()),
    ("spoofwatch.auth.dkimpy_support", "_WSP"): ("bsub", ()),
    ("spoofwatch.auth.dkimpy_support", "_BLANK_RUN"): ("bsub", ()),
    ("spoofwatch.auth.dkim", "\\r?\\n(?![ \\t])"): ("bsplit", ()),
    ("spoofwatch.auth.dkim", '[()<>\\[\\]:;@\\\\,\\s\\"]'): ("bsearch", ()),
    ("spoofwatch.auth.dkim", "\\r?\\n\\r?\\n"): ("bsplit1", ("\r\n\r",)),
    # applied only after _BLANK_RUN squeezed every blank run to one space
    ("spoofwatch.auth.dkimpy_support", "_TRAILING_BLANKS"): (
        "bcall:_relaxed_slice", (" \r\n", "\t \r")),
    ("spoofwatch.auth.dkimpy_support", "_EMPTY_LINE"): ("bsearch", ("\r\n", "\n\r")),
    ("spoofwatch.auth.arc", "_ARC_FIELD"): ("bsearch", ("\narc-seal", "\narc-seal ")),
    ("spoofwatch.auth.dmarc_record", "_TAG_NAME"): ("match", ()),
    ("spoofwatch.detect.image_only", "_NOT_ALNUM"): ("sub", ("a_", "a!")),
    ("spoofwatch.detect.threat_learned", "_DOUBLED"): ("sub", ("aa", "ab", "aab")),
    ("spoofwatch.auth.dmarc_record", "_URI"): ("match", ("mailto:a", "a:a ")),
    ("spoofwatch.auth.dmarc_record", "_REPORT_SIZE"): ("sub", ("!1", "!1k")),
    ("spoofwatch.auth.spf", "_UNPRINTABLE"): ("sub", ()),
    # `spoofwatch scan` reads the client from the message's own Received field
    ("spoofwatch.cli", "_RECEIVED_FROM"): ("search", ("from a (", "from ", "from a ((")),
    ("spoofwatch.cli", "_IP_IN_BRACKETS"): ("search", ("[1", "[IPv6:1")),
    # `spoofwatch audit` reads each watched domain's SPF record (published by anyone)
    ("spoofwatch.audit.spf_survey", "_TERM"): ("match", ("a\n", "+a", "a.", "a:")),
    ("spoofwatch.audit.spf_survey", "_MODIFIER"): ("match", ("a=", "a\n", "a.")),
    ("spoofwatch.audit.spf_survey", "_CIDR"): ("match", ("a/", "/1", "//1", "a//")),
}

# Regexes that never see attacker-controlled text, and why.
NOT_ATTACKER_TEXT: dict[tuple[str, str], str] = {
    ("spoofwatch.cli_quarantine_args", "_DURATION"): "an operator's command-line argument",
    ("spoofwatch.config", "_REPLY_RE"): "the operator's configuration file",
    ("spoofwatch.detect.threat_concepts", "_TERM_WORD"): "the threat-concepts data file",
    ("spoofwatch.detect.threat_concepts", "[^a-z0-9]"): "the threat-concepts data file",
    ("spoofwatch.socket_address", "_SOCKET_RE"): "the operator's configuration file",
    ("spoofwatch.config", "[0-7]{3,4}"): "the operator's configuration file",
    ("spoofwatch.config", "(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.\\-]+):\\d{1,5}"):
        "the operator's configuration file",
    ("spoofwatch.config", "[A-Za-z0-9][A-Za-z0-9.\\-]{0,252}"):
        "the operator's configuration file",
    ("spoofwatch.config", "[A-Za-z0-9][A-Za-z0-9.\\-]{1,252}"):
        "the operator's configuration file",
    ("spoofwatch.detect.content", "_NAME"): "names in the threat pattern file",
    ("spoofwatch.detect.content", "_MACRO"): "regex sources in the threat pattern file",
    ("spoofwatch.detect.content", "_LEFTOVER_MACRO"): "regex sources in the pattern file",
    ("spoofwatch.detect.content", "_ESCAPE"): "regex sources in the threat pattern file",
    ("spoofwatch.detect.content", "[A-Z]"): "regex sources in the threat pattern file",
    ("spoofwatch.detect.content", "<dynamic in _compile_checked>"):
        "compiles the pattern file's regexes (each audited below as a threat pattern)",
    ("spoofwatch.detect.content", "<dynamic in matcher>"):
        "compiles a threat pattern (each audited below as a threat pattern)",
    ("spoofwatch.text.fold", "_LATIN_VARIANT"):
        "Unicode character names (fixed data, at most about 90 characters)",
}


# --------------------------------------------------------------------------- inventory


def _module_name(path: Path) -> str:
    parts = ("spoofwatch", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


def _pattern_key(value: Any) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def _regexes_in(path: Path) -> Iterator[str]:
    """The name (module-level) or pattern text (inline) of every ``re`` call in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigned = {id(node.value): node.targets[0].id for node in tree.body
                if isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)}
    functions = {id(inner): node.name for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                 for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCTIONS):
            continue
        first = node.args[0] if node.args else None
        if id(node) in assigned:
            yield assigned[id(node)]
        elif isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
            yield _pattern_key(first.value)
        else:
            yield f"<dynamic in {functions.get(id(node), '?')}>"


def _inventory() -> set[tuple[str, str]]:
    return {(_module_name(path), key) for path in sorted(PACKAGE.rglob("*.py"))
            for key in _regexes_in(path)}


def test_every_regex_in_the_package_is_audited_or_explained() -> None:
    found = _inventory()
    listed = set(AUDITED) | set(NOT_ATTACKER_TEXT)
    assert not set(AUDITED) & set(NOT_ATTACKER_TEXT)
    assert sorted(found - listed) == [], "new regexes: audit them in AUDITED"
    assert sorted(listed - found) == [], "stale entries: the regex is gone"


def test_every_module_level_compiled_regex_is_audited_or_explained() -> None:
    # The source scan above sees re.compile calls; this sees what the modules hold, so a
    # compiled pattern made some other way is caught too.
    listed = set(AUDITED) | set(NOT_ATTACKER_TEXT)
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        module = importlib.import_module(name)
        own = {node.targets[0].id for node in ast.parse(path.read_text("utf-8")).body
               if isinstance(node, ast.Assign) and len(node.targets) == 1
               and isinstance(node.targets[0], ast.Name)}
        for attr, value in vars(module).items():
            if isinstance(value, re.Pattern) and attr in own and (name, attr) not in listed:
                missing.append((name, attr))
    assert missing == []


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    apply: Callable[[Any], object]  # takes str, or bytes when ``raw``
    units: tuple[str, ...]
    raw: bool = False


def _compiled(module: str, name: str, raw: bool) -> re.Pattern[Any]:
    """The module's compiled pattern, or an inline pattern compiled from its text."""
    value = getattr(importlib.import_module(module), name, None)
    if isinstance(value, re.Pattern):
        return value
    return re.compile(name.encode("latin-1") if raw else name)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _apply(module: str, name: str, how: str) -> Callable[[Any], object]:
    """The regex applied as the code applies it; ``how`` starting with "b": to bytes."""
    raw = how.startswith("b")
    method = how[1:] if raw else how
    if method == "delimiters":  # the pattern is built per boundary, here "b"
        delimiters = importlib.import_module(module)._delimiters
        return lambda data: delimiters(data, "b")
    if method.startswith("call:"):  # through the function that applies it
        function: Callable[[Any], object] = getattr(importlib.import_module(module),
                                                    method.removeprefix("call:"))
        return function
    pattern = _compiled(module, name, raw)
    empty: Any = b"" if raw else ""
    if isinstance(pattern.pattern, bytes) != raw:
        raise AssertionError(f"{module} {name}: {how} does not fit the pattern type")
    calls: dict[str, Callable[[Any], object]] = {
        "search": pattern.search,
        "match": pattern.match,
        "fullmatch": pattern.fullmatch,
        "sub": lambda t: pattern.sub(empty, t),
        "split": pattern.split,
        "split1": lambda t: pattern.split(t, maxsplit=1),
        "findall": pattern.findall,
        # consumed, not kept: the code iterates, and a list of a million match objects
        # costs garbage collection that grows faster than the input (a full run measured
        # 550x for 100x the input on "<<" runs, the regex itself is linear)
        "finditer": lambda t: deque(pattern.finditer(t), maxlen=0),
    }
    return calls[method]


def _threat_units(examples: list[str]) -> tuple[str, ...]:
    """Near-misses: every proper prefix of each example, and its first word before a long
    gap of other words (for {gap:N})."""
    units = []
    for example in examples:
        words = fold_accents(normalize_text(example)).split(" ")
        prefixes = [" ".join(words[:k]) for k in range(1, len(words))]
        if prefixes:
            units.append(" ".join(prefixes) + " ")
        units.append(" ".join(words[:2]) + " x" * 30 + " ")
    return tuple(units)


def _threat_cases() -> dict[str, Case]:
    source = resources.files("spoofwatch.data").joinpath("threat_patterns.yaml")
    examples = {entry["name"]: entry.get("examples", [])
                for entry in yaml.safe_load(source.read_text("utf-8"))["patterns"]}
    cases = {}
    for pattern in load_patterns():
        compiled = pattern.matcher()
        cases[f"threat_patterns.yaml:{pattern.name}"] = Case(
            compiled.search, _threat_units(examples[pattern.name]) + UNIVERSAL)
    return cases


def _cases() -> dict[str, Case]:
    cases = {f"{module}:{name}": Case(_apply(module, name, how), units + UNIVERSAL,
                                      how.startswith("b"))
             for (module, name), (how, units) in AUDITED.items()}
    cases.update(_threat_cases())
    return cases


CASES = _cases()


def _build(case: Case, size: int) -> list[Any]:
    """One input per unit: the unit repeated to about ``size`` characters. Separate inputs,
    because a match early in a shared one would end a search before the hard part."""
    texts = [unit * (size // len(unit)) + "x" for unit in case.units]
    return [_bytes(t) for t in texts] if case.raw else texts


def _cpu(apply: Callable[[Any], object], texts: list[Any]) -> float:
    """CPU seconds of this thread to apply the regex to every input."""
    total = 0.0
    for text in texts:
        start = time.thread_time()
        apply(text)
        total += time.thread_time() - start
    return total


def _small_cost(case: Case) -> float:
    """Mean CPU time on the small input, over enough runs to be measurable."""
    texts = _build(case, SMALL)
    _cpu(case.apply, texts)  # warm up: lazily built tables, bytes conversion
    runs, total = 0, 0.0
    while runs < 3 or (total < 0.02 and runs < 200):
        total += _cpu(case.apply, texts)
        runs += 1
    return total / runs


# --------------------------------------------------------------------------- worker


def _serve(conn: Connection) -> None:
    while True:
        request = conn.recv()
        if request is None:
            return
        case_id, size = request
        case = CASES[case_id]
        try:
            texts = _build(case, size)
            conn.send(("ok", _cpu(case.apply, texts)))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            conn.send(("error", repr(exc)))


class Worker:
    """A forked process that runs the big inputs, so a runaway regex can be killed."""

    def __init__(self) -> None:
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        if self._conn is None:
            context = multiprocessing.get_context("fork")
            self._conn, child = context.Pipe()
            self._proc = context.Process(target=_serve, args=(child,), daemon=True)
            self._proc.start()
            child.close()
        return self._conn

    def run(self, case_id: str, size: int, timeout: float) -> float | None:
        """CPU seconds for the case at ``size``, or None when it did not end in time."""
        conn = self._start()
        conn.send((case_id, size))
        if not conn.poll(timeout):
            self.stop()
            return None
        status, value = conn.recv()
        assert status == "ok", value
        return float(value)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    try:
        yield w
    finally:
        w.stop()


def test_the_threat_patterns_are_all_audited() -> None:
    names = {p.name for p in load_patterns()}
    assert {c.removeprefix("threat_patterns.yaml:") for c in CASES
            if c.startswith("threat_patterns.yaml:")} == names


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_regex_cost_grows_linearly_with_the_input(case_id: str, worker: Worker) -> None:
    case = CASES[case_id]
    small = _small_cost(case)
    medium_timeout = TIMEOUT_FACTOR * MEDIUM_RATIO * small + TIMEOUT_SLACK
    medium = worker.run(case_id, MEDIUM, timeout=medium_timeout)
    assert medium is not None, f"{MEDIUM} characters took over {medium_timeout:.1f} s"
    # checked before the large run, which would take hours on a quadratic regex
    assert medium / small < MEDIUM_RATIO, (
        f"CPU {small:.6f} s at {SMALL}, {medium:.4f} s at {MEDIUM}")
    large_timeout = TIMEOUT_FACTOR * LARGE_RATIO * small + TIMEOUT_SLACK
    large = worker.run(case_id, LARGE, timeout=large_timeout)
    assert large is not None, f"{LARGE} characters took over {large_timeout:.1f} s"
    assert (medium / small < MEDIUM_RATIO, large / small < LARGE_RATIO) == (True, True), (
        f"CPU {small:.6f} s at {SMALL}, {medium:.4f} s at {MEDIUM}, {large:.3f} s at {LARGE}")
