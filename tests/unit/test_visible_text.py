"""What the reader sees: hidden HTML is not read, spaced letters and reversed runs are.

The renderer (detect.html_text with detect.css_hidden) drops text a reader cannot see and
counts the visible words hidden junk was inserted into; the text layer (text.visual) joins
letter-spaced words and puts right-to-left override runs in the order shown. Legitimate
text with single letters and initials keeps its words and stays below the threat score.
"""

from __future__ import annotations

import pytest

from spoofwatch.detect.content import load_patterns, score_text
from spoofwatch.detect.css_hidden import Look, element_look
from spoofwatch.detect.html_text import RenderedHtml, render_html
from spoofwatch.detect.text_normalize import normalize_text
from spoofwatch.text import join_spaced_letters, visual_order

PATTERNS = load_patterns()
THREAT_MIN_SCORE = 3.0  # policies/default.yaml


# ------------------------------------------------------------------- hidden HTML text


def test_zero_size_junk_inside_a_word_is_dropped_and_counted() -> None:
    assert render_html('vo<span style="font-size:0">xyz</span>te now') == RenderedHtml(
        "vote now", hidden_splits=1, hidden_chars=3)


def test_a_hidden_preheader_between_blocks_is_dropped_but_not_counted() -> None:
    html = ('<div style="display:none;max-height:0;overflow:hidden">Our October news</div>'
            "<p>Dear voter,</p>")
    assert render_html(html) == RenderedHtml("Dear voter,", hidden_splits=0, hidden_chars=16)


def test_hidden_words_between_visible_words_of_a_line_are_dropped_and_counted() -> None:
    assert render_html("we will <span style='display:none'>not</span> come") == RenderedHtml(
        "we will  come", hidden_splits=1, hidden_chars=3)


def test_hidden_text_before_the_first_visible_words_of_a_line_is_not_counted() -> None:
    html = '<span style="display:none">preview</span>Hello<br><b hidden>x</b>\n<p>Bye</p>'
    assert render_html(html) == RenderedHtml("Hello\n\nBye", hidden_splits=0, hidden_chars=8)


@pytest.mark.parametrize("style", [
    "display:none", "DISPLAY: NONE !important", "visibility:hidden", "visibility:collapse",
    "opacity:0", "opacity:0.01", "opacity:3%", "font-size:0", "font-size:2px",
    "font-size:0.1em", "font-size:1pt", "font-size:10%", "color:transparent",
    "color:rgba(0,0,0,0)", "color:#fff;background:#ffffff", "color:rgb(255,255,255);"
    "background-color:white", "height:0;overflow:hidden", "max-width:0px;overflow:hidden",
])
def test_inline_styles_that_hide_text(style: str) -> None:
    assert render_html(f'<p>a<span style="{style}">hidden</span>b</p>').text == "ab"


@pytest.mark.parametrize("style", [
    "display:block", "font-size:12px", "font-size:small", "opacity:0.9", "color:#fff",
    "color:#fff;background:url(dark.png)", "color:#333;background:#fff", "height:0",
    "color:white;background:black",
])
def test_inline_styles_that_leave_text_visible(style: str) -> None:
    assert render_html(f'<p>a <span style="{style}">shown</span> b</p>').text == "a shown b"


def test_text_inherits_hiding_and_a_background_from_its_ancestors() -> None:
    html = ('<table bgcolor="#FFFFFF"><tr><td>x<font color="white">junk</font>y</td></tr>'
            '</table><div style="display:none"><p><b>deep</b></p></div>after')
    assert render_html(html).text == "xy\n\nafter"


def test_the_hidden_attribute_hides_and_unclosed_or_stray_end_tags_do_not_leak() -> None:
    html = "<p hidden>gone<b>also gone</p>seen</i></span> too<br><img alt=pic hidden>"
    assert render_html(html).text == "seen too"


def test_inline_hiding_is_not_trusted_under_an_important_class_rule() -> None:
    html = ('<style>.x{display:block!important}</style>'
            '<span class="x" style="display:none">shown</span>')
    assert render_html(html).text == "shown"


def test_element_look_keeps_a_hidden_parent_hidden() -> None:
    hidden = Look(hidden=True)
    assert element_look(hidden, [("style", "display:block")]) == hidden


def test_deep_nesting_renders_in_bounded_memory() -> None:
    html = '<span style="display:none">' + "<b>" * 50_000 + "x" + "</b>" * 50_000 + "</span>y"
    assert render_html(html).text == "y"


# ------------------------------------------------------------------- text layer


@pytest.mark.parametrize(("written", "read"), [
    ("v o t e for him", "vote for him"),
    ("V.O.T.E now", "VOTE now"),
    ("v-o-t-e", "vote"),
    ("v_o_t_e", "vote"),
    ("v  o  t  e   for", "vote   for"),
    ("c o m e  a f t e r  you", "come  after  you"),
    ("v 0 t e", "v0te"),
])
def test_letter_spaced_words_are_joined(written: str, read: str) -> None:
    assert join_spaced_letters(written) == read


@pytest.mark.parametrize("text", [
    "a I", "J. R. R. Tolkien", "e.g. this", "i.e. that", "10.0.0.1", "1 2 3 go",
    "Plan B or C", "v o", "version 3.1.2", "a.m. and p.m.", "J.R. Smith",
])
def test_single_letters_and_initials_keep_their_words(text: str) -> None:
    assert join_spaced_letters(text) == text


def test_a_right_to_left_override_run_is_read_in_the_order_shown() -> None:
    stored = "ok \u202euoy retfa emoc lliw ew\u202c. next\n\u202ehtiw"
    assert normalize_text(stored) == "ok we will come after you. next with"
    assert visual_order("no override") == "no override"


def test_nested_overrides_keep_their_content_in_order_and_move_as_one_piece() -> None:
    stored = "\u202euoy retfa \u202dcome\u202c lliw ew\u202c. \u202euoy \u202d\u202c retfa"
    assert normalize_text(stored) == "we will come after you. after you"


def test_a_line_break_closes_every_override() -> None:
    assert normalize_text("a\u202eb\nc\u202cd \u202c\u202c plain \u202d text") == (
        "ab cd plain text")


def test_overlay_marks_and_coptic_letters_fold_to_plain_letters() -> None:
    assert normalize_text("v\u0336o\u20d2t\u0338e \u2ca3\u2c9fll") == "vote poll"


@pytest.mark.parametrize("text", [
    "J. R. R. Tolkien wrote about courage. V O T E on November 3 at your polling place.",
    "Is a I the same as an A.I.? We will come to your door this weekend to talk about the "
    "vote: polls open 7 a.m. to 8 p.m.",
    "G.O.T.V. weekend! Knock on doors, make calls, and vote early. R.S.V.P. by Friday.",
    "Plan A, plan B or plan C: whatever you choose, make a plan to v o t e.",
])
def test_legitimate_text_with_spaced_letters_stays_below_the_threat_score(text: str) -> None:
    assert score_text(normalize_text(text), PATTERNS).score < THREAT_MIN_SCORE
