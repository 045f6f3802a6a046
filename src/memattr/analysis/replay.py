"""Replay a scenario through the Linux model: every guest mapping x policy x FWB, and every access.

:func:`replay` builds the host platform of a :class:`~memattr.analysis.scenario.Scenario`, and for
each (guest mapping, policy, FWB) runs :func:`memattr.linux.system.evaluate` -- the VMM's mmap,
KVM_SET_USER_MEMORY_REGION, the stage-2 fault and the S1 x S2 combination -- once for a plain
aligned read (the mapping's type) and once per ``[[access]]``.  Each :class:`Result` carries the
evaluation, the access outcomes, the hazards of :mod:`memattr.analysis.hazards` and a one-line
reason.  Nothing here renders text for people beyond those reasons: :mod:`memattr.report` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..arch.combine import Access
from ..errors import ConfigError, MemattrError
from ..linux.events import Event, EventKind
from ..linux.guest import GuestStage1, LinuxGuest, guest_mmu_off, raw_guest
from ..linux.kvm.abort import GuestAccess, InstrClass
from ..linux.kvm.features import HostFeatures, VmConfig
from ..linux.kvm.mmu import KVM_VGIC_V2_CPU_SIZE
from ..linux.mm import VM_ALLOW_ANY_UNCACHED
from ..linux.mmap import (
    GicvInterface,
    MappingSource,
    RawVma,
    mmap_source,
    source_size,
)
from ..linux.policy import FaultPath, Policy
from ..linux.system import Evaluation, MemslotSpec, Session, evaluate
from ..platform import (
    AmbaDevice,
    AxiErrorModel,
    AxiUnaligned,
    Bar,
    BarKind,
    Bdf,
    Containment,
    ErrorResponse,
    Gicv2,
    HostBridgeWindow,
    NvgraceGpu,
    PcieEndpoint,
    PcieErrorModel,
    Platform,
    RamRegion,
    RootComplex,
    SriovCapability,
)
from .hazards import Hazard, hazards_for
from .scenario import (
    EVENT_KINDS,
    INSTR_DECLS,
    AccessSpec,
    GuestMappingSpec,
    Scenario,
    VmmMappingSpec,
    source_kind,
)

__all__ = [
    "AccessResult",
    "Result",
    "Replay",
    "build_platform",
    "mapping_source",
    "guest_stage1",
    "replay",
    "reason",
    "decision",
    "cell_text",
    "ScriptEvent",
    "SCRIPT_KINDS",
]


# --- building the Linux model's inputs from a scenario ----------------------------------------


def _wrap(sc: Scenario, path: tuple[str | int, ...], exc: MemattrError) -> MemattrError:
    return sc.locate(path, exc)  # file:line: key: once, however many layers re-raise it


def build_platform(sc: Scenario) -> Platform:
    """The host :class:`~memattr.platform.Platform` the scenario describes."""
    ram = tuple(RamRegion(r.base, r.size, r.linear_map, r.name) for r in sc.ram)
    endpoints: list[PcieEndpoint] = []
    amba: list[AmbaDevice] = []
    nvgrace: list[NvgraceGpu] = []
    gic: Gicv2 | None = None
    for i, d in enumerate(sc.devices):
        try:
            if d.kind == "pcie":
                bars = []
                for j, b in enumerate(d.bars):
                    try:
                        bars.append(Bar(b.index, b.base, b.size,
                                        BarKind.MEM64 if b.bits == 64 else BarKind.MEM32,
                                        b.prefetchable, frozenset(b.read_side_effects)))
                    except MemattrError as exc:
                        raise _wrap(sc, ("device", i, "bar", j), exc) from None
                sriov = None
                if d.num_vfs:
                    vf_bars = []
                    for j, b in enumerate(d.vf_bars):
                        try:
                            vf_bars.append(Bar(b.index, b.base, b.size,
                                               BarKind.MEM64 if b.bits == 64 else BarKind.MEM32,
                                               b.prefetchable, frozenset(b.read_side_effects)))
                        except MemattrError as exc:
                            raise _wrap(sc, ("device", i, "vf_bar", j), exc) from None
                    sriov = SriovCapability(d.num_vfs, tuple(vf_bars))
                endpoints.append(PcieEndpoint(d.name, Bdf.parse(d.bdf), tuple(bars), sriov))
            elif d.kind == "platform":
                errors = AxiErrorModel(
                    response=ErrorResponse.SLVERR if d.response == "SLVERR" else ErrorResponse.DECERR,
                    containment=Containment(d.errors),
                    unaligned=_AXI_UNALIGNED[d.unaligned])
                amba.append(AmbaDevice(d.name, d.base, d.size, errors,
                                       read_side_effects=frozenset(d.read_side_effects)))
            elif d.kind == "gicv2":
                if gic is not None:
                    raise ConfigError(f"a second GICv2 ({gic.name!r} is already defined)")
                # Only GICV is ever mapped into a guest; the other frames are placed just below.
                gic = Gicv2(gicd_base=0, gicc_base=0, gich_base=0, gicv_base=d.base,
                            gicv_size=d.size, name=d.name)
            else:
                nvgrace.append(NvgraceGpu(d.name, Bdf.parse(d.bdf), d.usemem[0], d.usemem[1],
                                          d.resmem[0], d.resmem[1]))
        except ConfigError as exc:
            if str(exc).startswith(sc.path):
                raise
            raise _wrap(sc, ("device", i), exc) from None
    rcs: tuple[RootComplex, ...] = ()
    if endpoints:
        p = sc.pcie
        if p.windows:
            windows = tuple(HostBridgeWindow(b, s) for b, s in p.windows)
        else:  # one window spanning every BAR, VF BARs included
            every = [b for ep in endpoints for b in ep.all_bars()]
            lo = min((b.address for b in every), default=0)  # a device may have no BAR
            hi = max((b.end for b in every), default=0)
            windows = (HostBridgeWindow(lo, hi - lo),) if every else ()
        pcie_errors = PcieErrorModel(aer=p.aer, dpc=p.dpc,
                                     root_complex_errors=p.root_complex_errors,
                                     containment=Containment(p.containment))
        try:
            rcs = (RootComplex("pcie", p.ecam, windows=windows, endpoints=tuple(endpoints),
                               errors=pcie_errors),)
        except ConfigError as exc:
            raise _wrap(sc, ("pcie",), exc) from None
    try:
        return Platform(ram=ram, root_complexes=rcs, amba=tuple(amba), gic=gic,
                        nvgrace=tuple(nvgrace), name=sc.name)
    except ConfigError as exc:
        raise ConfigError(f"{sc.path}: {exc}") from None


_AXI_UNALIGNED = {u.value: u for u in AxiUnaligned}  # docs/review.md#unaligned-accesses-and-axi


def mapping_source(m: VmmMappingSpec) -> MappingSource:
    """The Linux model's description of a ``[[vmm_mapping]]`` (its source's declaration builds it)."""
    return source_kind(m.source).build(m)


def _forced_source(
    m: VmmMappingSpec, platform: Platform, pol: Policy, host: HostFeatures
) -> MappingSource:
    """A what-if: the kernel path's VMA with VM_ALLOW_ANY_UNCACHED forced on or off.

    The Linux model's mmap paths take no override, so the VMA they build is copied into a
    :class:`~memattr.linux.mmap.RawVma` with the flag changed (same pgprot, PFNs and name).
    """
    src = mapping_source(m)
    if m.allow_any_uncached is None or isinstance(src, GicvInterface):
        return src
    size, _align = source_size(platform, src)
    vma = mmap_source(platform, src, release=pol.release, hva=0x7F00_0000_0000, bits=host.bits,
                      mte=host.mte)
    flags = (vma.vm_flags | VM_ALLOW_ANY_UNCACHED if m.allow_any_uncached
             else vma.vm_flags & ~VM_ALLOW_ANY_UNCACHED)
    on_off = "forced on" if m.allow_any_uncached else "forced off"
    return RawVma(vma.phys, size, flags, vma.vm_page_prot,
                  f"{vma.name} (what-if: VM_ALLOW_ANY_UNCACHED {on_off})")


def guest_stage1(sc: Scenario, gm: GuestMappingSpec) -> GuestStage1:
    """The guest's stage-1 view of a ``[[guest_mapping]]``."""
    if not sc.guest.mmu or gm.api == "mmu_off":
        return guest_mmu_off()
    if gm.api is not None:
        g = LinuxGuest(mte=sc.cpu.mte).map(gm.api)
    elif gm.attr is not None:
        g = raw_guest(attr=gm.attr, name=gm.name)
    else:
        assert sc.guest.mair_el1 is not None and gm.attr_index is not None
        g = raw_guest(mair=sc.guest.mair_el1, attrindx=gm.attr_index, name=gm.name)
    if gm.sh is not None:
        g = replace(g, sh=gm.sh)
    return g


