"""Tests for memattr.platform.physmap and examples: lookup, pfn_is_map_memory, windows, overlaps."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.platform import (
    AmbaDevice,
    Gicv2,
    NvgraceGpu,
    Platform,
    RamRegion,
    RegionKind,
    ResetPath,
)
from memattr.platform.examples import example_platform
from memattr.platform.pcie import Bdf

P = example_platform()


@pytest.mark.parametrize(
    ("pa", "kind", "name"),
    [
        (0x8000_0000, RegionKind.RAM, "ram0"),
        (0x1_0000_0000, RegionKind.RAM, "no-map carve-out"),
        (0x80_0000_0000, RegionKind.PCIE_BAR, "nic BAR0"),
        (0x4000_0000, RegionKind.PCIE_BAR, "nic BAR2"),
        (0x80_1010_0000, RegionKind.PCIE_VF_BAR, "nic VF1 BAR0"),
        (0x30_0000_0000, RegionKind.PCIE_ECAM, "pcie0 ECAM"),
        (0x0900_0000, RegionKind.AMBA, "dma-engine"),
        (0x0804_0000, RegionKind.GICV, "gic GICV"),
        (0x400_0000_0000, RegionKind.NVGRACE_USEMEM, "gpu usemem"),
        (0x402_0000_0000, RegionKind.NVGRACE_RESMEM, "gpu resmem"),
        (0x81_0000_0000, RegionKind.PCIE_WINDOW, "pcie0 64-bit prefetchable memory window"),
        (0x7000_0000_0000, RegionKind.UNMAPPED, "nothing"),
    ],
)
def test_lookup(pa: int, kind: RegionKind, name: str) -> None:
    """Every address resolves to the most specific region containing it."""
    r = P.lookup(pa)
    assert (r.kind, r.name) == (kind, name)


def test_pfn_is_map_memory() -> None:
    """Only RAM in the linear map is map memory: not carve-outs, BARs or GPU memory."""
    assert P.pfn_is_map_memory(0x8000_0000 >> 12)
    assert P.pfn_is_map_memory((0x8000_0000 + (2 << 30) - 4096) >> 12)
    assert not P.pfn_is_map_memory((0x8000_0000 + (2 << 30)) >> 12)
    assert not P.pfn_is_map_memory(0x1_0000_0000 >> 12)
    for pa in (0x80_0000_0000, 0x0900_0000, 0x0804_0000, 0x400_0000_0000, 0x402_0000_0000):
        assert not P.pfn_is_map_memory(pa >> 12)


def test_host_bridge_window() -> None:
    """Host-bridge windows route PCIe BARs only (the pcie-only what-if)."""
    assert P.host_bridge_window(0x80_0000_0000) is not None
    assert P.host_bridge_window(0x4000_0000) is not None
    assert P.host_bridge_window(0x0900_0000) is None
    assert P.host_bridge_window(0x400_0000_0000) is None


def test_region_traits() -> None:
    """Regions carry their bus error model, reset path and read side effects."""
    bar = P.lookup(0x80_0000_0000)
    assert bar.reset is ResetPath.PCIE_FLR and bar.errors is not None
    assert bar.page_has_read_side_effects(0x80_0000_0000)
    assert not bar.page_has_read_side_effects(0x80_0000_1000)
    amba = P.lookup(0x0900_0000)
    assert amba.reset is ResetPath.PLATFORM_RESET
    assert P.lookup(0x0804_0000).reset is ResetPath.NONE


def test_overlap_is_rejected() -> None:
    """Overlapping regions raise a ConfigError naming both."""
    with pytest.raises(ConfigError, match="overlaps"):
        Platform(ram=(RamRegion(0, 1 << 30),), amba=(AmbaDevice("uart", 0x1000, 0x1000),))


def test_named_lookups() -> None:
    """Devices are found by name; unknown names list the known ones."""
    assert P.endpoint("nic")[1].bdf == Bdf(1, 0, 0)
    assert P.amba_device("dma-engine").size == 0x10000
    assert P.nvgrace_device("gpu").region(2)[1] == 1 << 30
    with pytest.raises(ConfigError, match="have"):
        P.endpoint("nope")
    with pytest.raises(ConfigError):
        P.nvgrace_device("gpu").region(0)


def test_device_validation() -> None:
    """Platform devices, GICV and nvgrace regions must be page-aligned."""
    with pytest.raises(ConfigError):
        AmbaDevice("x", 0x1001, 0x1000)
    with pytest.raises(ConfigError):
        Gicv2(0, 0x1000, 0x2000, 0x3001)
    with pytest.raises(ConfigError):
        NvgraceGpu("g", Bdf(0, 0, 0), 0x1000, 0, 0x2000, 0x1000)
