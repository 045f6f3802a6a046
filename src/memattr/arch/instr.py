"""What the instruction making a data access adds to the memory type's rules: alignment by
instruction class, the memory types LD64B/ST64B and exclusives/atomics may use, and where an
unsupported one is reported.

The memory type's own alignment rule (an unaligned access or DC ZVA to Device memory) is in
:mod:`memattr.arch.properties`; this module has the rules that depend on the *instruction*:

* :func:`unaligned_access_faults` -- ASL94 ``AArch64.UnalignedAccessFaults``, checked before
  translation (an Alignment fault at stage 1, whatever the memory type): LD64B/ST64B always,
  exclusives and atomics unless FEAT_LSE2 keeps them inside a 16-byte quantity (Arm ARM
  B2.8.2.1.2), any access with SCTLR_ELx.A = 1.
* :func:`lse2_unaligned_choice` -- with FEAT_LSE2, an exclusive or atomic inside a 16-byte quantity
  but not naturally aligned, to memory that is not Normal Inner/Outer Write-Back Shareable, is
  CONSTRAINED UNPREDICTABLE: performed, or an Alignment fault (Arm ARM B2.8.2.1.2).
* :func:`ls64_type_check` -- Arm ARM C3.2.8 (DDI0487 L.b), "Single-copy atomic 64-byte
  load/store": without FEAT_LS64WB, LD64B/ST64B to a type other than Normal iNC-oNC or Device
  take a Data Abort with DFSC 0b110101, and which stage reports it is one of three IMPLEMENTATION
  DEFINED approaches: the answer is the *set* those approaches allow.
* :func:`ls64_location_check` -- the same section: a location that does not support LD64B/ST64B
  either takes a stage-1 DFSC 0b110101 abort or is accessed without 64-byte single-copy
  atomicity.
* :func:`exclusive_atomic_check` -- exclusives and atomics to memory that is not Write-Back need
  the memory system's support (IMPLEMENTATION DEFINED, :mod:`memattr.arch.impdef`); the abort is
  DFSC 0b110101 at the first stage whose type is not Write-Back.

Each returns a :class:`~memattr.arch.decision.Decision` whose result is a frozenset of
:class:`Outcome` values (one element when the architecture leaves no choice).
"""

from __future__ import annotations

import enum

from .combine import Access
from .decision import AslRule, Decision
from .memtype import MemoryAttributes
from .properties import s1_alignment_fault, s2_alignment_fault

__all__ = [
    "InstrRule",
    "AccessClass",
    "Outcome",
    "LS64Check",
    "unaligned_access_faults",
    "lse2_unaligned_choice",
    "ls64_type_ok",
    "ls64_type_check",
    "ls64_location_check",
    "exclusive_atomic_check",
    "all_in_aligned_quantity",
    "after_translation",
    "permitted",
    "FAULT_ORDER",
]


class InstrRule(enum.Enum):
    """The rules of this module (value: the ASL function or the Arm ARM section)."""

    AArch64_UnalignedAccessFaults = "AArch64.UnalignedAccessFaults"
    Unpredictable_LSE2_ALIGNMENTFAULT = "Unpredictable_LSE2_ALIGNMENTFAULT"
    LS64_MemoryType = "Arm ARM C3.2.8 (LD64B/ST64B memory types)"
    LS64_Location = "Arm ARM C3.2.8 (LD64B/ST64B target location)"
    ExclusiveAtomic_MemoryType = "Arm ARM B2.8.2.1.2 / impdef (exclusives and atomics)"


class AccessClass(enum.Enum):
    """What kind of instruction makes the access (the ASL AccessDescriptor fields that matter)."""

    PLAIN = "load/store of registers"  # LDR/STR, LDP/STP, SIMD&FP, LD1/ST1
    ORDERED = "load-acquire/store-release"  # accdesc.acqsc/acqpc/relsc, not exclusive
    EXCLUSIVE = "load/store exclusive"  # accdesc.exclusive
    ATOMIC = "FEAT_LSE atomic"  # accdesc.atomicop
    LS64 = "single-copy atomic 64-byte load/store"  # accdesc.ls64
    DCZVA = "DC ZVA"  # AccessType_DCZero
    DC_CM = "data cache maintenance"  # AccessType_DC
    IFETCH = "instruction fetch"


