"""``lspci`` text (``-v``/``-vv``/``-vvv``, ``-n``/``-nn``, ``-D``, ``-k``, ``-s``) into devices.

The formats are pciutils' (github.com/pciutils/pciutils, read at 56164f4f and a 2024 tree):

- device line, lspci.c ``show_slot_name`` + ``show_terse``: ``[DDDD:]BB:DD.F <class>: <vendor
  device> [(rev %02x)] [(prog-if %02x [<name>])]``; ``-nn`` appends `` [cccc]`` to the class and
  `` [vvvv:dddd]`` to the device name (lib/names.c), ``-n`` prints only the numbers.
- ``show_bases``: ``\\tRegion %d: `` (``-vv``; ``-v`` prints only the tab), then ``[virtual] ``
  (address known to the OS, BAR reads 0) or ``[enhanced] `` (IORESOURCE_PCI_EA_BEI), then ``I/O
  ports at %04x`` or ``Memory at %08llx (32-bit|64-bit|low-1M|type 3, [non-]prefetchable)``, an
  address replaced by ``<ignored>``, ``<unassigned>`` or ``<invalid-64bit-slot>``; `` [disabled]``
  when PCI_COMMAND has I/O or Memory decode off; ``show_size``: `` [size=%u%s]`` in the largest
  unit of K/M/G/T that divides it (pciutils < 3.3: ``%d``, ``%dK``, ``%dM`` or ``%08llx`` hex).
- ``show_rom``: ``Expansion ROM at <addr|<ignored>|<unassigned>> [disabled]|[disabled by cmd]
  [size=..]``.
- ``Capabilities: [%02x] <name>`` (ls-caps.c ``show_caps``), ``Capabilities: [%03x v%d] <name>``
  (ls-ecaps.c ``show_ext_caps``; ``v%d`` only with ``-vv``), ``Capabilities: <access denied>``.
  ``cap_msix``: ``MSI-X: Enable%c Count=%d Masked%c`` + ``Vector table: BAR=%d offset=%08x`` +
  ``PBA: BAR=%d offset=%08x``.  ``cap_sriov``: ``Initial VFs: %d, Total VFs: %d, Number of VFs:
  %d, ...``, ``VF offset: %d, stride: %d, Device ID: %04x``, ``Supported Page Size: %08x, System
  Page Size: %08x``, one ``Region %d: Memory at %08x[%08x] (32|64-bit, [non-]prefetchable)`` per VF
  BAR (no size), ``VF Migration: ...``.  Resizable BAR: ``BAR %d: current size: %s, supported:
  ...``.
- ``IOMMU group: %s`` (``-vv``), ``NUMA node: %d``; ``-v``'s one ``Flags:`` line.
- ls-kernel.c ``show_kernel``: ``Kernel driver in use: %s``, ``Kernel modules: a, b``.

Indentation may be tabs (lspci) or spaces (pasted text): nesting is judged by width, not by the
character.  Lines lspci prints that memattr does not need are kept raw on the device or the
capability.  Lines before the first device (a shell prompt) are skipped; a line that looks like
one of the parsed fields but does not fit its format is a :class:`~memattr.errors.ParseError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._text import DEFAULT_LIMITS, Limits, echo, escape, fail, split_lines

__all__ = [
    "PciAddress",
    "Region",
    "ExpansionRom",
    "Msix",
    "Sriov",
    "ResizableBar",
    "Capability",
    "PciDevice",
    "parse_size",
    "parse_lspci",
]

_MAX_CAPS = 1024  # extended config space is 4 KiB: fewer than 1024 4-byte headers fit
_MAX_RAW = 4096  # raw lines kept per device


@dataclass(frozen=True, slots=True)
class PciAddress:
    """A PCI function address: [domain:]bus:device.function."""

    domain: int | None
    bus: int
    device: int
    function: int

    def __str__(self) -> str:
        dom = f"{self.domain:04x}:" if self.domain is not None else ""
        return f"{dom}{self.bus:02x}:{self.device:02x}.{self.function}"


@dataclass(frozen=True, slots=True)
class Region:
    """A BAR as lspci prints it (a PF BAR, or a VF BAR inside the SR-IOV capability)."""

    index: int | None  # None under -v, which prints no "Region N:"
    space: str  # "memory" or "io"
    address: int | None
    address_note: str | None  # "<ignored>", "<unassigned>", "<invalid-64bit-slot>"
    mem_type: str | None  # "32-bit", "64-bit", "low-1M", "type 3" (memory only)
    prefetchable: bool | None  # memory only
    disabled: bool
    virtual: bool
    enhanced: bool
    size: int | None
    line: int
    vf: bool = False

    @property
    def is_64bit(self) -> bool:
        """A 64-bit memory BAR."""
        return self.mem_type == "64-bit"

    def __str__(self) -> str:
        what = "VF BAR" if self.vf else "BAR"
        idx = f" {self.index}" if self.index is not None else ""
        where = f"0x{self.address:x}" if self.address is not None else escape(self.address_note or "?")
        if self.space == "io":
            kind = "I/O ports"
        else:
            kind = f"memory {self.mem_type}, {'' if self.prefetchable else 'non-'}prefetchable"
        size = f" size 0x{self.size:x}" if self.size is not None else " size unknown"
        flags = "".join(f" [{f}]" for f, on in (("virtual", self.virtual), ("enhanced", self.enhanced),
                                               ("disabled", self.disabled)) if on)
        return f"{what}{idx}: {kind} at {where}{size}{flags}"


@dataclass(frozen=True, slots=True)
class ExpansionRom:
    """The ``Expansion ROM at ...`` line."""

    address: int | None
    address_note: str | None
    disabled: bool  # "[disabled]": the ROM BAR's enable bit is clear
    disabled_by_cmd: bool  # "[disabled by cmd]": enabled, but PCI_COMMAND memory decode is off
    virtual: bool
    enhanced: bool
    size: int | None
    line: int


@dataclass(frozen=True, slots=True)
class Msix:
    """MSI-X: table and PBA location (ls-caps.c cap_msix)."""

    enabled: bool | None
    count: int | None
    table_bar: int | None
    table_offset: int | None
    pba_bar: int | None
    pba_offset: int | None


@dataclass(frozen=True, slots=True)
class Sriov:
    """SR-IOV (ls-ecaps.c cap_sriov): VF counts, routing and VF BARs."""

    initial_vfs: int | None
    total_vfs: int | None
    num_vfs: int | None
    vf_offset: int | None
    vf_stride: int | None
    vf_device_id: int | None
    supported_page_sizes: int | None
    system_page_size: int | None
    vf_regions: tuple[Region, ...]


@dataclass(frozen=True, slots=True)
class ResizableBar:
    """One ``BAR %d: current size: %s, supported: ...`` line of a Resizable BAR capability."""

    bar: int
    current_size: int | None
    supported: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Capability:
    """A ``Capabilities: [off] name`` entry and its body lines."""

    offset: int | None  # None for "<access denied>"
    version: int | None  # extended capabilities under -vv
    extended: bool
    name: str  # raw text after "[off] "
    line: int
    body: tuple[str, ...] = ()
    msix: Msix | None = None
    sriov: Sriov | None = None
    rebar: tuple[ResizableBar, ...] = ()

    @property
    def title(self) -> str:
        """The capability's name without its parameters (text before ':' or ',')."""
        return re.split(r"[:,]", self.name, maxsplit=1)[0].strip()


