"""Tests for memattr.linux.kvm.mmu and vm: kvm_handle_guest_abort's branches, user_mem_abort's
device detection, prot assembly and errors, kvm_phys_addr_ioremap (docs/review.md#user_mem_abort)."""

from __future__ import annotations

import pytest

from memattr.arch.combine import Access
from memattr.errors import ConfigError
from memattr.linux.events import Errno, EventKind
from memattr.linux.kvm import (
    KVM_PGTABLE_PROT,
    GuestAccess,
    HostFeatures,
    InstrClass,
    Kvm,
    KvmPgtable,
    Memslot,
    VmConfig,
    io_mem_abort,
    kvm_phys_addr_ioremap,
    user_mem_abort,
)
from memattr.linux.kvm.memslot import KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY
from memattr.linux.mm import VM_PFNMAP, Vma
from memattr.linux.mmap import (
    mmap_anonymous,
    mmap_hugetlb,
    nvgrace_gpu_mmap,
    vfio_pci_core_mmap,
)
from memattr.linux.policy import POLICY_6_9, POLICY_6_17, get_policy
from memattr.linux.version import KernelVersion
from memattr.platform import Platform

P = KVM_PGTABLE_PROT
HVA = 0x7F00_0000_0000
IPA = 0x1_0000_0000
V69 = KernelVersion(6, 9)


def _vm(plat: Platform, vma: Vma, policy: str = "6.9", flags: int = 0,
        host: HostFeatures | None = None, vm: VmConfig | None = None) -> Kvm:
    kvm = Kvm(policy, host or HostFeatures(), plat, vm=vm)
    kvm.add_vma(vma)
    r = kvm.kvm_set_user_memory_region(Memslot(0, IPA, vma.size, vma.vm_start, flags))
    assert r.errno is None, r.events
    return kvm


def test_ram_prot_with_and_without_dic(plat: Platform) -> None:
    """RAM gets X eagerly with CTR_EL0.DIC; without it only on an exec fault, with an I-cache
    invalidation."""
    ram = mmap_anonymous(plat, 1 << 21, hva=HVA)
    r = _vm(plat, ram, host=HostFeatures(dic=True)).handle_guest_abort(IPA, GuestAccess.read())
    assert r.prot == P.R | P.W | P.X and r.leaf is not None and not r.leaf.xn
    r = _vm(plat, ram, host=HostFeatures(dic=False)).handle_guest_abort(IPA, GuestAccess.read())
    assert r.prot == P.R | P.W and r.leaf is not None and r.leaf.xn
    r = _vm(plat, ram, host=HostFeatures(dic=False)).handle_guest_abort(IPA, GuestAccess.fetch())
    assert r.prot is not None and P.X in r.prot
    assert any("invalidate_icache" in e.text for e in r.events)


def test_device_pages_never_executable(plat: Platform) -> None:
    """Device pages never get X: even with DIC the prot is R|W plus the type bit."""
    bar = vfio_pci_core_mmap(plat, "nic", 0, release=V69, hva=HVA)
    r = _vm(plat, bar).handle_guest_abort(IPA, GuestAccess.read())
    assert r.prot == P.R | P.W | P.NORMAL_NC and r.device and r.vfio_allow_any_uc


def test_dirty_logging_maps_read_faults_read_only(plat: Platform) -> None:
    """With dirty logging a read fault on RAM is mapped without W (and at page granularity)."""
    ram = mmap_hugetlb(plat, 4 << 20, hva=HVA)
    kvm = _vm(plat, ram, flags=KVM_MEM_LOG_DIRTY_PAGES)
    r = kvm.handle_guest_abort(IPA, GuestAccess.read())
    assert r.prot is not None and P.W not in r.prot and r.leaf is not None
    assert r.leaf.size == 4096
    r = _vm(plat, ram).handle_guest_abort(IPA, GuestAccess.read())
    assert r.leaf is not None and r.leaf.size == 2 << 20


