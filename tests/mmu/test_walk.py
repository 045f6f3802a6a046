"""Two-stage walks: hand-computed walks for every granule and level count, blocks and
contiguous sets, every fault kind at every level, S1PTW faults, priorities and syndromes."""

from __future__ import annotations

import pytest
from tests.mmu.helpers import RAM_IPA, RAM_PA, Setup

from memattr.arch.descriptor import DescType, Granule, s1_table
from memattr.arch.esr import FaultKind, decode_esr
from memattr.arch.memtype import DeviceType
from memattr.errors import EncodingError
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
from memattr.mmu.pgtable import PageTable, s1_attrs, s2_attrs
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import (
    HCR_DEFAULT,
    SCTLR_DEFAULT,
    Geometry,
    Regime,
    Stage1Regime,
    Stage2Regime,
    vtcr_value,
)
from memattr.mmu.walk import Access, AccessKind, walk, walk_stage2

G4, G16, G64 = Granule.K4, Granule.K16, Granule.K64
R, W, X = AccessKind.READ, AccessKind.WRITE, AccessKind.EXEC
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
NORMAL1 = s1_attrs(attr_index=0)  # Linux MT_NORMAL (MAIR 0xff)
NC1 = s1_attrs(attr_index=2)  # MT_NORMAL_NC (0x44)
DEV1 = s1_attrs(attr_index=4)  # MT_DEVICE_nGnRE (0x04)
FWB = 1 << 46
PTW = 1 << 2


# --- hand-computed walks ---------------------------------------------------------------------

# (granule, VA bits, DS, VA, expected indices root first, page offset).  Index at level L is
# VA[shift(L) + bits(L) - 1 : shift(L)] with shift(L) = g + (3 - L) * (g - 3), g = 12/14/16.
S1_WALKS = [
    # 4K 48-bit, shifts 39/30/21/12: 0x8123_4567_8abc >> 39 = 0x102, >> 30 & 0x1ff = 0x8d,
    # >> 21 & 0x1ff = 0x2b, >> 12 & 0x1ff = 0x678 & 0x1ff = 0x78.
    (G4, 48, False, 0x8123_4567_8ABC, [0x102, 0x8D, 0x2B, 0x78], 0xABC),
    # 4K 39-bit, shifts 30/21/12: 0x7f_1234_5678 >> 30 = 0x1fc, >> 21 & 0x1ff = 0x91,
    # >> 12 & 0x1ff = 0x145.
    (G4, 39, False, 0x7F_1234_5678, [0x1FC, 0x91, 0x145], 0x678),
    # 4K 30-bit, shifts 21/12: 0x3123_4567 >> 21 = 0x189, >> 12 = 0x31234, & 0x1ff = 0x34.
    (G4, 30, False, 0x3123_4567, [0x189, 0x34], 0x567),
    # 4K 21-bit (FEAT_TTST, one level): 0x1F_F123 >> 12 = 0x1ff.
    (G4, 21, False, 0x1F_F123, [0x1FF], 0x123),
    # 4K 52-bit, DS=1, five levels (-1..3), shifts 48/39/30/21/12: 0xf_8123_4567_8abc >> 48 =
    # 0xf, then 0x102, 0x8d, 0x2b, 0x78 as in the 48-bit case.
    (G4, 52, True, 0xF_8123_4567_8ABC, [0xF, 0x102, 0x8D, 0x2B, 0x78], 0xABC),
    # 16K 47-bit, shifts 36/25/14: 0x4000_1234_5678 >> 36 = 0x400, >> 25 & 0x7ff = 0x9,
    # >> 14 & 0x7ff = 0x48d1 & 0x7ff = 0xd1; offset & 0x3fff = 0x1678.
    (G16, 47, False, 0x4000_1234_5678, [0x400, 0x9, 0xD1], 0x1678),
    # 16K 48-bit, four levels (L0 has two entries): 0x8000_1234_5678 >> 47 = 1, then 0 (bit
    # 46..36 of 0x8000_1234_5678 are 0), 0x9, 0xd1.
    (G16, 48, False, 0x8000_1234_5678, [1, 0, 0x9, 0xD1], 0x1678),
    # 64K 48-bit, shifts 42/29/16: 0xabcd_1234_5678 >> 42 = 0x2a, >> 29 & 0x1fff = 0x1e68,
    # >> 16 & 0x1fff = 0xabcd1234 & 0x1fff = 0x1234.
    (G64, 48, False, 0xABCD_1234_5678, [0x2A, 0x1E68, 0x1234], 0x5678),
    # 64K 42-bit, shifts 29/16: 0x3cd_1234_5678 >> 29 = 0x1e68, then 0x1234.
    (G64, 42, False, 0x3CD_1234_5678, [0x1E68, 0x1234], 0x5678),
]


