"""``spoofwatch audit --json``: the report as one JSON document (schema in docs/audit.md).

``SCHEMA_VERSION`` changes when a field changes meaning or goes away; added fields keep it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from .history import Counts, History, OrgHistory
from .report import AuditReport, DomainAudit

__all__ = ["SCHEMA_VERSION", "report_data", "report_json"]

SCHEMA_VERSION = 1


def iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def counts_data(counts: Counts) -> dict[str, int]:
    return {**asdict(counts), "forgeries": counts.forgeries}


def domain_data(item: DomainAudit) -> dict[str, Any]:
    facts, assessment = item.facts, item.assessment
    spf = asdict(facts.spf)
    spf["authorizes_everyone"] = facts.spf.authorizes_everyone
    return {
        "domain": facts.domain,
        "organization": facts.org,
        "rating": assessment.rating.value,
        "protection": assessment.protection.value,
        "spoofable": assessment.spoofable,
        "alert": item.alert,
        "alert_reason": item.alert_reason,
        "reasons": list(assessment.reasons),
        "subdomains": {"protection": assessment.subdomains.value,
                       "spoofable": assessment.subdomains_spoofable,
                       "reason": assessment.subdomain_reason},
        "exists": facts.exists.value,
        "listed_sends_mail": facts.listed_sends_mail,
        "signing_domains": list(facts.signing_domains),
        "cannot_send_mail": facts.posture.reason,
        "mx": asdict(facts.mx),
        "spf": spf,
        "dmarc": asdict(facts.dmarc),
        "dkim": {"probed": facts.dkim_probed, "keys": [asdict(k) for k in facts.dkim]},
        "mta_sts": facts.mta_sts.value,
        "bimi": facts.bimi.value,
        "stance": asdict(item.stance),
        "history": counts_data(item.history),
    }


def _org_history(history: OrgHistory | None) -> dict[str, Any] | None:
    if history is None:
        return None
    return {
        "counts": counts_data(history.counts),
        "lookalikes": [asdict(seen) for seen in history.lookalikes],
        "networks": [{"network": n, "forgeries": c} for n, c in history.networks],
        "forgeries_by_day": [{"date": d, "forgeries": c} for d, c in history.forgeries_by_day],
        "signing_domains_seen": {d: list(s) for d, s in history.signing_seen},
        "signing_domains_vouched": {d: dict(c) for d, c in history.signing_vouched},
    }


def _history(history: History | None) -> dict[str, Any] | None:
    if history is None:
        return None
    return {"since": iso(history.since), "until": iso(history.until),
            "messages": history.messages, "sources": list(history.sources),
            "problems": list(history.problems)}


def report_data(report: AuditReport) -> dict[str, Any]:
    by_rating: dict[str, int] = {}
    for item in report.domains:
        by_rating[item.assessment.rating.value] = by_rating.get(item.assessment.rating.value,
                                                                0) + 1
    history = report.history
    organizations = [
        {"name": name,
         "history": _org_history(history.org(name) if history is not None and name else None),
         "domains": [domain_data(d) for d in report.domains if d.facts.org == name]}
        for name in report.orgs()]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": iso(report.generated),
        "config": report.config_path,
        "dns_seconds": round(report.elapsed, 3),
        "summary": {"domains": len(report.domains), "by_rating": by_rating,
                    "alerts": [d.facts.domain for d in report.alerts]},
        "history": _history(history),
        "organizations": organizations,
    }


def report_json(report: AuditReport) -> str:
    return json.dumps(report_data(report), indent=2, ensure_ascii=True)
