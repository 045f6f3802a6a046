"""memattr.linux: Linux on arm64 as KVM host and guest -- VMAs and the mmap paths that make them,
KVM's memslots and stage-2 fault path, the stage-2 memory-type policies across versions (and the
what-ifs of their review), and the guest's stage-1 mapping APIs.

Main entry point: :func:`evaluate` (memattr.linux.system) runs one guest access end to end.
Layer: may import arch, mmu and platform; never analysis, report or cli.  Submodules load on
first use, so ``memattr.linux.asm`` alone stays cheap for the CLI's decoders.
"""


TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from .asm.memory import mair_for, mt_names
    from .commits import COMMITS
    from .decisions import KernelRule
    from .events import Errno, Event, EventKind
    from .guest import (
        LINUX_GUEST,
        GuestMap,
        GuestStage1,
        LinuxGuest,
        from_descriptor,
        guest_mmu_off,
        linux_guest_mair,
        raw_guest,
    )
    from .guest_mmu import GuestMmu
    from .kvm import (
        KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED,
        KVM_PGTABLE_PROT,
        AbortResult,
        GuestAccess,
        HostFeatures,
        InstrClass,
        Kvm,
        Memslot,
        VmConfig,
        kvm_supports_cacheable_pfnmap,
        kvm_vm_ioctl_check_extension,
        stage2_set_prot_attr,
    )
    from .kvm.abort import Stage2Fault
    from .mm import (
        VM_ALLOW_ANY_UNCACHED,
        Pgprot,
        Vma,
        decode_vm_flags,
        kvm_vma_is_cacheable,
        vm_allow_any_uncached,
        vma_stage1_attrs,
    )
    from .mmap import (
        AnonymousRam,
        DevMem,
        DriverPfnmap,
        GicvInterface,
        HugetlbRam,
        MappingSource,
        NvgraceRegion,
        PciSysfsResource,
        RawVma,
        VfioPciBar,
        VfioPlatformRegion,
        mmap_source,
    )
    from .policy import (
        DeviceChoice,
        DeviceContext,
        FaultPath,
        Policy,
        get_policy,
        policies,
        policy_for_release,
        register_policy,
        unregister_policy,
        with_prot,
    )
    from .system import Evaluation, MemslotSpec, evaluate
    from .version import Commit, KernelVersion

_WHERE = {
    "AbortResult": ".kvm",
    "AnonymousRam": ".mmap",
    "Commit": ".version",
    "DevMem": ".mmap",
    "DriverPfnmap": ".mmap",
    "GuestMmu": ".guest_mmu",
    "KernelRule": ".decisions",
    "Stage2Fault": ".kvm.abort",
    "with_prot": ".policy",
    "mair_for": ".asm.memory",
    "mt_names": ".asm.memory",
    "COMMITS": ".commits",
    "DeviceChoice": ".policy",
    "DeviceContext": ".policy",
    "Errno": ".events",
    "Evaluation": ".system",
    "Event": ".events",
    "EventKind": ".events",
    "FaultPath": ".policy",
    "GicvInterface": ".mmap",
    "GuestAccess": ".kvm",
    "GuestMap": ".guest",
    "GuestStage1": ".guest",
    "HostFeatures": ".kvm",
    "HugetlbRam": ".mmap",
    "InstrClass": ".kvm",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED": ".kvm",
    "KVM_PGTABLE_PROT": ".kvm",
    "KernelVersion": ".version",
    "Kvm": ".kvm",
    "LINUX_GUEST": ".guest",
    "LinuxGuest": ".guest",
    "MappingSource": ".mmap",
    "Memslot": ".kvm",
    "MemslotSpec": ".system",
    "NvgraceRegion": ".mmap",
    "PciSysfsResource": ".mmap",
    "Pgprot": ".mm",
    "Policy": ".policy",
    "RawVma": ".mmap",
    "VM_ALLOW_ANY_UNCACHED": ".mm",
    "VfioPciBar": ".mmap",
    "VfioPlatformRegion": ".mmap",
    "VmConfig": ".kvm",
    "Vma": ".mm",
    "decode_vm_flags": ".mm",
    "evaluate": ".system",
    "from_descriptor": ".guest",
    "get_policy": ".policy",
    "guest_mmu_off": ".guest",
    "kvm_supports_cacheable_pfnmap": ".kvm",
    "kvm_vm_ioctl_check_extension": ".kvm",
    "kvm_vma_is_cacheable": ".mm",
    "linux_guest_mair": ".guest",
    "mmap_source": ".mmap",
    "policies": ".policy",
    "policy_for_release": ".policy",
    "raw_guest": ".guest",
    "register_policy": ".policy",
    "stage2_set_prot_attr": ".kvm",
    "unregister_policy": ".policy",
    "vm_allow_any_uncached": ".mm",
    "vma_stage1_attrs": ".mm",
}


def __getattr__(name: str) -> object:
    """Load the submodule that defines ``name`` on first use (PEP 562)."""
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'memattr.linux' has no attribute {name!r}")
    from importlib import import_module  # only when a name is first used

    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AbortResult",
    "AnonymousRam",
    "Commit",
    "DevMem",
    "DriverPfnmap",
    "GuestMmu",
    "KernelRule",
    "Stage2Fault",
    "with_prot",
    "mair_for",
    "mt_names",
    "COMMITS",
    "DeviceChoice",
    "DeviceContext",
    "Errno",
    "Evaluation",
    "Event",
    "EventKind",
    "FaultPath",
    "GicvInterface",
    "GuestAccess",
    "GuestMap",
    "GuestStage1",
    "HostFeatures",
    "HugetlbRam",
    "InstrClass",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED",
    "KVM_PGTABLE_PROT",
    "KernelVersion",
    "Kvm",
    "LINUX_GUEST",
    "LinuxGuest",
    "MappingSource",
    "Memslot",
    "MemslotSpec",
    "NvgraceRegion",
    "PciSysfsResource",
    "Pgprot",
    "Policy",
    "RawVma",
    "VM_ALLOW_ANY_UNCACHED",
    "VfioPciBar",
    "VfioPlatformRegion",
    "VmConfig",
    "Vma",
    "decode_vm_flags",
    "evaluate",
    "from_descriptor",
    "get_policy",
    "guest_mmu_off",
    "kvm_supports_cacheable_pfnmap",
    "kvm_vm_ioctl_check_extension",
    "kvm_vma_is_cacheable",
    "linux_guest_mair",
    "mmap_source",
    "policies",
    "policy_for_release",
    "raw_guest",
    "register_policy",
    "stage2_set_prot_attr",
    "unregister_policy",
    "vm_allow_any_uncached",
    "vma_stage1_attrs",
]
