"""The seed threat in the disguises of a forger who has read our code, through analyze().

Every message has the seed's envelope and From (officialproudboys.com: spoof evidence), so
the exact level says whether the threat was read: ``threat`` when it was. The disguises:
padding in front of the threat (plain, HTML, base64, many parts: nothing within the
message size limit hides it), junk hidden from the reader inside words, letter-spaced
words, right-to-left override reversed text, Coptic look-alike letters and overlay marks.
Text hidden from the reader is not read as visible: a threat only in hidden text is not
a threat. The CPU cost of reading is linear in the size of the text.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable

import pytest

from spoofwatch.config import Config
from spoofwatch.detect.content import load_patterns
from spoofwatch.detect.threat import MAX_TEXT_CHARS, threat_findings
from spoofwatch.dns import Resolver
from spoofwatch.finding_registry import DEFAULT_WEIGHTS
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Level
from support import seeds
from support.analysis import analyze_seed, default_config
from support.dnsserver import DnsTestServer

MB = 1_000_000
# What the seed's envelope gives without any threat (watched domain, sends no mail).
SPOOF_FINDINGS = ["from_domain_unauthenticated", "non_mail_domain"]
THREAT_FINDINGS = [*SPOOF_FINDINGS, "threat_content"]
_PADDING_WORDS = (
    "the county fair opens on saturday with a parade music food and games for everyone "
    "library hours change next month volunteers bring pies bake sale garden club meeting "
    "weather sunny cloudy rain wind school board budget report minutes agenda park trail"
).split()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return default_config(tmp_path_factory.mktemp("evasions"))


@pytest.fixture
def seed_dns(dns: DnsTestServer) -> DnsTestServer:
    seeds.publish_seed_zone(dns)
    return dns


def padding(size: int, seed: int = 12) -> str:
    """``size`` characters of innocuous sentences, never repeating a line (no dedup helps)."""
    rnd = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rnd.choice(_PADDING_WORDS) for _ in range(14)).capitalize() + ".\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def message(body: str | bytes, content_type: str = "text/plain; charset=utf-8",
            cte: str = "8bit", subject: str = "Election notice") -> bytes:
    head = (
        f"From: {seeds.SEED_FROM}\r\nTo: voter@recipient.example\r\nSubject: {subject}\r\n"
        "Date: Tue, 20 Oct 2020 09:14:00 +0000\r\nMessage-ID: <evasion@vps.example>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode()
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def names(report: Report) -> list[str]:
    return [f.name for f in report.verdict.findings]


def level_and_names(resolver: Resolver, config: Config, raw: bytes) -> tuple[Level, list[str]]:
    report = analyze_seed(resolver, config, raw)
    return report.level, names(report)


# ------------------------------------------------------------------- padding (item 1)


def _plain_padded() -> bytes:
    return message(padding(5 * MB) + "\n" + seeds.THREAT_EN)


def _html_padded() -> bytes:
    pad = "".join(f"<p>{line}</p>\n" for line in padding(5 * MB).splitlines())
    return message(f"<html><body>{pad}<p>{seeds.THREAT_EN}</p></body></html>",
                   "text/html; charset=utf-8")


def _base64_padded() -> bytes:
    encoded = base64.encodebytes((padding(4 * MB) + "\n" + seeds.THREAT_EN).encode())
    return message(encoded, cte="base64")


def _many_parts_padded() -> bytes:
    # 1,200 parts of 4 kB: more parts than the standard parser is given (the tolerant
    # reader reads on, and says so), the threat in the last one.
    chunks = padding(1200 * 4000).encode()
    parts = [b"--p\nContent-Type: text/plain; charset=utf-8\n\n" + chunks[i:i + 4000] + b"\n"
             for i in range(0, len(chunks), 4000)]
    parts.append(b"--p\nContent-Type: text/plain; charset=utf-8\n\n"
                 + seeds.THREAT_EN.encode() + b"\n--p--\n")
    return message(b"".join(parts), 'multipart/mixed; boundary="p"', "7bit")


@pytest.mark.parametrize(("build", "expected"), [
    (_plain_padded, THREAT_FINDINGS),
    (_html_padded, THREAT_FINDINGS),
    (_base64_padded, THREAT_FINDINGS),
    (_many_parts_padded, [*THREAT_FINDINGS, "unreadable_structure"]),
], ids=["plain", "html", "base64", "many_parts"])
def test_the_seed_threat_after_megabytes_of_padding_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config,
    build: Callable[[], bytes], expected: list[str]
) -> None:
    assert level_and_names(resolver, config, build()) == (Level.THREAT, expected)


def test_the_threat_in_an_encoded_subject_after_padding_is_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    subject = "=?utf-8?b?" + base64.b64encode(
        b"Vote for Trump on Election Day or we will come after you").decode() + "?="
    raw = message(padding(2 * MB) + "\nWe have all your information.\n", subject=subject)
    assert level_and_names(resolver, config, raw) == (Level.THREAT, THREAT_FINDINGS)


def test_text_past_the_scoring_limit_is_reported_not_silently_dropped() -> None:
    # The scored text is bounded (MAX_TEXT_CHARS) to keep the service's memory bound of
    # issue 9; what lies beyond is named as unreadable_structure, never passed over quietly.
    raw = message(padding(MAX_TEXT_CHARS + MB) + "\n" + seeds.THREAT_EN)
    found = threat_findings(Message.from_bytes(raw), load_patterns(),
                            DEFAULT_WEIGHTS.__getitem__, 3.0)
    assert [(f.name, dict(f.detail).get("limit")) for f in found] == [
        ("unreadable_structure", "text_chars")]


def _reading_cpu(size: int) -> float:
    raw = message(padding(size) + "\n" + seeds.THREAT_EN)
    msg = Message.from_bytes(raw)
    patterns = load_patterns()
    started = time.process_time()
    found = threat_findings(msg, patterns, DEFAULT_WEIGHTS.__getitem__, 3.0)
    spent = time.process_time() - started
    assert [f.name for f in found] == ["threat_content"]
    return spent


def test_reading_and_scoring_cost_grows_linearly_with_the_text() -> None:
    # CPU time, not wall time: 5 times the text costs about 5 times as much (quadratic
    # work would cost 25 times); the bound leaves room for a loaded machine.
    _reading_cpu(100_000)  # warm caches (pattern compilation, Unicode tables)
    small, large = _reading_cpu(1 * MB), _reading_cpu(5 * MB)
    assert large / small < 9


# ------------------------------------------------------------------- hidden text (item 2)

_HIDERS = {
    "font_size_zero": '<span style="font-size:0">{}</span>',
    "font_size_tiny": '<span style="font-size: 1px">{}</span>',
    "display_none": '<span style="display:none">{}</span>',
    "visibility_hidden": '<span style="visibility: hidden">{}</span>',
    "opacity_zero": '<span style="opacity:0">{}</span>',
    "hidden_attribute": "<span hidden>{}</span>",
    "same_colour_as_background": '<span style="color:#fff;background-color:white">{}</span>',
    "transparent": '<span style="color: transparent">{}</span>',
    "collapsed_box": '<span style="max-height:0;overflow:hidden">{}</span>',
}


def _junk_inside_words(text: str, hider: str) -> str:
    out = []
    for word in text.split(" "):
        middle = len(word) // 2
        out.append(word[:middle] + hider.format("qzx") + word[middle:] if middle else word)
    return " ".join(out)


@pytest.mark.parametrize("hider", sorted(_HIDERS))
def test_junk_hidden_inside_words_does_not_break_them(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, hider: str
) -> None:
    html = "<html><body><p>" + _junk_inside_words(seeds.THREAT_EN, _HIDERS[hider]) + "</p>"
    raw = message(html + "</body></html>", "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (
        Level.THREAT, [*THREAT_FINDINGS, "hidden_text"])


@pytest.mark.parametrize("hider", sorted(_HIDERS))
def test_a_threat_only_in_hidden_text_is_not_read_as_visible(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, hider: str
) -> None:
    html = ("<html><body><p>Join us at the county fair on Saturday.</p>"
            + _HIDERS[hider].format(seeds.THREAT_EN) + "</body></html>")
    raw = message(html, "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (Level.SPOOF, SPOOF_FINDINGS)


def test_hidden_words_between_visible_words_are_not_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # A filter that read hidden text would see "... or we will never ... come after you"
    # and "not registered"; the reader sees the threat.
    hidden = '<span style="display:none">{}</span>'
    text = (seeds.THREAT_EN.replace("will come", "will " + hidden.format("never, ever,") + " come")
            .replace("you are registered", "you are " + hidden.format("not") + " registered"))
    raw = message(f"<html><body><p>{text}</p></body></html>", "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (
        Level.THREAT, [*THREAT_FINDINGS, "hidden_text"])


def test_a_style_block_that_can_show_inline_hidden_text_makes_it_read(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config
) -> None:
    # Gmail applies class rules of a <style> block; !important wins over the inline style,
    # so the reader sees this text. A forger must not hide a visible threat from us.
    html = ("<html><head><style>.t{display:block !important}</style></head><body>"
            f'<div class="t" style="display:none">{seeds.THREAT_EN}</div></body></html>')
    raw = message(html, "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (Level.THREAT, THREAT_FINDINGS)


# ------------------------------------------------------------ text-layer folds (item 3)


def _letter_spaced(separator: str, gap: str = "") -> str:
    # The key words spaced letter by letter; a space separator needs a wider word gap.
    text = seeds.THREAT_EN
    for word in ("vote", "Trump", "come", "after", "information", "registration"):
        text = text.replace(word, gap + separator.join(word) + gap)
    return text


def _rtl_override(text: str) -> str:
    # Each sentence stored reversed inside RIGHT-TO-LEFT OVERRIDE ... POP DIRECTIONAL
    # FORMATTING: the reader sees it the right way round.
    sentences = [s for s in text.strip().split(". ") if s]
    return ". ".join("\u202e" + s[::-1] + "\u202c" for s in sentences) + "\n"


_TEXT_EVASIONS: dict[str, Callable[[], str]] = {
    "letter_spaced_with_spaces": lambda: _letter_spaced(" ", " "),
    "letter_spaced_with_dots": lambda: _letter_spaced(".").replace("vote", "V.O.T.E"),
    "letter_spaced_with_hyphens": lambda: _letter_spaced("-"),
    "letter_spaced_with_two_spaces": lambda: _letter_spaced("  ", "   "),
    "right_to_left_override": lambda: _rtl_override(seeds.THREAT_EN),
    # an empty left-to-right override inside each reversed run: the run goes on after it
    "right_to_left_override_nested": lambda: _rtl_override(seeds.THREAT_EN).replace(
        " ", " \u202d\u202c", 3),
    "coptic_o_and_p": lambda: seeds.THREAT_EN.translate(
        str.maketrans({"o": "\u2c9f", "p": "\u2ca3"})),
    # long stroke, long solidus and the long vertical line overlay drawn through letters
    "overlay_marks": lambda: "".join(
        c + "\u0336\u0338\u20d2"[i % 3] if c.isalpha() else c
        for i, c in enumerate(seeds.THREAT_EN)),
    # the same demands in words the literal patterns do not know (issue 12: text-speak,
    # leetspeak, misspellings)
    "text_speak": lambda: (
        "u r a registered dem n we got ALL ur info. u will vote 4 trump on election day or "
        "we come 4 u. switch ur party 2 republican so we kno u got the msg\n"),
    "leetspeak": lambda: (
        "Y0u ar3 a r3g1stered D3mocrat. W3 kn0w wh3re y0u l1ve. V0te f0r Trump 0n "
        "3lection Day 0r w3 w1ll f1nd y0u.\n"),
    "misspelled": lambda: (
        "You are a registerd Democrat and we have your adress and your phone numbr. You "
        "will vtoe for Trump on Electoin Day or we will hunt you donw. Chnage your "
        "registartion to Republican.\n"),
}


@pytest.mark.parametrize("evasion", sorted(_TEXT_EVASIONS))
def test_the_seed_written_to_evade_the_text_layer_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, evasion: str
) -> None:
    raw = message(_TEXT_EVASIONS[evasion]())
    assert level_and_names(resolver, config, raw) == (Level.THREAT, THREAT_FINDINGS)


@pytest.mark.parametrize("evasion", sorted(_TEXT_EVASIONS))
def test_the_disguised_seed_in_html_is_a_threat(
    seed_dns: DnsTestServer, resolver: Resolver, config: Config, evasion: str
) -> None:
    html = "<html><body><p>" + _TEXT_EVASIONS[evasion]() + "</p></body></html>"
    raw = message(html, "text/html; charset=utf-8")
    assert level_and_names(resolver, config, raw) == (Level.THREAT, THREAT_FINDINGS)
