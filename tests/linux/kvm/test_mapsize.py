"""Stage-2 mapping sizes as the kernel chooses them, per release and mapping source
(arch/arm64/kvm/mmu.c user_mem_abort / get_vma_page_shift / fault_supports_stage2_huge_mapping /
transparent_hugepage_adjust; drivers/vfio/pci/vfio_pci_core.c huge_fault since v6.12)."""

from __future__ import annotations

import pytest

from memattr.linux import (
    AnonymousRam,
    HostFeatures,
    HugetlbRam,
    MemslotSpec,
    PciSysfsResource,
    VfioPciBar,
    evaluate,
)
from memattr.linux.decisions import KernelRule
from memattr.linux.kvm.mapsize import fault_supports_stage2_huge_mapping, get_vma_page_shift
from memattr.linux.kvm.memslot import Memslot
from memattr.linux.mmap import vfio_pci_core_mmap
from memattr.linux.version import KernelVersion
from memattr.platform import Platform

K4, M2 = 1 << 12, 1 << 21
IPA = 0x10_0000_0000  # 2 MiB (and 1 GiB) aligned


def _size(plat: Platform, release: str, source: object, offset: int = 0x1000,
          slot: MemslotSpec | None = None) -> int:
    ev = evaluate(release, HostFeatures(), plat, source, slot or MemslotSpec(IPA),  # type: ignore
                  "ioremap_wc", offset=offset)
    assert ev.leaf is not None, ev.events
    return ev.leaf.size


@pytest.mark.parametrize(
    ("release", "source", "size"),
    [
        # The three observations on real KVM (issue 10): 6.1 vfio-pci 4 KiB; 6.12 vfio-pci one
        # 2 MiB block (huge_fault, f9e54c3a2f5b); 6.12 sysfs resourceN 4 KiB (remap_pfn_range).
        ("6.1", VfioPciBar("nic", 0), K4),
        ("6.12", VfioPciBar("nic", 0), M2),
        ("6.12", PciSysfsResource("nic", 0), K4),
        ("6.17", VfioPciBar("nic", 0), M2),
        # up to v5.13 a VM_PFNMAP VMA forces PTEs (and is mapped page by page at creation)
        ("5.10", VfioPciBar("nic", 0), K4),
        # RAM: THP gives 2 MiB blocks where aligned, plain anonymous pages 4 KiB, hugetlb its size
        ("6.12", AnonymousRam(4 * M2, thp=True), M2),
        ("6.1", AnonymousRam(4 * M2, thp=True), M2),
        ("6.12", AnonymousRam(4 * M2), K4),
        ("5.10", HugetlbRam(4 * M2), M2),
        ("6.12", HugetlbRam(4 * M2), M2),
    ],
)
def test_mapping_size_table(plat: Platform, release: str, source: object, size: int) -> None:
    """The leaf size per release and source, as the table in docs/linux-versions.md."""
    assert _size(plat, release, source) == size


def test_block_needs_congruent_memslot(plat: Platform) -> None:
    """A memslot whose IPA is not congruent with its HVA modulo 2 MiB gets 4 KiB pages
    (fault_supports_stage2_huge_mapping), also for a huge-faulted BAR under 6.12."""
    assert _size(plat, "6.12", VfioPciBar("nic", 0), slot=MemslotSpec(IPA + K4)) == K4


def test_pfn_lookup_decision_is_recorded(plat: Platform) -> None:
    """The clamp to the host's leaf is a recorded decision; 6.12 records none for vfio-pci."""
    ev = evaluate("6.1", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    assert any(d.branch == "pfn_lookup_host_leaf" for d in ev.decisions)
    shift = [d for d in ev.decisions if d.rule is KernelRule.get_vma_page_shift]
    assert shift and shift[0].result == M2
    ev = evaluate("6.12", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    assert not any(d.branch == "pfn_lookup_host_leaf" for d in ev.decisions)


def test_get_vma_page_shift_alignment(plat: Platform) -> None:
    """get_vma_page_shift: PMD when HVA and PA are congruent and the block is in the VMA."""
    v = vfio_pci_core_mmap(plat, "nic", 0, release=KernelVersion(6, 12), hva=0x7F00_0000_0000)
    assert get_vma_page_shift(v, v.vm_start + 0x1000) == M2
    w = vfio_pci_core_mmap(plat, "nic", 0, release=KernelVersion(6, 12), hva=0x7F00_0000_1000)
    assert get_vma_page_shift(w, w.vm_start) == K4
    slot = Memslot(0, IPA, v.size, v.vm_start)
    assert fault_supports_stage2_huge_mapping(slot, v.vm_start, M2)
    assert not fault_supports_stage2_huge_mapping(Memslot(0, IPA + K4, v.size, v.vm_start),
                                                  v.vm_start, M2)


def test_5_10_maps_pfnmap_at_memslot_creation(plat: Platform) -> None:
    """Before fd6f17bade21 (v5.14) the memslot ioctl itself maps a VM_PFNMAP VMA as Device, so
    the guest's first access takes no stage-2 fault."""
    ev = evaluate("5.10", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    assert not ev.aborts and ev.leaf is not None and ev.leaf.memattr == 0b0001
    assert any(d.branch == "map_pfnmap_at_creation" for d in ev.decisions)
