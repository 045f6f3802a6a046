"""The behavioural hazards the review named, each a documented check (docs/review.md#concerns).

The memory type the CPU uses is only half the story the review told.  Each check here takes what
the model computed -- the effective type, the host region and its bus, the guest's and the VMM's
stage-1 types, what each access did end to end (:mod:`memattr.analysis.access`) -- and returns a
:class:`Hazard` with a level:

* ``ok``: the model knows it is safe, and says why;
* ``note``: a property to know about, not a fault (the mismatched alias);
* ``unknown``: the answer is platform-specific (a parameter the model leaves open);
* ``hazard``: the configuration can go wrong in the way the review described.

:data:`HAZARDS` describes each check once: its id, title, the review's section and the
architecture rule it rests on, and which policy, device class and FWB setting it needs.  Nothing
here looks a verdict up in a table by bus kind: reclaim and context-switch ordering are explored
by :mod:`memattr.analysis.ordering` from the bus, the effective type and the host's sequence;
bus errors, byte enables and unaligned AXI transfers come from :mod:`memattr.platform.bus`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..arch.memtype import MemoryAttributes
from ..platform.bus import BusKind, Containment, ResetPath, error_outcome
from ..platform.physmap import Platform, Region, RegionKind
from .access import AccessKind, AccessOutcome, Result, result_of

if TYPE_CHECKING:
    from ..linux.system import Evaluation
    from .ordering import Verdict
    from .scenario import GuestMappingSpec, Scenario, VmmMappingSpec

__all__ = ["LEVELS", "Hazard", "HazardInfo", "HAZARDS", "hazards_for", "check_outcome",
           "ordering_verdict",
           "reclaim", "context_switch", "error_response", "mismatched_alias", "speculation",
           "unaligned", "ifetch_io", "cacheable_mmio", "DEVICE_KINDS"]

LEVELS = ("ok", "note", "unknown", "hazard")
"""Hazard levels, least to most worrying."""

DEVICE_KINDS = (RegionKind.PCIE_BAR, RegionKind.PCIE_VF_BAR, RegionKind.AMBA, RegionKind.GICV,
                RegionKind.NVGRACE_RESMEM, RegionKind.PCIE_ECAM)
"""The regions that are IO memory (a device's registers or memory the hazards concern)."""


@dataclass(frozen=True, slots=True)
class HazardInfo:
    """What a check is: its id, title, the review's section, the architecture, what it needs.

    :param id: the stable id (JSON, ``--fail-on``).
    :param kind: the title reports print.
    :param citation: the review's section (a docs/review.md anchor).
    :param architecture: the architecture rule it rests on.
    :param needs: which policy, device class and FWB setting make it appear.
    """

    id: str
    kind: str
    citation: str
    architecture: str
    needs: str

    def to_json(self) -> dict[str, str]:
        return {"title": self.kind, "citation": self.citation, "architecture": self.architecture,
                "needs": self.needs}


HAZARDS: dict[str, HazardInfo] = {h.id: h for h in (
    HazardInfo(
        "reclaim", "reclaim", "docs/review.md#reclaim-and-reset-ordering",
        "Arm ARM B2.3 (DSB completion), D8 (TLB maintenance): TLBI + DSB leaves other CPUs' "
        "writes at a serialisation point; docs/ordering.md#the-assumption-and-the-other-switches",
        "a device that VFIO resets on reclaim mapped with an early-acknowledged type (Normal-NC "
        "from 6.9 on with the VMA flag; Device-nGnRE under every policy): a finding where the "
        "reset takes a path the guest's writes do not (a platform reset, nvgrace memory); PCIe "
        "FLR is ordered under the root-complex assumption; either FWB"),
    HazardInfo(
        "context-switch", "context switch", "docs/review.md#gicv2-vcpu-interface",
        "Arm ARM B2 Device nR/R and G (arrival order at one peripheral); no barrier at a vCPU "
        "switch; docs/ordering.md#what-is-modelled",
        "a peripheral KVM switches between guests (GICV) mapped with a reordering type: only "
        "policies that map kvm_phys_addr_ioremap Normal-NC (v1, v2), with a guest Normal or "
        "Device-GRE/nGRE mapping; either FWB"),
    HazardInfo(
        "uncontained-error", "error response", "docs/review.md#error-containment",
        "external aborts: synchronous or an asynchronous SError, IMPLEMENTATION DEFINED; "
        "containment is RAS (FEAT_RAS) and platform (SBSA), not the memory type",
        "a device whose bus turns an error response into an uncontained abort (AXI without "
        "containment; a root complex configured to report errors, uncontained), under any policy "
        "that lets the guest reach it, with any guest type and either FWB"),
    HazardInfo(
        "unaligned-fault", "unaligned", "docs/review.md#unaligned-accesses-and-axi",
        "ASL94 AArch64.S2HasAlignmentFault, AArch64.UnalignedAccessFaults; Arm ARM C3.2.8 "
        "(LD64B/ST64B); docs/architecture.md#alignment-faults",
        "a guest Normal (write-combining) mapping whose driver issues unaligned, 64-byte or "
        "gathered stores, over a stage-2 Device type (6.8; 6.9+ without the VMA flag: "
        "vfio-platform, sysfs, /dev/mem; device-gre) -- a stage-2 Alignment fault kills the VM "
        "with -EFAULT -- or over an AXI target that errors on them; either FWB"),
    HazardInfo(
        "speculation", "speculation", "docs/review.md#speculation-and-read-side-effects",
        "Arm ARM B2 Normal memory may be read speculatively, Device memory not; "
        "docs/architecture.md#speculation",
        "a page whose reads have side effects mapped with a Normal effective type: the guest's "
        "ioremap_wc of a vfio-pci BAR from 6.9 on (pcie-only, v2 and the FWB what-ifs too); "
        "either FWB"),
    HazardInfo(
        "mismatched-alias", "mismatched alias", "docs/review.md#mismatched-aliases",
        "Arm ARM B2.8 mismatched memory attributes; docs/architecture.md#mismatched-attributes",
        "a VMM mapping whose type differs from the guest's effective type (vfio-pci: the VMM's "
        "Device-nGnRnE against the guest's Normal-NC from 6.9 on); a note, not a fault"),
    HazardInfo(
        "ifetch-io", "instruction fetch", "docs/review.md#case-18-instruction-fetch-from-a-bar",
        "Unpredictable_INSTRDEVICE; docs/architecture.md#instruction-fetch-from-device",
        "a policy that lets stage 2 map IO memory executable (no kernel's: user_mem_abort returns "
        "-ENOEXEC since v5.5; a policy file can), any device, either FWB"),
    HazardInfo(
        "cacheable-mmio", "cacheable MMIO", "docs/review.md#why-normal-nc",
        "ASL94 AArch64.S2ApplyFWBMemAttrs 0b110 / 0b111; "
        "docs/architecture.md#stage-2-memattr-with-fwb",
        "a what-if policy that gives IO memory a cacheable stage-2 type: fwb-0b110 (any guest "
        "mapping) or fwb-0b111 (a cacheable guest mapping), with FWB"),
)}
"""Every check, by id."""

_ID_OF_KIND = {h.kind: h.id for h in HAZARDS.values()}


# The worked cases of docs/review.md a hazard names (Hazard.case).
_ALTERNATIVES = "docs/review.md#case-8-rejected-alternatives"
_IFETCH = "docs/review.md#case-18-instruction-fetch-from-a-bar"
_RECLAIM_PCIE = "docs/review.md#case-21-reclaim-pcie"
_RECLAIM_PLATFORM = "docs/review.md#case-22-reclaim-platform-device"
_RECLAIM_NEEDS = "docs/review.md#case-23-reclaim-what-each-type-needs"
_CONTEXT_SWITCH = "docs/review.md#case-24-context-switched-peripheral"
_ERROR_RESPONSE = "docs/review.md#case-25-error-response-to-a-load"
_ALIAS = "docs/review.md#case-27-mismatched-alias"
_UNALIGNED = "docs/review.md#case-28-unaligned-store"


@dataclass(frozen=True, slots=True)
class Hazard:
    """One behavioural check: which (``kind``), how bad (``level``), the review's case, why.

    :param case: the worked case or section it illustrates, a docs/review.md reference.
    :param detail: the consequence alone (for reports that say what happens, not where).
    :param id: the check's id in :data:`HAZARDS`.
    """

    kind: str
    level: str
    case: str
    text: str
    detail: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", _ID_OF_KIND.get(self.kind, self.kind))

    def __str__(self) -> str:
        return f"{self.level}: {self.kind} ({self.case}): {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "level": self.level, "case": self.case,
                "text": self.text}


