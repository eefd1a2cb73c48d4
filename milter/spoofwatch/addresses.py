"""The one strict RFC 5322 address parser every check uses to find the author domain.

(Over 400 lines on purpose: the tokenizer, the recursive-descent parser and the From
rules are one grammar, read together when checking a hostile form; split, each piece
would only make sense beside the others. Domains are converted by spoofwatch.domains.)

DMARC, display-name and lookalike checks all ask "which domain does this
message claim to be from?". Answering it twice, or leniently, is how DMARC
milters were bypassed: OpenDMARC evaluated ``From: a@example.com,
b@victim.org`` on the wrong address (CVE-2019-16378) and still evaluates
``From: "x <a@junk.com>"@victim.org`` against junk.com (OpenDMARC #243), and
Python's own ``email.utils.getaddresses``/``parseaddr`` returned an
attacker-chosen address for ``alice@example.org)<bob@example.org>`` until
CVE-2023-27043 (the fix, ``strict=True``, is not in every 3.11 release, and
``email.headerregistry`` recovers from errors by guessing). So this module
tokenizes and parses the RFC 5322 grammar itself and refuses what it can not
parse.

Rules of :func:`parse_from` (following RFC 9989, "Extract Author Domain",
and its security section on multi-valued From):

* no From field -> ``FromProblem("missing")``;
* more than one From field -> ``"multiple_headers"`` (RFC 5322 allows one);
* an empty From value, or only groups without members (``undisclosed:;``)
  -> ``"no_domain"``; a mailbox with an address literal (``a@[192.0.2.1]``)
  -> ``"no_domain"`` too: there is no DNS domain to look up;
* anything that does not parse -> ``"unparseable"``, including a domain
  that is not a DNS name after IDNA conversion and control characters
  anywhere in the value;
* several mailboxes: RFC 9989 lets DMARC proceed only when every mailbox has
  the same domain. Same domain (after normalization) -> that domain, with
  the first mailbox's display name and local part; different domains ->
  ``"multiple_addresses"`` (never "the first" or "the last" domain);
* group syntax (allowed in From by RFC 6854): members are taken as From
  mailboxes, so wrapping ``a@victim.org`` in ``x: a@victim.org;`` can not
  avoid evaluation of victim.org;
* one mailbox -> :class:`FromAddress` with the domain lower-cased, without
  a trailing dot and in IDNA A-label form (``spoofwatch.domains``, the one
  conversion every check uses).

What the grammar decides for the hostile forms (the tests list them all):

* ``"x <a@junk.com>"@victim.org`` is an addr-spec whose local part is the
  quoted-string ``x <a@junk.com>``: its domain is victim.org;
* ``a@example.com (b@victim.org)``: the parenthesized part is a comment;
* ``"a@victim.org" <x@evil.com>``: the domain is evil.com, the display name
  is ``a@victim.org`` (for the impersonation checks to look at);
* ``<a@example.com> <b@victim.org>``, ``a@victim.org@evil.com``,
  ``a@example.com b@victim.org``: not RFC 5322 -> unparseable;
* encoded-words (``=?utf-8?q?a=40victim.org?=``) are plain atoms to the
  parser. Only a display name is RFC 2047-decoded, after parsing, so an
  encoded-word never becomes an address.

Deliberate leniencies, each harmless for the domain decision: obsolete syntax
that RFC 5322 section 4 says receivers must accept (CFWS around dots, null
list members, source routes in angle brackets, which are ignored); dots
anywhere in a local part (real carrier addresses such as ``a..b.@``); one
trailing dot on a domain (``victim.org.`` is victim.org, and refusing it
would let a spoof skip victim.org's policy); UTF-8 in local parts and
domains (RFC 6532). When there is no display name, a comment after the
address (``a@b.example (Jane Doe)``) serves as one, as mail clients show it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from spoofwatch.domains import is_dns_domain, normalize_domain
from spoofwatch.message import Message
from spoofwatch.results import FromAddress, FromProblem
from spoofwatch.textsafe import ascii_safe, decode_words

__all__ = [
    "ParseError",
    "ParsedMailbox",
    "domain_of",
    "parse_address_header",
    "parse_from",
]


@dataclass(frozen=True)
class ParsedMailbox:
    """One mailbox of an address header, as written (no normalization of the domain)."""

    display_name: str  # RFC 2047-decoded; "" when there is none
    local_part: str  # quoted (RFC 5321 style) when it is not a dot-atom
    domain: str  # as written, without a trailing dot; "[...]" for an address literal
    group: str = ""  # display name of the enclosing group, "" outside groups

    @property
    def is_literal(self) -> bool:
        return self.domain.startswith("[")

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"


@dataclass(frozen=True)
class ParseError:
    """Why an address header does not parse; ``position`` indexes the unfolded value."""

    reason: str
    position: int


# --- tokenizer -------------------------------------------------------------

_SPECIALS = "<>@,;:."
_ATEXT_ASCII = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
# Characters of a dot-atom (dots included). A dot-atom is a run of them that neither
# starts nor ends with a dot and has no two dots in a row; checked that way, not with a
# repeated group "atom(\.atom)*", which keeps a backtracking record per label.
_DOT_ATOM_CHARS = re.compile(r"[^\x00-\x20\x7f()<>\[\]:;@\\,\"]+")


def _is_dot_atom(text: str) -> bool:
    return (_DOT_ATOM_CHARS.fullmatch(text) is not None and not text.startswith(".")
            and not text.endswith(".") and ".." not in text)


def _is_atext(ch: str) -> bool:
    # RFC 6532 adds every non-ASCII character to atext; undecodable bytes
    # (lone surrogates) are let through here and rejected in addresses later.
    return ch in _ATEXT_ASCII or ord(ch) >= 0x80


@dataclass(frozen=True)
class _Token:
    kind: str  # "atom", "qstring", "literal", "comment", or a special character
    text: str  # atom text, unquoted string content, literal with brackets, comment text
    pos: int
    space_before: bool  # whitespace or a comment separates it from the previous token


class _SyntaxError(Exception):
    """Internal: carries a ParseError out of the recursive descent."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(reason)
        self.error = ParseError(reason, position)


