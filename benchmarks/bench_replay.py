"""Trace replay (``memattr replay``): accesses per second on one core, and memory that does not
grow with the trace.

(a) a 2,000,000-access CSV trace (the ``memcpy`` pattern through the ``demo`` scenario: 6.8,
    6.9, 6.17 x FWB off/on, with CPU and timestamp columns), read from a file; goal >= 1 M
    accesses/s, everything included (the scalar engine's evaluation of each class, the reading).
(b) the same as JSON lines, (c) as gzip, (d) without the optional columns (all reported).
(e) peak memory (tracemalloc) replaying 2,000,000 accesses against 2,000: goal, within one piece
    size (CHUNK) of each other.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import time
import tracemalloc

N = 2_000_000
BLOCK = 100_000
GOAL = 1_000_000


def _write(path: str, text: bytes, repeat: int, compress: bool = False) -> None:
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:  # type: ignore[operator]
        for _ in range(repeat):
            fh.write(text)


def main() -> int:
    """Print the figures; 1 if a goal is missed."""
    import memattr.analysis.replay  # noqa: F401 - loads the Linux model in a good order
    from memattr.analysis import trace as T
    from memattr.analysis import tracegen as G
    from memattr.analysis.scenario import bundled_path, load

    sc = load(bundled_path("demo"))
    blocks = {}
    for fmt in ("csv", "jsonl"):
        buf = io.StringIO()
        G.write_trace(G.generate(sc, "memcpy", BLOCK, seed=1), buf, fmt=fmt)
        text = buf.getvalue()
        if fmt == "csv":
            text = text.split("\n", 1)[1]  # the header once, not per block
        blocks[fmt] = text.encode()
    short = b"".join(b",".join(line.split(b",")[:3]) + b"\n"
                     for line in blocks["csv"].splitlines())
    ok = True
    with tempfile.TemporaryDirectory() as d:
        cases = [("(a) CSV, addr,size,kind,cpu,time", "a.csv", blocks["csv"], False),
                 ("(b) JSON lines", "b.jsonl", blocks["jsonl"], False),
                 ("(c) CSV, gzip", "c.csv.gz", blocks["csv"], True),
                 ("(d) CSV, addr,size,kind", "d.csv", short, False)]
        for label, name, block, packed in cases:
            path = os.path.join(d, name)
            _write(path, block, N // BLOCK, packed)
            times = []
            for _ in range(2):
                start = time.process_time()
                r = T.replay_trace(sc, path)
                times.append(time.process_time() - start)
            assert r.accesses == N, r.accesses
            rate = N / min(times)
            size = os.path.getsize(path) / 1e6
            print(f"  {label:<36} {N:,} accesses, {size:6.1f} MB: {min(times):5.2f} s CPU, "
                  f"{rate / 1e6:5.2f} M accesses/s ({r.classes} classes, "
                  f"{len(r.layout.combos)} policy x FWB)")
            if name == "a.csv":
                ok &= rate >= GOAL
                print(f"  goal (a) >= {GOAL / 1e6:.0f} M accesses/s: "
                      f"{'ok' if rate >= GOAL else 'MISSED'}")
        path = os.path.join(d, "a.csv")
        small = os.path.join(d, "s.csv")
        _write(small, b"".join(blocks["csv"].splitlines(True)[:2000]), 1)
        peaks = []
        for p in (small, path):
            tracemalloc.start()
            T.replay_trace(sc, p)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        grew = peaks[1] - peaks[0]
        mem_ok = grew <= T.CHUNK * 64
        ok &= mem_ok
        print(f"  (e) peak memory: 2,000 accesses {peaks[0] / 1e6:.1f} MB, {N:,} accesses "
              f"{peaks[1] / 1e6:.1f} MB (+{grew / 1e6:.1f} MB; goal: within the piece size's "
              f"working set {T.CHUNK * 64 / 1e6:.0f} MB): {'ok' if mem_ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
