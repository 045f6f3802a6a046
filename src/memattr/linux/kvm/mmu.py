"""KVM's stage-2 fault path (arch/arm64/kvm/mmu.c, mmio.c): ``kvm_handle_guest_abort``,
``user_mem_abort`` per version, ``io_mem_abort`` and ``kvm_phys_addr_ioremap``.

``kvm_handle_guest_abort`` takes the abort as the hardware reports it -- a :class:`Stage2Fault`
made from the mmu walker's fault value -- and dispatches on its syndrome as the kernel does.
Each function returns an :class:`AbortResult`: the errno (if any), the events, the decisions it
made (:mod:`memattr.linux.decisions`), what the VMM sees (a :class:`VmmExit`), what the guest sees
(an :class:`Injection`), the kernel log lines, and whether the guest re-executes the access.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...arch.decision import Decision
from ...arch.esr import FaultKind
from ...platform.physmap import Platform
from ..asm.kvm_pgtable import KVM_PTE_LEAF_ATTR_LO_S2_AF
from ..decisions import KernelRule, decide
from ..events import Errno, Event, EventKind
from ..mm import VM_ALLOW_ANY_UNCACHED, VM_MIXEDMAP, VM_PFNMAP, Vma, kvm_vma_is_cacheable
from ..policy import DeviceContext, FaultContext, FaultPath, Policy, RuleResult
from ..version import V5_14, V7_0, KernelVersion
from .abort import GuestAccess, Stage2Fault
from .exits import (
    KVM_EXIT_ARM_NISV,
    KVM_EXIT_MMIO,
    Injection,
    VmmExit,
    inject_abt64,
    inject_dabt_excl_atomic,
    inject_vabt,
)
from .features import HostFeatures, VmConfig, kvm_supports_cacheable_pfnmap
from .mapsize import stage2_mapping_size
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
    "EXCL_ATOMIC_INJECT_SINCE",
    "user_mem_abort",
    "kvm_phys_addr_ioremap",
    "io_mem_abort",
    "kvm_handle_guest_abort",
    "kvm_handle_guest_sea",
    "kvm_handle_guest_serror",
    "KVM_VGIC_V2_CPU_SIZE",
    "IPA_ABORT_INJECT_SINCE",
]

KVM_VGIC_V2_CPU_SIZE = 0x2000  # include/kvm/arm_vgic.h: SZ_8K
EXCL_ATOMIC_INJECT_SINCE = V7_0
"""Since Linux commit 2937aeec9dc5 ("KVM: arm64: Handle DABT caused by LS64* instructions on
unsupported memory") an xFSC 0x35 abort passes ``kvm_handle_guest_abort``'s filter and
``user_mem_abort`` injects it into the guest; before, it is "Unsupported FSC" and KVM_RUN fails
with -EFAULT."""
_EXCL_ATOMIC = "excl/atomic"  # user_mem_abort's marker: inject the 0x35 abort
IPA_ABORT_INJECT_SINCE = KernelVersion(5, 17)
"""Since about v5.17 an abort on an IPA beyond the VM's IPA size injects an abort into the guest
("Falls between the IPA range and the PARange?" in kvm_handle_guest_abort); before, the IPA had
no memslot and went to io_mem_abort.  The release was not verified against the tag."""


@dataclass(frozen=True)
class AbortResult:
    """What handling one stage-2 abort did.

    :param errno: the error KVM_RUN returns to userspace (None if the run continues or exits
        normally); -ENOEXEC never reaches userspace (it becomes an injected prefetch abort).
    :param events: every event on the way, in order.
    :param leaf: the stage-2 leaf installed, if any.
    :param prot: the ``kvm_pgtable_prot`` KVM asked for, if it got that far.
    :param prot_attr: ``stage2_set_prot_attr``'s result, if called.
    :param device: the page was treated as non-cacheable (``device`` / ``s2_force_noncacheable``).
    :param vfio_allow_any_uc: the VMA carried VM_ALLOW_ANY_UNCACHED.
    :param pfn: the host PFN behind the IPA, if resolved.
    :param exit_reason: 'KVM_EXIT_MMIO' / 'KVM_EXIT_ARM_NISV' when the run exits to the VMM.
    :param injected: 'prefetch abort' / 'data abort' / 'SError' when KVM injects an exception.
    :param decisions: the kernel's decisions on the way, in order.
    :param retry: the guest re-executes the access (a mapping was made, AF set, or nothing to do).
    :param vmm_exit: the ``struct kvm_run`` payload of a VMM exit.
    :param injection: the exception injected, as the guest sees it.
    :param log: kernel log lines printed on the way.
    :param fault: the abort handled.
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
    decisions: tuple[Decision, ...] = ()
    retry: bool = False
    vmm_exit: VmmExit | None = None
    injection: Injection | None = None
    log: tuple[str, ...] = ()
    fault: Stage2Fault | None = None

    @property
    def mapped(self) -> bool:
        return self.leaf is not None


def _err(fn: str, errno: Errno, text: str) -> Event:
    return Event(EventKind.ERROR, fn, text, errno)


def _device_decision(policy: Policy, host: HostFeatures, platform: Platform, vma: Vma, pfn: int,
                     ) -> tuple[bool, bool, Errno | None, str, Decision]:
    """(device, cacheable_pfnmap, errno, why, decision): how ``user_mem_abort`` classifies the
    page."""
    map_memory = platform.pfn_is_map_memory(pfn)
    path = policy.fault_path
    if path is FaultPath.DEVICE_PFN:
        device = not map_memory
        # Before Linux commit 873ba463914c (v5.14) kvm_is_device_pfn was !pfn_valid(pfn), which on
        # arm64 then meant memblock_is_map_memory: the same answer for the regions modelled.
        fn = "!pfn_valid(pfn)" if policy.release < V5_14 else "!pfn_is_map_memory(pfn)"
        return device, False, None, "", decide(KernelRule.kvm_is_device_pfn, fn, device,
                                               pfn=pfn, in_linear_map=map_memory)
    if path is FaultPath.CACHEABLE_PFNMAP:
        pfnmap = bool(vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP))
        if pfnmap and not map_memory:
            if kvm_vma_is_cacheable(vma):
                if not kvm_supports_cacheable_pfnmap(host):
                    return False, False, Errno.EFAULT, "cacheable PFNMAP without FWB+DIC", decide(
                        KernelRule.user_mem_abort, "cacheable_pfnmap_unsupported", Errno.EFAULT,
                        fwb=host.fwb, dic=host.dic, pgprot=vma.vm_page_prot.mt_name)
                return False, True, None, "", decide(
                    KernelRule.user_mem_abort, "cacheable_pfnmap", False,
                    pgprot=vma.vm_page_prot.mt_name, fwb=host.fwb, dic=host.dic)
            return True, False, None, "", decide(KernelRule.user_mem_abort,
                                                 "s2_force_noncacheable", True,
                                                 pgprot=vma.vm_page_prot.mt_name, pfnmap=True,
                                                 in_linear_map=False)
        return False, False, None, "", decide(KernelRule.user_mem_abort, "assume_cacheable", False,
                                              pfnmap=pfnmap, in_linear_map=map_memory)
    if path is FaultPath.RULES:
        raise AssertionError("rules policies are decided by _rule_decision")
    if path is FaultPath.V1_LINEAR_ALIAS:
        device = not kvm_vma_is_cacheable(vma)
        if not map_memory and not host.fwb:
            return device, False, Errno.EINVAL, "v1 1/2: no linear-map alias without FWB", \
                decide(KernelRule.user_mem_abort, "v1_no_linear_alias", Errno.EINVAL, fwb=False,
                       in_linear_map=False, device=device)
        return device, False, None, "", decide(KernelRule.user_mem_abort, "vma_pgprot", device,
                                               pgprot=vma.vm_page_prot.mt_name)
    # FaultPath.VMA_PGPROT: Will's mirror-the-VMA idea (13 Oct 2023)
    device = not kvm_vma_is_cacheable(vma)
    if not device and not map_memory and not host.fwb:
        return False, False, Errno.EINVAL, "no linear-map alias without FWB", decide(
            KernelRule.user_mem_abort, "vma_cacheable_no_alias", Errno.EINVAL, fwb=False)
    return device, False, None, "", decide(KernelRule.user_mem_abort, "vma_pgprot", device,
                                           pgprot=vma.vm_page_prot.mt_name)


