"""DKIM verification (RFC 6376, RFC 8463 ed25519, RFC 8301 crypto updates) with dkimpy.

Every DKIM-Signature header field is verified on its own and reported as a
:class:`~spoofwatch.results.DkimSignature`. Key lookups go through our
:class:`~spoofwatch.dns.Lookup` (dkimpy's ``dnsfunc`` hook), so they share the
resolver's cache and the per-message time budget.

Result words (RFC 8601 section 2.7.1), chosen by one rule: *who is at fault
and was the cryptography reached*:

========== ===============================================================
pass       the signature verified
fail       a well-formed signature was checked and is not valid: body hash
           mismatch, bad signature, or expired (x= in the past; RFC 6376
           3.5 makes an expired signature a PERMFAIL of the signature
           itself, not a local policy, hence ``fail`` rather than ``policy``)
neutral    the DKIM-Signature header field itself is unusable: tag-list
           syntax, a missing or malformed required tag, an algorithm we do
           not verify (including rsa-sha1, RFC 8301), From not signed.
           RFC 8601: "contained syntax errors or were not otherwise able to
           be processed"
permerror  the signature could not be verified because of the signer's key
           record: no key (NXDOMAIN/NODATA), key revoked (empty p=),
           malformed or unsupported key, key too small (< 1024 bits), key
           restrictions (h=, s=, t=s) that exclude this signature
temperror  the key lookup failed temporarily (timeout, SERVFAIL, budget)
policy     not verified by local choice: only the first
           :data:`MAX_VERIFIED` signatures of a message are checked
========== ===============================================================

Limits against hostile messages: at most :data:`MAX_VERIFIED` signatures are
verified (the topmost ones, in header order) and at most :data:`MAX_REPORTED`
are reported; a signature header longer than :data:`MAX_SIGNATURE_BYTES` or
with more than :data:`MAX_SIGNED_FIELDS` entries in h= is ``neutral`` without
being handed to dkimpy. dkimpy's relaxed body canonicalization runs a regular
expression that is quadratic in the length of a run of blanks that does not
end a line; for relaxed-body signatures we hand dkimpy a body whose blank runs
are already squeezed to one space, which has the same relaxed canonical form.

Time: ``now`` (default: the wall clock) decides expiry (x= older than ``now``
minus :data:`CLOCK_SKEW`) and "t= in the future" (more than
:data:`FUTURE_SLOP`). dkimpy additionally applies its own wall-clock checks
with a 10 hour slop; those are more lenient than ours when ``now`` is the wall
clock, and their outcomes are mapped to the same results.

Nothing here raises on message content: every problem becomes a result.
"""

from __future__ import annotations

import binascii
import logging
import re
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import dkim
from dkim.util import DuplicateTag, InvalidTagValueList, parse_tag_value

from ..dns import DnsStatus, Lookup, normalize_name
from ..results import AuthResult, DkimResult, DkimSignature
from ..textsafe import ascii_safe

__all__ = [
    "CLOCK_SKEW",
    "FUTURE_SLOP",
    "MAX_REPORTED",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGNED_FIELDS",
    "MAX_VERIFIED",
    "verify_dkim",
]

log = logging.getLogger(__name__)

MAX_VERIFIED = 16  # signatures verified per message (the rest: policy "not checked")
MAX_REPORTED = 64  # signatures reported per message (the rest are only logged)
MAX_SIGNATURE_BYTES = 8192  # a 4096-bit b= is 684 bytes; 8 KiB leaves room for long h=
MAX_SIGNED_FIELDS = 128  # entries in h=; dkimpy's header selection is O(h= x headers)
CLOCK_SKEW = 300  # seconds an x= may lie in the past before the signature counts as expired
FUTURE_SLOP = 36000  # seconds a t= may lie in the future (dkimpy's own tolerance)
MIN_KEY_BITS = 1024  # RFC 8301 section 3.2

