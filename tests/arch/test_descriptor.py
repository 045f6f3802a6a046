"""Tests for memattr.arch.descriptor: VMSAv8-64 stage-1/stage-2 descriptors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import (
    descriptors,
    oa_configs,
    s1_leaf_descriptors,
    s1_table_descriptors,
    s2_leaf_descriptors,
    s2_table_descriptors,
    u64,
)

from memattr.arch import descriptor as d
from memattr.arch.descriptor import (
    DescType,
    Granule,
    OAForm,
    S1Descriptor,
    S2Descriptor,
    S2Exec,
    block_allowed,
    block_size,
    decode_descriptor_type,
    descriptor_layout,
    oa_form,
    s1_leaf,
    s1_table,
    s2_exec,
    s2_leaf,
    s2_table,
    sh_decode,
)
from memattr.arch.fields import genmask
from memattr.arch.memtype import Shareability
from memattr.errors import ConfigError, EncodingError, ParseError

K4, K16, K64 = Granule.K4, Granule.K16, Granule.K64

# --- granules and levels -------------------------------------------------------------------


def test_granule_properties() -> None:
    """Each granule has Arm's shift, size and bits resolved per level."""
    assert [(g.shift, g.size, g.bits_per_level) for g in Granule] == [
        (12, 4096, 9), (14, 16384, 11), (16, 65536, 13)]
    assert [g.value for g in Granule] == ["4k", "16k", "64k"]


@pytest.mark.parametrize("text,g", [("4k", K4), ("4K", K4), ("4KB", K4), ("4096", K4),
                                    ("16k", K16), ("16KiB", K16), ("64KB", K64), (" 64k ", K64)])
def test_granule_parse(text: str, g: Granule) -> None:
    """Granule.parse accepts the usual spellings."""
    assert Granule.parse(text) is g


def test_granule_parse_error() -> None:
    """An unknown granule is a ParseError naming the text."""
    with pytest.raises(ParseError, match="granule='8k'"):
        Granule.parse("8k")


# Arm ARM D8.2 / ASL AArch64.BlockDescSupported: (granule, ds, pa_bits) -> block levels.
BLOCK_LEVELS = {
    (K4, False, 48): {1, 2},
    (K4, True, 52): {0, 1, 2},
    (K16, False, 48): {2},
    (K16, True, 52): {1, 2},
    (K64, False, 48): {2},
    (K64, False, 52): {1, 2},
}


@pytest.mark.parametrize("key", sorted(BLOCK_LEVELS, key=str))
def test_block_allowed_table(key: tuple[Granule, bool, int]) -> None:
    """Blocks exist exactly at the levels AArch64.BlockDescSupported allows."""
    g, ds, pa = key
    got = {lvl for lvl in range(-1, 4) if block_allowed(g, lvl, ds, pa)}
    assert got == BLOCK_LEVELS[key]


def test_block_sizes() -> None:
    """Block and page sizes for each granule and level (Arm ARM D8.2)."""
    assert [block_size(K4, lvl) for lvl in (3, 2, 1, 0)] == [4 << 10, 2 << 20, 1 << 30, 512 << 30]
    assert [block_size(K16, lvl) for lvl in (3, 2, 1)] == [16 << 10, 32 << 20, 64 << 30]
    assert [block_size(K64, lvl) for lvl in (3, 2, 1)] == [64 << 10, 512 << 20, 4 << 40]


def test_levels() -> None:
    """Level ranges: 4KB 0..3 (-1..3 with DS), 16KB 0..3, 64KB 1..3."""
    assert list(d.levels(K4)) == [0, 1, 2, 3]
    assert list(d.levels(K4, ds=True)) == [-1, 0, 1, 2, 3]
    assert list(d.levels(K16, ds=True)) == [0, 1, 2, 3]
    assert list(d.levels(K64)) == [1, 2, 3]


