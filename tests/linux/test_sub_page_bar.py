"""Sub-page BARs (drivers/vfio/pci/vfio_pci_core.c vfio_pci_probe_mmaps, Linux commit
05f0c03fbac1, v4.8): mmap-able when the BAR starts a page (the rest of the page is reserved for
it), refused otherwise."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux import HostFeatures, MemslotSpec, VfioPciBar, evaluate
from memattr.linux.decisions import KernelRule
from memattr.platform import Bar, BarKind, Bdf, PcieEndpoint, Platform, RamRegion, RootComplex
from memattr.platform.pcie import HostBridgeWindow


def _plat(addr: int) -> Platform:
    ep = PcieEndpoint("tiny", Bdf(1, 0, 0), bars=(Bar(0, addr, 0x100, BarKind.MEM64, False),))
    rc = RootComplex("pcie0", ecam_base=0x30_0000_0000, bus_start=0, bus_end=0xF,
                     windows=(HostBridgeWindow(0x80_0000_0000, 1 << 30),), endpoints=(ep,))
    return Platform(ram=(RamRegion(0x8000_0000, 1 << 30, True, "ram0"),), root_complexes=(rc,))


def test_page_aligned_sub_page_bar_is_mapped() -> None:
    """A 256-byte BAR at a page start is mmapped as one page and mapped for the guest."""
    ev = evaluate("6.9", HostFeatures(), _plat(0x80_0000_0000), VfioPciBar("tiny", 0),
                  MemslotSpec(), "ioremap")
    assert ev.leaf is not None and ev.leaf.size == 0x1000 and ev.effective is not None
    assert any(d.rule is KernelRule.vfio_pci_probe_mmaps and d.branch == "sub_page_reserved"
               for d in ev.decisions)


def test_unaligned_sub_page_bar_is_refused() -> None:
    """A 256-byte BAR in the middle of a page cannot be mmapped (-EINVAL)."""
    with pytest.raises(ConfigError, match="sub-page BAR"):
        evaluate("6.9", HostFeatures(), _plat(0x80_0000_0100), VfioPciBar("tiny", 0),
                 MemslotSpec(), "ioremap")
