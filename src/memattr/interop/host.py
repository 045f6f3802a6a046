"""What a guest gets from each BAR of a host's PCI devices: lspci and sysfs in, the model's answers out.

:func:`devices_from_lspci` turns parsed ``lspci`` listings (and ``resource`` files, matched to
their device by BDF or by address) into :class:`HostDevice` values; :mod:`memattr.interop.live`
builds the same values from a running host's sysfs.  :func:`host_scenario` writes the scenario
file (docs/scenarios.md) that passes every memory BAR to a guest with vfio-pci -- one memslot per
BAR, and one guest mapping per ioremap variant -- and :func:`answer` loads that text with
:func:`memattr.analysis.scenario.loads` and replays it (:func:`memattr.analysis.replay.replay`),
so each answer is the Linux model's, and ``memattr run`` on the emitted file gives the same.

What needs care is flagged per device and per BAR (:data:`FLAG_KINDS`): a driver other than
vfio-pci, a BAR smaller than a host page, a function that is not a PCIe endpoint, a BAR beyond the
guest's IPA space, I/O-port BARs, disabled / unassigned / ``<ignored>`` BARs, 32-bit
non-prefetchable BARs, read side effects no listing states, the MSI-X table page QEMU traps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MemattrError
from ..inputs.escape import escape
from ..inputs.units import format_size
from .lspci import PciDevice, Region
from .sysfs import ResourceFile, ResourceKind, ResourceRole

if TYPE_CHECKING:
    from ..analysis.compare import Row
    from ..analysis.replay import Replay

__all__ = [
    "VARIANTS",
    "DEFAULT_POLICIES",
    "FLAG_KINDS",
    "Flag",
    "HostBar",
    "HostDevice",
    "HostConfig",
    "BarAnswer",
    "HazardNote",
    "HostReport",
    "devices_from_lspci",
    "page_size_hint",
    "host_scenario",
    "answer",
    "render_host",
    "toml_string",
    "GUEST_WINDOW_BITS",
    "MAX_BARS",
]

VARIANTS: tuple[tuple[str, str], ...] = (
    ("ioremap", "ioremap"),
    ("ioremap_np", "ioremap_np"),
    ("ioremap_wc", "ioremap_wc"),
    ("ioremap_cache", "ioremap_cache/memremap WB"),
)
"""The guest's mapping calls asked about (scenario ``api`` value, label); memremap(MEMREMAP_WB)
asks for the same MT_NORMAL as ioremap_cache."""

DEFAULT_POLICIES = ("6.8", "6.9", "6.17")
"""The policies compared when neither ``--kernel`` nor ``--policy`` is given."""

FLAG_KINDS: dict[str, str] = {
    "driver": "bound to a driver other than vfio-pci (or the driver is not known)",
    "sub-page": "smaller than a host page",
    "not-mmap": "vfio-pci does not mmap it: every guest access exits to the VMM",
    "not-pcie": "not a PCIe endpoint (conventional PCI, or integrated in the root complex)",
    "beyond-ipa": "does not fit the guest's IPA space",
    "beyond-pa": "beyond the CPU's physical address space",
    "io-port": "an I/O-port BAR (no memory type: not mapped into a guest)",
    "disabled": "memory decode is off now",
    "no-address": "unassigned or <ignored>: no address to map",
    "no-size": "size unknown",
    "32-bit-np": "a 32-bit non-prefetchable BAR",
    "side-effects": "reads may have side effects on pages nobody listed",
    "msix": "holds the MSI-X table or PBA, which QEMU traps",
    "overlap": "overlaps another BAR, or left out (listed twice, too many BARs)",
    "sizes-differ": "lspci and sysfs disagree",
    "numbered": "the listing gives no BAR number",
}
"""Every kind of :class:`Flag`, with what it means."""

GUEST_WINDOW_BITS = 1
"""BARs are placed from 2**(ipa_bits - GUEST_WINDOW_BITS) up: for a 40-bit guest 0x80_0000_0000,
where QEMU's virt machine puts its high PCIe MMIO window (hw/arm/virt.c VIRT_HIGH_PCIE_MMIO)."""

_PAGE = 4096  # the Linux model's PAGE_SIZE

MAX_BARS = 64
"""BARs modelled from one listing (each is replayed per variant, policy and FWB setting)."""


def _sub_page_cite() -> str:
    """The commit that lets vfio-pci mmap a sub-page BAR that starts a page."""
    from ..linux.commits import COMMITS

    return COMMITS["vfio-sub-page-bar"].cite()


@dataclass(frozen=True, slots=True)
class Flag:
    """Something about a device or BAR that needs care.

    :param kind: a key of :data:`FLAG_KINDS`.
    :param text: the sentence shown (input-derived parts escaped).
    :param modelled: whether the answers still cover it (False: the BAR is left out).
    """

    kind: str
    text: str
    modelled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "modelled": self.modelled}


