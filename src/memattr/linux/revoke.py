"""Reset and revoke: vfio-pci taking a BAR away from a running guest, and replacing a VMA under a
memslot, as events a scenario scripts between accesses.

* ``vfio_pci_zap_bars`` (drivers/vfio/pci/vfio_pci_core.c): when the VMM clears
  PCI_COMMAND_MEMORY or the function is reset (``vfio_pci_zap_and_down_write_memory_lock``),
  vfio-pci zaps every user mapping of the BARs (``unmap_mapping_range``).  The MMU notifier
  (``kvm_mmu_notifier_invalidate_range_start`` -> ``kvm_unmap_gfn_range``) makes KVM unmap the
  stage-2 range, each leaf broken with TLBI IPAS2E1IS + DSB ISH (the mmu layer records the
  steps).  While memory is disabled, ``vfio_pci_mmap_fault`` answers VM_FAULT_SIGBUS, so the
  next guest access faults at stage 2, ``user_mem_abort``'s PFN lookup fails and KVM_RUN returns
  -EFAULT.  Re-enabling memory (or the reset completing) lets the fault handler map the BAR again.
  All of this came with Linux commit abafbc551fdd ("vfio-pci: Invalidate mmaps and block MMIO
  access on disabled memory") (in v5.8).  Before it, vfio-pci passed the command write (or the
  reset) to the device and touched no mapping: the VMA's PTEs and KVM's stage 2 stay, and the
  guest's next access reaches a function whose Memory Space Enable is clear, which handles it as
  an Unsupported Request (PCIe Base Specification, Command register); what the CPU then sees is
  the platform's bus error model (:func:`memattr.platform.bus.error_outcome`).
* Replacing a VMA under an existing memslot (munmap + mmap at the same HVA): the notifier unmaps
  stage 2; the next fault reads the new VMA (e.g. a cacheable PFNMAP under v6.17 without FWB and
  CTR_EL0.DIC: -EFAULT at fault time, which no memslot check caught).

Each function appends events and decisions to the :class:`~memattr.linux.kvm.vm.Kvm` and
returns the mmu layer's TLB maintenance steps, for a later hazard analysis.
"""

from __future__ import annotations

from ..mmu.events import Event as MmuEvent
from ..mmu.events import EventKind as MmuKind
from .commits import commit
from .decisions import KernelRule, decide
from .events import Event, EventKind
from .kvm.vm import Kvm
from .mm import Vma

__all__ = ["vfio_pci_zap_bars", "vfio_pci_restore_bars", "kvm_unmap_gfn_range", "replace_vma"]


def kvm_unmap_gfn_range(kvm: Kvm, hva_start: int, hva_end: int, why: str) -> list[MmuEvent]:
    """The MMU notifier's invalidate for [hva_start, hva_end): unmap the stage-2 range of every
    memslot over it; the mmu layer's BREAK/TLBI/DSB steps taken."""
    before = len(kvm.pgt.table.events)
    for slot in kvm.memslots:
        lo = max(slot.userspace_addr, hva_start)
        hi = min(slot.userspace_addr + slot.memory_size, hva_end)
        if lo >= hi:
            continue
        ipa = slot.guest_phys_addr + (lo - slot.userspace_addr)
        gone = kvm.pgt.unmap(ipa, hi - lo)
        kvm.decisions.append(decide(KernelRule.kvm_unmap_gfn_range, "notifier", len(gone),
                                    slot=slot.slot, ipa=ipa, size=hi - lo))
        steps = kvm.pgt.table.events[before:]
        tlbi = [e.op for e in steps if e.kind is MmuKind.TLBI]
        kvm.events.append(Event(EventKind.STAGE2_UNMAPPED, "kvm_unmap_gfn_range",
                                f"{why}: IPA 0x{ipa:x}+0x{hi - lo:x} unmapped ({len(gone)} "
                                f"leaves; TLBI {', '.join(dict.fromkeys(tlbi)) or 'none'} + "
                                "DSB ISH)"))
    return list(kvm.pgt.table.events[before:])