@dataclass(frozen=True, slots=True)
class _Backing:
    """What backs a guest mapping's IPA: a memslot over a VMM mapping, GICV, or nothing."""

    vmm: VmmMappingSpec | None
    memslot: MemslotSpec | None
    slot_ipa: int  # the IPA offsets are measured from (memslot start, GICV IPA, or the page)
    slot_size: int | None


def _backings(sc: Scenario, platform: Platform) -> list[tuple[VmmMappingSpec, MemslotSpec, int]]:
    """Every memslot as (VMM mapping, the Linux model's MemslotSpec, size), overlap-checked."""
    out: list[tuple[VmmMappingSpec, MemslotSpec, int]] = []
    for i, s in enumerate(sc.memslots):
        m = sc.vmm_mapping(s.mapping)
        try:
            msize, _align = source_size(platform, mapping_source(m))
        except ConfigError as exc:
            raise _wrap(sc, ("vmm_mapping", sc.vmm_mappings.index(m)), exc) from None
        size = s.size if s.size is not None else msize - s.offset
        if s.offset + size > msize or size <= 0:
            raise ConfigError(f"{sc.where('memslot', i, 'size')}: memslot[{i}]: offset 0x"
                              f"{s.offset:x} + size 0x{size:x} exceeds mapping {m.name!r} "
                              f"(0x{msize:x} bytes)")
        for j, (_m2, other, osize) in enumerate(out):
            if s.ipa < other.guest_phys_addr + osize and other.guest_phys_addr < s.ipa + size:
                raise ConfigError(f"{sc.where('memslot', i, 'ipa')}: memslot[{i}].ipa: IPA 0x"
                                  f"{s.ipa:x}+0x{size:x} overlaps memslot[{j}] at 0x"
                                  f"{other.guest_phys_addr:x}+0x{osize:x}")
        flags = 1 << 1 if s.readonly else 0  # KVM_MEM_READONLY
        out.append((m, MemslotSpec(s.ipa, size, s.offset, s.slot, flags), size))
    return out


