"""Scenario files: a host, a VMM, KVM memslots, a guest and the policies to compare, in TOML.

:func:`load` reads a file (:func:`loads` a string) through the shared reader
(:mod:`memattr.inputs.toml`: bounded, pre-scanned, declaration-driven), checks it against
:data:`SCHEMA` and the cross-references and widths below, and returns a :class:`Scenario`.  Every
error names the file, the line and the key, once: ``demo.toml:12: vmm_mapping[1].source:
'vfio-pcie' is not a mapping source (expected one of ...)``.  Syntax, type and range errors raise
:class:`~memattr.errors.ParseError`; well-formed but impossible content (an unknown policy, a
dangling reference, an offset beyond its BAR, an address beyond the CPU's physical address size)
raises :class:`~memattr.errors.ConfigError`.

Each mapping source (:data:`SOURCE_KINDS`) and device kind (:data:`DEVICE_KIND_DECLS`) declares
its TOML name and keys once; the schema, the replay (``source_kind(name).build``) and the docs
test read those declarations.  The schema (docs/scenarios.md has the commented example)::

    name, description              strings (optional)
    policy | policies              a policy name or a list of them (required; see POLICIES)
    [[policy]]                     name, base, prot: a what-if driving stage2_set_prot_attr
    [cpu]                          name (a preset), fwb (bool or list of bools), dic, mte, xs, hcr_cd,
                                   atomics_uncached
    [host]                         bits (64 or 32: BITS_PER_LONG), page_size, apei, ras, pkvm,
                                   ipa_limit, lpa2
    [vm]                           ipa_bits, nisv_to_user, mte
    [pcie]                         ecam, windows, aer, dpc, root_complex_errors, containment
    [[ram]]                        name, base, size, linear_map
    [[device]]                     name, kind = pcie | platform | gicv2 | nvgrace-gpu, ...
    [[device.bar]]                 index, base, size, prefetchable, bits, read_side_effects
    [[device.vf_bar]]              as [[device.bar]], for SR-IOV VFs (with num_vfs)
    [[vmm_mapping]]                name, source (see SOURCES), device, bar, region, offset, size...
    [[memslot]]                    mapping, ipa, size, offset, slot, readonly
    [guest]                        mmu, mair_el1
    [[guest_mapping]]              name, ipa | target (+ offset), size, api | attr | attr_index, sh
    [[access]]                     mapping, op = read | write | exec, size, offset, instr, bus_error
    [[event]]                      mapping, before, kind (see EVENT_KINDS), source
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._value import replace as value_replace  # for memattr.inputs.toml's values
from ..errors import ConfigError, MemattrError, ParseError
from ..inputs import toml as t
from ..inputs.escape import show, show_int
from ..inputs.tomlscan import KeyPath, line_of
from ..inputs.units import parse_size as _parse_size

if TYPE_CHECKING:
    from ..linux.kvm.features import VmConfig
    from ..linux.mmap import MappingSource
    from ..linux.policy import Policy
    from .replay import ScriptEvent

__all__ = [
    "SOURCES",
    "SOURCE_KINDS",
    "SourceKind",
    "source_kind",
    "DEVICE_KINDS",
    "DEVICE_KIND_DECLS",
    "DeviceKind",
    "GUEST_APIS",
    "ACCESS_OPS",
    "INSTR_DECLS",
    "InstrDecl",
    "INSTR_CLASSES",
    "EVENT_KINDS",
    "PGPROTS",
    "POLICY_PROTS",
    "PAGE_SIZES",
    "DEFAULT_ECAM",
    "TOTAL_VFS_MAX",
    "SCHEMA",
    "Cpu",
    "HostSpec",
    "VmSpec",
    "PolicySpec",
    "EventSpec",
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

@dataclass(frozen=True)
class InstrDecl:
    """An ``instr`` value of ``[[access]]``: its TOML name, the Linux model's
    :class:`~memattr.linux.kvm.abort.InstrClass` member it selects, and what it is."""

    name: str
    member: str
    summary: str


INSTR_DECLS: tuple[InstrDecl, ...] = (
    InstrDecl("ldr", "LDR_STR",
              "a single general-purpose register load/store, no writeback (ESR ISV=1)"),
    InstrDecl("ldr-writeback", "LDR_STR_WRITEBACK",
              "a load/store with pre/post-index writeback (ISV=0)"),
    InstrDecl("ldp", "LDP_STP", "a load/store pair (ISV=0)"),
    InstrDecl("simd", "SIMD_FP", "a SIMD&FP register load/store (ISV=0)"),
    InstrDecl("exclusive", "EXCLUSIVE", "a load/store exclusive (ISV=0)"),
    InstrDecl("atomic", "ATOMIC", "a FEAT_LSE atomic (ISV=0)"),
    InstrDecl("dc-civac", "CACHE_MAINTENANCE",
              "DC CIVAC, data cache maintenance by VA (CM=1, ISV=0; a fault reports WnR=1)"),
    InstrDecl("ls64", "LS64",
              "LD64B/ST64B, a FEAT_LS64 single-copy atomic 64-byte access (ISV=0)"),
    InstrDecl("dc-zva", "DC_ZVA",
              "DC ZVA, zero a block (a write; an Alignment fault on Device memory)"),
)
"""Every ``instr`` of ``[[access]]``; a test checks that every data-access InstrClass has one."""

INSTR_CLASSES: dict[str, str] = {d.name: d.summary for d in INSTR_DECLS}
"""The ``instr`` values of ``[[access]]``: the instruction making a data access."""

EVENT_KINDS: dict[str, str] = {
    "memory-disable": "the VMM clears PCI_COMMAND_MEMORY: from 5.8 vfio-pci zaps the BAR's "
                      "mappings (vfio_pci_zap_bars), the MMU notifier unmaps stage 2; before 5.8 "
                      "the mappings stay and accesses get the device's error response",
    "function-reset": "a function reset: the same path as memory-disable",
    "memory-enable": "memory decode back on: the next fault maps the BAR again (before 5.8: the "
                     "device decodes it again)",
    "replace-vma": "munmap and mmap another [[vmm_mapping]] at the same HVA under the memslot",
}
"""The ``kind`` values of ``[[event]]`` (memattr.analysis.replay.ScriptEvent kinds)."""

PGPROTS: dict[str, str] = {
    "writecombine": "pgprot_writecombine: MT_NORMAL_NC (what TTM uses for WC buffers)",
    "device": "pgprot_device: MT_DEVICE_nGnRE",
    "noncached": "pgprot_noncached: MT_DEVICE_nGnRnE",
    "cached": "the default cacheable pgprot: MT_NORMAL",
}
"""The ``pgprot`` values of a ``source = "pfnmap"`` mapping."""

POLICY_PROTS = ("DEVICE", "NORMAL_NC", "DEVICE|NORMAL_NC")
"""The ``prot`` values of ``[[policy]]``: the kvm_pgtable_prot memory-type bits asked for."""

PAGE_SIZES = (4096, 16384, 65536)
"""The host kernel's PAGE_SIZE choices (``[host] page_size``)."""

DEFAULT_ECAM = 0x40_1000_0000
"""Where the PCIe ECAM window goes when ``[pcie] ecam`` is not given."""

TOTAL_VFS_MAX = 0xFFFF
"""The most VFs a PF can have: TotalVFs and NumVFs are 16-bit fields of the SR-IOV Extended
Capability (PCIe Base Specification 6.0, 9.3.3.6 and 9.3.3.7)."""

KVM_USER_MEM_SLOTS = 0x7FFF
"""Memslot ids are below KVM_MEM_SLOTS_NUM = SHRT_MAX (include/linux/kvm_host.h; arm64 has no
internal slots, so KVM_USER_MEM_SLOTS == KVM_MEM_SLOTS_NUM)."""


def parse_size(value: object) -> int:
    """A size or address: an integer, or a string such as '16M', '4KiB', '0x1000', '2G'."""
    return _parse_size(value)


def _policy_module() -> Any:
    """:mod:`memattr.linux.policy`, imported after :mod:`memattr.linux.kvm`: imported first from a
    fresh interpreter it fails (policy imports kvm.features, whose package imports kvm.mmu, which
    imports policy before it is initialised)."""
    from ..linux import (
        kvm,  # noqa: F401  (breaks the cycle; see the docstring)
        policy,
    )

    return policy


