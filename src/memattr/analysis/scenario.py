"""Scenario files: a host, a VMM, KVM memslots, a guest and the policies to compare, in TOML.

:func:`load` reads a file (:func:`loads` a string) with the standard library's ``tomllib``,
checks it against the schema below and returns a :class:`Scenario`.  Every error names the file,
the line and the key: ``demo.toml:12: vmm_mapping[1].source: 'vfio-pcie' is not a mapping source
(expected one of ...)``.  Syntax and type errors raise :class:`~memattr.errors.ParseError`;
well-formed but impossible content (an unknown policy, a dangling reference, overlapping regions)
raises :class:`~memattr.errors.ConfigError`.

The schema (docs/scenarios.md has the commented example)::

    name, description              strings (optional)
    policy | policies              a policy name or a list of them (required; see POLICIES)
    [cpu]                          fwb (bool or list of bools), dic, mte, xs, hcr_cd
    [host]                         bits (64 or 32: BITS_PER_LONG), release (optional)
    [pcie]                         ecam, windows, aer, dpc, root_complex_errors, containment
    [[ram]]                        name, base, size, linear_map
    [[device]]                     name, kind = pcie | platform | gicv2 | nvgrace-gpu, ...
    [[device.bar]]                 index, base, size, prefetchable, bits, read_side_effects
    [[device.vf_bar]]              as [[device.bar]], for SR-IOV VFs (with num_vfs)
    [[vmm_mapping]]                name, source (see SOURCES), device, bar, region, offset, size...
    [[memslot]]                    mapping, ipa, size, offset, slot, readonly
    [guest]                        mmu, mair_el1
    [[guest_mapping]]              name, ipa | target (+ offset), size, api | attr | attr_index, sh
    [[access]]                     mapping, op = read | write | exec, size, offset, instr
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, MemattrError, ParseError
from .tomlpos import KeyPath, format_path, key_lines, line_of

__all__ = [
    "SOURCES",
    "DEVICE_KINDS",
    "GUEST_APIS",
    "ACCESS_OPS",
    "INSTR_CLASSES",
    "DEFAULT_ECAM",
    "Cpu",
    "BarSpec",
    "DeviceSpec",
    "RamSpec",
    "PcieSpec",
    "VmmMappingSpec",
    "MemslotSpec",
    "GuestSpec",
    "GuestMappingSpec",
    "AccessSpec",
    "Scenario",
    "load",
    "loads",
    "parse_size",
    "policy_names",
    "bundled",
    "bundled_path",
]

SOURCES: dict[str, str] = {
    "vfio-pci": "a PCIe BAR mmapped from a vfio-pci device fd (vfio_pci_core_mmap)",
    "nvgrace-gpu-resmem": "nvgrace-gpu resmem, the write-combined fake BAR2 (nvgrace_gpu_mmap)",
    "nvgrace-gpu-usemem": "nvgrace-gpu usemem, the cacheable fake BAR4 (nvgrace_gpu_mmap)",
    "vfio-platform": "a platform device region from a vfio-platform fd (vfio_platform_mmap_mmio)",
    "sysfs-resource": "PCI sysfs resourceN (pci_mmap_resource_range, pgprot_device)",
    "sysfs-resource-wc": "PCI sysfs resourceN_wc (pci_mmap_resource_range, pgprot_writecombine)",
    "dev-mem": "/dev/mem at a physical address (mmap_mem)",
    "anon": "anonymous RAM (MAP_PRIVATE|MAP_ANONYMOUS)",
    "hugetlb": "hugetlbfs RAM (hugetlbfs_file_mmap)",
    "gicv": "the GICv2 virtual CPU interface, mapped by KVM itself (kvm_phys_addr_ioremap)",
}
"""The ``source`` values of ``[[vmm_mapping]]``, with the kernel path each one runs."""

DEVICE_KINDS = ("pcie", "platform", "gicv2", "nvgrace-gpu")
"""The ``kind`` values of ``[[device]]``."""

GUEST_APIS: dict[str, str] = {
    "ioremap": "Device-nGnRE (MT_DEVICE_nGnRE)",
    "ioremap_np": "Device-nGnRnE (MT_DEVICE_nGnRnE, non-posted)",
    "ioremap_wc": "Normal-NC (MT_NORMAL_NC, pgprot_writecombine)",
    "ioremap_cache": "Normal-WB (MT_NORMAL)",
    "memremap_wb": "Normal-WB (MT_NORMAL)",
    "memremap_wc": "Normal-NC (MT_NORMAL_NC)",
    "resource_wc": "Normal-NC: PCI sysfs resourceN_wc mmapped in guest userspace",
    "mmu_off": "guest stage 1 off (SCTLR_EL1.M=0): data accesses are Device-nGnRnE",
}
"""The ``api`` values of ``[[guest_mapping]]`` (a Linux guest), with the type each one asks for."""

ACCESS_OPS = ("read", "write", "exec")
"""The ``op`` values of ``[[access]]``."""

INSTR_CLASSES: dict[str, str] = {
    "ldr": "a single general-purpose register load/store, no writeback (ESR ISV=1)",
    "ldr-writeback": "a load/store with pre/post-index writeback (ISV=0)",
    "ldp": "a load/store pair (ISV=0)",
    "simd": "a SIMD&FP register load/store (ISV=0)",
    "exclusive": "a load/store exclusive (ISV=0)",
    "atomic": "a FEAT_LSE atomic (ISV=0)",
}
"""The ``instr`` values of ``[[access]]``: the instruction making a data access."""

DEFAULT_ECAM = 0x40_1000_0000
"""Where the PCIe ECAM window goes when ``[pcie] ecam`` is not given."""

def policy_names() -> tuple[str, ...]:
    """The policy names a scenario may use: every policy in the Linux model's registry."""
    from ..linux.policy import policies

    return tuple(policies())


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cpu:
    """Host CPU features and controls.

    :param fwb: FEAT_S2FWB as used by KVM (HCR_EL2.FWB), one value per run to compare.
    :param dic: CTR_EL0.DIC; :param mte: FEAT_MTE2 enabled; :param xs: FEAT_XS.
    :param hcr_cd: HCR_EL2.CD (the emulator path: non-Device results become NC).
    """

    fwb: tuple[bool, ...] = (True,)
    dic: bool = True
    mte: bool = False
    xs: bool = True
    hcr_cd: bool = False


