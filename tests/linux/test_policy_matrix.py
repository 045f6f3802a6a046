"""Every policy x mapping source x guest mapping x FWB, against a table written from the rules.

The expected stage-2 choice is written from docs/review.md#who-gets-normal-nc (6.9),
docs/review.md#later-changes (6.17), docs/review.md#gicv2-vcpu-interface (GICV), docs/review.md#v1
and docs/review.md#the-non-fwb-regression (v1's VMA-type detection), docs/review.md#v2 (blanket NC),
docs/review.md#user_mem_abort and docs/review.md#the-vma-flag; the effective type from
docs/review.md#stage-2-encodings (plus docs/architecture.md#stage-2-memattr-with-fwb for FWB 0b110 /
0b111), independently of the model.
"""

from __future__ import annotations

import json

import pytest

from memattr.linux import (
    AnonymousRam,
    DevMem,
    Errno,
    EventKind,
    GicvInterface,
    HostFeatures,
    HugetlbRam,
    MappingSource,
    MemslotSpec,
    NvgraceRegion,
    PciSysfsResource,
    VfioPciBar,
    VfioPlatformRegion,
    evaluate,
)
from memattr.platform import Platform

MiB = 1 << 20

SOURCES: dict[str, MappingSource] = {
    "vfio-pci": VfioPciBar("nic", 0),
    "vfio-pci-vf": VfioPciBar("nic", 0, vf=1),
    "vfio-pci-bar32": VfioPciBar("nic", 2),
    "nvgrace-resmem": NvgraceRegion("gpu", "resmem", size=2 * MiB),
    "nvgrace-usemem": NvgraceRegion("gpu", "usemem", size=2 * MiB),
    "vfio-platform": VfioPlatformRegion("dma-engine"),
    "sysfs-resource": PciSysfsResource("nic", 0),
    "sysfs-resource-wc": PciSysfsResource("nic", 0, wc=True),
    "devmem-bar": DevMem(0x80_0000_0000, MiB),
    "devmem-carveout": DevMem(0x1_0000_0000, MiB),
    "anon-ram": AnonymousRam(2 * MiB),
    "hugetlb-ram": HugetlbRam(4 * MiB),
    "gicv": GicvInterface(),
}
RAM = {"anon-ram", "hugetlb-ram"}
# docs/review.md#who-gets-normal-nc
VFIO_FLAGGED = {"vfio-pci", "vfio-pci-vf", "vfio-pci-bar32", "nvgrace-resmem"}
IN_HOST_BRIDGE = {"vfio-pci", "vfio-pci-vf", "vfio-pci-bar32", "sysfs-resource",
                  "sysfs-resource-wc", "devmem-bar"}
WC_VMA = {"nvgrace-resmem", "sysfs-resource-wc"}  # pgprot_writecombine VMAs


def expected_s2(policy: str, source: str, fwb: bool) -> str:
    """DEVICE / NC / NORMAL / EINVAL-SLOT / EINVAL-FAULT, from the written rules."""
    if source in RAM:
        return "NORMAL"  # scenarios 15: linear-map RAM is S2 Normal under every policy
    if policy == "6.8":
        return "DEVICE"  # docs/review.md#user_mem_abort: every non-linear-map PFN is Device-nGnRE
    if policy == "v2":
        return "NC"  # docs/review.md#v2: blanket NC, kvm_phys_addr_ioremap included
    if source == "gicv":
        return "DEVICE"  # docs/review.md#gicv2-vcpu-interface: no VMA, kvm_phys_addr_ioremap stays DEVICE
    if policy == "6.17" and source == "nvgrace-usemem":
        return "NORMAL" if fwb else "EINVAL-SLOT"  # docs/review.md#later-changes (DIC present here)
    if policy == "pcie-only":
        return "NC" if source in IN_HOST_BRIDGE else "DEVICE"
    if policy == "mirror-vma":
        if source == "nvgrace-usemem":  # cacheable VMA, no linear alias: v1 1/2
            return "NORMAL" if fwb else "EINVAL-FAULT"
        return "NC" if source in WC_VMA else "DEVICE"
    return "NC" if source in VFIO_FLAGGED else "DEVICE"  # 6.9, 6.17 and the FWB what-ifs


# docs/review.md#stage-2-encodings / docs/review.md#stage2_set_prot_attr: MemAttr per kind, (FWB=0, FWB=1);
# what-ifs replace NC's encoding.
MEMATTR = {"DEVICE": (0b0001, 0b0001), "NC": (0b0101, 0b0101), "NORMAL": (0b1111, 0b0110)}
ALT_NC = {"fwb-0b110": (0b1111, 0b0110), "fwb-0b111": (0b1111, 0b0111),
          "device-gre": (0b0011, 0b0011)}

