"""A VM as KVM holds it: policy, host features, the VMM's address space, memslots, stage 2."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import ConfigError
from ...platform.physmap import Platform
from ..events import Errno, Event, EventKind
from ..mm import AddressSpace, Vma
from ..policy import Policy, get_policy
from .abort import GuestAccess
from .features import HostFeatures, VmConfig
from .memslot import Memslot, MemslotResult, kvm_arch_prepare_memory_region
from .mmu import KVM_VGIC_V2_CPU_SIZE, AbortResult, kvm_handle_guest_abort, kvm_phys_addr_ioremap
from .pgtable import KvmPgtable

__all__ = ["Kvm"]


class Kvm:
    """One VM: ``KVM_CREATE_VM`` under a policy on a host, with its VMM process's VMAs.

    :param policy: a Policy or a registered policy name.
    :param host: the host CPU features.
    :param platform: the host platform.
    :param vm: per-VM options (MTE, NISV to user).
    :param mm: the VMM's address space (a new one by default).
    :param s2_writer: hook called for every stage-2 leaf as (ipa, size, phys, attr) -- used to
        mirror KVM's entries into real page tables of the mmu layer.
    """

    def __init__(
        self,
        policy: Policy | str,
        host: HostFeatures,
        platform: Platform,
        *,
        vm: VmConfig | None = None,
        mm: AddressSpace | None = None,
        s2_writer: Callable[[int, int, int, int], None] | None = None,
    ) -> None:
        self.policy = get_policy(policy)
        self.host = host
        self.platform = platform
        self.vm = vm if vm is not None else VmConfig()
        if self.vm.mte and not host.mte:
            raise ConfigError("VM MTE requested but the host has no MTE (KVM_CAP_ARM_MTE is 0)")
        self.mm = mm if mm is not None else AddressSpace()
        self.pgt = KvmPgtable(fwb=host.fwb, lpa2=host.lpa2, writer=s2_writer)
        self._slots: dict[int, Memslot] = {}
        self.events: list[Event] = []

    @property
    def memslots(self) -> tuple[Memslot, ...]:
        return tuple(sorted(self._slots.values(), key=lambda s: s.guest_phys_addr))

    def add_vma(self, vma: Vma) -> Vma:
        """Place a VMA in the VMM's address space (the result of an mmap)."""
        self.mm.insert(vma)
        self.events.append(Event(EventKind.VMA_CREATED, vma.origin or "mmap",
                                 f"{vma.name}: HVA 0x{vma.vm_start:x}+0x{vma.size:x} -> PA "
                                 f"0x{vma.phys:x}, {vma.flags_str}, {vma.vm_page_prot.mt_name}"))
        return vma

    def kvm_set_user_memory_region(self, slot: Memslot) -> MemslotResult:
        """KVM_SET_USER_MEMORY_REGION: overlap checks, then ``kvm_arch_prepare_memory_region``."""
        for other in self._slots.values():
            if other.slot != slot.slot and slot.guest_phys_addr < other.end and \
                    other.guest_phys_addr < slot.end:
                ev = Event(EventKind.MEMSLOT_REJECTED, "__kvm_set_memory_region",
                           f"slot {slot.slot} overlaps slot {other.slot}", Errno.EEXIST)
                self.events.append(ev)
                return MemslotResult(Errno.EEXIST, (ev,))
        r = kvm_arch_prepare_memory_region(self.mm, slot, host=self.host, vm=self.vm,
                                           release=self.policy.release)
        self.events += r.events
        if r.errno is None:
            self._slots[slot.slot] = slot
        return r

    def memslot_for(self, ipa: int) -> Memslot | None:
        """``gfn_to_memslot``."""
        for s in self._slots.values():
            if s.contains(ipa):
                return s
        return None

    def vgic_v2_map_resources(self, gicv_ipa: int) -> AbortResult:
        """Map the host GICV frame at ``gicv_ipa`` (``kvm_phys_addr_ioremap``, 8 KiB)."""
        gic = self.platform.gic
        if gic is None:
            raise ConfigError(f"platform {self.platform.name}: no GICv2, so no GICV to map")
        r = kvm_phys_addr_ioremap(policy=self.policy, pgt=self.pgt, guest_ipa=gicv_ipa,
                                  pa=gic.gicv_base, size=KVM_VGIC_V2_CPU_SIZE, writable=True)
        self.events += r.events
        return r

    def handle_guest_abort(self, ipa: int, access: GuestAccess) -> AbortResult:
        """A guest access to ``ipa`` that misses stage 2: ``kvm_handle_guest_abort``."""
        slot = self.memslot_for(ipa)
        vma = self.mm.find_vma(slot.ipa_to_hva(ipa)) if slot is not None else None
        r = kvm_handle_guest_abort(policy=self.policy, host=self.host, platform=self.platform,
                                   pgt=self.pgt, memslot=slot, vma=vma, ipa=ipa, access=access,
                                   vm=self.vm)
        self.events += r.events
        return r
