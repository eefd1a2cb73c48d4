"""The forged campaign mail the service tests send through the real milter socket.

campaign.example lets only 198.51.100.10 send (SPF -all) and asks for DMARC p=reject;
the forged message claims it from 203.0.113.66, so the default policy tags its subject.
"""

from __future__ import annotations

from .dnsserver import DnsTestServer
from .mailfactory import make_message
from .milterclient import MilterClient, MilterOutcome

FOREIGN_IP = "203.0.113.66"
FORGED = make_message("Campaign <news@campaign.example>", "voter@recipient.example",
                      "Donate now", "Send money.\n")
TAGGED_SUBJECT = ("chgheader", (1, "Subject", "[SPOOF?] Donate now"))


def publish_campaign_zone(dns: DnsTestServer) -> None:
    dns.add("campaign.example", "TXT", "v=spf1 ip4:198.51.100.10 -all")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")


def send_forged(spec: str) -> MilterOutcome:
    """FORGED through the service at ``spec``, from FOREIGN_IP, as one whole session."""
    with MilterClient(spec, timeout=20) as client:
        return client.send_raw(FORGED, client_ip=FOREIGN_IP, helo="bulk.sender.example",
                               mail_from="<x@campaign.example>")


def tagged(outcome: MilterOutcome) -> bool:
    """Whether the service asked to tag the subject of FORGED."""
    return any((m.kind, m.args) == TAGGED_SUBJECT for m in outcome.modifications)
