"""Tests for memattr.arch.fields: the table engine and every registered layout."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

import memattr.arch
from memattr.arch.fields import LAYOUTS, Field, FieldKind, Layout, bit, genmask, register
from memattr.errors import ConfigError, EncodingError

F = FieldKind


def _load_all_arch_modules() -> None:
    for mod in pkgutil.iter_modules(memattr.arch.__path__):
        importlib.import_module(f"memattr.arch.{mod.name}")


_load_all_arch_modules()

DEMO = Layout("DEMO", 16, (
    Field("TOP", 15, 12, F.ENUM, values={0b0001: "One", 0b1010: "Ten"}),
    Field("RES1_11", 11, 11, F.RES1),
    Field("RES0_10_9", 10, 9, F.RES0),
    Field("IGN", 8, 8, F.IGNORED),
    Field("ADDR", 7, 4, F.ADDRESS, addr_shift=12),
    Field("SW", 3, 2, F.SOFTWARE),
    Field("EN", 1, 1, F.FLAG),
    Field("LOW", 0, 0),
))


# --- the registry --------------------------------------------------------------------------


def test_registry_is_populated() -> None:
    """Importing memattr.arch registers the descriptor and register layouts."""
    for name in ("TCR_EL1", "VTCR_EL2", "HCR_EL2", "SCTLR_EL1", "TTBRx_EL1", "VTTBR_EL2",
                 "S1_PAGE_4K_OA48", "S2_PAGE_4K_OA48", "S2_TABLE_64K_OA52_LPA"):
        assert name in LAYOUTS


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_covers_its_width_once(name: str) -> None:
    """Every registered layout covers each bit of its width exactly once, msb first."""
    layout = LAYOUTS[name]
    layout.validate_table()
    seen = 0
    prev_lsb = layout.width
    for f in layout.fields:
        assert f.msb == prev_lsb - 1, f"{name}.{f.name} leaves a gap or overlaps"
        assert seen & f.inplace_mask == 0, f"{name}.{f.name} overlaps"
        seen |= f.inplace_mask
        prev_lsb = f.lsb
    assert seen == (1 << layout.width) - 1
    assert sum(f.width for f in layout.fields) == layout.width
    assert len({f.name for f in layout.fields}) == len(layout.fields)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_round_trips_a_clean_value(name: str) -> None:
    """encode(**decode(v)) == v for every layout once RES0 is clear and RES1 set."""
    layout = LAYOUTS[name]
    v = (0x5A5A_A5A5_F00F_0FF0 & ((1 << layout.width) - 1))
    v = (v & ~layout.res0_mask) | layout.res1_mask
    fields = {k: x for k, x in layout.decode(v).items()
              if layout.field(k).kind not in (F.RES0, F.RES1)}
    assert layout.encode(**fields) == v
    assert not [p for p in layout.check(v) if ": RES0 bits" in p or ": RES1 bits" in p]


def test_register_refuses_a_different_table_under_a_taken_name() -> None:
    """register() rejects a second, different layout under an existing name."""
    with pytest.raises(ConfigError, match="already registered"):
        register(Layout("TCR_EL1", 8, (Field("X", 7, 0),)))


def test_register_accepts_the_same_table_again() -> None:
    """register() is idempotent for an identical table."""
    same = Layout("TCR_EL1", LAYOUTS["TCR_EL1"].width, LAYOUTS["TCR_EL1"].fields)
    assert register(same) == LAYOUTS["TCR_EL1"]


# --- validate_table ------------------------------------------------------------------------


def test_gap_is_rejected() -> None:
    """A layout that leaves bits unspecified is rejected, naming the bits."""
    with pytest.raises(ConfigError, match=r"unspecified bits \[6:4\]"):
        Layout("GAP", 8, (Field("A", 7, 7), Field("B", 3, 0)))


def test_overlap_is_rejected() -> None:
    """Overlapping fields are rejected."""
    with pytest.raises(ConfigError, match="overlaps"):
        Layout("OVL", 8, (Field("A", 7, 4), Field("B", 5, 0)))


def test_exceeding_width_is_rejected() -> None:
    """A field above the width is rejected."""
    with pytest.raises(ConfigError, match="exceeds the 8-bit width"):
        Layout("WIDE", 8, (Field("A", 8, 0),))


def test_bottom_gap_is_rejected() -> None:
    """Unspecified low bits are rejected."""
    with pytest.raises(ConfigError, match=r"unspecified bits \[1:0\] at the bottom"):
        Layout("BOT", 8, (Field("A", 7, 2),))


def test_duplicate_names_are_rejected() -> None:
    """Two fields with one name are rejected."""
    with pytest.raises(ConfigError, match="duplicate"):
        Layout("DUP", 8, (Field("A", 7, 4), Field("A", 3, 0)))


def test_field_definitions_are_checked() -> None:
    """A wide FLAG, values on a non-ENUM and addr_shift on a non-ADDRESS are rejected."""
    with pytest.raises(ConfigError):
        Field("F", 3, 2, F.FLAG)
    with pytest.raises(ConfigError):
        Field("F", 3, 2, F.FIELD, values={1: "x"})
    with pytest.raises(ConfigError):
        Field("F", 3, 2, F.FIELD, addr_shift=2)
    with pytest.raises(ConfigError):
        Field("F", 3, 2, F.ENUM, values={4: "too big"})
    assert Field("A", 47, 12, F.ADDRESS).addr_shift == 12


# --- get / set / encode / decode -----------------------------------------------------------


def test_get_and_decode_agree() -> None:
    """get() returns the same values as decode()."""
    v = 0b1010_1_00_1_0110_11_1_0
    d = DEMO.decode(v)
    assert d == {name: DEMO.get(v, name) for name in d}
    assert d["TOP"] == 0b1010 and d["ADDR"] == 0b0110 and d["SW"] == 0b11 and d["EN"] == 1


def test_get_unknown_field_names_the_layout() -> None:
    """get() of an unknown name raises KeyError naming the layout."""
    with pytest.raises(KeyError, match="DEMO has no field 'NOPE'"):
        DEMO.get(0, "NOPE")


def test_set_rejects_values_that_do_not_fit() -> None:
    """set() raises EncodingError naming Layout.field=0x.. and the width."""
    with pytest.raises(EncodingError, match=r"DEMO\.SW=0x4: does not fit \[3:2\] \(2 bits"):
        DEMO.set(0, "SW", 4)
    assert DEMO.set(0xFFFF, "SW", 0) == 0xFFF3


def test_encode_sets_res1_and_zeroes_the_rest() -> None:
    """encode() with no fields gives just the RES1 bits."""
    assert DEMO.encode() == 1 << 11
    assert DEMO.encode(EN=1, TOP=1) == (1 << 11) | (1 << 1) | (1 << 12)


def test_encode_rejects_res0_and_res1_values() -> None:
    """encode() refuses a non-zero RES0 field and a cleared RES1 field."""
    with pytest.raises(EncodingError, match=r"DEMO\.RES0_10_9=0x1: RES0"):
        DEMO.encode(RES0_10_9=1)
    with pytest.raises(EncodingError, match=r"DEMO\.RES1_11=0x0: RES1"):
        DEMO.encode(RES1_11=0)


@given(st.integers(0, 0xFFFF))
def test_decode_encode_round_trip(v: int) -> None:
    """encode(**decode(v)) rebuilds v once its reserved bits are canonical."""
    canon = (v & ~DEMO.res0_mask) | DEMO.res1_mask
    fields = {k: x for k, x in DEMO.decode(canon).items() if not k.startswith("RES")}
    assert DEMO.encode(**fields) == canon


def test_helpers() -> None:
    """genmask and bit match Linux GENMASK and BIT."""
    assert genmask(5, 2) == 0x3C and genmask(63, 50) == 0xFFFC_0000_0000_0000
    assert bit(54) == 0x0040_0000_0000_0000


# --- addresses -----------------------------------------------------------------------------


def test_address_fields_assemble_the_address() -> None:
    """ADDRESS fields contribute value << addr_shift."""
    v = DEMO.encode(ADDR=0b0110)
    assert DEMO.address(v) == 0b0110 << 12
    assert DEMO.with_address(0, 0b1001 << 12) == 0b1001 << 4


def test_with_address_rejects_unrepresentable_bits() -> None:
    """with_address() names the address field when the address does not fit."""
    with pytest.raises(EncodingError, match=r"DEMO\.ADDR=0x1001: not representable"):
        DEMO.with_address(0, 0x1001)


# --- check and describe --------------------------------------------------------------------


def test_check_reports_each_problem_with_field_and_hex_value() -> None:
    """check() names RES0 set, RES1 clear, reserved enum values and excess width."""
    v = (0b0011 << 12) | (0b01 << 9)  # TOP reserved, RES1 clear, RES0 set
    assert DEMO.check(v) == [
        "DEMO.TOP=0x3: reserved (allowed: 0x1 One, 0xa Ten)",
        "DEMO.RES1_11=0x0: RES1 bits [11] clear (expected 0x1)",
        "DEMO.RES0_10_9=0x1: RES0 bits [10:9] set",
    ]
    assert DEMO.check(0x1_0000 | (1 << 11) | (1 << 12))[0].startswith("DEMO=0x11800: does not")
    assert DEMO.check((1 << 11) | (1 << 12)) == []


def test_describe_renders_names_bits_and_values() -> None:
    """describe() gives (name, bit range, rendered value) rows from the msb down."""
    v = (0b1010 << 12) | (1 << 11) | (0b0110 << 4) | (1 << 1)
    rows = DEMO.describe(v)
    assert rows[0] == ("TOP", "[15:12]", "Ten")
    assert ("RES1_11", "[11]", "0b1") in rows
    assert ("ADDR", "[7:4]", "0x6000") in rows
    assert ("EN", "[1]", "1") in rows
    assert ("LOW", "[0]", "0b0") in rows


def test_describe_shows_unknown_values_raw() -> None:
    """Reserved enum values and RES0 violations are shown in hex, not hidden."""
    rows = dict((n, r) for n, _b, r in DEMO.describe((0b0011 << 12) | (0b10 << 9)))
    assert rows["TOP"] == "0x3 (reserved)"
    assert rows["RES0_10_9"] == "0x2 (RES0 violated)"
    assert rows["RES1_11"] == "0x0 (RES1 violated)"


@given(st.integers(0, (1 << 20) - 1))
def test_describe_never_drops_a_set_bit(v: int) -> None:
    """Even compact describe() keeps a row for every field holding a set bit."""
    rows = DEMO.describe(v, compact=True)
    names = {n for n, _b, _r in rows}
    for f in DEMO.fields:
        x = (v >> f.lsb) & f.mask
        if f.kind is F.RES1:
            if x != f.mask:
                assert f.name in names
        elif x:
            assert f.name in names
    if v >> 16:
        assert "<beyond width>" in names


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_describes_all_ones(name: str) -> None:
    """describe() of all-ones gives one row per field for every layout."""
    layout = LAYOUTS[name]
    rows = layout.describe((1 << layout.width) - 1)
    assert [r[0] for r in rows] == [f.name for f in layout.fields]
