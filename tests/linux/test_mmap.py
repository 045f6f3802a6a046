"""Tests for memattr.linux.mmap: each kernel mmap path's vm_flags and pgprot (docs/review.md#the-vma-flag,
docs/review.md#who-gets-normal-nc)."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux import mm
from memattr.linux.mm import MT
from memattr.linux.mmap import (
    REMAP_PFN_FLAGS,
    AnonymousRam,
    DevMem,
    GicvInterface,
    HugetlbRam,
    NvgraceRegion,
    PciSysfsResource,
    RawVma,
    VfioPciBar,
    VfioPlatformRegion,
    mmap_mem,
    mmap_source,
    nvgrace_gpu_mmap,
    pci_mmap_resource_range,
    source_size,
    vfio_pci_core_mmap,
)
from memattr.linux.version import KernelVersion
from memattr.platform import Platform

HVA = 0x7F00_0000_0000
V68, V69 = KernelVersion(6, 8), KernelVersion(6, 9)
AAU = mm.VM_ALLOW_ANY_UNCACHED


def test_vfio_pci_core_mmap_before_and_from_6_9(plat: Platform) -> None:
    """vfio_pci_core_mmap: VM_IO|VM_PFNMAP|VM_DONTEXPAND|VM_DONTDUMP, pgprot_noncached; the flag
    is added from 6.9 (a39d3a966a09), for prefetchable and non-prefetchable BARs alike."""
    for bar in (0, 2):
        old = vfio_pci_core_mmap(plat, "nic", bar, release=V68, hva=HVA)
        new = vfio_pci_core_mmap(plat, "nic", bar, release=V69, hva=HVA)
        assert old.vm_flags & REMAP_PFN_FLAGS == REMAP_PFN_FLAGS
        assert not old.vm_flags & AAU and new.vm_flags & AAU
        assert old.vm_flags | AAU == new.vm_flags
        assert new.vm_page_prot.attrindx == MT.MT_DEVICE_nGnRnE
    vf = vfio_pci_core_mmap(plat, "nic", 0, vf=2, release=V69, hva=HVA)
    assert vf.phys == 0x80_1020_0000 and vf.vm_flags & AAU
    assert vfio_pci_core_mmap(plat, "nic", 0, release=V69, hva=HVA, bits=32).vm_flags & AAU == 0


def test_nvgrace_regions(plat: Platform) -> None:
    """nvgrace-gpu: resmem is flagged and pgprot_writecombine; usemem is cacheable, unflagged."""
    res = nvgrace_gpu_mmap(plat, "gpu", "resmem", release=V69, hva=HVA)
    use = nvgrace_gpu_mmap(plat, "gpu", "usemem", release=V69, hva=HVA, size=1 << 21)
    assert res.vm_flags & AAU and res.vm_page_prot.attrindx == MT.MT_NORMAL_NC
    assert not use.vm_flags & AAU and use.vm_page_prot.attrindx == MT.MT_NORMAL
    assert use.vm_flags & mm.VM_PFNMAP and res.vm_flags & mm.VM_PFNMAP
    assert not plat.pfn_is_map_memory(use.phys >> 12)
    old = nvgrace_gpu_mmap(plat, "gpu", "resmem", release=V68, hva=HVA)
    assert not old.vm_flags & AAU


def test_sysfs_resource(plat: Platform) -> None:
    """resourceN is pgprot_device, resourceN_wc pgprot_writecombine; neither is flagged; _wc only
    exists for prefetchable BARs."""
    r = pci_mmap_resource_range(plat, "nic", 0, write_combine=False, hva=HVA)
    wc = pci_mmap_resource_range(plat, "nic", 0, write_combine=True, hva=HVA)
    assert r.vm_page_prot.attrindx == MT.MT_DEVICE_nGnRE
    assert wc.vm_page_prot.attrindx == MT.MT_NORMAL_NC
    assert not (r.vm_flags | wc.vm_flags) & AAU
    with pytest.raises(ConfigError, match="not prefetchable"):
        pci_mmap_resource_range(plat, "nic", 2, write_combine=True, hva=HVA)


def test_dev_mem(plat: Platform) -> None:
    """/dev/mem: non-RAM is pgprot_noncached; RAM with O_SYNC is writecombine; RAM otherwise
    keeps its cacheable pgprot (phys_mem_access_prot)."""
    assert mmap_mem(plat, 0x80_0000_0000, 0x1000, hva=HVA).vm_page_prot.attrindx == \
        MT.MT_DEVICE_nGnRnE
    assert mmap_mem(plat, 0x1_0000_0000, 0x1000, hva=HVA).vm_page_prot.attrindx == \
        MT.MT_DEVICE_nGnRnE
    assert mmap_mem(plat, 0x8000_0000, 0x1000, hva=HVA, o_sync=True).vm_page_prot.attrindx == \
        MT.MT_NORMAL_NC
    v = mmap_mem(plat, 0x8000_0000, 0x1000, hva=HVA)
    assert v.vm_page_prot.attrindx == MT.MT_NORMAL and v.vm_flags & mm.VM_PFNMAP
    with pytest.raises(ConfigError):
        mmap_mem(plat, 0x8000_0001, 0x1000, hva=HVA)


@pytest.mark.parametrize(
    ("source", "flags_in", "flags_out", "mt"),
    [
        (VfioPlatformRegion("dma-engine"), REMAP_PFN_FLAGS, AAU, MT.MT_DEVICE_nGnRnE),
        (AnonymousRam(1 << 21), 0, mm.VM_PFNMAP | mm.VM_IO, MT.MT_NORMAL),
        (HugetlbRam(4 << 20), mm.VM_HUGETLB, mm.VM_PFNMAP, MT.MT_NORMAL),
        (PciSysfsResource("nic", 0, True), REMAP_PFN_FLAGS, AAU, MT.MT_NORMAL_NC),
        (DevMem(0x0900_0000, 0x1000), REMAP_PFN_FLAGS, AAU, MT.MT_DEVICE_nGnRnE),
        (RawVma(0x9000_0000, 0x1000, mm.VM_MIXEDMAP), mm.VM_MIXEDMAP, 0, MT.MT_NORMAL),
    ],
)
def test_mmap_source(plat: Platform, source: object, flags_in: int, flags_out: int,
                     mt: MT) -> None:
    """mmap_source runs the right path for each source."""
    v = mmap_source(plat, source, release=V69, hva=HVA)  # type: ignore[arg-type]
    assert v.vm_flags & flags_in == flags_in and not v.vm_flags & flags_out
    assert v.vm_page_prot.attrindx == mt


def test_mte_allowed_on_ram_only(plat: Platform) -> None:
    """On an MTE host anonymous RAM is VM_MTE_ALLOWED; hugetlb only from 6.13; PFN maps never."""
    a = mmap_source(plat, AnonymousRam(1 << 21), release=V69, hva=HVA, mte=True)
    assert a.vm_flags & mm.VM_MTE_ALLOWED
    h = mmap_source(plat, HugetlbRam(1 << 21), release=V69, hva=HVA, mte=True)
    assert not h.vm_flags & mm.VM_MTE_ALLOWED
    h = mmap_source(plat, HugetlbRam(1 << 21), release=KernelVersion(6, 13), hva=HVA, mte=True)
    assert h.vm_flags & mm.VM_MTE_ALLOWED
    b = mmap_source(plat, VfioPciBar("nic", 0), release=V69, hva=HVA, mte=True)
    assert not b.vm_flags & mm.VM_MTE_ALLOWED


def test_sizes_and_errors(plat: Platform) -> None:
    """Sources report their VMA size; bad offsets, missing VFs and GICV (no VMA) raise."""
    assert source_size(plat, VfioPciBar("nic", 0))[0] == 32 << 20
    assert source_size(plat, VfioPciBar("nic", 0, vf=1))[0] == 1 << 20
    assert source_size(plat, HugetlbRam(4 << 20)) == (4 << 20, 2 << 20)
    assert source_size(plat, NvgraceRegion("gpu", "resmem"))[0] == 1 << 30
    with pytest.raises(ConfigError):
        mmap_source(plat, VfioPciBar("nic", 0, offset=0x10), release=V69, hva=HVA)
    with pytest.raises(ConfigError):
        mmap_source(plat, GicvInterface(), release=V69, hva=HVA)
    with pytest.raises(ConfigError):
        source_size(plat, GicvInterface())
    with pytest.raises(ConfigError):
        NvgraceRegion("gpu", "vram")
    with pytest.raises(ConfigError):
        mmap_source(plat, HugetlbRam(3 << 20), release=V69, hva=HVA)
    assert VfioPciBar("nic", 0, vf=1).label == "vfio-pci nic VF1 BAR0"