@dataclass(frozen=True, slots=True)
class BarSpec:
    """A PCIe memory BAR (``[[device.bar]]``)."""

    index: int
    base: int
    size: int
    prefetchable: bool = True
    bits: int = 64
    read_side_effects: tuple[int, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A host device (``[[device]]``); which fields apply depends on ``kind``."""

    name: str
    kind: str
    line: int = 0
    bdf: str = ""
    bars: tuple[BarSpec, ...] = ()
    num_vfs: int = 0
    vf_bars: tuple[BarSpec, ...] = ()
    base: int = 0
    size: int = 0
    errors: str = "uncontained"
    response: str = "SLVERR"
    unaligned: str = "unknown"
    read_side_effects: tuple[int, ...] = ()
    usemem: tuple[int, int] = (0, 0)
    resmem: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class RamSpec:
    """Host RAM (``[[ram]]``)."""

    name: str
    base: int
    size: int
    linear_map: bool = True
    line: int = 0


@dataclass(frozen=True, slots=True)
class PcieSpec:
    """The PCIe root complex (``[pcie]``): ECAM, host-bridge windows, error handling."""

    ecam: int = 0x40_1000_0000  # DEFAULT_ECAM
    windows: tuple[tuple[int, int], ...] = ()
    aer: bool = False
    dpc: bool = False
    root_complex_errors: bool = False
    containment: str = "contained"


@dataclass(frozen=True, slots=True)
class VmmMappingSpec:
    """A VMM mapping (``[[vmm_mapping]]``): what the VMM mmapped, or GICV that KVM maps itself.

    :param allow_any_uncached: what-if: force VM_ALLOW_ANY_UNCACHED on (True) or off (False) in
        the VMA the kernel path built; None keeps the kernel's choice.
    """

    name: str
    source: str
    line: int = 0
    device: str = ""
    bar: int = 0
    vf: int | None = None
    offset: int = 0
    size: int | None = None
    phys: int | None = None
    o_sync: bool = False
    page_size: int = 2 << 20
    ipa: int | None = None
    allow_any_uncached: bool | None = None


@dataclass(frozen=True, slots=True)
class MemslotSpec:
    """A memslot (``[[memslot]]``): KVM_SET_USER_MEMORY_REGION over a VMM mapping."""

    slot: int
    mapping: str
    ipa: int
    size: int | None = None
    offset: int = 0
    readonly: bool = False
    line: int = 0


@dataclass(frozen=True, slots=True)
class GuestSpec:
    """The guest (``[guest]``): a Linux guest by default, or a raw MAIR_EL1."""

    mmu: bool = True
    mair_el1: int | None = None


@dataclass(frozen=True, slots=True)
class GuestMappingSpec:
    """A guest stage-1 mapping (``[[guest_mapping]]``) of ``size`` bytes at ``ipa``.

    Exactly one of ``api`` (a Linux guest API), ``attr`` (a raw MAIR attribute byte) or
    ``attr_index`` (an index into ``[guest] mair_el1``) says its type.
    """

    name: str
    ipa: int
    size: int = 4096
    api: str | None = None
    attr: int | None = None
    attr_index: int | None = None
    sh: int | None = None
    target: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class AccessSpec:
    """A guest access to replay (``[[access]]``): at ``offset`` inside a guest mapping."""

    mapping: str
    op: str = "read"
    size: int = 8
    offset: int = 0
    instr: str = "ldr"
    line: int = 0

    @property
    def aligned(self) -> bool:
        return self.offset % self.size == 0


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario file."""

    path: str
    name: str
    description: str
    policies: tuple[str, ...]
    cpu: Cpu
    bits: int
    pcie: PcieSpec
    ram: tuple[RamSpec, ...]
    devices: tuple[DeviceSpec, ...]
    vmm_mappings: tuple[VmmMappingSpec, ...]
    memslots: tuple[MemslotSpec, ...]
    guest: GuestSpec
    guest_mappings: tuple[GuestMappingSpec, ...]
    accesses: tuple[AccessSpec, ...]
    lines: dict[KeyPath, int] = field(default_factory=dict, repr=False, compare=False)

    def where(self, *path: str | int) -> str:
        """'file:line' of a key path, for messages raised after loading."""
        line = line_of(self.lines, tuple(path))
        return f"{self.path}:{line}" if line else self.path

    def device(self, name: str) -> DeviceSpec:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def vmm_mapping(self, name: str) -> VmmMappingSpec:
        for m in self.vmm_mappings:
            if m.name == name:
                return m
        raise KeyError(name)


# --- the reader ---------------------------------------------------------------------------------

T = TypeVar("T")

_SIZE = re.compile(r"^\s*(0x[0-9a-f_]+|0b[01_]+|[0-9_]+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: object) -> int:
    """A size or address: an integer, or a string such as '16M', '4KiB', '0x1000', '2G'."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(m.group(1).replace("_", ""), 0) * _UNITS[m.group(2).lower()]
    raise ValueError(f"{value!r} is not a number or a size such as '16M'")


class _Reader:
    """Typed access to the parsed TOML with file:line: key errors."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = key_lines(text)

    def where(self, path: KeyPath) -> str:
        """'file:line' of ``path``; a top-level key that is absent points at line 1."""
        line = line_of(self.lines, path)
        return f"{self.path}:{line if line is not None else 1}"

    def fail(self, path: KeyPath, message: str, kind: type[MemattrError] = ParseError) -> MemattrError:
        return kind(f"{self.where(path)}: {format_path(path)}: {message}")

    def table(self, data: dict[str, Any], path: KeyPath, allowed: Iterable[str]) -> dict[str, Any]:
        """Check a table has no unknown keys (a typo must not pass silently)."""
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                raise self.fail(path + (key,), f"unknown key (expected one of {', '.join(allowed)})")
        return data

    def get(
        self,
        data: dict[str, Any],
        path: KeyPath,
        key: str,
        conv: Callable[[Any], T],
        what: str,
        default: T | None = None,
        required: bool = False,
    ) -> T:
        if key not in data:
            if required:
                raise self.fail(path + (key,), f"missing required key ({what})")
            return default  # type: ignore[return-value]
        try:
            return conv(data[key])
        except (ValueError, TypeError) as exc:
            detail = str(exc) or f"{data[key]!r}"
            raise self.fail(path + (key,), f"expected {what} (got {_show(data[key])}): {detail}"
                            if detail != f"{data[key]!r}" else
                            f"expected {what} (got {_show(data[key])})") from None

    def array(self, data: dict[str, Any], path: KeyPath, key: str) -> list[dict[str, Any]]:
        """An array of tables (``[[key]]``), or an empty list."""
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(path + (key,), f"expected an array of tables [[{key}]] "
                                           f"(got {_show(value)})")
        return value

    def subtable(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail((key,), f"expected a table [{key}] (got {_show(value)})")
        return value


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{v!r}")
    return v


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{v!r}")
    return v


def _int(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{v!r}")
    return v


def _size(v: object) -> int:
    n = parse_size(v)
    if n < 0:
        raise ValueError("must not be negative")
    return n


def _int_list(v: object) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise TypeError(f"{v!r}")
    return tuple(_int(x) for x in v)


def _bool_or_list(v: object) -> tuple[bool, ...]:
    if isinstance(v, bool):
        return (v,)
    if isinstance(v, list) and v and all(isinstance(x, bool) for x in v):
        return tuple(dict.fromkeys(v))
    raise TypeError(f"{v!r}")


def _choice(options: Iterable[str]) -> Callable[[object], str]:
    opts = tuple(options)

    def conv(v: object) -> str:
        if not isinstance(v, str):
            raise TypeError(f"{v!r}")
        if v not in opts:
            raise ValueError(f"{v!r} is not one of {', '.join(opts)}")
        return v

    return conv


# --- sections -----------------------------------------------------------------------------------

_TOP = ("name", "description", "policy", "policies", "cpu", "host", "pcie", "ram", "device",
        "vmm_mapping", "memslot", "guest", "guest_mapping", "access")


def _policies(r: _Reader, data: dict[str, Any]) -> tuple[str, ...]:
    if "policy" in data and "policies" in data:
        raise r.fail(("policies",), "give either policy or policies, not both")
    if "policy" in data:
        names: tuple[str, ...] = (r.get(data, (), "policy", _str, "a policy name as a string"),)
        key = "policy"
    elif "policies" in data:
        raw = data["policies"]
        if not isinstance(raw, list) or not raw:
            raise r.fail(("policies",), f"expected a non-empty array of policy names "
                                        f"(got {_show(raw)})")
        listed: list[str] = []
        for i, v in enumerate(raw):
            if not isinstance(v, str):
                raise r.fail(("policies", i), f"expected a policy name as a string (got {_show(v)})")
            listed.append(v)
        names = tuple(listed)
        key = "policies"
    else:
        raise r.fail(("policies",), "missing required key (a policy name, or a list of them, "
                                    f"e.g. policies = [\"6.8\", \"6.9\"]; known: "
                                    f"{', '.join(policy_names())})")
    from ..linux.policy import get_policy

    for i, name in enumerate(names):
        try:
            get_policy(name)
        except ConfigError:
            path: KeyPath = (key,) if key == "policy" else (key, i)
            raise r.fail(path, f"unknown policy {name!r} (known: {', '.join(policy_names())}, "
                               "or a release such as 6.12)", ConfigError) from None
    return tuple(dict.fromkeys(names))


def _cpu(r: _Reader, data: dict[str, Any]) -> Cpu:
    t = r.table(r.subtable(data, "cpu"), ("cpu",), ("fwb", "dic", "mte", "xs", "hcr_cd"))
    p: KeyPath = ("cpu",)
    return Cpu(
        fwb=r.get(t, p, "fwb", _bool_or_list, "true, false or a list such as [false, true]",
                  (True,)),
        dic=r.get(t, p, "dic", _bool, "true or false", True),
        mte=r.get(t, p, "mte", _bool, "true or false", False),
        xs=r.get(t, p, "xs", _bool, "true or false", True),
        hcr_cd=r.get(t, p, "hcr_cd", _bool, "true or false", False),
    )


def _host(r: _Reader, data: dict[str, Any]) -> int:
    t = r.table(r.subtable(data, "host"), ("host",), ("bits",))

    def bits(v: object) -> int:
        if _int(v) not in (32, 64):
            raise ValueError("must be 32 or 64")
        return int(v)  # type: ignore[call-overload]

    return r.get(t, ("host",), "bits", bits, "the kernel word size, 64 or 32", 64)


def _pcie(r: _Reader, data: dict[str, Any]) -> PcieSpec:
    t = r.table(r.subtable(data, "pcie"), ("pcie",),
                ("ecam", "windows", "aer", "dpc", "root_complex_errors", "containment"))
    p: KeyPath = ("pcie",)
    windows: list[tuple[int, int]] = []
    raw = t.get("windows", [])
    if not isinstance(raw, list):
        raise r.fail(p + ("windows",), f"expected an array of {{base, size}} tables "
                                       f"(got {_show(raw)})")
    for i, w in enumerate(raw):
        wp = p + ("windows", i)
        if not isinstance(w, dict):
            raise r.fail(wp, f"expected a table {{base = .., size = ..}} (got {_show(w)})")
        r.table(w, wp, ("base", "size"))
        windows.append((r.get(w, wp, "base", _size, "an address", required=True),
                        r.get(w, wp, "size", _size, "a size such as '64G'", required=True)))
    return PcieSpec(
        ecam=r.get(t, p, "ecam", _size, "an address", DEFAULT_ECAM),
        windows=tuple(windows),
        aer=r.get(t, p, "aer", _bool, "true or false", False),
        dpc=r.get(t, p, "dpc", _bool, "true or false", False),
        root_complex_errors=r.get(t, p, "root_complex_errors", _bool, "true or false", False),
        containment=r.get(t, p, "containment", _choice(("contained", "uncontained")),
                          "contained or uncontained", "contained"),
    )


def _ram(r: _Reader, data: dict[str, Any]) -> tuple[RamSpec, ...]:
    out = []
    for i, t in enumerate(r.array(data, (), "ram")):
        p: KeyPath = ("ram", i)
        r.table(t, p, ("name", "base", "size", "linear_map"))
        out.append(RamSpec(
            name=r.get(t, p, "name", _str, "a string", f"ram{i}"),
            base=r.get(t, p, "base", _size, "an address", required=True),
            size=r.get(t, p, "size", _size, "a size such as '2G'", required=True),
            linear_map=r.get(t, p, "linear_map", _bool, "true or false", True),
            line=line_of(r.lines, p) or 0,
        ))
    return tuple(out)


_DEVICE_KEYS = {
    "pcie": ("name", "kind", "bdf", "bar", "num_vfs", "vf_bar"),
    "platform": ("name", "kind", "base", "size", "errors", "response", "unaligned",
                 "read_side_effects"),
    "gicv2": ("name", "kind", "base", "size"),
    "nvgrace-gpu": ("name", "kind", "bdf", "usemem_base", "usemem_size", "resmem_base",
                    "resmem_size"),
}


def _width(v: object) -> int:
    if _int(v) not in (32, 64):
        raise ValueError("must be 32 or 64")
    return int(v)  # type: ignore[call-overload]


def _bars(r: _Reader, t: dict[str, Any], p: KeyPath, key: str) -> tuple[BarSpec, ...]:
    """The ``[[device.bar]]`` (or ``[[device.vf_bar]]``) tables of a PCIe device."""
    out: list[BarSpec] = []
    for j, b in enumerate(r.array(t, p, key)):
        bp = p + (key, j)
        r.table(b, bp, ("index", "base", "size", "prefetchable", "bits", "read_side_effects"))
        out.append(BarSpec(
            index=r.get(b, bp, "index", _int, "a BAR index 0..5", j),
            base=r.get(b, bp, "base", _size, "an address", required=True),
            size=r.get(b, bp, "size", _size, "a size such as '16M'", required=True),
            prefetchable=r.get(b, bp, "prefetchable", _bool, "true or false", True),
            bits=r.get(b, bp, "bits", _width, "32 or 64", 64),
            read_side_effects=r.get(b, bp, "read_side_effects", _int_list,
                                    "a list of page indexes", ()),
            line=line_of(r.lines, bp) or 0,
        ))
    return tuple(out)


def _devices(r: _Reader, data: dict[str, Any]) -> tuple[DeviceSpec, ...]:
    out: list[DeviceSpec] = []
    seen: set[str] = set()
    for i, t in enumerate(r.array(data, (), "device")):
        p: KeyPath = ("device", i)
        name = r.get(t, p, "name", _str, "a string", required=True)
        if name in seen:
            raise r.fail(p + ("name",), f"device {name!r} is defined twice", ConfigError)
        seen.add(name)
        kind = r.get(t, p, "kind", _choice(DEVICE_KINDS), "one of " + ", ".join(DEVICE_KINDS),
                     required=True)
        r.table(t, p, _DEVICE_KEYS[kind])
        line = line_of(r.lines, p) or 0
        if kind == "pcie":
            vf_bars = _bars(r, t, p, "vf_bar")
            num_vfs = r.get(t, p, "num_vfs", _int, "a number of VFs", 0)
            if vf_bars and num_vfs <= 0:
                raise r.fail(p + ("num_vfs",), "[[device.vf_bar]] needs num_vfs >= 1",
                             ConfigError)
            out.append(DeviceSpec(name, kind, line,
                                  bdf=r.get(t, p, "bdf", _str, "a BDF such as '01:00.0'",
                                            f"{i + 1:02x}:00.0"),
                                  bars=_bars(r, t, p, "bar"), num_vfs=num_vfs, vf_bars=vf_bars))
        elif kind == "platform":
            out.append(DeviceSpec(
                name, kind, line,
                base=r.get(t, p, "base", _size, "an address", required=True),
                size=r.get(t, p, "size", _size, "a size such as '64K'", required=True),
                errors=r.get(t, p, "errors", _choice(("contained", "uncontained")),
                             "contained or uncontained", "uncontained"),
                response=r.get(t, p, "response", _choice(("SLVERR", "DECERR")),
                               "SLVERR or DECERR", "SLVERR"),
                unaligned=r.get(t, p, "unaligned", _choice(("unknown", "ok", "error")),
                                "unknown, ok or error", "unknown"),
                read_side_effects=r.get(t, p, "read_side_effects", _int_list,
                                        "a list of page indexes", ()),
            ))
        elif kind == "gicv2":
            out.append(DeviceSpec(
                name, kind, line,
                base=r.get(t, p, "base", _size, "the GICV frame's address", required=True),
                size=r.get(t, p, "size", _size, "a size such as '8K'", 0x2000),
            ))
        else:
            out.append(DeviceSpec(
                name, kind, line,
                bdf=r.get(t, p, "bdf", _str, "a BDF such as '01:00.0'", f"{i + 1:02x}:00.0"),
                usemem=(r.get(t, p, "usemem_base", _size, "an address", required=True),
                        r.get(t, p, "usemem_size", _size, "a size", required=True)),
                resmem=(r.get(t, p, "resmem_base", _size, "an address", required=True),
                        r.get(t, p, "resmem_size", _size, "a size", required=True)),
            ))
    return tuple(out)


# Which device kind each source needs (None: no device).
_SOURCE_DEVICE = {
    "vfio-pci": "pcie", "sysfs-resource": "pcie", "sysfs-resource-wc": "pcie",
    "nvgrace-gpu-resmem": "nvgrace-gpu", "nvgrace-gpu-usemem": "nvgrace-gpu",
    "vfio-platform": "platform", "gicv": "gicv2",
    "dev-mem": None, "anon": None, "hugetlb": None,
}
_SOURCE_KEYS = {
    "vfio-pci": ("bar", "vf", "offset", "size"),
    "sysfs-resource": ("bar", "offset", "size"),
    "sysfs-resource-wc": ("bar", "offset", "size"),
    "nvgrace-gpu-resmem": ("offset", "size"),
    "nvgrace-gpu-usemem": ("offset", "size"),
    "vfio-platform": ("offset", "size"),
    "gicv": ("ipa",),
    "dev-mem": ("phys", "size", "o_sync"),
    "anon": ("size", "phys"),
    "hugetlb": ("size", "phys", "page_size"),
}


def _vmm_mappings(r: _Reader, data: dict[str, Any],
                  devices: tuple[DeviceSpec, ...]) -> tuple[VmmMappingSpec, ...]:
    out: list[VmmMappingSpec] = []
    seen: set[str] = set()
    by_name = {d.name: d for d in devices}
    for i, t in enumerate(r.array(data, (), "vmm_mapping")):
        p: KeyPath = ("vmm_mapping", i)
        name = r.get(t, p, "name", _str, "a string", required=True)
        if name in seen:
            raise r.fail(p + ("name",), f"VMM mapping {name!r} is defined twice", ConfigError)
        seen.add(name)
        src_raw = r.get(t, p, "source", _str, "a mapping source as a string", required=True)
        if src_raw not in SOURCES:
            raise r.fail(p + ("source",), f"{src_raw!r} is not a mapping source (expected one "
                                          f"of {', '.join(SOURCES)})", ConfigError)
        need = _SOURCE_DEVICE[src_raw]
        keys = ("name", "source", "allow_any_uncached") + _SOURCE_KEYS[src_raw]
        r.table(t, p, keys + (("device",) if need else ()))
        device = ""
        if need is not None:
            device = r.get(t, p, "device", _str, f"the name of a {need} [[device]]", required=True)
            if device not in by_name:
                raise r.fail(p + ("device",), f"no [[device]] named {device!r} (have "
                                              f"{', '.join(by_name) or 'none'})", ConfigError)
            if by_name[device].kind != need:
                raise r.fail(p + ("device",), f"source {src_raw!r} needs a {need} device, but "
                                              f"{device!r} is {by_name[device].kind}", ConfigError)
        size_required = src_raw in ("dev-mem", "anon", "hugetlb")
        spec = VmmMappingSpec(
            name=name, source=src_raw, line=line_of(r.lines, p) or 0, device=device,
            bar=r.get(t, p, "bar", _int, "a BAR index 0..5", 0),
            vf=r.get(t, p, "vf", _int, "a VF number", None),
            offset=r.get(t, p, "offset", _size, "a byte offset", 0),
            size=r.get(t, p, "size", _size, "a size such as '16M'", None, required=size_required),
            phys=r.get(t, p, "phys", _size, "a physical address", None,
                       required=src_raw == "dev-mem"),
            o_sync=r.get(t, p, "o_sync", _bool, "true or false", False),
            page_size=r.get(t, p, "page_size", _size, "a huge page size such as '2M'", 2 << 20),
            ipa=r.get(t, p, "ipa", _size, "the guest physical address KVM maps GICV at", None,
                      required=src_raw == "gicv"),
            allow_any_uncached=r.get(t, p, "allow_any_uncached", _bool, "true or false", None),
        )
        if need == "pcie":
            dev = by_name[device]
            if spec.vf is not None and not 0 <= spec.vf < dev.num_vfs:
                raise r.fail(p + ("vf",), f"device {device!r} has {dev.num_vfs} VFs, so no "
                                          f"VF{spec.vf}", ConfigError)
            bars = dev.bars if spec.vf is None else dev.vf_bars
            if not any(b.index == spec.bar for b in bars):
                what = "BAR" if spec.vf is None else "VF BAR"
                raise r.fail(p + ("bar",), f"device {device!r} has no {what}{spec.bar} (have "
                                           f"{[b.index for b in bars]})", ConfigError)
        out.append(spec)
    return tuple(out)


def _memslots(r: _Reader, data: dict[str, Any],
              mappings: tuple[VmmMappingSpec, ...]) -> tuple[MemslotSpec, ...]:
    out: list[MemslotSpec] = []
    by_name = {m.name: m for m in mappings}
    for i, t in enumerate(r.array(data, (), "memslot")):
        p: KeyPath = ("memslot", i)
        r.table(t, p, ("slot", "mapping", "ipa", "size", "offset", "readonly"))
        mapping = r.get(t, p, "mapping", _str, "the name of a [[vmm_mapping]]", required=True)
        if mapping not in by_name:
            raise r.fail(p + ("mapping",), f"no [[vmm_mapping]] named {mapping!r} (have "
                                           f"{', '.join(by_name) or 'none'})", ConfigError)
        if by_name[mapping].source == "gicv":
            raise r.fail(p + ("mapping",), f"{mapping!r} is the GICV frame: KVM maps it itself at "
                                           "its ipa, it has no VMA and needs no memslot",
                         ConfigError)
        out.append(MemslotSpec(
            slot=r.get(t, p, "slot", _int, "a slot number", i),
            mapping=mapping,
            ipa=r.get(t, p, "ipa", _size, "a guest physical address", required=True),
            size=r.get(t, p, "size", _size, "a size such as '1G'", None),
            offset=r.get(t, p, "offset", _size, "a byte offset into the mapping", 0),
            readonly=r.get(t, p, "readonly", _bool, "true or false", False),
            line=line_of(r.lines, p) or 0,
        ))
    return tuple(out)


def _guest(r: _Reader, data: dict[str, Any]) -> GuestSpec:
    t = r.table(r.subtable(data, "guest"), ("guest",), ("mmu", "mair_el1"))
    p: KeyPath = ("guest",)

    def mair(v: object) -> int:
        n = _int(v)
        if not 0 <= n < 1 << 64:
            raise ValueError("out of range (64 bits)")
        return n

    return GuestSpec(
        mmu=r.get(t, p, "mmu", _bool, "true or false", True),
        mair_el1=r.get(t, p, "mair_el1", mair, "a 64-bit MAIR_EL1 value", None),
    )


def _guest_mappings(r: _Reader, data: dict[str, Any], guest: GuestSpec,
                    mappings: tuple[VmmMappingSpec, ...],
                    memslots: tuple[MemslotSpec, ...]) -> tuple[GuestMappingSpec, ...]:
    out: list[GuestMappingSpec] = []
    seen: set[str] = set()
    by_name = {m.name: m for m in mappings}
    for i, t in enumerate(r.array(data, (), "guest_mapping")):
        p: KeyPath = ("guest_mapping", i)
        r.table(t, p, ("name", "ipa", "target", "offset", "size", "api", "attr", "attr_index",
                       "sh"))
        name = r.get(t, p, "name", _str, "a string", required=True)
        if name in seen:
            raise r.fail(p + ("name",), f"guest mapping {name!r} is defined twice", ConfigError)
        seen.add(name)
        kinds = [k for k in ("api", "attr", "attr_index") if k in t]
        if len(kinds) != 1:
            which = "none" if not kinds else " and ".join(kinds)
            raise r.fail(p + ((kinds[-1],) if kinds else ()),
                         f"give exactly one of api, attr or attr_index (got {which})")
        api = r.get(t, p, "api", _choice(GUEST_APIS), "one of " + ", ".join(GUEST_APIS), None)

        def byte(v: object) -> int:
            n = _int(v)
            if not 0 <= n <= 0xFF:
                raise ValueError("out of range (0x00..0xff)")
            return n

        def index(v: object) -> int:
            n = _int(v)
            if not 0 <= n <= 7:
                raise ValueError("out of range (0..7)")
            return n

        attr = r.get(t, p, "attr", byte, "a MAIR attribute byte 0x00..0xff", None)
        attr_index = r.get(t, p, "attr_index", index, "an AttrIndx 0..7", None)
        if attr_index is not None and guest.mair_el1 is None:
            raise r.fail(p + ("attr_index",), "needs [guest] mair_el1", ConfigError)

        def sh(v: object) -> int:
            if isinstance(v, str) and v.upper() in ("NSH", "ISH", "OSH"):
                return {"NSH": 0, "OSH": 2, "ISH": 3}[v.upper()]
            n = _int(v)
            if not 0 <= n <= 3:
                raise ValueError("out of range (0..3)")
            return n

        if ("ipa" in t) == ("target" in t):
            raise r.fail(p + (("ipa",) if "ipa" in t else ()),
                         "give exactly one of ipa or target (a [[vmm_mapping]] name)")
        offset = r.get(t, p, "offset", _size, "a byte offset", 0)
        target = r.get(t, p, "target", _str, "the name of a [[vmm_mapping]]", None)
        if target is not None:
            if target not in by_name:
                raise r.fail(p + ("target",), f"no [[vmm_mapping]] named {target!r} (have "
                                              f"{', '.join(by_name) or 'none'})", ConfigError)
            ipa = _ipa_of(r, p, by_name[target], memslots) + offset
        else:
            ipa = r.get(t, p, "ipa", _size, "a guest physical address", required=True) + offset
        out.append(GuestMappingSpec(
            name=name, ipa=ipa,
            size=r.get(t, p, "size", _size, "a size such as '4K'", 4096),
            api=api, attr=attr, attr_index=attr_index,
            sh=r.get(t, p, "sh", sh, "NSH, ISH, OSH or 0..3", None),
            target=target, line=line_of(r.lines, p) or 0,
        ))
    return tuple(out)


def _ipa_of(r: _Reader, p: KeyPath, m: VmmMappingSpec, memslots: tuple[MemslotSpec, ...]) -> int:
    if m.source == "gicv":
        assert m.ipa is not None
        return m.ipa
    for s in memslots:
        if s.mapping == m.name:
            return s.ipa - s.offset
    raise r.fail(p + ("target",), f"[[vmm_mapping]] {m.name!r} is in no [[memslot]], so it has "
                                  "no guest physical address; give ipa instead", ConfigError)


def _accesses(r: _Reader, data: dict[str, Any],
              gmaps: tuple[GuestMappingSpec, ...]) -> tuple[AccessSpec, ...]:
    out: list[AccessSpec] = []
    sizes = {g.name: g.size for g in gmaps}
    names = set(sizes)
    for i, t in enumerate(r.array(data, (), "access")):
        p: KeyPath = ("access", i)
        r.table(t, p, ("mapping", "op", "size", "offset", "instr"))
        mapping = r.get(t, p, "mapping", _str, "the name of a [[guest_mapping]]", required=True)
        if mapping not in names:
            raise r.fail(p + ("mapping",), f"no [[guest_mapping]] named {mapping!r} (have "
                                           f"{', '.join(sorted(names)) or 'none'})", ConfigError)

        def size(v: object) -> int:
            n = _int(v)
            if n not in (1, 2, 4, 8, 16, 32, 64):
                raise ValueError("must be 1, 2, 4, 8, 16, 32 or 64 bytes")
            return n

        out.append(AccessSpec(
            mapping=mapping,
            op=r.get(t, p, "op", _choice(ACCESS_OPS), "read, write or exec", "read"),
            size=r.get(t, p, "size", size, "an access size in bytes", 8),
            offset=r.get(t, p, "offset", _size, "a byte offset into the guest mapping", 0),
            instr=r.get(t, p, "instr", _choice(INSTR_CLASSES), "one of "
                        + ", ".join(INSTR_CLASSES), "ldr"),
            line=line_of(r.lines, p) or 0,
        ))
        a = out[-1]
        if a.offset + a.size > sizes[mapping]:
            raise r.fail(p + ("offset",), f"offset 0x{a.offset:x} + size {a.size} is beyond guest "
                                          f"mapping {mapping!r} (0x{sizes[mapping]:x} bytes)",
                         ConfigError)
    return tuple(out)


def loads(text: str, path: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``path`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ParseError(f"{where}: TOML syntax: {msg}") from None
    r = _Reader(path, text)
    r.table(data, (), _TOP)
    policies = _policies(r, data)
    cpu = _cpu(r, data)
    bits = _host(r, data)
    pcie = _pcie(r, data)
    ram = _ram(r, data)
    devices = _devices(r, data)
    vmm = _vmm_mappings(r, data, devices)
    slots = _memslots(r, data, vmm)
    guest = _guest(r, data)
    gmaps = _guest_mappings(r, data, guest, vmm, slots)
    accesses = _accesses(r, data, gmaps)
    return Scenario(
        path=path,
        name=r.get(data, (), "name", _str, "a string", Path(path).stem),
        description=r.get(data, (), "description", _str, "a string", ""),
        policies=policies, cpu=cpu, bits=bits, pcie=pcie, ram=ram, devices=devices,
        vmm_mappings=vmm, memslots=slots, guest=guest, guest_mappings=gmaps,
        accesses=accesses, lines=r.lines,
    )


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read scenario file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"{p}: not UTF-8 text: {exc.reason}") from None
    return loads(text, str(path))


def bundled_path(name: str) -> Path:
    """The path of a scenario shipped with memattr (``memattr/scenarios/<name>.toml``)."""
    base = Path(__file__).resolve().parent.parent / "scenarios"
    p = base / (name if name.endswith(".toml") else f"{name}.toml")
    if not p.is_file():
        have = ", ".join(sorted(q.stem for q in base.glob("*.toml")))
        raise ConfigError(f"scenario={name}: no bundled scenario of that name (have {have})")
    return p


def bundled() -> tuple[str, ...]:
    """The names of the scenarios shipped with memattr."""
    base = Path(__file__).resolve().parent.parent / "scenarios"
    return tuple(sorted(q.stem for q in base.glob("*.toml")))
