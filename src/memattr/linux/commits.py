"""The one registry of kernel commits (and never-merged postings) the package cites.

Every rule that depends on a release cites an entry here by key; output prints
:meth:`~memattr.linux.version.Commit.cite`.  ``release`` is the first mainline release containing
the commit; a ``note`` says where a fact was not verified against the release's source.
"""

from __future__ import annotations

from .version import V5_5, V5_8, V5_14, V6_9, V6_12, V6_17, V7_0, Commit, KernelVersion

__all__ = ["COMMITS", "commit"]

_V = KernelVersion

COMMITS: dict[str, Commit] = {
    # --- exec on device memory (arch/arm64/kvm/mmu.c user_mem_abort) -------------------------
    "exec-device": Commit("6d674e28f642", "KVM: arm/arm64: Properly handle faulting of device "
                          "mappings", V5_5),
    # --- KVM_CAP_ARM_NISV_TO_USER (arch/arm64/kvm/mmio.c io_mem_abort) -------------------------
    "nisv-to-user": Commit("c726200dd106", "KVM: arm/arm64: Allow reporting non-ISV data aborts "
                           "to userspace", V5_5),
    # --- reset and revoke (drivers/vfio/pci/vfio_pci.c, later vfio_pci_core.c) -----------------
    # In "[GIT PULL] VFIO updates for v5.8-rc1" (based on v5.7-rc7, merged by 5a36f0f3f518 after
    # v5.7 was released); backported to the 4.9 to 5.4 stable series for CVE-2020-12888.
    "vfio-mmio-block": Commit("abafbc551fdd", "vfio-pci: Invalidate mmaps and block MMIO access "
                              "on disabled memory", V5_8),
    # --- mapping sizes (user_mem_abort / get_vma_page_shift) ------------------------------------
    "device-block": Commit("2aa53d68cee6", "KVM: arm64: Try stage2 block mapping for host device "
                           "MMIO", V5_14, "release not verified against the tag"),
    "no-creation-mmio-map": Commit("fd6f17bade21", "KVM: arm64: Remove the creation time's "
                                   "mapping of MMIO regions", V5_14,
                                   "release not verified against the tag"),
    "pfn-is-map-memory": Commit("873ba463914c", "arm64: decouple check whether pfn is in linear "
                                "map from pfn_valid()", V5_14, "release not verified"),
    "vfio-huge-fault": Commit("f9e54c3a2f5b", "vfio/pci: implement huge_fault support", V6_12),
    # --- the non-cacheable IO memory series (v9, merged for v6.9) -------------------------------
    "normal-nc-flag": Commit("c034ec84e879", "KVM: arm64: Introduce new flag for non-cacheable IO "
                             "memory", V6_9),
    "mm-flag": Commit("5c656fcdd6c6", "mm: Introduce new flag to indicate wc safe", V6_9),
    "s2-normalnc": Commit("8c47ce3e1d2c", "KVM: arm64: Set io memory s2 pte as normalnc for vfio "
                          "pci device", V6_9),
    "vfio-wc-safe": Commit("a39d3a966a09", "vfio: Convey kvm that the vfio-pci device is wc safe",
                           V6_9),
    "nvgrace-noncached": Commit("vfio-next", "vfio/nvgrace-gpu: Convey kvm to map device memory "
                                "region as noncached", V6_9, "commit id not verified"),
    # --- postings of the series that were never merged as posted ---------------------------------
    "v1-vma-type": Commit("20230907181459.18145-2-ankita@nvidia.com", "KVM: arm64: determine "
                          "memory type from VMA", None),
    "v1-blanket": Commit("20230907181459.18145-3-ankita@nvidia.com", "KVM: arm64: allow the VM to "
                         "select DEVICE_* and NORMAL_NC for IO memory", None),
    "v2": Commit("20231205033015.10044-1-ankita@nvidia.com", "KVM: arm64: allow the VM to select "
                 "DEVICE_* and NORMAL_NC for IO memory (v2)", None),
    "v3": Commit("20231208164709.23101-1-ankita@nvidia.com", "kvm: arm64: allow the VM to select "
                 "DEVICE_* and NORMAL_NC for IO memory (v3)", None),
    "v4": Commit("20231218090719.22250-1-ankita@nvidia.com", "kvm: arm64: allow the VM to select "
                 "DEVICE_* and NORMAL_NC for IO memory (v4)", None),
    "v7": Commit("20240211174705.31992-1-ankita@nvidia.com", "kvm: arm64: allow the VM to select "
                 "DEVICE_* and NORMAL_NC for IO memory (v7)", None),
    # --- cacheable PFNMAP (merged for v6.17) -------------------------------------------------------
    "assume-cacheable": Commit("216887f79d98", "KVM: arm64: Assume non-PFNMAP/MIXEDMAP VMAs can be "
                               "mapped cacheable", V6_17),
    "block-cacheable": Commit("2a8dfab26677", "KVM: arm64: Block cacheable PFNMAP mapping", V6_17),
    "allow-cacheable": Commit("0c67288e0c8b", "KVM: arm64: Allow cacheable stage 2 mapping using "
                              "VMA flags", V6_17),
    "cap": Commit("f55ce5a6cd33", "KVM: arm64: Expose new KVM cap for cacheable PFNMAP", V6_17),
    # --- FEAT_LS64 in guests (kvmarm, for the release after 6.19) -----------------------------------
    "ls64-dabt": Commit("2937aeec9dc5", "KVM: arm64: Handle DABT caused by LS64* instructions on "
                        "unsupported memory", V7_0, "linux-next hash; the release (targeted as "
                        "6.20, numbered 7.0) not verified against the tag"),
    # --- mm ----------------------------------------------------------------------------------------
    "hugetlb-mte": Commit("25c17c4b55de", "hugetlb: arm64: add mte support", _V(6, 13),
                          "release not re-verified"),
    "vm-mte-high-arch": Commit("arm64-poe", "arm64: VM_MTE/VM_MTE_ALLOWED move to VM_HIGH_ARCH_4/5 "
                               "when POE takes VM_HIGH_ARCH_0..2 for pkeys", V6_12,
                               "commit id not verified"),
    "vfio-sub-page-bar": Commit("05f0c03fbac1", "vfio-pci: Allow to mmap sub-page MMIO BARs if the "
                                "mmio page is exclusive", _V(4, 8)),
    # --- trees the page-table dump formats were read at (arch/arm64/mm/ptdump.c,
    # arch/arm64/kvm/ptdump.c): the dump code as of these commits, not what they changed ------
    "ptdump-read-at": Commit("031e011d8b22", "arm64: mm: Move PCI I/O emulation region above the "
                             "vmemmap region", None, "arch/arm64/mm/ptdump.c read at this commit; "
                             "release not verified"),
    "kvm-ptdump-read-at": Commit("19e15dc73f0f", "KVM: arm64: nv: Expose shadow page tables in "
                                 "debugfs", None, "arch/arm64/kvm/ptdump.c read at this commit "
                                 "(kvmarm next); release not verified"),
}


def commit(key: str) -> Commit:
    """The registry entry ``key`` (KeyError naming the known keys)."""
    try:
        return COMMITS[key]
    except KeyError:
        raise KeyError(f"no commit {key!r} in memattr.linux.commits (known: "
                       f"{', '.join(COMMITS)})") from None