@pytest.mark.parametrize("raw,g,level,ds,pa,want", [
    (0b00, K4, 3, False, 48, DescType.INVALID),
    (0b10, K4, 2, False, 48, DescType.INVALID),
    (0b11, K4, 3, False, 48, DescType.PAGE),
    (0b11, K4, 0, False, 48, DescType.TABLE),
    (0b11, K4, -1, True, 52, DescType.TABLE),
    (0b01, K4, 3, False, 48, DescType.RESERVED),  # 0b01 at level 3
    (0b01, K4, 0, False, 48, DescType.RESERVED),  # no 512GB blocks without DS
    (0b01, K4, 0, True, 52, DescType.BLOCK),
    (0b01, K4, 1, False, 48, DescType.BLOCK),
    (0b01, K16, 1, False, 48, DescType.RESERVED),
    (0b01, K16, 1, True, 52, DescType.BLOCK),
    (0b01, K64, 1, False, 48, DescType.RESERVED),
    (0b01, K64, 1, False, 52, DescType.BLOCK),
    (0b01, K64, 2, False, 48, DescType.BLOCK),
])
def test_decode_descriptor_type(raw: int, g: Granule, level: int, ds: bool, pa: int,
                                want: DescType) -> None:
    """Descriptor types follow ASL AArch64.DecodeDescriptorType."""
    assert decode_descriptor_type(raw, g, level, ds, pa) is want


def test_oa_forms() -> None:
    """The OA form follows the granule, DS and PA size; bad combinations are ConfigErrors."""
    assert oa_form(K4) is OAForm.OA48
    assert oa_form(K64, pa_bits=52) is OAForm.OA52_LPA
    assert oa_form(K16, ds=True, pa_bits=48) is OAForm.OA52_LPA2
    with pytest.raises(ConfigError, match="DS=0x1: RES0 with the 64KB granule"):
        oa_form(K64, ds=True)
    with pytest.raises(ConfigError, match="needs DS=1"):
        oa_form(K4, pa_bits=52)


# --- field positions -----------------------------------------------------------------------


def test_s1_leaf_field_positions() -> None:
    """Stage-1 leaf fields sit where Arm ARM D8.3 puts them."""
    lay = descriptor_layout(1, DescType.PAGE, K4, 3)
    want = {"Type": (1, 0), "AttrIndx": (4, 2), "NS": (5, 5), "AP": (7, 6), "SH": (9, 8),
            "AF": (10, 10), "nG": (11, 11), "OA": (47, 12), "GP": (50, 50), "DBM": (51, 51),
            "Contiguous": (52, 52), "PXN": (53, 53), "UXN": (54, 54), "SW": (58, 55),
            "PBHA": (62, 59), "IGNORED_63": (63, 63)}
    assert {n: (lay.field(n).msb, lay.field(n).lsb) for n in want} == want


def test_s2_leaf_field_positions() -> None:
    """Stage-2 leaf fields sit where Arm ARM D8.3 puts them."""
    lay = descriptor_layout(2, DescType.BLOCK, K4, 2)
    want = {"Type": (1, 0), "MemAttr": (5, 2), "S2AP": (7, 6), "SH": (9, 8), "AF": (10, 10),
            "FnXS": (11, 11), "nT": (16, 16), "OA": (47, 21), "DBM": (51, 51),
            "Contiguous": (52, 52), "XN": (54, 53), "SW": (58, 55), "PBHA": (62, 59)}
    assert {n: (lay.field(n).msb, lay.field(n).lsb) for n in want} == want


def test_table_field_positions() -> None:
    """Stage-1 tables carry NSTable/APTable/UXNTable/PXNTable; stage-2 tables have RES0 there."""
    s1 = descriptor_layout(1, DescType.TABLE, K16, 1)
    assert [(f.name, f.bits) for f in s1.fields[:4]] == [
        ("NSTable", "[63]"), ("APTable", "[62:61]"), ("UXNTable", "[60]"), ("PXNTable", "[59]")]
    assert s1.field("NLTA").bits == "[47:14]"
    assert s1.field("RES0_13_12").bits == "[13:12]"
    s2 = descriptor_layout(2, DescType.TABLE, K4, 0)
    assert s2.field("RES0_63_59").bits == "[63:59]"
    assert s2.ignored_mask == genmask(58, 52) | genmask(11, 2)


def test_52bit_forms_place_the_high_oa_bits() -> None:
    """FEAT_LPA keeps OA[51:48] in [15:12]; FEAT_LPA2 keeps OA[51:50] in [9:8], [49:48] in place."""
    lpa = descriptor_layout(1, DescType.PAGE, K64, 3, pa_bits=52)
    assert lpa.field("OA_51_48").bits == "[15:12]" and lpa.field("OA_51_48").addr_shift == 48
    lpa2 = descriptor_layout(2, DescType.PAGE, K4, 3, ds=True, pa_bits=52)
    assert lpa2.field("OA_51_50").bits == "[9:8]" and "SH" not in lpa2
    assert lpa2.field("OA_49_48").bits == "[49:48]"


