"""KVM memslots: KVM_SET_USER_MEMORY_REGION and arm64's ``kvm_arch_prepare_memory_region`` checks."""

from __future__ import annotations

from dataclasses import dataclass

from ...arch.decision import Decision
from ...errors import ConfigError
from ..decisions import KernelRule, decide
from ..events import Errno, Event, EventKind
from ..mm import VM_MTE_ALLOWED, VM_PFNMAP, AddressSpace, Vma, kvm_vma_is_cacheable
from ..version import V6_17, KernelVersion
from .features import HostFeatures, VmConfig, kvm_supports_cacheable_pfnmap

__all__ = [
    "KVM_MEM_LOG_DIRTY_PAGES",
    "KVM_MEM_READONLY",
    "Memslot",
    "kvm_vma_mte_allowed",
    "kvm_arch_prepare_memory_region",
    "MemslotResult",
]

# include/uapi/linux/kvm.h
KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1


@dataclass(frozen=True, slots=True)
class Memslot:
    """``struct kvm_userspace_memory_region``: slot, flags, guest physical range, user address."""

    slot: int
    guest_phys_addr: int
    memory_size: int
    userspace_addr: int
    flags: int = 0

    def __post_init__(self) -> None:
        for what, v in (("guest_phys_addr", self.guest_phys_addr), ("memory_size",
                        self.memory_size), ("userspace_addr", self.userspace_addr)):
            if v % 4096:
                raise ConfigError(f"memslot {self.slot} {what}=0x{v:x}: not page-aligned")
        if self.memory_size <= 0:
            raise ConfigError(f"memslot {self.slot}: memory_size must be positive")

    @property
    def end(self) -> int:
        return self.guest_phys_addr + self.memory_size

    def contains(self, ipa: int) -> bool:
        return self.guest_phys_addr <= ipa < self.end

    def ipa_to_hva(self, ipa: int) -> int:
        return self.userspace_addr + (ipa - self.guest_phys_addr)

    @property
    def readonly(self) -> bool:
        return bool(self.flags & KVM_MEM_READONLY)

    @property
    def logging(self) -> bool:
        return bool(self.flags & KVM_MEM_LOG_DIRTY_PAGES)


def kvm_vma_mte_allowed(vma: Vma, release: KernelVersion | None = None) -> bool:
    """arch/arm64/kvm/mmu.c ``kvm_vma_mte_allowed``: the VMA has VM_MTE_ALLOWED (the model keeps
    the flag at its canonical position; :attr:`Vma.kernel_vm_flags` has the release's bit)."""
    del release
    return bool(vma.vm_flags & VM_MTE_ALLOWED)


@dataclass(frozen=True, slots=True)
class MemslotResult:
    """The outcome of KVM_SET_USER_MEMORY_REGION: errno (None on success), events, decisions."""

    errno: Errno | None
    events: tuple[Event, ...]
    decisions: tuple[Decision, ...] = ()


def kvm_arch_prepare_memory_region(
    mm: AddressSpace,
    slot: Memslot,
    *,
    host: HostFeatures,
    vm: VmConfig,
    release: KernelVersion,
    ipa_limit: int = 1 << 40,
) -> MemslotResult:
    """arm64 ``kvm_arch_prepare_memory_region``: walk every VMA in the slot's HVA range.

    -EFAULT if the slot ends beyond the IPA space; per VMA: -EINVAL if the VM has MTE and the VMA
    is not VM_MTE_ALLOWED; for VM_PFNMAP VMAs -EINVAL with KVM_MEM_LOG_DIRTY_PAGES, and since
    Linux commit 0c67288e0c8b ("KVM: arm64: Allow cacheable stage 2 mapping using VMA flags")
    (in v6.17) -EINVAL for a cacheable VMA unless FWB and CTR_EL0.DIC.
    """
    fn = "kvm_arch_prepare_memory_region"
    R = KernelRule.kvm_arch_prepare_memory_region  # noqa: N806
    if slot.end > ipa_limit:
        d = decide(R, "beyond_ipa_space", Errno.EFAULT, end=slot.end, ipa_limit=ipa_limit)
        return MemslotResult(Errno.EFAULT, (Event(
            EventKind.MEMSLOT_REJECTED, fn, f"slot {slot.slot} ends at IPA 0x{slot.end:x}, beyond "
            f"the VM's IPA space 0x{ipa_limit:x}", Errno.EFAULT),), (d,))
    for vma in mm.find_vma_intersection(slot.userspace_addr, slot.userspace_addr + slot.memory_size):
        if vm.mte and not kvm_vma_mte_allowed(vma, release):
            return MemslotResult(Errno.EINVAL, (Event(
                EventKind.MEMSLOT_REJECTED, fn, f"VM has MTE and VMA {vma.name} is not "
                "VM_MTE_ALLOWED", Errno.EINVAL),),
                (decide(R, "mte_not_allowed", Errno.EINVAL, vma=vma.name),))
        if vma.vm_flags & VM_PFNMAP:
            if slot.logging:
                return MemslotResult(Errno.EINVAL, (Event(
                    EventKind.MEMSLOT_REJECTED, fn, f"dirty logging requested on the IO region "
                    f"{vma.name} (VM_PFNMAP)", Errno.EINVAL),),
                    (decide(R, "pfnmap_dirty_logging", Errno.EINVAL, vma=vma.name),))
            if release >= V6_17 and kvm_vma_is_cacheable(vma) and \
                    not kvm_supports_cacheable_pfnmap(host):
                return MemslotResult(Errno.EINVAL, (Event(
                    EventKind.MEMSLOT_REJECTED, fn, f"cacheable PFNMAP VMA {vma.name} "
                    f"({vma.vm_page_prot.mt_name}) needs FEAT_S2FWB and CTR_EL0.DIC "
                    f"(FWB={int(host.fwb)}, DIC={int(host.dic)})", Errno.EINVAL),),
                    (decide(R, "cacheable_pfnmap_unsupported", Errno.EINVAL, vma=vma.name,
                            fwb=host.fwb, dic=host.dic),))
    return MemslotResult(None, (Event(
        EventKind.MEMSLOT_CREATED, "kvm_set_user_memory_region",
        f"slot {slot.slot}: IPA 0x{slot.guest_phys_addr:x}+0x{slot.memory_size:x} -> HVA "
        f"0x{slot.userspace_addr:x}"),), (decide(R, "accepted", None, slot=slot.slot),))
