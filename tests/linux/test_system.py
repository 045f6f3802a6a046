"""Tests for memattr.linux.system.evaluate: the one call item 6 uses, and its JSON."""

from __future__ import annotations

import json

import pytest

from memattr.errors import ConfigError
from memattr.linux import (
    AnonymousRam,
    EventKind,
    GicvInterface,
    HostFeatures,
    MemslotSpec,
    VfioPciBar,
    evaluate,
    raw_guest,
)
from memattr.linux.kvm.memslot import KVM_MEM_LOG_DIRTY_PAGES
from memattr.platform import Platform


def test_evaluate_reports_every_layer(plat: Platform) -> None:
    """An evaluation carries the VMM type, S2 prot/MemAttr/descriptor, guest type, effective
    type, properties and events in order."""
    ev = evaluate("6.9", HostFeatures(fwb=True), plat, VfioPciBar("nic", 0), MemslotSpec(),
                  "ioremap_wc", offset=0x1000)
    assert ev.vmm_s1 is not None and ev.vmm_s1.short == "Device-nGnRnE"
    assert ev.s2_prot_value == 0b10110  # R|W|NORMAL_NC in the v6.9 layout
    assert ev.s2_meaning is not None and "NC" in ev.s2_meaning
    assert ev.guest_s1 is not None and ev.guest_s1.short == "Normal-NC"
    assert ev.ipa == 0x1_0000_1000 and ev.leaf is not None and ev.leaf.phys == 0x80_0000_1000
    kinds = [e.kind for e in ev.events]
    assert kinds.index(EventKind.VMA_CREATED) < kinds.index(EventKind.MEMSLOT_CREATED) < \
        kinds.index(EventKind.MAPPING_CREATED)
    assert ev.region is not None and ev.region.name == "nic BAR0"
    assert "Normal-NC" in ev.summary()
    doc = ev.to_json()
    json.dumps(doc)
    assert doc["s2_memattr"] == 0b0101 and doc["effective"]["type"] == "Normal"
    assert doc["vma"]["flags"].endswith("VM_ALLOW_ANY_UNCACHED")


def test_memslot_rejection_stops(plat: Platform) -> None:
    """A rejected memslot ends the evaluation with no fault and no effective type."""
    ev = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0),
                  MemslotSpec(flags=KVM_MEM_LOG_DIRTY_PAGES), "ioremap")
    assert ev.abort is None and ev.effective is None and ev.properties is None
    assert "memslot rejected" in ev.summary()
    json.dumps(ev.to_json())


def test_reserved_guest_byte_gives_no_single_outcome(plat: Platform) -> None:
    """A reserved guest MAIR byte yields no single effective type (the arch core's marker)."""
    ev = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(),
                  raw_guest(attr=0x08 | 0b10))
    assert ev.mapped and ev.effective is None and ev.resolution is not None
    assert ev.resolution.reserved


def test_misuse(plat: Platform) -> None:
    """GICV takes no memslot; a memslot needs a VMA; the access must fall inside the slot."""
    with pytest.raises(ConfigError):
        evaluate("6.9", HostFeatures(), plat, GicvInterface(), MemslotSpec(), "ioremap")
    with pytest.raises(ConfigError):
        evaluate("6.9", HostFeatures(), plat, None, MemslotSpec(), "ioremap")
    with pytest.raises(ConfigError):
        evaluate("6.9", HostFeatures(), plat, AnonymousRam(1 << 21), MemslotSpec(), "ioremap",
                 offset=1 << 21)


def test_lpa2_host(plat: Platform) -> None:
    """With LPA2 the descriptor has no SH, and shareability comes from VTCR_EL2 (IS)."""
    ev = evaluate("6.9", HostFeatures(lpa2=True), plat, AnonymousRam(1 << 21), MemslotSpec(),
                  "memremap(MEMREMAP_WB)")
    assert ev.s2_descriptor is not None and (ev.s2_descriptor >> 8) & 3 == 0
    assert ev.effective is not None and ev.effective.shareability.value == "ISH"


