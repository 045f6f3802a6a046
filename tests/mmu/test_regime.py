"""Regimes: geometry arithmetic for every granule and level count, registers decoded."""

from __future__ import annotations

import pytest

from memattr.arch import registers as R
from memattr.arch.descriptor import Granule
from memattr.errors import ConfigError, EncodingError
from memattr.mmu.regime import (
    Geometry,
    Regime,
    Stage1Regime,
    Stage2Regime,
    vtcr_value,
)

G4, G16, G64 = Granule.K4, Granule.K16, Granule.K64


# (granule, IA bits, DS, start level, root entries).  A level-L descriptor maps
# 2**(shift + (3 - L) * (shift - 3)) bytes; the root resolves ia_bits - level_shift(start) bits.
S1_CASES = [
    (G4, 48, False, 0, 512),  # 48 - 39 = 9 bits at L0
    (G4, 39, False, 1, 512),  # 39 - 30 = 9 bits at L1
    (G4, 30, False, 2, 512),  # 30 - 21 = 9 bits at L2
    (G4, 21, False, 3, 512),  # 21 - 12 = 9 bits at L3 (FEAT_TTST)
    (G4, 52, True, -1, 16),  # 52 - 48 = 4 bits at L-1 (FEAT_LPA2)
    (G16, 48, False, 0, 2),  # 48 - 47 = 1 bit at L0
    (G16, 47, False, 1, 2048),  # 47 - 36 = 11 bits at L1
    (G16, 36, False, 2, 2048),  # 36 - 25 = 11 bits at L2
    (G16, 25, False, 3, 2048),  # 25 - 14 = 11 bits at L3
    (G64, 48, False, 1, 64),  # 48 - 42 = 6 bits at L1
    (G64, 52, False, 1, 1024),  # 52 - 42 = 10 bits at L1 (FEAT_LVA)
    (G64, 42, False, 2, 8192),  # 42 - 29 = 13 bits at L2
    (G64, 25, False, 3, 512),  # 25 - 16 = 9 bits at L3
]


@pytest.mark.parametrize(("granule", "bits", "ds", "start", "entries"), S1_CASES)
def test_stage1_start_levels(granule: Granule, bits: int, ds: bool, start: int,
                             entries: int) -> None:
    """Stage 1 starts where ASL AArch64.S1StartLevel says, with the root size it implies."""
    oa = 52 if bits > 48 else 48
    g = Geometry.for_stage1(granule, bits, oa, ds)
    assert g.start_level == start
    assert g.entries(start) == entries
    assert g.concat == 1


# (granule, IPA bits, start level, concatenated tables): KVM picks the highest start level
# whose root needs at most 16 tables (ARM64_HW_PGTABLE_LEVELS(ipa - 4)).
S2_CASES = [
    (G4, 40, 1, 2),  # 40 - 30 = 10 bits at L1: 2 tables of 512
    (G4, 48, 0, 1),  # 48 - 39 = 9 bits
    (G4, 44, 0, 1),  # 44 - 39 = 5 bits: 32 entries (44 - 30 = 14 > 9 + 4 at L1)
    (G4, 32, 2, 4),  # 32 - 21 = 11 bits at L2: 4 tables
    (G16, 40, 2, 16),  # 40 - 25 = 15 bits at L2: 16 tables of 2048
    (G16, 47, 1, 1),  # 47 - 36 = 11 bits
    (G64, 42, 2, 1),  # 42 - 29 = 13 bits
    (G64, 46, 2, 16),  # 46 - 29 = 17 bits: 16 tables of 8192
    (G64, 52, 1, 1),  # 52 - 42 = 10 bits (FEAT_LPA)
]


@pytest.mark.parametrize(("granule", "bits", "start", "concat"), S2_CASES)
def test_stage2_start_levels_and_concatenation(granule: Granule, bits: int, start: int,
                                               concat: int) -> None:
    """Stage-2 geometry, and VTCR_EL2 built from it decodes back to the same shape."""
    oa = 52 if bits > 48 else 48
    g = Geometry.for_stage2(granule, bits, oa)
    assert (g.start_level, g.concat) == (start, concat)
    assert g.root_bytes == max(concat * granule.size, g.table_bytes(start))
    reg = Stage2Regime(vtcr_value(g, oa))
    assert reg.geometry == g
    assert reg.params.concat == concat