@dataclass(frozen=True, slots=True)
class HostBar:
    """One BAR of a device (a VF BAR: the BAR of one VF, ``size`` per VF).

    :param where: 'file:line' of the line that gave it.
    :param size_from: where the size comes from ('lspci', 'sysfs', 'sysfs IOV / TotalVFs').
    """

    index: int | None
    vf: bool
    space: str
    address: int | None
    size: int | None
    prefetchable: bool | None
    bits: int | None
    disabled: bool = False
    virtual: bool = False
    note: str | None = None
    where: str = ""
    size_from: str = ""
    flags: tuple[Flag, ...] = ()

    @property
    def name(self) -> str:
        """'BAR0' / 'VF BAR3' / 'BAR?'."""
        idx = "?" if self.index is None else str(self.index)
        return f"{'VF ' if self.vf else ''}BAR{idx}"

    def describe(self) -> str:
        """'64-bit prefetchable memory at 0x6002000000, 32M'."""
        if self.space == "io":
            kind = "I/O ports"
        else:
            width = f"{self.bits}-bit " if self.bits else ""
            pf = "" if self.prefetchable is None else ("prefetchable " if self.prefetchable
                                                       else "non-prefetchable ")
            kind = f"{width}{pf}memory"
        at = f"0x{self.address:x}" if self.address is not None else escape(self.note or "?")
        size = format_size(self.size) if self.size is not None else "size unknown"
        per = " per VF" if self.vf and self.size is not None else ""
        return f"{kind} at {at}, {size}{per}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "vf": self.vf, "space": self.space,
                "address": hex(self.address) if self.address is not None else None,
                "size": self.size, "prefetchable": self.prefetchable, "bits": self.bits,
                "disabled": self.disabled, "virtual": self.virtual, "note": self.note,
                "where": self.where, "size_from": self.size_from,
                "flags": [f.to_json() for f in self.flags]}


@dataclass(frozen=True, slots=True)
class HostDevice:
    """A PCI function as the listing or sysfs shows it.

    :param address: the BDF as printed ('05:00.0' or '0000:05:00.0').
    :param express: the PCIe device type ('Endpoint', 'Root Complex Integrated Endpoint' ...),
        '' when the function lists capabilities but no PCI Express one, None when unknown.
    :param msix: (table BAR, table offset, PBA BAR, PBA offset) when listed.
    """

    address: str
    name: str
    class_name: str
    driver: str | None
    bars: tuple[HostBar, ...]
    express: str | None = None
    where: str = ""
    total_vfs: int | None = None
    num_vfs: int | None = None
    msix: tuple[int | None, int | None, int | None, int | None] | None = None
    class_id: int | None = None
    flags: tuple[Flag, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "name": self.name, "class": self.class_name,
                "class_id": self.class_id, "driver": self.driver, "express": self.express,
                "where": self.where, "total_vfs": self.total_vfs, "num_vfs": self.num_vfs,
                "flags": [f.to_json() for f in self.flags],
                "bars": [b.to_json() for b in self.bars]}


@dataclass(frozen=True, slots=True)
class HostConfig:
    """What the answers are for: policies, FWB settings, CPU, host kernel, pages, guest IPA size.

    :param kernel: the host's release when known (its policy is the first column).
    :param page_size: the host kernel's PAGE_SIZE.
    :param ipa_bits: the guest's IPA size (KVM_VM_TYPE_ARM_IPA_SIZE; 40 by default).
    :param ipa_limit: the host's largest IPA size (KVM_CAP_ARM_VM_IPA_SIZE), when known.
    """

    policies: tuple[str, ...] = DEFAULT_POLICIES
    fwb: tuple[bool, ...] = (False, True)
    cpu: str = "all"
    kernel: str | None = None
    page_size: int = 4096
    ipa_bits: int = 40
    dic: bool | None = None
    mte: bool | None = None
    ipa_limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"policies": list(self.policies), "fwb": list(self.fwb), "cpu": self.cpu,
                "kernel": self.kernel, "page_size": self.page_size, "ipa_bits": self.ipa_bits,
                "ipa_limit": self.ipa_limit, "dic": self.dic, "mte": self.mte}


# --- from lspci and sysfs ----------------------------------------------------------------------


def _bits(r: Region) -> int | None:
    return {"64-bit": 64, "32-bit": 32, "low-1M": 32}.get(r.mem_type or "")


def _norm_bdf(text: str) -> str:
    """'0000:05:00.0' for '05:00.0' (and lower case), for matching."""
    t = text.strip().lower()
    return t if t.count(":") == 2 else f"0000:{t}"