def _rule_decision(policy: Policy, host: HostFeatures, platform: Platform, vma: Vma, pfn: int,
                   fault: str) -> tuple[RuleResult, Decision]:
    """A policy file's rules for one page (FaultPath.RULES): the first matching rule decides."""
    assert policy.rules is not None
    r = policy.rules(FaultContext(vma, pfn, platform, host, fault))
    result: object = r.errno if r.errno is not None else r.prot
    return r, decide(KernelRule.user_mem_abort, "policy_rule", result, policy_rule=r.rule, x=r.x,
                     fault=fault)


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
    fault: Stage2Fault | None = None,
    sigbus: bool = False,
) -> AbortResult:
    """``user_mem_abort`` of the policy's kernel: resolve the PFN, decide device or memory, build
    ``prot``, choose the mapping size and map it.

    <= v6.16: ``device = !pfn_is_map_memory(pfn)`` (``!pfn_valid`` before v5.14).  Since Linux
    commit 0c67288e0c8b ("KVM: arm64: Allow cacheable stage 2 mapping using VMA flags") (in
    v6.17): ``s2_force_noncacheable`` for a VM_PFNMAP/VM_MIXEDMAP VMA over a non-linear-map PFN
    unless the VMA is cacheable (then FWB and DIC are required, else -EFAULT).  Since Linux
    commit 8c47ce3e1d2c ("KVM: arm64: Set io memory s2 pte as normalnc for vfio pci device") (in
    v6.9): NORMAL_NC for such a page when the VMA has VM_ALLOW_ANY_UNCACHED.  Since Linux commit
    6d674e28f642 ("KVM: arm/arm64: Properly handle faulting of device mappings") (in v5.5):
    -ENOEXEC for an instruction fetch from device memory.
    """
    fn = "user_mem_abort"
    vm = vm if vm is not None else VmConfig()
    events: list[Event] = []
    ds: list[Decision] = []
    hva = memslot.ipa_to_hva(ipa)
    write_fault = fault.is_write if fault is not None else access.is_write
    exec_fault = fault.is_iabt if fault is not None else access.is_exec
    if fault is not None and fault.kind is FaultKind.PERMISSION and not write_fault \
            and not exec_fault:
        ds.append(decide(KernelRule.user_mem_abort, "unexpected_read_permission", Errno.EFAULT))
        events.append(_err(fn, Errno.EFAULT, "Unexpected L2 read permission error"))
        return AbortResult(Errno.EFAULT, tuple(events), decisions=tuple(ds),
                           log=("kvm [vcpu]: Unexpected L2 read permission error",))
    if vma is None or not vma.contains(hva):
        ds.append(decide(KernelRule.user_mem_abort, "no_vma", Errno.EFAULT, hva=hva))
        events.append(_err(fn, Errno.EFAULT, f"no VMA at HVA 0x{hva:x} (vma_lookup failed)"))
        return AbortResult(Errno.EFAULT, tuple(events), decisions=tuple(ds),
                           log=(f"kvm [vcpu]: Failed to find VMA for hva 0x{hva:x}",))
    if sigbus:
        # hva_to_pfn -> the VMA's fault handler (vfio_pci_mmap_fault) answers VM_FAULT_SIGBUS:
        # __kvm_faultin_pfn gives KVM_PFN_ERR_FAULT and user_mem_abort returns -EFAULT.
        ds.append(decide(KernelRule.user_mem_abort, "pfn_lookup_sigbus", Errno.EFAULT,
                         vma=vma.name))
        events.append(_err(fn, Errno.EFAULT, f"PFN lookup at HVA 0x{hva:x}: {vma.name} answers "
                           "VM_FAULT_SIGBUS (memory revoked)"))
        return AbortResult(Errno.EFAULT, tuple(events), decisions=tuple(ds))
    pfn = vma.hva_to_pfn(hva)
    writable = not memslot.readonly
    vfio_allow_any_uc = bool(vma.vm_flags & VM_ALLOW_ANY_UNCACHED)
    region = platform.lookup(pfn << 12)
    map_memory = platform.pfn_is_map_memory(pfn)
    where = f"PFN 0x{pfn:x} ({region.name}, {'in' if map_memory else 'not in'} the linear map)"
    rule: RuleResult | None = None
    if policy.fault_path is FaultPath.RULES:
        fault_kind = "exec" if exec_fault else "write" if write_fault else "read"
        rule, d = _rule_decision(policy, host, platform, vma, pfn, fault_kind)
        device = rule.prot is not None and bool(
            rule.prot & (KVM_PGTABLE_PROT.DEVICE | KVM_PGTABLE_PROT.NORMAL_NC))
        cacheable_pfnmap, errno, why = False, rule.errno, f"policy rule {rule.rule}"
    else:
        device, cacheable_pfnmap, errno, why, d = _device_decision(policy, host, platform, vma,
                                                                   pfn)
    ds.append(d)
    if errno is not None:
        events.append(_err(fn, errno, f"{why}: VMA {vma.name} over {where} (FWB={int(host.fwb)}, "
                           f"DIC={int(host.dic)})"))
        return AbortResult(errno, tuple(events), pfn=pfn, device=False,
                           vfio_allow_any_uc=vfio_allow_any_uc, decisions=tuple(ds))
    kind = "s2_force_noncacheable" if policy.fault_path is FaultPath.CACHEABLE_PFNMAP else "device"
    events.append(Event(EventKind.NOTE, fn, f"{where}: {kind}={int(device)}"
                        + (" (cacheable PFNMAP, FWB+DIC)" if cacheable_pfnmap else "")))

    if not device and memslot.logging and not write_fault:
        writable = False
    if exec_fault and (device if rule is None else not rule.x):
        ds.append(decide(KernelRule.user_mem_abort, "exec_on_device", Errno.ENOEXEC,
                         exec_fault=True, device=device))
        events.append(_err(fn, Errno.ENOEXEC, "instruction fetch from device memory"))
        return AbortResult(None, tuple(events), pfn=pfn, device=True,
                           vfio_allow_any_uc=vfio_allow_any_uc, internal_errno=Errno.ENOEXEC,
                           decisions=tuple(ds))
    if fault is not None and fault.kind is FaultKind.UNSUPPORTED_ATOMIC:
        # v7.0: "Guest performs atomic/exclusive operations on memory with unsupported
        # attributes ... inject the fault back to the guest" (the memslot is valid).
        ds.append(decide(KernelRule.user_mem_abort, "excl_atomic_inject", "data abort",
                         fsc=fault.fsc))
        events.append(Event(EventKind.NOTE, fn, "unsupported exclusive or atomic access (xFSC "
                            "0x35) on a valid memslot: kvm_inject_dabt_excl_atomic"))
        return AbortResult(None, tuple(events), pfn=pfn, device=device,
                           vfio_allow_any_uc=vfio_allow_any_uc, injected=_EXCL_ATOMIC,
                           decisions=tuple(ds))
    if not device and vm.mte:
        if not kvm_vma_mte_allowed(vma, policy.release):
            ds.append(decide(KernelRule.user_mem_abort, "mte_not_allowed", Errno.EFAULT))
            events.append(_err(fn, Errno.EFAULT, f"VM has MTE and VMA {vma.name} is not "
                               "VM_MTE_ALLOWED"))
            return AbortResult(Errno.EFAULT, tuple(events), pfn=pfn, device=False,
                               vfio_allow_any_uc=vfio_allow_any_uc, decisions=tuple(ds))
        events.append(Event(EventKind.NOTE, fn, "sanitise_mte_tags: tags initialised"))

    size, size_ds = stage2_mapping_size(release=policy.release, vma=vma, memslot=memslot,
                                        hva=hva, device=device)
    ds.extend(size_ds)
    prot = KVM_PGTABLE_PROT.R
    if writable:
        prot |= KVM_PGTABLE_PROT.W
    if exec_fault:
        prot |= KVM_PGTABLE_PROT.X
    if rule is not None:
        assert rule.prot is not None
        prot |= rule.prot
        if not device and host.dic and rule.x:
            prot |= KVM_PGTABLE_PROT.X
    elif device:
        choice = policy.choose_device_prot(DeviceContext(vma, pfn, platform, host))
        ds.append(decide(KernelRule.user_mem_abort, f"device_{policy.device_choice.name.lower()}",
                         choice, vm_allow_any_uncached=vfio_allow_any_uc,
                         choice_rule=policy.device_choice.value))
        prot |= choice
    elif host.dic:
        prot |= KVM_PGTABLE_PROT.X
    ds.append(decide(KernelRule.user_mem_abort, "prot", prot, writable=writable,
                     exec_fault=exec_fault, device=device, dic=host.dic))
    if not device and not host.fwb:
        events.append(Event(EventKind.NOTE, fn, "clean_dcache_guest_page: D-cache cleaned to PoC "
                            "(no FWB)"))
    if KVM_PGTABLE_PROT.X in prot and not host.dic:
        events.append(Event(EventKind.NOTE, fn, "invalidate_icache_guest_page (no CTR_EL0.DIC)"))

    base = ipa & ~(size - 1)
    phys = vma.hva_to_phys(hva) & ~(size - 1)
    pa, leaf = kvm_pgtable_stage2_map(pgt, base, size, phys, prot, variant=policy.variant,
                                      memattrs=policy.memattrs)
    ds.append(pa.decision)
    if not pa.ok:
        assert pa.errno is not None
        events.append(_err("stage2_set_prot_attr", pa.errno, f"prot {prot_str(prot)}: {pa.why}"))
        return AbortResult(pa.errno, tuple(events), None, prot, pa, device, vfio_allow_any_uc, pfn,
                           decisions=tuple(ds))
    assert leaf is not None
    events.append(Event(EventKind.MAPPING_CREATED, "kvm_pgtable_stage2_map",
                        f"IPA 0x{leaf.ipa:x}+0x{leaf.size:x} ({leaf.shape}) -> PA "
                        f"0x{leaf.phys:x}, prot "
                        f"{prot_str(prot)}, MemAttr 0b{leaf.memattr:04b} ({leaf.kind}), "
                        f"descriptor 0x{leaf.descriptor:016x}"))
    return AbortResult(None, tuple(events), leaf, prot, pa, device, vfio_allow_any_uc, pfn,
                       decisions=tuple(ds), retry=True)