@pytest.mark.parametrize(("granule", "bits", "ds", "va", "indices", "offset"), S1_WALKS)
def test_stage1_hand_computed(granule: Granule, bits: int, ds: bool, va: int,
                              indices: list[int], offset: int) -> None:
    """A stage-1-only walk reads one descriptor per level at table + 8 * index."""
    ips = 52 if ds else 48
    s = Setup(s1=(granule, bits), s2=None, ips=ips, ds1=ds)
    assert s.s1 is not None
    page = va & ~(granule.size - 1)
    oa = 0xC_0000_0000 + granule.size * 7
    s.s1.map(page, granule.size, oa, s1_attrs(attr_index=0, sh=None if ds else 0b11),
             max_leaf=granule.size)
    r = s.walk(va)
    assert r.ok, r.fault
    assert [st.index for st in r.steps] == indices
    assert r.steps[0].table == s.s1.root
    for st in r.steps:
        assert st.stage == 1 and st.desc_pa == st.table + 8 * st.index
    assert [st.type for st in r.steps] == [DescType.TABLE] * (len(indices) - 1) + [DescType.PAGE]
    assert r.pa == oa + offset


# (granule, IPA bits, IPA, indices (root index counts all concatenated tables), offset)
S2_WALKS = [
    # 4K 40-bit: start L1 with 2 concatenated tables (1024 entries): 0xab_cdef_1234 >> 30 =
    # 0x2af, >> 21 & 0x1ff = 0x6f, >> 12 & 0x1ff = 0xf1.
    (G4, 40, 0xAB_CDEF_1234, [0x2AF, 0x6F, 0xF1], 0x234),
    # 16K 40-bit: start L2 with 16 tables (32768 entries): >> 25 = 0x55e6, >> 14 & 0x7ff = 0x7bc.
    (G16, 40, 0xAB_CDEF_1234, [0x55E6, 0x7BC], 0x1234),
    # 64K 46-bit: start L2 with 16 tables (131072 entries): 0x3cde_f123_4567 >> 29 = 0x1e6f7,
    # >> 16 & 0x1fff = 0x1123.
    (G64, 46, 0x3CDE_F123_4567, [0x1E6F7, 0x1123], 0x4567),
]


@pytest.mark.parametrize(("granule", "bits", "ipa", "indices", "offset"), S2_WALKS)
def test_stage2_hand_computed_with_concatenated_roots(granule: Granule, bits: int, ipa: int,
                                                      indices: list[int], offset: int) -> None:
    """A stage-2 walk indexes the concatenated root tables as one table."""
    mem = PhysMem(52)
    g = Geometry.for_stage2(granule, bits)
    pt = PageTable(mem, g, vmid=1)
    page = ipa & ~(granule.size - 1)
    pt.map(page, granule.size, 0x8_0000_0000, s2_attrs(memattr=0xF), max_leaf=granule.size)
    s2 = Stage2Regime(vtcr_value(g), pt.vttbr)
    r = walk_stage2(mem, s2, ipa)
    assert r.ok and r.pa == 0x8_0000_0000 + offset
    assert [st.index for st in r.steps] == indices
    assert r.steps[0].desc_pa == pt.root + 8 * indices[0]


