"""What the detection checks need, built once per configuration load (never per message):
the watchlist, the lookalike index over its domains, the threat patterns and concepts, the
DNSBL zones.

``config.load_config`` builds it with ``build_detection``; detect never reads the
configuration itself (the checks take this and the policy's weights), so configuration
and detection do not depend on each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .content import ThreatPattern, load_patterns
from .lookalike import LookalikeMatcher, WatchedDomain, WatchedName
from .threat_concepts import ConceptModel, load_concepts
from .watchlist import EMPTY, Watchlist


@dataclass(frozen=True)
class Detection:
    watchlist: Watchlist = EMPTY
    matcher: LookalikeMatcher | None = None  # over the watched domains, names and aliases
    patterns: tuple[ThreatPattern, ...] = ()
    concepts: ConceptModel | None = None  # threat concepts; None reads phrases only
    dnsbl_zones: tuple[str, ...] = ()


def build_detection(watchlist: Watchlist, dnsbl_zones: tuple[str, ...] = (),
                    patterns_path: Path | None = None,
                    concepts_path: Path | None = None, learned: bool = False) -> Detection:
    """Precompute what detection needs: the lookalike index, the threat patterns and
    concepts (with the learned threat reading if ``learned`` is true).

    Raises ValueError (naming the file and the entry) for a bad pattern or concepts file."""
    watched = [WatchedDomain(info.domain, org.name)
               for org in watchlist.organizations for info in org.domains]
    names = [WatchedName(name, org.name) for org in watchlist.organizations for name in org.names()]
    return Detection(
        watchlist=watchlist,
        matcher=LookalikeMatcher(watched, distinct=watchlist.all_distinct(), names=names),
        patterns=load_patterns(patterns_path),
        concepts=load_concepts(concepts_path, learned),
        dnsbl_zones=dnsbl_zones,
    )