def page_size_hint(text: str | bytes) -> tuple[int, int] | None:
    """(page size, line) when a pasted session shows ``getconf PAGESIZE`` (or ``PAGE_SIZE``) and
    its answer before the listing, as the recorded 64K-host sample does.

    :param text: the lspci file's text.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.split("\n", 64)[:64]
    for i, line in enumerate(lines[:-1]):
        if re.search(r"\bgetconf\s+PAGE_?SIZE\s*$", line):
            nxt = lines[i + 1].strip()
            if nxt in ("4096", "16384", "65536"):
                return int(nxt), i + 2
    return None


def _from_region(r: Region, source: str) -> HostBar:
    return HostBar(
        index=r.index, vf=r.vf, space=r.space, address=r.address,
        # pciutils' cap_sriov (ls-ecaps.c) prints no VF BAR size; a listing that has one gives
        # what sizing a VF BAR register gives, the size of one VF's BAR.
        size=r.size, prefetchable=r.prefetchable, bits=_bits(r), disabled=r.disabled,
        virtual=r.virtual, note=r.address_note, where=f"{source}:{r.line}",
        size_from="" if r.size is None else ("lspci (per VF)" if r.vf else "lspci"))


def _match_resource(rf: ResourceFile, devs: list[PciDevice]) -> tuple[PciDevice, bool] | None:
    """The device a resource file belongs to, by address: its own BARs, or VF 0 of a PF."""
    starts = {r.start for r in rf.used() if r.role is ResourceRole.BAR and r.kind is ResourceKind.MEM}
    if not starts:
        return None
    for d in devs:
        own = {r.address for r in d.regions if r.space == "memory" and r.address is not None}
        if starts <= own:
            return d, False
    for d in devs:
        s = d.sriov
        if s is None:
            continue
        vf0 = {r.address for r in s.vf_regions if r.address is not None}
        if starts <= vf0:
            return d, True
    return None


def devices_from_lspci(
    devices: list[PciDevice],
    source: str,
    resources: list[tuple[str | None, ResourceFile]] = (),  # type: ignore[assignment]
) -> tuple[list[HostDevice], list[str]]:
    """Host devices from an lspci listing, with sysfs ``resource`` files merged in.

    :param devices: parsed lspci devices.
    :param source: the lspci file's name (for 'file:line').
    :param resources: (BDF or None, parsed resource file): a file without a BDF is matched by
        address to the device whose BARs it lists, or to VF 0 of a PF.
    :returns: the devices and notes on files that matched nothing.
    """
    notes: list[str] = []
    own: dict[int, list[ResourceFile]] = {}
    vf0: dict[int, list[ResourceFile]] = {}
    by_bdf = {_norm_bdf(str(d.address)): i for i, d in enumerate(devices)}
    for bdf, rf in resources:
        where = f"{escape(rf.source)}:{rf.first_line}"
        if bdf is not None:
            i = by_bdf.get(_norm_bdf(bdf))
            if i is None:
                notes.append(f"{where}: resource file for {escape(bdf)}, which the listing does not "
                             "show: not used")
                continue
            own.setdefault(i, []).append(rf)
            continue
        m = _match_resource(rf, devices)
        if m is None:
            notes.append(f"{where}: its BAR addresses match no device of the listing (give it "
                         "as BDF=FILE): not used")
            continue
        i = devices.index(m[0])
        (vf0 if m[1] else own).setdefault(i, []).append(rf)
    out = []
    for i, d in enumerate(devices):
        out.append(_device(d, source, own.get(i, []), vf0.get(i, [])))
    return out, notes


def _device(d: PciDevice, source: str, own: list[ResourceFile], vf0: list[ResourceFile]) -> HostDevice:
    bars = []
    for k, r in enumerate(d.regions):
        b = _from_region(r, source)
        if b.index is None and k < 6:  # lspci -v: no "Region N:" (show_bases, verbose 1)
            b = replace(b, index=k, flags=(Flag("numbered", "lspci -v prints no BAR numbers: "
                                                            "numbered here by listing order"),))
        bars.append(b)
    sriov = d.sriov
    total = sriov.total_vfs if sriov is not None else None
    if sriov is not None:
        bars += [_from_region(r, source) for r in sriov.vf_regions]
    for rf in own:
        bars = _merge_sysfs(bars, rf, total)
    for rf in vf0:
        bars = _merge_vf0(bars, rf)
    msix = d.msix
    ms = (msix.table_bar, msix.table_offset, msix.pba_bar, msix.pba_offset) if msix else None
    express = d.express_type
    if express is None:
        known = [c for c in d.capabilities if c.offset is not None]
        express = "" if known else None
    return HostDevice(str(d.address), d.name, d.class_name, d.driver, tuple(bars), express,
                      f"{source}:{d.line}", total, sriov.num_vfs if sriov else None, ms,
                      d.class_id)


def _merge_sysfs(bars: list[HostBar], rf: ResourceFile, total_vfs: int | None) -> list[HostBar]:
    """BAR and IOV (VF BAR) sizes and addresses from a device's own resource file."""
    out = list(bars)
    src = f"{rf.source}"
    for r in rf.used():
        if r.role not in (ResourceRole.BAR, ResourceRole.VF_BAR):
            continue
        vf = r.role is ResourceRole.VF_BAR
        space = "io" if r.kind is ResourceKind.IO else "memory"
        size: int | None = r.size
        size_from = f"sysfs resource line {r.index}"
        if vf:
            assert size is not None
            if not total_vfs:
                size, size_from = None, ""
            elif size % total_vfs:
                size, size_from = None, ""
            else:
                size //= total_vfs
                size_from = f"sysfs IOV resource {r.index} / TotalVFs {total_vfs}"
        where = f"{escape(src)}:{r.line}"
        found = next((k for k, b in enumerate(out) if b.vf == vf and b.index == r.number), None)
        flags: tuple[Flag, ...] = ()
        if found is not None:
            b = out[found]
            if b.size is not None and size is not None and b.size != size:
                flags = (Flag("sizes-differ", f"lspci says {format_size(b.size)}, {where} says "
                                              f"{format_size(size)}: the sysfs size is used"),)
            out[found] = replace(b, address=r.start if b.address is None or b.note else b.address,
                                 note=None if r.start else b.note,
                                 size=size if size is not None else b.size,
                                 size_from=size_from if size is not None else b.size_from,
                                 flags=b.flags + flags)
        else:
            out.append(HostBar(r.number, vf, space, r.start, size,
                               r.prefetchable if space == "memory" else None,
                               (64 if r.is_64bit else 32) if space == "memory" else None,
                               where=where, size_from=size_from if size is not None else ""))
    return out


