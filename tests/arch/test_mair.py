"""MAIR_ELx attribute bytes, checked against an independent decoder written from
docs/architecture.md#mair-attribute-bytes.

The reference below is written from the table in docs/architecture.md#mair-attribute-bytes
(ASL94 S1DecodeMemAttrs, DecodeLDFAttr, DecodeDevice), not from memattr's implementation.  Values
are plain tuples:

    Device: ("Device", "<dd name>", None, None, xs, tagged)
    Normal: ("Normal", None, inner, outer, xs, tagged), a level being
            (cacheability, read_allocate, write_allocate, transient)
"""

from __future__ import annotations

import itertools

import pytest

from memattr.arch import mair
from memattr.arch.cpu import ALL, Cpu
from memattr.arch.memtype import CacheAttrs, MemoryAttributes, Shareability
from memattr.errors import EncodingError, ReservedError
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR

# docs/architecture.md#mair-attribute-bytes: dd = 00 nGnRnE, 01 nGnRE, 10 nGRE, 11 GRE.
DEVICE_NAMES = ("nGnRnE", "nGnRE", "nGRE", "GRE")

def feat(xs: bool, mte2: bool) -> Cpu:
    """A CPU with or without FEAT_XS and FEAT_MTE2 (FEAT_MTE_PERM needs MTE2)."""
    return ALL.with_(name=f"xs{int(xs)}-mte{int(mte2)}", xs=xs, mte2=mte2, mte_perm=mte2)


ALL_FEATURES = [feat(xs, mte2) for xs, mte2 in itertools.product((False, True), repeat=2)]


def _fid(f: Cpu) -> str:
    return f.name


# --- the reference decoder (docs/architecture.md#mair-attribute-bytes) ----------------------------


def ref_nibble(n: int) -> tuple[str, bool, bool, bool]:
    """docs/architecture.md#mair-attribute-bytes DecodeLDFAttr for a non-zero Normal nibble: (cacheability,
    RA, WA, transient)."""
    assert 1 <= n <= 0xF
    if n == 0b0100:
        return ("NC", False, False, False)  # hints do not apply to NC
    ra, wa = bool(n & 0b10), bool(n & 0b01)  # bit 1 Read-allocate, bit 0 Write-allocate
    top = n >> 2
    cache = {0b00: "WT", 0b01: "WB", 0b10: "WT", 0b11: "WB"}[top]
    transient_form = top in (0b00, 0b01)  # 00RW / 01RW are the transient encodings
    # The transient flag is only set when the nibble is cacheable and RW != 00.
    return (cache, ra, wa, transient_form and (ra or wa))


def ref_decode(byte: int, xs_feat: bool, mte2: bool) -> tuple | None:
    """docs/architecture.md#mair-attribute-bytes: the decoded attributes of a MAIR byte, or None when it is
    reserved.

    Without FEAT_XS there is no XS attribute: its place holds None.
    """
    got = _ref_decode(byte, xs_feat, mte2)
    if got is None or xs_feat:
        return got
    return (*got[:4], None, got[5])


def _ref_decode(byte: int, xs_feat: bool, mte2: bool) -> tuple | None:
    hi, lo = byte >> 4, byte & 0xF
    if hi == 0:  # 0000 xxxx: Device
        if lo & 0b10:
            return None  # 0000 dd1x: reserved
        if lo & 0b01 and not xs_feat:
            return None  # 0000 dd01: FEAT_XS only
        return ("Device", DEVICE_NAMES[lo >> 2], None, None, not (lo & 1), False)  # XS = NOT bit0
    if lo == 0:  # xxxx 0000: reserved except 0x40, 0xA0, 0xF0
        if byte == 0x40 and xs_feat:
            nc = ("NC", False, False, False)
            return ("Normal", None, nc, nc, False, False)
        if byte == 0xA0 and xs_feat:
            wt = ("WT", True, False, False)
            return ("Normal", None, wt, wt, False, False)
        if byte == 0xF0 and mte2:
            wb = ("WB", True, True, False)
            return ("Normal", None, wb, wb, False, True)  # both WB -> XS 0
        return None
    inner, outer = ref_nibble(lo), ref_nibble(hi)
    both_wb = inner[0] == "WB" and outer[0] == "WB"
    return ("Normal", None, inner, outer, not both_wb, False)