def test_two_stage_walk_translates_every_table_read() -> None:
    """4 S1 levels, each descriptor read preceded by its stage-2 walk (S1PTW), then stage 2
    of the output: 4 + 4 * 3 + 3 = 19 descriptor reads for a 4K/48-bit over 4K/40-bit walk."""
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None
    s.s1.map(0x1234_5000, 4 * KIB, RAM_IPA + 0x20_0000, NORMAL1)
    r = s.walk(0x1234_5678)
    assert r.ok and r.pa == RAM_PA + 0x20_0678
    assert len(r.steps) == 19
    assert [st.stage for st in r.steps] == [2, 2, 2, 1] * 4 + [2, 2, 2]
    assert all(st.s1ptw for st in r.steps[:16] if st.stage == 2)
    assert not any(st.s1ptw for st in r.steps[16:])
    # The first S1PTW walk translates the IPA of the root descriptor: root + 8 * VA[47:39].
    assert r.steps[0].ia == s.s1.root
    t = r.translation
    assert t is not None and t.attrs is not None and t.attrs.is_wb
    assert (t.s1_level, t.s2_level, t.size) == (3, 3, 4096)


def test_blocks_and_contiguous_sets_translate() -> None:
    """1G and 2M blocks and a contiguous run of pages give the expected PA and sizes."""
    s = Setup()
    assert s.s1 is not None
    s.s1.map(GIB, GIB, 0, NORMAL1)  # IPA 0: outside guest RAM, stage-2 translation fault
    s.s1.map(2 * GIB, 2 * MIB, RAM_IPA + 2 * MIB, NORMAL1)
    s.s1.map(3 * GIB, 64 * KIB, RAM_IPA + 4 * MIB, NORMAL1, contiguous=True)
    r = s.walk(2 * GIB + 0x1234)
    assert r.ok and r.pa == RAM_PA + 2 * MIB + 0x1234 and r.translation.s1_level == 2
    r = s.walk(3 * GIB + 0xF008)
    assert r.ok and r.pa == RAM_PA + 4 * MIB + 0xF008
    assert r.translation.s1_desc >> 52 & 1  # type: ignore[union-attr,operator]
    r = s.walk(GIB + 8)
    assert r.fault is not None and r.fault.stage == 2 and not r.fault.s1ptw
    assert r.fault.kind is FaultKind.TRANSLATION and r.fault.ipa == 8


# --- faults at every level -----------------------------------------------------------------


def _s1_only(ips: int = 48, ds: bool = False, bits: int = 48) -> Setup:
    return Setup(s1=(G4, bits), s2=None, ips=ips, ds1=ds)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_stage1_translation_fault_at_each_level(level: int) -> None:
    """An invalid descriptor at level L is a stage-1 translation fault at L (DFSC 0b0001LL)."""
    s = _s1_only()
    assert s.s1 is not None
    # Map a page whose tables share the first `level` levels with the probe only.
    probe = 0x8000_0000_0000 >> 1  # VA 0x4000_0000_0000: L0 index 0x80
    other = {0: 0x1000, 1: probe + (1 << 39) - GIB, 2: probe + GIB - 2 * MIB,
             3: probe + 2 * MIB - 4 * KIB}[level]
    s.s1.map(other, 4 * KIB, 0x9000_0000, NORMAL1, max_leaf=4096)
    r = s.walk(probe)
    f = r.fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.TRANSLATION, 1, level)
    assert f.esr == 0x9600_0004 | level  # EC 0x25 (same EL), IL, DFSC 0b0001LL
    assert f.target_el == 1 and f.far == probe and f.hpfar is None