def policy_names() -> tuple[str, ...]:
    """The policy names a scenario may use: every policy in the Linux model's registry."""
    return tuple(_policy_module().policies())


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cpu:
    """Host CPU features and controls.

    :param fwb: FEAT_S2FWB as used by KVM (HCR_EL2.FWB), one value per run to compare.
    :param dic: CTR_EL0.DIC; :param mte: FEAT_MTE2 enabled; :param xs: FEAT_XS.
    :param hcr_cd: HCR_EL2.CD (the emulator path: non-Device results become NC).
    :param name: the :mod:`memattr.arch.cpu` preset the features come from ('all' by default).
    :param pa_max: its PAMax (ID_AA64MMFR0_EL1.PARange): every host PA and guest IPA lies below
        ``2**pa_max``.
    :param atomics_uncached: the system supports exclusives and atomics to memory that is not
        Write-Back (IMPLEMENTATION DEFINED); without it they take xFSC 0x35.
    """

    fwb: tuple[bool, ...] = (True,)
    dic: bool = True
    mte: bool = False
    xs: bool = True
    hcr_cd: bool = False
    name: str = "all"
    pa_max: int = 52
    atomics_uncached: bool = False


@dataclass(frozen=True, slots=True)
class HostSpec:
    """The host kernel (``[host]``): the :class:`~memattr.linux.kvm.features.HostFeatures`
    fields that are not CPU features.

    :param bits: BITS_PER_LONG.  :param page_size: PAGE_SIZE.
    :param apei: the firmware-first RAS handler claims synchronous external aborts.
    :param ras: FEAT_RAS (SErrors classified by their AET).
    :param pkvm: protected KVM (``kvm-arm.mode=protected``).
    :param ipa_limit: ``get_kvm_ipa_limit()`` in bits (KVM_CAP_ARM_VM_IPA_SIZE).
    :param lpa2: KVM uses LPA2 stage-2 tables.
    """

    bits: int = 64
    page_size: int = 4096
    apei: bool = False
    ras: bool = True
    pkvm: bool = False
    ipa_limit: int = 48
    lpa2: bool = False


@dataclass(frozen=True, slots=True)
class VmSpec:
    """The VM the VMM creates (``[vm]``): :class:`~memattr.linux.kvm.features.VmConfig`.

    :param ipa_bits: KVM_VM_TYPE_ARM_IPA_SIZE.  :param nisv_to_user: KVM_CAP_ARM_NISV_TO_USER
        enabled.  :param mte: KVM_CAP_ARM_MTE enabled.
    """

    ipa_bits: int = 40
    nisv_to_user: bool = False
    mte: bool = False


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A what-if policy of this scenario (``[[policy]]``): ``base`` with ``user_mem_abort``
    asking ``stage2_set_prot_attr`` for ``prot`` on every non-cacheable page
    (:func:`memattr.linux.policy.with_prot`)."""

    name: str
    base: str
    prot: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event between two accesses of a guest mapping (``[[event]]``).

    :param mapping: the ``[[guest_mapping]]``.  :param before: the index, among that mapping's
        ``[[access]]``, of the access it comes before.  :param kind: an :data:`EVENT_KINDS` key.
    :param source: for 'replace-vma': the ``[[vmm_mapping]]`` mmapped in its place.
    """

    mapping: str
    before: int
    kind: str
    source: str | None = None
    line: int = 0


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
    :param thp: anonymous RAM backed by transparent huge pages.
    :param pgprot: a driver PFNMAP's pgprot (:data:`PGPROTS`).
    :param mixedmap: a driver PFNMAP with VM_MIXEDMAP instead of VM_PFNMAP.
    :param driver_allow_any_uncached: the PFNMAP's driver itself sets VM_ALLOW_ANY_UNCACHED.
    :param hva_align: the VMA's start is aligned to exactly this (None: the model's default,
        :data:`memattr.linux.system.HVA_ALIGN_DEFAULT`).
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
    thp: bool = False
    pgprot: str = "writecombine"
    mixedmap: bool = False
    driver_allow_any_uncached: bool = False
    hva_align: int | None = None


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
    bus_error: bool = False

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
    display: str = field(default="", repr=False, compare=False)
    host: HostSpec = field(default_factory=HostSpec)
    vm: VmSpec = field(default_factory=VmSpec)
    custom_policies: tuple[PolicySpec, ...] = ()
    events: tuple[EventSpec, ...] = ()

    def policy(self, name: str) -> Policy:
        """The policy ``name`` as this scenario means it: one of its ``[[policy]]`` what-ifs, or
        a policy (or release) of the Linux model's registry.  Nothing is registered globally, so
        no load changes what another scenario sees."""
        pol = _policy_module()
        for p in self.custom_policies:
            if p.name == name:
                return pol.with_prot(self.policy(p.base), _prot(p.prot), name=p.name)
        result: Policy = pol.get_policy(name)
        return result

    def host_features(self) -> dict[str, Any]:
        """The :class:`~memattr.linux.kvm.features.HostFeatures` fields ``[cpu]`` and ``[host]``
        give besides fwb, dic, mte, xs and bits (``replay(host=...)``)."""
        h = self.host
        return {"page_size": h.page_size, "apei": h.apei, "ras": h.ras, "pkvm": h.pkvm,
                "ipa_limit": h.ipa_limit, "lpa2": h.lpa2,
                "atomics_uncached": self.cpu.atomics_uncached}

    def vm_config(self) -> VmConfig:
        """``[vm]`` as the Linux model's :class:`~memattr.linux.kvm.features.VmConfig`."""
        from ..linux.kvm.features import VmConfig

        return VmConfig(mte=self.vm.mte, nisv_to_user=self.vm.nisv_to_user,
                        ipa_bits=self.vm.ipa_bits)

    def bus_errors(self) -> frozenset[tuple[str, int]]:
        """(guest mapping, access index among its accesses) of every ``bus_error = true``."""
        out: set[tuple[str, int]] = set()
        seen: dict[str, int] = {}
        for a in self.accesses:
            k = seen.get(a.mapping, 0)
            seen[a.mapping] = k + 1
            if a.bus_error:
                out.add((a.mapping, k))
        return frozenset(out)

    def script(self) -> tuple[ScriptEvent, ...]:
        """The ``[[event]]`` entries as the replay's :class:`~memattr.analysis.replay.ScriptEvent`."""
        from .replay import ScriptEvent

        return tuple(ScriptEvent(e.mapping, e.before, e.kind,
                                 source_kind(self.vmm_mapping(e.source).source).build(
                                     self.vmm_mapping(e.source)) if e.source else None)
                     for e in self.events)

    def where(self, *path: str | int) -> str:
        """'file:line' of a key path, for messages raised after loading (the name escaped)."""
        name = self.display or self.path
        line = line_of(self.lines, tuple(path))
        return f"{name}:{line}" if line else name

    def locate(self, path: KeyPath, exc: MemattrError) -> MemattrError:
        """``exc`` (from a lower layer) as ``file:line: key: ...``, unless it names its place."""
        return t.locate(exc, self.where(*path), path)

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


# --- declarations: each mapping source and device kind, once -----------------------------------

_DEVICE_KIND_NAMES = ("pcie", "platform", "gicv2", "nvgrace-gpu")


def _device_ref(kind: str) -> t.Field:
    return t.Field("device", t.Str(expected=f"the name of a {kind} [[device]]"), required=True,
                   doc=f"the {kind} [[device]] it maps")