def _backing_of(sc: Scenario, slots: list[tuple[VmmMappingSpec, MemslotSpec, int]],
                ipa: int) -> _Backing:
    for m, spec, size in slots:
        if spec.guest_phys_addr <= ipa < spec.guest_phys_addr + size:
            return _Backing(m, spec, spec.guest_phys_addr, size)
    for m in sc.vmm_mappings:
        if m.source == "gicv" and m.ipa is not None and \
                m.ipa <= ipa < m.ipa + KVM_VGIC_V2_CPU_SIZE:
            return _Backing(m, None, m.ipa, KVM_VGIC_V2_CPU_SIZE)
    return _Backing(None, None, ipa & ~0xFFF, None)


# --- results ------------------------------------------------------------------------------------

_OPS = {"read": Access.READ, "write": Access.WRITE, "exec": Access.IFETCH}
_INSTR = {d.name: InstrClass[d.member] for d in INSTR_DECLS}  # declared in scenario


@dataclass(frozen=True)
class AccessResult:
    """One ``[[access]]`` replayed: the evaluation, the outcome in a phrase, and added events."""

    spec: AccessSpec
    evaluation: Evaluation
    outcome: str
    events: tuple[Event, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.spec.op, "size": self.spec.size, "offset": self.spec.offset,
            "ipa": self.evaluation.ipa,
            "aligned": self.evaluation.access.aligned,
            "outcome": self.outcome,
            "alignment": str(self.evaluation.alignment) if self.evaluation.alignment else None,
            "effective": self.evaluation.effective.short if self.evaluation.effective else None,
            "errno": _errno(self.events),
            "events": [e.to_json() for e in self.events],
        }


