"""The policy matrix: every policy x device class x mapping source x guest mapping x access kind x
FWB, with the outcome and the hazards of each, and a verdict per (policy, device class).

:func:`build_matrix` answers it.  Each row is what :func:`memattr.analysis.access.evaluate_access`
says one access does through one mapping (the scalar engine: the Linux model, walks and all), and
the hazard checks of :mod:`memattr.analysis.hazards` on it.  The default matrix has some 25,000
rows; the *bulk* engine (the default) computes them from tables the scalar engine's own parts
fill once each -- KVM's stage-2 mapping per (policy, device, source, FWB), asked of the kernel
model, the architecture's rules per (guest type, stage-2 leaf, FWB, access), KVM's reaction per
stage-2 fault kind -- and ``tests/analysis/test_matrix.py`` proves it equal to the scalar engine
over the whole default matrix (docs/matrix.md#how-it-is-computed).

``Matrix.to_json()`` is the contract other tools read (docs/matrix.md#json).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..arch.combine import Access, Controls, Resolution, resolve
from ..arch.descriptor import S2_FNXS
from ..arch.esr import FaultKind
from ..arch.instr import AccessClass, Outcome, unaligned_access_faults
from ..arch.memtype import MemoryAttributes
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault
from ..errors import ConfigError
from ..inputs.escape import show
from .access import (
    ACCESS_KINDS,
    DEFAULT_ACCESSES,
    AccessKind,
    AccessOutcome,
    Result,
    access_kind,
    arch_outcome,
    bus_results,
    evaluate_access,
    s2_label,
)
from .hazards import HAZARDS, Hazard, check_outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..linux.guest import GuestStage1
    from ..linux.kvm.features import HostFeatures
    from ..linux.kvm.mmu import AbortResult
    from ..linux.kvm.pgtable import Stage2Leaf
    from ..linux.mmap import MappingSource
    from ..linux.policy import Policy
    from ..linux.system import MemslotSpec
    from ..platform.physmap import Platform, Region

__all__ = [
    "DeviceClass",
    "SourceSpec",
    "DEVICES",
    "GUEST_MAPPINGS",
    "Row",
    "Verdict",
    "Matrix",
    "build_matrix",
    "matrix_platform",
    "matrix_host",
    "scalar_outcome",
    "VERDICTS",
]

VERDICTS = ("ok", "hazard", "broken")
"""A (policy, device class) verdict: no hazard; a hazard (or an open platform question) in some
row; the basic accesses do not work (KVM refuses the memslot or fails KVM_RUN)."""

_SLOT_IPA = 0x1_0000_0000
_SLOT_SIZE = 0x10000
_GICV_IPA = 0x0801_0000


# --- the host every row runs on -------------------------------------------------------------------


@cache
def matrix_platform() -> Platform:
    """The matrix's host: a GPU-like PCIe endpoint (a prefetchable 16 MiB BAR0, a register BAR2
    whose first page has read side effects) behind a root complex that answers errors with
    all-ones; a NIC behind a second root complex configured to report errors as uncontained
    external aborts; an AXI DMA engine (SLVERR, uncontained, unaligned behaviour unknown); a
    GICv2; a Grace Hopper GPU's device memory; RAM."""
    from ..platform.bus import AxiErrorModel, Containment, PcieErrorModel
    from ..platform.devices import AmbaDevice, Gicv2, NvgraceGpu
    from ..platform.pcie import Bar, BarKind, Bdf, HostBridgeWindow, PcieEndpoint, RootComplex
    from ..platform.physmap import Platform, RamRegion

    mib, gib = 1 << 20, 1 << 30
    gpu = PcieEndpoint("gpu", Bdf(1, 0, 0), bars=(
        Bar(0, 0x80_0000_0000, 16 * mib, BarKind.MEM64, True),
        Bar(2, 0x80_0100_0000, 64 * 1024, BarKind.MEM64, True, frozenset({0})),
    ))
    nic = PcieEndpoint("nic", Bdf(1, 0, 0), bars=(
        Bar(0, 0x90_0000_0000, 1 * mib, BarKind.MEM64, True),))
    rc0 = RootComplex("pcie0", ecam_base=0x30_0000_0000, windows=(
        HostBridgeWindow(0x80_0000_0000, 1 * gib),), endpoints=(gpu,),
        errors=PcieErrorModel(aer=True))
    rc1 = RootComplex("pcie1", ecam_base=0x31_0000_0000, windows=(
        HostBridgeWindow(0x90_0000_0000, 1 * gib),), endpoints=(nic,),
        errors=PcieErrorModel(root_complex_errors=True, containment=Containment.UNCONTAINED))
    return Platform(
        ram=(RamRegion(0x8000_0000, 2 * gib, True, "ram0"),),
        root_complexes=(rc0, rc1),
        amba=(AmbaDevice("dma", 0x0900_0000, 64 * 1024, AxiErrorModel()),),
        gic=Gicv2(gicd_base=0x0800_0000, gicc_base=0x0801_0000, gich_base=0x0803_0000,
                  gicv_base=0x0804_0000),
        nvgrace=(NvgraceGpu("gh", Bdf(9, 0, 0), usemem_base=0x400_0000_0000,
                            usemem_size=8 * gib, resmem_base=0x402_0000_0000,
                            resmem_size=1 * gib),),
        name="matrix")