@dataclass(frozen=True, slots=True)
class PciDevice:
    """One device of an lspci listing."""

    address: PciAddress
    class_name: str
    class_id: int | None
    name: str  # vendor and device names as printed (without the -nn ids)
    vendor_id: int | None
    device_id: int | None
    revision: int | None
    prog_if: int | None
    line: int
    subsystem: str | None = None
    subsystem_ids: tuple[int, int] | None = None
    regions: tuple[Region, ...] = ()
    rom: ExpansionRom | None = None
    capabilities: tuple[Capability, ...] = ()
    driver: str | None = None
    modules: tuple[str, ...] = ()
    iommu_group: str | None = None
    numa_node: int | None = None
    control: str | None = None  # the raw "Control:" flags
    other: tuple[str, ...] = field(default=())  # lines kept raw

    @property
    def memory_decode(self) -> bool | None:
        """PCI_COMMAND Memory Space (``Control: ... Mem+``), when -vv printed it."""
        if self.control is None:
            return None
        m = re.search(r"\bMem([+-])", self.control)
        return None if m is None else m.group(1) == "+"

    def capability(self, title: str) -> Capability | None:
        """The first capability whose title starts with ``title`` (e.g. ``"MSI-X"``)."""
        for c in self.capabilities:
            if c.name.startswith(title):
                return c
        return None

    @property
    def msix(self) -> Msix | None:
        """The MSI-X capability's table location, if listed."""
        return next((c.msix for c in self.capabilities if c.msix is not None), None)

    @property
    def sriov(self) -> Sriov | None:
        """The SR-IOV capability, if listed."""
        return next((c.sriov for c in self.capabilities if c.sriov is not None), None)

    @property
    def express_type(self) -> str | None:
        """The PCI Express device/port type (``Express (v2) Endpoint, MSI 00`` -> ``Endpoint``)."""
        for c in self.capabilities:
            m = re.match(r"Express \(v\d+\) (.*?)(?:, MSI [0-9a-fA-F]+)?$", c.name)
            if m:
                return m.group(1)
        return None

    def __str__(self) -> str:
        ids = ""
        if self.vendor_id is not None and self.device_id is not None:
            ids = f" [{self.vendor_id:04x}:{self.device_id:04x}]"
        out = [f"{self.address} {escape(self.class_name)}: {escape(self.name)}{ids}"]
        out += [f"  {r}" for r in self.regions]
        if self.rom is not None:
            addr = f"0x{self.rom.address:x}" if self.rom.address is not None else escape(
                self.rom.address_note or "?")
            out.append(f"  ROM at {addr}" + (" [disabled]" if self.rom.disabled else ""))
        if self.sriov is not None:
            out.append(f"  SR-IOV: TotalVFs={self.sriov.total_vfs} NumVFs={self.sriov.num_vfs}")
            out += [f"    {r}" for r in self.sriov.vf_regions]
        if self.driver is not None:
            out.append(f"  driver: {escape(self.driver)}")
        if self.iommu_group is not None:
            out.append(f"  IOMMU group: {escape(self.iommu_group)}")
        return "\n".join(out)


