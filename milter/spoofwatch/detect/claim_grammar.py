"""First-person claims of identity in one line of folded text: "We are the Proud Boys".

A claim is one of these shapes, at the start of a clause the sender speaks (not inside a
quotation, not after "the email said:"), naming a watched organization and ending there
(the end of the clause, or "and", "who", "y", "que"...):

* ``opener``:   "We are the Proud Boys", "This is the DNC", "We, the Proud Boys,",
                "Somos los Proud Boys", "Le escribe el RNC", "From all of us at the RNC"
* ``here``:     "Proud Boys here."
* ``sign-off``: "Sincerely, Democratic National Committee", "Atentamente, el RNC"
* ``signature``: a line that is only the name after a dash ("— The Proud Boys",
                "-- PB"), or only the name under a sign-off line ("Sincerely,")

What is *not* a claim, by construction: a name after anything else ("we are watching the
Proud Boys", "we are not the Proud Boys", "the Proud Boys said"), a name followed by more
words ("We are the Proud Boys' neighbours", "This is the Republican Party of Texas"), a
claim inside quotation marks or after a reporting lead-in ("The email said: ..."), a
quoted claim followed by a reporting verb ('We are the Proud Boys," it said'), and a dash
line right under a quotation (an attribution, not a signature).

Words are compared as keys (``claim_reading.fold``) and may be split or joined anyhow
("W e are", "ProudBoys"): a phrase matches the consecutive words whose letters it spells.
A forger has read these lists; what they cost is said beside each.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .claim_reading import NameKeys, fold
from .name_reading import fold_pairs, is_acronym
from .watchlist import Organization, Watchlist

# Words (key letters and digits), runs of apostrophes (straight quotes fold to two), and
# single other characters. Each alternative is a single class: linear.
_TOKEN = re.compile(r"[a-z0-9]+|'+|[^\sa-z0-9']")


def _keys(*phrases: str) -> tuple[str, ...]:
    """Each phrase as the compact key a run of words must spell."""
    return tuple(fold_pairs(_NOT_WORD.sub("", fold(p))) for p in phrases)


_NOT_WORD = re.compile(r"[^a-z0-9]+")

# "We are" and its kin: the sender says who is speaking. English and Spanish.
OPENERS = _keys(
    "we are", "we're", "we", "this is", "i am", "i'm", "this message is from",
    "this email is from", "this is a message from", "a message from", "message from",
    "from all of us at", "from everyone at", "from your friends at", "from the team at",
    "on behalf of", "sent by", "greetings from", "hello from", "hi from", "saludos de",
    "saludos desde", "un saludo de", "somos", "nosotros somos", "nosotros", "soy", "te escribe",
    "le escribe", "les escribe", "os escribe", "te escribimos desde", "le escribimos desde",
    "les escribimos desde", "te escribimos", "le escribimos", "les escribimos", "este es",
    "esta es", "aquí", "habla", "un mensaje de", "mensaje de", "de parte de", "en nombre de",
    "de todos nosotros en", "este mensaje es de", "este correo es de",
)
# Bare "we"/"nosotros" claim only before a comma or an article ("We, the Proud Boys").
_BARE_WE = frozenset(_keys("we", "nosotros"))
# Closings before a signature.
SIGN_OFFS = _keys(
    "sincerely", "regards", "best regards", "kind regards", "warm regards", "warmly",
    "respectfully", "signed", "yours", "yours truly", "truly", "cordially", "best",
    "thanks", "thank you", "in solidarity", "onward", "cheers", "god bless",
    "atentamente", "saludos", "un saludo", "cordialmente", "firmado", "firma",
    "sinceramente", "gracias", "muchas gracias", "un abrazo", "en solidaridad",
)
# Between the opener and the name: articles and words that only dress the name up.
FILLERS = frozenset(_keys(
    "the", "your", "our", "official", "real", "true", "genuine", "los", "las", "el", "la",
    "tu", "tus", "su", "sus", "vuestro", "oficial", "oficiales", "verdadero", "verdaderos",
    "autentico", "autenticos",
))
# After the name, the clause may go on with these ("We are the Proud Boys and we know").
END_WORDS = frozenset(_keys(
    "and", "who", "that", "we", "here", "y", "que", "quienes", "nosotros", "aqui",
))
_HERE = frozenset(_keys("here", "aquí"))
# A lead-in with one of these reports what someone else wrote ("The email said:",
# "Fwd:"); the claim after it is theirs.
REPORTING = frozenset(_keys(
    "said", "says", "say", "saying", "read", "reads", "reading", "wrote", "writes",
    "write", "written", "claim", "claims", "claimed", "claiming", "stated", "states",
    "stating", "told", "tells", "warned", "warns", "threatened", "added", "declared",
    "according", "email", "emails", "message", "messages", "text", "texts", "letter",
    "letters", "mail", "flyer", "headline", "subject", "fwd", "fw", "re", "rv", "tr",
    "dice", "dicen", "dijo", "dijeron", "decia", "decian", "diciendo", "escribio",
    "escribieron", "afirma", "afirmo", "asegura", "aseguraba", "segun", "correo",
    "correos", "mensaje", "mensajes", "texto", "carta", "asunto",
))
_SENTENCE_END = frozenset(".!?;")
# "Listen, we are ...", "Attention: this is ...", "Listen — we are ...". Not "-": it joins
# words ("anti-Proud Boys") more often than it separates clauses.
_LEAD_END = frozenset(":,\u30fc(")
_DASHES = frozenset("-\u30fc~")  # em dash folds to U+30FC (TR39 skeleton)
_QUOTES = frozenset("\"«»")
_LEAD_MAX_WORDS = 4
MAX_LINE_CLAIMS = 20  # claims looked for in one line
_WRAP_WORDS = 6  # words of an unfinished clause carried onto the next line
_WRAPPERS = frozenset("*_([")  # marks a clause may open with


def _by_first(keys: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Keys by their first letter: a phrase spelt from a word starts with its letter, so
    only those are tried (all of them at every clause start made long texts slow)."""
    index: dict[str, list[str]] = {}
    for key in keys:
        index.setdefault(key[:1], []).append(key)
    return {first: tuple(found) for first, found in index.items()}


