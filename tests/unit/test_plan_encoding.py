"""Header values we write are always ASCII: RFC 2047 encoded-words where needed."""

from __future__ import annotations

from email.header import decode_header, make_header

from spoofwatch.actions import ChangeHeader
from spoofwatch.message import Message
from spoofwatch.plan import _subject_tag, encode_words, header_safe, raw_text


def _shown(value: str) -> str:
    """What a mail reader shows (Python's own RFC 2047 decoder, folding removed)."""
    return str(make_header(decode_header(value.replace("\n", ""))))


def test_raw_latin1_bytes_are_read_as_latin1() -> None:
    assert raw_text("Votaci\udcf3n") == "Votación"


def test_raw_utf8_bytes_are_read_as_utf8() -> None:
    assert raw_text("Votación".encode().decode("utf-8", "surrogateescape")) == "Votación"


def test_tagged_raw_latin1_subject_becomes_an_encoded_word() -> None:
    message = Message.from_bytes(b"From: a@b.example\r\nSubject: Votaci\xf3n\r\n\r\nx\r\n")
    assert _subject_tag(message, "[SPOOF?]") == [
        ChangeHeader("Subject", 1, "[SPOOF?] =?utf-8?q?Votaci=C3=B3n?=")]


def test_ascii_value_is_unchanged() -> None:
    assert header_safe("[SPOOF?] Donate now", "Subject") == "[SPOOF?] Donate now"
    assert header_safe("a;\n\tb=c") == "a;\n\tb=c"


def test_existing_encoded_words_are_kept_and_spacing_survives_decoding() -> None:
    value = "[SPOOF?] Votación =?iso-8859-1?q?d=EDa?= más"
    encoded = header_safe(value, "Subject")
    assert encoded == ("[SPOOF?] =?utf-8?q?Votaci=C3=B3n_?= =?iso-8859-1?q?d=EDa?=\n"
                       " =?utf-8?q?_m=C3=A1s?=")
    assert _shown(encoded) == "[SPOOF?] Votación día más"


def test_adjacent_8bit_words_share_one_encoded_run() -> None:
    assert encode_words("a Votación día b") == "a =?utf-8?q?Votaci=C3=B3n_d=C3=ADa?= b"


def test_long_text_is_split_into_encoded_words_of_at_most_75_characters() -> None:
    encoded = header_safe("[X] " + "é" * 60, "Subject")
    words = encoded.replace("\n", "").split(" ")[1:]
    assert all(len(word) <= 75 for word in words)
    assert len(words) == 6
    assert _shown(encoded) == "[X] " + "é" * 60
    assert encoded.isascii()


def test_control_characters_and_specials_are_encoded() -> None:
    assert encode_words("x\x01=?_ ok") == "=?utf-8?q?x=01=3D=3F=5F?= ok"
