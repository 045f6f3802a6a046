"""Tests for memattr.linux.kvm.memslot: kvm_arch_prepare_memory_region's checks
(docs/linux-versions.md#memslot-creation-kvm_arch_prepare_memory_region)."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux.events import Errno
from memattr.linux.kvm.features import HostFeatures, VmConfig
from memattr.linux.kvm.memslot import (
    KVM_MEM_LOG_DIRTY_PAGES,
    KVM_MEM_READONLY,
    Memslot,
    kvm_arch_prepare_memory_region,
)
from memattr.linux.mm import AddressSpace
from memattr.linux.mmap import mmap_anonymous, nvgrace_gpu_mmap, vfio_pci_core_mmap
from memattr.linux.version import KernelVersion
from memattr.platform import Platform

V69, V617 = KernelVersion(6, 9), KernelVersion(6, 17)
HVA = 0x7F00_0000_0000


def _mm(vma: object) -> AddressSpace:
    mm = AddressSpace()
    mm.insert(vma)  # type: ignore[arg-type]
    return mm


def test_memslot_flags() -> None:
    """KVM_MEM_LOG_DIRTY_PAGES is bit 0, KVM_MEM_READONLY bit 1 (include/uapi/linux/kvm.h)."""
    assert (KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY) == (1, 2)
    s = Memslot(0, 0x1000, 0x2000, HVA, KVM_MEM_READONLY)
    assert s.readonly and not s.logging and s.ipa_to_hva(0x1800) == HVA + 0x800
    with pytest.raises(ConfigError):
        Memslot(0, 0x1001, 0x1000, HVA)


def test_dirty_logging_on_pfnmap_is_einval(plat: Platform) -> None:
    """Dirty logging on a VM_PFNMAP VMA is -EINVAL."""
    vma = vfio_pci_core_mmap(plat, "nic", 0, release=V69, hva=HVA)
    slot = Memslot(0, 0x1_0000_0000, vma.size, HVA, KVM_MEM_LOG_DIRTY_PAGES)
    r = kvm_arch_prepare_memory_region(_mm(vma), slot, host=HostFeatures(), vm=VmConfig(),
                                       release=V69)
    assert r.errno is Errno.EINVAL
    slot = Memslot(0, 0x1_0000_0000, vma.size, HVA)
    assert kvm_arch_prepare_memory_region(_mm(vma), slot, host=HostFeatures(), vm=VmConfig(),
                                          release=V69).errno is None


@pytest.mark.parametrize(("fwb", "dic", "ok"), [(True, True, True), (True, False, False),
                                                (False, True, False)])
def test_cacheable_pfnmap_needs_fwb_and_dic_from_6_17(plat: Platform, fwb: bool, dic: bool,
                                                     ok: bool) -> None:
    """From 6.17 a cacheable PFNMAP VMA needs FWB and DIC; before, the check does not exist."""
    vma = nvgrace_gpu_mmap(plat, "gpu", "usemem", release=V617, hva=HVA, size=1 << 21)
    slot = Memslot(0, 0x1_0000_0000, vma.size, HVA)
    host = HostFeatures(fwb=fwb, dic=dic)
    r = kvm_arch_prepare_memory_region(_mm(vma), slot, host=host, vm=VmConfig(), release=V617)
    assert (r.errno is None) == ok
    assert kvm_arch_prepare_memory_region(_mm(vma), slot, host=host, vm=VmConfig(),
                                          release=V69).errno is None


def test_mte_vm_needs_mte_allowed_vmas(plat: Platform) -> None:
    """A VM with MTE rejects any VMA without VM_MTE_ALLOWED (vfio BARs included)."""
    vma = vfio_pci_core_mmap(plat, "nic", 0, release=V69, hva=HVA)
    slot = Memslot(0, 0x1_0000_0000, vma.size, HVA)
    r = kvm_arch_prepare_memory_region(_mm(vma), slot, host=HostFeatures(mte=True),
                                       vm=VmConfig(mte=True), release=V69)
    assert r.errno is Errno.EINVAL
    ram = mmap_anonymous(plat, 1 << 21, hva=HVA, mte=True)
    r = kvm_arch_prepare_memory_region(_mm(ram), Memslot(0, 0, ram.size, HVA),
                                       host=HostFeatures(mte=True), vm=VmConfig(mte=True),
                                       release=V69)
    assert r.errno is None


def test_slot_beyond_ipa_space_is_efault(plat: Platform) -> None:
    """A slot ending beyond the VM's IPA space is -EFAULT."""
    r = kvm_arch_prepare_memory_region(AddressSpace(), Memslot(0, (1 << 40) - 0x1000, 0x2000, HVA),
                                       host=HostFeatures(), vm=VmConfig(), release=V69)
    assert r.errno is Errno.EFAULT


def test_no_vma_at_creation_passes(plat: Platform) -> None:
    """With no VMA in the range at creation the arch checks see nothing and pass."""
    slot = Memslot(0, 0x1_0000_0000, 1 << 21, HVA)
    r = kvm_arch_prepare_memory_region(AddressSpace(), slot, host=HostFeatures(fwb=False),
                                       vm=VmConfig(), release=V617)
    assert r.errno is None