# --- ordering: reclaim and context switch, explored ---------------------------------------------


@cache
def _explore(memtype: str, bus: str, serialisation: str, host: str,
             flushing_read: bool = False) -> Verdict:
    from .ordering import explore, make_config

    return explore(make_config(memtype, 1, bus, serialisation, host, flushing_read))


def _needs(eff: MemoryAttributes) -> str:
    """What each type needs before a reset (docs/review.md#case-23-reclaim-what-each-type-needs),
    from its buffer properties (the architecture layer's, via the ordering model)."""
    from .ordering import buffer_props, write_type_of

    wt = write_type_of(eff)
    p = buffer_props(wt)
    if not p.early_ack:
        return f"{wt.value} + DSB gives end-point completion, subject to the device"
    if eff.is_device:
        return (f"{wt.value}: writes complete at an intermediate point; a read-back (plus a DMB "
                "across regions) is what orders them before a reset on another path")
    return (f"{wt.value}: TLBI + DSB pushes other CPUs' buffered writes only to a serialisation "
            "point; only same-address ordering is guaranteed")


def _reclaim_setup(region: Region) -> tuple[str, str, str, bool] | None:
    """(bus, host sequence, serialisation assumption, path known) for the region's reset path."""
    bus = region.bus
    if region.reset is ResetPath.PCIE_FLR and bus is BusKind.PCIE:
        return "pcie", "config-reset", "root-complex", True
    if region.reset is ResetPath.PCIE_FLR:
        # nvgrace-gpu memory: the guest's writes go over the coherent interconnect, the FLR over
        # PCIe config space: two paths the model does not know to meet.
        return "axi-like", "platform-reset", "interconnect", False
    if region.reset is ResetPath.PLATFORM_RESET:
        if bus is BusKind.PCIE:
            return "pcie", "platform-reset", "root-complex", True
        return "axi-like", "platform-reset", "interconnect", True
    return None