class Outcome(enum.Enum):
    """One permitted result of an instruction-level check."""

    OK = "performed"
    ALIGNMENT_S1 = "Alignment fault (stage 1)"
    ABORT_S1 = "unsupported exclusive or atomic access, DFSC 0b110101 (stage 1)"
    ABORT_S2 = "unsupported exclusive or atomic access, DFSC 0b110101 (stage 2)"
    ALIGNMENT_S2 = "Alignment fault (stage 2)"
    NOT_ATOMIC = "performed, not single-copy atomic above the byte level"

    @property
    def faults(self) -> bool:
        return self in (Outcome.ALIGNMENT_S1, Outcome.ABORT_S1, Outcome.ABORT_S2,
                        Outcome.ALIGNMENT_S2)

    @property
    def stage(self) -> int | None:
        """The stage that reports the fault (None when performed)."""
        return {Outcome.ALIGNMENT_S1: 1, Outcome.ABORT_S1: 1, Outcome.ABORT_S2: 2,
                Outcome.ALIGNMENT_S2: 2}.get(self)


_OK = frozenset({Outcome.OK})


def all_in_aligned_quantity(address: int, size: int, quantity: int) -> bool:
    """ASL ``AllInAlignedQuantity``: every byte of the access lies in one aligned ``quantity``."""
    return address // quantity == (address + size - 1) // quantity


def unaligned_access_faults(
    cls: AccessClass, address: int, size: int, element: int | None = None, *,
    lse2: bool = True, sctlr_a: bool = False, naa: bool = False,
) -> Decision:
    """ASL94 ``AArch64.UnalignedAccessFaults``: the Alignment fault an instruction takes before
    translation, whatever the memory type (result: ``{OK}`` or ``{ALIGNMENT_S1}``).

    :param cls: the access class.  :param address: the VA.  :param size: the overall size.
    :param element: the element size a plain access is aligned to (LDP: one register, LD1: one
        element; Arm ARM B2.8.2.1.1); default ``size``.
    :param lse2: FEAT_LSE2.  :param sctlr_a: SCTLR_ELx.A.  :param naa: SCTLR_ELx.nAA.
    """
    unit = size if cls in (AccessClass.EXCLUSIVE, AccessClass.ATOMIC, AccessClass.LS64) \
        else (element or size)
    inputs = (("class", cls), ("address", address), ("size", size), ("unit", unit),
              ("lse2", lse2), ("sctlr_a", sctlr_a))
    if cls in (AccessClass.IFETCH, AccessClass.DCZVA, AccessClass.DC_CM) or address % unit == 0:
        return Decision(InstrRule.AArch64_UnalignedAccessFaults, "aligned", inputs, _OK)
    if sctlr_a:
        branch, fault = "alignment_enforced", True
    elif cls is AccessClass.LS64:
        branch, fault = "ls64", True  # C3.2.8: always 64-byte aligned, whatever SCTLR_ELx.A
    elif cls in (AccessClass.EXCLUSIVE, AccessClass.ATOMIC):
        branch = "exclusive_atomic"
        fault = not lse2 or not all_in_aligned_quantity(address, size, 16)
    elif cls is AccessClass.ORDERED:
        branch = "ordered"
        fault = not lse2 or (not naa and not all_in_aligned_quantity(address, size, 16))
    else:
        branch, fault = "plain", False
    return Decision(InstrRule.AArch64_UnalignedAccessFaults, branch, inputs,
                    frozenset({Outcome.ALIGNMENT_S1 if fault else Outcome.OK}))


def lse2_unaligned_choice(cls: AccessClass, address: int, size: int,
                          final: tuple[MemoryAttributes, ...], *, lse2: bool = True) -> Decision:
    """Arm ARM B2.8.2.1.2: with FEAT_LSE2 an exclusive or atomic that is not naturally aligned but
    lies in a 16-byte quantity is performed on Normal iWB-oWB Shareable memory; on any other type
    it is CONSTRAINED UNPREDICTABLE: performed, or an Alignment fault."""
    inputs = (("class", cls), ("address", address), ("size", size), ("final", final))
    if cls not in (AccessClass.EXCLUSIVE, AccessClass.ATOMIC) or address % size == 0 or not lse2:
        return Decision(InstrRule.Unpredictable_LSE2_ALIGNMENTFAULT, "not_applicable", inputs, _OK)
    if final and all(a.is_wb and a.shareability.value != "NSH" for a in final):
        return Decision(InstrRule.Unpredictable_LSE2_ALIGNMENTFAULT, "wb_shareable", inputs, _OK)
    return Decision(InstrRule.Unpredictable_LSE2_ALIGNMENTFAULT, "constrained", inputs,
                    frozenset({Outcome.OK, Outcome.ALIGNMENT_S1}))