def _errno(events: tuple[Event, ...]) -> str | None:
    for e in events:
        if e.errno is not None:
            return e.errno.name
    return None


@dataclass(frozen=True)
class Result:
    """One guest mapping under one policy and FWB setting."""

    mapping: GuestMappingSpec
    policy: Policy
    policy_name: str
    fwb: bool
    backing: str
    evaluation: Evaluation
    accesses: tuple[AccessResult, ...]
    hazards: tuple[Hazard, ...]
    reason: str

    @property
    def cell(self) -> str:
        """The short answer: the effective type, or what happened instead."""
        return cell_text(self.evaluation)

    def to_json(self) -> dict[str, Any]:
        ev = self.evaluation.to_json()
        return {
            "mapping": self.mapping.name,
            "policy": self.policy_name,
            "fwb": self.fwb,
            "backing": self.backing,
            "answer": self.cell,
            "reason": self.reason,
            "vmm_s1": ev["vmm_s1"],
            "vma": ev["vma"],
            "s2_memattr": ev["s2_memattr"],
            "s2_kind": ev["s2_kind"],
            "s2_meaning": ev["s2_meaning"],
            "s2_prot": ev["s2_prot"],
            "s2_descriptor": ev["s2_descriptor"],
            "s2_leaf": ev["s2_leaf"],
            "guest_s1": ev["guest_s1"],
            "guest_attr": ev["guest_attr"],
            "effective": ev["effective"],
            "outcomes": ev["outcomes"],
            "properties": ev["properties"],
            "errno": ev["errno"],
            "events": ev["events"],
            "accesses": [a.to_json() for a in self.accesses],
            "hazards": [h.to_json() for h in self.hazards],
        }


@dataclass(frozen=True)
class Replay:
    """Every result of a scenario, in order mapping, policy, FWB."""

    scenario: Scenario
    policies: tuple[str, ...]
    fwb: tuple[bool, ...]
    results: tuple[Result, ...]

    def get(self, mapping: str, policy: str, fwb: bool) -> Result:
        """The result for one guest mapping under one policy and FWB setting."""
        for r in self.results:
            if r.mapping.name == mapping and r.policy_name == policy and r.fwb == fwb:
                return r
        raise KeyError((mapping, policy, fwb))

    def rows(self) -> tuple[str, ...]:
        """The guest mapping names, in file order."""
        return tuple(m.name for m in self.scenario.guest_mappings)

    def to_json(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "scenario": {"name": sc.name, "path": sc.path, "description": sc.description},
            "policies": [{"name": n, "summary": sc.policy(n).summary,
                          "commits": [c.cite() for c in sc.policy(n).commits],
                          "what_if": sc.policy(n).what_if} for n in self.policies],
            "fwb": list(self.fwb),
            "cpu": {"dic": sc.cpu.dic, "mte": sc.cpu.mte, "xs": sc.cpu.xs,
                    "hcr_cd": sc.cpu.hcr_cd, "bits": sc.bits},
            "results": [r.to_json() for r in self.results],
        }


def cell_text(e: Evaluation) -> str:
    """'Normal-NC', 'MMIO exit', 'prefetch abort', '-EINVAL', 'one of {...}'."""
    if e.effective is not None:
        return e.effective.short
    if e.resolution is not None and e.resolution.outcomes:
        return "one of {" + ", ".join(o.short for o in e.resolution.outcomes) + "}"
    if e.injected:
        return e.injected
    if e.mmio_exit:
        return "MMIO exit"
    kinds = {ev.kind for ev in e.events}
    if EventKind.NISV_EXIT in kinds:
        return "NISV exit"
    if e.errno is not None:
        return str(e.errno)
    if e.resolution is not None:
        return "UNKNOWN (reserved S1 attribute)"
    return "no mapping"


# --- reasons ------------------------------------------------------------------------------------


