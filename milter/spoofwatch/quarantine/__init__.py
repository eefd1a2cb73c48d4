"""spoofwatch's quarantine: held messages, why they were held, and their release.

``store.QuarantineStore`` keeps each held message as one complete record file plus a
searchable index; ``release`` signs and verifies release headers; ``render`` rebuilds the
message as the MTA holds it; ``mta`` drives Postfix's queue tools; ``review`` renders
records for people; ``digest`` writes the mail that tells an admin what was held.
``cli_quarantine`` is the admin's command.
"""