def summary(a: MemoryAttributes) -> tuple:
    """The implementation's attributes in the reference's tuple form."""

    def lvl(c: CacheAttrs | None) -> tuple | None:
        if c is None:
            return None
        return (c.cacheability.value, c.read_allocate, c.write_allocate, c.transient)

    return (
        a.memtype.value,
        a.device.name if a.device is not None else None,
        lvl(a.inner),
        lvl(a.outer),
        a.xs,
        a.tagged,
    )


# --- hand-written anchors for the reference itself ------------------------------------------

_NC = ("NC", False, False, False)
_WB_RWA = ("WB", True, True, False)

ANCHORS = [
    (0x00, ("Device", "nGnRnE", None, None, True, False)),
    (0x04, ("Device", "nGnRE", None, None, True, False)),
    (0x08, ("Device", "nGRE", None, None, True, False)),
    (0x0C, ("Device", "GRE", None, None, True, False)),
    (0x05, ("Device", "nGnRE", None, None, False, False)),
    (0x44, ("Normal", None, _NC, _NC, True, False)),
    (0xFF, ("Normal", None, _WB_RWA, _WB_RWA, False, False)),
    (0xBB, ("Normal", None, ("WT", True, True, False), ("WT", True, True, False), True, False)),
    (0x88, ("Normal", None, ("WT", False, False, False), ("WT", False, False, False), True, False)),
    (0x11, ("Normal", None, ("WT", False, True, True), ("WT", False, True, True), True, False)),
    (0x77, ("Normal", None, ("WB", True, True, True), ("WB", True, True, True), False, False)),
    (0x4F, ("Normal", None, _WB_RWA, _NC, True, False)),
    (0xF4, ("Normal", None, _NC, _WB_RWA, True, False)),
    (0xCE, ("Normal", None, ("WB", True, False, False), ("WB", False, False, False), False, False)),
    (0x40, ("Normal", None, _NC, _NC, False, False)),
    (0xA0, ("Normal", None, ("WT", True, False, False), ("WT", True, False, False), False, False)),
    (0xF0, ("Normal", None, _WB_RWA, _WB_RWA, False, True)),
]


@pytest.mark.parametrize(("byte", "expected"), ANCHORS, ids=[f"0x{b:02X}" for b, _ in ANCHORS])
def test_anchor_bytes(byte: int, expected: tuple) -> None:
    """Hand-decoded bytes from the docs/architecture.md#mair-attribute-bytes table decode as written (FEAT_XS,
    FEAT_MTE2)."""
    assert ref_decode(byte, True, True) == expected
    got = mair.decode_attr(byte, feat(True, True))
    assert got.attrs is not None and got.reserved is None
    assert summary(got.attrs) == expected


# --- exhaustive comparison ------------------------------------------------------------------


@pytest.mark.parametrize("features", ALL_FEATURES, ids=_fid)
@pytest.mark.parametrize("byte", range(256), ids=lambda b: f"0x{b:02X}")
def test_decode_attr_matches_reference(byte: int, features: Cpu) -> None:
    """Every MAIR byte decodes as the docs/architecture.md#mair-attribute-bytes reference says, or is
    reserved."""
    expected = ref_decode(byte, features.xs, features.mte2)
    got = mair.decode_attr(byte, features)
    assert got.value == byte
    if expected is None:
        assert got.attrs is None and got.is_reserved
        assert got.reserved
    else:
        assert got.attrs is not None and not got.is_reserved
        assert got.reserved is None
        assert summary(got.attrs) == expected
        assert got.attrs.notagaccess is False