ACCEPTED_ALGORITHMS = frozenset({b"rsa-sha256", b"ed25519-sha256"})
_REQUIRED_TAGS = (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DIGITS = re.compile(rb"[0-9]{1,12}")
_WSP = re.compile(rb"\s+")
_BLANK_RUN = re.compile(rb"[\t ]+")
_SIGNATURE_HEADER = b"dkim-signature"


# --------------------------------------------------------------------------
# Pieces shared with arc.py


class QuietDkimpyLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """dkimpy logs hostile-input problems at ERROR; they are results, not operator errors.

    Everything dkimpy says goes to ``spoofwatch.auth.dkimpy`` at DEBUG.
    """

    def __init__(self) -> None:
        super().__init__(logging.getLogger("spoofwatch.auth.dkimpy"), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


def squeeze_blanks(body: bytes) -> bytes:
    """Each run of blanks as one space: the same relaxed body canonical form (RFC 6376
    3.4.4), without the runs that make dkimpy's trailing-blank regex quadratic."""
    return by_lines(_squeeze, body)


def _squeeze(text: bytes) -> bytes:
    return _BLANK_RUN.sub(b" ", text)


_SLICE = 1 << 20


def by_lines(transform: Callable[[bytes], bytes], data: bytes) -> bytes:
    """``transform(data)`` for a transform that never looks across a CRLF, run over slices
    of about 1 MiB cut just after a CRLF: the same result, bounded memory. A regular
    expression substitution keeps an object per match until it joins them: about 40
    times the text of a body where every word ends in a blank (1.7 GB for 40 MB)."""
    if len(data) <= _SLICE:
        return transform(data)
    # a bytearray grows in place (a large one is remapped, not copied): the input and
    # the output are all that is held, never a list of pieces beside their join
    out = bytearray()
    start = 0
    while start < len(data):
        cut = data.find(b"\r\n", start + _SLICE)
        end = len(data) if cut < 0 else cut + 2
        out += transform(data[start:end])
        start = end
    return out  # type: ignore[return-value] # bytes-like: dkimpy slices, compares, hashes it


_TRAILING_BLANKS = re.compile(rb"[\t ]+\r\n")


def _relaxed_slice(text: bytes) -> bytes:
    # blank runs squeezed first, so the trailing-blank pattern never meets a long run
    return _TRAILING_BLANKS.sub(b"\r\n", _BLANK_RUN.sub(b" ", text))


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalization (RFC 6376 3.4.4), same result, one pass by
    slices: dkimpy's own runs three whole-body substitutions and copies, about 40 times
    a 40 MB body at the peak. Trailing empty lines: exactly one CRLF stays, none for an
    empty body (dkimpy's strip_trailing_lines and correct_empty_body), done in place."""
    sliced = by_lines(_relaxed_slice, body)
    out = sliced if isinstance(sliced, bytearray) else bytearray(sliced)
    end = len(out)
    while end >= 2 and out[end - 2] == 0x0D and out[end - 1] == 0x0A:
        end -= 2
    if end == len(out):
        out += b"\r\n"
    else:
        del out[end + 2:]
    return b"" if out == b"\r\n" else out  # type: ignore[return-value] # see by_lines


# DKIM and ARC body hashes both go through dkimpy's Relaxed class.
dkim.canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)  # type: ignore[method-assign]

_EMPTY_LINE = re.compile(rb"(?:\A|\n)\r?\n")
_LONE_LF = re.compile(rb"(?<!\r)\n")


def parsed_for_dkimpy(raw: bytes) -> dkim.DKIM:
    """``dkim.DKIM(raw)``, without dkimpy's parser splitting the whole body into lines
    (a list of objects several times the body's size): dkimpy parses the header section,
    the body is cut off at the first empty line and gets CRLF line ends, as dkimpy's
    parser would give it."""
    found = _EMPTY_LINE.search(raw)
    if found is None:
        return dkim.DKIM(raw, logger=QuietDkimpyLog(), minkey=MIN_KEY_BITS)
    head_end = found.start() + (1 if raw[found.start():found.start() + 1] == b"\n" else 0)
    verifier = dkim.DKIM(raw[:head_end] + b"\r\n", logger=QuietDkimpyLog(), minkey=MIN_KEY_BITS)
    verifier.body = _LONE_LF.sub(b"\r\n", raw[found.end():])
    return verifier


def body_canon(c_value: bytes | None) -> bytes:
    """The body canonicalization named by a c= value (default simple, RFC 6376 3.5)."""
    if not c_value:
        return b"simple"
    parts = c_value.strip().lower().split(b"/")
    return parts[1] if len(parts) == 2 else b"simple"


def lenient_tags(value: bytes) -> dict[bytes, bytes]:
    """A tag list parsed forgivingly (first occurrence wins, junk skipped), for reporting."""
    tags: dict[bytes, bytes] = {}
    for spec in value.split(b";"):
        name, sep, tag_value = spec.partition(b"=")
        name = name.strip()
        if sep and name and name not in tags:
            tags[name] = tag_value.strip()
    return tags


def text_of(raw: bytes) -> str:
    """Header bytes as text; bytes that are not UTF-8 survive as lone surrogates."""
    return raw.decode("utf-8", errors="surrogateescape")


def domain_text(raw: bytes) -> str:
    """A d= value lower-case, IDNA A-label form when it is a valid U-label domain."""
    text = text_of(_WSP.sub(b"", raw)).lower()
    if text.isascii():
        return text
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def key_query_name(selector: bytes, domain: bytes) -> str | None:
    """<selector>._domainkey.<domain> as a valid DNS name, or None."""
    try:
        sel = selector.decode("ascii")
    except UnicodeDecodeError:
        return None
    dom = domain_text(domain)
    if not dom.isascii():
        return None
    return normalize_name(f"{sel}._domainkey.{dom}")


@dataclass(frozen=True)
class Outcome:
    """A result word and the human reason for it."""

    result: AuthResult
    reason: str


@dataclass
class KeyFetcher:
    """dkimpy's ``dnsfunc``: fetches DKIM keys through our Lookup.

    dkimpy only learns "a key" or "no key"; why there was no usable key is kept
    in ``problems`` (by query name) so the caller can report temperror, "no key",
    "key revoked" and so on. ``algorithm`` (a=) lets key restrictions be checked.
    """

    lookup: Lookup
    algorithm: bytes = b""
    identity_domain: str | None = None  # i= domain, for t=s keys
    signing_domain: str = ""
    problems: MutableMapping[str, Outcome] = field(default_factory=dict)
    # One lookup per name: ARC asks for the same key for seal and signature, and a
    # name that timed out once should not spend the message's DNS budget twice.
    _seen: dict[str, tuple[bytes | None, Outcome | None]] = field(default_factory=dict)

    def __call__(self, name: bytes, timeout: float = 5.0) -> bytes | None:
        # `timeout` is dkimpy's; our Lookup has its own timeouts and budget.
        query = _ascii_name(name)
        if query is None:
            label = ascii_safe(text_of(name), 80)
            self.problems[label] = Outcome(AuthResult.PERMERROR, f"invalid key name {label}")
            return None
        if query not in self._seen:
            self._seen[query] = self._fetch(query)
        record, problem = self._seen[query]
        if problem is not None:
            self.problems[query] = problem
            return None
        return record

    def _fetch(self, query: str) -> tuple[bytes | None, Outcome | None]:
        answer = self.lookup.lookup(query, "TXT")
        if answer.status is DnsStatus.TEMPERROR:
            why = answer.error or "temporary DNS error"
            return None, Outcome(AuthResult.TEMPERROR, f"key lookup failed: {why}")
        if answer.status is not DnsStatus.OK or not answer.records:
            return None, Outcome(AuthResult.PERMERROR, "no key")
        records = answer.records
        if len(records) > 1:
            # RFC 6376 3.6.2.2: several records make the result undefined; we only
            # accept the case where exactly one of them looks like a key.
            keyish = [
                r for r in records if b"p" in lenient_tags(r.encode("utf-8", "surrogateescape"))
            ]
            if len(keyish) != 1:
                return None, Outcome(
                    AuthResult.PERMERROR, f"ambiguous key: {len(records)} TXT records"
                )
            records = (keyish[0],)
        raw = records[0].encode("utf-8", errors="surrogateescape")
        problem = self._check_key(query, raw)
        return (None, problem) if problem is not None else (raw, None)

    def _check_key(self, query: str, raw: bytes) -> Outcome | None:
        try:
            tags = parse_tag_value(raw)
        except InvalidTagValueList:
            return Outcome(AuthResult.PERMERROR, "malformed key record")
        if tags.get(b"v", b"DKIM1") != b"DKIM1":
            return Outcome(AuthResult.PERMERROR, "key record version is not DKIM1")
        if b"p" not in tags:
            return Outcome(AuthResult.PERMERROR, "key record has no p=")
        if not _WSP.sub(b"", tags[b"p"]):
            return Outcome(AuthResult.PERMERROR, "key revoked")
        kind = tags.get(b"k", b"rsa").lower()
        if kind not in (b"rsa", b"ed25519"):
            return Outcome(
                AuthResult.PERMERROR, f"unsupported key type k={ascii_safe(text_of(kind), 40)}"
            )
        if self.algorithm and not self.algorithm.startswith(kind + b"-"):
            return Outcome(
                AuthResult.PERMERROR,
                f"key type k={kind.decode()} does not match"
                f" a={ascii_safe(text_of(self.algorithm), 40)}",
            )
        problem = self._check_restrictions(tags)
        if problem is not None:
            return problem
        try:
            _, bits, _, _ = dkim.evaluate_pk(query.encode("ascii"), raw)
        except (dkim.DKIMException, binascii.Error, ValueError, TypeError, IndexError) as exc:
            return Outcome(AuthResult.PERMERROR, f"malformed key: {_exception_text(exc)}")
        if kind == b"rsa" and bits is not None and bits < MIN_KEY_BITS:
            return Outcome(
                AuthResult.PERMERROR, f"key too small ({bits} bits, {MIN_KEY_BITS} required)"
            )
        return None

    def _check_restrictions(self, tags: dict[bytes, bytes]) -> Outcome | None:
        """The key's h=, s= and t=s restrictions (RFC 6376 3.6.1)."""
        if b"h" in tags and self.algorithm:
            allowed = {h.strip().lower() for h in tags[b"h"].split(b":")}
            digest = self.algorithm.rsplit(b"-", 1)[-1]
            if digest not in allowed:
                return Outcome(AuthResult.PERMERROR, "key does not allow this hash algorithm")
        if b"s" in tags:
            services = {s.strip().lower() for s in tags[b"s"].split(b":")}
            if not services & {b"*", b"email"}:
                return Outcome(AuthResult.PERMERROR, "key is not for email")
        flags = {f.strip().lower() for f in tags.get(b"t", b"").split(b":")}
        if b"s" in flags and self.identity_domain is not None:
            if self.identity_domain != self.signing_domain:
                return Outcome(AuthResult.PERMERROR, "key requires i= domain to equal d=")
        return None

    def first_problem(self) -> Outcome | None:
        return next(iter(self.problems.values()), None)


def _ascii_name(name: bytes) -> str | None:
    """A key name from dkimpy (d= may be a UTF-8 U-label domain) as a valid ASCII DNS name."""
    try:
        text = name.decode("utf-8")
        if not text.isascii():
            text = text.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return normalize_name(text) if text else None


def _exception_text(exc: BaseException) -> str:
    """An exception's message as short printable ASCII (dkimpy puts raw bytes in them)."""
    return ascii_safe(str(exc) or type(exc).__name__, 120)


# --------------------------------------------------------------------------
# DKIM


def verify_dkim(raw_message: bytes, lookup: Lookup, now: float | None = None) -> DkimResult:
    """Verify every DKIM-Signature of `raw_message` (topmost first) and report each."""
    when = time.time() if now is None else float(now)
    raw = bytes(raw_message)
    try:
        verifier = parsed_for_dkimpy(raw)
    except Exception as exc:  # noqa: BLE001 - dkimpy's parser raises assorted errors on junk (even IndexError)
        return _unparseable(raw, exc)
    values = [value for name, value in verifier.headers if name.lower() == _SIGNATURE_HEADER]
    if len(values) > MAX_REPORTED:
        log.info(
            "message has %d DKIM signatures; reporting the first %d", len(values), MAX_REPORTED
        )
    verifiers = _Verifiers(verifier)
    signatures = []
    for index, value in enumerate(values[:MAX_REPORTED]):
        if index >= MAX_VERIFIED:
            outcome = Outcome(
                AuthResult.POLICY,
                f"not checked: only {MAX_VERIFIED} signatures are verified per message",
            )
            signatures.append(_report(value, outcome))
            continue
        signatures.append(_verify_one(verifiers, index, value, lookup, when))
    return DkimResult(tuple(signatures))


class _Verifiers:
    """The dkimpy verifier for the raw body, and one for relaxed-body signatures."""

    def __init__(self, verifier: dkim.DKIM) -> None:
        self._raw = verifier
        self._squeezed: dkim.DKIM | None = None

    def for_body(self, canon: bytes) -> dkim.DKIM:
        # relaxed_body (installed in dkimpy above) squeezes blank runs by slices itself,
        # in linear time: a squeezed copy of the body would only cost memory
        return self._raw
        if self._squeezed is None:
            squeezed = dkim.DKIM(None, logger=QuietDkimpyLog(), minkey=MIN_KEY_BITS)
            squeezed.headers = self._raw.headers
            squeezed.body = squeeze_blanks(self._raw.body)
            self._squeezed = squeezed
        return self._squeezed


def _unparseable(raw: bytes, exc: Exception) -> DkimResult:
    """The header section defeats dkimpy's parser: report any signatures we can still see."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    lines = re.split(rb"\r?\n(?![ \t])", head)
    values = [
        line.split(b":", 1)[1]
        for line in lines
        if b":" in line and line.split(b":", 1)[0].strip().lower() == _SIGNATURE_HEADER
    ]
    log.debug("dkimpy could not parse the header section: %r", exc)
    reason = "message header section unparseable"
    outcome = Outcome(AuthResult.PERMERROR, reason)
    return DkimResult(tuple(_report(value, outcome) for value in values[:MAX_REPORTED]))


def _report(value: bytes, outcome: Outcome) -> DkimSignature:
    tags = lenient_tags(value[:MAX_SIGNATURE_BYTES].replace(b"\r\n", b""))
    return DkimSignature(
        domain=domain_text(tags.get(b"d", b"")),
        selector=text_of(_WSP.sub(b"", tags.get(b"s", b""))),
        algorithm=text_of(tags.get(b"a", b"")).lower(),
        result=outcome.result,
        reason=outcome.reason,
        b_prefix=text_of(_WSP.sub(b"", tags.get(b"b", b""))[:8]),
        identity=text_of(tags.get(b"i", b"")),
    )


def _verify_one(
    verifiers: _Verifiers, index: int, value: bytes, lookup: Lookup, when: float
) -> DkimSignature:
    checked = _precheck(value, when)
    if isinstance(checked, Outcome):
        return _report(value, checked)
    identity = checked.get(b"i")
    fetcher = KeyFetcher(
        lookup,
        algorithm=checked[b"a"],
        identity_domain=domain_text(identity.rpartition(b"@")[2]) if identity is not None else None,
        signing_domain=domain_text(checked[b"d"]),
    )
    verifier = verifiers.for_body(body_canon(checked.get(b"c")))
    return _report(value, _run(verifier, index, fetcher))


def _run(verifier: dkim.DKIM, index: int, fetcher: KeyFetcher) -> Outcome:
    try:
        valid = verifier.verify(idx=index, dnsfunc=fetcher)
    except dkim.ValidationError as exc:
        return _validation_outcome(str(exc))
    except dkim.KeyFormatError as exc:
        return Outcome(AuthResult.PERMERROR, f"unusable key: {_exception_text(exc)}")
    except dkim.MessageFormatError as exc:
        return Outcome(AuthResult.NEUTRAL, f"malformed signature: {_exception_text(exc)}")
    except dkim.DKIMException as exc:
        return Outcome(AuthResult.PERMERROR, _exception_text(exc))
    except Exception as exc:  # noqa: BLE001 - third-party code on hostile input: never let it crash the milter
        log.info("dkimpy failed on signature %d: %r", index, exc)
        return Outcome(AuthResult.PERMERROR, f"verifier error ({type(exc).__name__})")
    if valid:
        return Outcome(AuthResult.PASS, "signature verified")
    problem = fetcher.first_problem()
    if problem is not None:
        return problem
    return Outcome(AuthResult.FAIL, "signature did not verify")


def _validation_outcome(message: str) -> Outcome:
    if message.startswith("body hash mismatch"):
        return Outcome(AuthResult.FAIL, "body hash mismatch")
    if message.startswith("x= value is past"):
        return Outcome(AuthResult.FAIL, "signature expired")
    return Outcome(AuthResult.NEUTRAL, f"malformed signature: {ascii_safe(message, 120)}")


def _precheck(value: bytes, when: float) -> dict[bytes, bytes] | Outcome:
    """Our own linear-time checks of the signature header, before dkimpy sees it.

    Returns the parsed tags, or the outcome for an unusable signature.
    """
    if len(value) > MAX_SIGNATURE_BYTES:
        return Outcome(AuthResult.NEUTRAL, f"signature header too long ({len(value)} bytes)")
    try:
        tags = parse_tag_value(value)
    except DuplicateTag as exc:
        return Outcome(
            AuthResult.NEUTRAL, f"duplicate tag {ascii_safe(text_of(bytes(exc.args[0])), 20)}="
        )
    except (InvalidTagValueList, IndexError, TypeError):
        return Outcome(AuthResult.NEUTRAL, "malformed tag list")
    for check in _CHECKS:
        problem = check(tags, when)
        if problem is not None:
            return problem
    return tags


def _check_required(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    missing = [t.decode() for t in _REQUIRED_TAGS if t not in tags]
    if missing:
        return Outcome(AuthResult.NEUTRAL, "missing " + ", ".join(f"{t}=" for t in missing))
    if tags[b"v"] != b"1":
        return Outcome(
            AuthResult.NEUTRAL, f"unsupported version v={ascii_safe(text_of(tags[b'v']), 20)}"
        )
    return None


def _check_algorithm(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    algorithm = tags[b"a"]
    if algorithm == b"rsa-sha1":
        return Outcome(AuthResult.NEUTRAL, "rsa-sha1 signatures are not accepted (RFC 8301)")
    if algorithm not in ACCEPTED_ALGORITHMS:
        return Outcome(
            AuthResult.NEUTRAL, f"unsupported algorithm {ascii_safe(text_of(algorithm), 40)}"
        )
    canon = tags.get(b"c", b"simple/simple").split(b"/")
    if len(canon) > 2 or any(c not in (b"simple", b"relaxed") for c in canon):
        return Outcome(
            AuthResult.NEUTRAL,
            f"unsupported canonicalization c={ascii_safe(text_of(tags[b'c']), 40)}",
        )
    if tags.get(b"q", b"dns/txt") != b"dns/txt":
        return Outcome(AuthResult.NEUTRAL, "unsupported query method q=")
    return None


def _check_base64(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    for name in (b"b", b"bh"):
        compact = _WSP.sub(b"", tags[name])
        if not compact or len(compact) % 4 or _BASE64.fullmatch(compact) is None:
            return Outcome(AuthResult.NEUTRAL, f"{name.decode()}= is not valid base64")
    return None


def _check_names(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    if key_query_name(tags[b"s"], tags[b"d"]) is None or not tags[b"s"] or not tags[b"d"]:
        return Outcome(AuthResult.NEUTRAL, "invalid d= or s=")
    if re.search(rb"[()<>\[\]:;@\\,\s\"]", tags[b"d"]):
        return Outcome(AuthResult.NEUTRAL, "invalid d=")
    identity = tags.get(b"i")
    if identity is not None:
        domain = domain_text(identity.rpartition(b"@")[2])
        signer = domain_text(tags[b"d"])
        if b"@" not in identity or not (domain == signer or domain.endswith("." + signer)):
            return Outcome(AuthResult.NEUTRAL, "i= is not within d=")
    return None


def _check_headers(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    signed = [h.strip().lower() for h in tags[b"h"].split(b":")]
    if len(signed) > MAX_SIGNED_FIELDS:
        return Outcome(AuthResult.NEUTRAL, f"h= lists too many header fields ({len(signed)})")
    if b"from" not in signed:
        # RFC 6376 6.1.1: the Verifier MUST ignore such a signature (PERMFAIL).
        return Outcome(AuthResult.NEUTRAL, "From header field not signed")
    if b"l" in tags and _DIGITS.fullmatch(tags[b"l"]) is None:
        return Outcome(AuthResult.NEUTRAL, "l= is not a number")
    return None


def _check_times(tags: dict[bytes, bytes], when: float) -> Outcome | None:
    for name in (b"t", b"x"):
        if name in tags and _DIGITS.fullmatch(tags[name]) is None:
            return Outcome(AuthResult.NEUTRAL, f"{name.decode()}= is not a timestamp")
    signed_at = int(tags[b"t"]) if b"t" in tags else None
    expires = int(tags[b"x"]) if b"x" in tags else None
    if signed_at is not None and expires is not None and expires < signed_at:
        return Outcome(AuthResult.NEUTRAL, "x= is earlier than t=")
    if signed_at is not None and signed_at > when + FUTURE_SLOP:
        return Outcome(AuthResult.NEUTRAL, "t= is in the future")
    if expires is not None and expires < when - CLOCK_SKEW:
        return Outcome(AuthResult.FAIL, "signature expired")
    return None


_CHECKS: tuple[Callable[[dict[bytes, bytes], float], Outcome | None], ...] = (
    _check_required,
    _check_algorithm,
    _check_base64,
    _check_names,
    _check_headers,
    _check_times,
)
