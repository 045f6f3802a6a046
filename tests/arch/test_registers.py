"""Tests for memattr.arch.registers: TCR/VTCR/HCR/SCTLR/TTBR tables, start levels, decoders."""

from __future__ import annotations

import pytest

from memattr.arch import registers as r
from memattr.arch.descriptor import Granule
from memattr.errors import EncodingError, ReservedError

K4, K16, K64 = Granule.K4, Granule.K16, Granule.K64


def _pos(layout: r.Layout, name: str) -> tuple[int, int]:
    f = layout.field(name)
    return (f.msb, f.lsb)


# --- bit positions -------------------------------------------------------------------------


def test_hcr_el2_bits_match_linux_kvm_arm_h() -> None:
    """HCR_EL2 bit numbers equal Linux asm/kvm_arm.h HCR_* (and the Arm ARM)."""
    # arch/arm64/include/asm/kvm_arm.h: HCR_VM BIT 0, HCR_SWIO 1, HCR_PTW 2, HCR_FMO 3,
    # HCR_IMO 4, HCR_AMO 5, HCR_DC 12, HCR_TGE 27, HCR_RW 31, HCR_CD 32, HCR_ID 33, HCR_E2H 34,
    # HCR_TLOR 35, HCR_APK 40, HCR_API 41, HCR_FWB 46, HCR_FIEN 47, HCR_AMVOFFEN 51,
    # HCR_ATA 56, HCR_DCT 57, HCR_TID5 58.
    linux = {"VM": 0, "SWIO": 1, "PTW": 2, "FMO": 3, "IMO": 4, "AMO": 5, "VF": 6, "VI": 7,
             "VSE": 8, "FB": 9, "DC": 12, "TWI": 13, "TWE": 14, "TID3": 18, "TSC": 19,
             "TSW": 22, "TVM": 26, "TGE": 27, "TDZ": 28, "HCD": 29, "TRVM": 30, "RW": 31,
             "CD": 32, "ID": 33, "E2H": 34, "TLOR": 35, "TERR": 36, "TEA": 37, "APK": 40,
             "API": 41, "FWB": 46, "FIEN": 47, "AMVOFFEN": 51, "ATA": 56, "DCT": 57,
             "TID5": 58}
    assert {n: r.HCR_EL2.field(n).lsb for n in linux} == linux
    assert _pos(r.HCR_EL2, "BSU") == (11, 10)
    assert _pos(r.HCR_EL2, "TWEDEL") == (63, 60)


def test_sctlr_el1_translation_bits() -> None:
    """SCTLR_EL1 M, A, C, SA, I, WXN, E0E, EE are at bits 0, 1, 2, 3, 12, 19, 24, 25."""
    want = {"M": 0, "A": 1, "C": 2, "SA": 3, "I": 12, "WXN": 19, "E0E": 24, "EE": 25}
    assert {n: r.SCTLR_EL1.field(n).lsb for n in want} == want
    assert r.SCTLR_EL1.res0_mask == 1 << 17


def test_tcr_el1_positions() -> None:
    """TCR_EL1 fields sit at the Arm ARM D24.2.194 positions."""
    want = {"T0SZ": (5, 0), "EPD0": (7, 7), "IRGN0": (9, 8), "ORGN0": (11, 10),
            "SH0": (13, 12), "TG0": (15, 14), "T1SZ": (21, 16), "A1": (22, 22),
            "EPD1": (23, 23), "IRGN1": (25, 24), "ORGN1": (27, 26), "SH1": (29, 28),
            "TG1": (31, 30), "IPS": (34, 32), "AS": (36, 36), "TBI0": (37, 37),
            "TBI1": (38, 38), "HA": (39, 39), "HD": (40, 40), "HPD0": (41, 41),
            "HPD1": (42, 42), "TBID0": (51, 51), "TBID1": (52, 52), "DS": (59, 59)}
    assert {n: _pos(r.TCR_EL1, n) for n in want} == want
    assert r.TCR_EL1.res0_mask == (0b11 << 62) | (1 << 35) | (1 << 6)