def _merge_vf0(bars: list[HostBar], rf: ResourceFile) -> list[HostBar]:
    """VF BAR sizes from VF 0's own resource file (its BAR n is VF BAR n of the PF)."""
    out = list(bars)
    for r in rf.used():
        if r.role is not ResourceRole.BAR or r.kind is not ResourceKind.MEM:
            continue
        found = next((k for k, b in enumerate(out) if b.vf and b.index == r.number), None)
        if found is not None and out[found].size is None:
            out[found] = replace(out[found], size=r.size,
                                 size_from=f"VF 0's sysfs resource line {r.index}")
    return out


# --- flags ------------------------------------------------------------------------------------


def _device_flags(d: HostDevice) -> list[Flag]:
    out = list(d.flags)
    if not any(b.space == "memory" for b in d.bars):
        return out  # nothing a guest could map: no more to say
    if d.driver is None:
        out.append(Flag("driver", "no driver known (lspci prints 'Kernel driver in use' with -k "
                                  "or -v; sysfs has a driver link when one is bound): the "
                                  "answers assume vfio-pci"))
    elif d.driver != "vfio-pci":
        out.append(Flag("driver", f"bound to {escape(d.driver)}, not vfio-pci: bind it to vfio-pci "
                                  "(driver_override) before a VMM can pass it through; the answers "
                                  "assume vfio-pci"))
    if d.express is None:
        out.append(Flag("not-pcie", "the capability list is not known (lspci -v, or the sysfs "
                                    "config file, as root): whether it is a PCIe endpoint is "
                                    "not known"))
    elif d.express == "":
        out.append(Flag("not-pcie", "conventional PCI (no PCI Express capability): the error "
                                    "containment the 6.9 change relies on is PCIe's"))
    elif "Integrated" in d.express:
        out.append(Flag("not-pcie", f"{escape(d.express)}: integrated in the root complex, it "
                                    "may sit on the SoC's own interconnect, not a PCIe link"))
    elif d.express not in ("Endpoint", "Legacy Endpoint"):
        out.append(Flag("not-pcie", f"a PCIe {escape(d.express)}, not an endpoint"))
    if d.total_vfs:
        out.append(Flag("driver", f"SR-IOV: {d.total_vfs} VFs possible, {d.num_vfs or 0} enabled; "
                                  "each VF is passed through on its own and must be bound to "
                                  "vfio-pci (the VF BAR answers are VF 0's)"))
    return out


def _bar_flags(d: HostDevice, b: HostBar, cfg: HostConfig) -> list[Flag]:
    out = list(b.flags)
    if b.space == "io":
        out.append(Flag("io-port", "I/O ports: arm64 has no I/O space instructions; vfio-pci "
                                   "offers this BAR through read/write on the device fd only, "
                                   "so the VMM emulates every access", False))
        return out
    if b.address is None:
        out.append(Flag("no-address", f"address {escape(b.note or 'unknown')}: nothing to map "
                                      "until the kernel assigns it (or a sysfs resource file "
                                      "gives it)", False))
    elif b.address == 0:
        out.append(Flag("no-address", "address 0: firmware and the kernel leave a BAR there when "
                                      "they did not assign it; the answers take it as given"))
    if b.size is None:
        why = ("lspci prints no VF BAR size; give the PF's sysfs resource file (its IOV line is "
               "TotalVFs x the VF BAR size)") if b.vf else "lspci printed no size"
        out.append(Flag("no-size", why, False))
    if b.disabled:
        out.append(Flag("disabled", "[disabled]: PCI_COMMAND memory decode is off now; vfio-pci "
                                    "turns it on when the VMM opens the device"))
    if b.bits == 32 and b.prefetchable is False:
        out.append(Flag("32-bit-np", "32-bit non-prefetchable: a register BAR below 4G in the "
                                     "bridge's non-prefetchable window; since 6.9 vfio-pci still "
                                     "lets the guest map it Normal-NC"))
    if b.prefetchable is False:
        out.append(Flag("side-effects", "non-prefetchable: reads may have side effects, and no "
                                        "listing says on which pages; a Normal-NC guest mapping "
                                        "permits speculative reads there (list the pages as "
                                        "read_side_effects in the scenario)"))
    if d.msix is not None and b.index is not None and not b.vf:
        tbar, toff, pbar, poff = d.msix
        parts = [f"{what} at offset 0x{off:x}" for what, bar_, off in
                 (("MSI-X table", tbar, toff), ("PBA", pbar, poff))
                 if bar_ == b.index and off is not None]
        if parts:
            out.append(Flag("msix", f"{' and '.join(parts)}: QEMU traps the page(s) holding "
                                    "them (the guest's accesses there exit to the VMM, whatever "
                                    "stage 2 says)"))
    if b.size is not None and b.size < cfg.page_size and cfg.page_size > _PAGE:
        # The model's pages are 4K: for a larger host page, vfio_pci_probe_mmaps's rule (a
        # sub-page BAR is mmap-able only when it starts a page) is applied with the host's page.
        cite = _sub_page_cite()
        if b.address is not None and b.address % cfg.page_size:
            out.append(Flag("not-mmap", f"{format_size(b.size)} BAR not starting a "
                                        f"{format_size(cfg.page_size)} page: vfio-pci does not "
                                        f"allow mmap (vfio_pci_probe_mmaps; {cite}), so the VMM "
                                        "emulates every access"))
        else:
            out.append(Flag("sub-page", f"{format_size(b.size)}, smaller than the host's "
                                        f"{format_size(cfg.page_size)} page: vfio-pci maps the "
                                        f"page and reserves the rest of it (vfio_pci_probe_mmaps; "
                                        f"{cite}); the model's pages are 4K"))
    return out


