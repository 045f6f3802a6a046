"""Non-PCIe host devices: AMBA/AXI platform devices, the GICv2 (GICV frame), nvgrace-gpu memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from .bus import AxiErrorModel, ResetPath
from .pcie import Bdf

__all__ = [
    "AmbaDevice",
    "Gicv2",
    "NvgraceGpu",
    "GICV_SIZE_4K",
    "GICV_SIZE_64K",
]

PAGE_SIZE = 4096
GICV_SIZE_4K = 0x2000  # GICv2 virtual CPU interface: 8 KiB (GIC-400 TRM, GICV at 0x6000)
GICV_SIZE_64K = 0x20000  # the same frame aliased at 64 KiB granularity on some SoCs


@dataclass(frozen=True, slots=True)
class AmbaDevice:
    """A platform (AMBA/AXI) device: an MMIO region with its bus error model and reset path.

    :param read_side_effects: page indexes (4 KiB) inside the region whose reads have side effects.
    """

    name: str
    base: int
    size: int
    errors: AxiErrorModel = field(default_factory=AxiErrorModel)
    reset: ResetPath = ResetPath.PLATFORM_RESET
    read_side_effects: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.size <= 0 or self.base % PAGE_SIZE or self.size % PAGE_SIZE:
            raise ConfigError(f"{self.name}: base=0x{self.base:x} size=0x{self.size:x} must be "
                              "page-aligned and non-empty")

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, pa: int) -> bool:
        return self.base <= pa < self.end


@dataclass(frozen=True, slots=True)
class Gicv2:
    """A GICv2 with virtualisation extensions: the frames KVM uses (GICD, GICC, GICH, GICV).

    Only GICV -- the virtual CPU interface -- is mapped into guests, by KVM itself through
    ``kvm_phys_addr_ioremap`` (no VMA).  It is shared between VMs and context-switched per vCPU.
    """

    gicd_base: int
    gicc_base: int
    gich_base: int
    gicv_base: int
    gicv_size: int = GICV_SIZE_4K
    name: str = "gic"

    def __post_init__(self) -> None:
        if self.gicv_base % PAGE_SIZE or self.gicv_size % PAGE_SIZE:
            raise ConfigError(f"{self.name}: GICV base=0x{self.gicv_base:x} size=0x"
                              f"{self.gicv_size:x} must be page-aligned")

    def contains(self, pa: int) -> bool:
        return self.gicv_base <= pa < self.gicv_base + self.gicv_size


@dataclass(frozen=True, slots=True)
class NvgraceGpu:
    """An NVIDIA Grace Hopper GPU's coherent device memory as nvgrace-gpu exposes it (v6.9+).

    The device memory is not in the host's linear map.  The driver splits it into *usemem*
    (cacheable, exposed as fake BAR4) and *resmem* (a reserved part exposed as fake BAR2, mapped
    write-combining).  Region indexes from drivers/vfio/pci/nvgrace-gpu/main.c
    (RESMEM_REGION_INDEX = VFIO_PCI_BAR2_REGION_INDEX, USEMEM_REGION_INDEX = BAR4).
    """

    name: str
    bdf: Bdf
    usemem_base: int
    usemem_size: int
    resmem_base: int
    resmem_size: int

    RESMEM_REGION_INDEX = 2
    USEMEM_REGION_INDEX = 4

    def __post_init__(self) -> None:
        for what, base, size in (("usemem", self.usemem_base, self.usemem_size),
                                 ("resmem", self.resmem_base, self.resmem_size)):
            if size <= 0 or base % PAGE_SIZE or size % PAGE_SIZE:
                raise ConfigError(f"{self.name} {what}: base=0x{base:x} size=0x{size:x} must be "
                                  "page-aligned and non-empty")

    def region(self, index: int) -> tuple[int, int]:
        """(base, size) of the fake BAR region ``index`` (2 resmem, 4 usemem)."""
        if index == self.RESMEM_REGION_INDEX:
            return self.resmem_base, self.resmem_size
        if index == self.USEMEM_REGION_INDEX:
            return self.usemem_base, self.usemem_size
        raise ConfigError(f"{self.name}: region {index} is not device memory "
                          f"(resmem {self.RESMEM_REGION_INDEX}, usemem {self.USEMEM_REGION_INDEX})")
