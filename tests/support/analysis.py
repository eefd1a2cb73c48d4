"""analyze() called directly, as the service would call it for the 2020 seed message.

``default_config`` is the bundled default policy with the example watchlist, the setup
under which the seed message scores ``threat``; ``analyze_seed`` gives a message the
seed's envelope.
"""

from __future__ import annotations

from pathlib import Path

from spoofwatch.analyze import analyze
from spoofwatch.config import Config, load_config
from spoofwatch.dns import Resolver
from spoofwatch.message import Message
from spoofwatch.report import Report
from spoofwatch.results import Envelope

from . import seeds

POLICIES = Path(__file__).resolve().parents[2] / "policies"
# As in /work/shared/repro/robustness/README.md: the seed's client, HELO and MAIL FROM.
SEED_ENVELOPE = Envelope(client_ip=seeds.FOREIGN_IP, helo="vps.example",
                         mail_from=seeds.SEED_FROM, rcpts=("voter@recipient.example",))


def default_config(directory: Path) -> Config:
    """Write spoofwatch.yaml into ``directory`` and load it."""
    path = directory / "spoofwatch.yaml"
    path.write_text(
        "authserv_id: mx.test.example\n"
        f"policy: {POLICIES / 'default.yaml'}\n"
        f"watchlist: {POLICIES / 'watchlist.example.yaml'}\n",
        encoding="utf-8",
    )
    return load_config(path)


def analyze_seed(resolver: Resolver, config: Config, raw: bytes) -> Report:
    """The report on ``raw`` arriving with SEED_ENVELOPE; DNS through ``resolver``."""
    return analyze(SEED_ENVELOPE, Message.from_bytes(raw), config, resolver.for_message())
