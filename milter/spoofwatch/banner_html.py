"""Where the warning goes in an HTML part: the place a browser renders first.

A forger writes the HTML, so any lexical search for ``<body>`` can be pointed at a comment,
a ``<template>``, a ``<script>``, an attribute value or a ``<noscript>``, where the warning
would never be seen. The decision is therefore left to an HTML5 parser (lexbor, through
``selectolax``): it builds the same tree a browser builds, comments, CDATA, raw text,
templates, conditional comments, missing or repeated ``<html>``/``<body>`` and broken
markup included.

The parser keeps no source offsets, so the place is found by probing (``_candidates``):
one parse with a ``<template>`` marker after every ``>`` tells where the parser opened the
body, and each candidate offset is then checked alone (``_lands_in_body``): with scripting
on and off, an element put there must be a child of ``<body>`` with nothing visible before
it, and the tree without it must be the original tree. The banner is inserted at the first
offset that passes, and every other character of the part stays as it came.

Only when no offset passes (markup that any insertion would reshape, such as a head's
``<noscript>`` that readers with and without scripting read differently) is the parsed tree
serialized again with the banner as the first child of ``<body>``: the rest of the HTML then
changes in form (attribute quoting, implied tags) but renders the same. Re-serializing every
part would have been simpler, but it rewrites every newsletter's markup, and Outlook's
conditional comments and quirks-mode layouts are easy to break; the byte-exact insertion is
the normal case.

A frameset document has no ``<body>``: the banner is put first, which makes the browser
build a body (and drop the frames, whose contents a mail reader does not load anyway).

Why lexbor (selectolax): it implements the WHATWG parsing algorithm, including the
scripting flag that decides how ``<noscript>`` is read, and ships as wheels without other
dependencies. lxml's HTML parser is libxml2's, which does not build the browser's tree
(templates, foster parenting, the "in head noscript" mode) and drops everything past depth
255; html5-parser (gumbo) builds it but must be compiled against the libxml2 of the lxml
beside it, and refused to run with pip's lxml wheel. Measurements: docs/detection.md.

Every step is linear in the part's length: at most a dozen parses of its beginning (see
``_head``) and one scan for tag ends.
"""

from __future__ import annotations

import hashlib

from selectolax.lexbor import LexborHTMLParser, LexborNode

_BOM = "\ufeff"
# How much of a part is parsed (see _head): 5,000 nested elements cost lexbor about 30 ms
# per parse, 50,000 about 3 s.
_MAX_TAGS = 5_000
_MAX_SPOTS = 5_000
# Elements whose text a browser does not show (with scripting off, <noscript> is shown).
_NOT_RENDERED = frozenset({"script", "style", "template", "title", "meta", "link"})


def insert_banner(html: str, banner: str, newline: str = "\n") -> str:
    """``html`` with ``banner`` where a browser shows it first: as the first child of
    ``<body>``, inserted at a source offset when the parser confirms it, else serialized.
    A banner put at the very start is followed by ``newline``, to keep the source readable."""
    # A browser drops the byte-order mark while decoding; the parser here gets text.
    bom = _BOM if html.startswith(_BOM) else ""
    placed = _place(html[len(bom):], banner)
    if placed.startswith(banner) and not html[len(bom):].startswith(banner):
        placed = banner + newline + placed[len(banner):]
    return bom + placed


def _place(html: str, banner: str) -> str:
    head = _head(html)
    marker = _marker_name(html)
    original = {scripting: _parse(head, scripting) for scripting in (False, True)}
    if original[False].body is None:  # a frameset document
        return banner + html
    shapes = {scripting: _shape(tree) for scripting, tree in original.items()}
    # Readers with scripting on and off may open the body at different tags (a <body> in
    # a <noscript> of the head): the candidates of both are tried.
    tried: set[int] = set()
    for offset in _candidates(head, marker, False) + _candidates(head, marker, True):
        if offset in tried:
            continue
        tried.add(offset)
        if _lands_in_body(head, offset, marker, shapes):
            return html[:offset] + banner + html[offset:]
    if len(head) < len(html):
        # too much markup before the body to parse safely: put the banner first, where
        # it opens the body itself (head elements then sit in the body and still apply)
        return banner + html
    return _serialized_with_banner(original[False], banner)


def _head(html: str) -> str:
    """The part of ``html`` that is parsed: all of it, or up to its ``_MAX_TAGS``-th ``<``
    or ``_MAX_SPOTS``-th ``>``, whichever comes first.

    lexbor, like the HTML standard's algorithm, walks the stack of open elements for many
    tags, so its time grows with the square of the nesting depth (a megabyte of ``<div>``
    takes minutes) and very deep ``<template>`` nesting overflows its C stack. Browsers
    cap the depth (Chromium at 512); here the input is cut, which bounds the depth by the
    number of tags. Parsing is streaming, so the tree of a beginning is the beginning of
    the tree: a place found and checked in it holds in the whole part (an element that is
    a child of ``<body>`` with nothing visible before it stays so whatever follows).
    """
    end = len(html)
    pos = -1
    for _ in range(_MAX_TAGS):
        pos = html.find("<", pos + 1)
        if pos < 0:
            break
    else:
        end = pos
    pos = -1
    for _ in range(_MAX_SPOTS - 1):
        pos = html.find(">", pos + 1, end)
        if pos < 0:
            break
    else:
        end = pos + 1
    return html[:end]