def test_reserved_set_sizes() -> None:
    """docs/architecture.md#mair-attribute-bytes: 20 reserved bytes with both features, 24 without FEAT_XS, 21
    without MTE2."""
    counts = {
        _fid(f): sum(mair.decode_attr(b, f).attrs is None for b in range(256)) for f in ALL_FEATURES
    }
    # 8 bytes 0000dd1x + 12 bytes xxxx0000 other than 0x40/0xA0/0xF0; without FEAT_XS the four
    # 0000dd01 bytes and 0x40/0xA0 are reserved too; without FEAT_MTE2, 0xF0.
    assert counts == {"xs1-mte1": 20, "xs0-mte1": 26, "xs1-mte0": 21, "xs0-mte0": 27}


@pytest.mark.parametrize("features", ALL_FEATURES, ids=_fid)
def test_reserved_messages_name_the_rule(features: Cpu) -> None:
    """A reserved byte's note names Unpredictable_RESMAIR and, if feature-gated, the feature (s1)."""
    for byte in range(256):
        got = mair.decode_attr(byte, features)
        if got.attrs is not None:
            continue
        text = f"{got.rule or ''} {got.reserved or ''}"
        assert "RESMAIR" in text, (hex(byte), text)
        assert "reserved" in text.lower(), (hex(byte), text)
        if byte in (0x01, 0x05, 0x09, 0x0D, 0x40, 0xA0):
            assert "FEAT_XS" in text, (hex(byte), text)
        if byte == 0xF0:
            assert "FEAT_MTE2" in text, (hex(byte), text)


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize("features", ALL_FEATURES, ids=_fid)
def test_every_defined_byte_is_canonical(features: Cpu) -> None:
    """encode(decode(b)) == b for every defined byte: no two defined bytes decode alike (s1)."""
    seen: dict[tuple, int] = {}
    for byte in range(256):
        got = mair.decode_attr(byte, features)
        if got.attrs is None:
            continue
        assert mair.encode(got.attrs) == byte, hex(byte)
        assert got.attrs.mair == byte, hex(byte)
        key = summary(got.attrs)
        assert key not in seen, (hex(byte), hex(seen.get(key, -1)))
        seen[key] = byte


@pytest.mark.parametrize("sh", list(Shareability), ids=lambda s: s.value)
def test_decode_applies_descriptor_shareability(sh: Shareability) -> None:
    """decode() gives Device and Normal iNC/oNC OSH and other Normal the descriptor's SH (s1, s5)."""
    for byte in range(256):
        expected = ref_decode(byte, True, True)
        if expected is None:
            with pytest.raises(ReservedError):
                mair.decode(byte, sh)
            continue
        a = mair.decode(byte, sh)
        assert summary(a) == expected
        forced_osh = expected[0] == "Device" or (expected[2][0] == "NC" and expected[3][0] == "NC")
        assert a.shareability is (Shareability.OSH if forced_osh else sh), hex(byte)
        assert mair.encode(a) == byte


@pytest.mark.parametrize("bad", [-1, 0x100, 0x1FF])
def test_out_of_range_byte_raises(bad: int) -> None:
    """A value outside 0x00..0xFF is not a MAIR attribute byte."""
    with pytest.raises(EncodingError):
        mair.decode_attr(bad, ALL)


# --- the whole register ---------------------------------------------------------------------


def test_linux_mair_value() -> None:
    """Linux's MAIR_EL1 holds Attr0 0xFF, Attr1 0xF0, Attr2 0x44, Attr3 0x00, Attr4 0x04 (s1, s8)."""
    assert LINUX_MAIR == 0x00_00_00_04_00_44_F0_FF