def test_vtcr_el2_positions() -> None:
    """VTCR_EL2 fields sit at the Arm ARM positions; bit 31 is RES1."""
    want = {"T0SZ": (5, 0), "SL0": (7, 6), "IRGN0": (9, 8), "ORGN0": (11, 10),
            "SH0": (13, 12), "TG0": (15, 14), "PS": (18, 16), "VS": (19, 19), "HA": (21, 21),
            "HD": (22, 22), "NSW": (29, 29), "NSA": (30, 30), "DS": (32, 32), "SL2": (33, 33),
            "D128": (38, 38), "HAFT": (44, 44)}
    assert {n: _pos(r.VTCR_EL2, n) for n in want} == want
    assert r.VTCR_EL2.res1_mask == 1 << 31
    assert r.VTCR_EL2.encode() == 0x8000_0000


def test_ttbr_layouts() -> None:
    """TTBR0/1_EL1 share one table: ASID[63:48], BADDR[47:1], CnP[0]; VTTBR has VMID[63:48]."""
    assert r.TTBR0_EL1 is r.TTBR1_EL1 is r.TTBRx_EL1
    assert _pos(r.TTBRx_EL1, "ASID") == (63, 48) and _pos(r.TTBRx_EL1, "CnP") == (0, 0)
    assert _pos(r.VTTBR_EL2, "VMID") == (63, 48) and _pos(r.VTTBR_EL2, "BADDR") == (47, 1)
    v = r.VTTBR_EL2.encode(VMID=5) | 0x4_1234_5000
    assert r.VTTBR_EL2.get(v, "VMID") == 5 and r.VTTBR_EL2.address(v) == 0x4_1234_5000


def test_ttb_base_address_52bit() -> None:
    """With a 52-bit OA, TTBR bits[5:2] hold base address bits[51:48]."""
    v = 0x0000_1234_5678_0040 | (0xA << 2) | 1  # CnP set
    assert r.ttb_base_address(v, pa_bits=52) == (0xA << 48) | 0x1234_5678_0040
    assert r.ttb_base_address(0x0000_1234_5678_9000 | 1) == 0x1234_5678_9000


# --- TG encodings --------------------------------------------------------------------------


def test_tg0_encoding() -> None:
    """TG0: 0b00 4KB, 0b01 64KB, 0b10 16KB; 0b11 reserved."""
    assert [r.tg0_granule(v) for v in range(3)] == [K4, K64, K16]
    assert [r.tg0_encoding(g) for g in (K4, K16, K64)] == [0b00, 0b10, 0b01]
    with pytest.raises(ReservedError, match=r"TCR_EL1\.TG0=0x3: reserved \(allowed: 0x0 4KB, "
                                            r"0x1 64KB, 0x2 16KB\)"):
        r.tg0_granule(3)


def test_tg1_encoding() -> None:
    """TG1: 0b01 16KB, 0b10 4KB, 0b11 64KB; 0b00 reserved."""
    assert [r.tg1_granule(v) for v in (1, 2, 3)] == [K16, K4, K64]
    assert [r.tg1_encoding(g) for g in (K4, K16, K64)] == [0b10, 0b01, 0b11]
    with pytest.raises(ReservedError, match=r"TCR_EL1\.TG1=0x0: reserved"):
        r.tg1_granule(0)


def test_pa_sizes() -> None:
    """IPS/PS decode to 32..52 bits; 0b111 is reserved; ASL caps 52 to 48 without LPA/LPA2."""
    assert [r.pa_size_bits(v) for v in range(7)] == [32, 36, 40, 42, 44, 48, 52]
    assert r.ps_encoding(40) == 0b010
    with pytest.raises(ReservedError, match=r"VTCR_EL2\.PS=0x7: reserved"):
        r.pa_size_bits(7)
    assert r.effective_pa_bits(52, K4, ds=False) == 48
    assert r.effective_pa_bits(52, K4, ds=True) == 52
    assert r.effective_pa_bits(52, K64, ds=False) == 52


# --- stage-1 start level -------------------------------------------------------------------


def _s1_expected(g: Granule, ia: int) -> int:
    """Start level by table lookup, independent of the ASL formula."""
    # Largest input size one table at each level covers (52-bit with DS=1 / FEAT_LVA).
    top_bits_at = {K4: {-1: 52, 0: 48, 1: 39, 2: 30, 3: 21},
                   K16: {0: 52, 1: 47, 2: 36, 3: 25},
                   K64: {1: 52, 2: 42, 3: 29}}[g]
    # The walk starts at the deepest level whose single table still covers ``ia`` bits.
    for level in sorted(top_bits_at, reverse=True):
        if ia <= top_bits_at[level]:
            return level
    raise AssertionError


