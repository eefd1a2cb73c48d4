"""Build test messages, DKIM keys, DKIM signatures and ARC seals.

Everything returns raw RFC 5322 bytes with CRLF line endings, the form the
milter sees. Typical use::

    key = rsa_key()                                   # cached per process
    publish_key(dns, "sel", "example.com", key)       # TXT at sel._domainkey.example.com
    msg = make_message("Alice <alice@example.com>", "bob@example.net", "Hi", "Hello\\n")
    signed = dkim_sign(msg, key, "sel", "example.com")
    listed = mailing_list_forward(
        signed, list_key, "arc", "lists.example.org", authserv_id="lists.example.org",
        results="dkim=pass header.d=example.com; dmarc=pass header.from=example.com")

Keys: RSA keys come from the ``openssl`` command line tool (dkimpy reads its PEM
output); ed25519 keys from PyNaCl. Both are cached per process by (size, name),
so asking twice for ``rsa_key(1024)`` returns the same key and a test that
needs two different keys asks for two names.

Signatures are made with dkimpy's own header generator so that tags dkimpy's
``sign()`` does not offer (x=, a chosen t=) can be set, which the expiry tests
need. ARC sets are made with ``dkim.arc_sign`` (RSA only: dkimpy cannot seal
with ed25519).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import dkim
import nacl.encoding
import nacl.signing
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import HASH_ALGORITHMS, parse_pem_private_key

CRLF = b"\r\n"
DEFAULT_DATE = "Mon, 02 Jun 2025 10:00:00 +0000"

__all__ = [
    "DEFAULT_DATE",
    "DkimKey",
    "TxtPublisher",
    "add_header",
    "append_body",
    "arc_seal",
    "dkim_sign",
    "ed25519_key",
    "get_header",
    "key_name",
    "make_message",
    "mailing_list_forward",
    "publish_key",
    "publish_revoked_key",
    "replace_header",
    "rsa_key",
]


# ---------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class DkimKey:
    """A DKIM key pair in the formats dkimpy and DNS want."""

    kind: str  # "rsa" or "ed25519"
    bits: int  # modulus size for RSA, 256 for ed25519
    private: bytes  # PEM (RSA) or base64 seed (ed25519): what dkimpy's signers take
    public_b64: str  # the p= value

    @property
    def txt(self) -> str:
        """The TXT record value to publish at <selector>._domainkey.<domain>."""
        return f"v=DKIM1; k={self.kind}; p={self.public_b64}"

    @property
    def revoked_txt(self) -> str:
        """The same record with an empty p=, which revokes the key (RFC 6376 3.6.1)."""
        return f"v=DKIM1; k={self.kind}; p="

    @property
    def signature_algorithm(self) -> bytes:
        """The a= value a signature made with this key carries."""
        return b"rsa-sha256" if self.kind == "rsa" else b"ed25519-sha256"


@functools.cache
def rsa_key(bits: int = 1024, name: str = "default") -> DkimKey:
    """An RSA key of `bits` bits; the same (bits, name) gives the same key within a process."""
    pem = subprocess.run(
        ["openssl", "genrsa", str(bits)], check=True, capture_output=True, timeout=60
    ).stdout
    der = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "DER"],
        input=pem,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return DkimKey("rsa", bits, pem, base64.b64encode(der).decode("ascii"))


@functools.cache
def ed25519_key(name: str = "default") -> DkimKey:
    """An ed25519 key (RFC 8463); the same name gives the same key within a process."""
    signing = nacl.signing.SigningKey.generate()
    private = signing.encode(encoder=nacl.encoding.Base64Encoder)
    public = signing.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode("ascii")
    return DkimKey("ed25519", 256, private, public)


class TxtPublisher(Protocol):
    """What publish_key needs from the loopback DNS server (tests/support/dnsserver.py)."""

    def add(self, name: str, rdtype: str, value: str, ttl: int = 300) -> None: ...


def key_name(selector: str, domain: str) -> str:
    """The DNS name a DKIM key for (selector, domain) lives at."""
    return f"{selector}._domainkey.{domain}"


def publish_key(dns_server: TxtPublisher, selector: str, domain: str, key: DkimKey) -> str:
    """Publish `key` as the TXT record for (selector, domain); returns the record's name."""
    name = key_name(selector, domain)
    dns_server.add(name, "TXT", key.txt)
    return name


def publish_revoked_key(dns_server: TxtPublisher, selector: str, domain: str, key: DkimKey) -> str:
    """Publish a revoked key record (empty p=) for (selector, domain); returns the name."""
    name = key_name(selector, domain)
    dns_server.add(name, "TXT", key.revoked_txt)
    return name