# lspci.c show_size: the suffixes of K, M, G, T.
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^([0-9a-fA-F]+)([KMGT]?)$")


def parse_size(text: str) -> int:
    """The bytes of an lspci ``[size=...]`` value: ``%u`` + K/M/G/T, or the old ``%08llx`` hex.

    :param text: what is between ``size=`` and ``]``.
    """
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(text)
    digits, unit = m.groups()
    # pciutils < 3.3 printed sizes of 2 GiB and more as PCIADDR_T_FMT (%08llx, at least 8 hex
    # digits); its decimal forms never needed more than 7 digits (< 1024 << 20 / 1024).
    if not unit and len(digits) >= 8:
        return int(digits, 16)
    if not digits.isdigit():
        raise ValueError(text)
    return int(digits) * _UNITS[unit]


_HEX = r"[0-9a-fA-F]"
_HEADER = re.compile(
    rf"^(?:({_HEX}{{4,8}}):)?({_HEX}{{2}}):({_HEX}{{2}})\.([0-7])\s+(.*)$")
_CLASS_ID = re.compile(rf"^(.*?)\s*\[({_HEX}{{4}})\]$")
_TAIL = re.compile(rf"\s*\((?:rev ({_HEX}{{2}})|prog-if ({_HEX}{{2}})(?: \[[^\]]*\])?)\)$")
_IDS = re.compile(rf"\s*\[({_HEX}{{4}}):({_HEX}{{4}})\]$")
_NUMERIC = re.compile(rf"^({_HEX}{{4}}):\s+({_HEX}{{4}}):({_HEX}{{4}})(.*)$")
_REGION_HEAD = re.compile(r"^Region (\d+):\s*(.*)$")
_SIZE_TAIL = re.compile(r"\s*\[size=([^\]]*)\]$")
_MEM = re.compile(
    rf"^Memory at ({_HEX}+|<ignored>|<unassigned>|<invalid-64bit-slot>)"
    r" \((32-bit|64-bit|low-1M|type 3|32|64)(?:-bit)?, (non-)?prefetchable\)$")