# --- the scenario ---------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped, and
    lone surrogates (undecodable bytes) replaced, so any input gives a loadable file."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True)
class _Planned:
    device: HostDevice
    bar: HostBar
    key: str  # the scenario's name stem: '05:00.0 BAR0'
    ipa: int | None
    flags: tuple[Flag, ...]
    memslot: bool  # a VMM mapping and memslot back it (else: no memslot, MMIO exit)


@dataclass(frozen=True)
class _Plan:
    text: str
    planned: tuple[_Planned, ...]
    device_flags: dict[str, tuple[Flag, ...]]


def _device_name(d: HostDevice) -> str:
    return d.address


def _bar_key(d: HostDevice, b: HostBar) -> str:
    return f"{d.address} {b.name}"


_ECAM_SIZE = 256 << 20  # 256 buses x 1 MiB (PCI Express Base Specification, ECAM)


def _ecam(taken: list[tuple[int, int, str]], top: int) -> int:
    """An ECAM base clear of every BAR: QEMU virt's high ECAM if free, else the first free
    256 MiB-aligned window."""
    from ..analysis.scenario import DEFAULT_ECAM

    def free(base: int) -> bool:
        return base + _ECAM_SIZE <= top and not any(lo < base + _ECAM_SIZE and base < hi
                                                      for lo, hi, _k in taken)

    if free(DEFAULT_ECAM):
        return DEFAULT_ECAM
    base = _ECAM_SIZE
    while not free(base):
        base += _ECAM_SIZE
        if base >= top:
            raise ConfigError("the BARs leave no 256 MiB window for the PCIe ECAM below the "
                              "CPU's physical address size")
    return base


def _head(cfg: HostConfig, sources: tuple[str, ...], ecam: int | None = None) -> list[str]:
    lines = ["# Written by `memattr host`: every memory BAR passed to a guest with vfio-pci, one",
             "# memslot each (from the guest window at 2**(ipa_bits-1)), and one guest mapping per",
             "# ioremap variant.  `memattr run` replays it; edit it to change the setup",
             "# (docs/scenarios.md).",
             f"name = {toml_string('host')}",
             f"description = {toml_string(('from ' + ', '.join(sources))[:4000])}",
             "policies = [" + ", ".join(toml_string(p) for p in cfg.policies) + "]",
             "",
             "[cpu]",
             f"name = {toml_string(cfg.cpu)}",
             "fwb = [" + ", ".join("true" if f else "false" for f in cfg.fwb) + "]"]
    if cfg.dic is not None:
        lines.append(f"dic = {'true' if cfg.dic else 'false'}")
    if cfg.mte is not None:
        lines.append(f"mte = {'true' if cfg.mte else 'false'}")
    if ecam is not None:
        lines += ["", "[pcie]", f"ecam = 0x{ecam:x}  # clear of every BAR"]
    return lines


def _bar_toml(table: str, b: HostBar) -> list[str]:
    out = ["", f"[[{table}]]", f"index = {b.index}", f"base = 0x{b.address:x}",
           f"size = 0x{b.size:x}", f"prefetchable = {'true' if b.prefetchable else 'false'}",
           f"bits = {b.bits or 64}"]
    if not b.prefetchable:
        out.append("# read_side_effects = [0]  # the 4K pages whose reads have side effects "
                   "(no listing says)")
    return out


def _device_toml(d: HostDevice, bars: list[_Planned]) -> list[str]:
    out = ["", "[[device]]", f"name = {toml_string(_device_name(d))}", 'kind = "pcie"',
           f"bdf = {toml_string(d.address)}"]
    if any(p.bar.vf for p in bars):
        out.append("num_vfs = 1  # VF 0 stands for every VF")
    for p in bars:
        if not p.bar.vf:
            out += _bar_toml("device.bar", p.bar)
    for p in bars:
        if p.bar.vf:
            out += _bar_toml("device.vf_bar", p.bar)
    return out