def _tokenize(value: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(value)
    space = False
    while i < n:
        ch = value[i]
        if ch in " \t":
            space = True
            i += 1
        elif ch == "(":
            start = i
            text, i = _read_comment(value, i)
            tokens.append(_Token("comment", text, start, True))
            space = True
        elif ch == '"':
            start = i
            text, i = _read_quoted(value, i)
            tokens.append(_Token("qstring", text, start, space))
            space = False
        elif ch == "[":
            start = i
            text, i = _read_literal(value, i)
            tokens.append(_Token("literal", text, start, space))
            space = False
        elif ch in _SPECIALS:
            tokens.append(_Token(ch, ch, i, space))
            space = False
            i += 1
        elif _is_atext(ch):
            start = i
            while i < n and _is_atext(value[i]):
                i += 1
            tokens.append(_Token("atom", value[start:i], start, space))
            space = False
        else:
            raise _SyntaxError(f"unexpected {ch!r}", i)
    return tokens


def _read_comment(value: str, i: int) -> tuple[str, int]:
    """Read a (possibly nested) comment starting at value[i] == '('."""
    return _read_escaped(value, i, ")", "comment", nests=True)


def _read_escaped(value: str, i: int, close: str, what: str,
                  nests: bool = False) -> tuple[str, int]:
    """Read from the opening character at ``i`` to ``close``, honouring backslash escapes.

    Returns the unescaped content and the index after ``close``. With ``nests`` (a
    comment) the opening character nests and inner pairs are kept in the content; an
    address literal may not nest another ``[``.
    """
    start = i
    opening = value[i]
    i += 1
    depth = 1
    out: list[str] = []
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(value[i + 1])
            i += 2
            continue
        if ch == close:
            depth -= 1
            if depth == 0:
                return "".join(out), i + 1
        elif nests and ch == opening:
            depth += 1
        elif close == "]" and ch == "[":
            raise _SyntaxError("'[' inside an address literal", i)
        out.append(ch)
        i += 1
    raise _SyntaxError(f"unterminated {what}", start)


def _read_quoted(value: str, i: int) -> tuple[str, int]:
    return _read_escaped(value, i, '"', "quoted string")


def _read_literal(value: str, i: int) -> tuple[str, int]:
    text, i = _read_escaped(value, i, "]", "address literal")
    return "[" + text.strip(" \t") + "]", i


# --- parser ----------------------------------------------------------------


class _Parser:
    """Recursive descent over RFC 5322 address-list (mailbox-list is a subset)."""

    def __init__(self, tokens: list[_Token], end: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end = end
        self.comments: list[str] = []
        self.out: list[ParsedMailbox] = []

    def peek(self) -> _Token | None:
        while self.i < len(self.tokens) and self.tokens[self.i].kind == "comment":
            self.comments.append(self.tokens[self.i].text)
            self.i += 1
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:  # callers peek first; kept as a parse error all the same
            raise self.fail("unexpected end", None)
        self.i += 1
        return token

    def fail(self, reason: str, token: _Token | None) -> _SyntaxError:
        where = self.end if token is None else token.pos
        if token is None:
            found = "end of header"
        else:
            found = repr(token.text if token.kind in _SPECIALS else token.kind)
        return _SyntaxError(f"{reason}, found {found}", where)

    def address_list(self) -> list[ParsedMailbox]:
        while True:
            token = self.peek()
            if token is None:
                return self.out
            if token.kind == ",":  # obsolete null member
                self.take()
                continue
            self.address(group=None)
            token = self.peek()
            if token is None:
                return self.out
            if token.kind != ",":
                raise self.fail("expected ',' or the end after an address", token)
            self.take()

    def address(self, group: str | None) -> None:
        self.comments = []
        words = self.words()
        token = self.peek()
        kind = token.kind if token else None
        if kind == "<":
            self.take()
            local, domain = self.angle_addr()
            name = _phrase_text(words) if words else ""
            self.peek()  # collect trailing comments
            self.out.append(ParsedMailbox(name, local, domain, group or ""))
        elif kind == "@":
            local = self.local_part(words, token)
            self.take()
            domain = self.domain()
            self.peek()
            name = _comment_name(self.comments)
            self.out.append(ParsedMailbox(name, local, domain, group or ""))
        elif kind == ":" and words:
            if group is not None:
                raise self.fail("a group inside a group", token)
            self.take()
            self.group_members(_phrase_text(words))
        elif words:
            raise self.fail("a name without an address", token)
        else:
            raise self.fail("expected an address", token)

    def group_members(self, name: str) -> None:
        while True:
            token = self.peek()
            if token is None:
                raise self.fail("group not closed with ';'", token)
            if token.kind == ";":
                self.take()
                return
            if token.kind == ",":
                self.take()
                continue
            self.address(group=name)
            token = self.peek()
            if token is None or token.kind not in (",", ";"):
                raise self.fail("expected ',' or ';' in a group", token)

    def words(self) -> list[_Token]:
        words: list[_Token] = []
        while True:
            token = self.peek()
            if token is None or token.kind not in ("atom", "qstring", "."):
                return words
            words.append(self.take())

    def local_part(self, words: list[_Token], at: _Token | None) -> str:
        if not any(w.kind != "." for w in words):
            raise self.fail("empty local part", at)
        for previous, current in itertools.pairwise(words):
            if previous.kind != "." and current.kind != ".":
                raise self.fail("words before '@' not joined by '.'", current)
        raw = "".join(w.text for w in words)
        for w in words:
            if any(0xD800 <= ord(c) <= 0xDFFF for c in w.text):
                raise self.fail("undecodable 8-bit byte in local part", w)
        if all(w.kind != "qstring" for w in words) or _is_dot_atom(raw):
            return raw
        return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def angle_addr(self) -> tuple[str, str]:
        token = self.peek()
        if token is not None and token.kind == "@":
            self.route()
        token = self.peek()
        if token is not None and token.kind == ">":
            raise self.fail("empty address", token)
        words = self.words()
        at = self.peek()
        if at is None or at.kind != "@":
            raise self.fail("expected '@' in an angle address", at)
        local = self.local_part(words, at)
        self.take()
        domain = self.domain()
        close = self.peek()
        if close is None or close.kind != ">":
            raise self.fail("expected '>' after the address", close)
        self.take()
        return local, domain

    def route(self) -> None:
        """Skip an obsolete source route "@a,@b:"; RFC 5322 4.4 says to ignore it."""
        while True:
            self.take()  # "@"
            self.domain()
            token = self.peek()
            while token is not None and token.kind == ",":
                self.take()
                token = self.peek()
            if token is not None and token.kind == "@":
                continue
            if token is not None and token.kind == ":":
                self.take()
                return
            raise self.fail("malformed source route", token)

    def domain(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("expected a domain", token)
        if token.kind == "literal":
            self.take()
            return token.text
        if token.kind != "atom":
            raise self.fail("expected a domain", token)
        labels = [self.take().text]
        while True:
            token = self.peek()
            if token is None or token.kind != ".":
                break
            self.take()
            token = self.peek()
            if token is None or token.kind != "atom":
                break  # one trailing dot: the root, tolerated (see module docstring)
            labels.append(self.take().text)
        token = self.peek()
        if token is not None and token.kind == ".":
            raise self.fail("empty domain label", token)
        return ".".join(labels)


def _phrase_text(words: list[_Token]) -> str:
    parts: list[str] = []
    for index, word in enumerate(words):
        if index and word.space_before:
            parts.append(" ")
        parts.append(word.text)
    return _clean_name(decode_words("".join(parts)))


def _comment_name(comments: list[str]) -> str:
    for comment in reversed(comments):
        name = _clean_name(decode_words(comment))
        if name:
            return name
    return ""


def _clean_name(name: str) -> str:
    # Undecodable bytes can not be shown; U+FFFD keeps their place visible.
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name).strip(" \t")


def _first_control(value: str) -> int:
    for index, ch in enumerate(value):
        if ch != "\t" and unicodedata.category(ch) == "Cc":
            return index
    return -1


def parse_address_header(value: str) -> list[ParsedMailbox] | ParseError:
    """Parse an RFC 5322 address-list (From, Sender, Reply-To, To, Cc ...) strictly.

    Returns every mailbox in order, group members flattened (with their
    group's name in ``group``); an empty list when the value holds no
    mailbox at all. Control characters anywhere (NUL, bare CR or LF, ESC,
    DEL, C1) make it a ParseError: no legitimate mailer puts them there.
    """
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    bad = _first_control(value)
    if bad >= 0:
        return ParseError(f"control character U+{ord(value[bad]):04X}", bad)
    try:
        tokens = _tokenize(value)
        return _Parser(tokens, len(value)).address_list()
    except _SyntaxError as exc:
        return exc.error


# --- domains ---------------------------------------------------------------


def domain_of(address: str) -> str:
    """The normalized domain of an envelope-style address (MAIL FROM, a Reply-To addr-spec).

    Accepts the address with or without angle brackets and with an obsolete
    source route; "" for the null sender ("" or "<>") and for an address
    without "@". The domain is whatever follows the last "@" (a quoted local
    part may itself contain "@"). The domain is in compared form
    (:func:`spoofwatch.domains.normalize_domain`) and may fail
    :func:`spoofwatch.domains.is_dns_domain`.
    """
    a = address.strip(" \t")
    if a.startswith("<") and a.endswith(">"):
        a = a[1:-1].strip(" \t")
    if a.startswith("@") and ":" in a:
        a = a.split(":", 1)[1]
    if "@" not in a:
        return ""
    return normalize_domain(a.rpartition("@")[2])


# --- the From identity -------------------------------------------------------


def parse_from(message: Message) -> FromAddress | FromProblem:
    """The RFC 5322.From author identity DMARC evaluates, or why there is none.

    See the module docstring for the rules.
    """
    values = message.get_all("From")
    if not values:
        return FromProblem("missing", "no From header field")
    if len(values) > 1:
        return FromProblem("multiple_headers", f"{len(values)} From header fields")
    value = values[0]
    if not value.strip(" \t"):
        return FromProblem("no_domain", "empty From header field")
    parsed = parse_address_header(value)
    if isinstance(parsed, ParseError):
        return FromProblem("unparseable", f"{parsed.reason} (at {parsed.position})")
    if not parsed:
        return FromProblem("no_domain", "From holds no mailbox")
    return _author(parsed)


# Distinct domains counted in one From header. Two already decide "multiple_addresses";
# counting stops here so that a hostile list of thousands of domains (each one an IDNA
# conversion when it is not ASCII) costs no more than this. Every mailbox is still read
# by the parser, so no domain escapes the comparison: the limit only shortens the count.
FROM_DOMAIN_LIMIT = 100


def _author(mailboxes: list[ParsedMailbox]) -> FromAddress | FromProblem:
    normalized: dict[str, str] = {}  # as written -> normalized: convert each spelling once
    domains: dict[str, None] = {}  # a dict, not a list: membership must not rescan
    for mailbox in mailboxes:
        domain = normalized.get(mailbox.domain)
        if domain is None:
            raw = mailbox.domain
            domain = raw if mailbox.is_literal else normalize_domain(raw)
            normalized[raw] = domain
        domains[domain] = None
        if len(domains) > FROM_DOMAIN_LIMIT:
            break
    if len(domains) > 1:
        listed = list(itertools.islice(domains, 5))
        shown = ", ".join(ascii_safe(d, 80) for d in listed)
        more = ", ..." if len(domains) > 5 else ""
        counted = (f"more than {FROM_DOMAIN_LIMIT}" if len(domains) > FROM_DOMAIN_LIMIT
                   else str(len(domains)))
        return FromProblem(
            "multiple_addresses",
            f"{len(mailboxes)} mailboxes in {counted} domains: {shown}{more}",
        )
    domain = next(iter(domains))
    first = mailboxes[0]
    if first.is_literal:
        return FromProblem("no_domain", f"address literal {ascii_safe(domain, 80)} is not a domain")
    if not is_dns_domain(domain):
        return FromProblem(
            "unparseable", f"From domain {ascii_safe(domain, 80)} is not a valid DNS name"
        )
    return FromAddress(display_name=first.display_name, local_part=first.local_part, domain=domain)