def ls64_type_ok(a: MemoryAttributes) -> bool:
    """C3.2.8: LD64B/ST64B may access Normal Inner Non-cacheable Outer Non-cacheable or any
    Device type (without FEAT_LS64WB)."""
    return a.is_device or a.is_nc


class LS64Check(enum.Enum):
    """The three IMPLEMENTATION DEFINED ways C3.2.8 lets a PE check an LD64B/ST64B's type."""

    EACH_STAGE = "each enabled stage is checked; the first inappropriate one reports"
    FINAL_AT_LAST = "the resulting type is checked; the final stage reports"
    FINAL_AT_FIRST = "the resulting type is checked; the first inappropriate stage reports"


def ls64_type_check(s1: tuple[MemoryAttributes, ...], s2: tuple[MemoryAttributes, ...],
                    final: tuple[MemoryAttributes, ...], *, s2_enabled: bool = True,
                    approaches: tuple[LS64Check, ...] = tuple(LS64Check)) -> Decision:
    """C3.2.8: the outcomes an LD64B/ST64B may have for these attributes (every permitted value).

    :param s1: the stage-1 attributes (empty with stage 1 off: data is then Device-nGnRnE, which
        is appropriate, and HCR_EL2.DC never causes a stage-1 abort).
    :param s2: the stage-2 attributes (FWB-combined with FWB, as the walker checks them).
    :param final: the resulting attributes.
    :param approaches: the IMPLEMENTATION DEFINED approaches to allow (default: all three).
    """
    inputs = (("s1", s1), ("s2", s2), ("final", final), ("approaches", approaches))
    s1_bad = bool(s1) and not all(ls64_type_ok(a) for a in s1)
    s2_bad = s2_enabled and bool(s2) and not all(ls64_type_ok(a) for a in s2)
    final_bad = not all(ls64_type_ok(a) for a in final)
    last = Outcome.ABORT_S2 if s2_enabled else Outcome.ABORT_S1
    out: set[Outcome] = set()
    for how in approaches:
        if how is LS64Check.EACH_STAGE:
            out.add(Outcome.ABORT_S1 if s1_bad else last if s2_bad else Outcome.OK)
        elif how is LS64Check.FINAL_AT_LAST:
            out.add(last if final_bad else Outcome.OK)
        else:
            out.add((Outcome.ABORT_S1 if s1_bad else last) if final_bad else Outcome.OK)
    branch = "appropriate" if out == {Outcome.OK} else "inappropriate"
    return Decision(InstrRule.LS64_MemoryType, branch, inputs, frozenset(out))


def ls64_location_check(supported: bool | None) -> Decision:
    """C3.2.8: a target location that does not support LD64B/ST64B gives a stage-1 DFSC 0b110101
    abort or accesses that are not single-copy atomic above the byte level.

    :param supported: the location (device and interconnect) supports 64-byte single-copy atomic
        accesses; None when unknown (every outcome permitted).
    """
    inputs = (("supported", supported),)
    if supported:
        return Decision(InstrRule.LS64_Location, "supported", inputs, _OK)
    bad = frozenset({Outcome.ABORT_S1, Outcome.NOT_ATOMIC})
    if supported is None:
        return Decision(InstrRule.LS64_Location, "unknown", inputs, bad | _OK)
    return Decision(InstrRule.LS64_Location, "unsupported", inputs, bad)


