"""Input files are regular files (or '-') of bounded size, read without blocking."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from memattr.errors import ConfigError, ParseError
from memattr.inputs.files import DEFAULT_MAX_INPUT, max_input, read_bytes, read_text


def test_reads_a_regular_file(tmp_path: Path) -> None:
    """A regular file is read whole; a UTF-8 BOM is dropped."""
    p = tmp_path / "x.toml"
    p.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert read_text(p) == "a = 1\n"


@pytest.mark.parametrize(("path", "why"), [
    ("/dev/zero", "a character device"),
    ("/dev/null", "a character device"),
    ("/", "a directory"),
])
def test_refuses_what_is_not_a_regular_file(path: str, why: str) -> None:
    """Devices and directories are refused by fstat, before any read."""
    with pytest.raises(ConfigError, match=f"{path}: {why} \\(expected a regular file"):
        read_bytes(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_without_writer_does_not_block(tmp_path: Path) -> None:
    """Opening a FIFO nobody writes to returns at once (O_NONBLOCK) and is refused."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="a FIFO"):
        read_bytes(fifo)


def test_size_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files beyond the bound are refused; MEMATTR_MAX_INPUT and limit= change it."""
    p = tmp_path / "big"
    p.write_bytes(b"x" * 5000)
    assert max_input() == DEFAULT_MAX_INPUT == 16 << 20
    with pytest.raises(ConfigError, match="too large, 5000 bytes \\(expected at most 4 KiB"):
        read_bytes(p, limit=4096)
    monkeypatch.setenv("MEMATTR_MAX_INPUT", "2K")
    assert max_input() == 2048
    with pytest.raises(ConfigError, match="at most 2 KiB; set MEMATTR_MAX_INPUT"):
        read_bytes(p)
    for bad in ("0", "-1", "big"):
        monkeypatch.setenv("MEMATTR_MAX_INPUT", bad)
        with pytest.raises(ConfigError, match="MEMATTR_MAX_INPUT="):
            max_input()


def test_growing_files_are_bounded_by_the_read(tmp_path: Path) -> None:
    """A file whose size fstat under-reports (procfs) is still cut at the bound."""
    path = Path("/proc/self/status")
    if not path.exists():
        pytest.skip("needs procfs")
    assert os.stat(path).st_size == 0
    with pytest.raises(ConfigError, match="too large"):
        read_bytes(path, limit=16)
    assert read_bytes(path).startswith(b"Name:")


def test_stdin_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' reads standard input, with the same bound; a closed stdin is an error."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a = 1\n")))
    assert read_text("-") == "a = 1\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 100)))
    with pytest.raises(ConfigError, match="<stdin>: too large"):
        read_bytes("-", limit=10)
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(ConfigError, match="standard input is closed"):
        read_bytes("-")


def test_names_that_cannot_be_files(tmp_path: Path) -> None:
    """Empty names, NULs, over-long names and missing files are one-line errors naming them."""
    with pytest.raises(ConfigError, match="FILE='': empty file name"):
        read_bytes("", arg="FILE")
    with pytest.raises(ConfigError, match="cannot contain NUL"):
        read_bytes("a\0b")
    with pytest.raises(ConfigError, match="File name too long"):
        read_bytes(tmp_path / ("a" * 300))
    with pytest.raises(ConfigError, match="missing.toml: cannot read scenario file: No such file"):
        read_bytes(tmp_path / "missing.toml", what="scenario file")
    with pytest.raises(ConfigError, match="standard input is not accepted"):
        read_bytes("-", stdin=False)


def test_not_utf8_gives_the_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a ParseError at their line."""
    p = tmp_path / "x.toml"
    p.write_bytes(b"a = 1\nb = '\xff'\n")
    with pytest.raises(ParseError, match=r"x\.toml:2: not UTF-8 text: invalid start byte"):
        read_text(p)