_OPENERS_BY_FIRST = _by_first(OPENERS)
_SIGN_OFFS_BY_FIRST = _by_first(SIGN_OFFS)


@dataclass(frozen=True)
class Claim:
    org: Organization
    alias: str
    form: str  # "opener", "here", "sign-off", "signature"


@dataclass(frozen=True)
class ClaimNames:
    """The watchlist's names that make a claim, as compact keys (longest first)."""

    names: tuple[tuple[str, Organization, str], ...]  # (key, organization, alias)
    by_first: dict[str, tuple[tuple[str, Organization, str], ...]]  # names by first letter

    def starting(self, token: str) -> tuple[tuple[str, Organization, str], ...]:
        """The names a run of words starting with ``token`` could spell."""
        return self.by_first.get(token[:1], ())

    acronyms: frozenset[str] = frozenset()  # keys of the names that are acronyms

    def keys(self) -> NameKeys:
        """The keys lines are searched for (``claim_reading.NameKeys``)."""
        keys = tuple(dict.fromkeys(key for key, _, _ in self.names))
        return NameKeys.of(tuple(k for k in keys if k not in self.acronyms),
                           tuple(k for k in keys if k in self.acronyms))


@functools.lru_cache(maxsize=8)
def claim_names(watchlist: Watchlist) -> ClaimNames:
    """Names of two or more words ("Proud Boys", "Democratic Party") and acronyms ("DNC").
    A single plain word ("Democrats") names members, not the organization ("We are
    Democrats"); it makes no claim, as in the display-name check (``name_claims``)."""
    found: list[tuple[str, Organization, str]] = []
    acronyms: set[str] = set()
    for org in watchlist.organizations:
        for alias in org.names():
            words = _NOT_WORD.split(fold(alias))
            words = [w for w in words if w]
            while words and words[0] in FILLERS:
                words = words[1:]  # "The Proud Boys": the article is optional anyway
            if len(words) >= 2 or (words and is_acronym(alias)):
                found.append((fold_pairs("".join(words)), org, alias))
                if len(words) == 1:
                    acronyms.add(found[-1][0])
    found.sort(key=lambda item: -len(item[0]))
    by_first: dict[str, list[tuple[str, Organization, str]]] = {}
    for entry in found:
        by_first.setdefault(entry[0][:1], []).append(entry)
    return ClaimNames(tuple(found), {k: tuple(v) for k, v in by_first.items()},
                      frozenset(acronyms))


def tokens_of(line: str) -> list[str]:
    """Words and marks of a folded line. An apostrophe inside a word ("we're", "dnc's")
    separates words; any other run of apostrophes (a quotation mark) is one ``"``."""
    out: list[str] = []
    prev_end = -1
    pending: tuple[int, int] | None = None  # a lone apostrophe right after a word
    for match in _TOKEN.finditer(line):
        text, start = match.group(0), match.start()
        if pending is not None:
            inner = start == pending[1] and text[0].isalnum()
            if not inner:
                out.append('"')
            pending = None
        if text[0] == "'":
            if text == "'" and start == prev_end and out and out[-1][0].isalnum():
                pending = match.span()
            else:
                out.append('"')
        else:
            out.append(text)
        prev_end = match.end()
    if pending is not None:
        out.append('"')
    return out


