"""The behavioural hazards of a passthrough mapping (scenarios.md cases 8 and 21-28).

The memory type the CPU uses is only half the story the review told: what happens on reclaim,
on a vCPU context switch, when the device returns an error, when the VMM's alias differs from the
guest's, when Normal memory is read speculatively, and when an unaligned access reaches a bus
nobody examined.  Each check returns a :class:`Hazard` with a level:

* ``ok``: the model knows it is safe, and says why;
* ``note``: a property to know about, not a fault (the mismatched alias);
* ``unknown``: the answer is platform-specific (a modelling parameter left open);
* ``hazard``: the configuration can go wrong in the way the review described.

Bus error handling and reset ordering come from :mod:`memattr.platform.bus`; this module only
decides which of them applies to a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..arch.memtype import DeviceType, MemoryAttributes
from ..platform.bus import AxiErrorModel, BusKind, Containment, ResetPath, error_outcome, reset_ordering
from ..platform.physmap import Platform, Region, RegionKind

if TYPE_CHECKING:
    from ..linux.system import Evaluation
    from .scenario import AccessSpec, GuestMappingSpec, Scenario, VmmMappingSpec

__all__ = ["LEVELS", "Hazard", "hazards_for", "reclaim", "context_switch", "error_response",
           "mismatched_alias", "speculation", "unaligned", "cacheable_mmio"]

LEVELS = ("ok", "note", "unknown", "hazard")
"""Hazard levels, least to most worrying."""

_DEVICE_KINDS = (RegionKind.PCIE_BAR, RegionKind.PCIE_VF_BAR, RegionKind.AMBA, RegionKind.GICV,
                 RegionKind.NVGRACE_RESMEM, RegionKind.PCIE_ECAM)


@dataclass(frozen=True, slots=True)
class Hazard:
    """One behavioural check: which (``kind``), how bad (``level``), the scenarios.md case, why."""

    kind: str
    level: str
    case: str
    text: str
    detail: str = ""  # the consequence alone (for reports that say what happens, not where)

    def __str__(self) -> str:
        return f"{self.level}: {self.kind} ({self.case}): {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "case": self.case, "text": self.text}


class _AccessLike(Protocol):
    """What an access check needs of a replayed access (replay.AccessResult)."""

    @property
    def spec(self) -> AccessSpec: ...

    @property
    def evaluation(self) -> Evaluation: ...


def reclaim(region: Region, eff: MemoryAttributes) -> Hazard:
    """Cases 21-23: are the guest's buffered writes ordered before VFIO's reset on reclaim?"""
    if eff.device is not None:
        if eff.device is DeviceType.nGnRnE:
            text = ("Device-nGnRnE + DSB gives end-point completion, subject to the device "
                    f"(reset: {region.reset.value})")
        else:
            text = (f"Device-{eff.device.name}: writes complete at an intermediate point; a "
                    "read-back (plus a DMB across regions) is needed before the reset "
                    f"({region.reset.value})")
        return Hazard("reclaim", "ok", "cases 21-23", text)
    order = reset_ordering(region.reset, tlbi_dsb=True)
    base = ("Normal-NC: S2 unmap + TLBI + DSB pushes other CPUs' buffered writes to a "
            "serialisation point; only same-address ordering is guaranteed. ")
    if order.ordered is True:
        return Hazard("reclaim", "ok", "case 21", base + order.why)
    if order.ordered is None:
        return Hazard("reclaim", "unknown", "case 22", base + order.why)
    return Hazard("reclaim", "hazard", "case 22", base + order.why)


def context_switch(region: Region, eff: MemoryAttributes) -> Hazard:
    """Case 24: a peripheral shared between guests and switched with the vCPU (GICV)."""
    if eff.is_device:
        return Hazard("context switch", "ok", "case 24",
                      f"{eff.short}: no buffered Normal writes to carry across a vCPU switch "
                      "(GICV stays Device-nGnRE since v3 of the series)")
    order = reset_ordering(ResetPath.NONE, tlbi_dsb=False)
    return Hazard("context switch", "hazard", "case 24",
                  f"{eff.short} on the shared {region.name}: guest A's buffered write could land "
                  f"after the switch to guest B; {order.why}")


def error_response(region: Region, eff: MemoryAttributes) -> Hazard | None:
    """Case 25: what a device error response to a load does; containment is the platform's."""
    if region.errors is None or region.errors.kind is BusKind.MEMORY:
        return None
    out = error_outcome(region.errors, False, eff)
    if out.read_value is not None:
        return Hazard("error response", "ok", "case 25",
                      f"load gets 0x{out.read_value:x}: {out.note}")
    level = {Containment.CONTAINED: "note", Containment.UNCONTAINED: "hazard",
             Containment.NONE: "ok"}[out.containment]
    text = f"{out.abort}, {out.containment.value} (platform parameter)"
    if out.note:
        text += f"; {out.note}"
    return Hazard("error response", level, "case 25", text)


