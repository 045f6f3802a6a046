"""The TLB: hits replay cached descriptors; a changed descriptor is a stale-translation
hazard until the right TLBI completes (DSB)."""

from __future__ import annotations

import pytest
from tests.mmu.helpers import RAM_IPA, RAM_PA, Setup

from memattr.arch.descriptor import Granule
from memattr.errors import ConfigError
from memattr.mmu.pgtable import s1_attrs, s2_attrs
from memattr.mmu.tlb import TLB, HazardKind
from memattr.mmu.walk import Access, AccessKind

KIB = 1 << 10
VA = 0x40_0000


def _setup() -> tuple[Setup, TLB]:
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None
    s.s1.map(VA, 4 * KIB, RAM_IPA + 0x20_0000, s1_attrs(attr_index=0, ng=True))
    return s, TLB(s.mem)


def _raw_write(s: Setup, ipa: int, value: int) -> None:
    """A descriptor write behind the builder's back (no BBM, no TLBI)."""
    assert s.s2 is not None
    pa = s.s2.translate(ipa)
    assert pa is not None
    s.mem.write64(pa, value)


def test_miss_then_hit() -> None:
    """The first access walks and fills; the second hits with the same result."""
    s, tlb = _setup()
    reg = s.regime()
    a = tlb.access(reg, Access(VA + 8))
    assert not a.hit and a.result.pa == RAM_PA + 0x20_0008
    b = tlb.access(reg, Access(VA + 16, AccessKind.WRITE))
    assert b.hit and b.result.pa == RAM_PA + 0x20_0010 and not b.hazards
    assert all(st.cached for st in b.result.steps)


def test_stale_stage1_entry_cleared_by_vae1is_and_dsb() -> None:
    """Changing a stage-1 leaf without maintenance: the hit is stale; TLBI VAE1IS alone is
    'not completed'; after DSB the next access walks the new descriptor."""
    s, tlb = _setup()
    reg = s.regime()
    tlb.access(reg, Access(VA))
    assert s.s1 is not None
    leaf = s.s1.lookup(VA)
    assert leaf is not None
    _raw_write(s, leaf.desc_pa, leaf.raw & ~(1 << 10))  # clear AF
    hit = tlb.access(reg, Access(VA))
    assert hit.hit and hit.result.ok  # the old translation is still used
    (h,) = hit.hazards
    assert h.kind is HazardKind.STALE and h.stage == 1 and h.level == 3 and "VAE1IS" in h.needed
    # Wrong maintenance: IPAS2E1IS does not touch combined entries.
    tlb.tlbi("IPAS2E1IS", ipa=RAM_IPA + 0x20_0000, vmid=7)
    tlb.dsb()
    assert tlb.access(reg, Access(VA)).hazards
    tlb.tlbi("VAE1IS", va=VA, asid=3, vmid=7)
    pending = tlb.access(reg, Access(VA))
    assert pending.hit and pending.hazards[0].kind is HazardKind.UNSYNCHRONISED
    tlb.dsb("ISHST")  # a store-only DSB does not complete TLB maintenance
    assert tlb.access(reg, Access(VA)).hit
    tlb.dsb("ISH")
    after = tlb.access(reg, Access(VA))
    assert not after.hit and after.result.fault is not None
    assert tlb.log[-1] == "DSB ISH"


def test_stale_stage2_entry_needs_vmalle1is_after_ipas2e1is() -> None:
    """A stage-2 change: KVM's IPAS2E1IS + DSB + VMALLE1IS + DSB removes the combined entry."""
    s, tlb = _setup()
    reg = s.regime()
    tlb.access(reg, Access(VA))
    assert s.s2 is not None
    leaf = s.s2.lookup(RAM_IPA + 0x20_0000)
    assert leaf is not None
    s.mem.write64(leaf.desc_pa, leaf.raw & ~(0b10 << 6))  # remove write permission
    h = tlb.access(reg, Access(VA, AccessKind.WRITE)).hazards
    assert h and h[0].stage == 2 and "VMALLE1IS" in h[0].needed
    tlb.tlbi("IPAS2E1IS", ipa=RAM_IPA + 0x20_0000, vmid=7)
    tlb.dsb()
    assert tlb.access(reg, Access(VA, AccessKind.WRITE)).hit
    tlb.tlbi("VMALLE1IS", vmid=7)
    tlb.dsb()
    r = tlb.access(reg, Access(VA, AccessKind.WRITE))
    assert not r.hit and r.result.fault is not None and r.result.fault.stage == 2