@pytest.mark.parametrize("g", list(Granule))
def test_s1_start_level_table(g: Granule) -> None:
    """AArch64.S1StartLevel matches the per-granule level coverage for every legal TxSZ."""
    ds = g is not K64
    lo = r.s1_min_txsz(g, ds, lva=True)
    for txsz in range(lo, r.max_txsz(g) + 1):
        assert r.s1_start_level(g, txsz, ds, lva=True) == _s1_expected(g, 64 - txsz), txsz


def test_s1_start_level_examples() -> None:
    """Common VA sizes: 4KB 48-bit L0, 39-bit L1; 64KB 48-bit L1, 42-bit L2; 16KB 47-bit L1."""
    assert r.s1_start_level(K4, 16) == 0
    assert r.s1_start_level(K4, 25) == 1
    assert r.s1_start_level(K64, 16) == 1
    assert r.s1_start_level(K64, 22) == 2
    assert r.s1_start_level(K16, 17) == 1
    assert r.s1_start_level(K4, 12, ds=True) == -1


def test_s1_txsz_out_of_range() -> None:
    """TxSZ below the minimum or above 39 is an EncodingError naming the field."""
    with pytest.raises(EncodingError, match=r"TCR_EL1\.T0SZ=0xf: out of range for the 4k "
                                            r"granule \(allowed 16\.\.39"):
        r.s1_start_level(K4, 15)
    with pytest.raises(EncodingError, match=r"TCR_EL1\.T1SZ=0x28"):
        r.s1_start_level(K4, 40, field="TCR_EL1.T1SZ")
    assert r.s1_start_level(K4, 48, ttst=True) == 3


# --- stage-2 start level and concatenation -------------------------------------------------

S2_START = [
    # granule, SL0, SL2, DS, TTST -> level (ASL AArch64.S2StartLevel)
    (K4, 0b00, 0, False, False, 2),
    (K4, 0b01, 0, False, False, 1),
    (K4, 0b10, 0, False, False, 0),
    (K4, 0b11, 0, False, True, 3),
    (K4, 0b00, 1, True, False, -1),
    (K4, 0b00, 1, False, False, 2),  # SL2 is RES0 (ignored) unless DS=1
    (K16, 0b00, 0, False, False, 3),
    (K16, 0b01, 0, False, False, 2),
    (K16, 0b10, 0, False, False, 1),
    (K16, 0b11, 0, True, False, 0),
    (K64, 0b00, 0, False, False, 3),
    (K64, 0b01, 0, False, False, 2),
    (K64, 0b10, 0, False, False, 1),
]


@pytest.mark.parametrize("g,sl0,sl2,ds,ttst,level", S2_START)
def test_s2_start_level_table(g: Granule, sl0: int, sl2: int, ds: bool, ttst: bool,
                              level: int) -> None:
    """VTCR_EL2.SL0/SL2 map to start levels as AArch64.S2StartLevel says."""
    assert r.s2_start_level(g, sl0, sl2, ds, ttst=ttst) == level


@pytest.mark.parametrize("g,sl0,sl2,ds,msg", [
    (K64, 0b11, 0, False, r"VTCR_EL2\.SL0=0x3: reserved for the 64k granule"),
    (K4, 0b11, 0, False, r"VTCR_EL2\.SL0=0x3: reserved without FEAT_TTST for the 4k"),
    (K16, 0b11, 0, False, r"VTCR_EL2\.SL0=0x3: reserved unless DS=1"),
    (K4, 0b01, 1, True, r"VTCR_EL2\.SL2:SL0=0x5: reserved for the 4k granule"),
])
def test_s2_reserved_sl0(g: Granule, sl0: int, sl2: int, ds: bool, msg: str) -> None:
    """Reserved SL0 (and SL2:SL0) encodings raise ReservedError naming the field."""
    with pytest.raises(ReservedError, match=msg):
        r.s2_start_level(g, sl0, sl2, ds)