def _is_word(token: str) -> bool:
    # the em dash folds to U+30FC, which Python counts as a letter (a red-team review:
    # "We are the Proud Boys — we know where you live" was no claim)
    return token[0].isalnum() and token not in _DASHES


def _span(tokens: list[str], i: int, key: str, dots: bool = False) -> int:
    """End of the run of words from ``i`` that spells ``key``, or -1. With ``dots``, a
    full stop between words of a name is read through while the name is unfinished:
    "P.R.O.U.D. B.O.Y.S." (letter-spaced words are joined, their last stop stays) and
    initials ("P.B.") spell a name as a reader takes them in."""
    spelt = ""
    j = i
    while j < len(tokens) and len(spelt) <= 2 * len(key):
        if (dots and tokens[j] == "." and spelt and j + 1 < len(tokens)
                and _is_word(tokens[j + 1]) and key.startswith(fold_pairs(spelt))):
            j += 1
            continue
        if not _is_word(tokens[j]):
            break
        spelt += tokens[j]
        j += 1
        if fold_pairs(spelt) == key:
            return j
    return -1


def _first_span(tokens: list[str], i: int, index: dict[str, tuple[str, ...]]) -> int:
    """End of the longest phrase of ``index`` spelt from ``i``, or -1."""
    if i >= len(tokens):
        return -1
    return max((_span(tokens, i, key) for key in index.get(tokens[i][:1], ())), default=-1)


def _name_at(tokens: list[str], i: int, names: ClaimNames) -> tuple[int, tuple[str, Organization,
                                                                           str]] | None:
    """A watched name at ``i`` after at most three fillers or quotation marks."""
    j = i
    for _ in range(4):
        for entry in (names.starting(tokens[j]) if j < len(tokens) else ()):
            end = _span(tokens, j, entry[0], dots=True)
            if end >= 0:
                while end < len(tokens) and tokens[end] in _QUOTES:
                    end += 1
                return end, entry
        if j < len(tokens) and (tokens[j] in FILLERS or tokens[j] in _QUOTES):
            j += 1
        else:
            return None
    return None


def _ends_clause(tokens: list[str], j: int, strict: bool) -> bool:
    if j >= len(tokens):
        return True
    if not _is_word(tokens[j]):
        return tokens[j] not in _QUOTES or strict
    return not strict and tokens[j] in END_WORDS


def _next_quotes(tokens: list[str]) -> list[int]:
    """For each position, the index of the next quotation mark at or after it (len when
    none): one pass from the right, so every claim's "is it reported?" is O(1)."""
    nxt = [len(tokens)] * (len(tokens) + 1)
    for q in range(len(tokens) - 1, -1, -1):
        nxt[q] = q if tokens[q] in _QUOTES else nxt[q + 1]
    return nxt


def _reported_after(tokens: list[str], j: int, next_quote: list[int]) -> bool:
    """'We are the Proud Boys," the email said': a closing quotation mark then a report."""
    q = next_quote[min(j, len(tokens))]
    return q < len(tokens) and any(t in REPORTING for t in tokens[q + 1:q + 5])


def _clause_starts(tokens: list[str], quoted_before: bool) -> list[int]:
    """Where the sender starts speaking: the line's start, after a sentence, or after a
    short lead-in ("Listen,") that reports nothing; never inside quotation marks.

    The lead-in since the sentence start is summed up as the tokens go by (its words, and
    whether it holds a report or a quotation mark), not sliced again at every comma: the
    cost stays linear on a line of a million commas."""
    starts: list[int] = []
    inside = quoted_before
    sentence = 0
    words = 0
    reports = quoted = False
    for i, token in enumerate(tokens):
        if i == sentence and not inside and token not in _QUOTES:
            starts.append(i)
        if token in _QUOTES:
            inside = not inside
            quoted = True
        elif token in _SENTENCE_END:
            sentence = i + 1
            words, reports, quoted = 0, False, False
            continue
        elif token in _LEAD_END and not inside and i > sentence:
            if words <= _LEAD_MAX_WORDS and not reports and not quoted:
                starts.append(i + 1)
        if _is_word(token):
            words += 1
            reports = reports or token in REPORTING
    return starts


