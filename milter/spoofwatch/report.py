"""What ``analyze()`` concludes about one message: the ``Report`` and why checks were skipped.

A module of its own so that everything that reads a Report (the milter session, ``scan``,
the logs, the quarantine store) depends on this small data module, not on the analysis
and everything it imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .actions import Action
from .results import (
    ArcResult,
    DkimResult,
    DmarcResult,
    Envelope,
    FromAddress,
    FromProblem,
    Level,
    SpfResult,
)
from .verdict import Verdict


class SkipReason(StrEnum):
    """Why a message got no checks; the value is the metrics label."""

    TRUSTED_CLIENT = "trusted_client"
    AUTHENTICATED = "authenticated"  # an authenticated submission (skip_authenticated)
    RELEASED = "released"  # re-injected from the quarantine with a valid release header
    OVERSIZED = "oversized"  # larger than milter.max_message_size


@dataclass(frozen=True)
class Skip:
    reason: SkipReason
    text: str  # for people and logs: "trusted client 192.0.2.1"


@dataclass(frozen=True)
class Report:
    """Everything spoofwatch concluded about one message, and what to do."""

    envelope: Envelope
    sender: FromAddress | FromProblem | None
    spf: SpfResult | None
    dkim: DkimResult | None
    arc: ArcResult | None
    dmarc: DmarcResult | None
    verdict: Verdict
    actions: tuple[Action, ...]
    policy: str
    monitor: bool = False  # policy in monitor mode: these are the actions it would have taken
    would_have: tuple[str, ...] = ()
    skip: Skip | None = None  # why the checks were skipped; None when they ran
    # checks left out because their result could not change the verdict (finding names;
    # analyze(all_checks=True) runs them)
    skipped_checks: tuple[str, ...] = ()
    # seconds spent per check ("spf", "dkim", "arc", "dmarc", "detect"): measurements for
    # logs and metrics, the only part of a Report that is not determined by the inputs
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    @property
    def level(self) -> Level:
        return self.verdict.level

    @property
    def from_domain(self) -> str:
        return self.sender.domain if isinstance(self.sender, FromAddress) else ""

    @property
    def skipped(self) -> str:
        """Why checks were skipped, in words ("" when they ran)."""
        return self.skip.text if self.skip is not None else ""