def decision(e: Evaluation) -> str:
    """KVM's part of the reason: what backs the page and the stage-2 type KVM chose for it."""
    ab = e.abort
    if e.leaf is None:
        return ""
    if e.vma is None:
        return f"no VMA: kvm_phys_addr_ioremap maps it {e.leaf.kind}"
    if ab is None:
        return f"mapped {e.leaf.kind} before the access"
    if ab.device:
        flag = "with" if ab.vfio_allow_any_uc else "without"
        src = e.vma.name if e.vma.origin == "raw" else e.vma.origin
        origin = f" (from {src})" if src else ""
        return (f"PFN not in the linear map, VMA {flag} VM_ALLOW_ANY_UNCACHED{origin}: "
                f"user_mem_abort maps it {e.leaf.kind}")
    if e.region is not None and e.region.in_linear_map:
        return f"PFN in the linear map: user_mem_abort maps it {e.leaf.kind}"
    if e.region is not None and e.policy.fault_path is FaultPath.CACHEABLE_PFNMAP:
        return (f"PFN not in the linear map, cacheable PFNMAP VMA ({e.vma.vm_page_prot.mt_name}) "
                f"with FWB and CTR_EL0.DIC: user_mem_abort maps it {e.leaf.kind}")
    return f"user_mem_abort maps it {e.leaf.kind}"


def reason(e: Evaluation, backing: str) -> str:
    """One line: why this is the answer (the KVM decision and the MemAttr).

    The combining rule's part is rendered from ``e.resolution``'s records by
    :mod:`memattr.report.explain`.
    """
    if e.errno is not None or e.injected or e.effective is None:
        bad = [ev for ev in e.events if ev.errno is not None or ev.kind in
               (EventKind.MMIO_EXIT, EventKind.NISV_EXIT, EventKind.PREFETCH_ABORT_INJECTED,
                EventKind.DATA_ABORT_INJECTED)]
        if bad:
            first = bad[0]
            err = f" {first.errno}" if first.errno is not None else ""
            return f"{first.function}{err}: {first.text}"
    parts = [decision(e)] if e.leaf is not None else []
    if e.leaf is not None:
        parts.append(f"S2 MemAttr 0b{e.leaf.memattr:04b}" + (" (FWB)" if e.host.fwb else ""))
    return "; ".join(p for p in parts if p) or backing


# --- the replay ---------------------------------------------------------------------------------


def _run(sc: Scenario, platform: Platform, pol_name: str, host: HostFeatures,
         backing: _Backing, g: GuestStage1, ipa: int, access: GuestAccess,
         vm: VmConfig | None = None) -> Evaluation:
    pol = sc.policy(pol_name)
    vmc = vm if vm is not None else VmConfig()
    if backing.vmm is not None and backing.vmm.source == "gicv":
        return evaluate(pol, host, platform, GicvInterface(), None, g, access=access,
                        offset=ipa - backing.slot_ipa, ipa=backing.slot_ipa, vm=vmc,
                        cd=sc.cpu.hcr_cd)
    if backing.vmm is None or backing.memslot is None:
        return evaluate(pol, host, platform, None, None, g, access=access, offset=0, ipa=ipa,
                        vm=vmc, cd=sc.cpu.hcr_cd)
    src = _forced_source(backing.vmm, platform, pol, host)
    return evaluate(pol, host, platform, src, backing.memslot, g, access=access,
                    offset=ipa - backing.slot_ipa, vm=vmc, cd=sc.cpu.hcr_cd,
                    hva_align=backing.vmm.hva_align)


