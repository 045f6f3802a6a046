"""The guest's stage 1: a Linux guest's MAIR_EL1 and the attributes its mapping APIs produce, and a
raw guest (any MAIR and descriptor) for other operating systems.

A :class:`GuestStage1` is what the arch core needs: the MAIR attribute byte the descriptor's
AttrIndx selects, the descriptor's SH, and whether the guest's MMU is on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..arch import mair as _mair
from ..arch.combine import Controls
from ..arch.cpu import ALL, Cpu
from ..arch.descriptor import (
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    DESC_VALID,
    S1_AP_SHIFT,
    S1_AP_USER,
    S1_ATTRINDX_MASK,
    S1_ATTRINDX_SHIFT,
)
from ..arch.memtype import MemoryAttributes, Shareability
from ..arch.sysregs import MAIR_ELx
from ..errors import ConfigError, EncodingError
from .asm.memory import mair_for, mt_layout
from .mm import MT
from .version import KernelVersion

__all__ = [
    "GuestMap",
    "GuestStage1",
    "LinuxGuest",
    "LINUX_GUEST",
    "linux_guest_mair",
    "raw_guest",
    "from_descriptor",
    "guest_mmu_off",
]

_SH = {0b00: Shareability.NSH, 0b10: Shareability.OSH, 0b11: Shareability.ISH}


@dataclass(frozen=True, slots=True)
class GuestStage1:
    """A guest's stage-1 view of one page.

    :param name: the mapping API or description ('ioremap_wc', 'raw', ...).
    :param mair: the guest's MAIR_EL1.
    :param attrindx: the descriptor's AttrIndx (None with the MMU off).
    :param sh: the descriptor's SH[1:0].
    :param mmu_on: SCTLR_EL1.M.
    :param user: an EL0 mapping (e.g. a sysfs mmap in guest userspace).
    """

    name: str
    mair: int
    attrindx: int | None
    sh: int = 0b11
    mmu_on: bool = True
    user: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.mair < 1 << 64:
            raise EncodingError(f"guest MAIR_EL1=0x{self.mair:x}: out of range (64-bit register)")
        if self.attrindx is not None and not 0 <= self.attrindx <= 7:
            raise EncodingError(f"guest AttrIndx={self.attrindx}: out of range (0..7)")
        if self.mmu_on and self.attrindx is None:
            raise ConfigError(f"guest mapping {self.name}: AttrIndx needed with the MMU on")
        if self.sh not in (0, 1, 2, 3):
            raise EncodingError(f"guest SH=0x{self.sh:x}: out of range (2 bits)")

    @property
    def attr(self) -> int:
        """The MAIR_EL1 attribute byte selected (0 with the MMU off: unused)."""
        if self.attrindx is None:
            return 0
        return MAIR_ELx.get(self.mair, f"Attr{self.attrindx}")

    def controls(self, *, fwb: bool, cd: bool = False) -> Controls:
        """The register controls for combining: FWB from the host, M from the guest."""
        return Controls(fwb=fwb, m=self.mmu_on, cd=cd)

    def attrs(self, features: Cpu = ALL) -> MemoryAttributes | None:
        """The stage-1 attributes alone (None with the MMU off or a reserved byte)."""
        if not self.mmu_on:
            return None
        dec = _mair.decode_attr(self.attr, features)
        if dec.attrs is None:
            return None
        return _mair.decode(self.attr, _SH.get(self.sh, Shareability.ISH), features)

    @property
    def label(self) -> str:
        if not self.mmu_on:
            return f"{self.name} (MMU off)"
        return f"{self.name} (MAIR Attr{self.attrindx}=0x{self.attr:02x})"


class GuestMap(enum.Enum):
    """The Linux guest mapping APIs modelled, with the MT_* index each uses (arm64 io.h, mm)."""

    IOREMAP = "ioremap"  # ioremap_prot(PROT_DEVICE_nGnRE)
    IOREMAP_NP = "ioremap_np"  # PROT_DEVICE_nGnRnE (non-posted)
    IOREMAP_WC = "ioremap_wc"  # PROT_NORMAL_NC
    IOREMAP_CACHE = "ioremap_cache"  # PROT_NORMAL (non-RAM)
    MEMREMAP_WB = "memremap(MEMREMAP_WB)"  # ioremap_cache for non-RAM
    MEMREMAP_WC = "memremap(MEMREMAP_WC)"  # ioremap_wc
    SYSFS_RESOURCE = "resourceN mmap"  # pci_mmap_resource_range: pgprot_device
    SYSFS_RESOURCE_WC = "resourceN_wc mmap"  # pci_mmap_resource_range: pgprot_writecombine
    MMU_OFF = "MMU off"  # firmware / early boot: SCTLR_EL1.M = 0


_GUEST_MT = {
    GuestMap.IOREMAP: MT.MT_DEVICE_nGnRE,
    GuestMap.IOREMAP_NP: MT.MT_DEVICE_nGnRnE,
    GuestMap.IOREMAP_WC: MT.MT_NORMAL_NC,
    GuestMap.IOREMAP_CACHE: MT.MT_NORMAL,
    GuestMap.MEMREMAP_WB: MT.MT_NORMAL,
    GuestMap.MEMREMAP_WC: MT.MT_NORMAL_NC,
    GuestMap.SYSFS_RESOURCE: MT.MT_DEVICE_nGnRE,
    GuestMap.SYSFS_RESOURCE_WC: MT.MT_NORMAL_NC,
}


def linux_guest_mair(*, mte: bool = False, release: KernelVersion | str | None = None) -> int:
    """A Linux guest's MAIR_EL1 (arch/arm64/mm/proc.S MAIR_EL1_SET; MT_NORMAL_TAGGED is 0xFF
    until the guest enables MTE, then 0xF0).

    :param release: the guest kernel's release (default: the v5.14+ layout).
    """
    return mair_for(release if release is not None else "6.9", mte=mte)


@dataclass(frozen=True, slots=True)
class LinuxGuest:
    """A Linux guest: MAIR_EL1 as Linux programs it; methods named after the mapping APIs."""

    mte: bool = False
    release: KernelVersion | None = None

    @property
    def mair(self) -> int:
        return linux_guest_mair(mte=self.mte, release=self.release)

    def attrindx(self, kind: GuestMap) -> int:
        """The AttrIndx this guest's kernel uses for a mapping API (its release's MT_* layout)."""
        name = _GUEST_MT[kind].name
        if self.release is None:
            return int(_GUEST_MT[kind])
        return mt_layout(self.release).index(name)

    def map(self, kind: GuestMap | str) -> GuestStage1:
        """The stage-1 view a mapping API gives ('ioremap_wc', GuestMap.IOREMAP_WC ...)."""
        k = _parse_map(kind)
        if k is GuestMap.MMU_OFF:
            return GuestStage1(k.value, self.mair, None, 0b11, False)
        user = k in (GuestMap.SYSFS_RESOURCE, GuestMap.SYSFS_RESOURCE_WC)
        # Kernel and user PTEs carry PTE_SHARED (SH = Inner Shareable) without LPA2.
        return GuestStage1(k.value, self.mair, self.attrindx(k), 0b11, True, user)

    def ioremap(self) -> GuestStage1:
        """``ioremap``: Device-nGnRE."""
        return self.map(GuestMap.IOREMAP)

    def ioremap_np(self) -> GuestStage1:
        """``ioremap_np``: Device-nGnRnE."""
        return self.map(GuestMap.IOREMAP_NP)

    def ioremap_wc(self) -> GuestStage1:
        """``ioremap_wc``: Normal-NC."""
        return self.map(GuestMap.IOREMAP_WC)

    def ioremap_cache(self) -> GuestStage1:
        """``ioremap_cache`` of non-RAM: Normal WB."""
        return self.map(GuestMap.IOREMAP_CACHE)

    def memremap(self, flags: str = "MEMREMAP_WB") -> GuestStage1:
        """``memremap(flags)`` of non-RAM: MEMREMAP_WB -> Normal WB, MEMREMAP_WC -> Normal-NC."""
        key = flags.upper().removeprefix("MEMREMAP_")
        if key == "WB":
            return self.map(GuestMap.MEMREMAP_WB)
        if key == "WC":
            return self.map(GuestMap.MEMREMAP_WC)
        raise ConfigError(f"memremap flags={flags!r}: expected MEMREMAP_WB or MEMREMAP_WC")

    def sysfs_resource(self, wc: bool = False) -> GuestStage1:
        """A guest userspace mmap of sysfs resourceN (Device-nGnRE) or resourceN_wc (Normal-NC)."""
        return self.map(GuestMap.SYSFS_RESOURCE_WC if wc else GuestMap.SYSFS_RESOURCE)

    def mmu_off(self) -> GuestStage1:
        """Firmware or early boot: SCTLR_EL1.M = 0 (data accesses are Device-nGnRnE)."""
        return self.map(GuestMap.MMU_OFF)


LINUX_GUEST = LinuxGuest()


def _parse_map(kind: GuestMap | str) -> GuestMap:
    if isinstance(kind, GuestMap):
        return kind
    text = kind.strip()
    for k in GuestMap:
        if text in (k.value, k.name, k.name.lower()):
            return k
    aliases = {"memremap_wb": GuestMap.MEMREMAP_WB, "memremap_wc": GuestMap.MEMREMAP_WC,
               "resource_wc": GuestMap.SYSFS_RESOURCE_WC, "resource": GuestMap.SYSFS_RESOURCE,
               "mmu-off": GuestMap.MMU_OFF, "mmu_off": GuestMap.MMU_OFF}
    if text.lower() in aliases:
        return aliases[text.lower()]
    raise ConfigError(f"guest mapping {kind!r}: unknown (known: "
                      f"{', '.join(k.value for k in GuestMap)})")


def raw_guest(
    *,
    attr: int | None = None,
    mair: int | None = None,
    attrindx: int = 0,
    sh: int = 0b11,
    mmu_on: bool = True,
    name: str = "raw",
) -> GuestStage1:
    """Any guest OS: give either an attribute byte (``attr``) or a MAIR_EL1 and an AttrIndx."""
    if attr is not None:
        if mair is not None:
            raise ConfigError("raw guest: give attr or mair+attrindx, not both")
        if not 0 <= attr <= 0xFF:
            raise EncodingError(f"raw guest attr=0x{attr:x}: out of range (0x00..0xff)")
        if not 0 <= attrindx <= 7:
            raise EncodingError(f"guest AttrIndx={attrindx}: out of range (0..7)")
        return GuestStage1(f"{name} attr 0x{attr:02x}", MAIR_ELx.set(0, f"Attr{attrindx}", attr),
                           attrindx, sh, mmu_on)
    if mair is None:
        raise ConfigError("raw guest: give attr or mair+attrindx")
    return GuestStage1(name, mair, attrindx, sh, mmu_on)


def from_descriptor(mair: int, descriptor: int, *, name: str = "descriptor") -> GuestStage1:
    """A guest stage-1 page/block descriptor: AttrIndx is bits [4:2], SH bits [9:8]."""
    if not 0 <= descriptor < 1 << 64:
        raise EncodingError(f"stage-1 descriptor=0x{descriptor:x}: out of range (64 bits)")
    if not descriptor & DESC_VALID:
        raise EncodingError(f"stage-1 descriptor=0x{descriptor:x}: not valid (bit[0]=0)")
    return GuestStage1(name, mair, (descriptor >> S1_ATTRINDX_SHIFT) & S1_ATTRINDX_MASK,
                       (descriptor >> DESC_SH_SHIFT) & DESC_SH_MASK, True,
                       bool((descriptor >> S1_AP_SHIFT) & S1_AP_USER))


def guest_mmu_off(mair: int = 0) -> GuestStage1:
    """Any guest with its MMU off."""
    return GuestStage1("MMU off", mair, None, 0b11, False)
