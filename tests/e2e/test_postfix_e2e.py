"""Mail through a real Postfix with spoofwatch as its milter."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from support import seeds
from support.dnsserver import DnsTestServer
from support.mailfactory import dkim_sign, make_message, publish_key, rsa_key
from support.postfix import Mta, send

CAMPAIGN_IP = "198.51.100.10"


def _campaign_zone(dns: DnsTestServer) -> None:
    dns.add("campaign.example", "TXT", f"v=spf1 ip4:{CAMPAIGN_IP} -all")
    dns.add("campaign.example", "MX", "10 mx.campaign.example")
    dns.add("_dmarc.campaign.example", "TXT", "v=DMARC1; p=reject")
    publish_key(dns, "s1", "campaign.example", rsa_key())


def test_authenticated_newsletter_is_delivered_with_our_headers(
    dns: DnsTestServer, clean_mta: Mta
) -> None:
    _campaign_zone(dns)
    raw = dkim_sign(
        make_message("Campaign News <news@campaign.example>", "voter@recipient.example",
                     "This week", "Join us on Saturday.\n"),
        rsa_key(), "s1", "campaign.example",
    )
    result = send(clean_mta.postfix.port, raw, client_ip=CAMPAIGN_IP,
                  helo="mail.campaign.example", mail_from="news@campaign.example")
    assert result.code == 250, result
    [delivered] = clean_mta.sink.wait_for(1)
    msg = message_from_bytes(delivered.data)
    assert msg["X-Spoofwatch-Verdict"] == "clean; score=0; findings=none"
    ar = " ".join(msg["Authentication-Results"].split())
    assert ar.startswith(
        "mx.test.example; spf=pass (sender SPF authorized) smtp.mailfrom=news@campaign.example;")
    assert "dmarc=pass (p=reject) header.from=campaign.example" in ar
    assert clean_mta.postfix.held() == []


@pytest.mark.parametrize("variant", sorted(seeds.VARIANTS))
def test_seed_message_and_variants_are_held_as_threats(
    variant: str, dns: DnsTestServer, clean_mta: Mta
) -> None:
    seeds.publish_seed_zone(dns)
    raw = seeds.VARIANTS[variant]()
    result = send(clean_mta.postfix.port, raw, client_ip=seeds.FOREIGN_IP,
                  helo=seeds.FOREIGN_HELO, mail_from=seeds.SEED_FROM)
    assert result.code == 250, result
    held = clean_mta.postfix.wait_held(1)
    assert [h["queue_id"] for h in held] == [result.queue_id]
    content = clean_mta.postfix.postcat(result.queue_id)
    assert "X-Spoofwatch-Verdict: threat;" in content
    assert clean_mta.sink.messages == []