@pytest.mark.parametrize("g,t0sz,sl0,sl2,ds,level,tables", [
    (K4, 24, 0b01, 0, False, 1, 2),  # Linux: 40-bit IPA, 4KB: two concatenated L1 tables
    (K4, 16, 0b10, 0, False, 0, 1),  # 48-bit IPA from level 0
    (K4, 25, 0b01, 0, False, 1, 1),  # 39-bit IPA: one full L1 table
    (K4, 21, 0b01, 0, False, 1, 16),  # 43-bit IPA: sixteen L1 tables
    (K4, 32, 0b00, 0, False, 2, 4),  # 32-bit IPA from level 2: four L2 tables
    (K16, 24, 0b01, 0, False, 2, 16),  # Linux: 40-bit IPA, 16KB: sixteen L2 tables
    (K16, 12, 0b11, 0, True, 0, 1),  # 52-bit IPA, LPA2
    (K64, 24, 0b01, 0, False, 2, 1),  # Linux: 40-bit IPA, 64KB: one L2 table
    (K64, 12, 0b10, 0, False, 1, 1),  # 52-bit IPA, FEAT_LPA
    (K4, 12, 0b00, 1, True, -1, 1),  # 52-bit IPA from level -1
    (K4, 14, 0b10, 0, True, 0, 4),  # 50-bit IPA from level 0 with DS: four L0 tables
])
def test_s2_levels_and_concatenation(g: Granule, t0sz: int, sl0: int, sl2: int, ds: bool,
                                     level: int, tables: int) -> None:
    """Start level and concatenated root tables for common VTCR_EL2 settings."""
    ps = r.ps_encoding(52 if 64 - t0sz > 48 else 48)
    v = r.VTCR_EL2.encode(T0SZ=t0sz, SL0=sl0, SL2=sl2, DS=int(ds), TG0=r.tg0_encoding(g),
                          PS=ps)
    vt = r.decode_vtcr_el2(v)
    assert (vt.start_level, vt.concatenated, vt.ia_bits) == (level, tables, 64 - t0sz)


@pytest.mark.parametrize("g", list(Granule))
def test_s2_concatenation_exhaustive(g: Granule) -> None:
    """For every T0SZ and start level, consistent settings need 1..16 tables covering the IPA."""
    for level in range(g.min_level(True), 4):
        for t0sz in range(0, 64):
            ia = 64 - t0sz
            if r.s2_inconsistent_sl(g, t0sz, level):
                with pytest.raises(EncodingError, match="S2InconsistentSL"):
                    r.s2_concatenated_tables(g, t0sz, level)
                continue
            n = r.s2_concatenated_tables(g, t0sz, level)
            one_table = g.shift + (4 - level) * g.bits_per_level
            assert 1 <= n <= 16
            assert n << one_table >= 1 << ia  # the tables cover the IPA space
            assert n == 1 or (n << one_table) == 1 << ia  # exactly, when concatenated
            assert ia > one_table - g.bits_per_level  # at least one bit is resolved here


def test_inconsistent_sl_is_named() -> None:
    """A 48-bit IPA cannot start at level 2 with 4KB: EncodingError citing the ASL rule."""
    v = r.VTCR_EL2.encode(T0SZ=16, SL0=0b00, TG0=0, PS=0b101)
    with pytest.raises(EncodingError, match=r"VTCR_EL2\.T0SZ=0x10: a 48-bit IPA cannot start "
                                            r"at level 2 .*S2InconsistentSL"):
        r.decode_vtcr_el2(v)


# --- decoders ------------------------------------------------------------------------------


def test_decode_vtcr_linux_default() -> None:
    """Linux's 4KB, 40-bit IPA VTCR_EL2 (0x80023558) decodes to L1 with 2 tables."""
    # T0SZ 24 (0x18) | SL0 1 << 6 (0x40) | IRGN0 WBWA 1 << 8 | ORGN0 WBWA 1 << 10 |
    # SH0 ISH 3 << 12 | TG0 4KB 0 | PS 40-bit 2 << 16 | RES1 bit 31 = 0x80023558.
    vt = r.decode_vtcr_el2(0x8002_3558)
    assert (vt.t0sz, vt.sl0, vt.tg0, vt.pa_bits, vt.sh0, vt.irgn0, vt.orgn0) == (
        24, 1, K4, 40, 3, 1, 1)
    assert (vt.start_level, vt.concatenated, vt.vmid_bits, vt.ds) == (1, 2, 8, False)


