"""Attacker text made safe for headers, logs and terminals."""

from __future__ import annotations

import time

import pytest

from spoofwatch.textsafe import ascii_safe, decode_words, fold_header, terminal_safe

# --- ascii_safe -----------------------------------------------------------------


def test_ascii_safe_keeps_printable_ascii() -> None:
    assert ascii_safe("Barack Obama <info@example.org>") == "Barack Obama <info@example.org>"


def test_ascii_safe_escapes_crlf_so_no_header_can_be_injected() -> None:
    assert ascii_safe("x\r\nBcc: victim@example.org") == "x\\r\\nBcc: victim@example.org"


def test_ascii_safe_escapes_homoglyphs_instead_of_hiding_them() -> None:
    assert ascii_safe("B\u0430rack") == "B\\u0430rack"


def test_ascii_safe_escapes_astral_characters() -> None:
    assert ascii_safe("\U0001f600") == "\\U0001f600"


def test_ascii_safe_escapes_controls_and_del() -> None:
    assert ascii_safe("a\x00b\tc\x1b\x7f") == "a\\x00b\\tc\\x1b\\x7f"


def test_ascii_safe_shows_undecodable_bytes_as_bytes() -> None:
    assert ascii_safe("Jos\udce9") == "Jos\\xe9"


def test_ascii_safe_escapes_backslash_so_escapes_are_unambiguous() -> None:
    assert ascii_safe("\\u0430") == "\\\\u0430"


def test_ascii_safe_truncates_with_ellipsis_within_max_len() -> None:
    result = ascii_safe("a" * 300, max_len=10)
    assert result == "aaaaaaa..."


def test_ascii_safe_does_not_cut_an_escape_in_half() -> None:
    assert ascii_safe("abcdef\u0430zzzz", max_len=12) == "abcdef..."


def test_ascii_safe_text_of_exactly_max_len_is_not_truncated() -> None:
    assert ascii_safe("a" * 10, max_len=10) == "a" * 10


def test_ascii_safe_tiny_max_len() -> None:
    assert ascii_safe("abcdef", max_len=2) == ".."
    assert ascii_safe("abcdef", max_len=0) == ""


def test_ascii_safe_result_is_always_printable_ascii() -> None:
    hostile = "".join(chr(c) for c in range(0, 0x3000, 7)) + "\udc80\U0010ffff"
    result = ascii_safe(hostile, max_len=100_000)
    assert all(0x20 <= ord(ch) < 0x7F for ch in result)


# --- terminal_safe --------------------------------------------------------------


def test_terminal_safe_strips_csi_colour_sequences() -> None:
    assert terminal_safe("\x1b[1;31mALERT\x1b[0m") == "ALERT"