def kvm_phys_addr_ioremap(
    *,
    policy: Policy,
    pgt: KvmPgtable,
    guest_ipa: int,
    pa: int,
    size: int,
    writable: bool = True,
    protected: bool = False,
) -> AbortResult:
    """``kvm_phys_addr_ioremap``: map ``pa`` at ``guest_ipa`` with DEVICE | R (| W), page by page.

    KVM calls it for the GICv2 virtual CPU interface (``vgic_v2_map_resources``) and, before
    Linux commit fd6f17bade21 (v5.14), for every VM_PFNMAP memslot at creation; there is no VMA
    involved.  Under pKVM (``is_protected_kvm_enabled``) it returns -EPERM.  Under the
    never-merged v2 the memory-type bit was NORMAL_NC; v3 reverted it to DEVICE.
    """
    fn = "kvm_phys_addr_ioremap"
    if protected:
        d = decide(KernelRule.kvm_phys_addr_ioremap, "protected_kvm", Errno.EPERM)
        return AbortResult(Errno.EPERM, (_err(fn, Errno.EPERM, "pKVM: is_protected_kvm_enabled()"),),
                           decisions=(d,))
    prot = policy.ioremap_choice | KVM_PGTABLE_PROT.R
    if writable:
        prot |= KVM_PGTABLE_PROT.W
    ds = [decide(KernelRule.kvm_phys_addr_ioremap, "prot", prot, writable=writable,
                 ioremap_choice=policy.ioremap_choice)]
    events: list[Event] = []
    # The kernel loops page by page (kvm_pgtable_stage2_map per PAGE_SIZE); one call with 4 KiB
    # leaves writes the same descriptors.
    last, leaf = kvm_pgtable_stage2_map(pgt, guest_ipa, size, pa, prot, variant=policy.variant,
                                        memattrs=policy.memattrs, page=True)
    if not last.ok:
        assert last.errno is not None
        ds.append(last.decision)
        events.append(_err("stage2_set_prot_attr", last.errno, last.why))
        return AbortResult(last.errno, tuple(events), None, prot, last, True,
                           decisions=tuple(ds))
    assert leaf is not None
    ds.append(last.decision)
    events.append(Event(EventKind.MAPPING_CREATED, fn,
                        f"IPA 0x{guest_ipa:x}+0x{size:x} -> PA 0x{pa:x}, prot {prot_str(prot)}, "
                        f"MemAttr 0b{leaf.memattr:04b} ({leaf.kind}), no VMA"))
    return AbortResult(None, tuple(events), leaf, prot, last, True, False, pa >> 12,
                       decisions=tuple(ds))