def test_readonly_memslot_write_is_mmio(plat: Platform) -> None:
    """A write to a read-only memslot is handled as MMIO (KVM_EXIT_MMIO)."""
    ram = mmap_anonymous(plat, 1 << 21, hva=HVA)
    kvm = _vm(plat, ram, flags=KVM_MEM_READONLY)
    r = kvm.handle_guest_abort(IPA, GuestAccess.write())
    assert r.exit_reason == "KVM_EXIT_MMIO" and not r.mapped
    r = kvm.handle_guest_abort(IPA, GuestAccess.read())
    assert r.mapped and r.prot is not None and P.W not in r.prot


def test_no_memslot_branches(plat: Platform) -> None:
    """Outside memslots: fetch -> prefetch abort, S1 walk -> data abort, DC op -> skipped."""
    kvm = Kvm("6.9", HostFeatures(), plat)
    r = kvm.handle_guest_abort(0x1000, GuestAccess.fetch())
    assert r.injected == "prefetch abort" and r.internal_errno is Errno.ENOEXEC and r.errno is None
    r = kvm.handle_guest_abort(0x1000, GuestAccess(Access.TTW, 8))
    assert r.injected == "data abort"
    r = kvm.handle_guest_abort(0x1000, GuestAccess(Access.READ, 8, InstrClass.CACHE_MAINTENANCE))
    assert [e.kind for e in r.events] == [EventKind.CACHE_MAINTENANCE_SKIPPED]


def test_io_mem_abort() -> None:
    """io_mem_abort: ISV -> KVM_EXIT_MMIO; no ISV -> -ENOSYS, or NISV exit when enabled."""
    assert io_mem_abort(GuestAccess.read(), 0).exit_reason == "KVM_EXIT_MMIO"
    pair = GuestAccess(Access.WRITE, 16, InstrClass.LDP_STP)
    assert io_mem_abort(pair, 0).errno is Errno.ENOSYS
    assert io_mem_abort(pair, 0, vm=VmConfig(nisv_to_user=True)).exit_reason == "KVM_EXIT_ARM_NISV"


def test_mapped_ipa_does_not_fault_again(plat: Platform) -> None:
    """An access to an IPA KVM already mapped does not fault."""
    ram = mmap_anonymous(plat, 1 << 21, hva=HVA)
    kvm = _vm(plat, ram)
    first = kvm.handle_guest_abort(IPA, GuestAccess.read())
    again = kvm.handle_guest_abort(IPA + 8, GuestAccess.read())
    assert again.leaf == first.leaf and "no fault" in again.events[0].text


def test_missing_vma_is_efault(plat: Platform) -> None:
    """A memslot whose HVA has no VMA fails the fault with -EFAULT."""
    kvm = Kvm("6.9", HostFeatures(), plat)
    kvm.kvm_set_user_memory_region(Memslot(0, IPA, 1 << 21, HVA))
    r = kvm.handle_guest_abort(IPA, GuestAccess.read())
    assert r.errno is Errno.EFAULT
    assert [e.kind for e in r.events][-1] is EventKind.RUN_FAILED


def test_mte_vma_changed_after_memslot_is_efault(plat: Platform) -> None:
    """With MTE, a non-device page whose VMA lacks VM_MTE_ALLOWED is -EFAULT at fault."""
    ram = mmap_anonymous(plat, 1 << 21, hva=HVA, mte=False)
    kvm = Kvm("6.9", HostFeatures(mte=True), plat, vm=VmConfig(mte=True))
    kvm.kvm_set_user_memory_region(Memslot(0, IPA, ram.size, HVA))
    kvm.add_vma(ram)
    assert kvm.handle_guest_abort(IPA, GuestAccess.read()).errno is Errno.EFAULT
    ok = mmap_anonymous(plat, 1 << 21, hva=HVA, mte=True)
    kvm = _vm(plat, ok, host=HostFeatures(mte=True), vm=VmConfig(mte=True))
    r = kvm.handle_guest_abort(IPA, GuestAccess.read())
    assert r.mapped and any("sanitise_mte_tags" in e.text for e in r.events)
    with pytest.raises(ConfigError):
        Kvm("6.9", HostFeatures(mte=False), plat, vm=VmConfig(mte=True))