def ordering_verdict(region: Region, eff: MemoryAttributes) -> Verdict | None:
    """The ordering model's verdict (with its witness) behind the reclaim or context-switch check
    of ``region`` mapped ``eff``: the host sequence its reset path gives (vfio-pci's FLR, a platform
    reset) or a vCPU switch (GICV), under the default serialisation assumption.  None where no
    check applies (no reset path, a cacheable type)."""
    if eff.is_cacheable:
        return None
    from .ordering import write_type_of

    wt = write_type_of(eff).value
    if region.kind is RegionKind.GICV:
        return _explore(wt, "axi-like", "interconnect", "context-switch")
    setup = _reclaim_setup(region)
    if setup is None:
        return None
    bus, host, sp, _known = setup
    return _explore(wt, bus, sp, host)


def reclaim(region: Region, eff: MemoryAttributes) -> Hazard | None:
    """Can a guest write reach the device after VFIO's reset?  Explored by the ordering model
    from the region's bus and reset path and the effective type
    (docs/review.md#reclaim-and-reset-ordering)."""
    setup = _reclaim_setup(region)
    if setup is None:
        return None
    bus, host, sp, known = setup
    if eff.is_cacheable:
        return None  # cacheable MMIO is its own hazard; the ordering model covers uncached types
    from .ordering import write_type_of

    wt = write_type_of(eff).value
    needs = _needs(eff)
    v = _explore(wt, bus, sp, host)
    where = {"root-complex": "the root complex", "interconnect": "an interconnect point"}[sp]
    if not v.reachable:
        loose = _explore(wt, bus, "nowhere", host)
        tail = ("if TLBI + DSB left them nowhere in particular it would be reachable"
                if loose.reachable else "on every assumption")
        return Hazard("reclaim", "ok", _RECLAIM_PCIE if bus == "pcie" else _RECLAIM_NEEDS,
                      f"{needs}. No interleaving lets a guest write reach {region.name} after the "
                      f"{v.boundary} ({v.states} states explored, assuming TLBI + DSB leaves the "
                      f"writes at {where}; {tail}) ({region.reset.value})")
    flushed = _explore(wt, bus, sp, host, True)
    fix = ("a flushing read before the reset orders it" if not flushed.reachable
           else "even a flushing read does not order it")
    level = "unknown"
    path = "" if known else " (the model does not know where the two paths meet)"
    return Hazard("reclaim", level, _RECLAIM_PLATFORM,
                  f"{needs}. A guest write can reach {region.name} after the {v.boundary}: "
                  f"{len(v.witness)}-step witness{path}; the answer is SoC-specific, {fix} "
                  f"({region.reset.value})")