# --- hand-checked Linux encodings ----------------------------------------------------------


def test_kvm_s2_normal_nc_page() -> None:
    """KVM's S2 Normal-NC page (6.9+, vfio BAR): RW, AF, SH=IS, XN, at PA 0x8000_0000, 4KB."""
    # MemAttr MT_S2_NORMAL_NC 0b0101 << 2 = 0x014; S2AP_R|S2AP_W = 0x0c0; SH_IS 3 << 8 = 0x300;
    # AF 1 << 10 = 0x400; page 0b11 = 0x003; XN BIT(54) = 0x0040_0000_0000_0000; OA 0x8000_0000.
    # 0x014 + 0x0c0 + 0x300 + 0x400 + 0x003 = 0x7d7.
    want = 0x0040_0000_8000_07D7
    desc = s2_leaf(0x8000_0000, 0b0101, 0b11, xn=0b10)
    assert desc.encode() == want
    assert S2Descriptor.decode(want, K4, 3) == desc
    from memattr.linux.asm.kvm_pgtable import KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR

    assert (KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR & want) >> 2 == 0b0101


def test_kvm_s2_device_page() -> None:
    """KVM's S2 Device-nGnRE page (<= 6.8 vfio BAR, GICV): MemAttr 0b0001, RW, AF, IS, XN."""
    # 0b0001 << 2 = 0x004; + 0x0c0 + 0x300 + 0x400 + 0x003 = 0x7c7; XN BIT(54); OA 0x0900_0000.
    assert s2_leaf(0x0900_0000, 0b0001, 0b11, xn=0b10).encode() == 0x0040_0000_0900_07C7


def test_kvm_s2_normal_block() -> None:
    """KVM's S2 Normal (MT_S2_NORMAL 0xf) 2MB block at level 2, RWX: 0x4000_07FD."""
    # 0xf << 2 = 0x03c; + 0x0c0 + 0x300 + 0x400 = 0x7fc; block 0b01 -> 0x7fd; OA 0x4000_0000.
    desc = s2_leaf(0x4000_0000, 0xF, 0b11, level=2)
    assert desc.type is DescType.BLOCK
    assert desc.encode() == 0x4000_07FD


def test_linux_s1_prot_device_nGnRE() -> None:
    """Linux PROT_DEVICE_nGnRE page at 0x9000_0000 (no KPTI, so nG clear): 0x0068000090000713."""
    # _PROT_DEFAULT = PTE_TYPE_PAGE 0x3 | PTE_AF 0x400 | PTE_SHARED (ISH) 0x300 = 0x703;
    # PTE_ATTRINDX(MT_DEVICE_nGnRE = 4) = 4 << 2 = 0x10 -> 0x713;
    # PTE_WRITE (DBM, bit 51) | PTE_PXN (53) | PTE_UXN (54) = 0x0068_0000_0000_0000.
    desc = s1_leaf(0x9000_0000, 4, dbm=True, pxn=True, uxn=True)
    assert desc.encode() == 0x0068_0000_9000_0713
    assert S1Descriptor.decode(0x0068_0000_9000_0713, K4, 3) == desc


def test_linux_kvm_pgtable_constants() -> None:
    """The KVM_PTE_* constants derived from the tables equal kvm_pgtable.h's values."""
    from memattr.linux.asm import kvm_pgtable as d  # the kernel's constants live in linux
    assert d.KVM_PTE_VALID == 1 << 0 and d.KVM_PTE_TYPE == 1 << 1
    assert d.KVM_PTE_LEAF_ATTR_LO == genmask(11, 2)
    assert d.KVM_PTE_LEAF_ATTR_HI == genmask(63, 50)
    assert d.KVM_PTE_LEAF_ATTR_LO_S1_ATTRIDX == genmask(4, 2)
    assert d.KVM_PTE_LEAF_ATTR_LO_S1_AP == genmask(7, 6)
    assert d.KVM_PTE_LEAF_ATTR_LO_S1_SH == genmask(9, 8)
    assert d.KVM_PTE_LEAF_ATTR_LO_S1_SH_IS == 3
    assert d.KVM_PTE_LEAF_ATTR_LO_S1_AF == 1 << 10
    assert d.KVM_PTE_LEAF_ATTR_HI_S1_XN == 1 << 54
    assert d.KVM_PTE_LEAF_ATTR_HI_S1_GP == 1 << 50
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR == genmask(5, 2)
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R == 1 << 6
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W == 1 << 7
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_SH == genmask(9, 8)
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_SH_IS == 3
    assert d.KVM_PTE_LEAF_ATTR_LO_S2_AF == 1 << 10
    assert d.KVM_PTE_LEAF_ATTR_HI_S2_XN == 1 << 54
    assert d.KVM_PTE_LEAF_ATTR_HI_SW == genmask(58, 55)