def test_6_17_non_pfnmap_outside_linear_map_is_cacheable(plat: Platform) -> None:
    """6.17 maps a non-PFNMAP VMA cacheable even over non-linear-map PFNs (216887f79d98);
    6.9 treats the same page as device."""
    carve = Vma(HVA, HVA + 0x1000, 0x3, mmap_anonymous(plat, 4096, hva=HVA).vm_page_prot,
                0x1_0000_0000, "raw carve-out")
    kvm = _vm(plat, carve, policy="6.17")
    assert kvm.handle_guest_abort(IPA, GuestAccess.read()).leaf.kind == "NORMAL"  # type: ignore
    kvm = _vm(plat, carve, policy="6.9")
    assert kvm.handle_guest_abort(IPA, GuestAccess.read()).leaf.kind == "DEVICE_nGnRE"  # type: ignore


def test_6_17_cacheable_pfnmap_efault_direct(plat: Platform) -> None:
    """user_mem_abort (6.17) returns -EFAULT for a cacheable PFNMAP VMA without FWB+DIC."""
    vma = nvgrace_gpu_mmap(plat, "gpu", "usemem", release=KernelVersion(6, 17), hva=HVA,
                           size=1 << 21)
    assert vma.vm_flags & VM_PFNMAP
    r = user_mem_abort(policy=POLICY_6_17, host=HostFeatures(fwb=True, dic=False), platform=plat,
                       pgt=KvmPgtable(fwb=True), memslot=Memslot(0, IPA, vma.size, HVA), vma=vma,
                       ipa=IPA, access=GuestAccess.read())
    assert r.errno is Errno.EFAULT and not r.mapped


def test_kvm_phys_addr_ioremap(plat: Platform) -> None:
    """kvm_phys_addr_ioremap maps DEVICE|R|W page by page, no VMA; v2 used NORMAL_NC."""
    pgt = KvmPgtable(fwb=True)
    r = kvm_phys_addr_ioremap(policy=POLICY_6_9, pgt=pgt, guest_ipa=0x0801_0000,
                              pa=0x0804_0000, size=0x2000)
    assert r.prot == P.DEVICE | P.R | P.W and len(pgt.leaves) == 2
    assert all(leaf.memattr == 0b0001 and leaf.xn for leaf in pgt.leaves)
    pgt = KvmPgtable(fwb=True)
    r = kvm_phys_addr_ioremap(policy=get_policy("v2"), pgt=pgt, guest_ipa=0x0801_0000,
                              pa=0x0804_0000, size=0x1000, writable=False)
    assert r.prot == P.NORMAL_NC | P.R and pgt.leaves[0].memattr == 0b0101


def test_gicv_exec_is_prefetch_abort(plat: Platform) -> None:
    """An instruction fetch from the (non-executable) GICV mapping gets a prefetch abort."""
    kvm = Kvm("6.9", HostFeatures(), plat)
    kvm.vgic_v2_map_resources(0x0801_0000)
    assert kvm.handle_guest_abort(0x0801_0000, GuestAccess.read()).mapped
    r = kvm.handle_guest_abort(0x0801_0000, GuestAccess.fetch())
    assert r.injected == "prefetch abort"


def test_overlapping_memslots_eexist(plat: Platform) -> None:
    """KVM_SET_USER_MEMORY_REGION rejects a slot overlapping another with -EEXIST."""
    kvm = Kvm("6.9", HostFeatures(), plat)
    assert kvm.kvm_set_user_memory_region(Memslot(0, IPA, 0x2000, HVA)).errno is None
    assert kvm.kvm_set_user_memory_region(Memslot(1, IPA + 0x1000, 0x2000, HVA)).errno \
        is Errno.EEXIST
    assert kvm.memslot_for(IPA + 0x1000) is not None and kvm.memslot_for(IPA + 0x2000) is None


def test_no_gic_on_platform() -> None:
    """Mapping GICV on a platform without a GICv2 is a ConfigError."""
    from memattr.platform import Platform as Plat

    with pytest.raises(ConfigError):
        Kvm("6.9", HostFeatures(), Plat()).vgic_v2_map_resources(0)