@pytest.mark.parametrize(("level", "size"), [(1, GIB), (2, 2 * MIB), (3, 4 * KIB)])
def test_stage1_access_flag_fault_at_each_level(level: int, size: int) -> None:
    """AF=0 in a block or page is an Access flag fault at its level (DFSC 0b0010LL)."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(GIB, size, 0x8000_0000, s1_attrs(attr_index=0, af=False), max_leaf=size)
    f = s.walk(GIB).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.ACCESS_FLAG, level)
    assert f.fsc == 0b001000 | level


def test_stage1_access_flag_fault_at_level_0_with_lpa2() -> None:
    """With DS=1 a 4K level-0 block (512G) exists, so AF faults can be at level 0."""
    s = _s1_only(ips=52, ds=True, bits=52)
    assert s.s1 is not None
    s.s1.map(0, 512 * GIB, 0, s1_attrs(attr_index=0, af=False, sh=None))
    f = s.walk(0x1234).fault
    assert f is not None and (f.kind, f.level, f.fsc) == (FaultKind.ACCESS_FLAG, 0, 0b001000)


@pytest.mark.parametrize(("level", "size"), [(1, GIB), (2, 2 * MIB), (3, 4 * KIB)])
def test_stage1_permission_fault_at_each_level(level: int, size: int) -> None:
    """A write to a read-only leaf is a Permission fault at its level, WnR=1."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(GIB, size, 0x8000_0000, s1_attrs(attr_index=0, ap=0b10), max_leaf=size)
    assert s.walk(GIB).ok
    f = s.walk(GIB, W).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.PERMISSION, level)
    syn = decode_esr(f.esr)
    assert syn.wnr and syn.fsc is not None and syn.fsc.level == level


@pytest.mark.parametrize("level", [0, 1, 2])
def test_stage1_address_size_fault_for_a_table_address(level: int) -> None:
    """A next-level table address beyond TCR_EL1.IPS is an Address size fault at that level."""
    s = _s1_only(ips=40)
    assert s.s1 is not None
    s.s1.map(0, 4 * KIB, 0x9000_0000, NORMAL1)
    r = s.walk(0)
    step = r.steps[level]
    bad = s1_table(1 << 44, level=level).encode()  # table at 16 TiB, beyond 40 bits
    s.mem.write64(step.desc_pa, bad)
    f = s.walk(0).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ADDRESS_SIZE, 1, level)
    assert f.fsc == level  # DFSC 0b0000LL


@pytest.mark.parametrize(("level", "size"), [(1, GIB), (2, 2 * MIB), (3, 4 * KIB)])
def test_stage1_address_size_fault_for_an_output_address(level: int, size: int) -> None:
    """A leaf whose OA is beyond TCR_EL1.IPS is an Address size fault at its level."""
    s = _s1_only(ips=40)
    assert s.s1 is not None
    s.s1.map(0, size, 0, NORMAL1, max_leaf=size)
    leaf = s.s1.lookup(0)
    assert leaf is not None
    s.mem.write64(leaf.desc_pa, leaf.raw | (1 << 44))
    f = s.walk(0).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.ADDRESS_SIZE, level)


def test_stage1_base_address_and_range_faults() -> None:
    """TTBR base beyond IPS: Address size at the start level; VA out of range or EPD0=1:
    Translation fault at level 0."""
    s = _s1_only(ips=40)
    f = s.walk(0, regime=s.regime(ttbr0=1 << 44)).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.ADDRESS_SIZE, 0)
    f = s.walk(1 << 48).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.TRANSLATION, 0)
    f = s.walk(0, regime=s.regime(tcr=s.tcr | (1 << 7))).fault  # EPD0
    assert f is not None and (f.kind, f.level) == (FaultKind.TRANSLATION, 0)
    assert "EPD0" in f.reason