_MAPPING_KEYS: dict[str, t.Field] = {f.key: f for f in (
    t.Field("bar", t.Int(0, 5, "a BAR index 0..5"), 0, doc="the BAR index"),
    t.Field("vf", t.Int(0, TOTAL_VFS_MAX - 1, "a VF number"), None,
            doc="a VF of the device (SR-IOV) instead of the PF"),
    t.Field("offset", t.Number(expected="a byte offset such as 0x1000"), 0,
            doc="where the mapping starts in the region (the mmap offset)"),
    t.Field("size", t.Number(lo=1, expected="a size such as '16M'"), None,
            doc="its length (default: the rest of the region)"),
    t.Field("phys", t.Number(expected="a physical address"), None,
            doc="the physical address it maps"),
    t.Field("o_sync", t.Bool(), False, doc="the /dev/mem fd was opened with O_SYNC"),
    t.Field("page_size", t.Number(lo=4 << 10, hi=16 << 30, power_of_two=True,
                                  expected="a huge page size such as '2M'"), 2 << 20,
            doc="the huge page size"),
    t.Field("ipa", t.Number(expected="the guest physical address KVM maps GICV at"), None,
            doc="KVM_VGIC_V2_ADDR_TYPE_CPU"),
    t.Field("thp", t.Bool(), False, doc="transparent huge pages back it (VM_HUGEPAGE)"),
    t.Field("pgprot", t.Enum(tuple(PGPROTS), "a pgprot"), "writecombine",
            doc="the pgprot the driver maps with"),
    t.Field("mixedmap", t.Bool(), False, doc="VM_MIXEDMAP instead of VM_PFNMAP"),
    t.Field("hva_align", t.Number(lo=4 << 10, hi=1 << 30, power_of_two=True,
                                  expected="an alignment such as '4K' or '2M'"), None,
            doc="the VMA's start is aligned to exactly this (default 2M, as QEMU >= 9.2 aligns "
                "vfio region mmaps; a sysfs mmap may be page-aligned only)"),
)}


def _mkey(key: str, **changes: Any) -> t.Field:
    return value_replace(_MAPPING_KEYS[key], **changes) if changes else _MAPPING_KEYS[key]


@dataclass(frozen=True)
class SourceKind:
    """A ``[[vmm_mapping]]`` source: its TOML name, the kernel path it runs, its keys, and how the
    Linux model describes a mapping of it.

    :param name: the ``source`` value.
    :param summary: the kernel path, in a phrase.
    :param device: the ``[[device]]`` kind it needs (None: no device).
    :param keys: its keys besides ``name``, ``source``, ``allow_any_uncached`` (and ``device``).
    :param build: the :class:`~memattr.linux.mmap.MappingSource` of a loaded mapping.
    """

    name: str
    summary: str
    device: str | None
    keys: tuple[t.Field, ...]
    build: Callable[[VmmMappingSpec], MappingSource]

    @property
    def fields(self) -> tuple[t.Field, ...]:
        """Every key it adds to ``[[vmm_mapping]]``, ``device`` first when it needs one, and
        ``hva_align`` for every source with a VMA (GICV has none)."""
        vma = (_mkey("hva_align"),) if self.name != "gicv" else ()
        return ((_device_ref(self.device),) if self.device else ()) + self.keys + vma


