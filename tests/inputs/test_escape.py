"""The terminal sanitiser: control and format characters escaped, values shown short and signed."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memattr.inputs.escape import escape, show, show_int, show_path, truncate


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain text, 100%", "plain text, 100%"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: set the window title
    ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
    ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"),
    ("n\udcff.toml", "n\\xff.toml"),  # an undecodable file-name byte (surrogateescape)
    ("\U000e0001tag", "\\U000e0001tag"),
    ("Grüße, 日本", "Grüße, 日本"),
])
def test_escape_table(raw: str, shown: str) -> None:
    """Each kind of terrible character is written as repr would, printable text is unchanged."""
    assert escape(raw) == shown


@given(st.text())
def test_escaped_text_is_printable_and_encodable(text: str) -> None:
    """Whatever the input, the escaped text is printable and encodes as UTF-8."""
    out = escape(text)
    assert out.isprintable()
    out.encode("utf-8")
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in out)


def test_newlines_kept_on_request() -> None:
    """Multi-line text may keep its line breaks, nothing else."""
    assert escape("a\nb\x1b", newlines=True) == "a\nb\\x1b"


def test_truncate() -> None:
    """Long values are cut and say how long they were."""
    assert truncate("x" * 80) == "x" * 80
    assert truncate("x" * 100_000) == "x" * 80 + "... (100000 characters)"


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"), (9, "9"), (10, "0xa"), (-1, "-1"), (-0xF000, "-0xf000"), (1 << 64, "0x1" + "0" * 16),
])
def test_show_int_puts_the_sign_first(value: int, shown: str) -> None:
    """Negatives read -0xf000, never 0x-f000."""
    assert show_int(value) == shown


def test_show_int_huge_and_decimal() -> None:
    """A 2**100000 from a file is shown short, in hex or decimal."""
    assert len(show_int(1 << 100_000)) < 120
    assert len(show_int(1 << 100_000, hex_=False)) < 120
    assert show_int(10_000_000, hex_=False) == "10000000"


@pytest.mark.parametrize(("value", "shown"), [
    (True, "true"), ("a\x1bb", "'a\\x1bb'"), ({}, "a table"), ([1], "an array"), (1.5, "1.5"),
    (None, "nothing"),
])
def test_show_values(value: object, shown: str) -> None:
    """Values are shown as TOML writes them, strings quoted and escaped."""
    assert show(value) == shown


def test_show_path() -> None:
    """File names are escaped, their middle cut when long; bytes names are decoded first."""
    assert show_path("") == "''"
    assert show_path(b"n\xff.toml") == "n\\xff.toml"
    long = show_path("/" + "a" * 300 + "/end.toml")
    assert len(long) <= 160 and long.endswith("/end.toml") and "..." in long
