"""Architecture-core benchmarks: CLI cold start, and batch combine against a bare ``np.take``.

(a) ``memattr combine --s1 0x44 --s2 0x5 --fwb`` in a new process, as a ratio to
    ``python -c pass`` from the same interpreter (median of interleaved runs); goal <= 3.5x.
    Bytecode caching is on (as in an installed package): PYTHONDONTWRITEBYTECODE is dropped and
    PYTHONPYCACHEPREFIX points at a temporary directory, so the source tree stays clean.
(b) ``memattr.arch.batch.combine_batch`` over >= 1M random inputs against ``np.take`` of the
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

COLD_GOAL = 3.5
BATCH_GOAL = 3.0
COLD_RUNS = 15
BATCH_N = 1 << 21  # 2,097,152 inputs
BATCH_REPEAT = 7
QUERY = ["combine", "--s1", "0x44", "--s2", "0x5", "--fwb"]


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


def cold_start(runs: int = COLD_RUNS) -> float:
    """Print and return the median cold-start ratio of one ``memattr combine`` query."""
    base = [sys.executable, "-c", "pass"]
    query = _memattr_cmd() + QUERY
    with tempfile.TemporaryDirectory(prefix="memattr-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for _ in range(2):  # warm the bytecode cache and the OS page cache
            _time(base, env)
            _time(query, env)
        t_base, t_query = [], []
        for _ in range(runs):  # interleaved, so load changes hit both alike
            t_base.append(_time(base, env))
            t_query.append(_time(query, env))
    b, q = statistics.median(t_base), statistics.median(t_query)
    ratio = q / b
    verdict = "ok" if ratio <= COLD_GOAL else "MISSED"
    print(f"cold start: python -c pass {b * 1e3:.1f} ms, memattr {' '.join(QUERY)} "
          f"{q * 1e3:.1f} ms (median of {runs})")
    print(f"            ratio {ratio:.2f}x (goal <= {COLD_GOAL}x): {verdict}")
    return ratio


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
    lut = np.asarray(b._tables().lut)
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


def main() -> int:
    """Run both measurements; 1 if a goal is missed."""
    cold = cold_start()
    ratio = batch()
    return int(cold > COLD_GOAL or ratio > BATCH_GOAL)


if __name__ == "__main__":
    sys.exit(main())