def test_linux_mair_register_decode() -> None:
    """Each of Linux's MAIR_EL1 fields decodes as its MT_* name says
    (docs/architecture.md#mair-attribute-bytes, docs/linux-versions.md#mt-indexes-and-mair_el1)."""
    attrs = mair.decode_register(LINUX_MAIR, feat(True, True))
    assert len(attrs) == 8
    assert [a.value for a in attrs] == [0xFF, 0xF0, 0x44, 0x00, 0x04, 0x00, 0x00, 0x00]
    expected = [
        ("Normal", None, _WB_RWA, _WB_RWA, False, False),  # MT_NORMAL
        ("Normal", None, _WB_RWA, _WB_RWA, False, True),  # MT_NORMAL_TAGGED
        ("Normal", None, _NC, _NC, True, False),  # MT_NORMAL_NC
        ("Device", "nGnRnE", None, None, True, False),  # MT_DEVICE_nGnRnE
        ("Device", "nGnRE", None, None, True, False),  # MT_DEVICE_nGnRE
    ] + [("Device", "nGnRnE", None, None, True, False)] * 3  # unused Attr5..7 = 0x00
    assert [summary(a.attrs) for a in attrs] == expected  # type: ignore[arg-type]


def test_linux_mair_without_mte2() -> None:
    """Without FEAT_MTE2, Attr1 = 0xF0 of Linux's MAIR value is reserved
    (docs/architecture.md#mair-attribute-bytes)."""
    attrs = mair.decode_register(LINUX_MAIR, feat(True, False))
    assert [a.attrs is None for a in attrs] == [False, True, False, False, False, False, False, False]


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_register_out_of_range(value: int) -> None:
    """A MAIR_ELx value must fit in 64 bits."""
    with pytest.raises(EncodingError):
        mair.decode_register(value)


def test_register_round_trip() -> None:
    """encode_register places Attr<n> at bits [8n+7:8n], the inverse of decode_register."""
    fields = [0x04, 0x44, 0xFF, 0x00, 0xBB, 0x0C, 0xF0, 0x40]
    value = mair.encode_register(fields)
    assert value == sum(b << (8 * n) for n, b in enumerate(fields))
    assert [a.value for a in mair.decode_register(value)] == fields


# --- S1ConstrainUnpredictableRESMAIR (ASL v9.4, rems-project/sail-arm v8_base.sail) -------------


def sail_resmair(attr: int, xs: bool, mte2: bool) -> bool:
    """The v9.4 ASL's cases, in its order: '0000xx01' needs FEAT_XS, '0000xxxx' with
    attr<1:0> != '00', 0x40 / 0xA0 need FEAT_XS, 0xF0 needs FEAT_MTE2, 'xxxx0000'."""
    if attr >> 4 == 0 and attr & 0b11 == 0b01:
        return not xs
    if attr >> 4 == 0:
        return attr & 0b11 != 0
    if attr in (0x40, 0xA0):
        return not xs
    if attr == 0xF0:
        return not mte2
    return attr & 0xF == 0


@pytest.mark.parametrize("features", ALL_FEATURES, ids=_fid)
def test_resmair_matches_the_asl(features: Cpu) -> None:
    """Every byte: reserved exactly when the ASL's S1ConstrainUnpredictableRESMAIR says so, and
    a reserved byte stands for any allocated byte (ConstrainUnpredictableBits, width 8)."""
    allocated = mair.allocated_bytes(features)
    for byte in range(256):
        rec = mair.s1_constrain_unpredictable_resmair(byte, features)
        assert rec.result is sail_resmair(byte, features.xs, features.mte2), hex(byte)
        got = mair.decode_attr(byte, features)
        assert got.is_reserved is rec.result
        if rec.result:
            bits = got.decisions[-1]
            assert bits.rule.value == "ConstrainUnpredictableBits"
            assert bits.input("width") == 8 and bits.result == allocated == got.permitted
    assert set(allocated) == {b for b in range(256) if not sail_resmair(b, features.xs,
                                                                         features.mte2)}