@cache
def matrix_host(fwb: bool) -> HostFeatures:
    """The matrix's host CPU: FWB as the row says, CTR_EL0.DIC, no MTE; exclusives and atomics
    on non-Write-Back memory and the LD64B/ST64B check left as the IMPLEMENTATION DEFINED sets."""
    from ..linux.kvm.features import HostFeatures

    return HostFeatures(fwb=fwb, atomics_uncached=None)


@dataclass(frozen=True)
class SourceSpec:
    """A mapping source of a device class: how the VMM maps it and where the guest sees it.

    :param name: the scenario file's source name (docs/scenarios.md).
    :param build: the Linux model's mapping source.
    :param memslot: True: a memslot over the VMA (False: KVM maps it itself, GICV).
    :param offset: where in the slot (or frame) the accesses go.
    """

    name: str
    build: Callable[[], MappingSource]
    memslot: bool = True
    offset: int = 0

    def memslot_spec(self) -> MemslotSpec | None:
        from ..linux.system import MemslotSpec

        return MemslotSpec(_SLOT_IPA, _SLOT_SIZE) if self.memslot else None

    @property
    def ipa(self) -> int | None:
        return None if self.memslot else _GICV_IPA


@dataclass(frozen=True)
class DeviceClass:
    """A kind of device memory a guest is given, with the mapping sources that reach it."""

    name: str
    summary: str
    sources: tuple[SourceSpec, ...]

    def source(self, name: str) -> SourceSpec:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"device {self.name}: no source {show(name)} (has "
                          f"{', '.join(s.name for s in self.sources)})")


def _vfio(dev: str, bar: int) -> Callable[[], MappingSource]:
    def build() -> MappingSource:
        from ..linux.mmap import VfioPciBar

        return VfioPciBar(dev, bar, size=_SLOT_SIZE)
    return build


def _sysfs(wc: bool) -> Callable[[], MappingSource]:
    def build() -> MappingSource:
        from ..linux.mmap import PciSysfsResource

        return PciSysfsResource("gpu", 0, wc, size=_SLOT_SIZE)
    return build


def _platform() -> MappingSource:
    from ..linux.mmap import VfioPlatformRegion

    return VfioPlatformRegion("dma", size=_SLOT_SIZE)


def _devmem() -> MappingSource:
    from ..linux.mmap import DevMem

    return DevMem(0x0900_0000, _SLOT_SIZE)


def _nvgrace(which: str) -> Callable[[], MappingSource]:
    def build() -> MappingSource:
        from ..linux.mmap import NvgraceRegion

        return NvgraceRegion("gh", which, size=_SLOT_SIZE)
    return build


def _gicv() -> MappingSource:
    from ..linux.mmap import GicvInterface

    return GicvInterface()


def _anon() -> MappingSource:
    from ..linux.mmap import AnonymousRam

    return AnonymousRam(_SLOT_SIZE)