def test_terminal_safe_strips_osc_title_sequences() -> None:
    assert terminal_safe("a\x1b]0;pwned\x07b") == "ab"
    assert terminal_safe("a\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"


def test_terminal_safe_shows_eight_bit_csi_escaped_so_it_does_nothing() -> None:
    assert terminal_safe("a\x9b2Jb") == "a\\x9b2Jb"


def test_terminal_safe_strips_bidi_overrides() -> None:
    assert terminal_safe("\u202egnp.exe\u202c") == "gnp.exe"
    assert terminal_safe("a\u2066b\u2069\u200fc") == "abc"


def test_terminal_safe_drops_carriage_return_and_bell() -> None:
    assert terminal_safe("real\rfake\x07") == "realfake"


def test_terminal_safe_keeps_newlines_tabs_and_printable_unicode() -> None:
    assert terminal_safe("Müller\tcafé\nline 2") == "Müller\tcafé\nline 2"


def test_terminal_safe_shows_undecodable_bytes_as_the_byte() -> None:
    assert terminal_safe("Jos\udce9 <x\udcff@example.com>") == "Jos\\xe9 <x\\xff@example.com>"


def test_terminal_safe_unterminated_osc_loses_its_introducer_and_keeps_the_text() -> None:
    assert terminal_safe("ok\x1b]0;never ends\nline 2") == "ok0;never ends\nline 2"


def test_terminal_safe_c1_byte_is_shown_escaped_and_the_rest_of_the_text_stays() -> None:
    # ISO-8859-1 text with byte 0x9D (U+009D, the 8-bit OSC) used to hide all that followed.
    text = "polls open at 7am.\x9d\r\nWe know you are registered.\n"
    assert terminal_safe(text) == "polls open at 7am.\\x9d\nWe know you are registered.\n"
    for c1 in ("\x90", "\x98", "\x9b", "\x9c", "\x9e", "\x9f", "\x80"):
        assert terminal_safe(f"a{c1}b\x07c") == f"a\\x{ord(c1):02x}bc"


def test_terminal_safe_terminated_strings_still_go_whole_after_an_unterminated_one() -> None:
    assert terminal_safe("a\x1b]0;x\x1b[31mb\x1b]2;title\x1b\\c\x1bP1$q\x9cd") == "a0;xbcd"


@pytest.mark.parametrize("unit", ["\x1b]", "\x1b]a", "\x1b[", "\x1b", "\x9d", "\x1bP;"])
def test_terminal_safe_is_linear_on_repeated_introducers(unit: str) -> None:
    """Work grows with the text, not with its square (CPU-time ratio, not a wall clock)."""
    def cost(n: int) -> float:
        text = unit * n + "tail"
        start = time.process_time()
        for _ in range(3):
            terminal_safe(text)
        return time.process_time() - start

    small, large = cost(20_000), cost(160_000)
    assert large / max(small, 1e-3) < 8 * 3  # 8x the text: linear ~8x, quadratic ~64x


# --- fold_header ----------------------------------------------------------------


def test_fold_header_short_value_is_unchanged() -> None:
    assert fold_header("X-Test", "short value") == "short value"


def test_fold_header_uses_lf_and_keeps_the_whitespace_for_milters() -> None:
    value = " ".join(f"word{i}" for i in range(30))
    folded = fold_header("X-Spoofwatch-Reason", value)
    assert "\r" not in folded
    assert folded.replace("\n", "") == value
    assert all(line.startswith(" ") for line in folded.split("\n")[1:])


def test_fold_header_lines_fit_width_counting_the_name() -> None:
    value = " ".join(f"word{i}" for i in range(60))
    lines = fold_header("X-Spoofwatch-Reason", value, width=40).split("\n")
    assert len("X-Spoofwatch-Reason: ") + len(lines[0]) <= 40
    assert all(len(line) <= 40 for line in lines[1:])
    assert len(lines) > 5


def test_fold_header_crlf_for_files() -> None:
    folded = fold_header("X", "aaaa bbbb cccc", width=8, linesep="\r\n")
    assert folded == "aaaa\r\n bbbb\r\n cccc"


def test_fold_header_keeps_a_word_longer_than_width_whole() -> None:
    assert fold_header("X", "a" * 100 + " b", width=20) == "a" * 100 + "\n b"


def test_fold_header_collapses_injected_line_breaks() -> None:
    assert fold_header("X", "ok\r\nBcc: victim@example.org") == "ok Bcc: victim@example.org"


def test_fold_header_escapes_non_ascii_and_controls() -> None:
    assert fold_header("X", "B\u0430rack\x00") == "B\\u0430rack\\x00"


# --- decode_words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("plain text", "plain text"),
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?UTF-8?Q?hello_world?=", "hello world"),
        ("=?utf-8?b?QmFyYWNrIE9iYW1h?=", "Barack Obama"),
        ("=?iso-8859-1?q?M=FCller?=", "Müller"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= plain =?utf-8?q?b?=", "a plain b"),
        ("=?utf-8*en?q?hi?=", "hi"),
        ("=?utf-8?b?QmFy?=", "Bar"),
        ("=?utf-8?b?QmE?=", "Ba"),  # missing padding tolerated
    ],
)
def test_decode_words(encoded: str, decoded: str) -> None:
    assert decode_words(encoded) == decoded


@pytest.mark.parametrize(
    "value",
    [
        "=?no-such-charset?q?x?=",
        "=?rot13?q?x?=",
        "=?zlib_codec?b?eJwDAAAAAAE=?=",
        "=?idna?q?x?=",
        "=?utf-8?b?***?=",
        "=?utf-8?q?caf\u00e9?=",
        "=?utf-8?b?QmFy\udcff?=",
    ],
)
def test_decode_words_leaves_undecodable_words_as_written(value: str) -> None:
    assert decode_words(value) == value


def test_decode_words_replaces_bytes_invalid_in_the_charset() -> None:
    assert decode_words("=?utf-8?q?a=FFb?=") == "a\ufffdb"


def test_decode_words_keeps_space_next_to_an_undecodable_word() -> None:
    assert decode_words("=?bogus?q?x?= =?utf-8?q?y?=") == "=?bogus?q?x?= y"


def test_decode_words_may_produce_characters_callers_must_sanitize() -> None:
    assert decode_words("=?utf-8?q?a=0D=0Ab?=") == "a\r\nb"
