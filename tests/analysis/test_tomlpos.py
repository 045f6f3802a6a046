"""TOML key paths map to the lines that define them (tomllib keeps no positions)."""

from __future__ import annotations

import tomllib

from memattr.analysis.tomlpos import format_path, key_lines, line_of

TEXT = """\
# a comment with [brackets] and key = value
name = "x"  # trailing comment
list = ["a",
  "b"]
[cpu]
fwb = true
[[device]]
name = "a"
[[device.bar]]
index = 0
[[device.bar]]
index = 1
text = \"\"\"
[[not-a-table]]
key = 1
\"\"\"
[[device]]
name = "b"
[[device.bar]]
"quoted key" = 3
dotted.inner = {a = 1}
"""


def test_text_is_valid_toml() -> None:
    """The fixture is TOML (the scanner never sees invalid input in practice)."""
    data = tomllib.loads(TEXT)
    assert data["device"][1]["bar"][0]["quoted key"] == 3


def test_keys_tables_and_arrays_of_tables() -> None:
    """Keys, tables and array-of-table elements get their own lines; nested arrays restart."""
    lines = key_lines(TEXT)
    assert lines[("name",)] == 2
    assert lines[("list",)] == 3
    assert lines[("cpu",)] == 5
    assert lines[("cpu", "fwb")] == 6
    assert lines[("device", 0)] == 7
    assert lines[("device", 0, "bar", 1, "index")] == 12
    assert lines[("device", 1, "name")] == 18
    assert lines[("device", 1, "bar", 0)] == 19
    assert lines[("device", 1, "bar", 0, "quoted key")] == 20
    assert lines[("device", 1, "bar", 0, "dotted", "inner")] == 21


def test_multiline_strings_are_skipped() -> None:
    """Text inside a multi-line string is not mistaken for tables or keys."""
    lines = key_lines(TEXT)
    assert ("not-a-table",) not in lines
    assert ("device", 0, "bar", 1, "key") not in lines
    assert lines[("device", 0, "bar", 1, "text")] == 13


def test_line_of_falls_back_to_the_closest_ancestor() -> None:
    """A missing key resolves to its table's line."""
    lines = key_lines(TEXT)
    assert line_of(lines, ("device", 1, "bar", 0, "size")) == 19
    assert line_of(lines, ("nothing",)) is None


def test_format_path() -> None:
    """Paths print the way a user writes them."""
    assert format_path(("device", 0, "bar", 1, "size")) == "device[0].bar[1].size"
    assert format_path(()) == "(top level)"