def mismatched_alias(vmm: MemoryAttributes | None, eff: MemoryAttributes) -> Hazard | None:
    """Case 27: the VMM's stage-1 alias and the guest's effective type differ."""
    if vmm is None or (vmm.memtype is eff.memtype and vmm.is_cacheable == eff.is_cacheable):
        return None
    return Hazard("mismatched alias", "note", "case 27",
                  f"VMM {vmm.short} vs guest {eff.short} on the same page: each stream keeps its "
                  "own properties; no ordering between VMM and guest accesses (Arm ARM B2.8, "
                  "linux.md 3.7)")


def speculation(region: Region, pa: int, eff: MemoryAttributes) -> Hazard | None:
    """Linux.md 3.8: Normal memory may be read speculatively; some BAR pages have read side
    effects."""
    if not region.read_side_effects:
        return None
    if not region.page_has_read_side_effects(pa):
        return None
    if eff.is_device:
        return Hazard("speculation", "ok", "linux.md 3.8",
                      f"page with read side effects, but {eff.short} forbids speculative reads")
    return Hazard("speculation", "hazard", "linux.md 3.8",
                  f"{eff.short} permits speculative reads of a page with read side effects "
                  "(harms only the guest's own device: like a wrongly issued load)")


def unaligned(region: Region, access: _AccessLike) -> Hazard | None:
    """Case 28: an unaligned access that completes as Normal reaches the bus: PCIe forms a TLP
    with byte enables; an AXI slave's behaviour is a platform parameter (unknown by default)."""
    e = access.evaluation
    if e.access.aligned or e.effective is None or e.effective.is_device:
        return None
    if e.alignment is not None and e.alignment.faults:
        return None
    what = f"unaligned {access.spec.size}-byte {access.spec.op} at offset 0x{access.spec.offset:x}"
    if region.kind in (RegionKind.PCIE_BAR, RegionKind.PCIE_VF_BAR):
        bus = "on PCIe it becomes a TLP with byte enables"
        return Hazard("unaligned", "ok", "case 28", f"{what}: {bus}", bus)
    if isinstance(region.errors, AxiErrorModel):
        param = region.errors.unaligned
        level = "unknown" if param.startswith("unknown") else \
            "hazard" if "SLVERR" in param else "ok"
        return Hazard("unaligned", level, "case 28", f"{what} on an AXI target: {param}",
                      f"on an AXI target: {param}")
    return None


def cacheable_mmio(region: Region, eff: MemoryAttributes) -> Hazard | None:
    """Case 8: a guest obtains a cacheable (or tagged) view of MMIO (FWB 0b110 / 0b111)."""
    if region.kind not in _DEVICE_KINDS or not eff.is_cacheable:
        return None
    tagged = " and MTE-tagged" if eff.tagged else ""
    return Hazard("cacheable MMIO", "hazard", "case 8",
                  f"{region.name} is seen {eff.short}{tagged}: cache allocation, late evictions "
                  "and speculative line fills on MMIO (breaks MMIO; linux.md 3.2)")


def hazards_for(
    sc: Scenario,
    platform: Platform,
    gm: GuestMappingSpec,
    vmm: VmmMappingSpec | None,
    base: Evaluation,
    accesses: Sequence[_AccessLike],
) -> tuple[Hazard, ...]:
    """Every hazard check that applies to one result."""
    eff = base.effective
    leaf = base.leaf
    if eff is None or leaf is None:
        return ()
    region = platform.lookup(leaf.phys)
    out: list[Hazard | None] = []
    if region.kind is RegionKind.GICV:
        out.append(context_switch(region, eff))
    elif region.kind in _DEVICE_KINDS:
        out.append(reclaim(region, eff))
    if region.kind in _DEVICE_KINDS:
        out.append(error_response(region, eff))
        out.append(mismatched_alias(base.vmm_s1, eff))
        out.append(speculation(region, leaf.phys, eff))
        out.append(cacheable_mmio(region, eff))
        for a in accesses:
            out.append(unaligned(region, a))
    return tuple(h for h in out if h is not None)
