"""The policy matrix: the default matrix end to end, and the engines in process.

(a) ``memattr matrix`` in a fresh interpreter (PYTHONDONTWRITEBYTECODE unset, bytecode warm),
    for each output format, best of three; goal: the default matrix (27,456 rows) within 2 s
    end to end, every format.
(b) in process: the bulk engine's build of the default matrix (best of three, fresh tables each
    time), with the rows per second; and the scalar engine on one policy, per row, to show what
    the bulk engine saves (docs/matrix.md#how-it-is-computed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

END_TO_END_GOAL = 2.0
REPEAT = 3


def _cli(argv: list[str]) -> float:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "memattr.cli", *argv], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    """Print the figures; 1 if a goal is missed."""
    from memattr.analysis import matrix as M

    _cli(["matrix", "--summary"])  # compile the bytecode once
    ok = True
    for fmt in ("text", "json", "csv", "html"):
        t = _cli(["matrix", "--format", fmt])
        good = t <= END_TO_END_GOAL
        ok &= good
        print(f"  memattr matrix --format {fmt:<4}  {t:6.2f} s end to end  "
              f"{'ok' if good else 'MISSED'} (goal {END_TO_END_GOAL:.0f} s)")
    best, rows = float("inf"), 0
    for _ in range(REPEAT):
        M.matrix_platform.cache_clear()
        start = time.perf_counter()
        m = M.build_matrix()
        best = min(best, time.perf_counter() - start)
        rows = len(m.rows)
    print(f"  bulk engine: {rows:,} rows in {best:.2f} s ({rows / best / 1e3:.0f} k rows/s)")
    start = time.perf_counter()
    one = M.build_matrix(["6.9"], engine="scalar", scalar_limit=None)
    t = time.perf_counter() - start
    print(f"  scalar engine: {len(one.rows):,} rows of policy 6.9 in {t:.2f} s "
          f"({t / len(one.rows) * 1e3:.2f} ms a row; the default matrix ~{t * 13:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