def _opener_claim(tokens: list[str], i: int, names: ClaimNames, last_word: int) -> tuple[
        int, tuple[str, Organization, str], str] | None:
    # emphasis and brackets around a clause ("*We are the Proud Boys*", "(We are ...)")
    while i < len(tokens) and tokens[i] in _WRAPPERS:
        i += 1
    for key in _OPENERS_BY_FIRST.get(tokens[i][:1], ()) if i < len(tokens) else ():
        j = _span(tokens, i, key)
        if j < 0:
            continue
        comma = j < len(tokens) and tokens[j] == ","
        if key in _BARE_WE and not (comma or (j < len(tokens) and tokens[j] in FILLERS)):
            continue
        found = _name_at(tokens, j + comma, names)
        if found is not None and _ends_clause(tokens, found[0], strict=False):
            return found[0], found[1], "opener"
    found = _name_at(tokens, i, names)
    if (found is not None and found[0] < len(tokens) and tokens[found[0]] in _HERE
            and _ends_clause(tokens, found[0] + 1, strict=False)):
        return found[0] + 1, found[1], "here"
    j = _first_span(tokens, i, _SIGN_OFFS_BY_FIRST)
    if j >= 0:
        found = _name_at(tokens, j + (j < len(tokens) and tokens[j] == ","), names)
        if found is not None and found[0] > last_word:  # only marks after the name
            return found[0], found[1], "sign-off"
    return None


def _only_marks(tokens: list[str], j: int) -> bool:
    return not any(_is_word(t) for t in tokens[j:])


def _last_word(tokens: list[str]) -> int:
    return next((k for k in range(len(tokens) - 1, -1, -1) if _is_word(tokens[k])), -1)


def _signature(tokens: list[str], previous: list[str], names: ClaimNames) -> tuple[
        str, Organization, str] | None:
    """A line that is only a name, after a dash or under a sign-off line."""
    i = 0
    while i < len(tokens) and tokens[i] in _DASHES:
        i += 1
    under_quote = bool(previous) and previous[-1] in _QUOTES
    sign_off = _first_span(previous, 0, _SIGN_OFFS_BY_FIRST) if previous else -1
    after_sign_off = sign_off >= 0 and _only_marks(previous, sign_off)
    # "-- " alone on a line is the signature separator mail clients write
    after_separator = bool(previous) and all(t in _DASHES for t in previous)
    if not ((i > 0 and not under_quote) or after_sign_off or after_separator):
        return None
    found = _name_at(tokens, i, names)
    if found is not None and _only_marks(tokens, found[0]):
        return found[1]
    return None


def _open_clause(tokens: list[str]) -> list[str]:
    """The last few words of a line that does not end its sentence (an opener wrapped
    onto the next line), or []."""
    if not tokens or tokens[-1] in _SENTENCE_END or tokens[-1] in _QUOTES:
        return []
    start = len(tokens)
    while start > 0 and len(tokens) - start < _WRAP_WORDS and tokens[start - 1] not in (
            _SENTENCE_END | _QUOTES | _LEAD_END):
        start -= 1
    return tokens[start:] if start > 0 and tokens[start - 1] in _SENTENCE_END | _LEAD_END \
        or start == 0 else []


def line_claims(line: str, previous: str, quoted_before: bool,
                names: ClaimNames) -> list[Claim]:
    """The claims the sender makes in one folded line (``previous``: the line before it;
    ``quoted_before``: whether a quotation opened earlier in the paragraph is still open)."""
    tokens = tokens_of(line)
    previous_tokens = tokens_of(previous)
    claims: list[Claim] = []
    if not quoted_before:
        entry = _signature(tokens, previous_tokens, names)
        if entry is not None:
            claims.append(Claim(entry[1], entry[2], "signature"))
    # A claim wrapped onto this line ("We are the\nProud Boys", plain text wrapped at 72
    # columns): the previous line's unfinished clause is read with it.
    tail = _open_clause(previous_tokens)
    if tail and not quoted_before:
        tokens = tail + tokens
    next_quote = _next_quotes(tokens)
    last_word = _last_word(tokens)
    starts = _clause_starts(tokens, quoted_before)
    if tail and len(tail) not in starts:
        starts = sorted({*starts, len(tail)})  # the line's own start stays a start
    for i in starts:
        found = _opener_claim(tokens, i, names, last_word)
        if found is None or _reported_after(tokens, found[0], next_quote):
            continue
        claims.append(Claim(found[1][1], found[1][2], found[2]))
        if len(claims) >= MAX_LINE_CLAIMS:
            break  # the message's limit is no larger (identity_claim)
    return claims