def _access_events(e: Evaluation, spec: AccessSpec) -> tuple[str, tuple[Event, ...]]:
    """The outcome phrase and the events of one access, read from the Linux model's evaluation.

    Faults come from the walker's fault values and KVM's handling of them (an alignment fault at
    stage 2 is "Unsupported FSC" in ``kvm_handle_guest_abort``, KVM_RUN -EFAULT); nothing here
    decides a fault again.
    """
    events = e.events
    if e.setup_failed is not None:
        return (f"no access: {e.setup_failed} failed ({e.errno}), so the VMM stops here before "
                "the guest runs", events)
    if e.stage1_fault is not None:
        kind = getattr(e.stage1_fault, "kind", None)  # a walker Fault, or the fault's name
        what = kind.value if kind is not None else str(e.stage1_fault)
        return f"{what} fault at stage 1 (the guest's EL1)", events
    if e.alignment is not None and e.alignment.faults and e.alignment.stage == 2:
        err = f"KVM_RUN {e.errno}" if e.errno is not None else "handled by KVM"
        return f"alignment fault at stage 2 (EL2): {err}", events
    if e.injected:
        errs = [str(ev.errno) for ev in events if ev.errno is not None]
        why = f" ({errs[0]})" if errs else ""
        return f"{e.injected} injected into the guest{why}", events
    if e.mmio_exit:
        return "MMIO exit to the VMM (KVM_EXIT_MMIO)", events
    if any(ev.kind is EventKind.CACHE_MAINTENANCE_SKIPPED for ev in events):
        return "cache maintenance skipped by KVM (no memslot)", events
    if e.errno is not None:
        return f"KVM_RUN {e.errno}", events
    out = e.error_response
    if out is not None and out.abort is None:
        got = "dropped" if out.write_dropped else "completes with all-ones data"
        return f"{spec.op} {got} (error response from the device)", events
    if e.effective is not None:
        what = "unaligned " if not e.access.aligned else ""
        return f"{what}{spec.op} completes as {e.effective.short}", events
    return cell_text(e), events


@dataclass(frozen=True, slots=True)
class ScriptEvent:
    """An event between two accesses of a guest mapping (``[[event]]`` in a scenario file).

    :param mapping: the ``[[guest_mapping]]`` whose accesses it sits between.
    :param before: the index (among that mapping's ``[[access]]``) it comes before.
    :param kind: 'memory-disable' (vfio-pci clears PCI_COMMAND_MEMORY: zap + MMU notifier from
        v5.8; before, the mappings stay and accesses get the device's error response),
        'function-reset' (the same path, as a reset), 'memory-enable' (faults map it again),
        'replace-vma' (munmap + mmap ``source`` at the same HVA under the memslot).
    :param source: the new mapping for 'replace-vma'.
    """

    mapping: str
    before: int
    kind: str
    source: MappingSource | None = None

    def __post_init__(self) -> None:
        if self.kind not in SCRIPT_KINDS:
            raise ConfigError(f"event kind={self.kind!r}: expected one of {', '.join(SCRIPT_KINDS)}")
        if self.kind == "replace-vma" and self.source is None:
            raise ConfigError("event replace-vma: needs the new mapping source")


SCRIPT_KINDS = tuple(EVENT_KINDS)  # declared with the scenario's [[event]] kinds


def _session(sc: Scenario, platform: Platform, pol_name: str, host: HostFeatures,
             backing: _Backing, g: GuestStage1, vm: VmConfig) -> Session:
    pol = sc.policy(pol_name)
    if backing.vmm is None or backing.memslot is None:
        raise ConfigError("scripted events need a memslot over a VMM mapping")
    src = _forced_source(backing.vmm, platform, pol, host)
    return Session(pol, host, platform, src, backing.memslot, g, vm=vm, cd=sc.cpu.hcr_cd,
                   hva_align=backing.vmm.hva_align)


def _apply(s: Session, ev: ScriptEvent) -> None:
    if ev.kind in ("memory-disable", "function-reset"):
        s.zap("function reset" if ev.kind == "function-reset" else "memory decode disabled")
    elif ev.kind == "memory-enable":
        s.restore()
    else:
        assert ev.source is not None
        s.replace_source(ev.source)


