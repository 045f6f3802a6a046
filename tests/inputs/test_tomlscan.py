"""The TOML pre-scan: bounds before tomllib, and the line of every key, in one linear pass."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memattr.errors import ParseError
from memattr.inputs.tomlscan import Limits, format_path, key_lines, line_of, scan


@pytest.mark.parametrize(("text", "where", "why"), [
    ("a = " + "[" * 500 + "]" * 500, "f:1: a[0][0]", "nested more than 32 deep"),
    ("a = " + "{b = " * 40 + "1" + "}" * 40, "f:1: a.b.b", "nested more than 32 deep"),
    ("x = 1\na" + ".a" * 20_000 + " = 1", "f:2: a.a.a", "more than 16 dotted parts"),
    ("[" + ".".join("t" * 17) + "]", "f:1: t.t.t", "more than 16 dotted parts"),
    ("k" * 1000 + " = 1", "f:1: kkkk", "a key of 1000 characters"),
    ('"' + "k" * 1000 + '" = 1', "f:1: kkkk", "a key of 1000 characters"),
    ("a = [" + "1," * 300_000 + "]", "f:1: a[199999]", "more than 200000 keys and array"),
])
def test_bounds_are_one_line_errors_at_the_line(text: str, where: str, why: str) -> None:
    """Each bound gives 'file:line: key: what (expected at most N)', with the key cut short."""
    with pytest.raises(ParseError) as info:
        scan(text, "f")
    msg = str(info.value)
    assert msg.startswith(where) and why in msg and "(expected at most" in msg
    assert len(msg) < 300


def test_limits_are_parameters() -> None:
    """Limits can be tightened (or relaxed) per reader."""
    with pytest.raises(ParseError, match="nested more than 2 deep"):
        scan("a = [[[1]]]", "f", Limits(depth=2))
    assert scan("a = [[[1]]]", "f", Limits(depth=3))[("a", 0, 0, 0)] == 1


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
dotted.inner = {a = 1, 'b c' = [2,
   3]}
windows = [{base = 1},
           {base = 2}]
"esc\\u0041" = 1
"""


def test_positions() -> None:
    """Tables, arrays of tables, elements, dotted, quoted and inline keys get their own lines."""
    assert tomllib.loads(TEXT)["device"][1]["bar"][0]["windows"][1]["base"] == 2
    lines = key_lines(TEXT)
    assert lines[("list", 1)] == 4
    assert lines[("device", 0, "bar", 1, "index")] == 12
    assert lines[("device", 1, "bar", 0)] == 19
    assert lines[("device", 1, "bar", 0, "dotted", "inner", "b c", 1)] == 22
    assert lines[("device", 1, "bar", 0, "windows", 1, "base")] == 24
    assert lines[("device", 1, "bar", 0, "escA")] == 25
    assert ("not-a-table",) not in lines
    assert line_of(lines, ("device", 1, "bar", 0, "missing")) == 19


# --- every key of a generated document is found at a line that holds it --------------------------

_KEYS = st.sampled_from(["a", "b", "name", "x-y", "k_1", "sp ace", "dot.ted", "q\"uote", "ü"])
_SCALARS = st.one_of(st.integers(-(1 << 63), (1 << 63) - 1), st.booleans(),
                     st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False))


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() and k.isascii() else _string(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"


_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=8)
_TABLES = st.dictionaries(_KEYS, _VALUES, max_size=4)
_DOCS = st.fixed_dictionaries({
    "top": _TABLES,
    "tables": st.dictionaries(_KEYS, _TABLES, max_size=3),
    "arrays": st.dictionaries(_KEYS, st.lists(_TABLES, min_size=1, max_size=3), max_size=2),
})


def _render(doc: dict[str, Any]) -> str:
    out = [f"{_key(k)} = {_value(v)}" for k, v in doc["top"].items()]
    used = set(doc["top"])
    for name, table in doc["tables"].items():
        if name not in used:
            used.add(name)
            out.append(f"[{_key(name)}]")
            out += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    for name, elements in doc["arrays"].items():
        if name not in used:
            used.add(name)
            for table in elements:
                out.append(f"[[ {_key(name)} ]]  # element")
                out += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(out) + "\n"


def _paths(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, prefix + (i,))
    return out


@settings(max_examples=150, deadline=None)
@given(_DOCS)
def test_every_key_is_found_on_its_line(doc: dict[str, Any]) -> None:
    """For generated TOML, every key path tomllib returns has a line, and that line names the key."""
    text = _render(doc)
    data = tomllib.loads(text)
    lines = scan(text, "f")
    rows = text.split("\n")
    for path in _paths(data):
        assert path in lines, (path, text)
        last = [p for p in path if isinstance(p, str)][-1]
        assert _key(last) in rows[lines[path] - 1] or isinstance(path[-1], int) or \
            rows[lines[path] - 1].startswith("[["), (path, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]{}=\"'#.,\n abc1\\")), max_size=200))
def test_any_text_scans_or_fails_cleanly(text: str) -> None:
    """On arbitrary (mostly invalid) text the scan returns positions or a ParseError, nothing else."""
    try:
        scan(text, "f")
    except ParseError as exc:
        assert str(exc).startswith("f:")


def test_format_path() -> None:
    """Paths print as a user writes them; odd keys are quoted and escaped; long paths elided."""
    assert format_path(("device", 0, "bar", 1, "size")) == "device[0].bar[1].size"
    assert format_path(("a b", "\x1b[2J")) == '"a b"."\\x1b[2J"'
    assert format_path(()) == "(top level)"
    assert format_path(("a",) * 40) == ".".join("a" * 12) + "..." + ".".join("a" * 4)
