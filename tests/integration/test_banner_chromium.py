"""The warning is where a browser shows it: bannered HTML rendered by headless Chromium.

Each hostile shape goes through ``add_banner`` as a real message; its HTML part, and the
original for comparison, are put into ``srcdoc`` iframes of one wrapper page. The frames
are sandboxed without scripts, like a mail reader's view; a script of the wrapper page
writes every frame's ``document.body.innerText`` (the text a reader sees: no comments,
templates, scripts or hidden raw text) into the page, and Chromium's ``--dump-dom`` gives
the page back. One Chromium run for the whole corpus keeps the module at a few seconds.

Chromium is Debian's ``chromium`` (``scripts/setup.sh --test`` installs it); without it
this module fails, it does not skip.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import tempfile
from pathlib import Path

import pytest

from spoofwatch.banner import add_banner
from spoofwatch.message import Message
from support.chromium import dump_dom

SENTENCE = "spoofwatch could not verify the sender of this message"
BANNER_HTML = f'<div style="border:2px solid #b00">WARNING: {SENTENCE}.</div>'
BANNER_TEXT = f"WARNING: {SENTENCE}."

SHAPES: dict[str, str] = {
    "comment-before-body": "<html><!-- <body> --><body>Visible text",
    "conditional-comment": "<html><!--[if mso]><body><![endif]--><body>Visible text",
    "downlevel-revealed": "<![if !mso]><p>Visible text</p><![endif]>",
    "cdata-in-svg": "<svg><![CDATA[<body>]]></svg><p>Visible text</p>",
    "cdata-in-html": "<html><![CDATA[<body>]]><p>Visible text</p>",
    "template": "<template><body>hidden</template><body>Visible text",
    "noscript-in-body": "<body><noscript><body>shown without scripts</noscript>Visible text",
    "noscript-in-head": "<head><noscript><body></noscript></head><body>Visible text",
    "script": "<script>document.write('<body>')</script><p>Visible text</p>",
    "style": "<style>body::before{content:'<body>'} a > b {}</style><body>Visible text",
    "title": "<title><body></title><p>Visible text</p>",
    "textarea": "<textarea><body></textarea><p>Visible text</p>",
    "attribute": '<head><meta content="<body>"></head><body>Visible text',
    "attribute-gt": "<head><title>t</title></head><p title='a>b'>Visible text</p>",
    "bom": "\ufeff<!DOCTYPE html><html><body>Visible text",
    "no-html-no-body": "<p>Visible text</p>",
    "head-only-tags": "<head><title>t</title><style>p{color:red}</style></head>Visible text",
    "two-bodies": "<body>Visible text<body class=x>more text",
    "frameset": "<html><frameset><frame src=\"about:blank\"></frameset></html>",
    "broken-markup": "<html><head><title>t</title><p <b>Visible text</p></b></div></body>",
    "table-first": "<table><tr><td>Visible text</td></tr></table>",
    "plaintext": "<head><title>t</title><plaintext><body>Visible text",
    "uppercase-tags": "<HTML><HEAD></HEAD><BODY BGCOLOR=white>Visible text</BODY></HTML>",
    "body-in-attribute-unquoted": "<a title=<body>Visible text</a>",
    "decoys": "<!--" + "<body>" * 6000 + "--><body>Visible text",
    "deep-nesting": "<div>" * 6000 + "Visible text",
    "processing-instruction": "<?xml version='1.0'?><?php echo '<body>' ?><p>Visible text</p>",
    "noscript-img-in-head": '<head><noscript><img src="p.gif"></noscript></head>Visible text',
}


def _message(part: str) -> Message:
    return Message.from_bytes(
        b"From: a@sender.example\r\nTo: b@recipient.example\r\nSubject: s\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + part.encode("utf-8"))


def _bannered(part: str) -> str:
    message = _message(part)
    result = add_banner(message, BANNER_TEXT, BANNER_HTML)
    assert result is not None
    headers = list(message.headers)
    raw = Message(tuple(headers), result.body).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    content = parsed.get_content()
    assert isinstance(content, str)
    return content


def _visible_texts(documents: list[str]) -> list[str]:
    """The visible text of each document, rendered by one headless Chromium."""
    frames = "".join(
        f'<iframe sandbox="allow-same-origin" srcdoc="{html.escape(doc, quote=True)}">'
        "</iframe>" for doc in documents)
    page = (
        "<!DOCTYPE html><html><body>" + frames + '<pre id="out"></pre><script>'
        "window.addEventListener('load', () => {"
        "  const texts = [...document.querySelectorAll('iframe')].map(f => {"
        "    const b = f.contentDocument && f.contentDocument.body;"
        "    return b ? b.innerText : ''; });"
        "  document.getElementById('out').textContent = JSON.stringify(texts); });"
        "</script></body></html>")
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "page.html"
        wrapper.write_text(page, encoding="utf-8")
        dom = dump_dom(wrapper, Path(tmp) / "profile")
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    end = dom.index("</pre>", start)
    texts = json.loads(html.unescape(dom[start:end]))
    assert len(texts) == len(documents)
    return [str(text) for text in texts]


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[str, str]]:
    """shape -> (visible text of the original, visible text after the banner)."""
    names = sorted(SHAPES)
    documents = [SHAPES[name] for name in names] + [_bannered(SHAPES[name]) for name in names]
    texts = _visible_texts(documents)
    return {name: (texts[i], texts[len(names) + i]) for i, name in enumerate(names)}


def test_the_corpus_has_the_shapes_the_issue_names() -> None:
    assert len(SHAPES) >= 20


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_banner_is_the_first_visible_text(name: str,
                                              rendered: dict[str, tuple[str, str]]) -> None:
    _, after = rendered[name]
    assert after.lstrip().startswith(f"WARNING: {SENTENCE}.")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_original_visible_text_is_still_there(name: str,
                                                  rendered: dict[str, tuple[str, str]]) -> None:
    before, after = rendered[name]
    rest = after.lstrip().removeprefix(f"WARNING: {SENTENCE}.")
    if name == "frameset":
        # the banner opens a body, which drops the frames; their pages are not mail content
        assert (before, rest.strip()) == ("", "")
    else:
        assert " ".join(rest.split()) == " ".join(before.split())
