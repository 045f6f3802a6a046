"""Start-up benchmark: every single-query command form against ``python -c pass``.

Each query in :data:`QUERIES` (a decode of every register and descriptor kind, combine, a table
row, explain of one value, walk and AT of the bundled example, ``--help`` of the program and of
every command ...) is run in a new process, interleaved with ``python -c pass`` from the same
interpreter: base, query, base, query ...  The ratio of each query is the median of the
per-pair ratios (pairing keeps a ratio meaningful while the machine's load drifts).  Goal: every
single query <= 2.5x.  The forms in :data:`BULK` do a whole analysis (a scenario replayed under
several policies, the policy matrix ...): their ratio is printed for the record, not judged.

Bytecode caching is on (as in an installed package): PYTHONDONTWRITEBYTECODE is dropped and
PYTHONPYCACHEPREFIX points at a temporary directory, so the source tree stays clean.

``python benchmarks/bench_startup.py [WORD ...] [--runs N]`` times only the queries whose
command line contains one of the words (``decode``, ``--help`` ...).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 2.5
RUNS = 15

QUERIES: list[list[str]] = [
    ["combine", "--s1", "0x44", "--s2", "0x5", "--fwb"],
    ["combine", "--s1", "0xff", "--s2", "0x1", "--sources", "--json"],
    ["decode", "mair", "0x44"],
    ["decode", "mair", "0x000000040044f0ff"],
    ["decode", "mair", "linux-6.9"],
    ["decode", "s1", "--mair", "0x000000040044f0ff", "0x00e8000080000f07"],
    ["decode", "s1", "--mair", "linux-6.9", "0x00e8000080000f07"],
    ["decode", "s2", "0x00400000800007ff"],
    ["decode", "tcr", "0x12b5103510"],
    ["decode", "vtcr", "0x800d3558"],
    ["decode", "hcr", "0x80000001"],
    ["decode", "sctlr", "0x30d0199d"],
    ["decode", "ttbr0", "0x40000000"],
    ["decode", "ttbr1", "0x40000000"],
    ["decode", "vttbr", "0x1008000200000"],
    ["decode", "esr", "0x93c08007"],
    ["decode", "hpfar", "0x8000000"],
    ["decode", "ctr", "0x8444c004"],
    ["decode", "mmfr0", "0x1122"],
    ["decode", "mmfr1", "0x10211122"],
    ["decode", "mmfr2", "0x1221011110101011"],
    ["decode", "pfr1", "0x120"],
    ["decode", "isar1", "0x100001"],
    ["decode", "par", "0xff00000080000f80"],
    ["table", "--s1", "0x44", "--s2", "0x5", "--fwb", "--no-cd"],
    ["explain", "0x93c08007"],
    ["explain", "--el", "2", "--hpfar", "0x8000000", "0x93c08007"],
    ["walk", "--example"],
    ["walk", "--example", "--va", "0x401234", "--access", "write"],
    ["at", "--example", "--va", "0x800004"],
    ["--help"],
    ["--version"],
]
"""Single queries: each must start within :data:`GOAL` times ``python -c pass``."""

COMMANDS = ["decode", "combine", "table", "explain", "run", "demo", "walk", "at", "host", "diff",
            "replay", "report", "matrix", "completion"]
QUERIES += [[cmd, "--help"] for cmd in COMMANDS]

BULK: list[list[str]] = [
    ["completion", "bash"],  # every parser and the policy registry, once at install
    ["run", "demo", "--brief"],
    ["demo"],
    ["matrix", "--summary"],
]
"""Whole analyses: timed for the record, no goal."""


def _memattr_cmd() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m memattr.cli``."""
    script = Path(sys.executable).with_name("memattr")
    if script.exists():
        return [str(script)]
    found = shutil.which("memattr")
    return [found] if found else [sys.executable, "-m", "memattr.cli"]


def _env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(queries: list[list[str]], runs: int = RUNS) -> list[tuple[float, float, float]]:
    """Per query: (median pair ratio, median query seconds, median base seconds)."""
    base = [sys.executable, "-c", "pass"]
    memattr = _memattr_cmd()
    with tempfile.TemporaryDirectory(prefix="memattr-pycache-") as cache:
        env = _env(cache)
        for query in queries:  # warm the bytecode cache and the OS page cache
            _time(base, env)
            _time(memattr + query, env)
        pairs: list[list[tuple[float, float]]] = [[] for _ in queries]
        for _ in range(runs):  # round robin over the queries, each paired with a base run
            for i, query in enumerate(queries):
                b = _time(base, env)
                pairs[i].append((_time(memattr + query, env), b))
    return [(statistics.median(q / b for q, b in p), statistics.median(q for q, _ in p),
             statistics.median(b for _, b in p)) for p in pairs]


def report(queries: list[list[str]], results: list[tuple[float, float, float]],
           goal: float | None) -> int:
    """Print one line per query; the number of queries over the goal."""
    missed = 0
    for query, (ratio, q, b) in zip(queries, results, strict=True):
        verdict = ""
        if goal is not None:
            ok = ratio <= goal
            missed += not ok
            verdict = "ok" if ok else "MISSED"
        print(f"  {ratio:5.2f}x  {q * 1e3:6.1f} ms (base {b * 1e3:5.1f})  "
              f"memattr {' '.join(query):<52} {verdict}")
    return missed


def main(argv: list[str] | None = None) -> int:
    """Time every query (or those matching the words in argv); 1 if one misses the goal."""
    args = list(argv or [])
    runs = RUNS
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    queries = [q for q in QUERIES if not args or any(w in q for w in args)]
    bulk = [q for q in BULK if not args or any(w in q for w in args)]
    print(f"single queries against python -c pass (median of {runs} interleaved pairs; "
          f"goal <= {GOAL}x):")
    missed = report(queries, measure(queries, runs), GOAL)
    if bulk:
        print("whole analyses (for the record, no goal):")
        report(bulk, measure(bulk, max(3, runs // 3)), None)
    print(f"start-up: {len(queries) - missed} of {len(queries)} single queries within "
          f"{GOAL}x: {'ok' if not missed else 'MISSED'}")
    return int(missed > 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