_IO = re.compile(rf"^I/O ports at ({_HEX}+|<ignored>|<unassigned>)$")
_ROM = re.compile(rf"^Expansion ROM at ({_HEX}+|<ignored>|<unassigned>)$")
_CAP = re.compile(rf"^Capabilities: \[({_HEX}{{2,3}})(?: v(\d+))?\] ?(.*)$")
_MSIX_HEAD = re.compile(r"MSI-X: Enable([+-]) Count=(\d+)")
_MSIX_LOC = re.compile(rf"^(Vector table|PBA): BAR=(\d+) offset=({_HEX}{{1,8}})$")
_SRIOV_VFS = re.compile(r"^Initial VFs: (\d+), Total VFs: (\d+), Number of VFs: (\d+)")
_SRIOV_OFF = re.compile(rf"^VF offset: (\d+), stride: (\d+), Device ID: ({_HEX}{{4}})$")
_SRIOV_PS = re.compile(rf"^Supported Page Size: ({_HEX}{{8}}), System Page Size: ({_HEX}{{8}})$")
_REBAR = re.compile(r"^BAR (\d+): current size: ([0-9]+[KMGT]?B), supported:((?: [0-9]+[KMGT]?B)*)$")
_HEXDUMP = re.compile(rf"^{_HEX}{{2,3}}:( {_HEX}{{2}})+$")


def _rebar_size(text: str) -> int:
    """ls-ecaps.c cap_rebar prints sizes as ``%u`` + ``MB``/``GB``/... (``1MB`` = 2^20)."""
    m = re.match(r"^(\d+)([KMGT]?)B$", text)
    if m is None:
        raise ValueError(text)
    return int(m.group(1)) * _UNITS[m.group(2)]


