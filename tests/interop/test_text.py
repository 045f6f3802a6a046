"""Bounded text input, file:line errors and escaping shared by the interop parsers."""

from __future__ import annotations

import os

import pytest

from memattr.errors import ParseError
from memattr.interop._text import Limits, echo, escape, read_input, split_lines


def test_escape_control_and_bidi() -> None:
    """Control characters, DEL, C1, bidi overrides and backslashes are escaped; text is kept."""
    assert escape("plain text ü") == "plain text ü"
    assert escape("\x1b[2J") == "\\x1b[2J"
    assert escape("a\tb\r\n") == "a\\tb\\r\\n"
    assert escape("\x7f\x85") == "\\x7f\\x85"
    assert escape("x\u202ey") == "x\\u202ey"
    assert escape("back\\slash") == "back\\\\slash"


def test_echo_cuts() -> None:
    """Echoed input is escaped, quoted and cut."""
    assert echo("abc") == "'abc'"
    assert echo("x" * 100, 10) == "'xxxxxxxxxx'..."


def test_split_lines_bounds() -> None:
    """Size, line count, line length, NUL and UTF-8 are checked with file:line."""
    assert split_lines(b"a\r\nb\n", "f") == ["a", "b"]
    with pytest.raises(ParseError, match=r"^f: input is 11 bytes \(at most 10\)$"):
        split_lines(b"x" * 11, "f", Limits(max_bytes=10))
    with pytest.raises(ParseError, match=r"^f:3: more than 2 lines$"):
        split_lines("a\nb\nc\n", "f", Limits(max_lines=2))
    with pytest.raises(ParseError, match=r"^f:2: line is 5 characters long \(at most 4\)$"):
        split_lines("ok\n12345\n", "f", Limits(max_line=4))
    with pytest.raises(ParseError, match=r"^f:2: binary data"):
        split_lines(b"a\nb\x00c", "f")
    with pytest.raises(ParseError, match=r"^f:1: not UTF-8 text \(byte 0xff\)$"):
        split_lines(b"\xff", "f")
    assert split_lines(b"\xff", "f", lenient=True) == ["\ufffd"]


def test_source_name_is_escaped() -> None:
    """A file name with escapes is shown escaped in the error."""
    with pytest.raises(ParseError) as e:
        split_lines(b"\x00", "evil\x1b[2J")
    assert "\x1b" not in str(e.value) and "evil\\x1b[2J:1:" in str(e.value)


def test_read_input_refuses_non_regular(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Directories, FIFOs, missing and oversized files are refused before reading."""
    with pytest.raises(ParseError, match="not a regular file"):
        read_input(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ParseError, match="not a regular file"):
        read_input(str(fifo))
    with pytest.raises(ParseError, match="cannot read"):
        read_input(str(tmp_path / "missing"))
    big = tmp_path / "big"
    big.write_bytes(b"x" * 20)
    with pytest.raises(ParseError, match="at most 10"):
        read_input(str(big), Limits(max_bytes=10))
    assert read_input(str(big)) == b"x" * 20