def context_switch(region: Region, eff: MemoryAttributes) -> Hazard:
    """A peripheral shared between guests and switched with the vCPU (GICV)
    (docs/review.md#case-24-context-switched-peripheral)."""
    if eff.is_cacheable:
        return Hazard("context switch", "unknown", _CONTEXT_SWITCH,
                      f"{eff.short} on the shared {region.name}: a cacheable type, which the "
                      "ordering model does not cover")
    from .ordering import write_type_of

    wt = write_type_of(eff).value
    v = _explore(wt, "axi-like", "interconnect", "context-switch")
    if not v.reachable:
        return Hazard("context switch", "ok", _CONTEXT_SWITCH,
                      f"{eff.short}: accesses arrive at {region.name} in program order (nR), so "
                      f"KVM's write at a vCPU switch cannot pass the guest's ({v.states} states)")
    return Hazard("context switch", "hazard", _CONTEXT_SWITCH,
                  f"{eff.short} on the shared {region.name}: guest A's buffered write can land "
                  f"after the switch to guest B ({len(v.witness)}-step witness: no TLBI or DSB "
                  "at a vCPU switch)")


def error_response(region: Region, eff: MemoryAttributes | None) -> Hazard | None:
    """What a device error response to a load does; containment is the platform's
    (docs/review.md#case-25-error-response-to-a-load)."""
    if region.errors is None or region.errors.kind in (BusKind.MEMORY, BusKind.GIC):
        return None  # memory, and the GIC's CPU interface, have no error response modelled
    out = error_outcome(region.errors, False, eff)
    if out.read_value is not None:
        return Hazard("error response", "ok", _ERROR_RESPONSE,
                      f"load gets 0x{out.read_value:x}: {out.note}")
    level = {Containment.CONTAINED: "note", Containment.UNCONTAINED: "hazard",
             Containment.NONE: "ok"}[out.containment]
    text = f"{out.abort}, {out.containment.value} (platform parameter)"
    if out.note:
        text += f"; {out.note}"
    return Hazard("error response", level, _ERROR_RESPONSE, text)


_error_response = lru_cache(maxsize=1024)(lambda region, eff: error_response(region, eff))


def mismatched_alias(vmm: MemoryAttributes | None, eff: MemoryAttributes) -> Hazard | None:
    """The VMM's stage-1 alias and the guest's effective type differ
    (docs/review.md#case-27-mismatched-alias)."""
    if vmm is None or (vmm.memtype is eff.memtype and vmm.is_cacheable == eff.is_cacheable):
        return None
    return Hazard("mismatched alias", "note", _ALIAS,
                  f"VMM {vmm.short} vs guest {eff.short} on the same page: each stream keeps its "
                  "own properties; no ordering between VMM and guest accesses (Arm ARM B2.8; "
                  "docs/review.md#mismatched-aliases)")


def speculation(region: Region, pa: int, eff: MemoryAttributes) -> Hazard | None:
    """Normal memory may be read speculatively; some BAR pages have read side effects
    (docs/review.md#speculation-and-read-side-effects)."""
    if not region.read_side_effects or not region.page_has_read_side_effects(pa):
        return None
    if eff.is_device:
        return Hazard("speculation", "ok", "docs/review.md#speculation-and-read-side-effects",
                      f"page with read side effects, but {eff.short} forbids speculative reads")
    return Hazard("speculation", "hazard", "docs/review.md#speculation-and-read-side-effects",
                  f"{eff.short} permits speculative reads of a page with read side effects "
                  "(harms only the guest's own device: like a wrongly issued load)")


_BYTE_ENABLES = "on PCIe it becomes a TLP with byte enables"


def unaligned(region: Region, kind: AccessKind, results: frozenset[Result],
              guest: MemoryAttributes | None) -> Hazard | None:
    """An unaligned, 64-byte or gathered access where the driver expects Normal memory to
    take it: completed (PCIe forms TLPs with byte enables), or a fault or bus error where it
    expected none (docs/review.md#unaligned-accesses-and-axi)."""
    if not kind.odd or region.kind not in DEVICE_KINDS:
        return None
    faults = [r for r in results if r.misfit]
    fine = [r for r in results if not r.fault and not r.misfit]
    what = kind.summary
    if not faults:
        if not fine:
            return None  # refused for another reason (KVM): not this hazard
        if region.bus is BusKind.PCIE:
            tlps = next((r.bus.text for r in fine if r.bus is not None), "")
            return Hazard("unaligned", "ok", _UNALIGNED, f"{what}: {_BYTE_ENABLES} ({tlps})",
                          _BYTE_ENABLES)
        bus = next((r.bus.text for r in fine if r.bus is not None), "completed")
        return Hazard("unaligned", "ok", _UNALIGNED, f"{what}: {bus}", bus)
    if guest is None or guest.is_device:
        # The driver asked for Device, or runs with its stage 1 off, where data accesses are
        # Device-nGnRnE (ASL AArch64.S1DisabledOutput): faulting is the type it has.
        return None
    why = "; ".join(dict.fromkeys(r.text for r in faults))
    if fine:
        return Hazard("unaligned", "unknown", _UNALIGNED,
                      f"{what} through a Normal mapping: may complete or fail ({why})")
    return Hazard("unaligned", "hazard", _UNALIGNED,
                  f"{what} through a Normal mapping the driver expects to take it: {why}")