def exclusive_atomic_check(s1: tuple[MemoryAttributes, ...], s2: tuple[MemoryAttributes, ...],
                           final: tuple[MemoryAttributes, ...], supported: bool | None, *,
                           s2_enabled: bool = True) -> Decision:
    """Exclusives and atomics on memory that is not Write-Back: performed where the memory system
    supports them, else DFSC 0b110101 at the first stage whose type is not Write-Back.

    :param supported: :attr:`memattr.arch.impdef.ImpDef.uncached_atomics_supported` (or the
        exclusives' flag); None: not known, both outcomes permitted.
    """
    inputs = (("s1", s1), ("s2", s2), ("final", final), ("supported", supported))
    wb = all(a.is_wb for a in final) and all(a.is_wb for a in s1) and \
        (not s2_enabled or all(a.is_wb for a in s2))
    if wb:
        return Decision(InstrRule.ExclusiveAtomic_MemoryType, "write_back", inputs, _OK)
    stage = Outcome.ABORT_S1 if s1 and not all(a.is_wb for a in s1) else \
        Outcome.ABORT_S2 if s2_enabled else Outcome.ABORT_S1
    if supported is None:
        result = frozenset({Outcome.OK, stage})
    else:
        result = _OK if supported else frozenset({stage})
    return Decision(InstrRule.ExclusiveAtomic_MemoryType, "not_write_back", inputs, result)


def after_translation(
    cls: AccessClass, address: int, size: int, s1: tuple[MemoryAttributes, ...],
    s2: tuple[MemoryAttributes, ...], final: tuple[MemoryAttributes, ...], *,
    s2_enabled: bool = True, atomics_supported: bool | None = None,
    ls64_location: bool | None = None, ls64_checks: tuple[LS64Check, ...] = tuple(LS64Check),
    lse2: bool = True,
) -> tuple[Decision, ...]:
    """The instruction-level rules that look at the translated attributes, in order: DC ZVA's
    alignment on each stage's type (ASL94 AArch64.S1HasAlignmentFault / S2HasAlignmentFault with
    AccessType_DCZero), the LSE2 constraint and the exclusive/atomic memory-type check, or the
    LD64B/ST64B memory-type check and then its location.

    :param atomics_supported: the memory system supports exclusives/atomics on memory that is not
        Write-Back (None: not known).
    :param ls64_location: the target supports LD64B/ST64B (None: not known).
    """
    out: list[Decision] = []
    if cls is AccessClass.DCZVA:
        out += [s1_alignment_fault(a, Access.DCZVA, True) for a in s1]
        if s2_enabled:
            out += [s2_alignment_fault(a, Access.DCZVA, True) for a in s2]
    elif cls in (AccessClass.EXCLUSIVE, AccessClass.ATOMIC):
        out.append(lse2_unaligned_choice(cls, address, size, final, lse2=lse2))
        out.append(exclusive_atomic_check(s1, s2, final, atomics_supported,
                                          s2_enabled=s2_enabled))
    elif cls is AccessClass.LS64:
        d = ls64_type_check(s1, s2, final, s2_enabled=s2_enabled, approaches=ls64_checks)
        out.append(d)
        if Outcome.OK in d.result:
            out.append(ls64_location_check(ls64_location))
    return tuple(out)


def permitted(cls: AccessClass, decisions: tuple[Decision, ...] | list[Decision]
              ) -> frozenset[Outcome] | None:
    """Every outcome :func:`after_translation`'s decisions permit together (None: no rule
    applied).  Each rule applies to what the earlier ones let through."""
    if not decisions:
        return None
    if cls is AccessClass.DCZVA:
        s1 = [d for d in decisions if d.rule is AslRule.AArch64_S1HasAlignmentFault]
        s2 = [d for d in decisions if d.rule is AslRule.AArch64_S2HasAlignmentFault]
        out: set[Outcome] = set()
        if any(d.result for d in s1):
            out.add(Outcome.ALIGNMENT_S1)
        if not all(d.result for d in s1):
            if any(d.result for d in s2):
                out.add(Outcome.ALIGNMENT_S2)
            if not s2 or not all(d.result for d in s2):
                out.add(Outcome.OK)
        return frozenset(out)
    got: frozenset[Outcome] = frozenset({Outcome.OK})
    for d in decisions:
        if Outcome.OK in got:
            got = (got - {Outcome.OK}) | d.result
    return got


FAULT_ORDER = (Outcome.ALIGNMENT_S1, Outcome.ABORT_S1, Outcome.ALIGNMENT_S2, Outcome.ABORT_S2,
               Outcome.NOT_ATOMIC, Outcome.OK)
"""The order in which a run picks among permitted outcomes when not told: faults first (what a
PE that does not support the access does)."""