DEVICES: tuple[DeviceClass, ...] = (
    DeviceClass("pcie-bar", "a PCIe endpoint's prefetchable BAR (a GPU's memory aperture) behind "
                "a root complex that answers errors with all-ones data",
                (SourceSpec("vfio-pci", _vfio("gpu", 0)),
                 SourceSpec("sysfs-resource", _sysfs(False)),
                 SourceSpec("sysfs-resource-wc", _sysfs(True)))),
    DeviceClass("pcie-regs", "a PCIe register page whose reads have side effects (a FIFO or a "
                "clear-on-read status)", (SourceSpec("vfio-pci", _vfio("gpu", 2)),)),
    DeviceClass("pcie-rc-abort", "a PCIe BAR behind a root complex that reports errors as "
                "uncontained external aborts", (SourceSpec("vfio-pci", _vfio("nic", 0)),)),
    DeviceClass("axi", "an AMBA/AXI platform device: SLVERR on error, uncontained; unaligned and "
                "64-byte accesses unknown", (SourceSpec("vfio-platform", _platform),
                                            SourceSpec("dev-mem", _devmem))),
    DeviceClass("gicv", "the GICv2 virtual CPU interface, mapped by KVM and switched with the vCPU",
                (SourceSpec("gicv", _gicv, memslot=False),)),
    DeviceClass("nvgrace-resmem", "Grace Hopper GPU memory nvgrace-gpu exposes write-combined "
                "(resmem)", (SourceSpec("nvgrace-gpu-resmem", _nvgrace("resmem")),)),
    DeviceClass("nvgrace-usemem", "Grace Hopper GPU memory nvgrace-gpu exposes cacheable "
                "(usemem)", (SourceSpec("nvgrace-gpu-usemem", _nvgrace("usemem")),)),
    DeviceClass("ram", "guest RAM (anonymous memory), for contrast", (SourceSpec("anon", _anon),)),
)
"""The device classes of the matrix, each with its mapping sources."""

_DEVICE_BY_NAME = {d.name: d for d in DEVICES}


def _guest(name: str) -> Callable[[], GuestStage1]:
    def build() -> GuestStage1:
        from ..linux.guest import LinuxGuest, guest_mmu_off, raw_guest

        if name == "mmu_off":
            return guest_mmu_off()
        if name == "device-gre":
            return raw_guest(attr=0x0C, name="device-gre")
        return LinuxGuest().map(name)
    return build


GUEST_MAPPINGS: dict[str, str] = {
    "ioremap_np": "Device-nGnRnE (a non-posted register mapping)",
    "ioremap": "Device-nGnRE (a Linux register mapping)",
    "device-gre": "Device-GRE (MAIR 0x0c: a guest that maps MMIO gathering)",
    "ioremap_wc": "Normal-NC (write-combining)",
    "memremap_wb": "Normal-WB (a cacheable mapping)",
    "mmu_off": "stage 1 off (firmware, early boot): data Device-nGnRnE",
}
"""The guest mappings of the matrix."""

_GUEST_BUILD = {n: cache(_guest(n)) for n in GUEST_MAPPINGS}


# --- rows and verdicts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One cell: an access kind through one mapping under one policy and FWB setting."""

    policy: str
    device: str
    source: str
    guest_mapping: str
    access: str
    fwb: bool
    s2: str | None
    effective: str | None
    outcome: str
    hazards: tuple[str, ...]
    notes: tuple[str, ...] = ()
    levels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    broken: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "device": self.device, "source": self.source,
                "guest_mapping": self.guest_mapping, "access": self.access, "fwb": self.fwb,
                "s2": self.s2, "effective": self.effective, "outcome": self.outcome,
                "hazards": list(self.hazards), "notes": list(self.notes)}


@dataclass(frozen=True)
class Verdict:
    """The verdict for one (policy, device class)."""

    policy: str
    device: str
    verdict: str
    hazards: tuple[str, ...]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "device": self.device, "verdict": self.verdict,
                "hazards": list(self.hazards), "why": self.why}


_BASIC = frozenset({"ldr4", "str8"})


def row_of(policy: str, device: str, source: str, guest: str, fwb: bool,
           o: AccessOutcome) -> Row:
    """A row from an access outcome and the hazard checks on it."""
    hz = check_outcome(o)
    bad = tuple(dict.fromkeys(h.id for h in hz if h.level in ("hazard", "unknown")))
    notes = tuple(dict.fromkeys(h.id for h in hz if h.level == "note"))
    broken = o.kind.name in _BASIC and any(
        r.kvm is not None and ("KVM_RUN" in r.kvm or "KVM_SET_USER_MEMORY_REGION" in r.kvm)
        for r in o.results)
    return Row(policy, device, source, guest, o.kind.name, fwb, o.s2,
               o.effective.short if o.effective is not None else None, o.text, bad, notes,
               tuple((h.id, h.level) for h in hz), broken)