def _platform_check(devs: list[tuple[HostDevice, list[_Planned]]], cfg: HostConfig,
                    sources: tuple[str, ...], ecam: int) -> dict[str, tuple[str, str]]:
    """Ask the Linux model whether vfio-pci mmaps each BAR: load the devices alone, build the
    platform and run ``vfio_pci_core_mmap`` on it.  Returns, by BAR key, ('not-mmap', why) for
    a refusal and ('sub-page', '') for a sub-page BAR mapped with the rest of its page reserved."""
    from ..analysis.replay import build_platform
    from ..analysis.scenario import loads
    from ..linux.decisions import KernelRule
    from ..linux.mmap import VfioPciBar, mmap_source
    from ..linux.policy import get_policy

    lines = _head(cfg, sources, ecam)
    for d, ps in devs:
        lines += _device_toml(d, ps)
    sc = loads("\n".join(lines) + "\n", "<host devices>")
    platform = build_platform(sc)
    release = get_policy(cfg.policies[0]).release
    out: dict[str, tuple[str, str]] = {}
    for d, ps in devs:
        for p in ps:
            src = VfioPciBar(_device_name(d), p.bar.index or 0, 0 if p.bar.vf else None)
            try:
                vma = mmap_source(platform, src, release=release, hva=0x7F00_0000_0000)
            except ConfigError as exc:
                out[p.key] = ("not-mmap", str(exc))
                continue
            if any(x.rule is KernelRule.vfio_pci_probe_mmaps and x.branch == "sub_page_reserved"
                   for x in vma.decisions):
                out[p.key] = ("sub-page", "")
    return out


def host_scenario(devices: list[HostDevice], cfg: HostConfig,
                  sources: tuple[str, ...] = ()) -> _Plan:
    """The scenario text for ``devices`` and what each BAR became in it."""
    pa_top = _pa_top(cfg.cpu)
    planned: list[_Planned] = []
    device_flags: dict[str, tuple[Flag, ...]] = {}
    taken: list[tuple[int, int, str]] = []
    per_device: list[tuple[HostDevice, list[_Planned]]] = []
    ipa_top = 1 << cfg.ipa_bits
    cursor = 1 << (cfg.ipa_bits - GUEST_WINDOW_BITS)
    seen: set[str] = set()
    modelled = 0
    for d in devices:
        twice = _norm_bdf(d.address) in seen
        seen.add(_norm_bdf(d.address))
        device_flags[d.address] = tuple(_device_flags(d)) + (
            (Flag("overlap", f"{escape(d.address)} is listed twice: the second is left out",
                  False),) if twice else ())
        mine: list[_Planned] = []
        for b in d.bars:
            flags = _bar_flags(d, b, cfg)
            key = _bar_key(d, b)
            if twice:
                flags.append(Flag("overlap", "its function is listed twice: left out", False))
            elif b.space == "memory" and modelled >= MAX_BARS:
                flags.append(Flag("overlap", f"more than {MAX_BARS} BARs in one listing: left out "
                                             "(pass fewer devices, e.g. lspci -s)", False))
            usable = all(f.modelled for f in flags) and b.space == "memory" and \
                b.address is not None and b.size is not None and b.index is not None
            if usable:
                assert b.address is not None and b.size is not None
                if b.size < 16 or b.size & (b.size - 1):
                    flags.append(Flag("no-size", f"size 0x{b.size:x} is not a power of two >= 16: "
                                                 "not a BAR size", False))
                    usable = False
                elif b.bits == 32 and b.address + b.size * (
                        max(d.total_vfs or 1, 1) if b.vf else 1) > 1 << 32:
                    flags.append(Flag("overlap", f"a 32-bit BAR at 0x{b.address:x}, above 4 GiB: "
                                                 "not a BAR address", False))
                    usable = False
                elif b.address % b.size:
                    flags.append(Flag("overlap", f"0x{b.address:x} is not aligned to its size "
                                                 f"{format_size(b.size)}: not a BAR address",
                                      False))
                    usable = False
                elif b.address + b.size * (1 if not b.vf else max(d.total_vfs or 1, 1)) > pa_top:
                    flags.append(Flag("beyond-pa", f"ends beyond the {pa_top.bit_length() - 1}-bit "
                                                   f"physical address space of cpu "
                                                   f"{escape(cfg.cpu)}", False))
                    usable = False
            if usable:
                assert b.address is not None and b.size is not None
                end = b.address + b.size * (max(d.total_vfs or 1, 1) if b.vf else 1)
                clash = next((k for lo, hi, k in taken if lo < end and b.address < hi), None)
                if clash is not None:
                    flags.append(Flag("overlap", f"overlaps {escape(clash)}: left out", False))
                    usable = False
                else:
                    taken.append((b.address, end, key))
            ipa = None
            memslot = False
            if usable:
                assert b.size is not None
                span = max(b.size, _PAGE)
                ipa = (cursor + span - 1) // span * span
                cursor = ipa + span
                memslot = not any(f.kind == "not-mmap" for f in flags)
                if ipa + span > ipa_top:
                    flags.append(Flag("beyond-ipa", f"placed at IPA 0x{ipa:x}, it ends beyond the "
                                                    f"guest's {cfg.ipa_bits}-bit IPA space "
                                                    f"(0x{ipa_top:x}): KVM refuses the memslot"))
            p = _Planned(d, b, key, ipa, tuple(flags), memslot)
            planned.append(p)
            if usable:
                mine.append(p)
                modelled += 1
        per_device.append((d, mine))
    ecam = _ecam(taken, pa_top)
    refused = _platform_check([(d, ps) for d, ps in per_device if ps], cfg, sources, ecam) \
        if any(ps for _d, ps in per_device) else {}
    for i, p in enumerate(planned):
        kind, why = refused.get(p.key, ("", ""))
        if kind == "not-mmap" and p.memslot:
            planned[i] = replace(p, memslot=False, flags=p.flags + (
                Flag("not-mmap", f"the model's vfio-pci refuses mmap: {escape(why)}; the VMM "
                                 "emulates every access"),))
        elif kind == "sub-page" and not any(f.kind == "sub-page" for f in p.flags):
            planned[i] = replace(p, flags=p.flags + (
                Flag("sub-page", "smaller than a page: the model's vfio_pci_probe_mmaps maps the "
                                 f"page and reserves the rest of it ({_sub_page_cite()})"),))
    lines = _head(cfg, sources, ecam)
    for d, mine in per_device:
        ps = [p for p in planned if p.device is d and p.ipa is not None]
        if mine:
            lines += _device_toml(d, ps)
    for p in planned:
        if p.ipa is None or not p.memslot:
            continue
        lines += ["", "[[vmm_mapping]]", f"name = {toml_string(p.key)}", 'source = "vfio-pci"',
                  f"device = {toml_string(_device_name(p.device))}", f"bar = {p.bar.index}"]
        if p.bar.vf:
            lines.append("vf = 0")
        lines += ["", "[[memslot]]", f"mapping = {toml_string(p.key)}", f"ipa = 0x{p.ipa:x}"]
    for p in planned:
        if p.ipa is None:
            continue
        for api, _label in VARIANTS:
            lines += ["", "[[guest_mapping]]", f"name = {toml_string(p.key + ' ' + api)}"]
            if p.memslot:
                lines.append(f"target = {toml_string(p.key)}")
            else:
                lines.append(f"ipa = 0x{p.ipa:x}  # no memslot: vfio-pci does not mmap it")
            lines.append(f'api = "{api}"')
    return _Plan("\n".join(lines) + "\n", tuple(planned), device_flags)


