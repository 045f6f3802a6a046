"""The declaration-driven TOML reader: kinds, defaults, variants, groups, and one-place errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from memattr.analysis import walkfile
from memattr.errors import ConfigError, MemattrError, ParseError
from memattr.inputs import toml as t
from memattr.inputs.units import format_size, parse_number, parse_size

PORT = t.Table((
    t.Field("name", t.Str(), required=True),
    t.Field("kind", t.Enum(("eth", "serial"), "a port kind", error=ConfigError), required=True),
), tag="kind", variants={
    "eth": (t.Field("mtu", t.Int(68, 9216, "an MTU 68..9216"), 1500),),
    "serial": (t.Field("baud", t.Int(1, 4_000_000), 115200),),
})

SCHEMA = t.Table((
    t.Field("enabled", t.Bool(), False),
    t.Field("size", t.Number(32, lo=1, expected="a size such as '64K'"), 4096),
    t.Field("page", t.Number(power_of_two=True, expected="a page size"), None),
    t.Field("aligned", t.Number(align=0x1000, expected="a 4K-aligned address"), None),
    t.Field("widths", t.List(t.Int(8, 64), max_length=3), ()),
    t.Field("sh", t.AnyOf(t.Enum({"NSH": 0, "ISH": 3}, "a shareability", fold_case=True),
                          t.Int(0, 3)), None, expected="NSH, ISH or 0..3"),
    t.Field("a", t.Int(), None),
    t.Field("b", t.Int(), None),
    t.Field("cpu", t.Table((t.Field("fwb", t.Bool(), True),)), {}),
    t.Field("opt", t.Table((t.Field("x", t.Int(), required=True),)), None),
    t.Field("port", t.ArrayOf(PORT, max_length=2)),
), at_most_one=(("a", "b"),))


def read(text: str) -> t.Record:
    return t.read(t.parse(text, "f.toml"), SCHEMA)


def error(text: str, kind: type[MemattrError] = MemattrError) -> str:
    with pytest.raises(kind) as info:
        read(text)
    assert t.is_located(info.value)
    return str(info.value)


def test_defaults_and_conversions() -> None:
    """Absent keys take their defaults, a table default is read as written, units convert."""
    rec = read('size = "2 MiB"\nsh = "ish"\n[[port]]\nname = "p"\nkind = "eth"\n')
    assert rec["size"] == 2 << 20 and rec["sh"] == 3 and rec["enabled"] is False
    assert rec["cpu"]["fwb"] is True and rec["opt"] is None
    assert rec["port"][0]["mtu"] == 1500 and rec["port"][0].variant == "eth"
    assert rec.has("size") and not rec.has("enabled")
    assert rec["port"][0].where("name") == "f.toml:4"


@pytest.mark.parametrize(("text", "expected"), [
    ("enabled = 1", "f.toml:1: enabled: got 1 (expected true or false)"),
    ("size = 0", "f.toml:1: size: 0 is below 1 (expected a size such as '64K')"),
    ("size = '8G'", "f.toml:1: size: 0x200000000 does not fit in 32 bits (expected a size such "
                    "as '64K')"),
    ("size = 'lots'", "f.toml:1: size: got 'lots' (expected a size such as '64K')"),
    ("page = 0x3000", "f.toml:1: page: 0x3000 is not a power of two (expected a page size)"),
    ("aligned = 0x1001", "f.toml:1: aligned: 0x1001 is not a multiple of 0x1000 (expected a "
                         "4K-aligned address)"),
    ("widths = [8, 65]", "f.toml:1: widths[1]: 65 is out of range (expected an integer 8..64)"),
    ("widths = [8, 8, 8, 8]", "f.toml:1: widths: an array of 4 elements (expected at most 3)"),
    ("sh = 5", "f.toml:1: sh: 5 is out of range (expected NSH, ISH or 0..3)"),
    ("sh = 'OSH'", "f.toml:1: sh: 'OSH' is not a shareability (expected NSH, ISH or 0..3)"),
    ("a = 1\nb = 2", "f.toml:2: b: give either a or b, not both"),
    ("bogus = 1", "f.toml:1: bogus: unknown key (expected one of enabled, size, page"),
    ("[opt]\ny = 1", "f.toml:2: opt.y: unknown key (expected one of x)"),
    ("[opt]", "f.toml:1: opt.x: missing required key (expected an integer >= 0)"),
    ("cpu = 3", "f.toml:1: cpu: got 3 (expected a table [cpu])"),
    ("port = 3", "f.toml:1: port: got 3 (expected an array of tables [[port]])"),
    ("[[port]]\nname = 'p'\nkind = 'usb'", "f.toml:3: port[0].kind: 'usb' is not a port kind "
                                            "(expected one of eth, serial)"),
    ("[[port]]\nname = 'p'\nkind = 'eth'\nbaud = 9600",
     "f.toml:4: port[0].baud: unknown key for kind 'eth' (expected one of name, kind, mtu)"),
    ("[[port]]\nname = 'p'\nkind = 'eth'\n[[port]]\nname = 'q'\nkind = 'eth'\n[[port]]",
     "f.toml:1: port: 3 tables (expected at most 2)"),
])
def test_errors_name_file_line_key_once(text: str, expected: str) -> None:
    """Each error is 'file:line: key: what is wrong (what was expected)', located once."""
    msg = error(text)
    assert msg.startswith(expected), msg
    assert msg.count("f.toml") == 1


def test_error_classes() -> None:
    """Types and ranges are ParseError; a kind's error class (an unknown name) is kept."""
    error("enabled = 1", ParseError)
    error("[[port]]\nname = 'p'\nkind = 'usb'", ConfigError)