def io_mem_abort(access: GuestAccess, ipa: int, *, vm: VmConfig | None = None,
                 fault: Stage2Fault | None = None,
                 in_kernel: tuple[tuple[int, int, str], ...] = ()) -> AbortResult:
    """arch/arm64/kvm/mmio.c ``io_mem_abort``: an access to an IPA KVM does not map.

    With a valid syndrome (ISV=1) the access is emulated: KVM_EXIT_MMIO to the VMM with
    ``run->mmio``.  Without one KVM cannot decode it: KVM_EXIT_ARM_NISV with ``run->arm_nisv``
    (esr_iss = CM|WnR|xFSC, fault_ipa) if the VMM enabled KVM_CAP_ARM_NISV_TO_USER (Linux commit
    c726200dd106, v5.5), else KVM_RUN fails with -ENOSYS ("Data abort outside memslots with no
    valid syndrome info").
    """
    fn = "io_mem_abort"
    vm = vm if vm is not None else VmConfig()
    f = fault if fault is not None else Stage2Fault.from_access(ipa, access)
    if not f.isv:
        if vm.nisv_to_user:
            ex = VmmExit("KVM_EXIT_ARM_NISV", KVM_EXIT_ARM_NISV, esr_iss=f.esr_iss_nisv,
                         fault_ipa=ipa & ~0xFFF if fault is None else f.ipa)
            d = decide(KernelRule.io_mem_abort, "nisv_to_user", "KVM_EXIT_ARM_NISV", isv=False,
                       nisv_to_user=True)
            return AbortResult(None, (Event(EventKind.NISV_EXIT, fn, f"{access} at IPA 0x{ipa:x}: "
                               f"no valid ISV, {ex}"),), exit_reason="KVM_EXIT_ARM_NISV",
                               decisions=(d,), vmm_exit=ex, fault=f)
        d = decide(KernelRule.io_mem_abort, "nisv_enosys", Errno.ENOSYS, isv=False,
                   nisv_to_user=False)
        return AbortResult(Errno.ENOSYS, (
            _err(fn, Errno.ENOSYS, f"{access} at IPA 0x{ipa:x}: data abort outside memslots with "
                 "no valid syndrome info (ISV=0)"),
            Event(EventKind.RUN_FAILED, "kvm_arch_vcpu_ioctl_run", "KVM_RUN returns -ENOSYS",
                  Errno.ENOSYS)), decisions=(d,), fault=f,
            log=("kvm [vcpu]: Data abort outside memslots with no valid syndrome info",))
    what = "write" if access.is_write else "read"
    for base, size, dev in in_kernel:
        if base <= ipa < base + size:
            d = decide(KernelRule.io_mem_abort, "in_kernel_device", "in-kernel MMIO", isv=True,
                       ipa=ipa, device=dev)
            return AbortResult(None, (Event(EventKind.IN_KERNEL_MMIO, "kvm_io_bus_" + what,
                               f"{access.size}-byte {what} at IPA 0x{ipa:x}: emulated by KVM's "
                               f"{dev} (no VMM exit)"),), decisions=(d,), fault=f)
    ex = VmmExit("KVM_EXIT_MMIO", KVM_EXIT_MMIO, phys_addr=ipa, length=access.size,
                 is_write=access.is_write)
    d = decide(KernelRule.io_mem_abort, "mmio_exit", "KVM_EXIT_MMIO", isv=True, ipa=ipa)
    return AbortResult(None, (Event(EventKind.MMIO_EXIT, fn, f"{access.size}-byte {what} at IPA "
                       f"0x{ipa:x}: KVM_EXIT_MMIO (ISV=1), emulated by the VMM; no stage-2 "
                       f"memory type applies ({ex})"),), exit_reason="KVM_EXIT_MMIO",
                       decisions=(d,), vmm_exit=ex, fault=f)