def _pa_top(cpu: str) -> int:
    from ..arch.cpu import get_cpu

    return 1 << get_cpu(cpu).pa_max


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BarAnswer:
    """One BAR: where the guest sees it, what needs care, and a row per ioremap variant."""

    device: HostDevice
    bar: HostBar
    ipa: int | None
    memslot: bool
    flags: tuple[Flag, ...]
    rows: tuple[Row, ...] = ()
    hazards: tuple[HazardNote, ...] = ()

    @property
    def modelled(self) -> bool:
        return self.ipa is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device.address, "bar": self.bar.to_json(),
            "ipa": hex(self.ipa) if self.ipa is not None else None, "memslot": self.memslot,
            "flags": [f.to_json() for f in self.flags],
            "answers": [{"api": r.mapping.rsplit(" ", 1)[1], "guest_s1": r.asks, "vmm_s1": r.vmm,
                         "cells": [{"policy": c.policy, "answer": c.text, "by_fwb": list(c.by_fwb),
                                    "s2_memattr": list(c.s2), "differs": c.differs}
                                   for c in r.cells]} for r in self.rows],
            "hazards": [h.to_json() for h in self.hazards],
        }


@dataclass(frozen=True, slots=True)
class HazardNote:
    """A hazard (or note, or open question) of one BAR, with where it arises.

    :param level: 'note', 'unknown' or 'hazard' (:data:`memattr.analysis.hazards.LEVELS`).
    :param policies: the policies it arises under; :param fwb: the FWB settings (empty: all);
    :param apis: the guest mapping calls.
    """

    level: str
    kind: str
    text: str
    policies: tuple[str, ...]
    fwb: tuple[bool, ...]
    apis: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "kind": self.kind, "text": self.text,
                "policies": list(self.policies), "fwb": list(self.fwb), "apis": list(self.apis)}

    def __str__(self) -> str:
        fwb = "" if len(self.fwb) != 1 else f", FWB {'on' if self.fwb[0] else 'off'} only"
        return (f"{self.level}: {self.kind} ({', '.join(self.policies)}{fwb}; "
                f"{', '.join(self.apis)}): {self.text}")


@dataclass(frozen=True)
class HostReport:
    """Everything ``memattr host`` says."""

    config: HostConfig
    sources: tuple[str, ...]
    devices: tuple[HostDevice, ...]
    bars: tuple[BarAnswer, ...]
    device_flags: dict[str, tuple[Flag, ...]]
    scenario_text: str
    notes: tuple[str, ...] = ()
    replay: Replay | None = field(default=None, repr=False, compare=False)

    @property
    def found(self) -> set[str]:
        """What ``--fail-on`` can name that the answers contain: 'hazard', 'fault'."""
        out: set[str] = set()
        for b in self.bars:
            if any(h.level == "hazard" for h in b.hazards):
                out.add("hazard")
        if self.replay is not None:
            for r in self.replay.results:
                if r.evaluation.errno is not None or r.evaluation.injected:
                    out.add("fault")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "sources": list(self.sources),
                "notes": list(self.notes),
                "devices": [dict(d.to_json(), flags=[f.to_json() for f in
                                                     self.device_flags.get(d.address, ())])
                            for d in self.devices],
                "bars": [b.to_json() for b in self.bars]}


