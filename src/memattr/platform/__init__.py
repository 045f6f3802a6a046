"""memattr.platform: the host's physical address map, PCIe hierarchy, platform devices, GICv2 and
nvgrace-gpu memory, with each bus's error behaviour and reset path.

Layer: may import arch and mmu; never linux or above.
"""

from .bus import (
    ALL_ONES,
    AxiErrorModel,
    AxiUnaligned,
    BusAccess,
    BusErrorModel,
    BusKind,
    BusOutcome,
    Containment,
    ErrorOutcome,
    ErrorResponse,
    PcieErrorModel,
    ResetPath,
    Tlp,
    bus_outcomes,
    error_outcome,
    pcie_tlps,
)
from .devices import GICV_SIZE_4K, GICV_SIZE_64K, AmbaDevice, Gicv2, NvgraceGpu
from .pcie import (
    Bar,
    BarKind,
    Bdf,
    HostBridgeWindow,
    PcieEndpoint,
    RootComplex,
    SriovCapability,
    WindowKind,
    ecam_offset,
)
from .physmap import PAGE_SHIFT, PAGE_SIZE, Platform, RamRegion, Region, RegionKind

__all__ = [
    "ALL_ONES",
    "AmbaDevice",
    "AxiErrorModel",
    "AxiUnaligned",
    "BusAccess",
    "BusOutcome",
    "Bar",
    "BarKind",
    "Bdf",
    "BusErrorModel",
    "BusKind",
    "Containment",
    "ErrorOutcome",
    "ErrorResponse",
    "GICV_SIZE_4K",
    "GICV_SIZE_64K",
    "Gicv2",
    "HostBridgeWindow",
    "NvgraceGpu",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PcieEndpoint",
    "PcieErrorModel",
    "Platform",
    "RamRegion",
    "Region",
    "RegionKind",
    "ResetPath",
    "RootComplex",
    "SriovCapability",
    "WindowKind",
    "ecam_offset",
    "error_outcome",
    "bus_outcomes",
    "pcie_tlps",
    "Tlp",
]
