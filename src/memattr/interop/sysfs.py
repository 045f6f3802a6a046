"""PCI sysfs ``resource`` files: ``/sys/bus/pci/devices/<BDF>/resource``, one line per resource.

Format (drivers/pci/pci-sysfs.c ``resource_show``): ``0x%016llx 0x%016llx 0x%016llx`` = start, end,
``struct resource.flags`` (which is ``pci_resource_flags(dev, i)``), for each resource of the
device; a resource that does not exist prints three zeros.  A device prints
``PCI_BRIDGE_RESOURCES`` lines (13 with CONFIG_PCI_IOV: BARs 0-5, the ROM, the six VF BARs
``PCI_IOV_RESOURCES``; 7 without), a bridge ``DEVICE_COUNT_RESOURCE`` (17 / 11, the bridge
windows after).  Flag bits are include/linux/ioport.h ``IORESOURCE_*`` (the "flags exposed to
userspace, don't move them" block); the low byte ``IORESOURCE_BITS`` is bus-specific: for a PCI
memory BAR it keeps the BAR's own type bits (drivers/pci/probe.c ``decode_bar``: ``flags = bar &
~PCI_BASE_ADDRESS_MEM_MASK``), for the ROM ``IORESOURCE_ROM_ENABLE``/``ROM_SHADOW``.

The mmap-able files next to ``resource`` are named ``resource<N>`` for each BAR 0-5 with a length
and, for a prefetchable memory BAR, also ``resource<N>_wc`` (pci-sysfs.c
``pci_create_resource_files``); the ROM is ``rom``.  VF BARs have no file on the PF: each VF has
its own ``resource0``-``5``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ._text import DEFAULT_LIMITS, Limits, echo, escape, fail, split_lines

__all__ = [
    "IORESOURCE",
    "ResourceKind",
    "ResourceRole",
    "Resource",
    "ResourceFile",
    "decode_flags",
    "resource_role",
    "parse_resource",
]

# include/linux/ioport.h: name -> bit mask (bits above the low byte; a type is a value of TYPE_BITS).
IORESOURCE: dict[str, int] = {
    "IORESOURCE_PREFETCH": 0x00002000,
    "IORESOURCE_READONLY": 0x00004000,
    "IORESOURCE_CACHEABLE": 0x00008000,
    "IORESOURCE_RANGELENGTH": 0x00010000,
    "IORESOURCE_SHADOWABLE": 0x00020000,
    "IORESOURCE_SIZEALIGN": 0x00040000,
    "IORESOURCE_STARTALIGN": 0x00080000,
    "IORESOURCE_MEM_64": 0x00100000,
    "IORESOURCE_WINDOW": 0x00200000,
    "IORESOURCE_MUXED": 0x00400000,
    "IORESOURCE_SYSRAM": 0x01000000,
    "IORESOURCE_EXCLUSIVE": 0x08000000,
    "IORESOURCE_DISABLED": 0x10000000,
    "IORESOURCE_UNSET": 0x20000000,
    "IORESOURCE_AUTO": 0x40000000,
    "IORESOURCE_BUSY": 0x80000000,
}
_TYPE_BITS = 0x00001F00
_BUS_BITS = 0x000000FF
# include/linux/ioport.h PCI control bits inside IORESOURCE_BITS.
_PCI_FIXED = 1 << 4
_PCI_EA_BEI = 1 << 5
_ROM_ENABLE = 1 << 0
_ROM_SHADOW = 1 << 1
# include/uapi/linux/pci_regs.h: the BAR's own low bits kept by decode_bar().
_BAR_MEM_TYPE = 0x06
_BAR_MEM_PREFETCH = 0x08


class ResourceKind(enum.Enum):
    """IORESOURCE_TYPE_BITS of a resource (include/linux/ioport.h)."""

    NONE = 0x000
    IO = 0x100
    MEM = 0x200
    REG = 0x300
    IRQ = 0x400
    DMA = 0x800
    BUS = 0x1000
    OTHER = -1


class ResourceRole(enum.Enum):
    """What the N-th line of a ``resource`` file is (include/linux/pci.h resource numbering)."""

    BAR = "BAR"
    ROM = "ROM"
    VF_BAR = "VF BAR"  # PCI_IOV_RESOURCES
    BRIDGE_WINDOW = "bridge window"  # PCI_BRIDGE_RESOURCES
    UNKNOWN = "unknown"


def resource_role(index: int, count: int) -> tuple[ResourceRole, int]:
    """The role of line ``index`` of a file of ``count`` lines, and its number within that role.

    :param index: 0-based line (resource) number.
    :param count: lines in the file: 13/17 with CONFIG_PCI_IOV, 7/11 without (device/bridge).
    """
    if index < 6:
        return ResourceRole.BAR, index
    if index == 6:
        return ResourceRole.ROM, 0
    iov = count in (13, 17)
    if iov and index < 13:
        return ResourceRole.VF_BAR, index - 7
    first_bridge = 13 if iov else 7
    if count in (11, 17) and first_bridge <= index < first_bridge + 4:
        return ResourceRole.BRIDGE_WINDOW, index - first_bridge
    return ResourceRole.UNKNOWN, index


def decode_flags(flags: int, role: ResourceRole = ResourceRole.BAR) -> list[str]:
    """Names of the bits in ``flags`` (a ``struct resource.flags``); unknown bits stay as hex.

    :param flags: the third column of a resource line.
    :param role: which resource it is (the low byte's meaning depends on it).
    """
    names: list[str] = []
    kind = flags & _TYPE_BITS
    rest = flags & ~_TYPE_BITS
    if kind:
        try:
            names.append("IORESOURCE_" + ResourceKind(kind).name)
        except ValueError:
            names.append(f"IORESOURCE_TYPE_0x{kind:x}")
    low = rest & _BUS_BITS
    rest &= ~_BUS_BITS
    for name, mask in IORESOURCE.items():
        if rest & mask:
            names.append(name)
            rest &= ~mask
    if low & _PCI_FIXED:
        names.append("IORESOURCE_PCI_FIXED")
        low &= ~_PCI_FIXED
    if low & _PCI_EA_BEI:
        names.append("IORESOURCE_PCI_EA_BEI")
        low &= ~_PCI_EA_BEI
    if role is ResourceRole.ROM:
        if low & _ROM_ENABLE:
            names.append("IORESOURCE_ROM_ENABLE")
            low &= ~_ROM_ENABLE
        if low & _ROM_SHADOW:
            names.append("IORESOURCE_ROM_SHADOW")
            low &= ~_ROM_SHADOW
    elif kind == ResourceKind.MEM.value and role in (ResourceRole.BAR, ResourceRole.VF_BAR):
        mtype = (low & _BAR_MEM_TYPE) >> 1
        if mtype:
            names.append({1: "PCI_BASE_ADDRESS_MEM_TYPE_1M", 2: "PCI_BASE_ADDRESS_MEM_TYPE_64",
                          3: "PCI_BASE_ADDRESS_MEM_TYPE_3"}[mtype])
        if low & _BAR_MEM_PREFETCH:
            names.append("PCI_BASE_ADDRESS_MEM_PREFETCH")
        low &= ~(_BAR_MEM_TYPE | _BAR_MEM_PREFETCH)
    if low | rest:
        names.append(f"0x{low | rest:x}")
    return names


@dataclass(frozen=True, slots=True)
class Resource:
    """One line of a ``resource`` file."""

    index: int
    start: int
    end: int
    flags: int
    role: ResourceRole
    number: int  # BAR n, VF BAR n, bridge window n
    line: int

    @property
    def used(self) -> bool:
        """False for the all-zero lines of resources the device does not have."""
        return bool(self.start or self.end or self.flags)

    @property
    def size(self) -> int:
        """end - start + 1 (0 for an unused line)."""
        return self.end - self.start + 1 if self.used else 0

    @property
    def kind(self) -> ResourceKind:
        """Its IORESOURCE type."""
        try:
            return ResourceKind(self.flags & _TYPE_BITS)
        except ValueError:
            return ResourceKind.OTHER

    def has(self, name: str) -> bool:
        """Whether flag ``IORESOURCE_<name>`` (e.g. ``"PREFETCH"``, ``"MEM_64"``) is set."""
        return bool(self.flags & IORESOURCE["IORESOURCE_" + name])

    @property
    def prefetchable(self) -> bool:
        """IORESOURCE_PREFETCH."""
        return self.has("PREFETCH")

    @property
    def is_64bit(self) -> bool:
        """IORESOURCE_MEM_64."""
        return self.has("MEM_64")

    @property
    def sysfs_files(self) -> tuple[str, ...]:
        """The mmap-able sysfs files of this resource on the same device (pci_create_resource_files)."""
        if not self.used:
            return ()
        if self.role is ResourceRole.ROM:
            return ("rom",)
        if self.role is not ResourceRole.BAR:
            return ()
        names = [f"resource{self.number}"]
        if self.kind is ResourceKind.MEM and self.prefetchable:
            names.append(f"resource{self.number}_wc")
        return tuple(names)

    def __str__(self) -> str:
        what = f"{self.role.value} {self.number}" if self.role is not ResourceRole.ROM else "ROM"
        if not self.used:
            return f"resource{self.index} ({what}): unused"
        return (f"resource{self.index} ({what}): 0x{self.start:x}-0x{self.end:x} size 0x{self.size:x} "
                f"flags 0x{self.flags:x} {'|'.join(decode_flags(self.flags, self.role))}")


@dataclass(frozen=True, slots=True)
class ResourceFile:
    """A parsed ``resource`` file (or one of several in a pasted terminal session)."""

    source: str
    first_line: int
    resources: tuple[Resource, ...]

    def used(self) -> Iterator[Resource]:
        """The resources the device has."""
        return (r for r in self.resources if r.used)

    def __str__(self) -> str:
        head = f"{escape(self.source)}:{self.first_line}: {len(self.resources)} resources"
        return "\n".join([head] + [f"  {r}" for r in self.used()])


_LINE = re.compile(r"^\s*0[xX]([0-9a-fA-F]{1,16})\s+0[xX]([0-9a-fA-F]{1,16})\s+0[xX]([0-9a-fA-F]{1,16})\s*$")
_NUMBERS = re.compile(r"^\s*0[xX][0-9a-fA-F]+(\s+0[xX][0-9a-fA-F]+)*\s*$")


def parse_resource(data: str | bytes, source: str = "<input>", limits: Limits = DEFAULT_LIMITS,
                   *, allow_other_lines: bool = False) -> list[ResourceFile]:
    """The resource files in ``data``: one, or (``allow_other_lines``) each run of resource lines
    between other text such as shell prompts in a pasted session.

    :param data: the file's text.
    :param source: its name, for messages.
    :param limits: input bounds.
    :param allow_other_lines: skip lines that are not resource lines instead of failing.
    """
    lines = split_lines(data, source, limits)
    runs: list[list[tuple[int, int, int, int]]] = []
    current: list[tuple[int, int, int, int]] | None = None
    total = 0
    for n, text in enumerate(lines, 1):
        m = _LINE.match(text)
        if m is None:
            if not text.strip():
                current = None
                continue
            if _NUMBERS.match(text) or not allow_other_lines:
                raise fail(source, n, f"not a resource line 0x<start> 0x<end> 0x<flags>: {echo(text)}")
            current = None
            continue
        start, end, flags = (int(g, 16) for g in m.groups())
        if (start or end or flags) and end < start:
            raise fail(source, n, f"end 0x{end:x} is below start 0x{start:x}")
        if current is None:
            current = []
            runs.append(current)
        current.append((n, start, end, flags))
        total += 1
        if total > limits.max_records:
            raise fail(source, n, f"more than {limits.max_records} resource lines")
    if not runs:
        raise fail(source, len(lines) or None, "no resource lines (expected 0x<start> 0x<end> 0x<flags>)")
    files = []
    for run in runs:
        count = len(run)
        res = []
        for i, (n, start, end, flags) in enumerate(run):
            role, number = resource_role(i, count)
            res.append(Resource(i, start, end, flags, role, number, n))
        files.append(ResourceFile(source, run[0][0], tuple(res)))
    return files
