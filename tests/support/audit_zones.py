"""Zones for the bundled example watchlist (policies/watchlist.example.yaml), one rating each.

| domain | what it publishes | rating |
|---|---|---|
| democrats.org | MX, SPF with an include, DMARC p=reject, a key of its signing domain | enforced |
| dnc.org | MX, DMARC p=none | monitor-only |
| gop.com | MX, SPF, no DMARC anywhere on the tree walk | unprotected |
| rnc.org | MX, DMARC p=quarantine t=y (receivers apply none) | monitor-only |
| donaldjtrump.com | MX, DMARC p=quarantine | enforced |
| trumpvictory.com | MX; its _dmarc name answers SERVFAIL | unknown |
| joebiden.com | MX, DMARC p=reject, DKIM key at selector1 | enforced |
| officialproudboys.com | A, SPF "v=spf1 -all", no MX, no DMARC (the 2020 domain) | non-mail |
| eac.gov | MX; no record of its own: the PSD record of gov (psd=y, p=reject) | enforced |
| cisa.gov | null MX | non-mail |
| dos.myflorida.com | MX; tree walk to myflorida.com: p=reject, sp=none | monitor-only |
| elections.alaska.gov | nothing (NXDOMAIN); alaska.gov: p=none, np=reject | enforced (np) |
| fbi.gov | MX, DMARC p=reject, but SPF +all | unprotected |
"""

from __future__ import annotations

from support.dnsserver import DnsTestServer
from support.mailfactory import DkimKey, publish_key

EXPECTED_RATINGS = {
    "democrats.org": "enforced",
    "dnc.org": "monitor-only",
    "gop.com": "unprotected",
    "rnc.org": "monitor-only",
    "donaldjtrump.com": "enforced",
    "trumpvictory.com": "unknown",
    "joebiden.com": "enforced",
    "officialproudboys.com": "non-mail",
    "eac.gov": "enforced",
    "cisa.gov": "non-mail",
    "dos.myflorida.com": "monitor-only",
    "elections.alaska.gov": "enforced",
    "fbi.gov": "unprotected",
}

ZONES: dict[str, dict[str, list[str]]] = {
    "democrats.org": {"MX": ["10 mx.democrats.org"],
                      "TXT": ["v=spf1 ip4:198.51.100.0/24 include:_spf.ngpvan.com ~all"]},
    "_spf.ngpvan.com": {"TXT": ["v=spf1 ip4:203.0.113.0/25 a:mail.ngpvan.com -all"]},
    "mail.ngpvan.com": {"A": ["203.0.113.200"]},
    "_dmarc.democrats.org": {"TXT": ["v=DMARC1; p=reject; rua=mailto:dmarc@democrats.org"]},
    "dnc.org": {"MX": ["10 mx.dnc.org"]},
    "_dmarc.dnc.org": {"TXT": ["v=DMARC1; p=none; rua=mailto:reports@dnc.org"]},
    "gop.com": {"MX": ["10 mx.gop.com"], "TXT": ["v=spf1 mx -all"]},
    "mx.gop.com": {"A": ["198.51.100.25"]},
    "rnc.org": {"MX": ["10 mx.rnc.org"]},
    "_dmarc.rnc.org": {"TXT": ["v=DMARC1; p=quarantine; t=y"]},
    "donaldjtrump.com": {"MX": ["10 mx.donaldjtrump.com"]},
    "_dmarc.donaldjtrump.com": {"TXT": ["v=DMARC1; p=quarantine; adkim=s; aspf=s"]},
    "trumpvictory.com": {"MX": ["10 mx.trumpvictory.com"]},
    "joebiden.com": {"MX": ["10 mx.joebiden.com"]},
    "_dmarc.joebiden.com": {"TXT": ["v=DMARC1; p=reject"]},
    "officialproudboys.com": {"A": ["192.0.2.80"], "TXT": ["v=spf1 -all"]},
    "eac.gov": {"MX": ["10 mx.eac.gov"]},
    "_dmarc.gov": {"TXT": ["v=DMARC1; p=reject; psd=y"]},
    "cisa.gov": {"MX": ["0 ."]},
    "dos.myflorida.com": {"MX": ["10 mx.myflorida.com"]},
    "_dmarc.myflorida.com": {"TXT": ["v=DMARC1; p=reject; sp=none"]},
    "_dmarc.alaska.gov": {"TXT": ["v=DMARC1; p=none; np=reject"]},
    "alaska.gov": {"MX": ["10 mx.alaska.gov"]},
    "fbi.gov": {"MX": ["10 mx.fbi.gov"], "TXT": ["v=spf1 +all"]},
    "_dmarc.fbi.gov": {"TXT": ["v=DMARC1; p=reject"]},
}


def publish_example_zones(dns: DnsTestServer, key: DkimKey) -> None:
    """Serve the zones above (and two DKIM keys made with ``key``)."""
    dns.add_records(ZONES)
    dns.servfail("_dmarc.trumpvictory.com")
    publish_key(dns, "default", "ngpvan.com", key)
    publish_key(dns, "selector1", "joebiden.com", key)