def test_bus_error_and_speculation_hazard(plat: Platform) -> None:
    """The evaluation exposes the bus error behaviour and flags speculative reads of a page with
    read side effects (the NIC's BAR0 page 0) once the effective type is Normal."""
    from memattr.platform import ALL_ONES, Containment

    nc = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(), "ioremap_wc")
    assert nc.speculation_hazard
    assert nc.bus_error is not None and nc.bus_error.read_value == ALL_ONES
    dev = evaluate("6.8", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(), "ioremap_wc")
    assert not dev.speculation_hazard
    far = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(),
                   "ioremap_wc", offset=0x1000)
    assert not far.speculation_hazard
    from memattr.linux import VfioPlatformRegion

    amba = evaluate("6.9", HostFeatures(), plat, VfioPlatformRegion("dma-engine"), MemslotSpec(),
                    "ioremap")
    assert amba.bus_error is not None and amba.bus_error.containment is Containment.UNCONTAINED


def test_device_and_nc_together_is_einval_end_to_end(plat: Platform) -> None:
    """A policy asking for DEVICE|NORMAL_NC gets -EINVAL from stage2_set_prot_attr and KVM_RUN
    fails with it."""
    from memattr.linux import (
        KVM_PGTABLE_PROT,
        DeviceChoice,
        Errno,
        Policy,
        VfioPlatformRegion,
    )
    from memattr.linux.version import KernelVersion

    both = Policy("both", "buggy", KernelVersion(6, 9), device_choice=DeviceChoice.CUSTOM,
                  chooser=lambda ctx: KVM_PGTABLE_PROT.DEVICE | KVM_PGTABLE_PROT.NORMAL_NC)
    ev = evaluate(both, HostFeatures(), plat, VfioPlatformRegion("dma-engine"), MemslotSpec(),
                  "ioremap")
    assert ev.errno is Errno.EINVAL and not ev.mapped
    assert any(e.function == "stage2_set_prot_attr" for e in ev.events)
    assert any(e.kind is EventKind.RUN_FAILED for e in ev.events)


@pytest.mark.parametrize(("policy", "level", "size", "shape"), [
    # 6.1: vfio-pci fills its VMA with PTEs (no huge_fault before f9e54c3a2f5b, v6.12)
    ("6.1", 3, 0x1000, "4 KiB page at level 3"),
    ("6.12", 2, 0x20_0000, "2 MiB block at level 2"),
])
def test_leaf_size_and_level_come_from_the_table(plat: Platform, policy: str, level: int,
                                                 size: int, shape: str) -> None:
    """The leaf's size and level are what the table walk found (the same level the two-stage
    walk of the access used), shown as '2 MiB block at level 2' and in JSON."""
    ev = evaluate(policy, HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(), "ioremap")
    assert ev.leaf is not None and (ev.leaf.level, ev.leaf.size) == (level, size)
    assert ev.translation is not None and ev.translation.s2_level == level
    assert ev.leaf.is_block is (level != 3) and ev.leaf.shape == shape
    doc = ev.to_json()["s2_leaf"]
    assert doc == {"ipa": ev.leaf.ipa, "size": size, "level": level, "block": level != 3,
                   "text": shape}
    created = [e for e in ev.events if e.kind is EventKind.MAPPING_CREATED]
    assert f"+0x{size:x} ({shape})" in created[-1].text


@pytest.mark.parametrize("policy", ["6.12", "6.17"])
def test_hva_alignment_decides_block_or_pages(plat: Platform, policy: str) -> None:
    """The same 2 MiB-aligned BAR under the same kernel: mmapped at a 2 MiB-aligned HVA it is one
    2 MiB block; at an HVA aligned to 4 KiB only (an odd multiple of it), get_vma_page_shift finds
    HVA and PA unequally aligned and gives a page (arch/arm64/kvm/mmu.c, 2aa53d68cee6)."""
    src = VfioPciBar("nic", 0)
    aligned = evaluate(policy, HostFeatures(), plat, src, MemslotSpec(), "ioremap")
    page = evaluate(policy, HostFeatures(), plat, src, MemslotSpec(), "ioremap", hva_align=4096)
    assert aligned.vma is not None and aligned.vma.vm_start % (1 << 21) == 0
    assert page.vma is not None and page.vma.vm_start % 4096 == 0 and \
        page.vma.vm_start % 8192 == 4096
    assert aligned.leaf is not None and aligned.leaf.shape == "2 MiB block at level 2"
    assert page.leaf is not None and page.leaf.shape == "4 KiB page at level 3"
    assert any(d.branch == "pfnmap" and d.result == 4096 for d in page.decisions)
    assert page.effective == aligned.effective  # the type does not depend on it
    with pytest.raises(ConfigError, match="hva_align=0x3000"):
        evaluate(policy, HostFeatures(), plat, src, MemslotSpec(), "ioremap", hva_align=0x3000)
