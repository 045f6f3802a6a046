"""memattr.mmu: real translation tables in a simulated physical memory, two-stage walks of
guest accesses through them, a TLB with TLBI/DSB, and Linux/KVM-format dumps.

Modules: :mod:`~memattr.mmu.physmem` (sparse memory, table allocator), :mod:`~memattr.mmu.regime`
(registers -> table geometry), :mod:`~memattr.mmu.pgtable` (kvm_pgtable-like builder with
break-before-make events), :mod:`~memattr.mmu.walk` (the scalar walker), :mod:`~memattr.mmu.at`
(AT instructions and PAR_EL1),
:mod:`~memattr.mmu.batch` (the numpy walker), :mod:`~memattr.mmu.tlb`, :mod:`~memattr.mmu.dump`
and :mod:`~memattr.mmu.events`.  Layer: imports arch only; numpy is imported by the bulk and
batch paths, never at import time.
"""

__all__ = ["physmem", "regime", "pgtable", "walk", "at", "batch", "tlb", "dump", "events"]
