"""The table builder: descriptors, block choice, contiguous sets, BBM events, misuse."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memattr.arch.descriptor import Granule
from memattr.errors import ConfigError, EncodingError
from memattr.linux.asm.kvm_pgtable import (
    KVM_PTE_LEAF_ATTR_HI_S2_XN,
    KVM_PTE_LEAF_ATTR_LO_S2_AF,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W,
    KVM_PTE_LEAF_ATTR_LO_S2_SH,
)
from memattr.mmu.events import EventKind
from memattr.mmu.pgtable import IpaSpace, PageTable, s1_attrs, s2_attrs
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import Geometry, Stage1Regime, Stage2Regime

G4, G16, G64 = Granule.K4, Granule.K16, Granule.K64
NORMAL = s2_attrs(memattr=0xF)
GIB, MIB, KIB = 1 << 30, 1 << 20, 1 << 10


BULK_EXTREMES = [1, 1 << 30]
"""PageTable.bulk_min values the properties run with: every span bulk, and never."""


def s2_table(granule: Granule = G4, ia_bits: int = 40, oa_bits: int = 48, *,
             bulk_min: int = 32) -> PageTable:
    mem = PhysMem(52)
    return PageTable(mem, Geometry.for_stage2(granule, ia_bits, oa_bits), vmid=2,
                     bulk_min=bulk_min)


def kinds(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.kind.value + (":" + e.op if e.kind in (EventKind.TLBI, EventKind.DSB) else "")
            for e in events]


def test_attribute_helpers_match_kvm_constants() -> None:
    """s2_attrs builds what stage2_set_prot_attr builds (KVM_PTE_LEAF_ATTR_* bits)."""
    a = s2_attrs(memattr=0xF, s2ap=0b11, sh=0b11, af=True, xn=True)
    assert a == ((0xF << 2) | KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R | KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W
                 | KVM_PTE_LEAF_ATTR_LO_S2_SH | KVM_PTE_LEAF_ATTR_LO_S2_AF
                 | KVM_PTE_LEAF_ATTR_HI_S2_XN)
    assert s2_attrs(memattr=1, s2ap=1, sh=None, af=False) == (1 << 2) | (1 << 6)
    b = s1_attrs(attr_index=4, ap=0b01, sh=0b11, ng=True, pxn=True, uxn=True)
    assert b == (4 << 2) | (1 << 6) | (3 << 8) | (1 << 10) | (1 << 11) | (1 << 53) | (1 << 54)


def test_largest_blocks_each_alignment_allows() -> None:
    """1G + 2M + 4K at a 1G-aligned IA and OA: one L1 block, one L2 block, one page."""
    pt = s2_table()
    pt.map(GIB, GIB + 2 * MIB + 4 * KIB, 0x10_0000_0000, NORMAL)
    got = [(lf.ia, lf.level, lf.oa) for lf in pt.leaves()]
    assert got == [(GIB, 1, 0x10_0000_0000), (2 * GIB, 2, 0x10_4000_0000),
                   (2 * GIB + 2 * MIB, 3, 0x10_4020_0000)]
    # The L1 block descriptor: OA | attrs | 0b01.
    assert pt.lookup(GIB).raw == 0x10_0000_0000 | NORMAL | 1  # type: ignore[union-attr]


def test_output_alignment_limits_the_block_size() -> None:
    """An OA only 2M aligned forces 2M blocks even where the IA is 1G aligned."""
    pt = s2_table()
    pt.map(GIB, GIB, 0x10_0020_0000, NORMAL)
    leaves = list(pt.leaves())
    assert len(leaves) == 512 and {lf.level for lf in leaves} == {2}
    assert pt.translate(GIB + 0x12345) == 0x10_0020_0000 + 0x12345


def test_max_leaf_forces_pages() -> None:
    """max_leaf=4096 maps pages only; an impossible size is an EncodingError."""
    pt = s2_table()
    pt.map(0, 2 * MIB, 0x4000_0000, NORMAL, max_leaf=4096)
    assert {lf.level for lf in pt.leaves()} == {3}
    with pytest.raises(EncodingError, match="max_leaf=0x3000"):
        pt.map(4 * MIB, 4 * KIB, 0, NORMAL, max_leaf=0x3000)


@pytest.mark.parametrize(
    ("granule", "ia_bits", "size", "level", "n"),
    [
        (G4, 40, 64 * KIB, 3, 16),  # 16 x 4K pages
        (G4, 40, 32 * MIB, 2, 16),  # 16 x 2M blocks
        (G16, 40, 2 * MIB, 3, 128),  # 128 x 16K pages
        (G16, 40, 1 * GIB, 2, 32),  # 32 x 32M blocks
        (G64, 42, 2 * MIB, 3, 32),  # 32 x 64K pages
        (G64, 46, 16 * GIB, 2, 32),  # 32 x 512M blocks
    ],
)
def test_contiguous_sets(granule: Granule, ia_bits: int, size: int, level: int, n: int) -> None:
    """contiguous=True sets the bit on every entry of a complete aligned set, and only then."""
    pt = s2_table(granule, ia_bits)
    leaf_max = pt.geom.block_size(level)
    pt.map(0, size, 0x40_0000_0000, NORMAL, contiguous=True, max_leaf=leaf_max)
    leaves = list(pt.leaves())
    assert len(leaves) == n and all(lf.level == level and lf.contiguous for lf in leaves)
    assert pt.geom.contiguous_entries(level) == n
    # One entry short of a set: no hint anywhere.
    pt2 = s2_table(granule, ia_bits)
    pt2.map(0, size - leaf_max, 0x40_0000_0000, NORMAL, contiguous=True, max_leaf=leaf_max)
    assert not any(lf.contiguous for lf in pt2.leaves())


def test_misuse_is_an_error_naming_the_value() -> None:
    """Overlap: ConfigError; unaligned, beyond IA or PS, bad attrs: EncodingError, in hex."""
    pt = s2_table(oa_bits=40)
    pt.map(GIB, 2 * MIB, 0x4000_0000, NORMAL)
    with pytest.raises(ConfigError, match=r"0x40100000.*overlaps.*0x40000000-0x40200000"):
        pt.map(GIB + MIB, 4 * MIB, 0, NORMAL)
    with pytest.raises(EncodingError, match="IPA=0x1234"):
        pt.map(0x1234, 4 * KIB, 0, NORMAL)
    with pytest.raises(EncodingError, match="OA=0x10000000000.*40-bit.*VTCR_EL2.PS"):
        pt.map(0, 4 * KIB, 1 << 40, NORMAL)
    with pytest.raises(EncodingError, match="40-bit input"):
        pt.map((1 << 40) - 4096, 8 * KIB, 0, NORMAL)
    with pytest.raises(EncodingError, match="bits 0x1000"):
        pt.map(0, 4 * KIB, 0, NORMAL | 0x1000)
    with pytest.raises(EncodingError, match="contiguous=True"):
        pt.map(0, 4 * KIB, 0, NORMAL | (1 << 52))
    with pytest.raises(EncodingError, match="size=0x0"):
        pt.map(0, 0, 0, NORMAL)


def test_unmap_stage2_page_is_break_then_kvm_tlbi() -> None:
    """Unmapping a stage-2 page: invalid, DSB ISHST, TLBI IPAS2E1IS, DSB, VMALLE1IS, DSB;
    the emptied tables are freed with the same sequence (VMALLS12E1IS)."""
    pt = s2_table()
    pt.map(GIB, 4 * KIB, 0x4000_0000, NORMAL)
    ev = pt.unmap(GIB, 4 * KIB)
    assert kinds(ev)[:6] == ["break", "dsb:ISHST", "tlbi:IPAS2E1IS", "dsb:ISH",
                             "tlbi:VMALLE1IS", "dsb:ISH"]
    tlbi = ev[2]
    assert (tlbi.ia, tlbi.level, tlbi.vmid) == (GIB, 3, 2)
    assert [e.kind for e in ev].count(EventKind.TABLE_FREE) == 2  # the L3 and L2 tables
    assert pt.lookup(GIB) is None
    assert pt.tables() == {pt.root: 1}


def test_stage1_unmap_uses_vae1is_with_the_asid() -> None:
    """A stage-1 leaf is invalidated with TLBI VAE1IS (VA, ASID)."""
    mem = PhysMem(48)
    pt = PageTable(mem, Geometry.for_stage1(G4, 48), asid=9)
    pt.map(0x40_0000, 4 * KIB, 0x8000_0000, s1_attrs(attr_index=0))
    ev = pt.unmap(0x40_0000, 4 * KIB)
    assert kinds(ev)[:4] == ["break", "dsb:ISHST", "tlbi:VAE1IS", "dsb:ISH"]
    assert (ev[2].ia, ev[2].asid) == (0x40_0000, 9)


def test_unmap_inside_a_block_splits_it() -> None:
    """Unmapping 4K inside a 1G block leaves the rest mapped at the same addresses."""
    pt = s2_table()
    pt.map(GIB, GIB, 0x40_0000_0000, NORMAL)
    pt.unmap(GIB + 4 * KIB, 4 * KIB)
    assert pt.lookup(GIB + 4 * KIB) is None
    assert pt.translate(GIB) == 0x40_0000_0000
    assert pt.translate(GIB + 8 * KIB + 5) == 0x40_0000_2005
    assert pt.translate(2 * GIB - 1) == 0x40_3FFF_FFFF
    assert pt.lookup(GIB + 4 * MIB).level == 2  # type: ignore[union-attr]


def test_protect_is_bbm_per_leaf_and_keeps_contiguous_sets() -> None:
    """protect: break, TLBI, DSB, make; the Contiguous bit of a whole set is kept; a set cut
    by the range loses it everywhere first."""
    pt = s2_table()
    pt.map(0, 64 * KIB, 0x4000_0000, NORMAL, contiguous=True, max_leaf=4096)
    ro = s2_attrs(memattr=0xF, s2ap=0b01)
    ev = pt.protect(0, 64 * KIB, ro)
    assert all(lf.contiguous and (lf.raw >> 6) & 3 == 1 for lf in pt.leaves())
    assert kinds(ev)[:7] == ["break", "dsb:ISHST", "tlbi:IPAS2E1IS", "dsb:ISH",
                             "tlbi:VMALLE1IS", "dsb:ISH", "write"]
    pt.protect(0, 4 * KIB, NORMAL)
    assert not any(lf.contiguous for lf in pt.leaves())
    assert (pt.lookup(0).raw >> 6) & 3 == 3  # type: ignore[union-attr]
    assert (pt.lookup(4 * KIB).raw >> 6) & 3 == 1  # type: ignore[union-attr]


def test_split_and_collapse() -> None:
    """split() turns a 2M block into 512 pages with BBM; collapse() merges them back."""
    pt = s2_table()
    pt.map(2 * MIB, 2 * MIB, 0x8020_0000, NORMAL)
    before = pt.lookup(2 * MIB)
    ev = pt.split(2 * MIB + 0x5000)
    assert kinds(ev) == ["table-alloc", "bulk", "break", "dsb:ISHST", "tlbi:IPAS2E1IS",
                         "dsb:ISH", "tlbi:VMALLE1IS", "dsb:ISH", "write"]
    assert ev[1].count == 512
    assert pt.lookup(2 * MIB + 0x5000).level == 3  # type: ignore[union-attr]
    assert pt.translate(2 * MIB + 0x5123) == 0x8020_5123
    ev = pt.collapse(2 * MIB, 2)
    assert kinds(ev)[:5] == ["break", "dsb:ISHST", "tlbi:VMALLS12E1IS", "dsb:ISH", "write"]
    assert ev[-1].kind is EventKind.TABLE_FREE
    assert pt.lookup(2 * MIB) == before
    with pytest.raises(ConfigError, match="level-3 page"):
        pt.map(8 * MIB, 4 * KIB, 0, NORMAL)
        pt.split(8 * MIB)


def test_collapse_refuses_mixed_tables() -> None:
    """collapse needs one contiguous, aligned output range with equal attributes."""
    pt = s2_table()
    pt.map(0, 2 * MIB, 0x8000_0000, NORMAL, max_leaf=4096)
    pt.protect(0, 4 * KIB, s2_attrs(memattr=0x5))
    with pytest.raises(ConfigError, match="attributes"):
        pt.collapse(0, 2)
    pt.unmap(0, 4 * KIB)
    with pytest.raises(ConfigError, match="not every entry"):
        pt.collapse(0, 2)
    with pytest.raises(ConfigError, match="no blocks"):
        pt.collapse(0, 0)


def test_bulk_maps_are_summarised() -> None:
    """A big page-granular map writes whole tables with numpy: one BULK event per table."""
    pt = s2_table()
    ev = pt.map(0, 64 * MIB, 0x1_0000_0000, NORMAL, max_leaf=4096)
    bulk = [e for e in ev if e.kind is EventKind.BULK and e.level == 3]
    assert len(bulk) == 32 and all(e.count == 512 and e.stride == 4096 for e in bulk)
    assert pt.translate(63 * MIB + 0x123) == 0x1_0000_0000 + 63 * MIB + 0x123
    assert len(ev) < 80


@pytest.mark.parametrize("bulk_min", BULK_EXTREMES + [32])
def test_bulk_map_with_output_below_input(bulk_min: int) -> None:
    """Issue 9: 32 or more leaves at once with the PA well below the IPA -- stage 2, 32 GiB
    at IPA 0x10_0000_0000 to PA 0 -- maps (the bulk path raised OverflowError on the negative
    IA -> OA delta)."""
    pt = s2_table(ia_bits=44, bulk_min=bulk_min)
    pt.map(0x10_0000_0000, 32 * GIB, 0, NORMAL)
    leaves = list(pt.leaves())
    assert len(leaves) == 32 and all(lf.size == GIB for lf in leaves)
    assert [lf.oa for lf in leaves] == [k * GIB for k in range(32)]
    assert pt.translate(0x10_0000_0000 + 31 * GIB + 0x1234) == 31 * GIB + 0x1234
    pages = s2_table(ia_bits=44, bulk_min=bulk_min)
    pages.map(0x10_0000_0000 + 0x7000, 64 * _PAGE, 0x3000, NORMAL, max_leaf=4096)
    assert pages.translate(0x10_0000_0000 + 0x7000 + 63 * _PAGE) == 0x3000 + 63 * _PAGE


def test_constructors_from_registers() -> None:
    """stage2() uses VTTBR_EL2.BADDR when given and reports VMID; stage1() the TTBR's ASID."""
    mem = PhysMem(48)
    vtcr = Stage2Regime.simple(G4, 40).vtcr
    pt = PageTable.stage2(mem, vtcr=vtcr)
    assert pt.vttbr == pt.root and pt.geom.concat == 2
    pt2 = PageTable.stage2(mem, vtcr=vtcr, vttbr=(4 << 48) | 0x9000_0000)
    assert pt2.root == 0x9000_0000 and pt2.vmid == 4 and pt2.vttbr == (4 << 48) | 0x9000_0000
    tcr = Stage1Regime.simple(G16, 47, 40, mair=0xFF).tcr
    s1 = PageTable.stage1(mem, tcr=tcr, ttbr=(7 << 48) | 0xA000_0000)
    assert s1.asid == 7 and s1.geom.granule is G16 and s1.geom.start_level == 1
    s1b = PageTable.stage1(mem, tcr=tcr, ttbr1=True)
    assert s1b.ttbr == s1b.root