def test_ttbr1_half() -> None:
    """A VA with bit 55 set walks the TTBR1 table."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(0x1000, 4 * KIB, 0x9000_0000, NORMAL1)
    reg = s.regime(ttbr0=0)
    reg = Regime(Stage1Regime(reg.s1.tcr, ttbr0=0, ttbr1=s.s1.root, mair=LINUX_MAIR), None, 0)
    r = walk(s.mem, reg, Access(0xFFFF_0000_0000_1008))
    assert r.ok and r.pa == 0x9000_0008


@pytest.mark.parametrize(("level", "size"), [(1, GIB), (2, 2 * MIB), (3, 4 * KIB)])
def test_stage2_faults_at_each_level(level: int, size: int) -> None:
    """Stage-2 AF, permission and address size faults at each level, with HPFAR_EL2."""
    s = Setup(s1=None)
    assert s.s2 is not None
    ipa = 0x80_0000_0000
    attrs = s2_attrs(memattr=0xF, af=False)
    s.s2.map(ipa, size, 0x2_0000_0000, attrs, max_leaf=size)
    f = s.walk(ipa + 0x18).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ACCESS_FLAG, 2, level)
    assert f.target_el == 2 and f.hpfar == (ipa >> 12) << 4 and f.ipa == ipa + 0x18
    assert f.esr == 0x9200_0008 | level  # EC 0x24 (lower EL), IL, DFSC 0b0010LL
    s.s2.protect(ipa, size, s2_attrs(memattr=0xF, s2ap=0b01))
    f = s.walk(ipa, W).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.PERMISSION, level)
    assert decode_esr(f.esr).wnr
    # Address size: an OA beyond a 40-bit VTCR_EL2.PS.
    s2small = Setup(s1=None, ps=40)
    assert s2small.s2 is not None
    s2small.s2.map(ipa, size, 0, s2_attrs(memattr=0xF), max_leaf=size)
    leaf = s2small.s2.lookup(ipa)
    assert leaf is not None
    s2small.mem.write64(leaf.desc_pa, leaf.raw | (1 << 45))
    f = s2small.walk(ipa).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ADDRESS_SIZE, 2, level)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_stage2_translation_fault_at_each_level(level: int) -> None:
    """An invalid stage-2 descriptor at level L (40-bit IPA starts at L1)."""
    s = Setup(s1=None)
    assert s.s2 is not None
    probe = 0x80_0000_0000
    other = {1: 0x40_0000_0000, 2: probe + GIB - 2 * MIB, 3: probe + 2 * MIB - 4 * KIB}[level]
    s.s2.map(other, 4 * KIB, 0, s2_attrs(memattr=0xF), max_leaf=4096)
    f = s.walk(probe).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.TRANSLATION, 2, level)


def test_stage2_translation_fault_at_level_0_and_out_of_range() -> None:
    """A 48-bit IPA space starts at L0; an IPA beyond VTCR_EL2.T0SZ faults at level 0."""
    s = Setup(s1=None, s2=(G4, 48))
    f = s.walk(0x8000_0000_0000).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.TRANSLATION, 0)
    s40 = Setup(s1=None)
    reg = s40.regime(sctlr=SCTLR_DEFAULT & ~1)
    f = s40.walk(1 << 40, regime=reg).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.TRANSLATION, 2, 0)


# --- S1PTW -------------------------------------------------------------------------------------


def test_s1ptw_translation_fault() -> None:
    """A stage-1 table outside stage 2: a stage-2 fault with S1PTW=1, HPFAR = table IPA."""
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x40_0000, 4 * KIB, RAM_IPA + 8 * MIB, NORMAL1)
    r = s.walk(0x40_0000)
    l3_table_ipa = [st for st in r.steps if st.stage == 1][-1].table  # the S1 L3 table
    s.s2.unmap(l3_table_ipa, 4 * KIB)
    f = s.walk(0x40_0000, W, srt=5).fault
    assert f is not None and f.s1ptw and f.stage == 2 and f.kind is FaultKind.TRANSLATION
    assert f.level == 3 and f.hpfar == (l3_table_ipa >> 12) << 4
    syn = decode_esr(f.esr)
    assert syn.s1ptw and not syn.wnr and not syn.isv  # walks read; no ISS for S1PTW
    assert f.esr == 0x9200_0087


def test_s1ptw_access_flag_and_permission() -> None:
    """Stage-2 AF=0 or no read permission on a stage-1 table page fault the walk."""
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x40_0000, 4 * KIB, RAM_IPA + 8 * MIB, NORMAL1)
    root_ipa = s.s1.root
    s.s2.protect(root_ipa, 4 * KIB, s2_attrs(memattr=0xF, af=False))
    f = s.walk(0x40_0000).fault
    assert f is not None and f.s1ptw and f.kind is FaultKind.ACCESS_FLAG and f.level == 3
    s.s2.protect(root_ipa, 4 * KIB, s2_attrs(memattr=0xF, s2ap=0b10))
    f = s.walk(0x40_0000).fault
    assert f is not None and f.s1ptw and f.kind is FaultKind.PERMISSION


def test_s1ptw_to_stage2_device_with_hcr_ptw() -> None:
    """Stage-1 tables in stage-2 Device memory: allowed with HCR_EL2.PTW=0, a Permission fault
    (S1PTW) with PTW=1 (HCR_EL2.PTW, QEMU S1_ptw_translate)."""
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x40_0000, 4 * KIB, RAM_IPA + 8 * MIB, NORMAL1)
    s.s2.protect(s.s1.root, 4 * KIB, s2_attrs(memattr=0x1))
    assert s.walk(0x40_0000).ok
    f = s.walk(0x40_0000, regime=s.regime(hcr=HCR_DEFAULT | PTW)).fault
    assert f is not None and f.s1ptw and f.kind is FaultKind.PERMISSION and f.stage == 2


# --- alignment and priority ------------------------------------------------------------------


def test_alignment_from_the_stage1_type() -> None:
    """An unaligned access to stage-1 Device memory: stage-1 Alignment fault (DFSC 0x21)."""
    s = Setup()
    assert s.s1 is not None
    s.s1.map(0x50_0000, 4 * KIB, RAM_IPA + 4 * MIB, DEV1)
    assert s.walk(0x50_0008).ok
    f = s.walk(0x50_0004).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ALIGNMENT, 1, None)
    assert f.esr == 0x9600_0021
    # Instruction fetches take no alignment faults; a fetch from Device is CONSTRAINED
    # UNPREDICTABLE (Permission fault, or treated as Normal NC): the walk notes both.
    t = s.walk(0x50_0004, X, size=4).translation
    assert t is not None and any("INSTRDEVICE" in n for n in t.notes)


def test_alignment_from_the_stage2_type_is_the_kvm_story() -> None:
    """S1 Normal-NC over S2 Device-nGnRE: unaligned write faults at stage 2, ESR_EL2
    0x92000061 (the 'Unsupported FSC' of a vfio BAR before Linux 6.9)."""
    s = Setup()
    assert s.s1 is not None and s.s2 is not None
    s.s2.map(0x80_0000_0000, 64 * KIB, 0x80_0000_0000, s2_attrs(memattr=0x1, xn=True))
    s.s1.map(0x80_0000, 64 * KIB, 0x80_0000_0000, NC1)
    f = s.walk(0x80_0004, W).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.ALIGNMENT, 2)
    assert f.esr == 0x9200_0061 and f.hpfar is None and f.ipa == 0x80_0000_0004
    t = s.walk(0x80_0008, W).translation
    assert t is not None and t.attrs is not None and t.attrs.device is DeviceType.nGnRE
    # With ISV information the syndrome carries it (SAS=3, SRT=7, SF=1).
    f = s.walk(0x80_0004, W, srt=7).fault
    assert f is not None and f.esr == 0x93C7_8061
    # With FWB and MemAttr 0b101 (Normal-NC): no alignment fault.
    s.s2.protect(0x80_0000_0000, 64 * KIB, s2_attrs(memattr=0x5, xn=True))
    assert s.walk(0x80_0004, W, regime=s.regime(hcr=HCR_DEFAULT | FWB)).ok


def test_alignment_with_sctlr_a_comes_first() -> None:
    """SCTLR_EL1.A=1: any unaligned data access faults before the walk (priority 1)."""
    s = Setup()
    f = s.walk(0x12345, regime=s.regime(sctlr=SCTLR_DEFAULT | 2)).fault
    assert f is not None and f.kind is FaultKind.ALIGNMENT and f.stage == 1
    assert s.walk(0x12345).fault.kind is FaultKind.TRANSLATION  # type: ignore[union-attr]


def test_priority_alignment_permission_stage2() -> None:
    """R_XCHFJ: alignment (memory type) > permission > stage-2 fault on the access."""
    s = Setup()
    assert s.s1 is not None and s.s2 is not None
    # S1 Device read-only, S2 unmapped: unaligned write -> S1 alignment.
    s.s1.map(0x60_0000, 4 * KIB, 0x70_0000_0000, s1_attrs(attr_index=4, ap=0b10))
    f = s.walk(0x60_0004, W).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.ALIGNMENT, 1)
    # Aligned: S1 permission beats the stage-2 translation fault.
    f = s.walk(0x60_0008, W).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.PERMISSION, 1)
    # Readable: now the stage-2 translation fault.
    f = s.walk(0x60_0008).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.TRANSLATION, 2)
    # S2 Device read-only: unaligned write -> S2 alignment before S2 permission.
    s.s2.map(0x70_0000_0000, 4 * KIB, 0x70_0000_0000, s2_attrs(memattr=1, s2ap=0b01))
    s.s1.map(0x61_0000, 4 * KIB, 0x70_0000_0000, NC1)
    f = s.walk(0x61_0004, W).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.ALIGNMENT, 2)
    f = s.walk(0x61_0008, W).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.PERMISSION, 2)


# --- permissions ---------------------------------------------------------------------------


def test_el0_and_execute_permissions() -> None:
    """AP[1] grants EL0; EL1 never executes EL0-writable memory; WXN; UXN/PXN."""
    s = Setup()
    assert s.s1 is not None
    s.s1.map(0x10_0000, 4 * KIB, RAM_IPA + 2 * MIB, s1_attrs(attr_index=0, ap=0b01))
    s.s1.map(0x20_0000, 4 * KIB, RAM_IPA + 4 * MIB, s1_attrs(attr_index=0, ap=0b00))
    s.s1.map(0x30_0000, 4 * KIB, RAM_IPA + 6 * MIB, s1_attrs(attr_index=0, ap=0b11, uxn=True))
    assert s.walk(0x10_0000, W, el=0).ok
    f = s.walk(0x10_0000, X).fault  # EL0-writable: PXN implied for EL1
    assert f is not None and f.kind is FaultKind.PERMISSION and f.esr >> 26 == 0x21
    f = s.walk(0x20_0000, el=0).fault  # EL1-only page read from EL0: EC 0x24 (lower EL)
    assert f is not None and f.kind is FaultKind.PERMISSION and f.esr >> 26 == 0x24
    assert s.walk(0x20_0000, X).ok
    f = s.walk(0x20_0000, X, regime=s.regime(sctlr=SCTLR_DEFAULT | (1 << 19))).fault  # WXN
    assert f is not None and f.kind is FaultKind.PERMISSION
    assert s.walk(0x30_0000, X).ok and s.walk(0x30_0000, X, el=0).fault is not None
    assert s.walk(0x30_0000, W).fault is not None


def test_hierarchical_permissions() -> None:
    """APTable[1] in a table descriptor makes everything below read-only (unless HPD)."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(0x1000, 4 * KIB, 0x9000_0000, NORMAL1)
    step = s.walk(0x1000).steps[1]  # the L1 table descriptor
    s.mem.write64(step.desc_pa, step.raw | (0b10 << 61))
    f = s.walk(0x1000, W).fault
    assert f is not None and f.kind is FaultKind.PERMISSION and f.level == 3
    hpd = s.tcr | (1 << 41)  # TCR_EL1.HPD0
    assert s.walk(0x1000, W, regime=s.regime(tcr=hpd)).ok
    s.mem.write64(step.desc_pa, step.raw | (1 << 59))  # PXNTable
    assert s.walk(0x1000, X).fault is not None


