"""Lookalike recall per dnstwist fuzzer class and per watched domain, false hits on the
neighbour lists, and the matcher's cost per candidate domain.

    .venv/bin/python bench/lookalike_recall.py [--misses N] [--json FILE]

Two watched sets:

* the *tuning* set, the 20 domains of ``tests/unit/test_lookalike_recall.py``: per-class,
  per-domain figures and (with ``--misses``) the missed permutations, each marked with why
  the rules leave it (a plausible name of its own, an acronym's edit, or neither);
* the *held-out* set (``HELD_OUT`` in the same test module), fixed before any figure of
  it was seen and never looked at while tuning: per-class figures only, no list of its
  misses, so it measures how far the rules carry beyond the domains they were tuned on.

False hits are counted on ``tests/data/unrelated_domains.txt`` and
``tests/data/near_neighbours.txt`` with no ``distinct`` list, for the tuning set (plus
alaska.gov and the example watchlist's names, as ``tests/unit/test_near_neighbours.py``
does) and for the held-out set. Cost is CPU time (``time.process_time``), best of five
runs over 3,000 sampled permutations and the unrelated list.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.unit.test_lookalike_recall import (  # noqa: E402
    HELD_OUT,
    WATCHED,
    permutations,
    unrelated_domains,
)
from tests.unit.test_near_neighbours import NAMES, WATCHED_WIDE, listed  # noqa: E402

from spoofwatch.detect.lookalike import LookalikeMatcher  # noqa: E402
from spoofwatch.detect.lookalike_rules import is_plausible_name  # noqa: E402

Perm = tuple[str, str, frozenset[str]]


def why_left(domain: str, targets: frozenset[str]) -> str:
    """Why the rules leave a miss: the edited name reads as a name of its own, or it is an
    edit of an acronym (another acronym), or neither (a real gap)."""
    name = domain.split(".", 1)[0]
    watched = min(targets).split(".", 1)[0]
    if is_plausible_name(name):
        return "plausible name"
    if not is_plausible_name(watched) or len(watched) <= 3:
        return "acronym edit"
    return "gap"


def recall(matcher: LookalikeMatcher, perms: list[Perm]) -> dict[str, object]:
    found: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    by_domain: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    misses: list[tuple[str, str, str]] = []
    for fuzzer, domain, targets in perms:
        hit = matcher.match(domain)
        ok = hit is not None and hit.target in targets
        total[fuzzer] += 1
        found[fuzzer] += ok
        for t in targets:
            row = by_domain[t]
            row[0] += ok
            row[1] += 1
            if fuzzer != "homoglyph":
                row[2] += ok
                row[3] += 1
        if not ok:
            misses.append((fuzzer, domain, why_left(domain, targets)))
    n_found, n_total = sum(found.values()), sum(total.values())
    rest_found, rest_total = n_found - found["homoglyph"], n_total - total["homoglyph"]
    return {
        "classes": {f: (found[f], total[f], found[f] / total[f]) for f in sorted(total)},
        "overall": (n_found, n_total, n_found / n_total),
        "non_homoglyph": (rest_found, rest_total, rest_found / rest_total),
        "by_domain": dict(by_domain),
        "misses": misses,
    }


def false_hits(matcher: LookalikeMatcher) -> dict[str, list[str]]:
    return {
        name: [d for d in listed(name) if matcher.match(d) is not None]
        for name in ("unrelated_domains.txt", "near_neighbours.txt")
    }


def cost_us(matcher: LookalikeMatcher, perms: list[Perm]) -> float:
    sample = [d for _, d, _ in random.Random(12).sample(perms, 3000)] + unrelated_domains()
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for domain in sample:
            matcher.match(domain)
        best = min(best, time.process_time() - start)
    return best / len(sample) * 1e6


def print_recall(title: str, result: dict[str, object]) -> None:
    print(f"\n{title}\n{'fuzzer':<14} {'found':>6} {'total':>6} {'recall':>7}")
    classes = result["classes"]
    assert isinstance(classes, dict)
    for fuzzer, (f, t, r) in classes.items():
        print(f"{fuzzer:<14} {f:>6} {t:>6} {r:>7.3f}")
    for key in ("overall", "non_homoglyph"):
        f, t, r = result[key]  # type: ignore[misc]
        print(f"{key:<14} {f:>6} {t:>6} {r:>7.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=0,
                        help="list up to N missed permutations per fuzzer (tuning set only)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    tuning_perms = permutations(WATCHED)
    tuning = recall(LookalikeMatcher(WATCHED), tuning_perms)
    print_recall("Tuning set (tests/unit/test_lookalike_recall.py, 20 watched domains)", tuning)
    print(f"\n{'watched domain':<24} {'recall':>7} {'(no homoglyph)':>15}")
    by_domain = tuning["by_domain"]
    assert isinstance(by_domain, dict)
    for domain, (f, t, rf, rt) in sorted(by_domain.items(), key=lambda kv: kv[1][0] / kv[1][1]):
        print(f"{domain:<24} {f / t:>7.3f} {rf / max(rt, 1):>15.3f}")
    misses = tuning["misses"]
    assert isinstance(misses, list)
    reasons = collections.Counter((f, why) for f, _, why in misses)
    print("\nMisses by fuzzer and reason:")
    for (fuzzer, why), n in sorted(reasons.items()):
        print(f"  {fuzzer:<14} {why:<15} {n}")
    if args.misses:
        shown: collections.Counter[str] = collections.Counter()
        for fuzzer, domain, why in misses:
            if shown[fuzzer] < args.misses:
                shown[fuzzer] += 1
                print(f"  miss {fuzzer:<14} {domain:<28} {why}")

    held_perms = permutations(HELD_OUT)
    held = recall(LookalikeMatcher(HELD_OUT), held_perms)
    print_recall(f"Held-out set ({len(HELD_OUT)} watched domains, never tuned on)", held)

    wide = false_hits(LookalikeMatcher(WATCHED_WIDE, names=NAMES))
    held_hits = false_hits(LookalikeMatcher(HELD_OUT))
    print("\nFalse hits (no distinct list):")
    for label, hits in (("tuning set + alaska.gov + names", wide), ("held-out set", held_hits)):
        for name, domains in hits.items():
            print(f"  {label:<32} {name:<22} {len(domains)} {' '.join(domains[:10])}")

    cost = cost_us(LookalikeMatcher(WATCHED), tuning_perms)
    print(f"\nCost: {cost:.1f} µs CPU per candidate (best of 5, 3,000 permutations + "
          f"{len(unrelated_domains())} unrelated domains, 20 watched domains)")
    if args.json:
        figures = {"tuning": {k: v for k, v in tuning.items() if k != "misses"},
                   "held_out": {k: v for k, v in held.items() if k not in ("misses", "by_domain")},
                   "false_hits": {"tuning": wide, "held_out": held_hits}, "cost_us": cost}
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