def test_stale_stage2_only_entry_used_by_a_table_walk() -> None:
    """VMALLE1IS leaves stage-2-only entries: a walk that misses may use a stale one (the
    S1PTW translation); IPAS2E1IS + DSB removes it."""
    s, tlb = _setup()
    reg = s.regime()
    tlb.access(reg, Access(VA))
    assert s.s1 is not None and s.s2 is not None
    root = s.s1.root
    s.s2.unmap(root, 4 * KIB)  # BBM, but nobody told this TLB
    tlb.tlbi("VMALLE1IS", vmid=7)
    tlb.dsb()
    r = tlb.access(reg, Access(VA))
    assert not r.hit and r.result.ok  # the cached S2 translation of the root still served
    assert r.hazards and r.hazards[0].stage == 2 and "IPAS2E1IS" in r.hazards[0].needed
    tlb.tlbi("VMALLS12E1IS", vmid=7)
    tlb.dsb()
    r = tlb.access(reg, Access(VA))
    assert r.result.fault is not None and r.result.fault.s1ptw


def test_builder_bbm_keeps_a_subscribed_tlb_coherent() -> None:
    """A TLB subscribed to both builders sees their TLBIs and DSBs: no hazard, new result."""
    s, tlb = _setup()
    assert s.s1 is not None and s.s2 is not None
    s.s1.subscribe(tlb.observe)
    s.s2.subscribe(tlb.observe)
    reg = s.regime()
    assert tlb.access(reg, Access(VA)).result.ok
    s.s1.protect(VA, 4 * KIB, s1_attrs(attr_index=0, ap=0b10, ng=True))
    r = tlb.access(reg, Access(VA, AccessKind.WRITE))
    assert not r.hazards and r.result.fault is not None and r.result.fault.stage == 1
    s.s2.protect(RAM_IPA + 0x20_0000, 4 * KIB, s2_attrs(memattr=0x5))
    r = tlb.access(reg, Access(VA))
    assert not r.hazards and r.result.translation is not None
    assert r.result.translation.attrs is not None and r.result.translation.attrs.is_nc


def test_asid_and_vmid_tagging() -> None:
    """An nG entry is private to its ASID; a global one is shared; VMIDs never mix."""
    s, tlb = _setup()
    assert s.s1 is not None
    s.s1.map(0x50_0000, 4 * KIB, RAM_IPA + 0x30_0000, s1_attrs(attr_index=0))  # global
    reg = s.regime()
    tlb.access(reg, Access(VA))
    tlb.access(reg, Access(0x50_0000))
    other = s.regime(ttbr0=s.s1.root | (4 << 48))
    assert not tlb.access(other, Access(VA)).hit
    assert tlb.access(other, Access(0x50_0000)).hit
    assert s.s2 is not None
    vm2 = s.regime(vttbr=s.s2.root | (8 << 48))
    assert not tlb.access(vm2, Access(0x50_0000)).hit
    assert tlb.tlbi("ALLE1IS") == len(tlb)
    tlb.dsb()
    assert len(tlb) == 0


def test_unknown_tlbi_is_an_error() -> None:
    """Unmodelled TLBI operations and missing operands are ConfigErrors."""
    tlb = TLB(Setup(s1=None, s2=(Granule.K4, 40)).mem)
    with pytest.raises(ConfigError, match="not modelled"):
        tlb.tlbi("RVAE1IS")
    with pytest.raises(ConfigError, match="needs va"):
        tlb.tlbi("VAE1IS")