def _width(line: str) -> int:
    """Indentation width with tabs at 8 columns."""
    w = 0
    for ch in line:
        if ch == "\t":
            w = (w // 8 + 1) * 8
        elif ch == " ":
            w += 1
        else:
            break
    return w


class _Builder:
    """Collects one device's lines into a :class:`PciDevice`."""

    def __init__(self, source: str, n: int, text: str, m: re.Match[str]) -> None:
        self.source = source
        self.line = n
        dom = int(m.group(1), 16) if m.group(1) else None
        bus, dev, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))
        if dev > 0x1F:
            raise fail(source, n, f"device number 0x{dev:02x} is above 0x1f: {echo(text)}")
        self.address = PciAddress(dom, bus, dev, fn)
        self._header(m.group(5), n, text)
        self.fields: dict[str, object] = {}
        self.regions: list[Region] = []
        self.caps: list[Capability] = []
        self.other: list[str] = []
        self.cap_open: tuple[int, str, int | None, int | None, bool, int] | None = None
        self.cap_body: list[tuple[int, str]] = []

    def _header(self, rest: str, n: int, text: str) -> None:
        self.revision = self.prog_if = None
        self.class_id = self.vendor_id = self.device_id = None
        num = _NUMERIC.match(rest)
        if num is not None:  # lspci -n: "0200: 8086:159b (rev 02)"
            self.class_id = int(num.group(1), 16)
            self.vendor_id, self.device_id = int(num.group(2), 16), int(num.group(3), 16)
            self.class_name = f"[{num.group(1)}]"
            self.name = ""
            tail = num.group(4)
        else:
            if ": " not in rest:
                raise fail(self.source, n, f"device line without '<class>: <name>': {echo(text)}")
            self.class_name, tail = rest.split(": ", 1)
            cm = _CLASS_ID.match(self.class_name)
            if cm is not None:
                self.class_name, self.class_id = cm.group(1), int(cm.group(2), 16)
            self.name = tail
            tail = ""
        name = self.name if num is None else tail
        while True:
            t = _TAIL.search(name)
            if t is None:
                break
            if t.group(1) is not None:
                self.revision = int(t.group(1), 16)
            else:
                self.prog_if = int(t.group(2), 16)
            name = name[: t.start()]
        ids = _IDS.search(name)
        if ids is not None and num is None:
            self.vendor_id, self.device_id = int(ids.group(1), 16), int(ids.group(2), 16)
            name = name[: ids.start()]
        if num is None:
            self.name = name.strip()

    # -- body lines ------------------------------------------------------------------------

    def add(self, n: int, raw: str, width: int) -> None:
        """One indented line of this device."""
        text = raw.strip()
        if self.cap_open is not None and width > self.cap_open[5]:
            self.cap_body.append((n, text))
            if len(self.cap_body) > _MAX_RAW:
                raise fail(self.source, n, f"capability body longer than {_MAX_RAW} lines")
            return
        self._close_cap()
        if text.startswith("Capabilities:"):
            self._open_cap(n, text, width)
        elif text.startswith("Region ") or text.startswith(("Memory at ", "I/O ports at ", "[virtual] ",
                                                            "[enhanced] ")):
            if "Expansion ROM at " in text:
                self._rom(n, text)
            else:
                self.regions.append(_region(self.source, n, text, vf=False))
        elif text.startswith("Expansion ROM at "):
            self._rom(n, text)
        elif text.startswith("Kernel driver in use:"):
            self._set("driver", text.split(":", 1)[1].strip(), n)
        elif text.startswith("Kernel modules:"):
            mods = tuple(s.strip() for s in text.split(":", 1)[1].split(",") if s.strip())
            self._set("modules", mods, n)
        elif text.startswith("IOMMU group:"):
            self._set("iommu_group", text.split(":", 1)[1].strip(), n)
        elif text.startswith("NUMA node:"):
            self._set("numa_node", _int(self.source, n, text.split(":", 1)[1].strip(), 10, "NUMA node"), n)
        elif text.startswith("Subsystem:"):
            sub = text.split(":", 1)[1].strip()
            ids = _IDS.search(sub)
            if ids is not None:
                self._set("subsystem_ids", (int(ids.group(1), 16), int(ids.group(2), 16)), n)
                sub = sub[: ids.start()].strip()
            self._set("subsystem", sub, n)
        elif text.startswith("Control:"):
            self._set("control", text.split(":", 1)[1].strip(), n)
        elif text.startswith("Flags:"):
            flags = text.split(":", 1)[1]
            g = re.search(r"IOMMU group (\S+?)(?:,|$)", flags)
            if g:
                self._set("iommu_group", g.group(1), n)
            nn = re.search(r"NUMA node (\d+)", flags)
            if nn:
                self._set("numa_node", int(nn.group(1)), n)
            self._keep(text, n)
        else:
            self._keep(text, n)

    def hexdump(self, n: int, text: str) -> None:
        """A ``-x`` config-space dump line (column 0): kept raw."""
        self._close_cap()
        self._keep(text, n)

    def _keep(self, text: str, n: int) -> None:
        if len(self.other) >= _MAX_RAW:
            raise fail(self.source, n, f"device has more than {_MAX_RAW} lines")
        self.other.append(text)

    def _set(self, key: str, value: object, n: int) -> None:
        if key in self.fields and self.fields[key] != value:
            raise fail(self.source, n, f"{key} given twice for {self.address} "
                                       f"({echo(str(self.fields[key]))} then {echo(str(value))})")
        self.fields[key] = value

    def _rom(self, n: int, text: str) -> None:
        if self.fields.get("rom") is not None:
            raise fail(self.source, n, f"second Expansion ROM line for {self.address}")
        self.fields["rom"] = _rom(self.source, n, text)

    def _open_cap(self, n: int, text: str, width: int) -> None:
        if len(self.caps) >= _MAX_CAPS:
            raise fail(self.source, n, f"more than {_MAX_CAPS} capabilities")
        if text.startswith("Capabilities: <"):  # <access denied>, <available only to root>
            self.caps.append(Capability(None, None, False, text.split(":", 1)[1].strip(), n))
            return
        m = _CAP.match(text)
        if m is None:
            raise fail(self.source, n, f"capability line not '[off] name' or '[off vN] name': {echo(text)}")
        off = int(m.group(1), 16)
        ver = int(m.group(2)) if m.group(2) is not None else None
        extended = len(m.group(1)) == 3
        self.cap_open = (n, m.group(3), off, ver, extended, width)
        self.cap_body = []

    def _close_cap(self) -> None:
        if self.cap_open is None:
            return
        n, name, off, ver, extended, _w = self.cap_open
        self.cap_open = None
        body = self.cap_body
        msix = _msix(self.source, n, name, body) if name.startswith("MSI-X") else None
        sriov = _sriov(self.source, body) if name.startswith("Single Root I/O Virtualization") else None
        rebar = _rebar(self.source, body) if "Resizable BAR" in name else ()
        self.caps.append(Capability(off, ver, extended, name, n, tuple(t for _, t in body),
                                    msix, sriov, rebar))

    def build(self) -> PciDevice:
        """The device."""
        self._close_cap()
        f = self.fields
        return PciDevice(
            address=self.address, class_name=self.class_name, class_id=self.class_id, name=self.name,
            vendor_id=self.vendor_id, device_id=self.device_id, revision=self.revision,
            prog_if=self.prog_if, line=self.line,
            subsystem=f.get("subsystem"),  # type: ignore[arg-type]
            subsystem_ids=f.get("subsystem_ids"),  # type: ignore[arg-type]
            regions=tuple(self.regions), rom=f.get("rom"),  # type: ignore[arg-type]
            capabilities=tuple(self.caps),
            driver=f.get("driver"),  # type: ignore[arg-type]
            modules=f.get("modules", ()),  # type: ignore[arg-type]
            iommu_group=f.get("iommu_group"),  # type: ignore[arg-type]
            numa_node=f.get("numa_node"),  # type: ignore[arg-type]
            control=f.get("control"),  # type: ignore[arg-type]
            other=tuple(self.other),
        )