DEV_ORDER = ["nGnRnE", "nGnRE", "nGRE", "GRE"]
# Linux guest mapping API -> stage-1 type (arm64 io.h, pci mmap; docs/review.md#stage-2-encodings)
GUEST_S1 = {
    "ioremap": "Device-nGnRE",
    "ioremap_np": "Device-nGnRnE",
    "ioremap_wc": "Normal-NC",
    "ioremap_cache": "Normal-WB",
    "memremap(MEMREMAP_WB)": "Normal-WB",
    "memremap(MEMREMAP_WC)": "Normal-NC",
    "resourceN mmap": "Device-nGnRE",
    "resourceN_wc mmap": "Normal-NC",
    "MMU off": "Device-nGnRnE",  # data accesses with SCTLR_EL1.M = 0
}


def _dev_min(a: str, b: str) -> str:
    return DEV_ORDER[min(DEV_ORDER.index(a), DEV_ORDER.index(b))]


def expected_effective(memattr: int, fwb: bool, s1: str) -> str:
    """The effective type from docs/review.md#stage-2-encodings, docs/review.md#later-changes (KVM's
    at.c) and docs/architecture.md#stage-2-memattr-with-fwb, written out by hand."""
    s1_dev = s1.startswith("Device-")
    if memattr >> 2 == 0 and (fwb or memattr & 0b1100 == 0):  # a stage-2 Device type
        s2dev = DEV_ORDER[memattr & 3]
        return "Device-" + (_dev_min(s1[7:], s2dev) if s1_dev else s2dev)
    if memattr in (0b0101,):  # Normal-NC (both modes): S1 Device wins, else NC
        return s1 if s1_dev else "Normal-NC"
    if fwb and memattr == 0b0110:
        # forced WB, even over S1 Device (ASL94 AArch64.S2ApplyFWBMemAttrs;
        # docs/architecture.md#stage-2-memattr-with-fwb)
        return "Normal-WB"
    if (fwb and memattr == 0b0111) or (not fwb and memattr == 0b1111):  # as S1
        return s1
    raise AssertionError(f"no rule for MemAttr {memattr:#06b} fwb={fwb}")


POLICIES = ["6.8", "v2", "6.9", "6.17", "pcie-only", "mirror-vma", "fwb-0b110", "fwb-0b111",
            "device-gre"]


@pytest.mark.parametrize("fwb", [False, True], ids=["nofwb", "fwb"])
@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("policy", POLICIES)
def test_matrix(plat: Platform, policy: str, source: str, fwb: bool) -> None:
    """The stage-2 type, MemAttr and effective type of every guest mapping follow the rules."""
    want = expected_s2(policy, source, fwb)
    host = HostFeatures(fwb=fwb, dic=True)
    slot = None if source == "gicv" else MemslotSpec()
    for guest, s1 in GUEST_S1.items():
        ev = evaluate(policy, host, plat, SOURCES[source], slot, guest)
        if want == "EINVAL-SLOT":
            assert ev.errno is Errno.EINVAL and not ev.mapped
            assert any(e.kind is EventKind.MEMSLOT_REJECTED for e in ev.events)
            continue
        if want == "EINVAL-FAULT":
            assert ev.errno is Errno.EINVAL and not ev.mapped
            assert any(e.kind is EventKind.RUN_FAILED for e in ev.events)
            continue
        assert ev.errno is None, ev.events
        kind = {"DEVICE": "DEVICE_nGnRE", "NC": "NORMAL_NC", "NORMAL": "NORMAL"}[want]
        assert ev.s2_kind == kind, (guest, ev.events)
        pair = ALT_NC[policy] if (want == "NC" and policy in ALT_NC) else MEMATTR[want]
        memattr = pair[1] if fwb else pair[0]
        assert ev.s2_memattr == memattr
        assert ev.s2_descriptor is not None and (ev.s2_descriptor >> 2) & 0xF == memattr
        eff = ev.effective
        assert eff is not None, ev.resolution
        assert eff.short == expected_effective(memattr, fwb, s1), (guest, s1)
        assert ev.properties is not None
        assert ev.s2_prot_value is not None
        json.dumps(ev.to_json())


@pytest.mark.parametrize("fwb", [False, True], ids=["nofwb", "fwb"])
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17"])
def test_any_guest_byte_over_a_bar(plat: Platform, policy: str, fwb: bool) -> None:
    """Over a vfio-pci BAR, no guest MAIR byte ever yields a cacheable type under a merged
    policy, and under 6.8 never a Normal type (docs/review.md#stage-2-encodings; reserved bytes give no
    outcome)."""
    from memattr.linux import raw_guest

    host = HostFeatures(fwb=fwb)
    for attr in range(256):
        ev = evaluate(policy, host, plat, SOURCES["vfio-pci"], MemslotSpec(), raw_guest(attr=attr))
        assert ev.resolution is not None
        for out in ev.resolution.outcomes:
            assert not out.is_cacheable, (attr, out)
            if policy == "6.8":
                assert out.is_device, (attr, out)