def _verdict(policy: str, device: str, rows: Sequence[Row]) -> Verdict:
    broken = [r for r in rows if r.broken]
    counts: Counter[str] = Counter(h for r in rows for h in r.hazards)
    ids = tuple(h for h in HAZARDS if h in counts)
    parts = []
    for h in ids:
        levels = {lv for r in rows for i, lv in r.levels if i == h and lv != "ok"}
        mark = " (open: platform-specific)" if levels == {"unknown"} else ""
        parts.append(f"{HAZARDS[h].kind}{mark} in {counts[h]} of {len(rows)} rows")
    if broken:
        where = sorted({(r.source, r.fwb) for r in broken})
        sites = ", ".join(f"{s} {'with' if f else 'without'} FWB" for s, f in where)
        also = f"; also {'; '.join(parts)}" if parts else ""
        return Verdict(policy, device, "broken", ids,
                       f"basic accesses fail ({sites}): {broken[0].outcome}{also}")
    if ids:
        return Verdict(policy, device, "hazard", ids, "; ".join(parts))
    return Verdict(policy, device, "ok", (), f"no hazard in {len(rows)} rows")


@dataclass(frozen=True)
class Matrix:
    """The matrix: its dimensions, rows (in dimension order), and verdicts."""

    policies: tuple[str, ...]
    devices: tuple[str, ...]
    sources: tuple[str, ...]
    guests: tuple[str, ...]
    accesses: tuple[str, ...]
    fwbs: tuple[bool, ...]
    rows: tuple[Row, ...]
    verdicts: tuple[Verdict, ...]
    policy_info: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    def verdict(self, policy: str, device: str) -> Verdict:
        for v in self.verdicts:
            if v.policy == policy and v.device == device:
                return v
        raise KeyError((policy, device))

    def get(self, policy: str, device: str, source: str, guest: str, access: str,
            fwb: bool) -> Row:
        for r in self.rows:
            if (r.policy, r.device, r.source, r.guest_mapping, r.access, r.fwb) == \
                    (policy, device, source, guest, access, fwb):
                return r
        raise KeyError((policy, device, source, guest, access, fwb))

    @property
    def found(self) -> frozenset[str]:
        """Every hazard id found in some row."""
        return frozenset(h for r in self.rows for h in r.hazards)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON (docs/matrix.md#json)."""
        seen: dict[str, dict[str, set[Any]]] = {}
        for r in self.rows:
            for h in r.hazards:
                d = seen.setdefault(h, {"policy": set(), "device": set(), "fwb": set()})
                d["policy"].add(r.policy)
                d["device"].add(r.device)
                d["fwb"].add(r.fwb)
        hazards = {}
        for hid, info in HAZARDS.items():
            entry: dict[str, Any] = info.to_json()
            got = seen.get(hid)
            entry["seen"] = None if got is None else {
                "policy": [p for p in self.policies if p in got["policy"]],
                "device": [d for d in self.devices if d in got["device"]],
                "fwb": sorted(got["fwb"])}
            hazards[hid] = entry
        return {
            "dimensions": {"policy": list(self.policies), "device": list(self.devices),
                           "source": list(self.sources), "guest_mapping": list(self.guests),
                           "access": list(self.accesses), "fwb": list(self.fwbs)},
            "rows": [r.to_json() for r in self.rows],
            "verdicts": [v.to_json() for v in self.verdicts],
            "hazards": hazards,
            "policies": self.policy_info,
            "devices": {d.name: {"summary": d.summary, "sources": [s.name for s in d.sources]}
                        for d in DEVICES if d.name in self.devices},
            "guest_mappings": {g: GUEST_MAPPINGS[g] for g in self.guests},
            "access_kinds": {k.name: k.summary for k in ACCESS_KINDS if k.name in self.accesses},
        }


# --- the scalar engine ----------------------------------------------------------------------------


def scalar_outcome(policy: Policy, device: str, source: str, guest: str, access: str,
                   fwb: bool) -> AccessOutcome:
    """One cell, the slow and obvious way: a new VM per permitted outcome, the Linux model's
    walks and KVM's fault path (:func:`memattr.analysis.access.evaluate_access`)."""
    dc = _DEVICE_BY_NAME[device]
    src = dc.source(source)
    return evaluate_access(policy, matrix_host(fwb), matrix_platform(), src.build(),
                           src.memslot_spec(), _GUEST_BUILD[guest](), access, ipa=src.ipa,
                           offset=src.offset)


# --- the bulk engine ------------------------------------------------------------------------------


@dataclass
class _Stage2:
    """KVM's answer for one (policy, device, source, FWB), asked of the kernel model once."""

    kvm: Any
    region: Region | None
    vmm: MemoryAttributes | None
    ipa: int
    rejected: str | None = None
    setup: Stage2Leaf | None = None  # mapped before any access (GICV)
    data_error: str | None = None
    data: Stage2Leaf | None = None
    exec_leaf: Stage2Leaf | None = None
    exec_kvm: str | None = None
    reactions: dict[str, str | None] = field(default_factory=dict)
    cid: int = -1  # the same number for every mapping KVM answered the same way


def _kvm_text(ab: AbortResult) -> str | None:
    """KVM's reaction to a stage-2 fault, as :func:`memattr.analysis.access.result_of` words it."""
    if ab.injected:
        why = f" ({ab.internal_errno})" if ab.internal_errno else ""
        return f"{ab.injected} injected into the guest{why}"
    if ab.errno is not None:
        unsupported = any(d.branch == "unsupported_fsc" for d in ab.decisions)
        return f"KVM_RUN {ab.errno}" + (" (Unsupported FSC)" if unsupported else "")
    return None


def _policy_key(p: Policy) -> tuple[Any, ...]:
    """What a policy's behaviour depends on (its name and citations do not)."""
    return (p.release, p.fault_path, p.device_choice, p.ioremap_choice, p.variant, p.memattrs,
            id(p.chooser) if p.chooser is not None else None,
            id(getattr(p, "rules", None)) if getattr(p, "rules", None) is not None else None)


_REACT = {FaultKind.ALIGNMENT: "<KVM: alignment>", FaultKind.UNSUPPORTED_ATOMIC: "<KVM: 0x35>"}
"""Placeholders for KVM's reaction in the per-content table (filled in per mapping)."""


def _leaf_key(leaf: Stage2Leaf | None) -> tuple[int, ...] | None:
    return None if leaf is None else (leaf.ipa, leaf.size, leaf.phys, leaf.attr)


class _Bulk:
    """Tables filled on demand from the scalar engine's parts."""

    def __init__(self) -> None:
        self.s2: dict[tuple[Any, ...], _Stage2] = {}
        self.res: dict[tuple[Any, ...], Resolution] = {}
        self.cells: dict[tuple[Any, ...], tuple[frozenset[Result], str | None,
                                                MemoryAttributes | None, int | None]] = {}
        self.bus: dict[tuple[Any, ...], frozenset[Result]] = {}
        self.arch: dict[tuple[Any, ...], frozenset[Outcome]] = {}
        self.contents: dict[tuple[Any, ...], int] = {}
        self.templates: dict[tuple[Any, ...], Row] = {}
        self.platform = matrix_platform()

    def stage2(self, policy: Policy, dc: DeviceClass, src: SourceSpec, fwb: bool,
               pkey: tuple[Any, ...] | None = None) -> _Stage2:
        key = (pkey if pkey is not None else _policy_key(policy), dc.name, src.name, fwb)
        got = self.s2.get(key)
        if got is not None:
            return got
        from ..linux.kvm.abort import GuestAccess
        from ..linux.mm import vma_stage1_attrs
        from ..linux.system import Session

        s = Session(policy, matrix_host(fwb), self.platform, src.build(), src.memslot_spec(),
                    "ioremap", ipa=src.ipa)
        ipa = s.base_ipa + src.offset
        vmm = vma_stage1_attrs(s.vma) if s.vma is not None else None
        f = _Stage2(s.kvm, s.region, vmm, ipa)
        f.reactions = {}
        if s.rejected is not None:
            f.rejected = f"{s.rejected.setup_failed} {s.rejected.errno}"
        else:
            pgt = s.kvm.pgt
            f.setup = pgt.lookup(ipa)
            r = s.kvm.handle_guest_abort(ipa, GuestAccess.read())
            if r.errno is not None:
                f.data_error = _kvm_text(r)
            f.data = pgt.lookup(ipa)
            x = s.kvm.handle_guest_abort(ipa, GuestAccess.fetch())
            f.exec_kvm = _kvm_text(x)
            f.exec_leaf = pgt.lookup(ipa)
        bus = f.region.errors if f.region is not None else None
        content = (f.rejected, _leaf_key(f.setup), f.data_error, _leaf_key(f.data), f.exec_kvm,
                   _leaf_key(f.exec_leaf), f.region, f.vmm, f.ipa, bus.ls64 if bus else None)
        f.cid = self.contents.setdefault(content, len(self.contents))
        self.s2[key] = f
        return f

    def reaction(self, f: _Stage2, kind: FaultKind, acc: Any) -> str | None:
        """KVM's reaction to a stage-2 ``kind`` fault (alignment, unsupported atomic) on the
        mapped page, asked of the kernel model once per (mapping, fault kind, write)."""
        key = f"{kind.name}/{acc.is_write}"
        if key not in f.reactions:
            from ..linux.kvm.abort import Stage2Fault

            fault = Stage2Fault.from_access(f.ipa, acc, kind)
            f.reactions[key] = _kvm_text(f.kvm.handle_fault(fault, acc))
        return f.reactions[key]

    def resolution(self, g: GuestStage1, leaf: Stage2Leaf, fwb: bool, access: Access
                   ) -> Resolution:
        key = (g.attr, g.sh, g.mmu_on, leaf.memattr, leaf.sh,
               bool(leaf.descriptor & S2_FNXS), fwb, access)
        got = self.res.get(key)
        if got is None:
            byte = g.attr if g.mmu_on else 0xFF
            sh1 = g.sh if g.mmu_on else 0b11
            got = self.res[key] = resolve(
                byte, leaf.memattr, sh1=sh1, sh2=leaf.sh, fnxs=bool(leaf.descriptor & S2_FNXS),
                controls=Controls(fwb=fwb, m=g.mmu_on), access=access)
        return got

    def cell(self, f: _Stage2, guest: str, access: str, fwb: bool
             ) -> tuple[frozenset[Result], str | None, MemoryAttributes | None, int | None]:
        """(results with KVM's reactions as placeholders, s2 label, effective, PA) of a cell, per
        what KVM answered (the same for every policy that answered the same)."""
        key = (f.cid, guest, access, fwb)
        got = self.cells.get(key)
        if got is None:
            g = _GUEST_BUILD[guest]()
            results, leaf, eff = self._results(f, g, access_kind(access), fwb)
            pa = leaf.phys + (f.ipa - leaf.ipa) if leaf is not None else None
            s2 = s2_label(leaf.memattr, fwb) if leaf is not None else None
            got = self.cells[key] = (results, s2, eff, pa)
        return got

    def outcome(self, f: _Stage2, guest: str, access: str, fwb: bool) -> AccessOutcome:
        """The access outcome of a cell, KVM's reactions filled in for this mapping."""
        results, s2, eff, pa = self.cell(f, guest, access, fwb)
        kind = access_kind(access)
        if any(r.kvm in _REACTIONS for r in results):
            acc = kind.guest_access()
            results = frozenset(
                Result(r.arch, self.reaction(f, _REACTIONS[r.kvm], acc), r.bus)
                if r.kvm in _REACTIONS else r for r in results)
        return AccessOutcome(kind, s2, eff, results, f.region, _guest_s1(guest, fwb), f.vmm, pa)

    def row(self, policy: str, device: str, source: str, f: _Stage2, guest: str, access: str,
            fwb: bool) -> Row:
        """:func:`row_of`, the hazard checks asked once per distinct cell."""
        key: tuple[Any, ...] = (f.cid, guest, access, fwb)
        t = self.templates.get(key)
        if t is None:
            results = self.cell(f, guest, access, fwb)[0]
            holes = sorted({r.kvm for r in results if r.kvm in _REACTIONS})
            if holes:
                acc = access_kind(access).guest_access()
                key += tuple(self.reaction(f, _REACTIONS[h], acc) for h in holes)
                t = self.templates.get(key)
            if t is None:
                t = self.templates[key] = row_of("", "", "", "", fwb,
                                                 self.outcome(f, guest, access, fwb))
        return Row(policy, device, source, guest, access, fwb, t.s2, t.effective, t.outcome,
                   t.hazards, t.notes, t.levels, t.broken)

    def _effective(self, g: GuestStage1, leaf: Stage2Leaf | None, fwb: bool,
                   access: Access) -> MemoryAttributes | None:
        if leaf is None:
            return None
        r = self.resolution(g, leaf, fwb, access)
        return r.outcomes[0] if len(r.outcomes) == 1 else None

    def _results(self, f: _Stage2, g: GuestStage1, kind: AccessKind, fwb: bool
                 ) -> tuple[frozenset[Result], Stage2Leaf | None, MemoryAttributes | None]:
        """The walker's order, over KVM's answers: the instruction's alignment, the stage-1
        type's, KVM's mapping (or its refusal), the stage-2 type's, the instruction's memory-type
        rules, then the bus."""
        if f.rejected is not None:
            return frozenset({Result("no access", f.rejected)}), None, None
        cls = kind.instr.access_class
        walk = {Access.WRITE: Access.WRITE, Access.DCZVA: Access.WRITE,
                Access.IFETCH: Access.IFETCH}.get(kind.op, Access.READ)
        s1_fault = Result("alignment fault at stage 1", "taken by the guest's EL1")
        probe = self._effective(g, f.setup, fwb, Access.READ)
        pre = unaligned_access_faults(cls, kind.skew, kind.size, kind.unit)
        if Outcome.ALIGNMENT_S1 in pre.result:
            return frozenset({s1_fault}), f.setup, probe
        if kind.skew % kind.unit and cls is not AccessClass.IFETCH:
            byte = g.attr if g.mmu_on else 0xFF
            res1 = resolve(byte, 0xF, sh1=g.sh if g.mmu_on else 0b11, sh2=0b11,
                           controls=Controls(fwb=fwb, m=g.mmu_on), access=walk)
            if any(s1_has_alignment_fault(a, walk, False) for a in res1.s1):
                return frozenset({s1_fault}), f.setup, probe
        if cls is AccessClass.IFETCH:
            if f.exec_kvm is not None:
                leaf = f.setup
                return frozenset({Result("stage-2 fault", f.exec_kvm)}), leaf, \
                    self._effective(g, leaf, fwb, Access.READ)
            leaf = f.exec_leaf
        else:
            if f.data_error is not None:
                return frozenset({Result("stage-2 fault", f.data_error)}), f.setup, probe
            leaf = f.data
        assert leaf is not None
        res = self.resolution(g, leaf, fwb, walk)
        read_eff = self._effective(g, leaf, fwb, Access.READ)
        if kind.skew % kind.unit and cls is not AccessClass.IFETCH and \
                any(s2_has_alignment_fault(a, walk, False) for a in res.s2):
            return frozenset({Result("alignment fault at stage 2",
                                     _REACT[FaultKind.ALIGNMENT])}), leaf, read_eff
        eff = res.outcomes[0] if len(res.outcomes) == 1 else None
        bus = f.region.errors if f.region is not None else None
        ls64 = bus.ls64 if bus is not None else None
        akey = (kind.name, res.s1, res.s2, res.outcomes, ls64)
        allowed = self.arch.get(akey)
        if allowed is None:
            allowed = self.arch[akey] = arch_outcome(kind, res.s1, res.s2, res.outcomes,
                                                     atomics_supported=None, ls64_location=ls64)
        out: set[Result] = set()
        pa = leaf.phys + (f.ipa - leaf.ipa)
        for o in allowed:
            if o in (Outcome.OK, Outcome.NOT_ATOMIC):
                assert eff is not None
                arch = f"completed as {eff.short}" + (", not single-copy atomic"
                                                      if o is Outcome.NOT_ATOMIC else "")
                bkey = (kind.name, f.region, eff, pa, arch)
                got = self.bus.get(bkey)
                if got is None:
                    got = self.bus[bkey] = bus_results(kind, f.region, eff, pa, arch)
                out |= got
            elif o in (Outcome.ALIGNMENT_S1, Outcome.ABORT_S1):
                what = "alignment" if o is Outcome.ALIGNMENT_S1 else \
                    FaultKind.UNSUPPORTED_ATOMIC.value
                out.add(Result(f"{what} fault at stage 1", "taken by the guest's EL1"))
            else:
                fk = FaultKind.ALIGNMENT if o is Outcome.ALIGNMENT_S2 else \
                    FaultKind.UNSUPPORTED_ATOMIC
                out.add(Result(f"{fk.value} fault at stage 2", _REACT[fk]))
        return frozenset(out), leaf, eff


_REACTIONS = {v: k for k, v in _REACT.items()}


@cache
def _guest_s1(guest: str, fwb: bool) -> MemoryAttributes | None:
    return _GUEST_BUILD[guest]().attrs(matrix_host(fwb).arch_features)


# --- building it ----------------------------------------------------------------------------------


def _pick(kind: str, given: Iterable[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    if not given:
        return tuple(known)
    out = []
    for name in given:
        if name not in known:
            raise ConfigError(f"{kind}={show(name)}: unknown (known: {', '.join(known)})")
        out.append(name)
    return tuple(dict.fromkeys(out))


def build_matrix(
    policies: Iterable[str | Policy] | None = None,
    devices: Iterable[str] | None = None,
    *,
    guests: Iterable[str] | None = None,
    accesses: Iterable[str] | None = None,
    fwb: Iterable[bool] | None = None,
    engine: str = "bulk",
    scalar_limit: int | None = 4000,
) -> Matrix:
    """Every policy x device class x mapping source x guest mapping x access kind x FWB.

    :param policies: policy names or :class:`~memattr.linux.policy.Policy` objects (a policy
        file's); default every built-in policy.
    :param devices: device class names (default :data:`DEVICES`).
    :param guests: guest mapping names (default :data:`GUEST_MAPPINGS`).
    :param accesses: access kind names (default :data:`memattr.analysis.access.DEFAULT_ACCESSES`).
    :param fwb: the FWB settings (default both).
    :param engine: 'bulk' (tables, fast) or 'scalar' (a VM per cell; the reference).
    :param scalar_limit: the most rows the scalar engine is asked for (None: no limit): it takes
        about a millisecond or two per row.
    :returns: a :class:`Matrix`: its dimensions, ``rows`` (one per cell, each with its
        ``outcome`` and ``hazards``) and ``verdicts`` (one per policy and device class).
    :raises ConfigError: an unknown name (listing the known ones), or a scalar matrix too large.
    """
    from ..linux.policy import builtin_policies, get_policy

    pols: list[Policy] = []
    if policies is None:
        pols = list(builtin_policies())
    else:
        for p in policies:
            pols.append(get_policy(p))
    names = tuple(p.name for p in pols)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"policy={show(dup)}: given twice (policies in one matrix need distinct "
                          "names)")
    devs = _pick("device", devices, tuple(d.name for d in DEVICES))
    gms = _pick("guest mapping", guests, tuple(GUEST_MAPPINGS))
    accs = _pick("access", accesses, DEFAULT_ACCESSES if accesses is None else
                 tuple(k.name for k in ACCESS_KINDS))
    fwbs = tuple(dict.fromkeys(fwb)) if fwb is not None else (False, True)
    if engine not in ("bulk", "scalar"):
        raise ConfigError(f"engine={show(engine)}: expected bulk or scalar")
    if engine == "scalar" and scalar_limit is not None:
        n = len(pols) * len(fwbs) * len(gms) * len(accs) * sum(
            len(_DEVICE_BY_NAME[d].sources) for d in devs)
        if n > scalar_limit:
            raise ConfigError(f"engine=scalar: {n:,} rows at a VM or more each is minutes of "
                              f"work (at most {scalar_limit:,}: narrow it with --policy, "
                              "--device, --guest, --access)")
    bulk = _Bulk() if engine == "bulk" else None
    rows: list[Row] = []
    verdicts: list[Verdict] = []
    sources: dict[str, None] = {}
    for pol in pols:
        pkey = _policy_key(pol)
        for dev in devs:
            dc = _DEVICE_BY_NAME[dev]
            mine: list[Row] = []
            for src in dc.sources:
                sources[src.name] = None
                if bulk is not None:
                    facs = {f: bulk.stage2(pol, dc, src, f, pkey) for f in fwbs}
                    mine += [bulk.row(pol.name, dev, src.name, facs[f], gm, acc, f)
                             for gm in gms for acc in accs for f in fwbs]
                else:
                    mine += [row_of(pol.name, dev, src.name, gm, f,
                                    scalar_outcome(pol, dev, src.name, gm, acc, f))
                             for gm in gms for acc in accs for f in fwbs]
            rows += mine
            verdicts.append(_verdict(pol.name, dev, mine))
    info = {p.name: {"summary": p.summary, "what_if": p.what_if,
                     "commits": [c.cite() for c in p.commits]} for p in pols}
    return Matrix(names, devs, tuple(sources), gms, accs, fwbs, tuple(rows), tuple(verdicts), info)


def hazards_of(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows have each hazard id."""
    return dict(Counter(h for r in rows for h in r.hazards))


_ = Hazard  # re-exported type of check_outcome's results
