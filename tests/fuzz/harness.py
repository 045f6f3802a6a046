"""Run one command line in-process and check what every input must end in.

The invariants (issue 9): exit status 0 or 2 (1 under ``--fail-on``), never a traceback (any
exception escaping ``memattr.cli.main`` fails the test with the input that caused it); status 2
is exactly one line ``memattr: error: ...`` on stderr and nothing on stdout; no character that is
not printable reaches either stream (only memattr's own colour codes under ``--color always``); ``--json``
output is one valid JSON document; each call stays within a time and a memory bound (a call past
them raises Hang or MemoryError, failing the test with its input).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

from hypothesis import settings

from memattr.cli import main
from memattr.cli._common import json_wanted

__all__ = ["Outcome", "call", "check", "fuzz_settings", "CALLS", "SET_ASIDE", "TIME_BOUND",
           "MEMORY_BOUND"]

TIME_BOUND = 30
"""Seconds one command line may take before it counts as a hang."""

MEMORY_BOUND = 2 << 30
"""Address space, in bytes, one command line may add to the test process (RLIMIT_AS)."""

CALLS = {"count": 0}
"""Command lines run so far (reported at the end of the session)."""

SET_ASIDE: dict[str, int] = {}
"""Inputs set aside because they reach a known defect another helper is fixing, by defect."""

_SGR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Outcome:
    """What one command line did."""

    argv: tuple[str, ...]
    status: int
    out: str
    err: str


class Hang(Exception):
    """A command line ran past :data:`TIME_BOUND`."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"no answer within {TIME_BOUND} s")


def _address_space() -> int:
    """The process's virtual size in bytes (Linux /proc), or 0 when unknown."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    """At most TIME_BOUND seconds (SIGALRM raises Hang) and MEMORY_BOUND more bytes of address
    space (RLIMIT_AS: an allocation beyond it raises MemoryError in the call that made it)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    base = _address_space()
    if base:
        limit = base + MEMORY_BOUND
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))
    signal.alarm(TIME_BOUND)
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old)


def call(argv: Sequence[str], stdin: bytes = b"") -> Outcome:
    """Run ``memattr argv`` in this process with captured streams and check the invariants."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with _bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(argv))
    finally:
        sys.stdin = saved_stdin
    CALLS["count"] += 1
    outcome = Outcome(tuple(argv), status, out.getvalue(), err.getvalue())
    check(outcome)
    return outcome


def _printable(text: str, colour: bool) -> bool:
    if colour:
        text = _SGR.sub("", text)
    for line in text.split("\n"):
        line = line.removesuffix("\r")  # CSV rows end in CRLF
        if not line.replace("\t", " ").isprintable():
            return False
    return True


def check(o: Outcome) -> None:
    """Assert the invariants every input must end in."""
    # 1: a --fail-on gate found what it names (issue 11 item 7)
    assert o.status in (0, 2) or (o.status == 1 and "--fail-on" in o.argv), o
    colour = "always" in o.argv and "--color" in o.argv
    assert _printable(o.out, colour), ("unescaped output", o.out[:2000])
    assert _printable(o.err, False), ("unescaped error", o.err[:2000])
    if o.status == 2:
        assert o.out == "", o
        assert o.err.count("\n") == 1, o.err[:2000]
        if json_wanted(o.argv):
            doc = json.loads(o.err)  # under --json / --format json the error is one JSON object
            assert set(doc) == {"error", "field", "message"}, doc
        else:
            assert o.err.startswith("memattr: error: "), o.err[:2000]
    else:
        assert o.err == "", o.err[:2000]
        if "--json" in o.argv and not {"-h", "--help", "--version"} & set(o.argv):
            json.loads(o.out)


def fuzz_settings(short: int, *, long_factor: int = 15) -> settings:
    """Hypothesis settings for a fuzz target: ``short`` examples, derandomised, under
    ``make test``; ``short * long_factor`` random ones (scaled by MEMATTR_FUZZ_SCALE) under
    ``make fuzz`` (MEMATTR_FUZZ=long), printing the blob that reproduces a failure."""
    from hypothesis import HealthCheck

    checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    if os.environ.get("MEMATTR_FUZZ") == "long":
        scale = float(os.environ.get("MEMATTR_FUZZ_SCALE", "1"))
        return settings(max_examples=max(1, int(short * long_factor * scale)), deadline=None,
                        suppress_health_check=checks, print_blob=True)
    return settings(max_examples=short, deadline=None, derandomize=True, database=None,
                    suppress_health_check=checks, print_blob=True)