def kvm_handle_guest_serror(*, ras: bool, contained: bool, from_el0: bool = False
                            ) -> AbortResult:
    """arch/arm64/kvm/handle_exit.c ``kvm_handle_guest_serror``: a physical SError taken while
    the guest ran (an asynchronous external abort from a Device access, say).

    Without FEAT_RAS KVM injects a virtual SError.  With it, the syndrome's AET decides
    (``arm64_is_fatal_ras_serror``): a contained error (CE/UEO) is not fatal and nothing is
    injected; an uncontainable one (UC, UEU, UER) ends in ``arm64_serror_panic``: the host
    panics.  This is where the review's containment question becomes real.
    """
    fn = "kvm_handle_guest_serror"
    if not ras:
        inj = inject_vabt(from_el0=from_el0)
        d = decide(KernelRule.kvm_handle_guest_serror, "no_ras_inject", inj.kind, ras=False)
        return AbortResult(None, (Event(EventKind.SERROR_INJECTED, "kvm_inject_vabt", str(inj)),),
                           injected="SError", decisions=(d,), injection=inj)
    if contained:
        d = decide(KernelRule.kvm_handle_guest_serror, "ras_not_fatal", "contained", ras=True,
                   contained=True)
        return AbortResult(None, (Event(EventKind.NOTE, fn, "RAS SError classified CE/UEO "
                           "(arm64_is_fatal_ras_serror false): nothing injected, the guest "
                           "continues"),), decisions=(d,))
    line = ("SError Interrupt on CPU<n>, code <ESR of the SError> -- Kernel panic - not "
            "syncing: Asynchronous SError Interrupt")
    d = decide(KernelRule.kvm_handle_guest_serror, "ras_fatal_panic", "host panic", ras=True,
               contained=False)
    return AbortResult(None, (Event(EventKind.HOST_PANIC, "arm64_serror_panic", line),),
                       decisions=(d,), log=(line,))