def test_index_arithmetic() -> None:
    """Indices of VA 0x8123_4567_8abc in a 4K, 48-bit walk, computed by hand."""
    g = Geometry.for_stage1(G4, 48)
    va = 0x8123_4567_8ABC
    # L0: VA[47:39] = 0x8123_4567_8abc >> 39 = 0x102; L1: VA[38:30] = 0x8d;
    # L2: VA[29:21] = 0x2b; L3: VA[20:12] = 0x678 & 0x1ff = 0x78.
    assert [g.index(va, lv) for lv in g.levels] == [0x102, 0x8D, 0x2B, 0x78]
    assert [g.block_size(lv) for lv in g.levels] == [1 << 39, 1 << 30, 1 << 21, 1 << 12]


def test_contiguous_counts() -> None:
    """Contiguous sets: 4K 16 entries; 16K 128 at L3, 32 at L2; 64K 32 (Arm ARM D8.6.1)."""
    assert Geometry.for_stage1(G4, 48).contiguous_entries(3) == 16
    assert Geometry.for_stage1(G4, 48).contiguous_entries(2) == 16
    assert Geometry.for_stage1(G16, 47).contiguous_entries(3) == 128
    assert Geometry.for_stage1(G16, 47).contiguous_entries(2) == 32
    assert Geometry.for_stage1(G64, 48).contiguous_entries(3) == 32
    assert Geometry.for_stage1(G64, 48).contiguous_entries(2) == 32


def test_geometry_errors() -> None:
    """Impossible shapes are refused with the offending value."""
    with pytest.raises(ConfigError, match="concat"):
        Geometry(2, G4, 40, 1, 48, False, 1)
    with pytest.raises(ConfigError, match="resolves"):
        Geometry(1, G4, 48, 1, 48, False, 1)
    with pytest.raises(ConfigError, match="52-bit"):
        Geometry(2, G4, 40, 1, 52, False, 2)
    with pytest.raises(EncodingError, match="ipa_bits=99"):
        Geometry.for_stage2(G4, 99)


def test_stage1_regime_halves_and_asid() -> None:
    """TTBR0/TTBR1 selection by VA[55], range checks, ASID from TTBR0 (A1 = 0)."""
    reg = Stage1Regime.simple(G4, 48, 40, mair=0, ttbr0=(5 << 48) | 0x4000_0000,
                              ttbr1=0x5000_0000)
    assert reg.half_of(0x1234).n == 0
    assert reg.half_of(0xFFFF_8000_0000_0000).n == 1
    assert reg.halves[0].root == 0x4000_0000 and reg.halves[1].root == 0x5000_0000
    assert reg.asid == 5
    assert reg.va_in_range(0x0000_FFFF_FFFF_FFFF)
    assert not reg.va_in_range(0x0001_0000_0000_0000)
    assert reg.va_in_range(0xFFFF_0000_0000_0000)
    assert not reg.va_in_range(0xFFFE_FFFF_FFFF_FFFF)
    assert reg.ips_bits == 40


def test_stage2_regime_vmid_and_root() -> None:
    """VMID and the root come from VTTBR_EL2."""
    vtcr = Stage2Regime.simple(G4, 40).vtcr
    reg = Stage2Regime(vtcr, (9 << 48) | 0x8000_2000)
    assert reg.vmid == 9
    # The root of two concatenated 4K tables is 8 KiB aligned: bit 12 is ignored.
    assert reg.root == 0x8000_2000 & ~0x1FFF
    assert R.VTCR_EL2.get(vtcr, "SL0") == 1  # 4K: SL0=1 starts at level 1


def test_regime_requires_stage2_registers() -> None:
    """HCR_EL2.VM without VTCR_EL2 is a ConfigError; VM=0 needs none."""
    tcr = Stage1Regime.simple(mair=0).tcr
    with pytest.raises(ConfigError, match="VM or DC"):
        Regime.from_registers(tcr=tcr, mair=0, hcr=1)
    reg = Regime.from_registers(tcr=tcr, mair=0, hcr=0)
    assert not reg.s2_enabled and reg.s1_enabled and reg.vmid == 0
