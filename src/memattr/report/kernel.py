"""Explanations of the kernel's decisions, rendered from :class:`~memattr.arch.decision.Decision`
records whose rule is a :class:`~memattr.linux.decisions.KernelRule`.

One table maps (rule, branch) to a sentence template over the record's inputs and result; nothing
here looks at anything but the records.  A branch without a template renders generically
(``rule[branch] -> result``), so no record is ever dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from string import Formatter

from ..arch.decision import Decision
from ..linux.commits import commit
from ..linux.decisions import KernelRule as K
from ..linux.kvm.pgtable import KVM_PGTABLE_PROT, prot_str

__all__ = ["TEMPLATES", "render_decision", "kernel_decisions", "kernel_why", "kernel_story",
           "seen"]


def _since(key: str) -> str:
    """'<hash>, v<release>' of a commit of the registry (memattr.linux.commits), for a template."""
    c = commit(key)
    return f"{c.id}, v{c.release}"


TEMPLATES: dict[tuple[K, str], str] = {
    (K.vfio_pci_core_mmap, "flags_6_8"): "vfio_pci_core_mmap: {pgprot}, no VM_ALLOW_ANY_UNCACHED "
                                         "(before " + _since("vfio-wc-safe") + ")",
    (K.vfio_pci_core_mmap, "flags_6_9"): "vfio_pci_core_mmap sets VM_ALLOW_ANY_UNCACHED "
                                         "(" + _since("vfio-wc-safe") + "), {pgprot}",
    (K.vfio_pci_probe_mmaps, "sub_page_reserved"): "vfio_pci_probe_mmaps: sub-page BAR at a page "
                                                   "start, the rest of the page reserved",
    (K.nvgrace_gpu_mmap, "resmem"): "nvgrace_gpu_mmap: resmem is {pgprot}",
    (K.nvgrace_gpu_mmap, "usemem"): "nvgrace_gpu_mmap: usemem is {pgprot}, unflagged",
    (K.pci_mmap_resource_range, "uc"): "pci_mmap_resource_range: {pgprot}, no flag",
    (K.pci_mmap_resource_range, "wc"): "pci_mmap_resource_range: {pgprot}, no flag",
    (K.mmap_mem, "phys_mem_access_prot"): "mmap_mem: {pgprot} (phys_mem_access_prot)",
    (K.pfnmap_mmap, "writecombine"): "the driver's PFNMAP is {pgprot}",
    (K.kvm_arch_prepare_memory_region, "accepted"): "",
    (K.kvm_arch_prepare_memory_region, "map_pfnmap_at_creation"):
        "kvm_arch_prepare_memory_region maps {vma} at creation (before "
        + _since("no-creation-mmio-map") + ")",
    (K.kvm_arch_prepare_memory_region, "pfnmap_dirty_logging"):
        "kvm_arch_prepare_memory_region: dirty logging on VM_PFNMAP {vma}: {result}",
    (K.kvm_arch_prepare_memory_region, "cacheable_pfnmap_unsupported"):
        "kvm_arch_prepare_memory_region: cacheable PFNMAP {vma} without FWB+DIC: {result}",
    (K.kvm_arch_prepare_memory_region, "mte_not_allowed"):
        "kvm_arch_prepare_memory_region: MTE VM over {vma} without VM_MTE_ALLOWED: {result}",
    (K.kvm_arch_prepare_memory_region, "beyond_ipa_space"):
        "kvm_arch_prepare_memory_region: slot ends beyond the IPA space: {result}",
    (K.kvm_is_device_pfn, "!pfn_is_map_memory(pfn)"):
        "PFN {in_linear_map:linear} (kvm_is_device_pfn: !pfn_is_map_memory)",
    (K.kvm_is_device_pfn, "!pfn_valid(pfn)"): "PFN {in_linear_map:linear} (kvm_is_device_pfn: "
                                              "!pfn_valid, before v5.14)",
    (K.user_mem_abort, "s2_force_noncacheable"): "non-cacheable PFNMAP VMA ({pgprot}): "
                                                 "s2_force_noncacheable",
    (K.user_mem_abort, "cacheable_pfnmap"): "cacheable PFNMAP VMA ({pgprot}) with FWB and "
                                            "CTR_EL0.DIC: mapped cacheable",
    (K.user_mem_abort, "assume_cacheable"): "not a PFNMAP over non-linear memory: cacheable",
    (K.user_mem_abort, "device_vma_flag"): "VMA {vm_allow_any_uncached:flag} "
                                           "VM_ALLOW_ANY_UNCACHED: {result:prot}",
    (K.user_mem_abort, "device_device"): "every device page: {result:prot}",
    (K.user_mem_abort, "device_normal_nc"): "every device page: {result:prot}",
    (K.user_mem_abort, "device_host_bridge"): "PFN in a host-bridge window or not: "
                                              "{result:prot}",
    (K.user_mem_abort, "device_vma_pgprot"): "VMA pgprot decides: {result:prot}",
    (K.user_mem_abort, "device_custom"): "the policy's chooser: {result:prot}",
    (K.user_mem_abort, "exec_on_device"): "instruction fetch from device memory: -ENOEXEC "
                                          "(" + _since("exec-device") + ")",
    (K.user_mem_abort, "pfn_lookup_host_leaf"): "the host maps this HVA with a "
                                                "{host_leaf:size} leaf: {result:size}",
    (K.user_mem_abort, "pfnmap_force_pte"): "VM_PFNMAP forces PTEs before v5.14",
    (K.user_mem_abort, "prot"): "prot {result:prot}",
    (K.user_mem_abort, "pfn_lookup_sigbus"): "the PFN lookup gets VM_FAULT_SIGBUS: {result}",
    (K.get_vma_page_shift, "pfnmap"): "get_vma_page_shift: {result:size}",
    (K.get_vma_page_shift, "page"): "get_vma_page_shift: {result:size}",
    (K.get_vma_page_shift, "hugetlb"): "get_vma_page_shift: hugetlb {result:size}",
    (K.user_mem_abort, "vma_shift_page"): "page-sized (before v5.14)",
    (K.user_mem_abort, "vma_shift_hugetlb"): "hugetlb {result:size} (before v5.14)",
    (K.user_mem_abort, "logging_force_pte"): "dirty logging forces PTEs",
    (K.user_mem_abort, "vma_pgprot"): "the VMA pgprot ({pgprot}) decides: device={result}",
    (K.user_mem_abort, "v1_no_linear_alias"): "v1 1/2: a PFN outside the linear map without "
                                              "FWB: {result}",
    (K.user_mem_abort, "vma_cacheable_no_alias"): "cacheable VMA with no linear alias without "
                                                  "FWB: {result}",
    (K.user_mem_abort, "cacheable_pfnmap_unsupported"): "cacheable PFNMAP VMA ({pgprot}) without "
                                                        "FWB+DIC: {result}",
    (K.user_mem_abort, "mte_not_allowed"): "MTE VM, VMA not VM_MTE_ALLOWED: {result}",
    (K.user_mem_abort, "no_vma"): "no VMA at HVA {hva}: {result}",
    (K.user_mem_abort, "unexpected_read_permission"): "Unexpected L2 read permission error: "
                                                      "{result}",
    (K.kvm_handle_guest_abort, "enoexec_inject_pabt"): "-ENOEXEC becomes an injected "
                                                       "{result}",
    (K.kvm_handle_guest_abort, "iabt_outside_memslot"): "instruction fetch outside memslots: "
                                                        "{result} injected",
    (K.kvm_handle_guest_abort, "s1ptw_outside_memslot"): "stage-1 walk outside memslots: "
                                                         "{result} injected",
    (K.kvm_handle_guest_abort, "cm_skip"): "cache maintenance outside memslots: skipped",
    (K.kvm_handle_guest_abort, "access_flag"): "access flag fault: handle_access_fault, retried",
    (K.kvm_handle_guest_abort, "sea"): "synchronous external abort: {result}",
    (K.kvm_handle_guest_abort, "ipa_beyond_ipa_size"): "IPA beyond the {ipa_bits}-bit IPA "
                                                       "space: {result} injected",
    (K.kvm_handle_guest_sea, "apei_claimed"): "APEI claims the SEA",
    (K.kvm_handle_guest_sea, "unclaimed"): "APEI does not claim the SEA",
    (K.kvm_handle_guest_serror, "no_ras_inject"): "SError without RAS: {result} injected",
    (K.kvm_handle_guest_serror, "ras_not_fatal"): "RAS SError, not fatal: nothing injected",
    (K.kvm_handle_guest_serror, "ras_fatal_panic"): "uncontainable RAS SError: {result}",
    (K.io_mem_abort, "in_kernel_device"): "io_mem_abort: emulated in the kernel ({device})",
    (K.kvm_set_memory_region, "overlap"): "__kvm_set_memory_region: overlapping slot: {result}",
    (K.vfio_pci_zap_bars, "zap"): "vfio_pci_zap_bars: {reason}",
    (K.vfio_pci_zap_bars, "no_zap"): "{reason} under {release}: no zap, the mappings stay "
                                     "(before " + _since("vfio-mmio-block") + ")",
    (K.kvm_unmap_gfn_range, "notifier"): "MMU notifier: stage-2 IPA 0x{ipa:hex}+0x{size:hex} "
                                          "unmapped",
    (K.pfnmap_mmap, "device"): "the driver's PFNMAP is {pgprot}",
    (K.pfnmap_mmap, "noncached"): "the driver's PFNMAP is {pgprot}",
    (K.pfnmap_mmap, "cached"): "the driver's PFNMAP is {pgprot} (cacheable)",
    (K.stage2_set_prot_attr, "normal_nc_or_device"): "stage2_set_prot_attr: {result}",
    (K.fault_supports_stage2_huge_mapping, "fallback"): "memslot not congruent for {size:size}: "
                                                        "{result:size}",
    (K.transparent_hugepage_adjust, "thp_block"): "THP: {result:size} block",
    (K.stage2_set_prot_attr, "device"): "stage2_set_prot_attr: DEVICE_nGnRE (MemAttr "
                                        "{memattr:bin})",
    (K.stage2_set_prot_attr, "normal_nc"): "stage2_set_prot_attr: NORMAL_NC (MemAttr "
                                           "{memattr:bin})",
    (K.stage2_set_prot_attr, "normal"): "stage2_set_prot_attr: NORMAL (MemAttr {memattr:bin})",
    (K.stage2_set_prot_attr, "device_and_nc"): "stage2_set_prot_attr: DEVICE|NORMAL_NC is "
                                               "{result}",
    (K.stage2_set_prot_attr, "device_and_nc_device_wins"): "stage2_set_prot_attr (v3): "
                                                           "DEVICE|NORMAL_NC maps DEVICE",
    (K.stage2_set_prot_attr, "device_and_nc_warn"): "stage2_set_prot_attr (v4-v6): WARN on "
                                                    "DEVICE|NORMAL_NC, maps DEVICE",
    (K.stage2_set_prot_attr, "x_with_device"): "stage2_set_prot_attr: X with DEVICE is {result}",
    (K.stage2_set_prot_attr, "x_with_normal_nc"): "stage2_set_prot_attr: X with NORMAL_NC is "
                                                  "{result}",
    (K.kvm_phys_addr_ioremap, "prot"): "kvm_phys_addr_ioremap (no VMA): {result:prot}",
    (K.kvm_phys_addr_ioremap, "protected_kvm"): "kvm_phys_addr_ioremap under pKVM: {result}",
    (K.kvm_handle_guest_abort, "unsupported_fsc"): "kvm_handle_guest_abort: {kind} fault is "
                                                   "an Unsupported FSC: {result}",
    (K.kvm_handle_guest_abort, "io_mem_abort"): "",
    (K.kvm_handle_guest_abort, "user_mem_abort"): "",
    (K.io_mem_abort, "mmio_exit"): "io_mem_abort: KVM_EXIT_MMIO",
    (K.io_mem_abort, "nisv_to_user"): "io_mem_abort: no ISV, KVM_EXIT_ARM_NISV",
    (K.io_mem_abort, "nisv_enosys"): "io_mem_abort: no ISV: {result}",
    (K.vgic_v2_probe, "cpuif_trap"): "GICV not aligned to the host page: trapped, not mapped",
}


def _fmt(value: object, spec: str) -> str:
    if spec == "prot" and isinstance(value, KVM_PGTABLE_PROT):
        return prot_str(value)
    if spec == "size" and isinstance(value, int):
        return f"{value >> 20} MiB" if value >= 1 << 20 else f"{value >> 10} KiB"
    if spec == "hex" and isinstance(value, int):
        return f"{value:x}"
    if spec == "bin" and isinstance(value, int):
        return f"0b{value:04b}"
    if spec == "linear":
        return "in the linear map" if value else "not in the linear map"
    if spec == "flag":
        return "with" if value else "without"
    return str(value)


def render_decision(d: Decision) -> str:
    """One decision as a phrase (the template of its rule and branch, else a generic form)."""
    rule = d.rule.value if hasattr(d.rule, "value") else str(d.rule)
    tmpl = TEMPLATES.get((d.rule, d.branch)) if isinstance(d.rule, K) else None
    if tmpl is None:
        return f"{rule}[{d.branch}] -> {d.result}"
    values = dict(d.inputs)
    values["result"] = d.result
    out = []
    for literal, field, spec, _conv in Formatter().parse(tmpl):
        out.append(literal)
        if field is not None:
            out.append(_fmt(values.get(field), spec or ""))
    return "".join(out)


def kernel_decisions(decisions: Iterable[Decision]) -> list[Decision]:
    """The kernel's records of a chain (the architecture's are rendered elsewhere)."""
    return [d for d in decisions if isinstance(d.rule, K)]


def kernel_story(decisions: Iterable[Decision]) -> list[str]:
    """Every kernel decision of a chain, one phrase each (empty templates are silent links)."""
    return [t for t in (render_decision(d) for d in kernel_decisions(decisions)) if t]


_WHY = {K.vfio_pci_core_mmap, K.nvgrace_gpu_mmap, K.pci_mmap_resource_range, K.mmap_mem,
        K.pfnmap_mmap, K.kvm_is_device_pfn, K.user_mem_abort, K.stage2_set_prot_attr,
        K.kvm_phys_addr_ioremap, K.kvm_handle_guest_abort, K.io_mem_abort, K.vgic_v2_probe,
        K.kvm_arch_prepare_memory_region}
_SKIP = {(K.user_mem_abort, "prot"), (K.user_mem_abort, "pfn_lookup_host_leaf"),
         (K.user_mem_abort, "pfnmap_force_pte")}


def kernel_why(decisions: Iterable[Decision]) -> str:
    """The kernel's part of a 'why' line: how the page was classified and mapped, or failed."""
    parts = []
    for d in kernel_decisions(decisions):
        if d.rule not in _WHY or (d.rule, d.branch) in _SKIP:
            continue
        text = render_decision(d)
        if text and text not in parts:
            parts.append(text)
    return ", ".join(parts)


