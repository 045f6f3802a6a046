"""README's console examples are true: each ``$ memattr ...`` line of a ```console block is run and
its output compared with the lines printed under it (a line ``...`` stands for any lines; the
``>>>`` examples are doctested by pytest's ``--doctest-glob``).

Shell assignments (``$ T=path``) are expanded in later command lines, and the output is compared
with the value written back as ``$T`` (README shortens long paths that way).  A line redirecting
to a file outside the run (``> ~/.local/...``) is not run; its command without the redirection
is, so that it is still checked to succeed.  Commands run in a scratch directory that sees the
repository's ``src`` and ``tests``, so that files they write stay out of the tree.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from memattr.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^(\s*)```console\s*$")
_ASSIGN = re.compile(r"^(?P<name>[A-Z_]+)=(?P<value>\S+)$")


def _blocks() -> list[tuple[int, list[str]]]:
    """Each ```console block of README: its first line number and its lines (indent removed)."""
    out: list[tuple[int, list[str]]] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            indent, start, body = len(m.group(1)), i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:])
                i += 1
            out.append((start + 1, body))
        i += 1
    return out


def _commands(body: list[str]) -> list[tuple[str, list[str]]]:
    """The ``$ `` lines of a block with the output lines under each."""
    out: list[tuple[str, list[str]]] = []
    for line in body:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def _matches(got: list[str], want: list[str]) -> bool:
    """Whether the output lines match README's, where a line ``...`` stands for any lines."""
    if not want:
        return not got
    if want[0] == "...":
        return any(_matches(got[k:], want[1:]) for k in range(len(got) + 1))
    return bool(got) and got[0] == want[0] and _matches(got[1:], want[1:])


BLOCKS = _blocks()


def test_readme_has_console_examples() -> None:
    """The parser finds the tour's blocks (a broken fence would silently skip them)."""
    assert len(BLOCKS) >= 10
    assert sum(len(_commands(b)) for _, b in BLOCKS) >= 15


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_console_block(block: tuple[int, list[str]], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every command of the block runs and prints exactly what README shows."""
    line_no, body = block
    for name in ("src", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    env: dict[str, str] = {}
    for command, expected in _commands(body):
        m = _ASSIGN.match(command)
        if m:
            env[m["name"]] = m["value"]
            continue
        command = command.split("  #", 1)[0]
        for name, value in env.items():
            command = command.replace(f"${name}", value)
        argv = shlex.split(command, comments=False)
        redirected = ">" in argv
        if redirected:
            argv = argv[: argv.index(">")]
        assert argv[0] == "memattr", (line_no, command)
        status = main(argv[1:])
        out, err = capsys.readouterr()
        if redirected:
            assert status == 0 and out and not err, (line_no, command, err)
            continue
        text = out + err
        for name, value in env.items():
            text = text.replace(value, f"${name}")
        got = [ln.rstrip() for ln in text.rstrip("\n").splitlines()]
        want = [ln.rstrip() for ln in expected]
        while want and not want[-1]:
            want.pop()
        if not _matches(got, want):
            assert got == want, f"README.md:{line_no}: {command}"
        assert status == (2 if "error" in (want[0] if want else "") else 0), (line_no, command)
