"""The host physical address map: RAM (in or out of the linear map) and every device region.

:class:`Platform` is a frozen value; :meth:`Platform.lookup` says what a physical address is, and
:meth:`Platform.pfn_is_map_memory` answers Linux's question (arch/arm64/mm/init.c
``pfn_is_map_memory``: is the PFN memblock memory mapped in the kernel's linear map).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..errors import ConfigError
from .bus import BusErrorModel, BusKind, PcieErrorModel, ResetPath
from .devices import AmbaDevice, Gicv2, NvgraceGpu
from .pcie import Bar, HostBridgeWindow, PcieEndpoint, RootComplex

__all__ = [
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "RamRegion",
    "RegionKind",
    "Region",
    "Platform",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT


@dataclass(frozen=True, slots=True)
class RamRegion:
    """System RAM.  ``in_linear_map=False`` models memory removed from the linear map
    (``no-map`` reserved-memory, ``mem=`` carve-outs): not ``pfn_is_map_memory``."""

    base: int
    size: int
    in_linear_map: bool = True
    name: str = "ram"

    @property
    def end(self) -> int:
        return self.base + self.size


class RegionKind(enum.Enum):
    """What a physical address is."""

    RAM = "RAM"
    PCIE_BAR = "PCIe BAR"
    PCIE_VF_BAR = "PCIe SR-IOV VF BAR"
    PCIE_ECAM = "PCIe ECAM config space"
    PCIE_WINDOW = "PCIe host-bridge window (unassigned)"
    AMBA = "AMBA/AXI device"
    GICV = "GICv2 virtual CPU interface"
    NVGRACE_USEMEM = "nvgrace-gpu usemem"
    NVGRACE_RESMEM = "nvgrace-gpu resmem"
    UNMAPPED = "nothing"


@dataclass(frozen=True, slots=True)
class Region:
    """The answer to :meth:`Platform.lookup`: the region containing an address and its traits."""

    kind: RegionKind
    base: int
    size: int
    name: str
    in_linear_map: bool = False
    errors: BusErrorModel | None = None
    reset: ResetPath = ResetPath.NONE
    bar: Bar | None = None
    read_side_effects: frozenset[int] = field(default_factory=frozenset)

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def bus(self) -> BusKind | None:
        return self.errors.kind if self.errors is not None else None

    def page_has_read_side_effects(self, pa: int) -> bool:
        """Whether reading the page holding ``pa`` has side effects."""
        return ((pa - self.base) >> PAGE_SHIFT) in self.read_side_effects


@dataclass(frozen=True)
class Platform:
    """A host: RAM, PCIe root complexes, AMBA devices, an optional GICv2 and nvgrace-gpu devices.

    Regions must not overlap (ConfigError names the two).
    """

    ram: tuple[RamRegion, ...] = ()
    root_complexes: tuple[RootComplex, ...] = ()
    amba: tuple[AmbaDevice, ...] = ()
    gic: Gicv2 | None = None
    nvgrace: tuple[NvgraceGpu, ...] = ()
    name: str = "host"

    def __post_init__(self) -> None:
        spans = sorted((r.base, r.end, r.name) for r in self.regions()
                       if r.kind is not RegionKind.PCIE_WINDOW)
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:], strict=False):
            if b1 < e0:
                raise ConfigError(f"platform {self.name}: {n1} at 0x{b1:x}..0x{e1:x} overlaps "
                                  f"{n0} at 0x{b0:x}..0x{e0:x}")

    # --- enumeration ----------------------------------------------------------------------
    def regions(self) -> tuple[Region, ...]:
        """Every region, most specific first (BARs before the windows that contain them)."""
        out: list[Region] = []
        for r in self.ram:
            out.append(Region(RegionKind.RAM, r.base, r.size, r.name, r.in_linear_map,
                              None, ResetPath.NONE))
        for rc in self.root_complexes:
            out.append(Region(RegionKind.PCIE_ECAM, rc.ecam_base, rc.ecam_size, f"{rc.name} ECAM",
                              False, rc.errors, ResetPath.NONE))
            for ep in rc.endpoints:
                for b in ep.bars:
                    out.append(Region(RegionKind.PCIE_BAR, b.address, b.size,
                                      f"{ep.name} BAR{b.index}", False, rc.errors, ep.reset, b,
                                      b.read_side_effects))
                if ep.sriov is not None:
                    for vf in range(ep.sriov.num_vfs):
                        for vb in ep.sriov.vf_bars:
                            b = ep.sriov.vf_bar(vf, vb.index)
                            out.append(Region(RegionKind.PCIE_VF_BAR, b.address, b.size,
                                              f"{ep.name} VF{vf} BAR{b.index}", False, rc.errors,
                                              ep.reset, b, b.read_side_effects))
        for d in self.amba:
            out.append(Region(RegionKind.AMBA, d.base, d.size, d.name, False, d.errors, d.reset,
                              None, d.read_side_effects))
        if self.gic is not None:
            out.append(Region(RegionKind.GICV, self.gic.gicv_base, self.gic.gicv_size,
                              f"{self.gic.name} GICV", False,
                              BusErrorModel(BusKind.GIC), ResetPath.NONE))
        for g in self.nvgrace:
            mem = BusErrorModel(BusKind.MEMORY)
            out.append(Region(RegionKind.NVGRACE_USEMEM, g.usemem_base, g.usemem_size,
                              f"{g.name} usemem", False, mem, ResetPath.PCIE_FLR))
            out.append(Region(RegionKind.NVGRACE_RESMEM, g.resmem_base, g.resmem_size,
                              f"{g.name} resmem", False, mem, ResetPath.PCIE_FLR))
        for rc in self.root_complexes:
            for w in rc.windows:
                out.append(Region(RegionKind.PCIE_WINDOW, w.base, w.size,
                                  f"{rc.name} {w.kind.value} window", False, rc.errors,
                                  ResetPath.NONE))
        return tuple(out)

    # --- queries --------------------------------------------------------------------------
    def lookup(self, pa: int) -> Region:
        """The region containing physical address ``pa`` (kind UNMAPPED if none)."""
        for r in self.regions():
            if r.base <= pa < r.end:
                return r
        return Region(RegionKind.UNMAPPED, pa & ~(PAGE_SIZE - 1), PAGE_SIZE, "nothing")

    def pfn_is_map_memory(self, pfn: int) -> bool:
        """Linux ``pfn_is_map_memory``: the PFN is RAM in the kernel's linear map."""
        pa = pfn << PAGE_SHIFT
        return any(r.base <= pa < r.end and r.in_linear_map for r in self.ram)

    def host_bridge_window(self, pa: int) -> tuple[RootComplex, HostBridgeWindow] | None:
        """The (root complex, host-bridge window) routing ``pa``, or None (pcie-only policy)."""
        for rc in self.root_complexes:
            w = rc.window_for(pa)
            if w is not None:
                return rc, w
        return None

    def endpoint(self, name: str) -> tuple[RootComplex, PcieEndpoint]:
        """A PCIe endpoint by name, with its root complex."""
        for rc in self.root_complexes:
            for ep in rc.endpoints:
                if ep.name == name:
                    return rc, ep
        raise ConfigError(f"platform {self.name}: no PCIe endpoint {name!r} (have "
                          f"{[ep.name for rc in self.root_complexes for ep in rc.endpoints]})")

    def amba_device(self, name: str) -> AmbaDevice:
        """An AMBA device by name."""
        for d in self.amba:
            if d.name == name:
                return d
        raise ConfigError(f"platform {self.name}: no platform device {name!r} (have "
                          f"{[d.name for d in self.amba]})")

    def nvgrace_device(self, name: str) -> NvgraceGpu:
        """An nvgrace-gpu device by name."""
        for g in self.nvgrace:
            if g.name == name:
                return g
        raise ConfigError(f"platform {self.name}: no nvgrace-gpu device {name!r} (have "
                          f"{[g.name for g in self.nvgrace]})")

    def pcie_errors(self) -> PcieErrorModel | None:
        """The first root complex's error model (convenience for single-RC platforms)."""
        return self.root_complexes[0].errors if self.root_complexes else None
