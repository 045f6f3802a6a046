"""Run every benchmark module: benchmarks/bench_*.py, each with a ``main()``.

``make bench`` runs ``python benchmarks/run.py``.  To add a benchmark, drop a
``benchmarks/bench_<name>.py`` with a ``main() -> int | None`` that prints its figures and
returns non-zero when a goal is missed; it is picked up here.  Benchmarks are not part of the
test suite.

Usage: ``python benchmarks/run.py [NAME ...] [--strict]`` runs the named benchmarks only
(``arch`` for bench_arch.py); ``--strict`` exits 1 when a goal is missed, not only on errors.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def discover(names: list[str] | None = None) -> list[Path]:
    """The bench_*.py files next to this script, sorted, optionally only the named ones."""
    paths = sorted(HERE.glob("bench_*.py"))
    if names:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in names or p.stem in names]
    return paths


def load(path: Path) -> ModuleType:
    """Import a benchmark module from its file."""
    spec = importlib.util.spec_from_file_location(f"memattr_bench.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 1 if one crashed (or, with --strict, missed its goal)."""
    args = sys.argv[1:] if argv is None else argv
    strict = "--strict" in args
    names = [a for a in args if not a.startswith("-")]
    paths = discover(names)
    if not paths:
        print(f"no benchmarks found in {HERE} matching {names or 'bench_*.py'}", file=sys.stderr)
        return 1
    crashed: list[str] = []
    missed: list[str] = []
    for path in paths:
        print(f"== {path.stem} ==", flush=True)
        start = time.perf_counter()
        try:
            module = load(path)
            entry = getattr(module, "main", None)
            if entry is None:
                print(f"   skipped: {path.name} has no main()")
                continue
            status = entry()
        except Exception:
            traceback.print_exc()
            crashed.append(path.stem)
            continue
        if status:
            missed.append(path.stem)
        print(f"   ({time.perf_counter() - start:.1f} s)\n", flush=True)
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
    if missed:
        print(f"goals missed: {', '.join(missed)}")
    if not crashed and not missed:
        print("all goals met")
    return 1 if crashed or (strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