def test_stage2_execute_never_with_and_without_xnx() -> None:
    """XN[1:0]=0b01 (PXN) stops EL1 fetches only with FEAT_XNX; bit 54 alone is XN."""
    s = Setup()
    assert s.s1 is not None and s.s2 is not None
    s.s2.map(0x60_0000_0000, 4 * KIB, 0x3_0000_0000, s2_attrs(memattr=0xF, xn=0b01))
    s.s1.map(0x40_0000, 4 * KIB, 0x60_0000_0000, s1_attrs(attr_index=0, ap=0b11))
    assert s.walk(0x40_0000, X).ok  # without FEAT_XNX bit 53 is ignored
    f = s.walk(0x40_0000, X, regime=s.regime(xnx=True)).fault
    assert f is not None and f.stage == 2 and f.esr >> 26 == 0x20  # instruction abort
    assert s.walk(0x40_0000, X, el=0, regime=s.regime(xnx=True)).ok


# --- controls and attributes -------------------------------------------------------------------


def test_stage1_off_is_device_and_identity() -> None:
    """SCTLR_EL1.M=0: IPA = VA, data is Device-nGnRnE (unaligned faults); HCR_EL2.DC=1 makes
    it Normal WB."""
    s = Setup()
    reg = s.regime(sctlr=SCTLR_DEFAULT & ~1)
    r = s.walk(RAM_IPA + 0x10, regime=reg)
    assert r.ok and r.pa == RAM_PA + 0x10
    assert r.translation.attrs.device is DeviceType.nGnRnE  # type: ignore[union-attr]
    f = s.walk(RAM_IPA + 0x11, regime=reg).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.ALIGNMENT, 1)
    dc = s.regime(sctlr=SCTLR_DEFAULT & ~1, hcr=HCR_DEFAULT | (1 << 12))
    r = s.walk(RAM_IPA + 0x11, regime=dc)
    assert r.ok and r.translation.attrs.is_wb  # type: ignore[union-attr]


