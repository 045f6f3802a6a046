"""Decisions as data for the kernel's rules: :class:`KernelRule` names the deciding function.

Each Linux rule function (``user_mem_abort``'s choice, ``stage2_set_prot_attr``,
``kvm_arch_prepare_memory_region``, ``vfio_pci_core_mmap``'s flags, ``kvm_handle_guest_abort``'s
dispatch, ``io_mem_abort`` ...) returns its result together with
:class:`memattr.arch.decision.Decision` records whose ``rule`` is a :class:`KernelRule` member
(its value the kernel function's name), ``branch`` a stable identifier of the path taken,
``inputs`` what that path looked at and ``result`` what it returned.  Explanations are rendered
from the records (``memattr.report.kernel``); nothing re-derives them.
"""

from __future__ import annotations

import enum

from ..arch.decision import Decision

__all__ = ["KernelRule", "decide"]


class KernelRule(enum.Enum):
    """Kernel functions whose decisions the Linux model records (value: the function's name)."""

    vfio_pci_core_mmap = "vfio_pci_core_mmap"
    nvgrace_gpu_mmap = "nvgrace_gpu_mmap"
    vfio_platform_mmap_mmio = "vfio_platform_mmap_mmio"
    pci_mmap_resource_range = "pci_mmap_resource_range"
    mmap_mem = "mmap_mem"
    remap_pfn_range = "remap_pfn_range"
    pfnmap_mmap = "pfnmap_mmap"  # a generic PFNMAP driver (DRM/TTM/dma-buf): the caller's pgprot
    vfio_pci_probe_mmaps = "vfio_pci_probe_mmaps"
    kvm_arch_prepare_memory_region = "kvm_arch_prepare_memory_region"
    kvm_set_memory_region = "__kvm_set_memory_region"
    kvm_handle_guest_abort = "kvm_handle_guest_abort"
    kvm_handle_guest_sea = "kvm_handle_guest_sea"
    handle_access_fault = "handle_access_fault"
    user_mem_abort = "user_mem_abort"
    get_vma_page_shift = "get_vma_page_shift"
    fault_supports_stage2_huge_mapping = "fault_supports_stage2_huge_mapping"
    transparent_hugepage_adjust = "transparent_hugepage_adjust"
    kvm_is_device_pfn = "kvm_is_device_pfn"
    kvm_vma_is_cacheable = "kvm_vma_is_cacheable"
    stage2_set_prot_attr = "stage2_set_prot_attr"
    kvm_pgtable_stage2_map = "kvm_pgtable_stage2_map"
    kvm_phys_addr_ioremap = "kvm_phys_addr_ioremap"
    io_mem_abort = "io_mem_abort"
    kvm_vm_ioctl_check_extension = "kvm_vm_ioctl_check_extension"
    vfio_pci_zap_bars = "vfio_pci_zap_bars"
    kvm_unmap_gfn_range = "kvm_unmap_gfn_range"
    vfio_pci_mmap_fault = "vfio_pci_mmap_huge_fault"
    vgic_v2_probe = "vgic_v2_probe"
    kvm_handle_guest_serror = "kvm_handle_guest_serror"
    kvm_inject_dabt_excl_atomic = "kvm_inject_dabt_excl_atomic"


def decide(rule: KernelRule, branch: str, result: object = None, **inputs: object) -> Decision:
    """A :class:`Decision` of ``rule``: the branch taken, its inputs (keyword order), its result."""
    return Decision(rule, branch, tuple(inputs.items()), result)
