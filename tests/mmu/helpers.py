"""Builders shared by the mmu tests: a physical memory with stage-2 and/or stage-1 tables."""

from __future__ import annotations

from typing import Any

from memattr.arch.cpu import ALL, Cpu
from memattr.arch.descriptor import Granule
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
from memattr.mmu.pgtable import IpaSpace, PageTable, s2_attrs
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
from memattr.mmu.walk import Access, AccessKind, WalkResult, walk

__all__ = ["Setup", "RAM_IPA", "RAM_PA", "RAM_SIZE", "NORMAL_S2", "compare"]

RAM_IPA = 0x4000_0000
RAM_PA = 0x1_0000_0000
RAM_SIZE = 0x4000_0000
NORMAL_S2 = s2_attrs(memattr=0xF)


class Setup:
    """A physical memory, an optional stage-2 table (guest RAM mapped Normal WB at
    ``RAM_IPA``), an optional stage-1 table (in guest RAM when there is a stage 2)."""

    def __init__(
        self,
        *,
        s1: tuple[Granule, int] | None = (Granule.K4, 48),
        s2: tuple[Granule, int] | None = (Granule.K4, 40),
        ips: int = 48,
        ps: int = 48,
        ds1: bool = False,
        ds2: bool = False,
        s2_start: int | None = None,
        ram_leaf: int | None = None,
        cpu: Cpu = ALL,
        bulk_min: int = 32,
    ) -> None:
        self.cpu = cpu
        self.mem = PhysMem(cpu=cpu, alloc_base=0x8000_0000)
        self.s2: PageTable | None = None
        self.vtcr = 0
        self.ps = ps
        tables: object = self.mem
        if s2 is not None:
            g2 = Geometry.for_stage2(s2[0], s2[1], min(ps, cpu.pa_max), s2_start, ds2, cpu=cpu)
            self.vtcr = vtcr_value(g2, ps)
            self.s2 = PageTable(self.mem, g2, vmid=7, bulk_min=bulk_min)
            self.s2.map(RAM_IPA, RAM_SIZE, RAM_PA, NORMAL_S2, max_leaf=ram_leaf)
            tables = IpaSpace(self.s2, RAM_IPA, 1 << 20)
        self.tables = tables
        self.s1: PageTable | None = None
        self.tcr = 0
        if s1 is not None:
            reg = Stage1Regime.simple(s1[0], s1[1], ips, ds=ds1, mair=LINUX_MAIR, cpu=cpu)
            self.tcr = reg.tcr
            geom = reg.halves[0].geometry
            assert geom is not None
            self.s1 = PageTable(tables, geom, asid=3,  # type: ignore[arg-type]
                                bulk_min=bulk_min)

    def regime(self, *, hcr: int | None = None, sctlr: int = SCTLR_DEFAULT,
               mair: int = LINUX_MAIR, xnx: bool | None = None, tcr: int | None = None,
               ttbr0: int | None = None, vttbr: int | None = None,
               cpu: Cpu | None = None, vtcr: int | None = None) -> Regime:
        """The registers describing the tables (HCR_EL2 VM|RW by default when stage 2 exists).

        :param xnx: FEAT_XNX (default: the setup's CPU without it, as before FEAT_XNX mattered).
        """
        cpu = cpu if cpu is not None else self.cpu.with_(xnx=bool(xnx))
        if self.s1 is None:
            sctlr &= ~1
        s1 = Stage1Regime(tcr if tcr is not None else (self.tcr or Stage1Regime.simple(
                          mair=mair).tcr),
                          ttbr0=ttbr0 if ttbr0 is not None else
                          (self.s1.ttbr if self.s1 is not None else 0),
                          mair=mair, sctlr=sctlr, cpu=cpu)
        s2 = None
        if self.s2 is not None:
            s2 = Stage2Regime(vtcr if vtcr is not None else self.vtcr,
                              vttbr if vttbr is not None else self.s2.vttbr, cpu=cpu)
        h = hcr if hcr is not None else (HCR_DEFAULT if s2 is not None else 0)
        return Regime(s1, s2, h)

    def walk(self, va: int, kind: AccessKind = AccessKind.READ, *, el: int = 1, size: int = 8,
             regime: Regime | None = None, srt: int | None = None) -> WalkResult:
        """Walk one access with :meth:`regime`'s defaults."""
        reg = regime if regime is not None else self.regime()
        return walk(self.mem, reg, Access(va, kind, el, size, srt=srt))


def compare(batch: Any, i: int, result: WalkResult) -> list[str]:
    """Differences between element ``i`` of a batch and a scalar WalkResult (empty when they
    agree)."""
    from memattr.mmu.batch import FAULT_CODES

    diffs: list[str] = []
    pairs: list[tuple[str, Any, Any]]
    f = result.fault
    code = int(batch.fault[i])
    t = result.translation
    if f is None:
        assert t is not None
        if code:
            diffs.append(f"batch faults ({FAULT_CODES[code]}) where the scalar walk translates")
            return diffs
        pairs = [("pa", int(batch.pa[i]), t.pa), ("ipa", int(batch.ipa[i]), t.ipa),
                 ("perms", int(batch.perms[i]), t.perms.bits),
                 ("s1_desc", int(batch.s1_desc[i]), t.s1_desc or 0),
                 ("s2_desc", int(batch.s2_desc[i]), t.s2_desc or 0),
                 ("s1_attr", int(batch.s1_attr[i]), -1 if t.s1_attr is None else t.s1_attr),
                 ("s2_memattr", int(batch.s2_memattr[i]),
                  -1 if t.s2_memattr is None else t.s2_memattr)]
    else:
        if FAULT_CODES.get(code) is not f.kind:
            diffs.append(f"fault kind {FAULT_CODES.get(code)} != {f.kind}")
            return diffs
        lvl = int(batch.level[i])
        pairs = [("stage", int(batch.stage[i]), f.stage),
                 ("level", None if lvl == -2 else lvl, f.level),
                 ("s1ptw", bool(batch.s1ptw[i]), f.s1ptw), ("esr", int(batch.esr[i]), f.esr),
                 ("hpfar", int(batch.hpfar[i]) if batch.hpfar_valid[i] else None, f.hpfar)]
    for name, got, want in pairs:
        if got != want:
            diffs.append(f"{name}: batch {got!r} != scalar {want!r}")
    return diffs
