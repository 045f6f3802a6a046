"""Access kinds end to end: what one guest instruction does through stage 1, stage 2, KVM, the
architecture's rules for the effective type, and the device's bus.

:data:`ACCESS_KINDS` names the instructions modelled (LDR/STR of 1-8 bytes, LDP/STP, SIMD&FP
``ldr/str q`` and LD1/ST1, LD64B/ST64B, LDXR/STXR, LSE atomics, DC ZVA, DC CIVAC, instruction
fetch, a memcpy_toio burst), aligned and unaligned.  :func:`evaluate_access` runs one through
the Linux model (:class:`memattr.linux.system.Session`: the walker, KVM's fault path of the
policy's kernel) once per outcome the architecture permits (an IMPLEMENTATION DEFINED choice is a
*set*: the exclusive/atomic support of :mod:`memattr.arch.impdef`, the three LD64B/ST64B checks
of Arm ARM C3.2.8, a target's 64-byte support), and describes each end to end
(:class:`Result`): what the architecture did, KVM's reaction, and the bus
(:func:`memattr.platform.bus.bus_outcomes`: the PCIe TLPs and their byte enables, what gathering
may merge, what an AXI slave does with an unaligned or 64-byte access).

:func:`arch_outcome` is the architecture alone for a pair of stage types (the access outcome table
for each effective type and access kind, docs/matrix.md#access-kinds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arch.combine import Access
from ..arch.instr import (
    FAULT_ORDER,
    AccessClass,
    LS64Check,
    Outcome,
    after_translation,
    permitted,
    unaligned_access_faults,
)
from ..arch.memtype import MemoryAttributes
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault, type_properties
from ..errors import ConfigError
from ..linux.events import EventKind
from ..linux.kvm.abort import GuestAccess, InstrClass
from ..platform.bus import BusAccess, BusOutcome, bus_outcomes
from ..platform.physmap import Region

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..linux.system import Evaluation

__all__ = [
    "AccessKind",
    "ACCESS_KINDS",
    "DEFAULT_ACCESSES",
    "access_kind",
    "access_names",
    "Result",
    "AccessOutcome",
    "arch_outcome",
    "result_of",
    "bus_results",
    "s2_label",
    "evaluate_access",
    "outcome_text",
]


@dataclass(frozen=True, slots=True)
class AccessKind:
    """One guest instruction (or a short burst of them) to evaluate.

    :param name: the name ('stp16-unaligned').
    :param summary: what it is, in one line.
    :param instr: the instruction class (ISV, alignment and memory-type rules depend on it).
    :param op: the access (read, write, instruction fetch, DC ZVA).
    :param size: bytes per instruction.
    :param element: the element size its memory-type alignment is checked on (Arm ARM
        B2.8.2.1.1; None: ``size``).
    :param skew: how far from ``size`` alignment the first instruction's address is (0: aligned).
    :param count: how many instructions, at consecutive addresses (a burst: memcpy_toio).
    """

    name: str
    summary: str
    instr: InstrClass
    op: Access
    size: int
    element: int | None = None
    skew: int = 0
    count: int = 1

    @property
    def unit(self) -> int:
        return self.element if self.element is not None else self.size

    @property
    def unaligned(self) -> bool:
        """Not aligned to its element (what the memory type's alignment check looks at) or, for
        the instructions that need it (exclusives, atomics, LD64B/ST64B), to its size."""
        strict = self.instr.access_class in (AccessClass.EXCLUSIVE, AccessClass.ATOMIC,
                                             AccessClass.LS64)
        return self.skew % (self.size if strict else self.unit) != 0

    @property
    def odd(self) -> bool:
        """An access a driver expects Normal memory to take that Device memory may not: unaligned,
        64 bytes at once, or several stores that may gather
        (docs/review.md#unaligned-accesses-and-axi)."""
        return self.unaligned or self.instr is InstrClass.LS64 or self.count > 1

    @property
    def is_write(self) -> bool:
        return self.op in (Access.WRITE, Access.DCZVA)

    def guest_access(self) -> GuestAccess:
        """The Linux model's description of one of its instructions."""
        return GuestAccess(self.op, self.size, self.instr, aligned=self.skew == 0,
                           element=self.element, skew=self.skew or None)

    def offsets(self) -> tuple[int, ...]:
        """The aligned offset of each instruction of the burst."""
        return tuple(k * self.size for k in range(self.count))

    def pieces(self, address: int) -> tuple[BusAccess, ...]:
        """How the PE issues it: one piece per single-copy atomic element (an unaligned element is
        one piece, not single-copy atomic), one 64-byte block for LD64B/ST64B and DC ZVA (block
        size DCZID_EL0.BS = 4: 64 bytes), nothing for cache maintenance by VA.

        :param address: the aligned address of the first instruction (the skew is added).
        """
        cls = self.instr.access_class
        if cls is AccessClass.DC_CM:
            return ()
        if cls is AccessClass.LS64:
            return (BusAccess(address, 64, self.is_write, atomic64=True),)
        if cls is AccessClass.DCZVA:
            return (BusAccess(address - address % 64, 64, True),)
        unit = self.unit
        return tuple(BusAccess(address + off + self.skew + e * unit, unit, self.is_write)
                     for off in self.offsets() for e in range(self.size // unit))


def _k(name: str, summary: str, instr: InstrClass, op: Access, size: int, *,
       element: int | None = None, skew: int = 0, count: int = 1) -> AccessKind:
    return AccessKind(name, summary, instr, op, size, element, skew, count)


_L, _S = Access.READ, Access.WRITE
ACCESS_KINDS: tuple[AccessKind, ...] = (
    _k("ldrb", "LDRB W0: a 1-byte load", InstrClass.LDR_STR, _L, 1),
    _k("ldr4", "LDR W0: an aligned 4-byte load (a register read)", InstrClass.LDR_STR, _L, 4),
    _k("str4", "STR W0: an aligned 4-byte store (a doorbell write)", InstrClass.LDR_STR, _S, 4),
    _k("ldr8", "LDR X0: an aligned 8-byte load", InstrClass.LDR_STR, _L, 8),
    _k("str8", "STR X0: an aligned 8-byte store", InstrClass.LDR_STR, _S, 8),
    _k("ldr8-unaligned", "LDR X0 at offset 1: an unaligned 8-byte load", InstrClass.LDR_STR, _L,
       8, skew=1),
    _k("str8-unaligned", "STR X0 at offset 4: an unaligned 8-byte store (a memcpy_toio tail)",
       InstrClass.LDR_STR, _S, 8, skew=4),
    _k("ldp16", "LDP X0, X1: an aligned 16-byte load pair", InstrClass.LDP_STP, _L, 16,
       element=8),
    _k("stp16", "STP X0, X1: an aligned 16-byte store pair", InstrClass.LDP_STP, _S, 16,
       element=8),
    _k("stp16-unaligned", "STP X0, X1 at offset 4: an unaligned store pair",
       InstrClass.LDP_STP, _S, 16, element=8, skew=4),
    _k("ldr-q", "LDR Q0: an aligned 16-byte SIMD&FP load", InstrClass.SIMD_FP, _L, 16),
    _k("str-q", "STR Q0: an aligned 16-byte SIMD&FP store", InstrClass.SIMD_FP, _S, 16),
    _k("str-q-unaligned", "STR Q0 at offset 8: a 16-byte SIMD&FP store aligned to 8 only",
       InstrClass.SIMD_FP, _S, 16, skew=8),
    _k("ld1-16", "LD1 {V0.2D}: a 16-byte SIMD load of two 8-byte elements",
       InstrClass.SIMD_FP, _L, 16, element=8),
    _k("st1-16-unaligned", "ST1 {V0.2D} at offset 4: two 8-byte elements, unaligned",
       InstrClass.SIMD_FP, _S, 16, element=8, skew=4),
    _k("ld64b", "LD64B: a single-copy atomic 64-byte load (FEAT_LS64)", InstrClass.LS64, _L, 64),
    _k("st64b", "ST64B: a single-copy atomic 64-byte store (FEAT_LS64)", InstrClass.LS64, _S, 64),
    _k("st64b-unaligned", "ST64B at offset 8: a 64-byte store not aligned to 64",
       InstrClass.LS64, _S, 64, skew=8),
    _k("ldxr8", "LDXR X0: an 8-byte load exclusive", InstrClass.EXCLUSIVE, _L, 8),
    _k("stxr8", "STXR W1, X0: an 8-byte store exclusive", InstrClass.EXCLUSIVE, _S, 8),
    _k("ldadd8", "LDADD X0, X1: an 8-byte FEAT_LSE atomic add", InstrClass.ATOMIC, _S, 8),
    _k("dc-zva", "DC ZVA: zero a 64-byte block", InstrClass.DC_ZVA, Access.DCZVA, 64),
    _k("dc-civac", "DC CIVAC: clean and invalidate a line to the PoC", InstrClass.CACHE_MAINTENANCE,
       _L, 8),
    _k("ifetch", "an instruction fetch", InstrClass.IFETCH, Access.IFETCH, 4),
    _k("memcpy-toio-64", "8 x STR X0 at consecutive addresses: a 64-byte memcpy_toio",
       InstrClass.LDR_STR, _S, 8, count=8),
)
"""Every access kind, in the order tables list them."""

_BY_NAME = {k.name: k for k in ACCESS_KINDS}

DEFAULT_ACCESSES: tuple[str, ...] = (
    "ldr4", "str8", "str8-unaligned", "ldp16", "stp16-unaligned", "str-q", "st1-16-unaligned",
    "ld64b", "st64b", "ldxr8", "stxr8", "ldadd8", "dc-zva", "dc-civac", "ifetch",
    "memcpy-toio-64",
)
"""The access kinds of the default matrix (docs/matrix.md#the-default-matrix)."""


def access_names() -> tuple[str, ...]:
    """Every access kind's name."""
    return tuple(_BY_NAME)


def access_kind(name: str | AccessKind) -> AccessKind:
    """An access kind by name (ConfigError listing the known names)."""
    if isinstance(name, AccessKind):
        return name
    try:
        return _BY_NAME[name]
    except KeyError:
        from ..inputs.escape import show

        raise ConfigError(f"access={show(name)}: unknown access kind (known: "
                          f"{', '.join(_BY_NAME)})") from None


# --- the architecture alone ----------------------------------------------------------------------


def arch_outcome(
    kind: AccessKind, s1: tuple[MemoryAttributes, ...], s2: tuple[MemoryAttributes, ...],
    final: tuple[MemoryAttributes, ...], *, s2_enabled: bool = True,
    atomics_supported: bool | None = None, ls64_location: bool | None = None,
    ls64_checks: tuple[LS64Check, ...] = tuple(LS64Check), lse2: bool = True,
) -> frozenset[Outcome]:
    """What the architecture permits for ``kind`` over these stage types, in the walker's order:
    the instruction's own alignment (before translation), the stage-1 type's alignment, the
    stage-2 type's, then the instruction's memory-type rules.  Permissions are not looked at
    (an instruction fetch is ``OK`` here; stage 2's XN is KVM's business).

    :param s1: the stage-1 attributes (empty: stage 1 off).
    :param s2: the stage-2 attributes (FWB-combined with FWB, as ASL94 checks them).
    :param final: the effective attributes.
    """
    cls = kind.instr.access_class
    pre = unaligned_access_faults(cls, kind.skew, kind.size, kind.unit, lse2=lse2)
    if Outcome.ALIGNMENT_S1 in pre.result:
        return pre.result
    combine = {Access.WRITE: Access.WRITE, Access.DCZVA: Access.WRITE,
               Access.IFETCH: Access.IFETCH}.get(kind.op, Access.READ)
    if kind.skew % kind.unit and cls is not AccessClass.IFETCH:
        if any(s1_has_alignment_fault(a, combine, False) for a in s1):
            return frozenset({Outcome.ALIGNMENT_S1})
        if s2_enabled and any(s2_has_alignment_fault(a, combine, False) for a in s2):
            return frozenset({Outcome.ALIGNMENT_S2})
    got = permitted(cls, after_translation(
        cls, kind.skew, kind.size, s1, s2, final, s2_enabled=s2_enabled,
        atomics_supported=atomics_supported, ls64_location=ls64_location,
        ls64_checks=ls64_checks, lse2=lse2))
    return got if got is not None else frozenset({Outcome.OK})


# --- end to end ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """One permitted outcome of an access, end to end.

    :param arch: what the architecture did ('completed', 'alignment fault at stage 2', ...).
    :param kvm: KVM's reaction when it took part after the mapping was made (None: not involved).
    :param bus: what the bus made of it, when the access reached it.
    """

    arch: str
    kvm: str | None = None
    bus: BusOutcome | None = None

    @property
    def text(self) -> str:
        parts = [self.arch]
        if self.kvm:
            parts.append(self.kvm)
        if self.bus is not None:
            parts.append(self.bus.text)
        return "; ".join(parts)

    @property
    def completed(self) -> bool:
        """The access was performed (the bus may still refuse it)."""
        return self.arch.startswith("completed")

    @property
    def reaches_device(self) -> bool:
        return self.bus is not None and self.bus.kind != "no device access"

    @property
    def fault(self) -> bool:
        """The access did not complete: a fault, an abort, or a bus error."""
        return not self.completed or (self.bus is not None and self.bus.kind not in
                                      ("completed", "no device access"))

    @property
    def misfit(self) -> bool:
        """The access did not work the way a driver expecting Normal memory meant it: an
        Alignment fault, an unsupported exclusive/atomic/64-byte abort, accesses that are not
        single-copy atomic, or the bus refusing it (not a KVM refusal of the whole mapping)."""
        return self.arch.startswith(("alignment fault", "unsupported exclusive")) or \
            "not single-copy atomic" in self.arch or \
            (self.bus is not None and self.bus.kind not in ("completed", "no device access"))

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch, "kvm": self.kvm,
                "bus": None if self.bus is None else {
                    "kind": self.bus.kind, "text": self.bus.text,
                    "tlps": [str(t) for t in self.bus.tlps],
                    "merged": None if self.bus.merged is None else
                    [str(t) for t in self.bus.merged]}}


def _sort_key(r: Result) -> tuple[int, str]:
    return (0 if r.completed else 1, r.text)


@dataclass(frozen=True)
class AccessOutcome:
    """One access kind through one mapping: every permitted :class:`Result`, and what the hazard
    checks need to know about the mapping.

    :param s2: the stage-2 type KVM mapped, as a short label (None: no mapping).
    :param effective: the effective type (None: no mapping).
    :param region: the host region behind the IPA.
    :param guest: the guest's stage-1 type (None with its MMU off).
    :param vmm: the VMM's own stage-1 type for the page (None: no VMA).
    :param pa: the physical address accessed.
    """

    kind: AccessKind
    s2: str | None
    effective: MemoryAttributes | None
    results: frozenset[Result]
    region: Region | None = None
    guest: MemoryAttributes | None = None
    vmm: MemoryAttributes | None = None
    pa: int | None = None

    @property
    def text(self) -> str:
        return outcome_text(self.results)

    def ordered(self) -> tuple[Result, ...]:
        return tuple(sorted(self.results, key=_sort_key))


def outcome_text(results: frozenset[Result] | set[Result]) -> str:
    """One line: the one result, or 'one of: a | b' (completed results first)."""
    rs = sorted(results, key=_sort_key)
    if len(rs) == 1:
        return rs[0].text
    return "one of: " + " | ".join(r.text for r in rs)


def s2_label(memattr: int | None, fwb: bool) -> str | None:
    """The stage-2 type KVM wrote, as a short label: the type without FWB; with FWB what the
    MemAttr means (ASL94 AArch64.S2ApplyFWBMemAttrs)."""
    if memattr is None:
        return None
    if not fwb:
        from ..arch.s2memattr import s2_decode_mem_attrs

        return " | ".join(dict.fromkeys(a.short for a in s2_decode_mem_attrs(memattr).outcomes))
    from ..arch.s2memattr import FwbRule, fwb_meaning

    m = fwb_meaning(memattr).result
    if m.rule is FwbRule.DEVICE and m.device is not None:
        return f"Device-{m.device.name}"
    return {FwbRule.NC_OR_S1_DEVICE: "Normal-NC (FWB: NC unless S1 Device)",
            FwbRule.FORCE_WB: "Normal-WB (FWB: forced)",
            FwbRule.AS_S1: "as stage 1 (FWB)"}.get(m.rule, m.label)


def bus_results(kind: AccessKind, region: Region | None, eff: MemoryAttributes, pa: int,
                arch: str) -> frozenset[Result]:
    """The completed access ``arch`` on the target's bus: one :class:`Result` per bus outcome."""
    cls = kind.instr.access_class
    pieces = kind.pieces(pa - pa % 64)
    bus = region.errors if region is not None else None
    if cls is AccessClass.ATOMIC and not eff.is_cacheable:
        return frozenset({Result(arch, None, BusOutcome(
            "completed", "performed by the memory system as an atomic transaction (how it "
            "reaches the device is IMPLEMENTATION DEFINED)"))})
    if cls is AccessClass.DC_CM:
        what = ("cleans and invalidates the line in the caches; a dirty line is written back"
                if eff.is_cacheable else "no cached copy: no transaction reaches the device")
        return frozenset({Result(arch, None, BusOutcome("no device access", what))})
    gathering = type_properties(eff)["gathering"].value == "yes"
    outs = bus_outcomes(bus, pieces, attrs=eff, gathering=gathering)
    return frozenset(Result(arch, None, b) for b in outs)


_STAGE2_KINDS = ("translation", "permission", "access flag")


def result_of(e: Evaluation, kind: AccessKind, *, bus: bool = True) -> frozenset[Result]:
    """What one evaluation of the Linux model did, end to end (several results only for the bus:
    a completed access can meet more than one permitted bus behaviour)."""
    if e.setup_failed is not None:
        return frozenset({Result("no access", f"{e.setup_failed} {e.errno}")})
    s1 = e.stage1_fault
    if s1 is not None:
        k = getattr(s1, "kind", None)
        what = k.value if k is not None else "translation"
        return frozenset({Result(f"{what} fault at stage 1", "taken by the guest's EL1")})
    ab = e.abort
    f = ab.fault if ab is not None else None
    if f is not None and f.kind.value not in _STAGE2_KINDS:
        arch = f"{f.kind.value} fault at stage 2"
    else:
        arch = "stage-2 fault"
    if e.injected:
        why = f" ({ab.internal_errno})" if ab is not None and ab.internal_errno else ""
        return frozenset({Result(arch, f"{e.injected} injected into the guest{why}")})
    if e.mmio_exit:
        return frozenset({Result(arch, "MMIO exit to the VMM (KVM_EXIT_MMIO)")})
    if any(ev.kind is EventKind.NISV_EXIT for ev in e.events):
        return frozenset({Result(arch, "NISV exit to the VMM (KVM_EXIT_ARM_NISV)")})
    if any(ev.kind is EventKind.HOST_PANIC for ev in e.events):
        return frozenset({Result(arch, "host panic")})
    if e.errno is not None:
        unsupported = ab is not None and any(d.branch == "unsupported_fsc" for d in ab.decisions)
        return frozenset({Result(arch, f"KVM_RUN {e.errno}"
                                 + (" (Unsupported FSC)" if unsupported else ""))})
    eff = e.effective
    if e.translation is None or eff is None:
        return frozenset({Result("no translation", None)})
    arch = f"completed as {eff.short}"
    if e.chosen is Outcome.NOT_ATOMIC:
        arch += ", not single-copy atomic"
    if not bus:
        return frozenset({Result(arch)})
    leaf = e.leaf
    pa = leaf.phys + (e.ipa - leaf.ipa) if leaf is not None else e.ipa
    return bus_results(kind, e.region, eff, pa, arch)


def evaluate_access(
    policy: Any, host: Any, platform: Any, source: Any, memslot: Any, guest: Any,
    kind: AccessKind | str, *, ipa: int | None = None, offset: int = 0, vm: Any = None,
) -> AccessOutcome:
    """Run ``kind`` through the Linux model once per outcome the architecture permits, and
    describe each end to end (the scalar engine of docs/matrix.md#how-it-is-computed).

    Parameters as :class:`memattr.linux.system.Session`; ``offset`` is the aligned offset of the
    access in the mapping (the kind's skew is added).
    """
    from ..linux.system import Session

    k = access_kind(kind)

    def run(choice: Outcome | None) -> list[Evaluation]:
        s = Session(policy, host, platform, source, memslot, guest, ipa=ipa, vm=vm)
        return [s.access(k.guest_access(), offset=offset + off, choice=choice)
                for off in k.offsets()]

    runs = [run(None)]
    allowed: set[Outcome] = set()
    for ev in runs[0]:
        if ev.permitted is not None:
            allowed |= ev.permitted
    followed = {ev.chosen for ev in runs[0]}
    for choice in FAULT_ORDER:
        if choice in allowed and choice not in followed:
            runs.append(run(choice))
    results: set[Result] = set()
    for r in runs:
        for ev in r:
            results |= result_of(ev, k)
    e = runs[0][0]
    leaf = e.leaf
    pa = leaf.phys + (e.ipa - leaf.ipa) if leaf is not None else None
    return AccessOutcome(k, s2_label(e.s2_memattr, e.host.fwb), e.effective if leaf else None,
                         frozenset(results), e.region, e.guest_s1, e.vmm_s1, pa)
