"""Architecture-core benchmarks: scalar resolve, the table, batch combine.

(a) start-up (``memattr combine`` and every other single query against ``python -c pass``):
    benchmarks/bench_startup.py.
(b) scalar ``combine.resolve`` calls per second over 20,000 random inputs (S1 byte, S2 MemAttr,
    FWB, CD, SH1, SH2, access kind) once they have been seen (resolve caches on its full
    input); goal >= 200,000/s.  The first pass over the same inputs (every rule's memo cold) is
    printed too.
(c) the 16,384-row table (``memattr.arch.batch``, every input resolved by the scalar rules) built
    in a new process right after import; goal <= 50 ms of the process's CPU time (median of
    fresh processes; the wall time is printed too: on a shared machine it also counts other
    processes' time slices).
(d) ``memattr table --json`` end to end (16,384 rows, ~17 MB to /dev/null); goal <= 0.5 s.
(e) ``memattr.arch.batch.combine_batch`` over >= 1M random inputs against ``np.take`` of the
    same size from the same lookup table, in the same run; goal within 3x.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BATCH_GOAL = 3.0
RESOLVE_GOAL = 200_000  # calls/s
TABLE_GOAL = 0.050  # s, after import
TABLE_JSON_GOAL = 0.5  # s, end to end
FRESH_RUNS = 7
BATCH_N = 1 << 21  # 2,097,152 inputs
BATCH_REPEAT = 7


def _memattr_cmd() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m memattr.cli``."""
    script = Path(sys.executable).with_name("memattr")
    if script.exists():
        return [str(script)]
    found = shutil.which("memattr")
    return [found] if found else [sys.executable, "-m", "memattr.cli"]


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _best(fn: Callable[[], object], repeat: int = BATCH_REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batch(n: int = BATCH_N) -> float:
    """Print and return the batch-combine / bare-np.take time ratio over ``n`` random inputs."""
    import numpy as np

    from memattr.arch import batch as b
    from memattr.arch.combine import Controls, resolve

    start = time.perf_counter()
    table = b.outcome_table()
    build = time.perf_counter() - start
    rng = np.random.default_rng(20240229)
    s1 = rng.integers(0, 256, n, dtype=np.uint8)
    s2 = rng.integers(0, 16, n, dtype=np.uint8)
    fwb = rng.integers(0, 2, n, dtype=np.uint8).astype(bool)
    cd = rng.integers(0, 2, n, dtype=np.uint8).astype(bool)
    lut = np.asarray(b._lut())
    flat = rng.integers(0, b.TABLE_SIZE, n, dtype=np.intp)
    b.combine_batch(s1[:16], s2[:16], fwb[:16], cd[:16])  # warm up
    t_take = _best(lambda: np.take(lut, flat))
    t_batch = _best(lambda: b.combine_batch(s1, s2, fwb, cd))
    t_scalar_flags = _best(lambda: b.combine_batch(s1, s2, True, False))
    k = 2000
    controls = {(f, c): Controls(fwb=f, cd=c) for f in (False, True) for c in (False, True)}
    start = time.perf_counter()
    for i in range(k):
        resolve(int(s1[i]), int(s2[i]), controls=controls[bool(fwb[i]), bool(cd[i])])
    t_scalar = (time.perf_counter() - start) / k
    ratio = t_batch / t_take
    verdict = "ok" if ratio <= BATCH_GOAL else "MISSED"
    print(f"batch: lookup table of {b.TABLE_SIZE} inputs -> {len(table)} outcome ids, "
          f"built from combine.resolve in {build:.2f} s")
    print(f"batch: {n:,} random inputs: combine_batch {n / t_batch / 1e6:.0f} M/s "
          f"({n / t_scalar_flags / 1e6:.0f} M/s with scalar FWB/CD), bare np.take "
          f"{n / t_take / 1e6:.0f} M/s, scalar resolve {1 / t_scalar / 1e6:.3f} M/s")
    print(f"       ratio {ratio:.2f}x of np.take (goal <= {BATCH_GOAL}x): {verdict}")
    return ratio


def _env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def scalar_resolve(n: int = 20_000) -> float:
    """Print and return resolve calls/s over ``n`` random inputs seen before (cache hits)."""
    import random

    from memattr.arch.combine import Access, Controls, resolve

    rng = random.Random(20240229)
    controls = [Controls(fwb=f, cd=c) for f in (False, True) for c in (False, True)]
    kinds = [Access.READ, Access.WRITE, Access.IFETCH]
    inputs = [(rng.randrange(256), rng.randrange(16), rng.choice(controls), rng.choice(kinds),
               rng.choice((0, 2, 3)), rng.choice((0, 2, 3))) for _ in range(n)]

    def run() -> float:
        start = time.perf_counter()
        for s1, s2, ctl, kind, sh1, sh2 in inputs:
            resolve(s1, s2, sh1=sh1, sh2=sh2, controls=ctl, access=kind)
        return time.perf_counter() - start

    first = run()
    again = min(run() for _ in range(5))
    rate = n / again
    verdict = "ok" if rate >= RESOLVE_GOAL else "MISSED"
    print(f"resolve: {n:,} random inputs: first pass {n / first:,.0f} calls/s (memos cold), "
          f"seen before {rate:,.0f} calls/s (goal >= {RESOLVE_GOAL:,}/s): {verdict}")
    return rate


_TABLE_CODE = (
    "import time; import memattr.arch.batch as b; w = time.perf_counter(); "
    "c = time.process_time(); b._tables(); "
    "print(time.process_time() - c, time.perf_counter() - w)"
)


def table_build(runs: int = FRESH_RUNS) -> float:
    """Print and return the median CPU seconds to build the 16,384-row table after import."""
    with tempfile.TemporaryDirectory(prefix="memattr-pycache-") as cache:
        env = _env(cache)
        cpu, wall = [], []
        for _ in range(runs + 1):
            out = subprocess.run([sys.executable, "-c", _TABLE_CODE], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            cpu.append(float(out[0]))
            wall.append(float(out[1]))
    # The first run writes the bytecode cache.
    t, w = statistics.median(cpu[1:]), statistics.median(wall[1:])
    verdict = "ok" if t <= TABLE_GOAL else "MISSED"
    print(f"table: 16,384 rows from the scalar rules in {t * 1e3:.0f} ms CPU ({w * 1e3:.0f} ms "
          f"wall) after import (median of {runs} fresh processes; goal <= "
          f"{TABLE_GOAL * 1e3:.0f} ms CPU): {verdict}")
    return t


def table_json(runs: int = 5) -> float:
    """Print and return the median seconds of ``memattr table --json`` end to end."""
    cmd = _memattr_cmd() + ["table", "--json"]
    with tempfile.TemporaryDirectory(prefix="memattr-pycache-") as cache:
        env = _env(cache)
        _time(cmd, env)
        t = statistics.median(_time(cmd, env) for _ in range(runs))
    verdict = "ok" if t <= TABLE_JSON_GOAL else "MISSED"
    print(f"table --json: {t:.2f} s end to end (median of {runs}; goal <= {TABLE_JSON_GOAL} s): "
          f"{verdict}")
    return t


def main() -> int:
    """Run every measurement; 1 if a goal is missed."""
    rate = scalar_resolve()
    build = table_build()
    tjson = table_json()
    ratio = batch()
    return int(rate < RESOLVE_GOAL or build > TABLE_GOAL
               or tjson > TABLE_JSON_GOAL or ratio > BATCH_GOAL)


if __name__ == "__main__":
    sys.exit(main())