def _int(source: str, n: int, text: str, base: int, what: str) -> int:
    try:
        return int(text, base)
    except ValueError:
        raise fail(source, n, f"{what}: not a number: {echo(text)}") from None


def _split_flags(source: str, n: int, text: str) -> tuple[str, int | None, list[str]]:
    """Strip the trailing ``[size=..]`` and the bracketed flags; return body, size, flags."""
    size = None
    m = _SIZE_TAIL.search(text)
    if m is not None:
        try:
            size = parse_size(m.group(1))
        except ValueError:
            raise fail(source, n, f"size {echo(m.group(1))}: expected N, NK, NM, NG or NT") from None
        if size == 0:
            raise fail(source, n, "size=0: lspci prints no size for an empty BAR")
        text = text[: m.start()]
    flags: list[str] = []
    while True:
        fm = re.search(r"\s*\[(disabled|disabled by cmd)\]$", text)
        if fm is None:
            break
        flags.append(fm.group(1))
        text = text[: fm.start()]
    pre: list[str] = []
    while True:
        pm = re.match(r"^\[(virtual|enhanced)\]\s*", text)
        if pm is None:
            break
        pre.append(pm.group(1))
        text = text[pm.end():]
    return text, size, flags + pre


def _addr(text: str) -> tuple[int | None, str | None]:
    return (None, text) if text.startswith("<") else (int(text, 16), None)


def _region(source: str, n: int, text: str, *, vf: bool) -> Region:
    """A ``Region N: ...`` (or -v's index-less) BAR line."""
    index = None
    hm = _REGION_HEAD.match(text)
    if hm is not None:
        index = int(hm.group(1))
        if index > 5:
            raise fail(source, n, f"Region {index}: a function has BARs 0-5 only")
        text = hm.group(2)
    body, size, flags = _split_flags(source, n, text)
    m = _MEM.match(body)
    if m is not None:
        addr, note = _addr(m.group(1))
        mt = {"32": "32-bit", "64": "64-bit"}.get(m.group(2), m.group(2))
        if addr is not None and addr >= 1 << 64:
            raise fail(source, n, f"address {echo(m.group(1))} is wider than 64 bits")
        return Region(index, "memory", addr, note, mt, m.group(3) is None, "disabled" in flags,
                      "virtual" in flags, "enhanced" in flags, size, n, vf)
    m = _IO.match(body)
    if m is not None and not vf:
        addr, note = _addr(m.group(1))
        if addr is not None and addr >= 1 << 64:
            raise fail(source, n, f"address {echo(m.group(1))} is wider than 64 bits")
        return Region(index, "io", addr, note, None, None, "disabled" in flags, "virtual" in flags,
                      "enhanced" in flags, size, n, vf)
    raise fail(source, n, "BAR line not 'Memory at <addr> (<N>-bit, [non-]prefetchable)' or "
                          f"'I/O ports at <addr>': {echo(text)}")


def _rom(source: str, n: int, text: str) -> ExpansionRom:
    body, size, flags = _split_flags(source, n, text)
    m = _ROM.match(body)
    if m is None:
        raise fail(source, n, f"Expansion ROM line not 'Expansion ROM at <addr>': {echo(text)}")
    addr, note = _addr(m.group(1))
    if addr is not None and addr >= 1 << 64:
        raise fail(source, n, f"address {echo(m.group(1))} is wider than 64 bits")
    return ExpansionRom(addr, note, "disabled" in flags, "disabled by cmd" in flags, "virtual" in flags,
                        "enhanced" in flags, size, n)