# ---------------------------------------------------------------------------
# Messages


def _crlf(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return raw.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def make_message(
    from_addr: str,
    to: str,
    subject: str,
    body: str | bytes = "Hello.\n",
    extra_headers: Sequence[tuple[str, str]] = (),
    *,
    date: str = DEFAULT_DATE,
    message_id: str | None = None,
) -> bytes:
    """A plain-text message: From, To, Subject, Date, Message-ID, MIME headers, then
    `extra_headers` in order, a blank line and `body` (line endings made CRLF, a final
    CRLF added when missing). Header values are written as given (UTF-8)."""
    if message_id is None:
        # Deterministic, so the same arguments give byte-identical messages.
        digest = hashlib.sha256(f"{from_addr}|{to}|{subject}|{date}".encode()).hexdigest()[:16]
        message_id = f"<{digest}@mailfactory.test>"
    headers: list[tuple[str, str]] = [
        ("From", from_addr),
        ("To", to),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", message_id),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        *extra_headers,
    ]
    head = b"".join(f"{name}: {value}".encode() + CRLF for name, value in headers)
    payload = _crlf(body)
    if payload and not payload.endswith(CRLF):
        payload += CRLF
    return head + CRLF + payload


def _split(msg: bytes) -> tuple[bytes, bytes]:
    """(header block including its final CRLF, body)."""
    head, sep, body = msg.partition(CRLF + CRLF)
    if not sep:
        return msg, b""
    return head + CRLF, body


def _fields(head: bytes) -> list[bytes]:
    """Header fields (each with its continuation lines and final CRLF)."""
    fields: list[bytes] = []
    for line in head.split(CRLF)[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + CRLF
        else:
            fields.append(line + CRLF)
    return fields


def _is(field: bytes, name: str) -> bool:
    return field.split(b":", 1)[0].strip().lower() == name.lower().encode()


def add_header(msg: bytes, name: str, value: str | bytes) -> bytes:
    """Prepend a header field, as a relay or signer does."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return name.encode() + b": " + raw + CRLF + msg


def get_header(msg: bytes, name: str) -> list[bytes]:
    """Values (unfolded only by removing CRLFs, leading space stripped) of every `name` field."""
    head, _ = _split(msg)
    return [f.split(b":", 1)[1].replace(CRLF, b"").lstrip() for f in _fields(head) if _is(f, name)]


def replace_header(msg: bytes, name: str, value: str | bytes, occurrence: int = 0) -> bytes:
    """Replace the value of the `occurrence`-th (0 = topmost) `name` field."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    head, body = _split(msg)
    fields = _fields(head)
    matches = [i for i, f in enumerate(fields) if _is(f, name)]
    if occurrence >= len(matches):
        raise ValueError(f"message has no {name} header #{occurrence}")
    index = matches[occurrence]
    fields[index] = fields[index].split(b":", 1)[0] + b": " + raw + CRLF
    return b"".join(fields) + CRLF + body


def append_body(msg: bytes, text: str | bytes) -> bytes:
    """Append `text` (CRLF-normalized) to the body, as a list footer does."""
    return msg + _crlf(text)


# ---------------------------------------------------------------------------
# DKIM signing


def dkim_sign(
    msg: bytes,
    key: DkimKey,
    selector: str,
    domain: str,
    *,
    headers: Iterable[str] | None = None,
    identity: str | None = None,
    canonicalize: tuple[str, str] = ("relaxed", "relaxed"),
    timestamp: int | None = None,
    expire: int | None = None,
    length: bool = False,
) -> bytes:
    """Return `msg` with a DKIM-Signature prepended.

    headers: names for h= (default: dkimpy's RFC 6376 recommended set, From twice);
    identity: i= (omitted when None); timestamp: t= (default now); expire: x= as an
    absolute Unix time (omitted when None; may be in the past, for expiry tests);
    length: add l= covering the current body.
    """
    signer = dkim.DKIM(msg, signature_algorithm=key.signature_algorithm)
    policy = CanonicalizationPolicy.from_c_value("/".join(canonicalize).encode())
    include = (
        [h.lower().encode() for h in headers]
        if headers is not None
        else [h.lower() for h in signer.default_sign_headers()]
    )
    raw_body = signer.body
    if policy.body_algorithm.name == b"relaxed":
        # Same relaxed form, but avoids dkimpy's regex that is quadratic in long blank runs.
        raw_body = re.sub(rb"[\t ]+", b" ", raw_body)
    body = policy.canonicalize_body(raw_body)
    bodyhash = base64.b64encode(HASH_ALGORITHMS[key.signature_algorithm](body).digest())
    signed_at = int(time.time()) if timestamp is None else timestamp
    fields: list[tuple[bytes, bytes]] = [
        (b"v", b"1"),
        (b"a", key.signature_algorithm),
        (b"c", policy.to_c_value()),
        (b"d", domain.encode()),
    ]
    if identity is not None:
        fields.append((b"i", identity.encode()))
    if length:
        fields.append((b"l", str(len(body)).encode()))
    fields += [(b"q", b"dns/txt"), (b"s", selector.encode()), (b"t", str(signed_at).encode())]
    if expire is not None:
        fields.append((b"x", str(expire).encode()))
    # " : " as dkimpy's own signer writes it: dkimpy folds the header at blanks, and a
    # list with none would be folded inside a header name ("content-tra nsfer-encoding")
    fields += [(b"h", b" : ".join(include)), (b"bh", bodyhash), (b"b", b"0" * 60)]
    # gen_header is dkimpy's own signer core; sign() would not let us set x= or t=.
    signer.hasher = HASH_ALGORITHMS[key.signature_algorithm]
    value = signer.gen_header(fields, include, policy, b"DKIM-Signature", _private(key))
    return b"DKIM-Signature: " + value + msg


def _private(key: DkimKey) -> object:
    if key.kind == "rsa":
        return parse_pem_private_key(key.private)
    return nacl.signing.SigningKey(key.private, encoder=nacl.encoding.Base64Encoder)


# ---------------------------------------------------------------------------
# ARC


def arc_seal(
    msg: bytes,
    key: DkimKey,
    selector: str,
    domain: str,
    authserv_id: str,
    results: str,
    *,
    timestamp: int | None = None,
    headers: Iterable[str] | None = None,
) -> bytes:
    """Add one ARC set, as an intermediary `authserv_id` does.

    `results` is the resinfo list the intermediary recorded, e.g.
    "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com;
    dmarc=pass header.from=example.com". When the message already carries ARC
    sets, include the intermediary's "arc=pass" (or fail) in `results`: dkimpy
    takes the new seal's cv= from it.

    The intermediary's Authentication-Results header is added to the message
    (dkimpy seals from it) and the ARC-Seal, ARC-Message-Signature and
    ARC-Authentication-Results headers are prepended on top. RSA keys only.
    """
    if key.kind != "rsa":
        raise ValueError("dkimpy can only ARC-seal with RSA keys")
    with_ar = add_header(msg, "Authentication-Results", f"{authserv_id}; {results}")
    include = [h.encode() for h in headers] if headers is not None else None
    arc_set = dkim.arc_sign(
        with_ar,
        selector.encode(),
        domain.encode(),
        key.private,
        authserv_id.encode(),
        include_headers=include,
        timestamp=timestamp,
    )
    if not arc_set:
        raise ValueError(f"dkimpy produced no ARC set (results {results!r})")
    return b"".join(arc_set) + with_ar


def mailing_list_forward(
    msg: bytes,
    key: DkimKey,
    selector: str,
    domain: str,
    *,
    authserv_id: str,
    results: str,
    subject_prefix: str = "[list] ",
    footer: str = "--\nYou are subscribed to the list.\n",
    sign_dkim: bool = False,
) -> bytes:
    """Simulate a mailing list at `domain` relaying `msg`.

    The list authenticates the message on arrival (`results`, e.g. "dkim=pass
    header.d=example.com; dmarc=pass header.from=example.com"), tags the subject
    and appends a footer (which breaks the author's DKIM signature), then ARC-seals
    the modified message with `key` so its own ARC-Message-Signature covers what it
    sends. With sign_dkim it also adds its own DKIM signature (d=`domain`).
    """
    subjects = get_header(msg, "Subject")
    modified = msg
    if subjects:
        subject = subject_prefix.encode("utf-8") + subjects[0]
        modified = replace_header(modified, "Subject", subject)
    modified = append_body(modified, footer)
    if sign_dkim:
        modified = dkim_sign(modified, key, selector, domain)
    prior_seals = get_header(msg, "ARC-Seal")
    if prior_seals and not re.search(r"(^|[;\s])arc\s*=", results):
        # A list that saw a chain records its verdict; the simulation assumes it passed.
        results = f"{results}; arc=pass"
    return arc_seal(modified, key, selector, domain, authserv_id, results)
