"""Reset and revoke as scripted events (drivers/vfio/pci/vfio_pci_core.c vfio_pci_zap_bars and
vfio_pci_mmap_fault; virt/kvm/kvm_main.c MMU notifier -> arch/arm64/kvm/mmu.c
kvm_unmap_gfn_range), VMA replacement under a memslot, and a driver PFNMAP (DRM/TTM/dma-buf)."""

from __future__ import annotations

from memattr.linux import (
    DriverPfnmap,
    HostFeatures,
    MemslotSpec,
    NvgraceRegion,
    VfioPciBar,
    evaluate,
)
from memattr.linux.decisions import KernelRule
from memattr.linux.events import Errno, EventKind
from memattr.linux.kvm.abort import GuestAccess
from memattr.linux.system import Session
from memattr.mmu.events import EventKind as MmuKind
from memattr.platform import Platform

IPA = 0x10_0000_0000


def test_zap_unmaps_stage2_with_tlbi_then_efault_then_restore(plat: Platform) -> None:
    """Memory decode off: the VMA is zapped, KVM unmaps stage 2 (BREAK, TLBI IPAS2E1IS, DSB), the
    next access faults, the PFN lookup gets VM_FAULT_SIGBUS and KVM_RUN returns -EFAULT; after
    memory is re-enabled the fault maps the BAR again."""
    s = Session("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap_wc")
    first = s.access(GuestAccess.write(4))
    assert first.effective is not None and first.effective.short == "Normal-NC"
    before = len(s.kvm.pgt.table.events)
    s.zap()
    steps = s.kvm.pgt.table.events[before:]
    ops = [e.op for e in steps if e.kind is MmuKind.TLBI]
    assert "IPAS2E1IS" in ops and any(e.kind is MmuKind.DSB for e in steps)
    assert s.kvm.pgt.lookup(IPA) is None
    after = s.access(GuestAccess.write(4))
    assert after.errno is Errno.EFAULT and after.leaf is None
    kinds = [e.kind for e in after.events]
    assert kinds.index(EventKind.VMA_ZAPPED) < kinds.index(EventKind.STAGE2_UNMAPPED) < \
        kinds.index(EventKind.RUN_FAILED)
    assert any(d.branch == "pfn_lookup_sigbus" for d in after.decisions)
    s.restore()
    again = s.access(GuestAccess.write(4))
    assert again.effective is not None and again.errno is Errno.EFAULT  # the story keeps it
    assert again.aborts[-1].retry and again.leaf is not None


def test_reset_is_a_device_reset_event(plat: Platform) -> None:
    """A function reset is scripted the same way and says so."""
    s = Session("6.17", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    s.access()
    s.zap("function reset")
    ev = s.access()
    assert any(e.kind is EventKind.DEVICE_RESET for e in ev.events)
    assert any(d.rule is KernelRule.vfio_pci_zap_bars for d in ev.decisions)


def test_replacing_the_vma_reaches_the_6_17_fault_time_efault(plat: Platform) -> None:
    """A memslot accepted over a non-cacheable VMA, then the VMA replaced by a cacheable PFNMAP
    (nvgrace usemem): 6.17 without FWB finds it only at fault time, -EFAULT (2a8dfab26677)."""
    s = Session("6.17", HostFeatures(fwb=False), plat, NvgraceRegion("gpu", "resmem", size=1 << 21),
                MemslotSpec(IPA), "ioremap")
    assert s.access().effective is not None
    s.replace_source(NvgraceRegion("gpu", "usemem", size=1 << 21))
    ev = s.access()
    assert ev.errno is Errno.EFAULT
    assert any(d.branch == "cacheable_pfnmap_unsupported" for d in ev.decisions)
    assert any(e.kind is EventKind.VMA_REPLACED for e in ev.events)


def test_driver_pfnmap_virtio_gpu_blob(plat: Platform) -> None:
    """A DRM/TTM write-combined PFNMAP (a virtio-gpu blob resource in the VMM) has no
    VM_ALLOW_ANY_UNCACHED: 6.9-6.17 map it Device-nGnRE at stage 2, so the guest's WC mapping
    becomes Device (the reported failure); a driver that set the flag would get Normal-NC."""
    blob = DriverPfnmap(0x80_0100_0000, 1 << 20, "writecombine", name="virtio-gpu blob")
    for policy in ("6.9", "6.17"):
        ev = evaluate(policy, HostFeatures(), plat, blob, MemslotSpec(IPA), "ioremap_wc")
        assert ev.s2_kind == "DEVICE_nGnRE" and ev.effective is not None
        assert ev.effective.short == "Device-nGnRE"
    flagged = DriverPfnmap(0x80_0100_0000, 1 << 20, "writecombine", allow_any_uncached=True)
    ev = evaluate("6.9", HostFeatures(), plat, flagged, MemslotSpec(IPA), "ioremap_wc")
    assert ev.effective is not None and ev.effective.short == "Normal-NC"