def kvm_handle_guest_sea(*, apei: bool) -> tuple[bool, Decision]:
    """arch/arm64/kvm/mmu.c ``kvm_handle_guest_sea``: (claimed, decision) -- the host's RAS
    firmware-first handler (APEI GHES, ``apei_claim_sea``) either claims the error or not."""
    return apei, decide(KernelRule.kvm_handle_guest_sea, "apei_claimed" if apei else "unclaimed",
                        apei, apei=apei)


def kvm_handle_guest_abort(
    *,
    policy: Policy,
    host: HostFeatures,
    platform: Platform,
    pgt: KvmPgtable,
    memslot: Memslot | None,
    vma: Vma | None,
    fault: Stage2Fault,
    access: GuestAccess,
    vm: VmConfig | None = None,
    from_el0: bool = False,
    sigbus: bool = False,
    in_kernel: tuple[tuple[int, int, str], ...] = (),
) -> AbortResult:
    """``kvm_handle_guest_abort``: handle one stage-2 abort as its syndrome says.

    In order: a synchronous external abort goes to ``kvm_handle_guest_sea`` (unclaimed: a
    virtual SError is injected); an IPA beyond the VM's IPA size injects an abort (since about
    v5.17); any xFSC but translation, permission and access flag is "Unsupported FSC" and
    KVM_RUN fails with -EFAULT (alignment faults and unsupported exclusives/atomics included);
    with no memslot (or a write to a read-only one) an instruction abort becomes an injected
    prefetch abort, a stage-1 walk an injected data abort, a cache-maintenance op with no memslot
    is skipped, anything else goes to ``io_mem_abort``; an access flag fault is fixed by
    ``handle_access_fault``; otherwise ``user_mem_abort``, whose -ENOEXEC becomes an injected
    prefetch abort and any other error fails KVM_RUN.
    """
    fn = "kvm_handle_guest_abort"
    ipa = fault.ipa
    common = {"esr": fault.esr, "fsc": fault.fsc, "ipa": ipa}
    if fault.kind in (FaultKind.SYNC_EXTERNAL, FaultKind.SYNC_EXTERNAL_ON_WALK):
        claimed, dsea = kvm_handle_guest_sea(apei=host.apei)
        d = decide(KernelRule.kvm_handle_guest_abort, "sea", "claimed" if claimed else "SError",
                   **common)
        if claimed:
            return AbortResult(None, (Event(EventKind.NOTE, "kvm_handle_guest_sea",
                               f"synchronous external abort at IPA 0x{ipa:x}: claimed by the "
                               "host's APEI handler; the guest resumes"),),
                               decisions=(dsea, d), fault=fault)
        inj = inject_vabt(from_el0=from_el0)
        return AbortResult(None, (Event(EventKind.SERROR_INJECTED, "kvm_inject_vabt",
                           f"synchronous external abort at IPA 0x{ipa:x} not claimed by APEI: "
                           f"{inj}"),), injected="SError", decisions=(dsea, d), injection=inj,
                           fault=fault)
    if ipa >> pgt.ipa_bits:
        if policy.release >= IPA_ABORT_INJECT_SINCE:
            inj = inject_abt64(is_iabt=fault.is_iabt, addr=fault.far, from_el0=from_el0)
            d = decide(KernelRule.kvm_handle_guest_abort, "ipa_beyond_ipa_size", inj.kind,
                       ipa_bits=pgt.ipa_bits, **common)
            return AbortResult(None, (Event(EventKind.DATA_ABORT_INJECTED if not fault.is_iabt
                                            else EventKind.PREFETCH_ABORT_INJECTED, fn,
                                            f"IPA 0x{ipa:x} beyond the {pgt.ipa_bits}-bit IPA "
                                            f"space: {inj}"),),
                               injected=inj.kind, decisions=(d,), injection=inj, fault=fault)
    passes = (FaultKind.TRANSLATION, FaultKind.PERMISSION, FaultKind.ACCESS_FLAG) + \
        ((FaultKind.UNSUPPORTED_ATOMIC,) if policy.release >= EXCL_ATOMIC_INJECT_SINCE else ())
    if fault.kind not in passes:
        line = (f"kvm [vcpu]: Unsupported FSC: EC=0x{fault.ec:x} xFSC=0x{fault.fsc:x} "
                f"ESR_EL2=0x{fault.esr:x}")
        d = decide(KernelRule.kvm_handle_guest_abort, "unsupported_fsc", Errno.EFAULT,
                   kind=fault.kind.value, **common)
        return AbortResult(Errno.EFAULT, (
            _err(fn, Errno.EFAULT, f"{fault.kind.value} fault at IPA 0x{ipa:x}: Unsupported FSC: "
                 f"EC=0x{fault.ec:x} xFSC=0x{fault.fsc:x} ESR_EL2=0x{fault.esr:x}"),
            Event(EventKind.RUN_FAILED, "kvm_arch_vcpu_ioctl_run", "KVM_RUN returns -EFAULT (the "
                  "VMM prints 'kvm run failed Bad address')", Errno.EFAULT)),
            decisions=(d,), log=(line,), fault=fault)
    write_fault = fault.is_write
    no_slot = memslot is None
    if no_slot or (write_fault and memslot is not None and memslot.readonly):
        why = "no memslot" if no_slot else "write to a read-only memslot"
        if fault.is_iabt:
            inj = inject_abt64(is_iabt=True, addr=fault.far, from_el0=from_el0)
            d = decide(KernelRule.kvm_handle_guest_abort, "iabt_outside_memslot", "prefetch abort",
                       memslot=not no_slot, **common)
            return AbortResult(None, (
                _err(fn, Errno.ENOEXEC, f"instruction fetch from IPA 0x{ipa:x} ({why})"),
                Event(EventKind.PREFETCH_ABORT_INJECTED, "kvm_inject_pabt",
                      f"prefetch abort at IPA 0x{ipa:x}: {inj}")),
                injected="prefetch abort", internal_errno=Errno.ENOEXEC, decisions=(d,),
                injection=inj, fault=fault)
        if fault.s1ptw:
            inj = inject_abt64(is_iabt=False, addr=fault.far, from_el0=from_el0)
            d = decide(KernelRule.kvm_handle_guest_abort, "s1ptw_outside_memslot", "data abort",
                       **common)
            return AbortResult(None, (Event(EventKind.DATA_ABORT_INJECTED, "kvm_inject_dabt",
                               f"stage-1 walk to IPA 0x{ipa:x} ({why}): {inj}"),),
                               injected="data abort", decisions=(d,), injection=inj, fault=fault)
        if no_slot and fault.cm:
            d = decide(KernelRule.kvm_handle_guest_abort, "cm_skip", "skip", cm=True, **common)
            return AbortResult(None, (Event(EventKind.CACHE_MAINTENANCE_SKIPPED, fn,
                               f"DC maintenance on IPA 0x{ipa:x} ({why}): instruction skipped"),),
                               decisions=(d,), fault=fault)
        d = decide(KernelRule.kvm_handle_guest_abort, "io_mem_abort", "io_mem_abort",
                   memslot=not no_slot, write_fault=write_fault, cm=fault.cm, **common)
        r = io_mem_abort(access, ipa, vm=vm, fault=fault, in_kernel=in_kernel)
        return AbortResult(r.errno, r.events, exit_reason=r.exit_reason,
                           decisions=(d,) + r.decisions, vmm_exit=r.vmm_exit, log=r.log,
                           fault=fault)
    if fault.kind is FaultKind.ACCESS_FLAG:
        d = decide(KernelRule.kvm_handle_guest_abort, "access_flag", "retry", **common)
        leaf = pgt.lookup(ipa)
        if leaf is not None:
            pgt.table.protect(leaf.ipa, leaf.size, leaf.attr | KVM_PTE_LEAF_ATTR_LO_S2_AF)
        return AbortResult(None, (Event(EventKind.NOTE, "handle_access_fault",
                           f"AF set on the leaf of IPA 0x{ipa:x}"),), decisions=(d,), retry=True,
                           fault=fault)
    assert memslot is not None
    d = decide(KernelRule.kvm_handle_guest_abort, "user_mem_abort", "user_mem_abort",
               write_fault=write_fault, is_iabt=fault.is_iabt, **common)
    r = user_mem_abort(policy=policy, host=host, platform=platform, pgt=pgt, memslot=memslot,
                       vma=vma, ipa=ipa, access=access, vm=vm, fault=fault, sigbus=sigbus)
    ds = (d,) + r.decisions
    if r.internal_errno is Errno.ENOEXEC:
        inj = inject_abt64(is_iabt=True, addr=fault.far, from_el0=from_el0)
        ds += (decide(KernelRule.kvm_handle_guest_abort, "enoexec_inject_pabt", inj.kind,
                      errno=Errno.ENOEXEC),)
        ev = r.events + (Event(EventKind.PREFETCH_ABORT_INJECTED, "kvm_inject_pabt",
                               f"prefetch abort at IPA 0x{ipa:x}: {inj}"),)
        return AbortResult(None, ev, None, r.prot, r.prot_attr, r.device, r.vfio_allow_any_uc,
                           r.pfn, None, "prefetch abort", Errno.ENOEXEC, ds, injection=inj,
                           fault=fault)
    if r.injected == _EXCL_ATOMIC:
        inj = inject_dabt_excl_atomic(addr=fault.far, from_el0=from_el0)
        ds += (decide(KernelRule.kvm_inject_dabt_excl_atomic, "inject", inj.kind,
                      far=fault.far),)
        ev = r.events + (Event(EventKind.DATA_ABORT_INJECTED, "kvm_inject_dabt_excl_atomic",
                               f"unsupported exclusive or atomic access at IPA 0x{ipa:x}: {inj}"),)
        return AbortResult(None, ev, None, r.prot, r.prot_attr, r.device, r.vfio_allow_any_uc,
                           r.pfn, None, "data abort", decisions=ds, injection=inj, fault=fault)
    if r.errno is not None:
        ev = r.events + (Event(EventKind.RUN_FAILED, "kvm_arch_vcpu_ioctl_run",
                               f"KVM_RUN returns {r.errno}", r.errno),)
        return AbortResult(r.errno, ev, r.leaf, r.prot, r.prot_attr, r.device,
                           r.vfio_allow_any_uc, r.pfn, decisions=ds, log=r.log, fault=fault)
    return AbortResult(r.errno, r.events, r.leaf, r.prot, r.prot_attr, r.device,
                       r.vfio_allow_any_uc, r.pfn, decisions=ds, retry=r.retry, fault=fault)