def test_decode_vtcr_errors() -> None:
    """Reserved TG0/PS, DS with 64KB and an out-of-range T0SZ name the field."""
    base = dict(T0SZ=24, SL0=1, PS=2)
    with pytest.raises(ReservedError, match=r"VTCR_EL2\.TG0=0x3: reserved"):
        r.decode_vtcr_el2(r.VTCR_EL2.encode(TG0=3, **base))
    with pytest.raises(ReservedError, match=r"VTCR_EL2\.PS=0x7: reserved"):
        r.decode_vtcr_el2(r.VTCR_EL2.encode(T0SZ=24, SL0=1, PS=7))
    with pytest.raises(EncodingError, match=r"VTCR_EL2\.DS=0x1: RES0 with the 64KB granule"):
        r.decode_vtcr_el2(r.VTCR_EL2.encode(TG0=1, DS=1, **base))
    with pytest.raises(EncodingError, match=r"VTCR_EL2\.T0SZ=0xc: out of range for the 4k"):
        r.decode_vtcr_el2(r.VTCR_EL2.encode(T0SZ=12, SL0=2, PS=6))


def _tcr(**kw: int) -> int:
    fields = dict(T0SZ=16, T1SZ=16, TG0=0b00, TG1=0b10, IRGN0=1, ORGN0=1, SH0=3, IRGN1=1,
                  ORGN1=1, SH1=3, IPS=0b101, AS=1, TBI1=1)
    fields.update(kw)
    return r.TCR_EL1.encode(**fields)


def test_decode_tcr_el1() -> None:
    """A Linux-style 48-bit VA, 4KB TCR_EL1 decodes both halves to level 0."""
    t = r.decode_tcr_el1(_tcr())
    assert (t.t0.granule, t.t0.start_level, t.t0.ia_bits) == (K4, 0, 48)
    assert (t.t1.granule, t.t1.start_level, t.t1.tbi) == (K4, 0, True)
    assert (t.ips_bits, t.as16, t.a1, t.ds) == (48, True, False, False)
    t = r.decode_tcr_el1(_tcr(TG0=0b01, TG1=0b11, T0SZ=22))
    assert (t.t0.granule, t.t0.start_level, t.t1.granule, t.t1.start_level) == (K64, 2, K64, 1)


def test_decode_tcr_el1_disabled_half_may_be_reserved() -> None:
    """With EPD1=1 a reserved TG1 is tolerated; with EPD1=0 it is a ReservedError."""
    t = r.decode_tcr_el1(_tcr(TG1=0, EPD1=1))
    assert t.t1.granule is None and t.t1.start_level is None and t.t1.epd
    with pytest.raises(ReservedError, match=r"TCR_EL1\.TG1=0x0: reserved"):
        r.decode_tcr_el1(_tcr(TG1=0))
    with pytest.raises(ReservedError, match=r"TCR_EL1\.IPS=0x7: reserved"):
        r.decode_tcr_el1(_tcr(IPS=7))


def test_decode_tcr_el1_ds() -> None:
    """DS=1 allows T0SZ=12 with 4KB (level -1) and is ignored for a 64KB half."""
    t = r.decode_tcr_el1(_tcr(DS=1, T0SZ=12, TG1=0b11, T1SZ=16, IPS=0b110))
    assert (t.t0.start_level, t.t0.ds, t.t1.ds, t.t1.start_level) == (-1, True, False, 1)


# --- the DS=1 shareability rule ------------------------------------------------------------


@pytest.mark.parametrize("desc_sh", [0b00, 0b10, 0b11])
@pytest.mark.parametrize("walk_sh", [0b00, 0b10, 0b11])
def test_leaf_shareability(desc_sh: int, walk_sh: int) -> None:
    """DS=0: the descriptor's SH; DS=1: TCR_ELx.SHn / VTCR_EL2.SH0, whatever bits[9:8] hold."""
    assert r.leaf_shareability(desc_sh, ds=False, walk_sh=walk_sh) == desc_sh
    assert r.leaf_shareability(None, ds=True, walk_sh=walk_sh) == walk_sh
    assert r.leaf_shareability(desc_sh, ds=True, walk_sh=walk_sh) == walk_sh


def test_leaf_shareability_needs_sh_without_ds() -> None:
    """A DS=0 leaf without an SH value is a caller error, named."""
    with pytest.raises(EncodingError, match="SH: a DS=0"):
        r.leaf_shareability(None, ds=False, walk_sh=0b11)
