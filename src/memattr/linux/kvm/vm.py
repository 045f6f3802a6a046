"""A VM as KVM holds it: policy, host features, the VMM's address space, memslots, stage 2."""

from __future__ import annotations

from collections.abc import Callable

from ...arch.decision import Decision
from ...arch.esr import FaultKind
from ...errors import ConfigError
from ...platform.physmap import Platform
from ..decisions import KernelRule, decide
from ..events import Errno, Event, EventKind
from ..mm import VM_PFNMAP, AddressSpace, Vma
from ..policy import Policy, get_policy
from ..version import V5_14
from .abort import GuestAccess, Stage2Fault
from .features import HostFeatures, VmConfig
from .memslot import Memslot, MemslotResult, kvm_arch_prepare_memory_region
from .mmu import KVM_VGIC_V2_CPU_SIZE, AbortResult, kvm_handle_guest_abort, kvm_phys_addr_ioremap
from .pgtable import KVM_PGTABLE_PROT, KvmPgtable, kvm_pgtable_stage2_map

__all__ = ["Kvm"]


class Kvm:
    """One VM: ``KVM_CREATE_VM`` under a policy on a host, with its VMM process's VMAs.

    :param policy: a Policy or a registered policy name.
    :param host: the host CPU features.
    :param platform: the host platform.
    :param vm: per-VM options (MTE, NISV to user, IPA size, protected).
    :param mm: the VMM's address space (a new one by default).
    :param s2_writer: hook called for every stage-2 leaf as (ipa, size, phys, attr).

    ``events`` and ``decisions`` collect what the VM's ioctls and faults did; ``boot_events``
    what booting the guest's RAM did (kept apart so a scenario's story starts at its mapping).
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
        if self.vm.ipa_bits > host.ipa_limit:
            raise ConfigError(f"VM ipa_bits={self.vm.ipa_bits}: beyond the host's IPA limit "
                              f"{host.ipa_limit} (KVM_CAP_ARM_VM_IPA_SIZE); KVM_CREATE_VM -EINVAL")
        self.mm = mm if mm is not None else AddressSpace()
        self.pgt = KvmPgtable(fwb=host.fwb, lpa2=host.lpa2, ipa_bits=self.vm.ipa_bits,
                              writer=s2_writer, memattrs=self.policy.memattrs)
        self._slots: dict[int, Memslot] = {}
        self.events: list[Event] = []
        self.decisions: list[Decision] = []
        self.boot_events: list[Event] = []
        self.in_kernel_mmio: list[tuple[int, int, str]] = []  # (IPA, size, device) kvm_io_bus

    @property
    def memslots(self) -> tuple[Memslot, ...]:
        return tuple(sorted(self._slots.values(), key=lambda s: s.guest_phys_addr))

    def add_vma(self, vma: Vma) -> Vma:
        """Place a VMA in the VMM's address space (the result of an mmap)."""
        self.mm.insert(vma)
        self.events.append(Event(EventKind.VMA_CREATED, vma.origin or "mmap",
                                 f"{vma.name}: HVA 0x{vma.vm_start:x}+0x{vma.size:x} -> PA "
                                 f"0x{vma.phys:x}, {vma.flags_str}, {vma.vm_page_prot.mt_name}"))
        self.decisions.extend(vma.decisions)
        return vma

    def kvm_set_user_memory_region(self, slot: Memslot) -> MemslotResult:
        """KVM_SET_USER_MEMORY_REGION: overlap checks, then ``kvm_arch_prepare_memory_region``
        (which before Linux commit fd6f17bade21 (v5.14) also mapped VM_PFNMAP VMAs at once)."""
        for other in self._slots.values():
            if other.slot != slot.slot and slot.guest_phys_addr < other.end and \
                    other.guest_phys_addr < slot.end:
                ev = Event(EventKind.MEMSLOT_REJECTED, "__kvm_set_memory_region",
                           f"slot {slot.slot} overlaps slot {other.slot}", Errno.EEXIST)
                d = decide(KernelRule.kvm_set_memory_region, "overlap", Errno.EEXIST,
                           slot=slot.slot, other=other.slot)
                self.events.append(ev)
                self.decisions.append(d)
                return MemslotResult(Errno.EEXIST, (ev,), (d,))
        r = kvm_arch_prepare_memory_region(self.mm, slot, host=self.host, vm=self.vm,
                                           release=self.policy.release,
                                           ipa_limit=1 << self.vm.ipa_bits)
        self.events += r.events
        self.decisions += r.decisions
        if r.errno is None:
            self._slots[slot.slot] = slot
            if self.policy.release < V5_14:
                self._map_pfnmap_at_creation(slot)
        return r

    def _map_pfnmap_at_creation(self, slot: Memslot) -> None:
        """Up to v5.13: ``kvm_arch_prepare_memory_region`` maps each VM_PFNMAP VMA of the slot
        with ``kvm_phys_addr_ioremap`` (Device, page by page, writable unless read-only)."""
        end = slot.userspace_addr + slot.memory_size
        for vma in self.mm.find_vma_intersection(slot.userspace_addr, end):
            if not vma.vm_flags & VM_PFNMAP:
                continue
            lo, hi = max(vma.vm_start, slot.userspace_addr), min(vma.vm_end, end)
            gpa = slot.guest_phys_addr + (lo - slot.userspace_addr)
            r = kvm_phys_addr_ioremap(policy=self.policy, pgt=self.pgt, guest_ipa=gpa,
                                      pa=vma.hva_to_phys(lo), size=hi - lo,
                                      writable=not slot.readonly, protected=self.host.pkvm)
            self.decisions.append(decide(KernelRule.kvm_arch_prepare_memory_region,
                                         "map_pfnmap_at_creation", r.errno or "mapped",
                                         vma=vma.name, gpa=gpa, size=hi - lo))
            self.decisions.extend(r.decisions)
            self.events.extend(r.events)

    def memslot_for(self, ipa: int) -> Memslot | None:
        """``gfn_to_memslot``."""
        for s in self._slots.values():
            if s.contains(ipa):
                return s
        return None

    def remove_memslot(self, slot: int) -> None:
        """KVM_SET_USER_MEMORY_REGION with size 0: the slot goes and its stage-2 range is
        unmapped (``kvm_arch_flush_shadow_memslot``)."""
        s = self._slots.pop(slot)
        self.pgt.unmap(s.guest_phys_addr, s.memory_size)

    def vgic_v2_map_resources(self, gicv_ipa: int) -> AbortResult:
        """Map the host GICV frame at ``gicv_ipa`` (``kvm_phys_addr_ioremap``, 8 KiB).

        When the frame is not aligned to the host's PAGE_SIZE, ``vgic_v2_probe`` printed "GICV
        region size/alignment is unsafe, using trapping (reduced performance)" and enabled
        ``vgic_v2_cpuif_trap``: nothing is mapped, and guest accesses to the CPU interface are
        emulated in the kernel (an in-kernel MMIO device, no VMM exit).
        """
        gic = self.platform.gic
        if gic is None:
            raise ConfigError(f"platform {self.platform.name}: no GICv2, so no GICV to map")
        ps = self.host.page_size
        if gic.gicv_base % ps or gic.gicv_size % ps:
            line = "kvm [1]: GICV region size/alignment is unsafe, using trapping (reduced " \
                   "performance)"
            d = decide(KernelRule.vgic_v2_probe, "cpuif_trap", "trap",
                       gicv_base=gic.gicv_base, gicv_size=gic.gicv_size, page_size=ps)
            ev = Event(EventKind.KERNEL_LOG, "vgic_v2_probe", line)
            self.events.append(ev)
            self.decisions.append(d)
            self.in_kernel_mmio.append((gicv_ipa, KVM_VGIC_V2_CPU_SIZE, "vgic-v2 CPU interface"))
            return AbortResult(None, (ev,), decisions=(d,), log=(line,))
        r = kvm_phys_addr_ioremap(policy=self.policy, pgt=self.pgt, guest_ipa=gicv_ipa,
                                  pa=gic.gicv_base, size=KVM_VGIC_V2_CPU_SIZE, writable=True,
                                  protected=self.host.pkvm)
        self.events += r.events
        self.decisions += r.decisions
        return r

    def boot_guest_ram(self, ipa: int, size: int, pa: int) -> None:
        """The guest's RAM at ``ipa`` as it is after boot: KVM has mapped every page the guest
        touched (``user_mem_abort`` for anonymous guest RAM: stage-2 Normal, R|W; a THP-backed
        2 MiB block).  The model maps the range directly; the events go to ``boot_events``."""
        pa_, leaf = kvm_pgtable_stage2_map(
            self.pgt, ipa, size, pa, KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.W,
            variant=self.policy.variant, memattrs=self.policy.memattrs)
        assert pa_.ok and leaf is not None
        self.boot_events.append(Event(EventKind.MAPPING_CREATED, "user_mem_abort",
                                      f"guest RAM IPA 0x{ipa:x}+0x{size:x} -> PA 0x{pa:x} "
                                      "(the guest's page tables), NORMAL, R|W"))

    def handle_fault(self, fault: Stage2Fault, access: GuestAccess, *,
                     from_el0: bool = False) -> AbortResult:
        """A stage-2 abort as the hardware reports it: ``kvm_handle_guest_abort``."""
        slot = self.memslot_for(fault.ipa)
        vma = self.mm.find_vma(slot.ipa_to_hva(fault.ipa)) if slot is not None else None
        r = kvm_handle_guest_abort(policy=self.policy, host=self.host, platform=self.platform,
                                   pgt=self.pgt, memslot=slot, vma=vma, fault=fault,
                                   access=access, vm=self.vm, from_el0=from_el0,
                                   sigbus=vma is not None and self.mm.sigbus(vma),
                                   in_kernel=tuple(self.in_kernel_mmio))
        self.events += r.events
        self.events += [Event(EventKind.KERNEL_LOG, "kvm_err", line) for line in r.log]
        self.decisions += r.decisions
        return r

    def handle_guest_abort(self, ipa: int, access: GuestAccess) -> AbortResult:
        """A guest access to ``ipa`` described without a walk: if stage 2 maps it with the
        permission needed there is no fault; otherwise the translation or permission fault it
        takes goes to ``kvm_handle_guest_abort``."""
        leaf = self.pgt.lookup(ipa)
        if leaf is not None:
            denied = (access.is_exec and leaf.xn) or (access.is_write and not leaf.writable)
            if not denied:
                ev = Event(EventKind.NOTE, "kvm_handle_guest_abort", f"IPA 0x{ipa:x} already "
                           f"mapped (MemAttr 0b{leaf.memattr:04b}, {leaf.kind}): no fault")
                self.events.append(ev)
                return AbortResult(None, (ev,), leaf)
            fault = Stage2Fault.from_access(ipa, access, FaultKind.PERMISSION, 3)
        else:
            fault = Stage2Fault.from_access(ipa, access)
        return self.handle_fault(fault, access)