def replay(
    sc: Scenario,
    *,
    policies: tuple[str, ...] | list[str] | None = None,
    fwb: bool | None = None,
    vm: VmConfig | None = None,
    host: dict[str, Any] | None = None,
    script: tuple[ScriptEvent, ...] | list[ScriptEvent] | None = None,
    bus_errors: frozenset[tuple[str, int]] | set[tuple[str, int]] | None = None,
) -> Replay:
    """Run every guest mapping (and access) of ``sc`` under each policy and FWB setting.

    :param sc: the loaded scenario.
    :param policies: override the scenario's policies (names or releases such as '6.12').
    :param fwb: override the scenario's ``cpu.fwb`` with one value.
    :param vm: per-VM options (IPA size, NISV to user, protected); default the scenario's
        ``[vm]``.
    :param host: further HostFeatures fields (apei, ras, pkvm, page_size, ipa_limit,
        atomics_uncached, lpa2), over the scenario's ``[host]`` and ``[cpu]``.
    :param script: events between accesses (reset, revoke, replaced VMA); a mapping with events
        runs its accesses in one VM, in order, and each access reports its own events.  Default
        the scenario's ``[[event]]``.
    :param bus_errors: (guest mapping, access index) pairs whose target answers with an error;
        default the scenario's ``bus_error = true`` accesses.
    :returns: a :class:`Replay`: ``results`` in order mapping, policy, FWB (each with its
        ``cell`` answer, ``evaluation``, ``accesses``, ``hazards``); ``get(mapping, policy, fwb)``
        finds one.
    :raises ConfigError: an unknown policy name (listing the known ones), or a mapping the
        model cannot build (naming its place in the file).
    """
    names = tuple(dict.fromkeys(policies)) if policies else sc.policies
    for n in names:
        sc.policy(n)  # ConfigError listing the known names
    fwbs = (fwb,) if fwb is not None else sc.cpu.fwb
    vmc = vm if vm is not None else sc.vm_config()
    extra = {**sc.host_features(), **(host or {})}
    script = sc.script() if script is None else script
    bus_errors = sc.bus_errors() if bus_errors is None else bus_errors
    platform = build_platform(sc)
    slots = _backings(sc, platform)
    results: list[Result] = []
    for gi, gm in enumerate(sc.guest_mappings):
        backing = _backing_of(sc, slots, gm.ipa)
        try:
            g = guest_stage1(sc, gm)
        except MemattrError as exc:
            raise _wrap(sc, ("guest_mapping", gi), exc) from None
        where = _describe_backing(backing)
        accesses = [a for a in sc.accesses if a.mapping == gm.name]
        for pname in names:
            pol = sc.policy(pname)
            for f in fwbs:
                hf = HostFeatures(fwb=f, dic=sc.cpu.dic, mte=sc.cpu.mte, xs=sc.cpu.xs,
                                  bits=sc.bits, **extra)
                mine = [e for e in script if e.mapping == gm.name]
                try:
                    base = _run(sc, platform, pname, hf, backing, g, gm.ipa, GuestAccess.read(),
                                vmc)
                    acc_results = []
                    session = _session(sc, platform, pname, hf, backing, g, vmc) if mine \
                        or any(m == gm.name for m, _ in bus_errors) else None
                    seen = 0
                    for k, a in enumerate(accesses):
                        ipa = gm.ipa + a.offset
                        instr = _INSTR[a.instr]
                        op = Access.DCZVA if instr is InstrClass.DC_ZVA else _OPS[a.op]
                        ga = GuestAccess(op, a.size, instr,
                                         aligned=ipa % a.size == 0)
                        err = (gm.name, k) in bus_errors
                        if session is None:
                            ev = _run(sc, platform, pname, hf, backing, g, ipa, ga, vmc)
                            outcome, events = _access_events(ev, a)
                        else:
                            for e in mine:
                                if e.before == k:
                                    _apply(session, e)
                            full = session.access(ga, offset=ipa - backing.slot_ipa,
                                                  bus_error=err)
                            # this access's story: the VM's events since the previous access
                            # (a rejected memslot ends every access's story the same way)
                            ev = full if session.rejected is not None else \
                                replace(full, events=full.events[seen:])
                            seen = len(full.events)
                            outcome, events = _access_events(ev, a)
                        acc_results.append(AccessResult(a, ev, outcome, events))
                except MemattrError as exc:
                    if str(exc).startswith(sc.path):
                        raise
                    raise _wrap(sc, ("guest_mapping", gi), exc) from None
                hz = hazards_for(sc, platform, gm, backing.vmm, base, tuple(acc_results))
                results.append(Result(gm, pol, pname, f, where, base, tuple(acc_results), hz,
                                      reason(base, where)))
    return Replay(sc, names, tuple(fwbs), tuple(results))


def _describe_backing(b: _Backing) -> str:
    if b.vmm is None:
        return "no memslot (the VMM emulates it)"
    if b.vmm.source == "gicv":
        return "GICv2 GICV, mapped by KVM (kvm_phys_addr_ioremap)"
    return f"memslot over {b.vmm.name} ({b.vmm.source})"