def test_stage2_off() -> None:
    """HCR_EL2.VM=0: the IPA is the PA and stage-1 attributes stand alone."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(0x1000, 4 * KIB, 0x9000_0000, NC1)
    r = s.walk(0x1004)
    assert r.ok and r.pa == 0x9000_0004 and r.translation.attrs.is_nc  # type: ignore[union-attr]
    assert r.translation.s2_memattr is None  # type: ignore[union-attr]


def test_combined_attributes_with_and_without_fwb() -> None:
    """S1 Normal-NC x S2 WB gives NC; FWB 0b110 forces WB even over S1 Device."""
    s = Setup()
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x40_0000, 4 * KIB, RAM_IPA + 2 * MIB, NC1)
    t = s.walk(0x40_0000).translation
    assert t is not None and t.attrs is not None and t.attrs.is_nc and t.s1_attr == 0x44
    s.s2.map(0x70_0000_0000, 4 * KIB, 0x5_0000_0000, s2_attrs(memattr=0b110))
    s.s1.map(0x41_0000, 4 * KIB, 0x70_0000_0000, DEV1)
    t = s.walk(0x41_0000, regime=s.regime(hcr=HCR_DEFAULT | FWB)).translation
    assert t is not None and t.attrs is not None and t.attrs.is_wb


def test_reserved_mair_byte_gives_unknown_attributes() -> None:
    """A reserved MAIR byte: the walk translates but the attributes are UNKNOWN (None)."""
    s = _s1_only()
    assert s.s1 is not None
    s.s1.map(0x1000, 4 * KIB, 0x9000_0000, s1_attrs(attr_index=7))
    reg = s.regime(mair=0x02 << 56)
    t = s.walk(0x1000, regime=reg).translation
    assert t is not None and t.attrs is None and t.notes


def test_access_validation() -> None:
    """Bad accesses are EncodingErrors."""
    with pytest.raises(EncodingError):
        Access(0, el=2)
    with pytest.raises(EncodingError):
        Access(0, size=3)
    with pytest.raises(EncodingError):
        Access(1 << 64)


def test_regime_built_from_vtcr_registers() -> None:
    """Regime.from_registers with a VTCR value walks the same as the geometry says."""
    s = Setup()
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x1000, 4 * KIB, RAM_IPA + 0x3000, NORMAL1)
    reg = Regime.from_registers(tcr=s.tcr, mair=LINUX_MAIR, ttbr0=s.s1.ttbr, vtcr=s.vtcr,
                                vttbr=s.s2.vttbr)
    r = walk(s.mem, reg, Access(0x1008))
    assert r.ok and r.pa == RAM_PA + 0x3008
    assert vtcr_value(s.s2.geom, 48) == s.vtcr
    assert Geometry.for_stage2(G4, 40) == s.s2.geom