def seen(e: object) -> str:
    """What the VMM and the guest see of an evaluation: the last stage-2 abort's syndrome, the
    VMM exit's payload or KVM_RUN's errno, the injected exception, the device's error response,
    the kernel log lines."""
    from ..linux.events import EventKind
    from ..linux.system import Evaluation

    assert isinstance(e, Evaluation)
    bits = []
    for a in e.aborts:
        f = a.fault
        if f is None:
            continue
        hp = f"0x{f.hpfar:x}" if f.hpfar is not None else "-"
        then = ", mapped and retried" if a.retry else ""
        bits.append(f"ESR_EL2=0x{f.esr:x} FAR_EL2=0x{f.far:x} HPFAR_EL2={hp}{then}")
    if e.vmm_exit is not None:
        bits.append(f"VMM: {e.vmm_exit}")
    elif e.errno is not None and not e.injected and not e.memslot_rejected:
        bits.append(f"VMM: KVM_RUN {e.errno}")
    if e.injection is not None:
        bits.append(f"guest: {e.injection}")
    answered = [ev for ev in e.events if ev.kind is EventKind.ERROR_RESPONSE]
    if e.error_response is not None and answered:
        bits.append(f"device: {answered[-1].text}")
    bits.extend(f"log: {line}" for line in e.log)
    return "; ".join(bits)