def _marker_name(html: str) -> str:
    # A name the part cannot contain: it depends on the part's own text.
    return "spoofwatch-probe-" + hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()[:16]


def _parse(html: str, scripting: bool) -> LexborHTMLParser:
    # Lone surrogates (undecodable bytes kept by surrogateescape) cannot be UTF-8; the
    # parser would read them as U+FFFD anyway.
    return LexborHTMLParser(html.encode("utf-8", "replace"), scripting=scripting)


def _shape(tree: LexborHTMLParser) -> str:
    """The serialized tree with whitespace dropped: insertions that only move whitespace
    between ``</head>`` and ``<body>`` leave it unchanged."""
    root = tree.root
    return "".join((root.html or "").split()) if root is not None else ""


def _tag_ends(html: str) -> list[int]:
    """Offset 0 and the offset after every ``>``: the spots where one token may end and the
    next begin (a ``>`` inside a comment or raw text is a spot too, an inert one)."""
    spots = [0]
    pos = html.find(">")
    while pos >= 0:
        spots.append(pos + 1)
        pos = html.find(">", pos + 1)
    return spots


def _candidates(html: str, marker: str, scripting: bool) -> list[int]:
    """Offsets worth checking, best first, found with one probing parse.

    A ``<template>`` marker goes to every spot of ``_tag_ends``. A template is allowed in
    ``<head>`` and in ``<body>`` alike, so, unlike any other element, the markers never
    make the parser open the body early: each lands where the original token stream is at
    that spot, and inside a comment, raw text or an attribute value it stays inert text.
    The first marker (in source order) inside ``<body>`` is right after the token that
    opened it: when ``<body>`` is its parent, its spot (after the ``<body>`` tag) is the
    best place. Otherwise the body was opened by content (an implied ``<body>``), and the
    place is the last marker spot before it, in front of that content.
    """
    spots = _tag_ends(html)
    pieces = []
    for index, spot in enumerate(spots):
        pieces.append(html[spots[index - 1] if index else 0 : spot])
        pieces.append(f"<template id={marker}-{index}></template>")
    pieces.append(html[spots[-1] :])
    tree = _parse("".join(pieces), scripting)
    body = tree.body
    if body is None:
        return []
    prefix = marker + "-"
    placed = {}
    for node in tree.css("template"):
        ident = node.attributes.get("id") or ""
        if ident.startswith(prefix):
            placed[int(ident[len(prefix) :])] = node
    in_body = {int(ident[len(prefix) :]) for node in body.traverse()
               if node.tag == "template"
               and (ident := node.attributes.get("id") or "").startswith(prefix)}
    if not in_body:
        # everything after the last marker is inert (<plaintext>) or was cut off: the
        # body opens after it
        return [spots[max(placed)]] if placed else []
    first = min(in_body)
    candidates = []
    parent = placed[first].parent
    if parent is not None and parent.mem_id == body.mem_id:
        candidates.append(spots[first])
    before = [index for index in placed if index < first]
    if before:
        candidates.append(spots[max(before)])
    return candidates


def _lands_in_body(html: str, offset: int, marker: str, original: dict[bool, str]) -> bool:
    """Whether an element inserted at ``offset`` becomes the first visible child of
    ``<body>`` and changes nothing else, for readers with and without scripting."""
    probe = f"<{marker}></{marker}>"
    probed = html[:offset] + probe + html[offset:]
    for scripting, shape in original.items():
        tree = _parse(probed, scripting)
        node = tree.css_first(marker)
        body = tree.body
        if node is None or body is None or node.parent is None:
            return False
        if node.parent.mem_id != body.mem_id or _visible_before(node):
            return False
        if _shape(tree).replace(probe, "", 1) != shape:
            return False
    return True


def _visible_before(node: LexborNode) -> bool:
    sibling = node.prev
    while sibling is not None:
        if (sibling.tag not in _NOT_RENDERED and not sibling.is_comment_node
                and (sibling.text(deep=True) or "").strip()):
            return True
        sibling = sibling.prev
    return False


def _serialized_with_banner(tree: LexborHTMLParser, banner: str) -> str:
    """The parsed document serialized again, the banner the first child of ``<body>``."""
    body = tree.body
    assert body is not None  # callers handled the frameset case
    fragment = LexborHTMLParser(banner, is_fragment=True)
    first = body.child
    for node in _top_level(fragment):
        if first is None:
            body.insert_child(node)
        else:
            first.insert_before(node)
    return tree.html or ""


def _top_level(fragment: LexborHTMLParser) -> list[LexborNode]:
    # A fragment's root is its first top-level node; the others are its siblings.
    nodes: list[LexborNode] = []
    node = fragment.root
    while node is not None:
        nodes.append(node)
        node = node.next
    return nodes