def test_52_bit_output_addresses() -> None:
    """LPA (64K) puts OA[51:48] in bits[15:12]; LPA2 (DS=1) OA[51:50] in bits[9:8]."""
    mem = PhysMem(52)
    lpa = PageTable(mem, Geometry.for_stage2(G64, 52, 52), vmid=1)
    lpa.map(0, 64 * KIB, 0xF_1234_5678_0000, NORMAL)
    lf = lpa.lookup(0)
    assert lf is not None and lf.oa == 0xF_1234_5678_0000 and (lf.raw >> 12) & 0xF == 0xF
    lpa2 = PageTable(mem, Geometry.for_stage2(G4, 48, 52, ds=True), vmid=1)
    attrs = s2_attrs(memattr=0xF, sh=None)
    lpa2.map(0, 4 * KIB, 0xC_0000_0000_0000, attrs)
    lf = lpa2.lookup(0)
    assert lf is not None and lf.oa == 0xC_0000_0000_0000 and (lf.raw >> 8) & 3 == 3
    with pytest.raises(EncodingError, match="not leaf attribute bits"):
        lpa2.map(8 * KIB, 4 * KIB, 0, NORMAL)  # SH bits are OA[51:50] with DS=1


def test_stage1_tables_live_in_guest_memory() -> None:
    """With an IpaSpace the stage-1 descriptors land at the PA stage 2 maps their IPA to."""
    mem = PhysMem(48)
    s2 = PageTable(mem, Geometry.for_stage2(G4, 40), vmid=1)
    s2.map(0x4000_0000, 2 * MIB, 0x1_0000_0000, NORMAL)
    guest = IpaSpace(s2, 0x4000_0000, 256 * KIB)
    s1 = PageTable(guest, Geometry.for_stage1(G4, 48), asid=1)
    assert 0x4000_0000 <= s1.root < 0x4004_0000
    s1.map(0x1000, 4 * KIB, 0x4010_0000, s1_attrs(attr_index=0))
    lf = s1.lookup(0x1000)
    assert lf is not None
    pa = guest.pa(lf.desc_pa)
    assert 0x1_0000_0000 <= pa < 0x1_0004_0000 and mem.read64(pa) == lf.raw
    with pytest.raises(ConfigError, match="not mapped at stage 2"):
        IpaSpace(s2, 0x5000_0000, 4 * KIB).alloc_table()