def test_52bit_encodings_by_hand() -> None:
    """52-bit OAs split as the LPA/LPA2 formats say."""
    # LPA2, 4KB page: OA = 0b11 << 50 | 0b01 << 48 | 0x1000 -> [9:8] = 0b11, [49:48] = 0b01.
    oa = (0b11 << 50) | (0b01 << 48) | 0x1000
    raw = s1_leaf(oa, 0, ds=True, pa_bits=52).encode()
    assert raw == (0b11 << 8) | (0b01 << 48) | 0x1000 | 0x400 | 0b11
    assert S1Descriptor.decode(raw, K4, 3, ds=True, pa_bits=52).address == oa
    # LPA, 64KB page: OA = 0xa << 48 | 0x1_0000 -> [15:12] = 0xa.
    raw = s2_leaf((0xA << 48) | 0x1_0000, 0xF, granule=K64, pa_bits=52).encode()
    assert (raw >> 12) & 0xF == 0xA and (raw >> 16) & 1 == 1
    # LPA2 table at level -1 pointing at a table above 2^50.
    t = s1_table(1 << 51 | 0x3000, level=-1, ds=True, pa_bits=52)
    assert t.encode() == (0b10 << 8) | 0x3000 | 0b11


# --- round trips ---------------------------------------------------------------------------


@given(s1_leaf_descriptors())
def test_s1_leaf_round_trip(desc: S1Descriptor) -> None:
    """decode(encode(x)) == x for stage-1 blocks and pages."""
    assert S1Descriptor.decode(desc.encode(), desc.granule, desc.level, desc.ds,
                               desc.pa_bits) == desc


@given(s1_table_descriptors())
def test_s1_table_round_trip(desc: S1Descriptor) -> None:
    """decode(encode(x)) == x for stage-1 tables."""
    assert S1Descriptor.decode(desc.encode(), desc.granule, desc.level, desc.ds,
                               desc.pa_bits) == desc


@given(s2_leaf_descriptors())
def test_s2_leaf_round_trip(desc: S2Descriptor) -> None:
    """decode(encode(x)) == x for stage-2 blocks and pages."""
    assert S2Descriptor.decode(desc.encode(), desc.granule, desc.level, desc.ds,
                               desc.pa_bits) == desc


@given(s2_table_descriptors())
def test_s2_table_round_trip(desc: S2Descriptor) -> None:
    """decode(encode(x)) == x for stage-2 tables."""
    assert S2Descriptor.decode(desc.encode(), desc.granule, desc.level, desc.ds,
                               desc.pa_bits) == desc


@given(descriptors())
def test_encoded_descriptors_pass_check(desc: S1Descriptor | S2Descriptor) -> None:
    """An encoded valid descriptor has no RES0 violations and a known type."""
    layout = desc.layout
    assert layout is not None
    assert [p for p in layout.check(desc.encode()) if "SH=0x1" not in p] == []


@given(raw=u64, cfg=oa_configs(), stage=st.sampled_from([1, 2]), data=st.data())
def test_raw_round_trip_drops_only_res0(raw: int, cfg: tuple[Granule, bool, int], stage: int,
                                        data: st.DataObject) -> None:
    """decode then encode of any 64-bit value gives it back minus its RES0 bits."""
    g, ds, pa = cfg
    pa = 52 if ds or pa > 48 else 48  # the OA fields may use every bit the form has
    level = data.draw(st.sampled_from(list(d.levels(g, ds))))
    cls = S1Descriptor if stage == 1 else S2Descriptor
    desc = cls.decode(raw, g, level, ds, pa)
    layout = desc.layout
    expect = raw if layout is None else raw & ~layout.res0_mask
    assert desc.encode() == expect