def answer(devices: list[HostDevice], cfg: HostConfig, sources: tuple[str, ...] = (),
           extra: tuple[str, ...] = ()) -> HostReport:
    """The Linux model's answer for each BAR of ``devices`` under ``cfg``.

    :param devices: host devices (from :func:`devices_from_lspci` or a live host).
    :param cfg: policies, FWB settings, CPU, host page size, guest IPA size.
    :param sources: the files the devices came from (named in the scenario's description).
    :param extra: notes from the caller (files that matched nothing ...).
    """
    from ..analysis.compare import compare
    from ..analysis.replay import replay
    from ..analysis.scenario import loads
    from ..linux.kvm.features import VmConfig

    plan = host_scenario(devices, cfg, sources)
    rp = None
    rows: dict[str, Row] = {}
    hazards: dict[str, dict[tuple[str, str, str], tuple[dict[str, None], dict[bool, None],
                                                        dict[str, None]]]] = {}
    if any(p.ipa is not None for p in plan.planned):
        sc = loads(plan.text, "<host scenario>")
        try:
            limit = cfg.ipa_limit if cfg.ipa_limit is not None else max(cfg.ipa_bits, 48)
            rp = replay(sc, vm=VmConfig(ipa_bits=cfg.ipa_bits),
                        host={"page_size": cfg.page_size, "ipa_limit": limit})
        except MemattrError as exc:
            raise ConfigError(f"the model could not replay the host's devices: {exc}") from None
        rows = {r.mapping: r for r in compare(rp).rows}
        for r in rp.results:
            stem = r.mapping.name.rsplit(" ", 1)[0]
            for h in r.hazards:
                if h.level == "ok":
                    continue
                pols, fwbs, apis = hazards.setdefault(stem, {}).setdefault(
                    (h.level, h.kind, h.text), ({}, {}, {}))
                pols[r.policy_name] = None
                fwbs[r.fwb] = None
                apis[r.mapping.name.rsplit(" ", 1)[1]] = None
    out = []
    for p in plan.planned:
        mine = tuple(rows[f"{p.key} {api}"] for api, _l in VARIANTS if f"{p.key} {api}" in rows)
        notes = tuple(HazardNote(lv, kind, text, tuple(pols),
                                 () if len(fwbs) == len(cfg.fwb) else tuple(fwbs), tuple(apis))
                      for (lv, kind, text), (pols, fwbs, apis) in hazards.get(p.key, {}).items())
        out.append(BarAnswer(p.device, p.bar, p.ipa, p.memslot, p.flags, mine, notes))
    return HostReport(cfg, sources, tuple(devices), tuple(out), plan.device_flags, plan.text,
                      extra, rp)


# --- text ------------------------------------------------------------------------------------


def render_host(rep: HostReport, *, hazards: bool = True) -> str:
    """The report as text: per device its flags, per BAR a table of variant x policy."""
    cfg = rep.config
    fwb = " / ".join("FWB" if f else "no FWB" for f in cfg.fwb)
    head = [f"host: {len(rep.devices)} PCI function{'s' if len(rep.devices) != 1 else ''} from "
            + (", ".join(escape(s) for s in rep.sources) or "nowhere"),
            f"kernel {escape(cfg.kernel) if cfg.kernel else 'not given'}; policies "
            f"{', '.join(escape(p) for p in cfg.policies)}; cpu {escape(cfg.cpu)}; "
            f"{'FWB ' + ('on' if cfg.fwb[0] else 'off') if len(cfg.fwb) == 1 else 'cells a / b = ' + fwb}"
            f"; host pages {format_size(cfg.page_size)}; guest IPA {cfg.ipa_bits} bits"]
    out = head + [f"note: {n}" for n in rep.notes]
    for d in rep.devices:
        out.append("")
        drv = f"  [{escape(d.driver)}]" if d.driver else ""
        out.append(f"{escape(d.address)} {escape(d.class_name)}: {escape(d.name)}{drv}")
        for f in rep.device_flags.get(d.address, ()):
            out.append(f"  care: {f.text}")
        mine = [b for b in rep.bars if b.device is d]
        if not mine:
            out.append("  no BARs")
        for b in mine:
            where = f" -> guest IPA 0x{b.ipa:x}" if b.ipa is not None else " (not modelled)"
            out.append(f"  {b.bar.name}: {b.bar.describe()}{where}")
            for f in b.flags:
                out.append(f"    care: {f.text}")
            if b.rows:
                out += _table(b.rows, cfg)
            if hazards:
                for h in b.hazards:
                    out.append(f"    {h}")
    return "\n".join(out) + "\n"


def _table(rows: tuple[Row, ...], cfg: HostConfig) -> list[str]:
    labels = dict(VARIANTS)
    head = ["guest maps with"] + [escape(p) for p in cfg.policies]
    body = []
    for r in rows:
        api = r.mapping.rsplit(" ", 1)[1]
        cells = [f"{'*' if c.differs else ' '}{c.text}" for c in r.cells]
        body.append([f"{labels.get(api, api)} ({r.asks})"] + cells)
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    lines = ["    " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for row in body:
        lines.append("    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines
