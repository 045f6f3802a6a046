"""KVM/arm64 as modelled: host features, memslots, the stage-2 fault path and page-table layer.

Submodules load on first use (PEP 562): importing one of them (``kvm.features``,
``kvm.pgtable``) does not run the fault path (``kvm.mmu``), which needs
:mod:`memattr.linux.policy`, itself built on ``kvm.features`` and ``kvm.pgtable``.
"""

from ..._lazy import from_modules

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from .abort import GuestAccess, InstrClass, esr_isv
    from .features import (
        KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED,
        HostFeatures,
        VmConfig,
        kvm_supports_cacheable_pfnmap,
        kvm_vm_ioctl_check_extension,
    )
    from .memslot import (
        KVM_MEM_LOG_DIRTY_PAGES,
        KVM_MEM_READONLY,
        Memslot,
        MemslotResult,
        kvm_arch_prepare_memory_region,
        kvm_vma_mte_allowed,
    )
    from .mmu import (
        KVM_VGIC_V2_CPU_SIZE,
        AbortResult,
        io_mem_abort,
        kvm_handle_guest_abort,
        kvm_phys_addr_ioremap,
        user_mem_abort,
    )
    from .pgtable import (
        KVM_PGTABLE_PROT,
        LINUX_S2_MEMATTRS,
        PROT_LAYOUTS,
        KvmPgtable,
        PgtableVariant,
        ProtAttr,
        S2MemAttrs,
        Stage2Leaf,
        kvm_pgtable_prot_value,
        kvm_pgtable_stage2_map,
        prot_str,
        stage2_set_prot_attr,
        stage2_set_prot_attr_v6_8,
        stage2_set_prot_attr_v6_9,
    )
    from .vm import Kvm

_WHERE = {
    "AbortResult": ".mmu",
    "GuestAccess": ".abort",
    "HostFeatures": ".features",
    "InstrClass": ".abort",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED": ".features",
    "KVM_MEM_LOG_DIRTY_PAGES": ".memslot",
    "KVM_MEM_READONLY": ".memslot",
    "KVM_PGTABLE_PROT": ".pgtable",
    "KVM_VGIC_V2_CPU_SIZE": ".mmu",
    "Kvm": ".vm",
    "KvmPgtable": ".pgtable",
    "LINUX_S2_MEMATTRS": ".pgtable",
    "Memslot": ".memslot",
    "MemslotResult": ".memslot",
    "PROT_LAYOUTS": ".pgtable",
    "PgtableVariant": ".pgtable",
    "ProtAttr": ".pgtable",
    "S2MemAttrs": ".pgtable",
    "Stage2Leaf": ".pgtable",
    "VmConfig": ".features",
    "esr_isv": ".abort",
    "io_mem_abort": ".mmu",
    "kvm_arch_prepare_memory_region": ".memslot",
    "kvm_handle_guest_abort": ".mmu",
    "kvm_pgtable_prot_value": ".pgtable",
    "kvm_pgtable_stage2_map": ".pgtable",
    "kvm_phys_addr_ioremap": ".mmu",
    "kvm_supports_cacheable_pfnmap": ".features",
    "kvm_vm_ioctl_check_extension": ".features",
    "kvm_vma_mte_allowed": ".memslot",
    "prot_str": ".pgtable",
    "stage2_set_prot_attr": ".pgtable",
    "stage2_set_prot_attr_v6_8": ".pgtable",
    "stage2_set_prot_attr_v6_9": ".pgtable",
    "user_mem_abort": ".mmu",
}


__getattr__ = from_modules(__name__, globals(), _WHERE)  # PEP 562: import on first use


__all__ = [
    "AbortResult",
    "GuestAccess",
    "HostFeatures",
    "InstrClass",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED",
    "KVM_MEM_LOG_DIRTY_PAGES",
    "KVM_MEM_READONLY",
    "KVM_PGTABLE_PROT",
    "KVM_VGIC_V2_CPU_SIZE",
    "Kvm",
    "KvmPgtable",
    "LINUX_S2_MEMATTRS",
    "Memslot",
    "MemslotResult",
    "PROT_LAYOUTS",
    "PgtableVariant",
    "ProtAttr",
    "S2MemAttrs",
    "Stage2Leaf",
    "VmConfig",
    "esr_isv",
    "io_mem_abort",
    "kvm_arch_prepare_memory_region",
    "kvm_handle_guest_abort",
    "kvm_pgtable_prot_value",
    "kvm_pgtable_stage2_map",
    "kvm_phys_addr_ioremap",
    "kvm_supports_cacheable_pfnmap",
    "kvm_vm_ioctl_check_extension",
    "kvm_vma_mte_allowed",
    "prot_str",
    "stage2_set_prot_attr",
    "stage2_set_prot_attr_v6_8",
    "stage2_set_prot_attr_v6_9",
    "user_mem_abort",
]