def test_record_errors_and_locate() -> None:
    """A semantic check raises at a key of a record; locate() never adds a second place."""
    rec = read("[[port]]\nname = 'p'\nkind = 'serial'\nbaud = 9600\n")
    exc = rec["port"][0].error("baud", "too slow for this link", "at least 19200")
    assert isinstance(exc, ConfigError)
    assert str(exc) == "f.toml:4: port[0].baud: too slow for this link (expected at least 19200)"
    assert t.locate(exc, "g.toml:9", ("x",)) is exc
    lower = t.locate(ConfigError("BAR0 size=0x3: not a power of two"), "f.toml:2", ("port", 0))
    assert str(lower) == "f.toml:2: port[0]: BAR0 size=0x3: not a power of two"
    assert t.is_located(lower)


def test_echoed_values_are_short_and_escaped() -> None:
    """A 100 KB or control-character value is echoed cut and escaped."""
    msg = error('enabled = "' + "\\u001b" * 50_000 + '"')
    assert len(msg) < 600 and "\x1b" not in msg and "\\x1b" in msg


def test_syntax_errors_and_parse_failures() -> None:
    """tomllib's syntax errors become file:line errors; bounds come from the pre-scan."""
    with pytest.raises(ParseError, match=r"^f\.toml:2: TOML syntax: Invalid value at column 5 "
                                         r"\(expected TOML 1\.0"):
        t.parse("a = 1\nb = \n", "f.toml")
    with pytest.raises(ParseError, match="nested more than 32 deep"):
        t.parse("a = " + "[" * 100 + "]" * 100, "f.toml")
    with pytest.raises(ParseError, match="cannot parse: ValueError"):
        t.parse("a = " + "1" * 5000, "f.toml")  # int() refuses more than 4300 digits


def test_load_reads_bounded(tmp_path: Path) -> None:
    """load() reads through memattr.inputs.files and names the file as given."""
    p = tmp_path / "x.toml"
    p.write_text("enabled = true\n")
    doc = t.load(p, what="test file")
    assert t.read(doc, SCHEMA)["enabled"] is True and doc.path == str(p)
    with pytest.raises(ConfigError, match="a directory"):
        t.load(tmp_path)


@pytest.mark.parametrize(("text", "value"), [
    ("4K", 4096), ("4 KiB", 4096), ("4kb", 4096), ("2 MiB", 2 << 20), ("1G", 1 << 30),
    ("0x1000", 0x1000), ("0b101", 5), ("0o17", 15), ("1_024", 1024), ("16B", 16), (" 3 ", 3),
])
def test_size_grammar(text: str, value: int) -> None:
    """Sizes are numbers with an optional binary unit."""
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["4X", "4iB", "-4K", "1__0", "_1", "0x", "4 K B", "1" * 41, "١٢"])
def test_size_grammar_rejects(bad: str) -> None:
    """Anything else is not a size (and decimal numbers are bounded before int() sees them)."""
    with pytest.raises(ValueError):
        parse_size(bad)


def test_number_and_format_size() -> None:
    """parse_number has no units; format_size writes the largest exact unit."""
    assert parse_number("0xff") == 255
    with pytest.raises(ValueError):
        parse_number("4K")
    assert [format_size(n) for n in (4096, 3 << 20, 1 << 40, 1000, 5)] == \
        ["4K", "3M", "1T", "0x3e8", "5"]


# --- the walk file's schema (memattr.analysis.walkfile) read with the reader ---------------------

WALK = walkfile.SCHEMA


def test_the_walk_schema_reads_the_example() -> None:
    """The shipped walk example reads with the declared schema, to the values walk builds from."""
    rec = t.read(t.load(walkfile.example_path()), WALK)
    s2: Any = rec["s2"]
    assert rec["stage2"]["ipa_bits"] == 40 and rec["stage2"]["fwb"] is False
    assert s2[0]["size"] == 1 << 30 and s2[0]["type"] == "NORMAL" and s2[0]["s2ap"] == 3
    assert s2[1]["xn"] is True and rec["s1"][0]["mt"] == "MT_NORMAL" and rec["s1"][1]["pxn"]
    assert rec["stage1"]["pool_size"] == 1 << 20 and rec["stage1"]["granule"] == "4k"
    assert [a["access"] for a in rec["access"]] == ["read", "write", "write", "read"]
    assert rec["access"][3]["size"] == 8  # the default


@pytest.mark.parametrize(("text", "expected"), [
    ("[stage1]\naccess = true\n", "w.toml:2: stage1.access: unknown key"),
    ("[[access]]\nva = 0\naccess = true\n",
     "w.toml:3: access[0].access: got true (expected one of read, write, exec)"),
    ("[[s1]]\nva = 0\nsize = '4k'\nipa = 0\nmt = 'MT_NORMAL'\n", None),  # ap defaults to rw
    ("[[s2]]\nipa = 0\nsize = '4k'\npa = 0\n",
     "w.toml:1: s2[0]: give exactly one of memattr or type (got none)"),
    ("[stage2]\nvtcr = 1\nps_bits = 40\n", "w.toml:3: stage2.ps_bits: give either vtcr or ps_bits"),
    ("[stage2]\nvmid = 0x10000\n", "w.toml:2: stage2.vmid: 0x10000 does not fit in 16 bits"),
])
def test_the_walk_schema_errors(text: str, expected: str | None) -> None:
    """The walk file's known failure cases become one-line, located errors with this reader."""
    doc = t.parse(text, "w.toml")
    if expected is None:
        assert t.read(doc, WALK)["s1"][0]["ap"] == 0
        return
    with pytest.raises(MemattrError, match="^" + re.escape(expected)):
        t.read(doc, WALK)
