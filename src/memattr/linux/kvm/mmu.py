"""KVM's stage-2 fault path (arch/arm64/kvm/mmu.c, mmio.c): ``kvm_handle_guest_abort``,
``user_mem_abort`` per version, ``io_mem_abort`` and ``kvm_phys_addr_ioremap``.

Each function returns a frozen result carrying the errno (if any) and the events on the way; the
stage-2 leaf is written into the VM's :class:`~memattr.linux.kvm.pgtable.KvmPgtable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...platform.physmap import PAGE_SIZE, Platform
from ..events import Errno, Event, EventKind
from ..mm import (
    VM_ALLOW_ANY_UNCACHED,
    VM_HUGETLB,
    VM_MIXEDMAP,
    VM_PFNMAP,
    Vma,
    kvm_vma_is_cacheable,
)
from ..policy import DeviceContext, FaultPath, Policy
from .abort import GuestAccess
from .features import HostFeatures, VmConfig, kvm_supports_cacheable_pfnmap
from .memslot import Memslot, kvm_vma_mte_allowed
from .pgtable import (
    KVM_PGTABLE_PROT,
    KvmPgtable,
    ProtAttr,
    Stage2Leaf,
    kvm_pgtable_stage2_map,
    prot_str,
)

__all__ = [
    "AbortResult",
    "user_mem_abort",
    "kvm_phys_addr_ioremap",
    "io_mem_abort",
    "kvm_handle_guest_abort",
    "KVM_VGIC_V2_CPU_SIZE",
]

KVM_VGIC_V2_CPU_SIZE = 0x2000  # include/kvm/arm_vgic.h: SZ_8K


@dataclass(frozen=True)
class AbortResult:
    """What handling one stage-2 abort did.

    :param errno: the error returned to userspace by KVM_RUN (None if the run continues or exits
        normally); -ENOEXEC never reaches userspace (it becomes an injected prefetch abort).
    :param events: every event on the way, in order.
    :param leaf: the stage-2 leaf installed, if any.
    :param prot: the ``kvm_pgtable_prot`` KVM asked for, if it got that far.
    :param prot_attr: ``stage2_set_prot_attr``'s result, if called.
    :param device: the page was treated as non-cacheable (``device`` / ``s2_force_noncacheable``).
    :param vfio_allow_any_uc: the VMA carried VM_ALLOW_ANY_UNCACHED.
    :param pfn: the host PFN behind the IPA, if resolved.
    :param exit_reason: 'KVM_EXIT_MMIO' / 'KVM_EXIT_ARM_NISV' when the run exits to the VMM.
    :param injected: 'prefetch abort' / 'data abort' when KVM injects an exception into the guest.
    """

    errno: Errno | None = None
    events: tuple[Event, ...] = ()
    leaf: Stage2Leaf | None = None
    prot: KVM_PGTABLE_PROT | None = None
    prot_attr: ProtAttr | None = None
    device: bool | None = None
    vfio_allow_any_uc: bool | None = None
    pfn: int | None = None
    exit_reason: str | None = None
    injected: str | None = None
    internal_errno: Errno | None = field(default=None)

    @property
    def mapped(self) -> bool:
        return self.leaf is not None


def _err(fn: str, errno: Errno, text: str) -> Event:
    return Event(EventKind.ERROR, fn, text, errno)


def _mapping_size(vma: Vma, memslot: Memslot, ipa: int, hva: int, device: bool) -> int:
    """The stage-2 mapping size: the hugetlb page size when the slot allows it, else a page."""
    if device or memslot.logging or not vma.vm_flags & VM_HUGETLB:
        return PAGE_SIZE
    size = vma.page_size
    # fault_supports_stage2_huge_mapping: IPA and HVA congruent and the block inside the slot.
    block_ipa, block_hva = ipa & ~(size - 1), hva & ~(size - 1)
    congruent = (memslot.guest_phys_addr - memslot.userspace_addr) % size == 0
    inside = (memslot.contains(block_ipa) and memslot.contains(block_ipa + size - 1)
              and vma.contains(block_hva) and vma.contains(block_hva + size - 1))
    return size if congruent and inside else PAGE_SIZE


def user_mem_abort(
    *,
    policy: Policy,
    host: HostFeatures,
    platform: Platform,
    pgt: KvmPgtable,
    memslot: Memslot,
    vma: Vma | None,
    ipa: int,
    access: GuestAccess,
    vm: VmConfig | None = None,
) -> AbortResult:
    """``user_mem_abort`` of the policy's kernel: resolve the PFN, decide device or memory, build
    ``prot`` and map it (arch.md section 10).

    <= v6.16: ``device = !pfn_is_map_memory(pfn)``.  Since Linux commit 0c67288e0c8b ("KVM: arm64:
    Allow cacheable stage 2 mapping using VMA flags") (in v6.17): ``s2_force_noncacheable`` for a
    VM_PFNMAP/VM_MIXEDMAP VMA over a non-linear-map PFN unless the VMA is cacheable (then FWB
    and DIC are required, else -EFAULT).  Since Linux commit 8c47ce3e1d2c ("KVM: arm64: Set io
    memory s2 pte as normalnc for vfio pci device") (in v6.9): NORMAL_NC for such a page when the
    VMA has VM_ALLOW_ANY_UNCACHED.  The exec rule (-ENOEXEC on device) dates from 2019.
    """
    fn = "user_mem_abort"
    vm = vm if vm is not None else VmConfig()
    events: list[Event] = []
    hva = memslot.ipa_to_hva(ipa)
    if vma is None or not vma.contains(hva):
        events.append(_err(fn, Errno.EFAULT, f"no VMA at HVA 0x{hva:x} (vma_lookup failed)"))
        return AbortResult(Errno.EFAULT, tuple(events))
    pfn = vma.hva_to_pfn(hva)
    write_fault, exec_fault = access.is_write, access.is_exec
    writable = not memslot.readonly
    vfio_allow_any_uc = bool(vma.vm_flags & VM_ALLOW_ANY_UNCACHED)
    map_memory = platform.pfn_is_map_memory(pfn)
    region = platform.lookup(pfn << 12)
    where = f"PFN 0x{pfn:x} ({region.name}, {'in' if map_memory else 'not in'} the linear map)"

    path = policy.fault_path
    cacheable_pfnmap = False
    if path is FaultPath.DEVICE_PFN:
        device = not map_memory
    elif path is FaultPath.CACHEABLE_PFNMAP:
        device = False
        if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP) and not map_memory:
            if kvm_vma_is_cacheable(vma):
                if not kvm_supports_cacheable_pfnmap(host):
                    events.append(_err(fn, Errno.EFAULT, f"cacheable PFNMAP VMA {vma.name} over "
                                       f"{where} needs FEAT_S2FWB and CTR_EL0.DIC (FWB="
                                       f"{int(host.fwb)}, DIC={int(host.dic)})"))
                    return AbortResult(Errno.EFAULT, tuple(events), pfn=pfn, device=False,
                                       vfio_allow_any_uc=vfio_allow_any_uc)
                cacheable_pfnmap = True
            else:
                device = True
    else:  # FaultPath.VMA_PGPROT (v1 1/2)
        device = not kvm_vma_is_cacheable(vma)
        if not device and not map_memory and not host.fwb:
            events.append(_err(fn, Errno.EINVAL, f"cacheable VMA {vma.name} over {where}: no "
                               "linear-map alias for cache maintenance without FWB (v1 1/2)"))
            return AbortResult(Errno.EINVAL, tuple(events), pfn=pfn, device=False,
                               vfio_allow_any_uc=vfio_allow_any_uc)
    kind = "s2_force_noncacheable" if path is FaultPath.CACHEABLE_PFNMAP else "device"
    events.append(Event(EventKind.NOTE, fn, f"{where}: {kind}={int(device)}"
                        + (" (cacheable PFNMAP, FWB+DIC)" if cacheable_pfnmap else "")))

    if not device and memslot.logging and not write_fault:
        writable = False
    if exec_fault and device:
        events.append(_err(fn, Errno.ENOEXEC, "instruction fetch from device memory"))
        return AbortResult(None, tuple(events), pfn=pfn, device=True,
                           vfio_allow_any_uc=vfio_allow_any_uc, internal_errno=Errno.ENOEXEC)
    if not device and vm.mte:
        if not kvm_vma_mte_allowed(vma):
            events.append(_err(fn, Errno.EFAULT, f"VM has MTE and VMA {vma.name} is not "
                               "VM_MTE_ALLOWED"))
            return AbortResult(Errno.EFAULT, tuple(events), pfn=pfn, device=False,
                               vfio_allow_any_uc=vfio_allow_any_uc)
        events.append(Event(EventKind.NOTE, fn, "sanitise_mte_tags: tags initialised"))

    size = _mapping_size(vma, memslot, ipa, hva, device)
    prot = KVM_PGTABLE_PROT.R
    if writable:
        prot |= KVM_PGTABLE_PROT.W
    if exec_fault:
        prot |= KVM_PGTABLE_PROT.X
    if device:
        prot |= policy.choose_device_prot(DeviceContext(vma, pfn, platform, host))
    elif host.dic:
        prot |= KVM_PGTABLE_PROT.X
    if not device and not host.fwb:
        events.append(Event(EventKind.NOTE, fn, "clean_dcache_guest_page: D-cache cleaned to PoC "
                            "(no FWB)"))
    if KVM_PGTABLE_PROT.X in prot and not host.dic:
        events.append(Event(EventKind.NOTE, fn, "invalidate_icache_guest_page (no CTR_EL0.DIC)"))

    phys = vma.hva_to_phys(hva) & ~(size - 1)
    pa, leaf = kvm_pgtable_stage2_map(pgt, ipa & ~(size - 1), size, phys, prot,
                                      variant=policy.variant, memattrs=policy.memattrs)
    if not pa.ok:
        assert pa.errno is not None
        events.append(_err("stage2_set_prot_attr", pa.errno, f"prot {prot_str(prot)}: {pa.why}"))
        return AbortResult(pa.errno, tuple(events), None, prot, pa, device, vfio_allow_any_uc, pfn)
    assert leaf is not None
    events.append(Event(EventKind.MAPPING_CREATED, "kvm_pgtable_stage2_map",
                        f"IPA 0x{leaf.ipa:x}+0x{leaf.size:x} -> PA 0x{leaf.phys:x}, prot "
                        f"{prot_str(prot)}, MemAttr 0b{leaf.memattr:04b} ({leaf.kind}), "
                        f"descriptor 0x{leaf.descriptor:016x}"))
    return AbortResult(None, tuple(events), leaf, prot, pa, device, vfio_allow_any_uc, pfn)


def kvm_phys_addr_ioremap(
    *,
    policy: Policy,
    pgt: KvmPgtable,
    guest_ipa: int,
    pa: int,
    size: int,
    writable: bool = True,
) -> AbortResult:
    """``kvm_phys_addr_ioremap``: map ``pa`` at ``guest_ipa`` with DEVICE | R (| W), page by page.

    KVM calls it for the GICv2 virtual CPU interface (``vgic_v2_map_resources``); there is no VMA.
    Under the never-merged v2 the memory-type bit was NORMAL_NC; v3 reverted it to DEVICE.
    """
    prot = policy.ioremap_choice | KVM_PGTABLE_PROT.R
    if writable:
        prot |= KVM_PGTABLE_PROT.W
    events: list[Event] = []
    leaf: Stage2Leaf | None = None
    last: ProtAttr | None = None
    for off in range(0, size, PAGE_SIZE):
        last, leaf = kvm_pgtable_stage2_map(pgt, guest_ipa + off, PAGE_SIZE, pa + off, prot,
                                            variant=policy.variant, memattrs=policy.memattrs)
        if not last.ok:
            assert last.errno is not None
            events.append(_err("stage2_set_prot_attr", last.errno, last.why))
            return AbortResult(last.errno, tuple(events), None, prot, last, True)
    assert leaf is not None
    events.append(Event(EventKind.MAPPING_CREATED, "kvm_phys_addr_ioremap",
                        f"IPA 0x{guest_ipa:x}+0x{size:x} -> PA 0x{pa:x}, prot {prot_str(prot)}, "
                        f"MemAttr 0b{leaf.memattr:04b} ({leaf.kind}), no VMA"))
    return AbortResult(None, tuple(events), leaf, prot, last, True, False, pa >> 12)


def io_mem_abort(access: GuestAccess, ipa: int, *, vm: VmConfig | None = None) -> AbortResult:
    """arch/arm64/kvm/mmio.c ``io_mem_abort``: an access to an IPA with no memslot.

    With a valid syndrome (ISV=1) the access is emulated: KVM_EXIT_MMIO to the VMM.  Without one
    KVM cannot decode it: KVM_EXIT_ARM_NISV if the VMM enabled KVM_CAP_ARM_NISV_TO_USER, else
    KVM_RUN fails with -ENOSYS ("Data abort outside memslots with no valid syndrome info").
    """
    fn = "io_mem_abort"
    vm = vm if vm is not None else VmConfig()
    if not access.isv:
        if vm.nisv_to_user:
            return AbortResult(None, (Event(EventKind.NISV_EXIT, fn, f"{access} at IPA 0x{ipa:x}: "
                               "no valid ISV, KVM_EXIT_ARM_NISV"),), exit_reason="KVM_EXIT_ARM_NISV")
        return AbortResult(Errno.ENOSYS, (
            _err(fn, Errno.ENOSYS, f"{access} at IPA 0x{ipa:x}: data abort outside memslots with "
                 "no valid syndrome info (ISV=0)"),
            Event(EventKind.RUN_FAILED, "kvm_arch_vcpu_ioctl_run", "KVM_RUN returns -ENOSYS",
                  Errno.ENOSYS)))
    what = "write" if access.is_write else "read"
    return AbortResult(None, (Event(EventKind.MMIO_EXIT, fn, f"{access.size}-byte {what} at IPA "
                       f"0x{ipa:x}: KVM_EXIT_MMIO (ISV=1), emulated by the VMM; no stage-2 "
                       "memory type applies"),), exit_reason="KVM_EXIT_MMIO")


def kvm_handle_guest_abort(
    *,
    policy: Policy,
    host: HostFeatures,
    platform: Platform,
    pgt: KvmPgtable,
    memslot: Memslot | None,
    vma: Vma | None,
    ipa: int,
    access: GuestAccess,
    vm: VmConfig | None = None,
) -> AbortResult:
    """``kvm_handle_guest_abort`` for a stage-2 translation fault at ``ipa``.

    No memslot (or a write to a read-only one): an instruction abort is -ENOEXEC (an injected
    prefetch abort), a stage-1 walk gets an injected data abort, a DC maintenance op is skipped,
    anything else goes to ``io_mem_abort``.  Otherwise ``user_mem_abort``; its -ENOEXEC becomes
    an injected prefetch abort and any other error fails KVM_RUN.
    """
    fn = "kvm_handle_guest_abort"
    leaf = pgt.lookup(ipa)
    if leaf is not None and not (access.is_exec and leaf.xn) and not (
            access.is_write and not leaf.attr & (1 << 7)):
        return AbortResult(None, (Event(EventKind.NOTE, fn, f"IPA 0x{ipa:x} already mapped "
                           f"(MemAttr 0b{leaf.memattr:04b}, {leaf.kind}): no fault"),), leaf)
    if memslot is None or (access.is_write and memslot.readonly):
        why = "no memslot" if memslot is None else "write to a read-only memslot"
        if access.is_exec:
            return AbortResult(None, (
                _err(fn, Errno.ENOEXEC, f"instruction fetch from IPA 0x{ipa:x} ({why})"),
                Event(EventKind.PREFETCH_ABORT_INJECTED, "kvm_inject_pabt",
                      f"prefetch abort at IPA 0x{ipa:x}")),
                injected="prefetch abort", internal_errno=Errno.ENOEXEC)
        if access.s1ptw:
            return AbortResult(None, (Event(EventKind.DATA_ABORT_INJECTED, "kvm_inject_dabt",
                               f"stage-1 walk to IPA 0x{ipa:x} ({why})"),), injected="data abort")
        if access.cm:
            return AbortResult(None, (Event(EventKind.CACHE_MAINTENANCE_SKIPPED, fn,
                               f"DC maintenance on IPA 0x{ipa:x} ({why}): instruction skipped"),))
        return io_mem_abort(access, ipa, vm=vm)
    r = user_mem_abort(policy=policy, host=host, platform=platform, pgt=pgt, memslot=memslot,
                       vma=vma, ipa=ipa, access=access, vm=vm)
    if r.internal_errno is Errno.ENOEXEC:
        ev = r.events + (Event(EventKind.PREFETCH_ABORT_INJECTED, "kvm_inject_pabt",
                               f"prefetch abort at IPA 0x{ipa:x}"),)
        return AbortResult(None, ev, None, r.prot, r.prot_attr, r.device, r.vfio_allow_any_uc,
                           r.pfn, None, "prefetch abort", Errno.ENOEXEC)
    if r.errno is not None:
        ev = r.events + (Event(EventKind.RUN_FAILED, "kvm_arch_vcpu_ioctl_run",
                               f"KVM_RUN returns {r.errno}", r.errno),)
        return AbortResult(r.errno, ev, r.leaf, r.prot, r.prot_attr, r.device,
                           r.vfio_allow_any_uc, r.pfn)
    return r