# --- properties -------------------------------------------------------------------------------

_PAGE = 4 * KIB
ranges = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 24)), min_size=1, max_size=5)


def _disjoint(spec: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-overlapping (ia, size) ranges in a 1 GiB window, in 2 MiB-ish slots."""
    out, used = [], set()
    for slot, pages in spec:
        if slot in used:
            continue
        used.add(slot)
        out.append((slot * 4 * MIB, pages * 128 * KIB))
    return out


@pytest.mark.parametrize("bulk_min", BULK_EXTREMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=ranges, memattr=st.sampled_from([0x1, 0x5, 0xF]), s2ap=st.integers(0, 3),
       shift=st.sampled_from([0, 4 * KIB, 2 * MIB]), probe=st.integers(0, 1023),
       below=st.booleans())
def test_map_then_lookup_and_unmap(bulk_min: int, spec: list[tuple[int, int]], memattr: int,
                                   s2ap: int, shift: int, probe: int, below: bool) -> None:
    """Every mapped address translates to its OA with the given attributes; unmapped, none.
    With ``below`` the output lies below the input (a negative IA -> OA delta)."""
    pt = s2_table(ia_bits=44, bulk_min=bulk_min)
    attrs = s2_attrs(memattr=memattr, s2ap=s2ap)
    maps = _disjoint(spec)
    in_base = 0x10_0000_0000 if below else 0
    out_base = 0 if below else 0x40_0000_0000
    for ia, size in maps:
        pt.map(in_base + ia, size, out_base + ia + shift, attrs)
    for ia, size in maps:
        for off in (0, size - 1, (probe * 997) % size):
            lf = pt.lookup(in_base + ia + off)
            assert lf is not None
            assert lf.oa + (in_base + ia + off - lf.ia) == out_base + ia + off + shift
            assert (lf.raw >> 2) & 0xF == memattr and (lf.raw >> 6) & 3 == s2ap
    for ia, size in maps:
        pt.unmap(in_base + ia, size)
        assert pt.lookup(in_base + ia) is None and pt.lookup(in_base + ia + size - 1) is None
    assert list(pt.leaves()) == [] and set(pt.tables()) == {pt.root}


@pytest.mark.parametrize("bulk_min", BULK_EXTREMES)
@settings(max_examples=30, deadline=None)
@given(block=st.integers(0, 15), at=st.integers(0, (2 * MIB // _PAGE) - 1),
       level1=st.booleans())
def test_split_and_collapse_preserve_translations(bulk_min: int, block: int, at: int,
                                                  level1: bool) -> None:
    """Splitting a block (twice) and collapsing back never changes a translation."""
    pt = s2_table(bulk_min=bulk_min)
    base = GIB if level1 else block * 2 * MIB
    size = GIB if level1 else 2 * MIB
    pt.map(base, size, 0x80_0000_0000 + base, NORMAL)
    probes = [base, base + at * _PAGE + 3, base + size - 1, base + size // 2 + 17]
    want = [pt.translate(p) for p in probes]
    pt.split(base + at * _PAGE)
    if level1:
        pt.split(base + at * _PAGE)
    assert [pt.translate(p) for p in probes] == want
    if level1:
        pt.collapse(base + at * _PAGE, 2)
    pt.collapse(base, 1 if level1 else 2)
    assert [pt.translate(p) for p in probes] == want
    assert pt.lookup(base).size == size  # type: ignore[union-attr]


def test_map_replaces_an_empty_table_with_a_block() -> None:
    """An empty next-level table where a block fits is broken (BBM) and freed."""
    pt = s2_table()
    pt.map(2 * MIB, 4 * KIB, 0x8000_0000, NORMAL)
    leaf = pt.lookup(2 * MIB)
    assert leaf is not None
    pt.mem.write64(leaf.desc_pa, 0)  # empty the L3 table behind the builder's back
    ev = pt.map(2 * MIB, 2 * MIB, 0x8020_0000, NORMAL)
    assert kinds(ev)[:2] == ["break", "dsb:ISHST"] and ev[-2].kind is EventKind.TABLE_FREE
    assert pt.lookup(2 * MIB).level == 2  # type: ignore[union-attr]


def test_ipa_space_follows_stage2_changes() -> None:
    """After stage 2 remaps the guest's table memory, IpaSpace writes go to the new PA."""
    mem = PhysMem(48)
    s2 = PageTable(mem, Geometry.for_stage2(G4, 40), vmid=1)
    s2.map(0x4000_0000, 2 * MIB, 0x1_0000_0000, NORMAL)
    guest = IpaSpace(s2, 0x4000_0000, 64 * KIB)
    assert guest.pa(0x4000_0008) == 0x1_0000_0008
    s2.unmap(0x4000_0000, 2 * MIB)
    s2.map(0x4000_0000, 2 * MIB, 0x2_0000_0000, NORMAL)
    guest.write64(0x4000_0008, 7)
    assert mem.read64(0x2_0000_0008) == 7 and mem.read64(0x1_0000_0008) == 0
