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


# --- the release boundary: abafbc551fdd ("vfio-pci: Invalidate mmaps and block MMIO access on
# disabled memory"), in "[GIT PULL] VFIO updates for v5.8-rc1" (merged after v5.7 was released) --


def test_zap_commit_is_registered_in_v5_8() -> None:
    """The commit the zap cites is the registry's, first in v5.8."""
    from memattr.linux.commits import commit
    from memattr.linux.version import V5_8

    c = commit("vfio-mmio-block")
    assert c.id == "abafbc551fdd" and c.release == V5_8
    assert "block MMIO access on disabled memory" in c.subject


def test_before_v5_8_memory_disable_leaves_the_mappings_and_the_device_answers_ur(
        plat: Platform) -> None:
    """5.7: vfio-pci passes the command write through and zaps nothing (no vfio_pci_zap_bars
    before abafbc551fdd): the VMA and KVM's stage 2 stay, no TLBI is issued, and the guest's next
    access reaches the function with Memory Space Enable clear.  It answers Unsupported Request;
    behind the example's PCIe root complex (no error reporting) a load gets all-ones data and a
    store is dropped (platform.bus.error_outcome), with no KVM_RUN error."""
    from memattr.platform import ALL_ONES

    s = Session("5.7", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    first = s.access()
    assert first.error_response is None and first.leaf is not None
    before = len(s.kvm.pgt.table.events)
    s.zap()
    assert not any(e.kind is MmuKind.TLBI for e in s.kvm.pgt.table.events[before:])
    assert s.kvm.pgt.lookup(IPA) is not None  # stage 2 stays
    assert s.vma is not None and s.kvm.mm.find_vma(s.vma.vm_start) is s.vma
    read = s.access()
    assert read.errno is None and read.leaf is not None
    assert read.error_response is not None and read.error_response.read_value == ALL_ONES
    assert any(d.rule is KernelRule.vfio_pci_zap_bars and d.branch == "no_zap" and
               d.result is False for d in read.decisions)
    kinds = [e.kind for e in read.events]
    assert EventKind.VMA_ZAPPED not in kinds and EventKind.STAGE2_UNMAPPED not in kinds
    ur = [e for e in read.events if e.kind is EventKind.ERROR_RESPONSE]
    assert ur and "Unsupported Request" in ur[-1].text and "abafbc551fdd" in str(read.events)
    write = s.access(GuestAccess.write(4))
    assert write.error_response is not None and write.error_response.write_dropped
    s.restore()
    again = s.access()
    assert again.error_response is None and again.errno is None


def test_reset_and_revoke_both_sides_of_v5_8(plat: Platform) -> None:
    """The same script under 5.7, 5.8 and 6.9: only from 5.8 is the BAR zapped and the access
    KVM_RUN -EFAULT; under 5.7 a function reset, like a memory disable, leaves the access to the
    device's error response."""
    for release, zapped in (("5.7", False), ("5.8", True), ("6.9", True)):
        for reason in ("memory decode disabled", "function reset"):
            s = Session(release, HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA),
                        "ioremap")
            s.access()
            s.zap(reason)
            ev = s.access()
            assert (s.kvm.pgt.lookup(IPA) is None) is zapped, (release, reason)
            assert (ev.errno is Errno.EFAULT) is zapped, (release, reason)
            assert (ev.error_response is not None) is not zapped, (release, reason)
            assert any(d.rule is KernelRule.vfio_pci_zap_bars and d.branch ==
                       ("zap" if zapped else "no_zap") for d in ev.decisions)
