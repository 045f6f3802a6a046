"""Fuzz targets: every generated input ends in exit 0 or 2, no traceback, escaped output, valid
JSON, within time and memory bounds (see harness.py).  Short and derandomised under ``make test``;
long and random under ``make fuzz``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .harness import call, fuzz_settings
from .inputs import argvs, log_lines, scenario_texts, walk_texts

_DIR = Path(tempfile.mkdtemp(prefix="memattr-fuzz-"))


def _file(text: str, name: str) -> str:
    path = _DIR / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(path)


_RUN_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--brief"], ["--color", "always"], ["--color", "never"], ["--fwb"], ["--no-fwb"],
    ["--policy", "6.8"], ["--policy", "6.17"], ["--policy", "nope"],
]), max_size=3).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(1600)
@given(scenario_texts, _RUN_OPTIONS, st.booleans())
def test_scenario_files(text: str, options: list[str], stdin: bool) -> None:
    """`memattr run` on generated scenario files (from a file or standard input)."""
    if stdin:
        o = call(["run", "-", *options], stdin=text.encode("utf-8", "surrogatepass"))
        name = "<stdin>"
    else:
        o = call(["run", _file(text, "s.toml"), *options])
        name = "s.toml"
    assert o.err.count(name) <= 1, o.err  # a location is given once


_WALK_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--dump", "s1"], ["--dump", "kvm"], ["--dump", "memattr"], ["--va", "0x401234"],
    ["--va", "0x800004", "--access", "write"], ["--va", "0x1" + "0" * 20],
]), max_size=2).map(lambda opts: [x for o in opts for x in o])


_AT_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--op", "S1E1R"], ["--op", "S12E0W"], ["--from-el", "1"], ["--cpu", "neoverse-n1"],
]), max_size=2).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(1000)
@given(walk_texts, _WALK_OPTIONS)
def test_walk_files(text: str, options: list[str]) -> None:
    """`memattr walk` on generated walk files (both forms)."""
    o = call(["walk", _file(text, "w.toml"), *options])
    assert o.err.count("w.toml:") <= 1, o.err  # a location is given once


@fuzz_settings(300)
@given(walk_texts, st.sampled_from(["0x401234", "0x800004", "0x900000", "0x1008", "0"]),
       _AT_OPTIONS)
def test_at_on_walk_files(text: str, va: str, options: list[str]) -> None:
    """`memattr at` on generated walk files: the same reader, PAR_EL1 or one error line."""
    o = call(["at", _file(text, "a.toml"), "--va", va, *options])
    assert o.err.count("a.toml:") <= 1, o.err


@fuzz_settings(1200)
@given(log_lines(), st.booleans())
def test_log_lines(line_and_value: tuple[str, int | None], as_json: bool) -> None:
    """`memattr explain` on dmesg lines and values; a valid ESR token is read as written."""
    line, value = line_and_value
    o = call(["explain", line, "--json"] if as_json else ["explain", line])
    if value is not None and "\n" not in line:
        assert o.status == 0, o
        if as_json:
            import json

            assert json.loads(o.out)["esr"] == value


COMMANDS = {"decode": 600, "combine": 600, "table": 80, "explain": 400, "run": 300, "demo": 50,
            "walk": 300, "at": 150}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_argument_vectors(command: str) -> None:
    """Every command under argument vectors drawn from its own parser."""

    @fuzz_settings(COMMANDS[command])
    @given(argvs(command))
    def one(argv: list[str]) -> None:
        call(argv)

    one()


_OUTPUT = [["table", "--s1", "0x44"], ["decode", "mair", "0x44"], ["run", "exec", "--json"],
           ["explain", "0x92000061"], ["walk", "--example"], ["demo"], ["table", "--s2", "zz"]]


@pytest.mark.parametrize("argv", _OUTPUT, ids=[" ".join(a) for a in _OUTPUT])
def test_outputs_that_cannot_be_written(argv: list[str]) -> None:
    """In a child process: a full disk is exit 2 with one line; a closed stdout exit 2."""
    cmd = [sys.executable, "-m", "memattr.cli", *argv]
    with open("/dev/full", "wb") as full:
        done = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1, done.stderr
    assert done.stderr.startswith(b"memattr: error: ")
    closed = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and b"Traceback" not in closed.stderr
