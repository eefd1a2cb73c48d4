"""``spoofwatch audit``: how spoofable each watched organization is, and who is spoofing it.

The core gathers and judges (``posture``, ``spf_survey``, ``rating``, ``stance``,
``history``, ``report``); the renderers only read the resulting ``AuditReport``
(``report_text``, ``report_json``, ``report_html``, ``suggest``). docs/audit.md documents
every field and the rating rules.
"""