# --- validation errors ---------------------------------------------------------------------


def test_misaligned_oa_names_the_field() -> None:
    """A block OA not aligned to the block size is an EncodingError naming Layout.OA."""
    with pytest.raises(EncodingError,
                       match=r"S2_BLOCK_L2_4K_OA48\.OA=0x80001000: not aligned to 2MB"):
        s2_leaf(0x8000_1000, 0b0101, level=2)


def test_misaligned_table_address_names_the_field() -> None:
    """A table address not aligned to the granule names Layout.NLTA."""
    with pytest.raises(EncodingError, match=r"S1_TABLE_64K_OA48\.NLTA=0x1000: not aligned to 64KB"):
        s1_table(0x1000, granule=K64, level=1)


def test_oa_beyond_pa_bits() -> None:
    """An OA above the output address size is rejected."""
    with pytest.raises(EncodingError, match=r"S1_PAGE_4K_OA48\.OA=0x10000000000: beyond the "
                                            r"40-bit output address size"):
        s1_leaf(1 << 40, 0, pa_bits=40)


def test_block_where_not_allowed() -> None:
    """A block at a level without blocks is rejected, citing AArch64.BlockDescSupported."""
    with pytest.raises(EncodingError, match="BlockDescSupported"):
        s1_leaf(0, 0, level=0)
    with pytest.raises(EncodingError, match="BlockDescSupported"):
        s2_leaf(0, 0xF, granule=K64, level=1)


def test_field_too_wide() -> None:
    """A field value wider than its bits names Layout.field=0x.."""
    with pytest.raises(EncodingError, match=r"S1_PAGE_4K_OA48\.AttrIndx=0x8: does not fit \[4:2\]"):
        s1_leaf(0, 8)


def test_sh_with_ds_is_rejected() -> None:
    """With DS=1 the leaf has no SH field; giving one is an EncodingError."""
    with pytest.raises(EncodingError, match="sh=3: not a field of S1_PAGE_4K_OA52_LPA2"):
        s1_leaf(0, 0, sh=3, ds=True, pa_bits=52)


def test_leaf_attributes_on_a_table_are_rejected() -> None:
    """A table descriptor with leaf attributes set does not encode."""
    desc = S1Descriptor(type=DescType.TABLE, level=0, granule=K4, address=0x1000, af=True)
    with pytest.raises(EncodingError, match="af=True: not a field of S1_TABLE_4K_OA48"):
        desc.encode()


def test_ignored_outside_ignored_bits() -> None:
    """Bits in ``ignored`` outside the IGNORED fields are rejected."""
    with pytest.raises(EncodingError, match="ignored=0x1000: outside the IGNORED bits"):
        s2_table(0x2000, ignored=0x1000)


def test_bad_level_is_config_error() -> None:
    """A level that does not exist for the granule is a ConfigError."""
    with pytest.raises(ConfigError, match="level=0: no such lookup level for the 64k granule"):
        S2Descriptor.decode(0, K64, 0)


def test_strict_decode_reports_res0() -> None:
    """decode(strict=True) raises on RES0 bits; the lenient default drops them."""
    raw = s2_leaf(0x8000_0000, 0xF).encode() | (1 << 48)
    with pytest.raises(EncodingError, match=r"RES0_49_48=0x1: RES0 bits \[49:48\] set"):
        S2Descriptor.decode(raw, K4, 3, strict=True)
    assert S2Descriptor.decode(raw, K4, 3).address == 0x8000_0000


# --- invalid and reserved descriptors ------------------------------------------------------


def test_invalid_keeps_software_bits() -> None:
    """An invalid descriptor keeps bits [63:1] in ``ignored`` and re-encodes exactly."""
    desc = S1Descriptor.decode(0xDEAD_BEEF_0000_0002, K4, 2)
    assert desc.type is DescType.INVALID and desc.ignored == 0xDEAD_BEEF_0000_0002
    assert desc.encode() == 0xDEAD_BEEF_0000_0002


def test_reserved_block_at_level_3() -> None:
    """0b01 at level 3 decodes as RESERVED (a Translation fault in the walk)."""
    desc = S2Descriptor.decode(0x8000_0401, K4, 3)
    assert desc.type is DescType.RESERVED and desc.layout is None
    assert desc.encode() == 0x8000_0401


