"""PCIe hierarchy: root complexes with host-bridge windows and ECAM, endpoints with BARs and SR-IOV.

Values only; :class:`memattr.platform.physmap.Platform` places them in the host physical map.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..errors import ConfigError
from .bus import PcieErrorModel, ResetPath

__all__ = [
    "Bdf",
    "BarKind",
    "Bar",
    "SriovCapability",
    "PcieEndpoint",
    "WindowKind",
    "HostBridgeWindow",
    "RootComplex",
    "ecam_offset",
]

PAGE_SIZE = 4096


@dataclass(frozen=True, slots=True, order=True)
class Bdf:
    """A PCI bus/device/function address (segment included)."""

    bus: int
    device: int
    function: int = 0
    segment: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.bus <= 0xFF:
            raise ConfigError(f"BDF bus=0x{self.bus:x}: out of range (0x00..0xff)")
        if not 0 <= self.device <= 0x1F:
            raise ConfigError(f"BDF device=0x{self.device:x}: out of range (0x00..0x1f)")
        if not 0 <= self.function <= 7:
            raise ConfigError(f"BDF function={self.function}: out of range (0..7)")

    @classmethod
    def parse(cls, text: str) -> Bdf:
        """Parse 'SSSS:BB:DD.F' or 'BB:DD.F' (hex, as lspci prints)."""
        try:
            parts = text.strip().split(":")
            seg = int(parts[0], 16) if len(parts) == 3 else 0
            bus = int(parts[-2], 16)
            dev_s, fn_s = parts[-1].split(".")
            return cls(bus, int(dev_s, 16), int(fn_s, 16), seg)
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"BDF={text!r}: expected [SSSS:]BB:DD.F in hex") from exc

    def __str__(self) -> str:
        return f"{self.segment:04x}:{self.bus:02x}:{self.device:02x}.{self.function}"


def ecam_offset(bdf: Bdf, reg: int = 0) -> int:
    """Offset of a config register in ECAM: bus<<20 | device<<15 | function<<12 | reg (PCIe 7.2.2)."""
    if not 0 <= reg < 4096:
        raise ConfigError(f"config register=0x{reg:x}: out of range (0x000..0xfff)")
    return (bdf.bus << 20) | (bdf.device << 15) | (bdf.function << 12) | reg


class BarKind(enum.Enum):
    """Memory BAR type field (PCIe 7.5.1.2.1): 32-bit or 64-bit."""

    MEM32 = "32-bit"
    MEM64 = "64-bit"


@dataclass(frozen=True, slots=True)
class Bar:
    """A memory BAR: index, assigned address, size, width and prefetchability.

    :param read_side_effects: page indexes (4 KiB) inside the BAR whose reads have side effects
        (older Mellanox BARs, docs/review.md#speculation-and-read-side-effects), so speculative
        reads there are harmful.
    """

    index: int
    address: int
    size: int
    kind: BarKind = BarKind.MEM64
    prefetchable: bool = True
    read_side_effects: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise ConfigError(f"BAR index={self.index}: out of range (0..5)")
        if self.size < 16 or self.size & (self.size - 1):
            raise ConfigError(f"BAR{self.index} size=0x{self.size:x}: must be a power of two >= 16")
        if self.address % self.size:
            raise ConfigError(f"BAR{self.index} address=0x{self.address:x}: not aligned to its "
                              f"size 0x{self.size:x}")
        if self.kind is BarKind.MEM32 and self.address + self.size > 1 << 32:
            raise ConfigError(f"BAR{self.index} address=0x{self.address:x}: a 32-bit BAR must lie "
                              "below 4 GiB")

    @property
    def end(self) -> int:
        return self.address + self.size

    def contains(self, pa: int) -> bool:
        return self.address <= pa < self.end

    def page_has_read_side_effects(self, offset: int) -> bool:
        """Whether reading the page at byte ``offset`` in the BAR has side effects."""
        return (offset // PAGE_SIZE) in self.read_side_effects


@dataclass(frozen=True, slots=True)
class SriovCapability:
    """SR-IOV: the VF BARs (one per VF BAR index, giving the VF stride = size) and VF count."""

    num_vfs: int
    vf_bars: tuple[Bar, ...] = ()

    def vf_bar(self, vf: int, index: int) -> Bar:
        """The BAR ``index`` of VF number ``vf`` (0-based): VF BARs are laid out contiguously."""
        if not 0 <= vf < self.num_vfs:
            raise ConfigError(f"VF={vf}: out of range (0..{self.num_vfs - 1})")
        for b in self.vf_bars:
            if b.index == index:
                return Bar(b.index, b.address + vf * b.size, b.size, b.kind, b.prefetchable,
                           b.read_side_effects)
        raise ConfigError(f"VF BAR{index}: not present (have {[b.index for b in self.vf_bars]})")


@dataclass(frozen=True, slots=True)
class PcieEndpoint:
    """A PCIe endpoint function: its BDF, BARs, optional SR-IOV, and reset path."""

    name: str
    bdf: Bdf
    bars: tuple[Bar, ...] = ()
    sriov: SriovCapability | None = None
    reset: ResetPath = ResetPath.PCIE_FLR
    vendor: int = 0xFFFF
    device_id: int = 0xFFFF

    def bar(self, index: int) -> Bar:
        """The BAR with this index (ConfigError listing the present ones otherwise)."""
        for b in self.bars:
            if b.index == index:
                return b
        raise ConfigError(f"{self.name} BAR{index}: not present (have "
                          f"{[b.index for b in self.bars]})")

    def all_bars(self) -> tuple[Bar, ...]:
        """The PF BARs and every VF BAR, flattened."""
        out = list(self.bars)
        if self.sriov is not None:
            for vf in range(self.sriov.num_vfs):
                out += [self.sriov.vf_bar(vf, b.index) for b in self.sriov.vf_bars]
        return tuple(out)


class WindowKind(enum.Enum):
    """Host-bridge memory window kinds (as in a DT 'ranges' or ACPI _CRS)."""

    MEM32 = "32-bit memory"
    MEM64_PREF = "64-bit prefetchable memory"
    MEM64 = "64-bit memory"


@dataclass(frozen=True, slots=True)
class HostBridgeWindow:
    """One host-bridge memory window: the CPU physical range routed to the PCIe hierarchy."""

    base: int
    size: int
    kind: WindowKind = WindowKind.MEM64_PREF

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, pa: int, size: int = 1) -> bool:
        return self.base <= pa and pa + size <= self.end


@dataclass(frozen=True, slots=True)
class RootComplex:
    """A PCIe root complex: ECAM config space, host-bridge windows, endpoints and its error model."""

    name: str
    ecam_base: int
    bus_start: int = 0
    bus_end: int = 0xFF
    windows: tuple[HostBridgeWindow, ...] = ()
    endpoints: tuple[PcieEndpoint, ...] = ()
    errors: PcieErrorModel = field(default_factory=PcieErrorModel)
    segment: int = 0

    def __post_init__(self) -> None:
        for ep in self.endpoints:
            for b in ep.all_bars():
                if not any(w.contains(b.address, b.size) for w in self.windows):
                    raise ConfigError(f"{ep.name} BAR{b.index} at 0x{b.address:x}+0x{b.size:x}: "
                                      f"outside every host-bridge window of {self.name}")
            if not self.bus_start <= ep.bdf.bus <= self.bus_end:
                raise ConfigError(f"{ep.name} bus 0x{ep.bdf.bus:02x}: outside {self.name}'s bus "
                                  f"range 0x{self.bus_start:02x}..0x{self.bus_end:02x}")

    @property
    def ecam_size(self) -> int:
        """1 MiB of config space per bus."""
        return (self.bus_end - self.bus_start + 1) << 20

    def ecam_address(self, bdf: Bdf, reg: int = 0) -> int:
        """The physical address of a config register of ``bdf``."""
        return self.ecam_base + ecam_offset(bdf, reg) - (self.bus_start << 20)

    def endpoint(self, name_or_bdf: str | Bdf) -> PcieEndpoint:
        """An endpoint by name or BDF."""
        for ep in self.endpoints:
            if ep.name == name_or_bdf or ep.bdf == name_or_bdf:
                return ep
        raise ConfigError(f"{self.name}: no endpoint {name_or_bdf!s} (have "
                          f"{[ep.name for ep in self.endpoints]})")

    def window_for(self, pa: int) -> HostBridgeWindow | None:
        """The host-bridge window routing ``pa``, if any."""
        for w in self.windows:
            if w.contains(pa):
                return w
        return None
