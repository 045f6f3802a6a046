"""What a resulting memory type permits: gathering, reordering, early ack, speculation, alignment,
DC ZVA, exclusives/atomics and instruction fetch, each with its source.

The alignment rules (ASL94 AArch64.S1HasAlignmentFault / AArch64.S2HasAlignmentFault) return
their :class:`~memattr.arch.decision.Decision`; :class:`AlignmentOutcome` carries the records
that decided it.
"""

from __future__ import annotations

from .._value import dataclass  # dataclasses, cheaper to import
from . import impdef as _impdef
from .combine import Access, Controls, Resolution, resolve
from .cpu import ALL, Cpu
from .decision import AslRule, Decision
from .memtype import MemoryAttributes

__all__ = [
    "Property",
    "TypeProperties",
    "type_properties",
    "s1_alignment_fault",
    "s2_alignment_fault",
    "s1_has_alignment_fault",
    "s2_has_alignment_fault",
    "AlignmentOutcome",
    "alignment_outcome",
    "EXCLUSIVE_ABORT_DFSC",
]

# DFSC for an unsupported exclusive or atomic access (Arm ARM D24.2 ESR_ELx ISS, 0b110101).
EXCLUSIVE_ABORT_DFSC = 0b110101

_PROSE = "Arm ARM B2.8 [prose, not re-verified]"


@dataclass(frozen=True, slots=True)
class Property:
    """One property of a memory type: its name, the permitted values, and the source."""

    name: str
    values: frozenset[str]
    source: str
    looseness: str = "IMPLEMENTATION DEFINED"  # or "CONSTRAINED UNPREDICTABLE"

    @property
    def value(self) -> str:
        """The value, or '<looseness>: one of {...}' when several are permitted."""
        if len(self.values) == 1:
            return next(iter(self.values))
        return f"{self.looseness}: one of {{" + ", ".join(sorted(self.values)) + "}"


