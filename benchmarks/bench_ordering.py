"""Reclaim-ordering model: time to explore the review's cases and every valid configuration.

(a) each of ``ordering.REVIEW_CASES`` (docs/review.md#reclaim-and-reset-ordering): best of several
    runs, with the states explored; goal: every case within 50 ms.
(b) every valid configuration (``ordering.all_configs()``: 5 memory types x 1-3 writes x bus x
    serialisation point x host sequence x flushing read), one pass; goal: the slowest within
    50 ms and the whole space within 2 s.
"""

from __future__ import annotations

import statistics
import sys
import time

PER_CONFIG_GOAL = 0.050
GRID_GOAL = 2.0
REPEAT = 5


def _best(fn: object, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Print the figures; 1 if a goal is missed."""
    from memattr.analysis.ordering import REVIEW_CASES, all_configs, explore

    explore(REVIEW_CASES[0][1])  # import and cache the architecture layer's properties
    worst = 0.0
    for name, cfg in REVIEW_CASES:
        t = _best(lambda cfg=cfg: explore(cfg))
        v = explore(cfg)
        worst = max(worst, t)
        verdict = f"hazard, witness {len(v.witness)} steps" if v.reachable else "ordered"
        print(f"  {name:<92} {t * 1e3:7.2f} ms  {v.states:5d} states  {verdict}")
    configs = all_configs()
    times, states = [], 0
    start = time.perf_counter()
    for cfg in configs:
        t0 = time.perf_counter()
        states += explore(cfg).states
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    slowest = max(times)
    print(f"all {len(configs)} configurations: {total:.3f} s, {states:,} states "
          f"({states / total / 1e3:.0f} k states/s); per configuration median "
          f"{statistics.median(times) * 1e3:.2f} ms, slowest {slowest * 1e3:.2f} ms")
    ok = max(worst, slowest) <= PER_CONFIG_GOAL and total <= GRID_GOAL
    print(f"goal: each <= {PER_CONFIG_GOAL * 1e3:.0f} ms, all <= {GRID_GOAL:.0f} s: "
          f"{'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