def ifetch_io(region: Region, kind: AccessKind, results: frozenset[Result]) -> Hazard | None:
    """An instruction fetch from IO memory, refused by KVM (-ENOEXEC) or not
    (docs/review.md#case-18-instruction-fetch-from-a-bar)."""
    if kind.op.value != "ifetch" or region.kind not in DEVICE_KINDS:
        return None
    if any(r.completed for r in results):
        return Hazard("instruction fetch", "hazard", _IFETCH,
                      f"instruction fetches from {region.name} complete: speculative fetches can "
                      "read the device (Unpredictable_INSTRDEVICE)")
    why = "; ".join(dict.fromkeys(r.text for r in results))
    return Hazard("instruction fetch", "ok", _IFETCH, f"refused: {why}")


def cacheable_mmio(region: Region, eff: MemoryAttributes) -> Hazard | None:
    """A guest obtains a cacheable (or tagged) view of MMIO (FWB 0b110 / 0b111;
    docs/review.md#case-8-rejected-alternatives)."""
    if region.kind not in DEVICE_KINDS or not eff.is_cacheable:
        return None
    tagged = " and MTE-tagged" if eff.tagged else ""
    return Hazard("cacheable MMIO", "hazard", _ALTERNATIVES,
                  f"{region.name} is seen {eff.short}{tagged}: cache allocation, late evictions "
                  "and speculative line fills on MMIO (breaks MMIO; docs/review.md#why-normal-nc)")


# --- putting them together ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _mapping(region: Region, eff: MemoryAttributes, vmm: MemoryAttributes | None,
             pa: int) -> tuple[Hazard | None, ...]:
    """The checks that depend on the mapping, not on one access (the same for every access)."""
    out: list[Hazard | None] = []
    if region.kind is RegionKind.GICV:
        out.append(context_switch(region, eff))
    elif region.kind in DEVICE_KINDS:
        out.append(reclaim(region, eff))
    if region.kind in DEVICE_KINDS:
        out.append(mismatched_alias(vmm, eff))
        out.append(speculation(region, pa, eff))
        out.append(cacheable_mmio(region, eff))
    return tuple(out)


def check_outcome(o: AccessOutcome) -> tuple[Hazard, ...]:
    """Every check that applies to one access through one mapping (a matrix row): the mapping's
    (when KVM mapped it), the bus error's (when the access reaches the device) and the access's."""
    region = o.region
    if region is None or region.kind not in DEVICE_KINDS:
        return ()
    out: list[Hazard | None] = []
    if o.effective is not None and o.pa is not None:
        out += _mapping(region, o.effective, o.vmm, o.pa)
    if any(r.reaches_device for r in o.results):
        out.append(_error_response(region, o.effective))
    out.append(unaligned(region, o.kind, o.results, o.guest))
    out.append(ifetch_io(region, o.kind, o.results))
    return tuple(h for h in out if h is not None)


def _kind_of(ev: Evaluation, spec: Any) -> AccessKind:
    ga = ev.access
    what = f"{'unaligned ' if not ga.aligned else ''}{ga.size}-byte {spec.op}"
    if not ga.aligned:
        what += f" at offset 0x{spec.offset:x}"
    return AccessKind(what, what, ga.instr, ga.access, ga.size, ga.element, ga.offset)


def hazards_for(
    sc: Scenario,
    platform: Platform,
    gm: GuestMappingSpec,
    vmm: VmmMappingSpec | None,
    base: Evaluation,
    accesses: Sequence[Any],
) -> tuple[Hazard, ...]:
    """Every hazard check that applies to one replayed result (a scenario's guest mapping under
    one policy and FWB setting)."""
    eff = base.effective
    leaf = base.leaf
    if eff is None or leaf is None:
        return ()
    region = platform.lookup(leaf.phys)
    out: list[Hazard | None] = list(_mapping(region, eff, base.vmm_s1, leaf.phys))
    if region.kind in DEVICE_KINDS:
        out.append(error_response(region, eff))
        for a in accesses:
            ev = a.evaluation
            kind = _kind_of(ev, a.spec)
            if not kind.odd and kind.op.value != "ifetch":
                continue
            results = result_of(ev, kind)
            out.append(unaligned(region, kind, results, base.guest_s1))
            out.append(ifetch_io(region, kind, results))
    return tuple(h for h in out if h is not None)