def vfio_pci_zap_bars(kvm: Kvm, vma: Vma, *, reason: str = "memory decode disabled"
                      ) -> list[MmuEvent]:
    """vfio-pci revokes the BAR mapping ``vma``: zap its PTEs, notify KVM (stage-2 unmap with
    TLBI and DSB), and answer later faults with VM_FAULT_SIGBUS until restored.  Before v5.8
    (abafbc551fdd) nothing is zapped: the VMA is only marked as mapping a BAR with memory decode
    off, and no maintenance steps are returned.

    :param reason: 'memory decode disabled' (PCI_COMMAND_MEMORY cleared) or 'function reset'.
    """
    kind = EventKind.DEVICE_RESET if "reset" in reason else EventKind.MEMORY_DECODE
    block = commit("vfio-mmio-block")
    assert block.release is not None
    if kvm.policy.release < block.release:
        # Before abafbc551fdd (v5.8): vfio_basic_config_write passes PCI_COMMAND through and
        # VFIO_DEVICE_RESET resets (pci_try_reset_function, which clears the Command register
        # first); no mapping is zapped and no access is blocked.
        fn = "vfio_pci_ioctl" if kind is EventKind.DEVICE_RESET else "vfio_basic_config_write"
        kvm.events.append(Event(kind, fn, f"{vma.name}: {reason}; no zap before "
                                f"{block.cite()}: the VMA and KVM's stage 2 stay mapped, so "
                                "guest accesses reach the device with memory decode off"))
        kvm.decisions.append(decide(KernelRule.vfio_pci_zap_bars, "no_zap", False, vma=vma.name,
                                    reason=reason, release=str(kvm.policy.release)))
        kvm.mm.decode_off.add(vma.vm_start)
        return []
    kvm.events.append(Event(kind, "vfio_pci_zap_and_down_write_memory_lock",
                            f"{vma.name}: {reason}"))
    kvm.events.append(Event(EventKind.VMA_ZAPPED, "vfio_pci_zap_bars",
                            f"unmap_mapping_range over {vma.name} HVA 0x{vma.vm_start:x}"
                            f"+0x{vma.size:x}"))
    kvm.decisions.append(decide(KernelRule.vfio_pci_zap_bars, "zap", True, vma=vma.name,
                                reason=reason))
    kvm.mm.revoked.add(vma.vm_start)
    return kvm_unmap_gfn_range(kvm, vma.vm_start, vma.vm_end, f"MMU notifier for {vma.name}")


def vfio_pci_restore_bars(kvm: Kvm, vma: Vma) -> None:
    """Memory decode re-enabled (or the reset done): the fault handler maps the BAR again."""
    if vma.vm_start in kvm.mm.decode_off:
        kvm.mm.decode_off.discard(vma.vm_start)
        kvm.events.append(Event(EventKind.MEMORY_DECODE, "vfio_basic_config_write",
                                f"{vma.name}: memory decode enabled; the device decodes the "
                                "BAR again"))
        return
    kvm.mm.revoked.discard(vma.vm_start)
    kvm.events.append(Event(EventKind.MEMORY_DECODE, "vfio_pci_memory_unlock_and_restore",
                            f"{vma.name}: memory decode enabled; faults map it again"))


def replace_vma(kvm: Kvm, old: Vma, new: Vma) -> list[MmuEvent]:
    """munmap ``old`` and mmap ``new`` at the same HVA under the existing memslot(s); the notifier
    unmaps stage 2 and the next fault uses ``new``."""
    steps = kvm_unmap_gfn_range(kvm, old.vm_start, old.vm_end, f"munmap of {old.name}")
    kvm.mm.remove(old)
    moved = new.at(old.vm_start)
    kvm.mm.insert(moved)
    kvm.decisions.extend(moved.decisions)
    kvm.events.append(Event(EventKind.VMA_REPLACED, moved.origin or "mmap",
                            f"{old.name} replaced by {moved.name} at HVA 0x{old.vm_start:x}: "
                            f"{moved.flags_str}, {moved.vm_page_prot.mt_name}"))
    return steps
