"""The stage-2 mapping size ``user_mem_abort`` chooses, per release and mapping source.

The rules, each cited where it starts:

* ``fault_supports_stage2_huge_mapping``: a block of ``size`` is possible only if the memslot's
  HVA and IPA are congruent modulo ``size`` and the block lies inside the memslot (all releases).
* up to v5.13: hugetlb VMAs use their huge page size; a VM_PFNMAP VMA or dirty logging forces
  PTEs (``force_pte``) -- the stored 5.x ``user_mem_abort`` reads ``if (logging_active ||
  (vma->vm_flags & VM_PFNMAP)) force_pte = true``.  Anonymous RAM may still get a block through
  ``transparent_hugepage_adjust`` when the host maps it with a THP.
* from Linux commit 2aa53d68cee6 ("KVM: arm64: Try stage2 block mapping for host device MMIO")
  (v5.14): ``get_vma_page_shift`` -- hugetlb: the huge page size; not VM_PFNMAP: PAGE_SIZE;
  VM_PFNMAP: PUD or PMD when the HVA and the VMA's physical address are equally aligned and the
  block lies in the VMA, else PAGE_SIZE; device pages are never upgraded by THP.
* the PFN lookup: the stage-2 block of a PFNMAP cannot be larger than the host's own leaf for
  that HVA.  This is the rule that explains the observations on real KVM: 6.1 maps a 2 MiB-aligned
  vfio-pci BAR with 4 KiB pages (vfio-pci fills its VMA with PTEs), 6.12 maps it with one 2 MiB
  block (vfio-pci's ``huge_fault``, Linux commit f9e54c3a2f5b (v6.12), installs a PMD), and
  6.12 maps a sysfs ``resourceN`` mmap of the same BAR with 4 KiB pages (``remap_pfn_range``
  always installs PTEs).  The kernel site of this clamp was not located in the sources read
  (see docs/linux-versions.md); the model states it as a rule of the PFN lookup.
"""

from __future__ import annotations

from ...arch.decision import Decision
from ..decisions import KernelRule, decide
from ..mm import PAGE_SIZE, PMD_SIZE, PUD_SIZE, VM_HUGETLB, VM_PFNMAP, Vma
from ..version import V5_14, KernelVersion
from .memslot import Memslot

__all__ = ["fault_supports_stage2_huge_mapping", "get_vma_page_shift", "stage2_mapping_size"]


def fault_supports_stage2_huge_mapping(memslot: Memslot, hva: int, size: int) -> bool:
    """arch/arm64/kvm/mmu.c ``fault_supports_stage2_huge_mapping``: HVA and IPA of the slot
    congruent modulo ``size`` and the aligned block inside the slot."""
    if size == PAGE_SIZE:
        return True
    if (memslot.guest_phys_addr & (size - 1)) != (memslot.userspace_addr & (size - 1)):
        return False
    base = hva & ~(size - 1)
    return base >= memslot.userspace_addr and base + size <= memslot.userspace_addr + \
        memslot.memory_size


def get_vma_page_shift(vma: Vma, hva: int) -> int:
    """``get_vma_page_shift`` (v5.14+) as a size: the largest mapping the VMA allows at ``hva``."""
    if vma.vm_flags & VM_HUGETLB and not vma.vm_flags & VM_PFNMAP:
        return vma.page_size
    if not vma.vm_flags & VM_PFNMAP:
        return PAGE_SIZE
    pa = vma.hva_to_phys(hva)
    for size in (PUD_SIZE, PMD_SIZE):
        if (hva & (size - 1)) == (pa & (size - 1)) and (hva & ~(size - 1)) >= vma.vm_start and \
                (hva & ~(size - 1)) + size <= vma.vm_end:
            return size
    return PAGE_SIZE


def stage2_mapping_size(
    *,
    release: KernelVersion,
    vma: Vma,
    memslot: Memslot,
    hva: int,
    device: bool,
) -> tuple[int, tuple[Decision, ...]]:
    """The stage-2 leaf size ``user_mem_abort`` of ``release`` uses for a fault at ``hva``, and
    the decisions that chose it."""
    out: list[Decision] = []
    logging = memslot.logging
    if logging:
        out.append(decide(KernelRule.user_mem_abort, "logging_force_pte", PAGE_SIZE,
                          logging_active=True))
        return PAGE_SIZE, tuple(out)
    if release < V5_14:
        if vma.vm_flags & VM_PFNMAP:
            out.append(decide(KernelRule.user_mem_abort, "pfnmap_force_pte", PAGE_SIZE,
                              vm_pfnmap=True, release=str(release)))
            return PAGE_SIZE, tuple(out)
        size = vma.page_size if vma.vm_flags & VM_HUGETLB else PAGE_SIZE
        out.append(decide(KernelRule.user_mem_abort, "vma_shift_hugetlb" if size > PAGE_SIZE
                          else "vma_shift_page", size, vm_hugetlb=bool(vma.vm_flags & VM_HUGETLB)))
    else:
        size = get_vma_page_shift(vma, hva)
        out.append(decide(KernelRule.get_vma_page_shift, "hugetlb" if vma.vm_flags & VM_HUGETLB
                          else "pfnmap" if vma.vm_flags & VM_PFNMAP else "page", size,
                          hva=hva, pa=vma.hva_to_phys(hva), vm_start=vma.vm_start,
                          vm_end=vma.vm_end))
        if vma.vm_flags & VM_PFNMAP and size > PAGE_SIZE:
            leaf = vma.host_leaf_size(hva)
            if leaf < size:
                out.append(decide(KernelRule.user_mem_abort, "pfn_lookup_host_leaf", leaf,
                                  host_leaf=leaf, vma_pagesize=size,
                                  huge_pfnmap=vma.huge_pfnmap))
                size = leaf
    while size > PAGE_SIZE and not fault_supports_stage2_huge_mapping(memslot, hva, size):
        smaller = PMD_SIZE if size > PMD_SIZE else PAGE_SIZE
        out.append(decide(KernelRule.fault_supports_stage2_huge_mapping, "fallback", smaller,
                          size=size, gpa_start=memslot.guest_phys_addr,
                          uaddr_start=memslot.userspace_addr))
        size = smaller
    if size == PAGE_SIZE and not device and vma.thp:
        leaf = vma.host_leaf_size(hva)
        if leaf == PMD_SIZE and fault_supports_stage2_huge_mapping(memslot, hva, PMD_SIZE):
            out.append(decide(KernelRule.transparent_hugepage_adjust, "thp_block", PMD_SIZE,
                              host_leaf=leaf))
            size = PMD_SIZE
    return size, tuple(out)
