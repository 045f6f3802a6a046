"""Fuzz targets for ``memattr replay`` (trace files) and ``memattr report``: every generated input
ends in exit 0 or 2 (1 under --fail-on), one escaped error line, valid JSON, within the harness's
time and memory bounds.  Short and derandomised under ``make test``; long under ``make fuzz``."""

from __future__ import annotations

import gzip
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import memattr.analysis.replay  # noqa: F401 - loads the Linux model in a good order
from memattr.analysis.scenario import Scenario, bundled_path, load

from .harness import call, check, fuzz_settings
from .inputs import argvs
from .traces import trace_bytes

_DIR = Path(tempfile.mkdtemp(prefix="memattr-fuzz-trace-"))
_SCENARIOS = ("demo", "vfio-pci-bar", "alias-speculation", "unaligned")


@cache
def _scenario(name: str) -> Scenario:
    return load(bundled_path(name))


_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--show", "0"], ["--show", "3"], ["--fwb"], ["--no-fwb"], ["--policy", "6.8"],
    ["--policy", "v2"], ["--color", "always"], ["--fail-on", "fault"], ["--fail-on", "hazard"],
]), max_size=3).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(150)
@given(st.sampled_from(_SCENARIOS).flatmap(
           lambda n: st.tuples(st.just(n), trace_bytes(_scenario(n), hostile=3, max_size=30))),
       _OPTIONS, st.sampled_from(["file", "gzip", "stdin"]))
def test_trace_files(case: tuple[str, bytes], options: list[str], how: str) -> None:
    """`memattr replay SCENARIO TRACE` on generated traces (a file, gzip, or standard input)."""
    name, data = case
    if how == "stdin":
        argv, stdin = ["replay", name, "-", *options], data
    else:
        path = _DIR / ("t.csv.gz" if how == "gzip" else "t.csv")
        path.write_bytes(gzip.compress(data) if how == "gzip" else data)
        argv, stdin = ["replay", name, str(path), *options], b""
    fail_on = "--fail-on" in options
    if fail_on:
        from .harness import Outcome

        o = _call_allowing_fail(argv, stdin)
        assert isinstance(o, Outcome)
    else:
        call(argv, stdin=stdin)


def _call_allowing_fail(argv: list[str], stdin: bytes) -> object:
    """--fail-on may end in status 1 (found): check it as a status 0 run."""
    import contextlib
    import io
    import sys

    from memattr.cli import main

    from .harness import CALLS, Outcome, _bounded

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with _bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        CALLS["count"] += 1
    finally:
        sys.stdin = saved
    o = Outcome(tuple(argv), 0 if status == 1 else status, out.getvalue(), err.getvalue())
    check(o)
    return o


def _tame(argv: list[str]) -> list[str]:
    """Output files go to a fresh directory (the fuzzer must not write where it runs)."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a in ("-o", "--output") and out[i + 1] != "-":
            out[i + 1] = str(_DIR / "out")
    return out


_ARGV_EXAMPLES = {"replay": 100, "report": 20}


@pytest.mark.parametrize("command", list(_ARGV_EXAMPLES))
def test_argument_vectors(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command under argument vectors drawn from its own parser (run in a scratch
    directory, output files redirected there)."""
    monkeypatch.chdir(_DIR)

    @fuzz_settings(_ARGV_EXAMPLES[command])
    @given(argvs(command))
    def one(argv: list[str]) -> None:
        argv = _tame(argv)
        if "--fail-on" in argv:
            _call_allowing_fail(argv, b"")
        else:
            call(argv)

    one()
