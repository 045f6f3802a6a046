"""Hypothesis strategies for the mmu tests: random two-stage table setups and accesses."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from tests.mmu.helpers import RAM_IPA, RAM_SIZE, Setup

from memattr.arch import registers as R
from memattr.arch.descriptor import Granule
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
from memattr.mmu.pgtable import s1_attrs, s2_attrs
from memattr.mmu.regime import HCR_DEFAULT, SCTLR_DEFAULT, Regime
from memattr.mmu.walk import AccessKind

__all__ = ["Scenario", "scenarios"]

_S1_SHAPES = [(Granule.K4, 48), (Granule.K4, 39), (Granule.K16, 47), (Granule.K64, 42)]
_S2_SHAPES = [(Granule.K4, 40), (Granule.K4, 32), (Granule.K16, 40), (Granule.K64, 42)]
_EXTRA_IPA = 0x8000_0000  # extra stage-2 mappings live above guest RAM
_SLOT = 1 << 25  # 32 MiB between mappings: room for any block size used here


@dataclass
class Scenario:
    """A built setup, its registers, the access kind and the VAs to try."""

    setup: Setup
    regime: Regime
    kind: AccessKind
    el: int
    size: int
    vas: list[int]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Random stage-1/stage-2 tables (some mappings faulting by design) and probe VAs."""
    s1_shape = draw(st.sampled_from(_S1_SHAPES))
    s2_on = draw(st.integers(0, 4)) > 0
    s2_shape = draw(st.sampled_from(_S2_SHAPES)) if s2_on else None
    s1_on = draw(st.integers(0, 5)) > 0
    g2 = s2_shape[0] if s2_shape else Granule.K4
    ram_leaf = draw(st.sampled_from([None, g2.size]))
    ps = draw(st.sampled_from([40, 48]))
    # The builder's bulk threshold at both extremes (and the default): the tables must not
    # depend on which path wrote them.
    bulk_min = draw(st.sampled_from([1, 32, 1 << 30]))
    s = Setup(s1=s1_shape if s1_on else None, s2=s2_shape, ram_leaf=ram_leaf, ips=48, ps=ps,
              bulk_min=bulk_min)
    gran1 = s1_shape[0].size if s1_shape else 4096
    # Extra stage-2 mappings with random attributes.
    extras: list[tuple[int, int]] = []
    if s.s2 is not None:
        for k in range(draw(st.integers(0, 3))):
            ipa = _EXTRA_IPA + k * _SLOT
            if ipa + _SLOT > s.s2.geom.ia_size:
                break
            pages = draw(st.integers(1, 4))
            size = pages * max(g2.size, gran1)
            attrs = s2_attrs(memattr=draw(st.integers(0, 15)), s2ap=draw(st.integers(0, 3)),
                             xn=draw(st.integers(0, 3)), af=draw(st.integers(0, 6)) > 0,
                             sh=draw(st.sampled_from([0b00, 0b10, 0b11])),
                             dbm=draw(st.booleans()))
            s.s2.map(ipa, size, 0x2_0000_0000 + k * _SLOT, attrs)
            extras.append((ipa, size))
    # Stage-1 mappings to RAM, to the extras, or to unmapped IPAs.
    vas: list[int] = []
    if s.s1 is not None:
        for k in range(draw(st.integers(1, 4))):
            va = (k + 1) * _SLOT
            if va + _SLOT > s.s1.geom.ia_size:
                break
            pages = draw(st.integers(1, 3))
            size = pages * gran1
            target = draw(st.integers(0, 2))
            if target == 0 or not extras:
                ipa = RAM_IPA + (2 << 20) + draw(st.integers(0, 64)) * gran1
                ipa = min(ipa, RAM_IPA + RAM_SIZE - size)
            elif target == 1:
                ipa = extras[draw(st.integers(0, len(extras) - 1))][0]
            else:
                ipa = 0x7000_0000  # no stage-2 mapping here
            normal = target == 1 and draw(st.booleans())  # S1 Normal over S2's type
            attrs = s1_attrs(attr_index=0 if normal else draw(st.integers(0, 7)),
                             ap=draw(st.integers(0, 3)),
                             pxn=draw(st.booleans()), uxn=draw(st.booleans()),
                             af=draw(st.integers(0, 6)) > 0, ng=draw(st.booleans()),
                             sh=draw(st.sampled_from([0b00, 0b10, 0b11])),
                             dbm=draw(st.booleans()))
            s.s1.map(va, size, ipa, attrs, contiguous=draw(st.booleans()))
            for off in draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4)):
                vas.append(va + off)
        if draw(st.booleans()):
            # Corrupt one stage-1 descriptor: a reserved type or an OA beyond IPS.
            leaf = next(iter(s.s1.leaves()), None)
            if leaf is not None:
                bad = draw(st.sampled_from([leaf.raw & ~2 if leaf.level == 3 else leaf.raw,
                                            leaf.raw | (1 << 47), leaf.raw & ~1]))
                s.tables.write64(leaf.desc_pa, bad)  # type: ignore[attr-defined]
    if s.s2 is not None and extras and draw(st.booleans()):
        # Corrupt one extra stage-2 leaf: OA beyond a 40-bit PS, invalid, or AF=0.
        leaf = s.s2.lookup(extras[0][0])
        if leaf is not None:
            bad = draw(st.sampled_from([leaf.raw | (1 << 45), leaf.raw & ~1,
                                        leaf.raw & ~(1 << 10)]))
            s.mem.write64(leaf.desc_pa, bad)
    if s.s2 is not None and s.s1 is not None and draw(st.integers(0, 3)) == 0:
        # Make the page holding the stage-1 root hostile to table walks (S1PTW faults).
        attrs = draw(st.sampled_from([s2_attrs(memattr=0xF, af=False),
                                      s2_attrs(memattr=0xF, s2ap=0b10),
                                      s2_attrs(memattr=0x1)]))
        s.s2.protect(s.s1.root & ~(g2.size - 1), g2.size, attrs)
    vas += draw(st.lists(st.integers(0, (1 << 49) - 1), max_size=3))
    vas.append(RAM_IPA + 0x123)  # meaningful with stage 1 off
    hcr = 0
    if s.s2 is not None:
        hcr = HCR_DEFAULT
        for bit in (46, 2, 32):  # FWB, PTW, CD
            if draw(st.booleans()):
                hcr |= 1 << bit
    sctlr = SCTLR_DEFAULT
    if draw(st.integers(0, 3)) == 0:
        sctlr |= 1 << 1  # A
    if draw(st.integers(0, 3)) == 0:
        sctlr |= 1 << 19  # WXN
    mair = LINUX_MAIR if draw(st.booleans()) else draw(st.integers(0, (1 << 64) - 1))
    # FEAT_HAFDBS: hardware Access flag / dirty state at either stage, or not implemented.
    cpu = s.cpu.with_(xnx=draw(st.booleans()), xs=draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:
        cpu = cpu.with_(ha=False, hd=False)
    tcr = s.tcr
    if tcr and draw(st.integers(0, 2)) == 0:
        tcr = R.TCR_EL1.set(R.TCR_EL1.set(tcr, "HA", 1), "HD", int(draw(st.booleans())))
    vtcr = s.vtcr
    if vtcr and draw(st.integers(0, 2)) == 0:
        vtcr = R.VTCR_EL2.set(R.VTCR_EL2.set(vtcr, "HA", 1), "HD", int(draw(st.booleans())))
    reg = s.regime(hcr=hcr, sctlr=sctlr, mair=mair, cpu=cpu, tcr=tcr or None,
                   vtcr=vtcr or None)
    kind = draw(st.sampled_from(list(AccessKind)))
    return Scenario(s, reg, kind, draw(st.integers(0, 1)), draw(st.sampled_from([1, 4, 8, 16])),
                    vas)