# --- shareability and permissions ----------------------------------------------------------


def test_sh_decode() -> None:
    """SH decodes per DecodeShareability; 0b01 allows all three (CONSTRAINED UNPREDICTABLE)."""
    assert sh_decode(0b00) == {Shareability.NSH}
    assert sh_decode(0b10) == {Shareability.OSH}
    assert sh_decode(0b11) == {Shareability.ISH}
    assert sh_decode(0b01) == set(Shareability)
    with pytest.raises(EncodingError):
        sh_decode(4)


def test_shareability_property() -> None:
    """Descriptors expose SH as a set of shareabilities, None without an SH field."""
    assert s1_leaf(0, 0).shareability == {Shareability.ISH}
    assert s1_leaf(0, 0, ds=True, pa_bits=52).shareability is None


@pytest.mark.parametrize("xn,xnx,want", [
    (0b00, True, S2Exec(el1=True, el0=True)),
    (0b01, True, S2Exec(el1=False, el0=True)),  # PXN
    (0b10, True, S2Exec(el1=False, el0=False)),
    (0b11, True, S2Exec(el1=True, el0=False)),  # UXN
    (0b00, False, S2Exec(el1=True, el0=True)),
    (0b01, False, S2Exec(el1=True, el0=True)),  # bit 53 RES0 without XNX
    (0b10, False, S2Exec(el1=False, el0=False)),
    (0b11, False, S2Exec(el1=False, el0=False)),
])
def test_s2_exec(xn: int, xnx: bool, want: S2Exec) -> None:
    """XN[1:0] follows AArch64.S2ApplyOutputPerms with and without FEAT_XNX."""
    assert s2_exec(xn, xnx=xnx) == want


def test_s2ap() -> None:
    """S2AP bit 6 allows reads and bit 7 writes."""
    assert [(d.s2ap_read(v), d.s2ap_write(v)) for v in range(4)] == [
        (False, False), (True, False), (False, True), (True, True)]
    desc = s2_leaf(0, 0xF, 0b01)
    assert desc.readable and not desc.writable
    assert desc.exec_perms() == S2Exec(True, True)


def test_describe_descriptor() -> None:
    """A descriptor describes itself through its field table."""
    rows = {n: r for n, _b, r in s2_leaf(0x8000_0000, 0b0101, xn=0b10).describe()}
    assert rows["OA"] == "0x80000000" and rows["XN"] == "XN" and rows["SH"] == "ISH"
    assert rows["Type"] == "Page"


def test_field_value_bits() -> None:
    """The named bits of a field's value are Arm's AP[2], AP[1], APTable[1:0] and S2AP[1:0]:
    each, shifted back into place, is the descriptor bit the Arm ARM gives (D8.3, D8.4)."""
    assert d.S1_AP_RDONLY << d.S1_AP_SHIFT == 1 << 7  # AP[2] is bit 7
    assert d.S1_AP_USER << d.S1_AP_SHIFT == 1 << 6  # AP[1] is bit 6
    assert d.S1_APTABLE_RDONLY << d.S1_APTABLE_SHIFT == 1 << 62  # APTable[1]
    assert d.S1_APTABLE_NO_EL0 << d.S1_APTABLE_SHIFT == 1 << 61  # APTable[0]
    assert d.S2_S2AP_READ << d.S2_S2AP_SHIFT == 1 << 6  # S2AP[0]
    assert d.S2_S2AP_WRITE << d.S2_S2AP_SHIFT == d.S2_S2AP_W == 1 << 7  # S2AP[1]
    assert d.S2_XN1 == 1 << 54  # XN[1]
    for s2ap in range(4):
        assert d.s2ap_read(s2ap) == bool(s2ap & 1) and d.s2ap_write(s2ap) == bool(s2ap & 2)


def test_fwb_case_bits() -> None:
    """FwbMeaning names its case, MemAttr[2:0], and whether MemAttr[3:1] = 0b111 (NoTagAccess
    where Tagged with FEAT_MTE_PERM), over all sixteen MemAttr values."""
    from memattr.arch.s2memattr import fwb_meaning, fwb_notagaccess

    for memattr in range(16):
        m = fwb_meaning(memattr).result
        assert m.case == memattr % 8
        assert m.notagaccess_if_tagged == fwb_notagaccess(memattr) == (memattr >= 0b1110)