def _msix(source: str, n: int, name: str, body: list[tuple[int, str]]) -> Msix:
    hm = _MSIX_HEAD.match(name)
    loc: dict[str, tuple[int, int]] = {}
    for ln, text in body:
        m = _MSIX_LOC.match(text)
        if m is None:
            if text.startswith(("Vector table", "PBA")):
                raise fail(source, ln, f"MSI-X line not '<what>: BAR=<n> offset=<hex>': {echo(text)}")
            continue
        bar = int(m.group(2))
        if bar > 5:
            raise fail(source, ln, f"MSI-X {m.group(1)} in BAR {bar}: BIR 6 and 7 are reserved")
        loc[m.group(1)] = (bar, int(m.group(3), 16))
    t = loc.get("Vector table")
    p = loc.get("PBA")
    return Msix(hm.group(1) == "+" if hm else None, int(hm.group(2)) if hm else None,
                t[0] if t else None, t[1] if t else None, p[0] if p else None, p[1] if p else None)


def _sriov(source: str, body: list[tuple[int, str]]) -> Sriov:
    vals: dict[str, int] = {}
    regions: list[Region] = []
    for ln, text in body:
        if text.startswith("Region "):
            r = _region(source, ln, text, vf=True)
            if r.space != "memory":
                raise fail(source, ln, "SR-IOV VF BARs are memory BARs")
            regions.append(r)
            continue
        m = _SRIOV_VFS.match(text)
        if m is not None:
            vals.update(initial=int(m.group(1)), total=int(m.group(2)), num=int(m.group(3)))
            for key in ("initial", "total", "num"):
                if vals[key] > 0xFFFF:  # 16-bit registers (PCIe SR-IOV capability)
                    raise fail(source, ln, f"{key} VFs {vals[key]} does not fit its 16-bit register")
            continue
        m = _SRIOV_OFF.match(text)
        if m is not None:
            vals.update(offset=int(m.group(1)), stride=int(m.group(2)), did=int(m.group(3), 16))
            continue
        m = _SRIOV_PS.match(text)
        if m is not None:
            vals.update(supps=int(m.group(1), 16), sysps=int(m.group(2), 16))
            continue
        if text.startswith(("Initial VFs", "VF offset", "Supported Page Size")):
            raise fail(source, ln, f"SR-IOV line not in lspci's format: {echo(text)}")
    return Sriov(vals.get("initial"), vals.get("total"), vals.get("num"), vals.get("offset"),
                 vals.get("stride"), vals.get("did"), vals.get("supps"), vals.get("sysps"),
                 tuple(regions))


def _rebar(source: str, body: list[tuple[int, str]]) -> tuple[ResizableBar, ...]:
    out = []
    for ln, text in body:
        m = _REBAR.match(text)
        if m is None:
            if re.match(r"^BAR \d+: current size", text):
                raise fail(source, ln, f"Resizable BAR line not in lspci's format: {echo(text)}")
            continue
        try:
            cur = _rebar_size(m.group(2))
            sup = tuple(_rebar_size(s) for s in m.group(3).split())
        except ValueError:
            raise fail(source, ln, f"Resizable BAR size not <N>MB/GB: {echo(text)}") from None
        out.append(ResizableBar(int(m.group(1)), cur, sup))
    return tuple(out)


def parse_lspci(data: str | bytes, source: str = "<input>",
                limits: Limits = DEFAULT_LIMITS) -> list[PciDevice]:
    """The devices of an lspci listing, in order.

    :param data: lspci's output (any of -v/-vv/-vvv, -n/-nn, -D, -k, -s; tabs or spaces).
    :param source: its name, for messages.
    :param limits: input bounds; ``max_records`` bounds the devices.
    """
    lines = split_lines(data, source, limits)
    devices: list[PciDevice] = []
    current: _Builder | None = None
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            if current is not None:
                devices.append(current.build())
                current = None
            continue
        width = _width(raw)
        if width == 0:
            m = _HEADER.match(raw)
            if m is not None:
                if current is not None:
                    devices.append(current.build())
                if len(devices) >= limits.max_records:
                    raise fail(source, n, f"more than {limits.max_records} devices")
                current = _Builder(source, n, raw, m)
                continue
            if current is not None and _HEXDUMP.match(raw):
                current.hexdump(n, raw)
                continue
            if current is not None:  # a prompt or other text ends the device
                devices.append(current.build())
                current = None
            continue
        if current is None:
            if devices:
                raise fail(source, n, f"indented line outside a device: {echo(raw.strip())}")
            continue  # before the first device: part of whatever was pasted above it
        current.add(n, raw, width)
    if current is not None:
        devices.append(current.build())
    if not devices:
        raise fail(source, None, "no lspci device line ('[DDDD:]BB:DD.F class: name') found")
    return devices
