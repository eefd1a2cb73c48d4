"""``identity_claim``: the text's own first-person claim to be a watched organization, on the
bundled example watchlist (plus a small one with the alias "PB").

What a claim is and is not is specified here shape by shape: the cheap ways around the
rule a forger who has read ``claim_grammar.py`` would try, and the legitimate shapes that
must never be a claim (news, forwards, quotations, flyers, third person, mentions). The
legitimate corpus (``tests/data/threat_corpus/legit_*.txt``, both parts) gives no claim.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from spoofwatch.detect.identity_claim import claims, identity_claim_findings
from spoofwatch.detect.impersonation import ImpersonationInput
from spoofwatch.detect.watchlist import Organization, WatchedDomainInfo, Watchlist, load_watchlist
from spoofwatch.message import Message
from spoofwatch.results import (
    AuthResult,
    DkimResult,
    DkimSignature,
    DmarcResult,
    Envelope,
    FromAddress,
)
from support import threat_corpus
from support.cputime import least_cpu
from support.mailfactory import make_message

WATCHLIST = Path(__file__).resolve().parents[2] / "policies" / "watchlist.example.yaml"
PB = "Proud Boys"
DNC = "Democratic National Committee"
RNC = "Republican National Committee"


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return load_watchlist(WATCHLIST)


def _inp(watchlist: Watchlist, body: bytes | str = b"", *, sender: str = "info@cheap.example",
         dmarc: AuthResult | None = None, dkim: tuple[str, ...] = (),
         raw: bytes | None = None) -> ImpersonationInput:
    local, _, domain = sender.partition("@")
    if raw is None:
        text = body if isinstance(body, str) else body.decode()
        raw = make_message(sender, "voter@recipient.example", "Hello", text)
    dmarc_result = (DmarcResult(dmarc, domain, "", domain, "none", "none", False, False, False,
                                "") if dmarc else None)
    dkim_result = (DkimResult(tuple(DkimSignature(d, "s", "rsa-sha256", AuthResult.PASS, "")
                                    for d in dkim)) if dkim else None)
    return ImpersonationInput(Envelope(client_ip="203.0.113.5"), Message.from_bytes(raw),
                              FromAddress("", local, domain), dmarc_result, dkim_result,
                              watchlist, None)


def _claims(watchlist: Watchlist, text: str) -> list[tuple[str, str, str]]:
    return [(c.org.name, c.alias, c.form) for c in claims(text, _inp(watchlist))]


def _weight(name: str) -> float:
    return {"identity_claim": 4.0}[name]


# ----------------------------------------------------------------------------- claims


@pytest.mark.parametrize(("text", "expected"), [
    ("We are the Proud Boys.", [(PB, "Proud Boys", "opener")]),
    ("We are the Proud Boys and we know where you live.", [(PB, "Proud Boys", "opener")]),
    ("We're the Proud Boys!", [(PB, "Proud Boys", "opener")]),
    ("We, the Proud Boys, know where you live.", [(PB, "Proud Boys", "opener")]),
    # "Official" is read as a word dressing the name up; the first alias spelt is named
    ("We are The Official Proud Boys.", [(PB, "Proud Boys", "opener")]),
    ("Proud Boys here. We have your address.", [(PB, "Proud Boys", "here")]),
    ("This is the DNC.", [(DNC, "DNC", "opener")]),
    ("From all of us at the RNC, vote.", [(RNC, "RNC", "opener")]),
    ("Greetings from the Proud Boys.", [(PB, "Proud Boys", "opener")]),
    ("Listen carefully, we are the Proud Boys.", [(PB, "Proud Boys", "opener")]),
    ("Sincerely, Democratic National Committee", [(DNC, DNC, "sign-off")]),
    ("We know where you live.\n\nSincerely,\nThe Proud Boys\n", [(PB, "Proud Boys",
                                                                  "signature")]),
    ("We know where you live.\n\u2014 The Proud Boys", [(PB, "Proud Boys", "signature")]),
    ("We know where you live.\n-- \nThe Proud Boys", [(PB, "Proud Boys", "signature")]),
    ("Somos los Proud Boys. Sabemos dónde vives.", [(PB, "Proud Boys", "opener")]),
    ("Le escribe el RNC.", [(RNC, "RNC", "opener")]),
    ("Nosotros, los Proud Boys, sabemos dónde vives.", [(PB, "Proud Boys", "opener")]),
    ("Atentamente,\nlos Proud Boys", [(PB, "Proud Boys", "signature")]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_first_person_claims_are_found(watchlist: Watchlist, text: str,
                                       expected: list[tuple[str, str, str]]) -> None:
    assert _claims(watchlist, text) == expected


@pytest.mark.parametrize("text", [
    "W e are the Proud Boys.",  # letters of a word spaced
    "We are the P r o u d B o y s.",
    "We are the P.R.O.U.D. B.O.Y.S.",
    "We are the ProudBoys.",
    "We are the Pr0ud B0ys.",  # digits for letters
    "W3 4re the Pr0ud B0ys.",
    "We are the \u0420r\u043eud \u0412\u043eys.",  # Cyrillic Р, о, В
    "We are the \uff30\uff52\uff4f\uff55\uff44 Boys.",  # fullwidth
    "We are the Pro\u200bud\u200c Boys.",  # zero-width space and non-joiner
    "We a\u00adre the Proud Boys.",  # soft hyphen
    "We are the PROUD BOYS.",
    "We are the \u202esyoB duorP\u202c.",  # right-to-left override: reads "Proud Boys"
    "We are the \"Proud Boys\".",
    "We are the Prou\u0301d Boys.",  # a combining accent
    # a red-team review: an em dash after the name, a claim wrapped at the line's end
    "We are the Proud Boys \u2014 we know where you live.",
    "We are the\nProud Boys.",
    "Listen, we are the\nProud Boys.",
    "*We are the Proud Boys.*",
    "(We are the Proud Boys.)",
])
def test_disguised_claims_are_found(watchlist: Watchlist, text: str) -> None:
    assert [(org, form) for org, _, form in _claims(watchlist, text)] == [(PB, "opener")]


def test_an_acronym_alias_signs_a_letter(watchlist: Watchlist) -> None:
    pb = Organization("Proud Boys", ("PB", "Proud Boys"),
                      (WatchedDomainInfo("officialproudboys.com"),), ())
    small = Watchlist((pb,))
    assert _claims(small, "We know where you live.\nSigned, PB") == [
        ("Proud Boys", "PB", "sign-off")]
    assert _claims(small, "We know where you live.\nSigned,\nP.B.") == [
        ("Proud Boys", "PB", "signature")]


@pytest.mark.parametrize("text", [
    # news and reported speech
    "The email, which said 'We are the Proud Boys', was sent to voters in Florida.",
    "The email, which said \"We are the Proud Boys\", was sent to voters in Florida.",
    "Voters received emails that said: We are the Proud Boys.",
    "\"We are the Proud Boys,\" the email said. Officials say it was forged.",
    "\u201cWe are the Proud Boys. We know where you live.\u201d Officials say it was forged.",
    "The message read:\n\"Listen carefully.\nWe are the Proud Boys.\"",
    "The Proud Boys said they did not send the emails.",
    "El correo decía: Somos los Proud Boys.",
    # forwards and replies
    "Is this real?\n---------- Forwarded message ----------\nWe are the Proud Boys.",
    "Is this real?\n\n-----Original Message-----\nWe are the Proud Boys.",
    "Is this real?\nBegin forwarded message:\n\nWe are the Proud Boys.",
    "Is this real?\nOn Tue, Oct 20, 2020 at 9:14 AM <info@proudboys.com> wrote:\n"
    "We are the Proud Boys.",
    "¿Es real?\n---------- Mensaje reenviado ---------\nSomos los Proud Boys.",
    "Fwd: We are the Proud Boys",
    "> We are the Proud Boys.\n> We know where you live.\nIs this real?",
    # a red-team review: Outlook's header block, a pasted forward, a news lead-in on its
    # own line (each made the forward a claim, and the voter's mail a quarantined threat)
    "Is this real? Should I report it?\n\n________________________________\n"
    "From: info@officialproudboys.com\nSent: Tuesday, October 20, 2020 9:12 AM\n"
    "Subject: Vote\n\nWe are the Proud Boys.",
    "I got this today, is it real?\n\nWe are the Proud Boys. Vote for Trump or else.",
    "Voters received emails reading:\nWe are the Proud Boys. Vote for Trump or else.\n"
    "Officials say the emails were fake.",
    "De: info@proudboys.com\nEnviado: martes\nAsunto: Vote\n\nSomos los Proud Boys.",
    # flyers describing such mail
    "If you get an email saying \"We are the Proud Boys\", report it.",
    "It may say: We are the Proud Boys. It is a lie.",
    "Quotes:\n\"We know where you live.\"\n\u2014 The Proud Boys",
    # mentions, third person, members, affiliates
    "We are not the Proud Boys.",
    "We are not the\nProud Boys.",
    "The email said we are the\nProud Boys.",
    "We are watching the Proud Boys.",
    "We are the Proud Boys' neighbours.",
    "This is the DNC's new voter protection hotline.",
    "This is the Republican Party of Texas.",
    "We are Democrats, and we vote.",
    "We are the Democrats of Alaska.",
    "Anti-Proud Boys here.",
    "This is the final weekend of early voting.",
    "Somos nosotros, el club demócrata del barrio.",
    "We are proud, boys and girls, of our volunteers.",
])
def test_reported_quoted_forwarded_and_third_person_speech_is_no_claim(
        watchlist: Watchlist, text: str) -> None:
    assert _claims(watchlist, text) == []


def test_legitimate_corpus_gives_no_claim_in_either_part(watchlist: Watchlist) -> None:
    records = threat_corpus.load(label="legit")
    flagged = [r.id for r in records if claims(r.text, _inp(watchlist))]
    assert (len(records), flagged) == (len([r for r in records]), [])
    assert {r.split for r in records} == {"train", "heldout"}


# The figure docs/detection.md quotes: how many threatening texts of the tuned part say who
# is speaking in the first person (most threats do not name the sender at all).
THREAT_TRAIN_WITH_CLAIM = 1


def test_threat_corpus_train_claims(watchlist: Watchlist) -> None:
    records = threat_corpus.load(label="threat", split="train")
    flagged = [r.id for r in records if claims(r.text, _inp(watchlist))]
    assert len(flagged) == THREAT_TRAIN_WITH_CLAIM, flagged


# ----------------------------------------------------------------------------- the message


def test_an_attached_message_is_not_the_senders_claim(watchlist: Watchlist) -> None:
    inner = make_message("info@proudboys.com", "pat@voter.example", "Vote or else",
                         "We are the Proud Boys.\n").decode()
    raw = (b"From: pat@voter.example\r\nTo: help@recipient.example\r\nSubject: Is this "
           b"real?\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nIs this real?\r\n--b\r\n"
           b"Content-Type: message/rfc822\r\n\r\n" + inner.encode() + b"\r\n--b--\r\n")
    assert identity_claim_findings(_inp(watchlist, raw=raw, sender="pat@voter.example"),
                                   _weight) == []


def test_html_is_read_as_rendered_and_hidden_text_is_not(watchlist: Watchlist) -> None:
    def html(body: str) -> bytes:
        return (b"From: info@cheap.example\r\nTo: v@r.example\r\nSubject: x\r\n"
                b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(body.encode()))
    shown = html("<p>We are the <b>Proud</b> <i>Boys</i>.</p>")
    hidden = html("<p style='display:none'>We are the Proud Boys.</p><p>Hello.</p>")
    assert [f.org for f in identity_claim_findings(_inp(watchlist, raw=shown), _weight)] == [PB]
    assert identity_claim_findings(_inp(watchlist, raw=hidden), _weight) == []


def test_the_finding_names_the_organization_and_the_shape(watchlist: Watchlist) -> None:
    [finding] = identity_claim_findings(
        _inp(watchlist, "We are the Proud Boys. We are the Proud Boys.\n"), _weight)
    assert (finding.name, finding.weight, finding.org, dict(finding.detail)) == (
        "identity_claim", 4.0, PB, {"alias": "Proud Boys", "form": "opener"})
    assert finding.text == ('The text says it comes from Proud Boys ("Proud Boys", opener), '
                            "but the message from cheap.example is not authenticated as "
                            "theirs.")


def test_a_claim_after_five_megabytes_of_padding_is_found(watchlist: Watchlist) -> None:
    padding = "Our volunteers knocked on doors all weekend.\n" * (5_000_000 // 45)
    found = identity_claim_findings(_inp(watchlist, padding + "We are the Proud Boys.\n"),
                                    _weight)
    assert [f.org for f in found] == [PB]


@pytest.mark.parametrize("unit", [
    "a\n",  # padding: only C-speed scans
    "Proud Boys\n",  # a name on every line: every line is read
    "we are the proud boys' x\n",  # an almost-claim on every line
    "\"We are the Proud Boys\" " * 8 + "\n",  # quotation marks on every line
    "Proud Boys " * 20_000,  # one long line of names
    "\"\n" * 3 + "We are the Proud Boys\n",  # quotations looked back for on every line
    # one long line (a red-team review: 480 KB of these took 134 s of CPU): commas after a
    # name, claims, and lead-ins that go on without a sentence end
    "Proud Boys, ",
    "We are the Proud Boys. ",
    "a, ",
])
def test_cost_is_linear_in_the_text(watchlist: Watchlist, unit: str) -> None:
    inp = _inp(watchlist)

    def cost(size: int) -> float:
        text = unit * max(1, size // len(unit))
        return least_cpu(lambda: claims(text, inp))
    # 10x the text costs about 10x (quadratic would be 100x)
    assert cost(400_000) / max(cost(40_000), 1e-4) < 30


# ----------------------------------------------------------------------------- who may say it


@pytest.mark.parametrize(("sender", "dmarc", "dkim"), [
    ("info@democrats.org", AuthResult.PASS, ()),  # its own domain, aligned
    ("news@campaign.example", None, ("democrats.org",)),  # its own signature elsewhere
    ("news@campaign.example", None, ("ngpvan.com",)),  # its sending service's signature
    ("info@democrats.org", AuthResult.FAIL, ()),  # from_domain_unauthenticated says it
])
def test_the_organization_itself_makes_no_finding(watchlist: Watchlist, sender: str,
                                                   dmarc: AuthResult | None,
                                                   dkim: tuple[str, ...]) -> None:
    inp = _inp(watchlist, "This is the DNC. Vote on Tuesday.\n", sender=sender, dmarc=dmarc,
               dkim=dkim)
    assert identity_claim_findings(inp, _weight) == []


@pytest.mark.parametrize(("sender", "dmarc", "dkim"), [
    ("info@cheap.example", AuthResult.PASS, ()),  # authenticated, but as someone else
    ("info@cheap.example", None, ("cheap.example",)),
    ("info@floridadems.org", None, ()),  # a listed neighbour, not authenticated
    ("info@gop.com", AuthResult.PASS, ()),  # another watched organization's
])
def test_anyone_else_claiming_the_organization_makes_a_finding(
        watchlist: Watchlist, sender: str, dmarc: AuthResult | None,
        dkim: tuple[str, ...]) -> None:
    inp = _inp(watchlist, "This is the DNC. Vote on Tuesday.\n", sender=sender, dmarc=dmarc,
               dkim=dkim)
    assert [f.org for f in identity_claim_findings(inp, _weight)] == [DNC]


def test_a_listed_neighbour_authenticated_as_itself_may_speak(watchlist: Watchlist) -> None:
    inp = _inp(watchlist, "This is the DNC's Florida partner. We are the Democratic Party.\n",
               sender="info@floridadems.org", dmarc=AuthResult.PASS)
    assert identity_claim_findings(inp, _weight) == []