@dataclass(frozen=True, slots=True)
class TypeProperties:
    """The properties of one effective memory type."""

    attrs: MemoryAttributes
    properties: tuple[Property, ...]

    def __getitem__(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        return {p.name: {"values": sorted(p.values), "source": p.source} for p in self.properties}


def _one(name: str, value: str, source: str) -> Property:
    return Property(name, frozenset({value}), source)


def type_properties(
    attrs: MemoryAttributes, imp: _impdef.ImpDef = _impdef.DEFAULT
) -> TypeProperties:
    """The behaviour a memory type permits, for data accesses unless named otherwise."""
    props: list[Property] = []
    yes, no = "yes", "no"
    if attrs.device is not None:
        d = attrs.device
        props.append(_one("gathering", yes if d.gathering else no, f"Device {d.name}: G/nG; "
                          + _PROSE))
        props.append(_one("reordering", yes if d.reordering else no,
                          f"Device {d.name}: R/nR; " + _PROSE))
        props.append(_one("early write acknowledgement", yes if d.early_ack else no,
                          f"Device {d.name}: E/nE; " + _PROSE))
        props.append(_one("speculative reads", no, "Device: no speculative data reads; " + _PROSE))
        props.append(_one("unaligned data access", "alignment fault",
                          "ASL94 AArch64.S1HasAlignmentFault / AArch64.S2HasAlignmentFault"))
        props.append(_one("DC ZVA", "alignment fault", "ASL94 AccessType_DCZero on Device"))
        props.append(_one("cacheable", no, "Device memory is never cached"))
    else:
        props.append(_one("gathering", yes, "Normal: writes may merge; " + _PROSE))
        props.append(_one("reordering", yes, "Normal: weakly ordered; " + _PROSE))
        props.append(_one("early write acknowledgement", yes, "Normal; " + _PROSE))
        props.append(_one("speculative reads", yes, "Normal (including NC); " + _PROSE))
        props.append(_one("unaligned data access", "allowed (unless SCTLR_ELx.A=1)",
                          "ASL94 CheckAlignment; Linux pgtable.h comment on Normal-NC"))
        props.append(_one("DC ZVA", "allowed", "ASL94 AccessType_DCZero: faults only on Device"))
        props.append(_one("cacheable", no if attrs.is_nc else yes,
                          "inner " + str(attrs.inner) + ", outer " + str(attrs.outer)))
    abort = f"Data Abort DFSC=0b{EXCLUSIVE_ABORT_DFSC:06b} (unsupported exclusive or atomic)"
    if attrs.is_normal and attrs.is_wb and attrs.shareability.value in ("ISH", "OSH", "NSH"):
        props.append(_one("exclusives", "supported", "Normal Write-Back: local/global monitor; "
                          + _PROSE))
        props.append(_one("atomics", "supported", "Normal Write-Back (FEAT_LSE); " + _PROSE))
    else:

        def choice(flag: bool | None) -> frozenset[str]:
            if flag is None:
                return frozenset({"supported", abort})
            return frozenset({"supported" if flag else abort})

        props.append(Property("exclusives", choice(imp.uncached_exclusives_supported),
                              "global monitor support is IMPLEMENTATION DEFINED; " + _PROSE))
        props.append(Property("atomics", choice(imp.uncached_atomics_supported),
                              "IMPLEMENTATION DEFINED for non-WB memory; KVM "
                              "kvm_inject_dabt_excl_atomic; " + _PROSE))
    if attrs.device is not None:
        props.append(Property(
            "instruction fetch",
            frozenset({"Permission fault", "treated as Normal NC"}),
            "Unpredictable_INSTRDEVICE; KVM never maps device memory executable (-ENOEXEC)",
            "CONSTRAINED UNPREDICTABLE",
        ))
    else:
        props.append(_one("instruction fetch", "allowed (subject to XN)", "ASL94 AArch64.S1Translate"))
    return TypeProperties(attrs, tuple(props))


def _alignment(rule: AslRule, attrs: MemoryAttributes, access: Access, aligned: bool) -> Decision:
    inputs = (("memattrs", attrs), ("access", access), ("aligned", aligned))
    if access is Access.IFETCH:
        return Decision(rule, "ifetch", inputs, False)
    if access is Access.DCZVA:
        return Decision(rule, "dczero", inputs, attrs.is_device)
    if not attrs.is_device:
        return Decision(rule, "normal", inputs, False)
    return Decision(rule, "device_aligned" if aligned else "device_unaligned", inputs, not aligned)


def s1_alignment_fault(s1: MemoryAttributes, access: Access, aligned: bool) -> Decision:
    """ASL94 AArch64.S1HasAlignmentFault: unaligned data or DC ZVA to stage-1 Device memory."""
    return _alignment(AslRule.AArch64_S1HasAlignmentFault, s1, access, aligned)


def s2_alignment_fault(s2: MemoryAttributes, access: Access, aligned: bool) -> Decision:
    """ASL94 AArch64.S2HasAlignmentFault: as stage 1, on the stage-2 (or FWB-combined) attributes."""
    return _alignment(AslRule.AArch64_S2HasAlignmentFault, s2, access, aligned)


def s1_has_alignment_fault(s1: MemoryAttributes, access: Access, aligned: bool) -> bool:
    """The result of :func:`s1_alignment_fault`."""
    return bool(s1_alignment_fault(s1, access, aligned).result)


def s2_has_alignment_fault(s2: MemoryAttributes, access: Access, aligned: bool) -> bool:
    """The result of :func:`s2_alignment_fault`."""
    return bool(s2_alignment_fault(s2, access, aligned).result)


@dataclass(frozen=True, slots=True)
class AlignmentOutcome:
    """Whether an access takes an alignment fault, and at which stage (1 or 2, or None).

    :param stage: the stage whose check faults first, or None.
    :param rule: the deciding rule and why, in one phrase (for one-line reports).
    :param decisions: the records of the checks that decided (the faulting one last).
    :param certain: False when the permitted attributes disagree (a CONSTRAINED UNPREDICTABLE
        or reserved input): then ``stage`` is where the fault is taken if it is taken.
    """

    stage: int | None
    rule: str
    decisions: tuple[Decision, ...] = ()
    certain: bool = True

    @property
    def faults(self) -> bool:
        return self.stage is not None

    def __str__(self) -> str:
        if self.stage is None:
            return f"no alignment fault ({self.rule})"
        where = "EL1 (the guest)" if self.stage == 1 else "EL2 (the hypervisor)"
        return f"alignment fault at stage {self.stage}, taken to {where} ({self.rule})"


def alignment_outcome(
    s1_attr: int,
    s2_memattr: int,
    *,
    controls: Controls | None = None,
    access: Access = Access.WRITE,
    aligned: bool = False,
    resolution: Resolution | None = None,
    cpu: Cpu = ALL,
) -> AlignmentOutcome:
    """Where an access of this alignment faults: stage 1 checks S1, stage 2 checks S2 (or the
    FWB-combined result); stage 1 is checked first.
    """
    ctl = controls if controls is not None else Controls()
    if ctl.a and not aligned and access is not Access.IFETCH:
        return AlignmentOutcome(1, "SCTLR_EL1.A=1: every unaligned data access faults")
    res = resolution if resolution is not None else resolve(
        s1_attr, s2_memattr, controls=ctl, access=access, cpu=cpu)
    s1 = [s1_alignment_fault(a, access, aligned) for a in res.s1]
    s2 = ([s2_alignment_fault(a, access, aligned) for a in res.s2] if ctl.s2_enabled else [])
    if any(d.result for d in s1):
        certain = all(d.result for d in s1)
        hit = next(d for d in s1 if d.result)
        return AlignmentOutcome(1, "AArch64.S1HasAlignmentFault: stage-1 type is Device",
                                (hit,), certain)
    if any(d.result for d in s2):
        why = "FWB-combined" if ctl.fwb else "stage-2"
        hit = next(d for d in s2 if d.result)
        return AlignmentOutcome(2, f"AArch64.S2HasAlignmentFault: {why} type is Device",
                                (*s1[:1], hit), all(d.result for d in s2))
    return AlignmentOutcome(None, "no Device type at either stage", (*s1[:1], *s2[:1]))