def _vfio_pci(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import VfioPciBar

    return VfioPciBar(m.device, m.bar, m.vf, m.offset, m.size)


def _nvgrace(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import NvgraceRegion

    return NvgraceRegion(m.device, m.source.rsplit("-", 1)[1], m.offset, m.size)


def _vfio_platform(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import VfioPlatformRegion

    return VfioPlatformRegion(m.device, m.offset, m.size)


def _sysfs(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import PciSysfsResource

    return PciSysfsResource(m.device, m.bar, m.source.endswith("-wc"), m.offset, m.size)


def _dev_mem(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import DevMem

    assert m.phys is not None and m.size is not None
    return DevMem(m.phys, m.size, m.o_sync)


def _anon(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import AnonymousRam

    assert m.size is not None
    return AnonymousRam(m.size, m.phys, m.thp)


def _pfnmap(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import DriverPfnmap

    assert m.phys is not None and m.size is not None
    return DriverPfnmap(m.phys, m.size, m.pgprot, m.driver_allow_any_uncached, m.mixedmap)


def _hugetlb(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import HugetlbRam

    assert m.size is not None
    return HugetlbRam(m.size, m.page_size, m.phys)


def _gicv(m: VmmMappingSpec) -> MappingSource:
    from ..linux.mmap import GicvInterface

    return GicvInterface()


_REGION = (_mkey("offset"), _mkey("size"))

SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind("vfio-pci", "a PCIe BAR mmapped from a vfio-pci device fd (vfio_pci_core_mmap)",
               "pcie", (_mkey("bar"), _mkey("vf")) + _REGION, _vfio_pci),
    SourceKind("nvgrace-gpu-resmem", "nvgrace-gpu resmem, the write-combined fake BAR2 "
               "(nvgrace_gpu_mmap)", "nvgrace-gpu", _REGION, _nvgrace),
    SourceKind("nvgrace-gpu-usemem", "nvgrace-gpu usemem, the cacheable fake BAR4 "
               "(nvgrace_gpu_mmap)", "nvgrace-gpu", _REGION, _nvgrace),
    SourceKind("vfio-platform", "a platform device region from a vfio-platform fd "
               "(vfio_platform_mmap_mmio)", "platform", _REGION, _vfio_platform),
    SourceKind("sysfs-resource", "PCI sysfs resourceN (pci_mmap_resource_range, pgprot_device)",
               "pcie", (_mkey("bar"),) + _REGION, _sysfs),
    SourceKind("sysfs-resource-wc", "PCI sysfs resourceN_wc (pci_mmap_resource_range, "
               "pgprot_writecombine)", "pcie", (_mkey("bar"),) + _REGION, _sysfs),
    SourceKind("dev-mem", "/dev/mem at a physical address (mmap_mem)", None,
               (_mkey("phys", required=True), _mkey("size", required=True), _mkey("o_sync")),
               _dev_mem),
    SourceKind("anon", "anonymous RAM (MAP_PRIVATE|MAP_ANONYMOUS)", None,
               (_mkey("size", required=True), _mkey("phys"), _mkey("thp")), _anon),
    SourceKind("hugetlb", "hugetlbfs RAM (hugetlbfs_file_mmap)", None,
               (_mkey("size", required=True), _mkey("page_size"), _mkey("phys")), _hugetlb),
    SourceKind("gicv", "the GICv2 virtual CPU interface, mapped by KVM itself "
               "(kvm_phys_addr_ioremap)", "gicv2", (_mkey("ipa", required=True),), _gicv),
    SourceKind("pfnmap", "a driver's PFN map with its own pgprot: a DRM/TTM GEM object, a "
               "dma-buf, a virtio-gpu blob (remap_pfn_range / vmf_insert_pfn)", None,
               (_mkey("phys", required=True), _mkey("size", required=True), _mkey("pgprot"),
                _mkey("mixedmap")), _pfnmap),
)
"""Every mapping source, in the order messages and docs list them."""

SOURCES: dict[str, str] = {s.name: s.summary for s in SOURCE_KINDS}
"""The ``source`` values of ``[[vmm_mapping]]``, with the kernel path each one runs."""

_SOURCE_BY_NAME = {s.name: s for s in SOURCE_KINDS}


def source_kind(name: str) -> SourceKind:
    """The declaration of the mapping source ``name`` (ConfigError listing them otherwise)."""
    try:
        return _SOURCE_BY_NAME[name]
    except KeyError:
        raise ConfigError(f"source={show(name)}: not a mapping source (expected one of "
                          f"{', '.join(SOURCES)})") from None


def _bdf_problem(text: str) -> str | None:
    from ..platform.pcie import Bdf

    try:
        Bdf.parse(text)
    except ConfigError:
        return f"{show(text)} is not a BDF"
    return None


def _width_problem(v: int) -> str | None:
    return None if v in (32, 64) else f"{v} is neither 32 nor 64"


_BDF = t.Check(t.Str(64), _bdf_problem, "a BDF such as '0000:01:00.0' ([SSSS:]BB:DD.F, hex)")
_PAGES = t.List(t.Int(0, (1 << 52) >> 12, "a 4 KiB page index"), max_length=4096,
                expected="a list of page indexes")
_ADDRESS = t.Number(expected="an address")

BAR = t.Table((
    t.Field("index", t.Int(0, 5, "a BAR index 0..5"), None, doc="default: its position"),
    t.Field("base", _ADDRESS, required=True, doc="the address assigned to it"),
    t.Field("size", t.Number(lo=16, power_of_two=True,
                             expected="a power of two >= 16 such as '16M'"), required=True),
    t.Field("prefetchable", t.Bool(), True),
    t.Field("bits", t.Check(t.Int(), _width_problem, "32 or 64"), 64),
    t.Field("read_side_effects", _PAGES, ()),
), doc="a PCIe memory BAR")


@dataclass(frozen=True)
class DeviceKind:
    """A ``[[device]]`` kind: its TOML name, what it is, and the keys it adds."""

    name: str
    summary: str
    keys: tuple[t.Field, ...]


DEVICE_KIND_DECLS: tuple[DeviceKind, ...] = (
    DeviceKind("pcie", "a PCIe endpoint", (
        t.Field("bdf", _BDF, None, doc="default: bus i+1, device 0"),
        t.Field("bar", t.ArrayOf(BAR, max_length=6)),
        t.Field("num_vfs", t.Int(0, TOTAL_VFS_MAX, f"a number of VFs 0..{TOTAL_VFS_MAX}: "
                                 "SR-IOV NumVFs is 16 bits"), 0),
        t.Field("vf_bar", t.ArrayOf(BAR, max_length=6)),
    )),
    DeviceKind("platform", "an AMBA/AXI device", (
        t.Field("base", _ADDRESS, required=True),
        t.Field("size", t.Number(lo=1, expected="a size such as '64K'"), required=True),
        t.Field("errors", t.Enum(("contained", "uncontained"), "a containment"), "uncontained"),
        t.Field("response", t.Enum(("SLVERR", "DECERR"), "an AXI error response"), "SLVERR"),
        t.Field("unaligned", t.Enum(("unknown", "ok", "error"), "an unaligned-access behaviour"),
                "unknown"),
        t.Field("read_side_effects", _PAGES, ()),
    )),
    DeviceKind("gicv2", "the GICv2 virtual CPU interface frame (GICV)", (
        t.Field("base", t.Number(expected="the GICV frame's address"), required=True),
        t.Field("size", t.Number(lo=1, expected="a size such as '8K'"), 0x2000),
    )),
    DeviceKind("nvgrace-gpu", "Grace Hopper device memory (nvgrace-gpu)", (
        t.Field("bdf", _BDF, None),
        t.Field("usemem_base", _ADDRESS, required=True),
        t.Field("usemem_size", t.Number(lo=1, expected="a size"), required=True),
        t.Field("resmem_base", _ADDRESS, required=True),
        t.Field("resmem_size", t.Number(lo=1, expected="a size"), required=True),
    )),
)
"""Every device kind, in the order messages and docs list them."""

DEVICE_KINDS = tuple(d.name for d in DEVICE_KIND_DECLS)
"""The ``kind`` values of ``[[device]]``."""
assert DEVICE_KINDS == _DEVICE_KIND_NAMES

_NAME = t.Field("name", t.Str(expected="a string"), required=True)

_CPU = t.Table((
    t.Field("name", t.Str(64, "a CPU preset name"), None,
            doc="a memattr.arch.cpu preset: its features give the defaults and bound addresses"),
    t.Field("fwb", t.AnyOf(t.Bool(), t.List(t.Bool(), min_length=1, max_length=2, unique=True)),
            None, expected="true, false or a list such as [false, true]"),
    t.Field("dic", t.Bool(), None),
    t.Field("mte", t.Bool(), None),
    t.Field("xs", t.Bool(), None),
    t.Field("hcr_cd", t.Bool(), False),
    t.Field("atomics_uncached", t.Bool(), False,
            doc="exclusives and atomics work on memory that is not Write-Back"),
))


def _page_size_problem(v: int) -> str | None:
    return None if v in PAGE_SIZES else f"{show_int(v)} is not a PAGE_SIZE arm64 offers"


_HOST = t.Table((
    t.Field("bits", t.Check(t.Int(), _width_problem, "the kernel word size, 64 or 32"), 64),
    t.Field("page_size", t.Check(t.Number(), _page_size_problem, "4096, 16384 or 65536 (4K, "
                                 "16K, 64K)"), 4096, doc="the host kernel's PAGE_SIZE"),
    t.Field("apei", t.Bool(), False, doc="APEI GHES claims synchronous external aborts"),
    t.Field("ras", t.Bool(), True, doc="FEAT_RAS"),
    t.Field("pkvm", t.Bool(), False, doc="protected KVM (kvm-arm.mode=protected)"),
    t.Field("ipa_limit", t.Int(32, 52, "an IPA size 32..52 bits"), None,
            doc="get_kvm_ipa_limit(): the largest VM IPA size"),
    t.Field("lpa2", t.Bool(), False, doc="KVM's stage-2 tables use LPA2 (FEAT_LPA2)"),
))

_VM = t.Table((
    t.Field("ipa_bits", t.Int(32, 48, "an IPA size 32..48 bits"), 40,
            doc="KVM_VM_TYPE_ARM_IPA_SIZE"),
    t.Field("nisv_to_user", t.Bool(), False, doc="KVM_CAP_ARM_NISV_TO_USER enabled"),
    t.Field("mte", t.Bool(), False, doc="KVM_CAP_ARM_MTE enabled"),
))

def _policy_name_problem(v: str) -> str | None:
    """A policy name is a column heading: ASCII letters, digits and ``. _ + | -`` only."""
    from ..linux.policy import policy_name_problem

    return policy_name_problem(v)


_POLICY = t.Table((
    t.Field("name", t.Check(t.Str(64), _policy_name_problem, "a name of ASCII letters, digits "
                            "and . _ + | - such as '6.9+DEVICE|NORMAL_NC'"), required=True),
    t.Field("base", t.Str(64, "a policy name or a release such as 6.12"), required=True),
    t.Field("prot", t.Enum(POLICY_PROTS, "a kvm_pgtable_prot memory type", fold_case=True),
            required=True),
))

_PCIE = t.Table((
    t.Field("ecam", _ADDRESS, DEFAULT_ECAM),
    t.Field("windows", t.ArrayOf(t.Table((
        t.Field("base", _ADDRESS, required=True),
        t.Field("size", t.Number(lo=1, expected="a size such as '64G'"), required=True),
    )), max_length=64), expected="an array of {base, size} tables"),
    t.Field("aer", t.Bool(), False),
    t.Field("dpc", t.Bool(), False),
    t.Field("root_complex_errors", t.Bool(), False),
    t.Field("containment", t.Enum(("contained", "uncontained"), "a containment"), "contained"),
))

_RAM = t.Table((
    t.Field("name", t.Str(), None),
    t.Field("base", _ADDRESS, required=True),
    t.Field("size", t.Number(lo=1, expected="a size such as '2G'"), required=True),
    t.Field("linear_map", t.Bool(), True),
))

_DEVICE = t.Table(
    (_NAME, t.Field("kind", t.Enum(DEVICE_KINDS, "a device kind"), required=True)),
    tag="kind", variants={d.name: d.keys for d in DEVICE_KIND_DECLS})

_VMM_MAPPING = t.Table(
    (_NAME, t.Field("source", t.Enum(tuple(SOURCES), "a mapping source", error=ConfigError),
                    required=True),
     t.Field("allow_any_uncached", t.Bool(), None,
             doc="what-if: force VM_ALLOW_ANY_UNCACHED on or off")),
    tag="source", variants={s.name: s.fields for s in SOURCE_KINDS})

_MEMSLOT = t.Table((
    t.Field("slot", t.Int(0, KVM_USER_MEM_SLOTS - 1, "a slot number"), None),
    t.Field("mapping", t.Str(expected="the name of a [[vmm_mapping]]"), required=True),
    t.Field("ipa", t.Number(expected="a guest physical address"), required=True),
    t.Field("size", t.Number(lo=1, expected="a size such as '1G'"), None),
    t.Field("offset", t.Number(expected="a byte offset into the mapping"), 0),
    t.Field("readonly", t.Bool(), False),
))

_GUEST = t.Table((
    t.Field("mmu", t.Bool(), True),
    t.Field("mair_el1", t.Number(64, units=False, expected="a 64-bit MAIR_EL1 value"), None),
))

_SH = t.AnyOf(t.Enum({"NSH": 0, "OSH": 2, "ISH": 3}, "a shareability", fold_case=True),
              t.Int(0, 3), expected="NSH, ISH, OSH or 0..3")

_GUEST_MAPPING = t.Table((
    _NAME,
    t.Field("ipa", t.Number(expected="a guest physical address"), None),
    t.Field("target", t.Str(expected="the name of a [[vmm_mapping]]"), None),
    t.Field("offset", t.Number(expected="a byte offset"), 0),
    t.Field("size", t.Number(lo=1, expected="a size such as '4K'"), 4096),
    t.Field("api", t.Enum(tuple(GUEST_APIS), "a guest API"), None),
    t.Field("attr", t.Number(8, units=False, expected="a MAIR attribute byte 0x00..0xff"), None),
    t.Field("attr_index", t.Int(0, 7, "an AttrIndx 0..7"), None),
    t.Field("sh", _SH, None),
), exactly_one=(("api", "attr", "attr_index"), ("ipa", "target")))


def _access_size(v: int) -> str | None:
    return None if v in (1, 2, 4, 8, 16, 32, 64) else f"{v} is not an access size"


_ACCESS = t.Table((
    t.Field("mapping", t.Str(expected="the name of a [[guest_mapping]]"), required=True),
    t.Field("op", t.Enum(ACCESS_OPS, "an access kind"), "read", expected="read, write or exec"),
    t.Field("size", t.Check(t.Int(), _access_size, "1, 2, 4, 8, 16, 32 or 64 bytes"), 8),
    t.Field("offset", t.Number(expected="a byte offset into the guest mapping"), 0),
    t.Field("instr", t.Enum(tuple(INSTR_CLASSES), "an instruction class"), "ldr"),
    t.Field("bus_error", t.Bool(), False, doc="the target answers this access with an error"),
))

_EVENT = t.Table((
    t.Field("mapping", t.Str(expected="the name of a [[guest_mapping]]"), required=True),
    t.Field("before", t.Int(0, 4095, "an access index 0..4095"), required=True,
            doc="the index, among that guest mapping's [[access]], of the access it precedes"),
    t.Field("kind", t.Enum(tuple(EVENT_KINDS), "an event kind"), required=True),
    t.Field("source", t.Str(expected="the name of a [[vmm_mapping]]"), None,
            doc="replace-vma: the mapping mmapped in the old one's place"),
))

SCHEMA = t.Table((
    t.Field("name", t.Str(), None, doc="shown in the report (default: the file name)"),
    t.Field("description", t.Str(4096), "", doc="shown in the report"),
    t.Field("policy", t.Str(64, "a policy name as a string"), None),
    t.Field("policies", t.List(t.Str(64, "a policy name as a string"), min_length=1,
                               max_length=64), None,
            expected="a non-empty array of policy names"),
    t.Field("cpu", _CPU, {}),
    t.Field("host", _HOST, {}),
    t.Field("vm", _VM, {}),
    t.Field("pcie", _PCIE, {}),
    t.Field("ram", t.ArrayOf(_RAM)),
    t.Field("device", t.ArrayOf(_DEVICE)),
    t.Field("vmm_mapping", t.ArrayOf(_VMM_MAPPING)),
    t.Field("memslot", t.ArrayOf(_MEMSLOT)),
    t.Field("guest", _GUEST, {}),
    t.Field("guest_mapping", t.ArrayOf(_GUEST_MAPPING)),
    t.Field("access", t.ArrayOf(_ACCESS)),
    t.Field("event", t.ArrayOf(_EVENT)),
), at_most_one=(("policy", "policies"),))
"""The scenario file's schema, read by :func:`memattr.inputs.toml.read`."""

CUSTOM_POLICY = t.Field("policy", t.ArrayOf(_POLICY, max_length=64),
                        doc="[[policy]]: what-if policies of this scenario")
"""``[[policy]]``: a file whose ``policy`` is an array of tables defines what-if policies (and
names the policies to compare with ``policies``, by default each one and its base)."""

_SCHEMA_CUSTOM = value_replace(SCHEMA, fields=tuple(CUSTOM_POLICY if f.key == "policy" else f
                                              for f in SCHEMA.fields))


# --- from records to values, with the checks across tables ----------------------------------------


class _Space:
    """The physical address space of the host CPU: every range must end below 2**pa_max."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.top = 1 << cpu.pa_max

    def check(self, rec: t.Record, key: str, base: int, size: int, what: str = "physical") -> None:
        """``base + size`` must not pass the top of the address space (blamed on ``key``)."""
        if base + size > self.top:
            raise rec.error(key, f"{show_int(base)} + {show_int(size)} ends beyond the "
                                 f"{self.cpu.pa_max}-bit {what} address space of cpu "
                                 f"{show(self.cpu.name)}", f"an end at most {show_int(self.top)}",
                            ConfigError)


def _prot(name: str) -> Any:
    """A :data:`POLICY_PROTS` value as KVM_PGTABLE_PROT bits."""
    from ..linux.kvm.pgtable import KVM_PGTABLE_PROT

    out = KVM_PGTABLE_PROT(0)
    for part in name.split("|"):
        out |= KVM_PGTABLE_PROT[part.strip()]
    return out


def _unknown_policy(name: str) -> str:
    """Why ``name`` names no policy: a release older than the model, or no such name."""
    from ..linux.version import OLDEST_MODELLED, KernelVersion

    try:
        release = KernelVersion.parse(name)
    except (ConfigError, ValueError):
        return f"unknown policy {show(name)}"
    if release < OLDEST_MODELLED:
        return (f"kernel {show(name)} is older than the oldest release modelled "
                f"(v{OLDEST_MODELLED})")
    return f"unknown policy {show(name)}"


def _custom_policies(recs: tuple[t.Record, ...]) -> tuple[PolicySpec, ...]:
    """The file's ``[[policy]]`` what-ifs: new names over a known (or earlier) base."""
    get_policy = _policy_module().get_policy

    out: list[PolicySpec] = []
    for r in recs:
        name, base = r["name"], r["base"].strip()
        taken = any(p.name == name for p in out)
        if not taken:
            try:
                get_policy(name)
                taken = True
            except ConfigError:
                pass
        if taken:
            raise r.error("name", f"{show(name)} already names a policy",
                          "a new name, e.g. '6.9+DEVICE|NORMAL_NC'")
        if not any(p.name == base for p in out):
            try:
                get_policy(base)
            except ConfigError:
                raise r.error("base", _unknown_policy(base), "a policy defined above, one of "
                              f"{', '.join(policy_names())}, or a release such as 6.12") \
                    from None
        out.append(PolicySpec(name, base, r["prot"], r.line))
    return tuple(out)


def _policies(rec: t.Record, custom: tuple[PolicySpec, ...]) -> tuple[str, ...]:
    get_policy = _policy_module().get_policy

    mine = [p.name for p in custom]
    if rec["policies"] is not None:
        names, key = rec["policies"], "policies"
    elif custom:
        names, key = tuple(n for p in custom for n in (p.base, p.name)), "policy"
    elif rec["policy"] is not None:
        names, key = (rec["policy"],), "policy"
    else:
        raise rec.error("policies", "missing required key", "a policy name, or a list of them, "
                        f"e.g. policies = [\"6.8\", \"6.9\"]; known: {', '.join(policy_names())}",
                        ParseError)
    for i, name in enumerate(names):
        if name in mine:
            continue
        try:
            get_policy(name)
        except ConfigError:
            at: KeyPath = (key,) if key == "policy" else (key, i)
            known = ", ".join([*policy_names(), *mine])
            raise rec.error(at, _unknown_policy(name), f"one of {known}, or a release such as "
                            "6.12 (back to 5.5)") from None
    return tuple(dict.fromkeys(names))


# (scenario key, arch.cpu.Cpu feature) pairs a preset must implement to be switched on
_CPU_FEATURES = (("fwb", "s2fwb", "FEAT_S2FWB"), ("dic", "dic", "CTR_EL0.DIC"),
                 ("mte", "mte2", "FEAT_MTE2"), ("xs", "xs", "FEAT_XS"))


def _cpu(rec: t.Record) -> Cpu:
    from ..arch.cpu import cpu_names, get_cpu

    name = rec["name"] if rec["name"] is not None else "all"
    try:
        arch = get_cpu(name)
    except ConfigError:
        raise rec.error("name", f"unknown CPU {show(name)}",
                        "one of " + ", ".join(cpu_names())) from None
    for key, feature, label in _CPU_FEATURES:
        value = rec[key]
        if value is not None and True in (value if isinstance(value, tuple) else (value,)) \
                and not getattr(arch, feature):
            raise rec.error(key, f"cpu {show(name)} does not implement {label}",
                            f"{key} = false, or a cpu that has it")
    fwb = rec["fwb"]
    return Cpu(
        fwb=(fwb,) if isinstance(fwb, bool) else fwb if fwb is not None else (arch.s2fwb,),
        dic=rec["dic"] if rec["dic"] is not None else arch.dic,
        mte=rec["mte"] if rec["mte"] is not None else False,
        xs=rec["xs"] if rec["xs"] is not None else arch.xs,
        hcr_cd=rec["hcr_cd"], name=arch.name, pa_max=arch.pa_max,
        atomics_uncached=rec["atomics_uncached"],
    )


def _host(rec: t.Record, cpu: Cpu) -> HostSpec:
    """``[host]``; LPA2 needs the CPU's FEAT_LPA2, the IPA limit is at most what the CPU offers
    (``get_kvm_ipa_limit``: PARange, 48 bits unless LPA2)."""
    from ..arch.cpu import get_cpu

    arch = get_cpu(cpu.name)
    if rec["lpa2"] and not arch.lpa2:
        raise rec.error("lpa2", f"cpu {show(cpu.name)} does not implement FEAT_LPA2",
                        "lpa2 = false, or a cpu that has it")
    most = min(cpu.pa_max, 52 if rec["lpa2"] else 48)
    limit = rec["ipa_limit"] if rec["ipa_limit"] is not None else most
    if limit > most:
        raise rec.error("ipa_limit", f"{limit} bits is more than KVM offers on cpu "
                        f"{show(cpu.name)} (PARange {cpu.pa_max} bits"
                        + ("" if rec["lpa2"] else ", 48 without LPA2") + ")",
                        f"at most {most}")
    return HostSpec(bits=rec["bits"], page_size=rec["page_size"], apei=rec["apei"],
                    ras=rec["ras"], pkvm=rec["pkvm"], ipa_limit=limit, lpa2=rec["lpa2"])


def _vm(rec: t.Record, host: HostSpec, cpu: Cpu) -> VmSpec:
    """``[vm]``; KVM_CREATE_VM refuses an IPA size beyond the host's limit (-EINVAL), and MTE
    for a VM on a host without it."""
    if rec["ipa_bits"] > host.ipa_limit:
        raise rec.error("ipa_bits", f"{rec['ipa_bits']} bits is beyond the host's IPA limit of "
                        f"{host.ipa_limit} bits (KVM_CAP_ARM_VM_IPA_SIZE): KVM_CREATE_VM fails "
                        "with -EINVAL", f"at most {host.ipa_limit}, or a larger [host] ipa_limit")
    if rec["mte"] and not cpu.mte:
        raise rec.error("mte", "KVM_CAP_ARM_MTE needs MTE on the host", "[cpu] mte = true")
    return VmSpec(ipa_bits=rec["ipa_bits"], nisv_to_user=rec["nisv_to_user"], mte=rec["mte"])


def _pcie(rec: t.Record, space: _Space) -> PcieSpec:
    space.check(rec, "ecam", rec["ecam"], 1 << 20)
    for w in rec["windows"]:
        space.check(w, "size", w["base"], w["size"])
    return PcieSpec(ecam=rec["ecam"], windows=tuple((w["base"], w["size"]) for w in rec["windows"]),
                    aer=rec["aer"], dpc=rec["dpc"], root_complex_errors=rec["root_complex_errors"],
                    containment=rec["containment"])


def _ram(recs: tuple[t.Record, ...], space: _Space) -> tuple[RamSpec, ...]:
    out = []
    for i, r in enumerate(recs):
        space.check(r, "size", r["base"], r["size"])
        out.append(RamSpec(r["name"] if r["name"] is not None else f"ram{i}", r["base"], r["size"],
                           r["linear_map"], r.line))
    return tuple(out)


def _bars(dev: t.Record, key: str, space: _Space, copies: int = 1) -> tuple[BarSpec, ...]:
    """The BARs (``copies`` > 1: VF BARs, one copy per VF laid out from ``base``)."""
    out: list[BarSpec] = []
    for j, b in enumerate(dev[key]):
        index = b["index"] if b["index"] is not None else j
        if any(o.index == index for o in out):
            raise b.error("index" if b.has("index") else None, f"BAR{index} is defined twice",
                          "one table per BAR index")
        space.check(b, "size", b["base"], b["size"] * max(copies, 1))
        out.append(BarSpec(index, b["base"], b["size"], b["prefetchable"], b["bits"],
                           b["read_side_effects"], b.line))
    return tuple(out)


def _devices(recs: tuple[t.Record, ...], space: _Space) -> tuple[DeviceSpec, ...]:
    out: list[DeviceSpec] = []
    seen: set[str] = set()
    for i, d in enumerate(recs):
        name, kind = d["name"], d["kind"]
        if name in seen:
            raise d.error("name", f"device {show(name)} is defined twice", "a unique name")
        seen.add(name)
        bdf = d.get("bdf") or f"{i + 1:02x}:00.0"
        if kind == "pcie":
            if d["vf_bar"] and d["num_vfs"] <= 0:
                raise d.error("num_vfs", "[[device.vf_bar]] needs num_vfs >= 1",
                              "num_vfs = N with the VF BARs")
            out.append(DeviceSpec(name, kind, d.line, bdf=bdf, bars=_bars(d, "bar", space),
                                  num_vfs=d["num_vfs"],
                                  vf_bars=_bars(d, "vf_bar", space, d["num_vfs"])))
        elif kind == "platform":
            space.check(d, "size", d["base"], d["size"])
            out.append(DeviceSpec(name, kind, d.line, base=d["base"], size=d["size"],
                                  errors=d["errors"], response=d["response"],
                                  unaligned=d["unaligned"],
                                  read_side_effects=d["read_side_effects"]))
        elif kind == "gicv2":
            space.check(d, "size", d["base"], d["size"])
            out.append(DeviceSpec(name, kind, d.line, base=d["base"], size=d["size"]))
        else:
            space.check(d, "usemem_size", d["usemem_base"], d["usemem_size"])
            space.check(d, "resmem_size", d["resmem_base"], d["resmem_size"])
            out.append(DeviceSpec(name, kind, d.line, bdf=bdf,
                                  usemem=(d["usemem_base"], d["usemem_size"]),
                                  resmem=(d["resmem_base"], d["resmem_size"])))
    return tuple(out)


def _region(m: t.Record, src: SourceKind, dev: DeviceSpec | None) -> tuple[str, int] | None:
    """What a device-backed mapping maps into and that region's size (None: no device)."""
    if dev is None:
        return None
    if dev.kind == "pcie":
        vf = m.get("vf")
        if vf is not None and not 0 <= vf < dev.num_vfs:
            raise m.error("vf", f"device {show(dev.name)} has {dev.num_vfs} VFs, so no VF{vf}",
                          f"a VF number 0..{dev.num_vfs - 1}" if dev.num_vfs else
                          "no vf: the device has no SR-IOV VFs")
        bars = dev.bars if vf is None else dev.vf_bars
        what = "BAR" if vf is None else "VF BAR"
        for b in bars:
            if b.index == m["bar"]:
                return f"{what}{b.index} of {show(dev.name)}", _mmap_size(m, src, b, what)
        raise m.error("bar", f"device {show(dev.name)} has no {what}{m['bar']} (have "
                             f"{[b.index for b in bars]})", "the index of one of its BARs")
    if dev.kind == "nvgrace-gpu":
        which = src.name.rsplit("-", 1)[1]
        return f"{which} of {show(dev.name)}", (dev.usemem if which == "usemem" else dev.resmem)[1]
    if dev.kind == "platform":
        return f"region of {show(dev.name)}", dev.size
    return None  # gicv2: KVM maps the frame itself


def _mmap_size(m: t.Record, src: SourceKind, b: BarSpec, what: str) -> int:
    """The bytes an mmap of BAR ``b`` may cover: the BAR, or for vfio-pci a whole page when the
    BAR is smaller than a page and starts one (drivers/vfio/pci/vfio_pci_core.c
    ``vfio_pci_probe_mmaps``, Linux commit 05f0c03fbac1, v4.8: the rest of the page is reserved
    for it); a vfio-pci sub-page BAR that does not start a page cannot be mmapped (-EINVAL)."""
    from ..platform.physmap import PAGE_SIZE

    if src.name != "vfio-pci" or b.size >= PAGE_SIZE:
        return b.size
    if b.base % PAGE_SIZE:
        raise m.error("bar", f"{what}{b.index} is {show_int(b.size)} bytes at {show_int(b.base)}: "
                             "a sub-page BAR that does not start a page, which vfio-pci does not "
                             "let a VMM mmap (vfio_pci_probe_mmaps; mmap -EINVAL)",
                      "a BAR of a page or more, or one that starts a page")
    return PAGE_SIZE


def _vmm_mappings(recs: tuple[t.Record, ...], devices: tuple[DeviceSpec, ...],
                  space: _Space) -> tuple[tuple[VmmMappingSpec, ...], dict[str, int | None]]:
    """The VMM mappings, and the size of each (None for GICV) for the memslot checks."""
    out: list[VmmMappingSpec] = []
    sizes: dict[str, int | None] = {}
    by_name = {d.name: d for d in devices}
    for m in recs:
        name, src = m["name"], source_kind(m["source"])
        if name in sizes:
            raise m.error("name", f"VMM mapping {show(name)} is defined twice", "a unique name")
        dev: DeviceSpec | None = None
        if src.device is not None:
            ref = m["device"]
            if ref not in by_name:
                raise m.error("device", f"no [[device]] named {show(ref)} (have "
                                        f"{', '.join(show(n) for n in by_name) or 'none'})")
            dev = by_name[ref]
            if dev.kind != src.device:
                raise m.error("device", f"source {show(src.name)} needs a {src.device} device, "
                                        f"but {show(ref)} is {dev.kind}",
                              f"the name of a {src.device} [[device]]")
        region = _region(m, src, dev)
        offset, size = m.get("offset", 0), m.get("size")
        if region is not None:
            what, total = region
            if offset >= total:
                raise m.error("offset", f"{show_int(offset)} is beyond the {what} "
                                        f"({show_int(total)} bytes)",
                              f"an offset below {show_int(total)}")
            if size is not None and offset + size > total:
                raise m.error("size", f"offset {show_int(offset)} + size {show_int(size)} is "
                                      f"beyond the {what} ({show_int(total)} bytes)",
                              f"a size at most {show_int(total - offset)}")
            sizes[name] = size if size is not None else total - offset
        elif src.name == "gicv":
            space.check(m, "ipa", m["ipa"], 0x2000, "intermediate physical")
            sizes[name] = None
        else:
            if m.get("phys") is not None:
                space.check(m, "phys", m["phys"], size)
            sizes[name] = size
        align = m.get("hva_align")
        if align is not None and src.name == "hugetlb" and align < m.get("page_size", 2 << 20):
            raise m.error("hva_align", f"{show_int(align)} is below the huge page size "
                                       f"({show_int(m.get('page_size', 2 << 20))}), which a "
                                       "hugetlbfs mmap is always aligned to",
                          "an alignment at least page_size")
        pfnmap = src.name == "pfnmap"  # the driver's own VM_ALLOW_ANY_UNCACHED, not a what-if
        out.append(VmmMappingSpec(
            name=name, source=src.name, line=m.line, device=dev.name if dev else "",
            bar=m.get("bar", 0), vf=m.get("vf"), offset=offset, size=size, phys=m.get("phys"),
            o_sync=m.get("o_sync", False), page_size=m.get("page_size", 2 << 20),
            ipa=m.get("ipa"), allow_any_uncached=None if pfnmap else m["allow_any_uncached"],
            thp=m.get("thp", False), pgprot=m.get("pgprot", "writecombine"),
            mixedmap=m.get("mixedmap", False),
            driver_allow_any_uncached=bool(m["allow_any_uncached"]) if pfnmap else False,
            hva_align=m.get("hva_align")))
    return tuple(out), sizes


def _memslots(recs: tuple[t.Record, ...], mappings: tuple[VmmMappingSpec, ...],
              sizes: dict[str, int | None], space: _Space) -> tuple[MemslotSpec, ...]:
    out: list[MemslotSpec] = []
    by_name = {m.name: m for m in mappings}
    for i, s in enumerate(recs):
        mapping = s["mapping"]
        if mapping not in by_name:
            raise s.error("mapping", f"no [[vmm_mapping]] named {show(mapping)} (have "
                                     f"{', '.join(show(n) for n in by_name) or 'none'})")
        if by_name[mapping].source == "gicv":
            raise s.error("mapping", f"{show(mapping)} is the GICV frame: KVM maps it itself at "
                                     "its ipa, it has no VMA and needs no memslot",
                          "a [[vmm_mapping]] with a VMA")
        total = sizes[mapping]
        assert total is not None
        offset, size = s["offset"], s["size"]
        if offset >= total:
            raise s.error("offset", f"{show_int(offset)} is beyond mapping {show(mapping)} "
                                    f"({show_int(total)} bytes)", f"below {show_int(total)}")
        if size is not None and offset + size > total:
            raise s.error("size", f"offset {show_int(offset)} + size {show_int(size)} is beyond "
                                  f"mapping {show(mapping)} ({show_int(total)} bytes)",
                          f"a size at most {show_int(total - offset)}")
        space.check(s, "ipa", s["ipa"], size if size is not None else total - offset,
                    "intermediate physical")
        out.append(MemslotSpec(slot=s["slot"] if s["slot"] is not None else i, mapping=mapping,
                               ipa=s["ipa"], size=size, offset=offset, readonly=s["readonly"],
                               line=s.line))
    return tuple(out)


def _guest_mappings(recs: tuple[t.Record, ...], guest: GuestSpec,
                    mappings: tuple[VmmMappingSpec, ...], memslots: tuple[MemslotSpec, ...],
                    space: _Space) -> tuple[GuestMappingSpec, ...]:
    out: list[GuestMappingSpec] = []
    seen: set[str] = set()
    by_name = {m.name: m for m in mappings}
    for g in recs:
        name = g["name"]
        if name in seen:
            raise g.error("name", f"guest mapping {show(name)} is defined twice", "a unique name")
        seen.add(name)
        if g["attr_index"] is not None and guest.mair_el1 is None:
            raise g.error("attr_index", "needs [guest] mair_el1",
                          "mair_el1 = 0x... in [guest], or attr or api")
        target = g["target"]
        if target is not None:
            if target not in by_name:
                raise g.error("target", f"no [[vmm_mapping]] named {show(target)} (have "
                                        f"{', '.join(show(n) for n in by_name) or 'none'})")
            base = _ipa_of(g, by_name[target], memslots)
        else:
            base = g["ipa"]
        ipa = base + g["offset"]
        space.check(g, "offset" if g.has("offset") else "ipa" if g.has("ipa") else "target",
                    ipa, g["size"], "intermediate physical")
        out.append(GuestMappingSpec(name=name, ipa=ipa, size=g["size"], api=g["api"],
                                    attr=g["attr"], attr_index=g["attr_index"], sh=g["sh"],
                                    target=target, line=g.line))
    return tuple(out)


def _ipa_of(g: t.Record, m: VmmMappingSpec, memslots: tuple[MemslotSpec, ...]) -> int:
    if m.source == "gicv":
        assert m.ipa is not None
        return m.ipa
    for s in memslots:
        if s.mapping == m.name:
            if s.ipa < s.offset:
                raise g.error("target", f"[[memslot]] over {show(m.name)} starts "
                              f"{show_int(s.offset)} into it at IPA {show_int(s.ipa)}, so the "
                              "mapping's start has no IPA", "ipa instead of target")
            return s.ipa - s.offset
    raise g.error("target", f"[[vmm_mapping]] {show(m.name)} is in no [[memslot]], so it has no "
                            "guest physical address", "ipa instead, or a [[memslot]] over it")


def _accesses(recs: tuple[t.Record, ...],
              gmaps: tuple[GuestMappingSpec, ...]) -> tuple[AccessSpec, ...]:
    out: list[AccessSpec] = []
    sizes = {g.name: g.size for g in gmaps}
    ipas = {g.name: g.ipa for g in gmaps}
    for a in recs:
        mapping = a["mapping"]
        if mapping not in sizes:
            raise a.error("mapping", f"no [[guest_mapping]] named {show(mapping)} (have "
                                     f"{', '.join(show(n) for n in sorted(sizes)) or 'none'})")
        spec = AccessSpec(mapping=mapping, op=a["op"], size=a["size"], offset=a["offset"],
                          instr=a["instr"], line=a.line, bus_error=a["bus_error"])
        if spec.op == "exec" and a.has("instr") and spec.instr != "ldr":
            raise a.error("instr", f"an instruction fetch is not made by {show(spec.instr)}",
                          "no instr with op = \"exec\", or op = \"read\" or \"write\"")
        if spec.instr == "dc-zva" and spec.op != "write":
            raise a.error("op", f"DC ZVA writes its block, so it is not op = {show(spec.op)}",
                          "op = \"write\" with instr = \"dc-zva\"")
        if spec.instr == "dc-civac" and (ipas[mapping] + spec.offset) % spec.size:
            raise a.error("offset", f"DC CIVAC works on a whole cache line, so it is never "
                          f"unaligned, but IPA {show_int(ipas[mapping] + spec.offset)} is not a "
                          f"multiple of size {spec.size}", "an aligned offset")
        if spec.offset + spec.size > sizes[mapping]:
            raise a.error("offset", f"offset {show_int(spec.offset)} + size {spec.size} is "
                                    f"beyond guest mapping {show(mapping)} "
                                    f"({show_int(sizes[mapping])} bytes)",
                          f"an offset at most {show_int(max(sizes[mapping] - spec.size, 0))}")
        out.append(spec)
    return tuple(out)


def _memslot_over(ipa: int, slots: tuple[MemslotSpec, ...],
                  sizes: dict[str, int | None]) -> MemslotSpec | None:
    """The memslot whose IPA range holds ``ipa`` (as the replay finds it)."""
    for s in slots:
        total = sizes.get(s.mapping)
        size = s.size if s.size is not None else (total - s.offset if total is not None else 0)
        if s.ipa <= ipa < s.ipa + size:
            return s
    return None


# the sources whose BARs vfio-pci revokes (vfio_pci_zap_bars) on a memory disable or a reset
_REVOKED_BY_VFIO_PCI = ("vfio-pci",)


def _events(recs: tuple[t.Record, ...], gmaps: tuple[GuestMappingSpec, ...],
            accesses: tuple[AccessSpec, ...], mappings: tuple[VmmMappingSpec, ...],
            slots: tuple[MemslotSpec, ...], sizes: dict[str, int | None]) -> tuple[EventSpec, ...]:
    out: list[EventSpec] = []
    by_gm = {g.name: g for g in gmaps}
    by_vmm = {m.name: m for m in mappings}
    for e in recs:
        mapping, kind, source = e["mapping"], e["kind"], e["source"]
        if mapping not in by_gm:
            raise e.error("mapping", f"no [[guest_mapping]] named {show(mapping)} (have "
                                     f"{', '.join(show(n) for n in by_gm) or 'none'})")
        count = sum(1 for a in accesses if a.mapping == mapping)
        if e["before"] >= count:
            raise e.error("before", f"guest mapping {show(mapping)} has {count} [[access]], so "
                                    f"none has index {e['before']}",
                          f"an index below {count}" if count else "an [[access]] after the event")
        slot = _memslot_over(by_gm[mapping].ipa, slots, sizes)
        if slot is None:
            raise e.error("mapping", f"guest mapping {show(mapping)} is in no [[memslot]], so "
                                     "there is no VMA to revoke or replace",
                          "a guest mapping backed by a memslot")
        backing = by_vmm[slot.mapping]
        if kind == "replace-vma":
            if source is None:
                raise e.error(None, "replace-vma needs source", "source = the [[vmm_mapping]] "
                                    "mmapped in the old one's place", ParseError)
            if source not in by_vmm:
                raise e.error("source", f"no [[vmm_mapping]] named {show(source)} (have "
                                        f"{', '.join(show(n) for n in by_vmm)})")
            if by_vmm[source].source == "gicv":
                raise e.error("source", f"{show(source)} is the GICV frame, which has no VMA",
                              "a [[vmm_mapping]] with a VMA")
        else:
            if source is not None:
                raise e.error("source", f"only replace-vma takes a source, not {kind}",
                              "no source", ParseError)
            if backing.source not in _REVOKED_BY_VFIO_PCI:
                raise e.error("kind", f"{kind} is vfio-pci's (vfio_pci_zap_bars), but guest "
                                      f"mapping {show(mapping)} is backed by "
                                      f"{show(backing.name)} (source {backing.source})",
                              "a guest mapping over a vfio-pci [[vmm_mapping]], or replace-vma")
        out.append(EventSpec(mapping, e["before"], kind, source, e.line))
    return tuple(out)


def _scenario(doc: t.Document) -> Scenario:
    custom_form = isinstance(doc.data.get("policy"), list) and bool(doc.data["policy"]) and \
        all(isinstance(p, dict) for p in doc.data["policy"])
    top = t.read(doc, _SCHEMA_CUSTOM if custom_form else SCHEMA)
    custom = _custom_policies(top["policy"]) if custom_form else ()
    policies = _policies(top, custom)
    cpu = _cpu(top["cpu"])
    host = _host(top["host"], cpu)
    vm = _vm(top["vm"], host, cpu)
    space = _Space(cpu)
    pcie = _pcie(top["pcie"], space)
    ram = _ram(top["ram"], space)
    devices = _devices(top["device"], space)
    vmm, sizes = _vmm_mappings(top["vmm_mapping"], devices, space)
    slots = _memslots(top["memslot"], vmm, sizes, space)
    guest = GuestSpec(mmu=top["guest"]["mmu"], mair_el1=top["guest"]["mair_el1"])
    gmaps = _guest_mappings(top["guest_mapping"], guest, vmm, slots, space)
    accesses = _accesses(top["access"], gmaps)
    events = _events(top["event"], gmaps, accesses, vmm, slots, sizes)
    name = top["name"] if top["name"] is not None else Path(doc.path).stem
    return Scenario(
        path=doc.path, name=name, description=top["description"], policies=policies, cpu=cpu,
        bits=host.bits, pcie=pcie, ram=ram, devices=devices, vmm_mappings=vmm,
        memslots=slots, guest=guest, guest_mappings=gmaps, accesses=accesses, lines=doc.lines,
        display=doc.name, host=host, vm=vm, custom_policies=custom, events=events,
    )


def loads(text: str, path: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``path`` names it in errors."""
    from ..inputs.escape import show_path

    return _scenario(t.parse(text, show_path(path), path=path))


def load(path: str | Path, *, arg: str | None = None) -> Scenario:
    """Read (bounded: :mod:`memattr.inputs.files`) and validate a scenario file; '-' is stdin.

    :param path: the file name.
    :param arg: the command-line argument that named it, for messages about the name.
    """
    return _scenario(t.load(path, what="scenario file", arg=arg))


def bundled_path(name: str) -> Path:
    """The path of a scenario shipped with memattr (``memattr/scenarios/<name>.toml``)."""
    base = Path(__file__).resolve().parent.parent / "scenarios"
    have = bundled()
    stem = name[:-5] if name.endswith(".toml") else name
    if stem not in have:
        raise ConfigError(f"scenario={show(name)}: no bundled scenario of that name (expected a "
                          f"file path or a bundled name; have {', '.join(have)})")
    return base / f"{stem}.toml"


def bundled() -> tuple[str, ...]:
    """The names of the scenarios shipped with memattr."""
    base = Path(__file__).resolve().parent.parent / "scenarios"
    return tuple(sorted(q.stem for q in base.glob("*.toml")))
