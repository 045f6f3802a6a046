"""Two-stage translation of one guest access through real tables in simulated memory.

:func:`walk` translates a VA of the EL1&0 regime as Arm's v9.4 pseudocode does
(AArch64.FullTranslate: AArch64.S1Translate, every stage-1 descriptor read itself translated by
AArch64.S2Translate (S1PTW), then AArch64.S2Translate of the output).  It returns a
:class:`WalkResult` with every descriptor visited and either a :class:`Translation` -- physical
address, combined attributes (arch.combine.resolve: S2CombineS1MemAttrs without FWB,
AArch64_S2ApplyFWBMemAttrs with it, under the HCR_EL2/SCTLR_EL1 controls), effective permissions
-- or a :class:`Fault` value with the ESR/FAR/HPFAR the exception would report and the ASL
function that decided it.  Faults are values; exceptions are for misuse.

Order of checks (ASL AArch64.S1Translate, AArch64.S1Walk, AArch64.S2Translate, AArch64.S2Walk):

1. alignment not caused by the memory type (SCTLR_EL1.A; not for AT);
2. stage 1: the TCR_EL1 checks (AArch64.S1TxSZFaults), VA range (AArch64.VAIsOutOfRange) and
   EPDn, each a Translation fault at level 0; the table base beyond the output size (Address
   size fault at *level 0*, AArch64.S1Walk); then per level: the S1PTW stage-2 translation of
   the descriptor address (any stage-2 fault, S1PTW=1; a stage-2 Device table with HCR_EL2.PTW=1
   is a Permission fault), Translation fault (invalid descriptor, or a block where
   AArch64.BlockDescSupported says none), Address size fault (next table beyond the output
   size, at the table's level); at the leaf the output address (Address size) then the Access
   flag (unless hardware updates it);
3. alignment fault caused by the stage-1 memory type (AArch64.S1HasAlignmentFault);
4. stage-1 Permission fault (with FEAT_HAFDBS dirty state: DBM=1 makes the page writable);
5. hardware Access flag / dirty state update of the stage-1 descriptor (a stage-2 write of the
   table, which may itself fault with S1PTW=1 and WnR=1);
6. stage 2 of the access: the VTCR_EL2 checks (AArch64.S2TxSZFaults, S2InvalidSL,
   S2InconsistentSL) and the IPA range, each a Translation fault at level 0; the VTTBR_EL2 base
   (Address size fault, level 0); walk faults as for stage 1; alignment from the stage-2 memory
   type (AArch64.S2HasAlignmentFault: S2 alone without FWB, the FWB-combined result with FWB);
   stage-2 Permission fault; stage-2 hardware updates.

Stage-1 faults are reported as the EL1 exception (ESR_EL1, FAR_EL1; ISV=0); stage-2 faults as
the EL2 one (ESR_EL2, FAR_EL2, and HPFAR_EL2 where ASL IPAValid says it is valid: Translation,
Access flag and Address size faults, and Permission faults only on a stage-1 walk -- for a
stage-2 Permission fault on the access itself HPFAR_EL2 is UNKNOWN, reported as None).  An
S1PTW fault keeps the access's class (a fetch's is an Instruction Abort with S1PTW=1); for a
data access WnR is 0 for a table read, 1 for a hardware update of a table, and ISV is 0.

Reading a PA beyond the simulated memory is a synchronous External abort on the table walk.
Not modelled: PSTATE.PAN, FEAT_S1PIE/S2PIE/POE, FEAT_E0PD, 128-bit descriptors, the
Contiguous-bit and nT IMPLEMENTATION DEFINED faults.
"""

from __future__ import annotations

import enum
import struct

from .._value import dataclass  # dataclasses, cheaper to import
from ..arch import walkparams as W
from ..arch.combine import Access as CombineAccess
from ..arch.combine import Resolution, resolve
from ..arch.decision import Decision
from ..arch.descriptor import (
    DESC_AF,
    DESC_DBM,
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    DESC_TABLE,
    DESC_VALID,
    FINAL_LEVEL,
    S1_AP2,
    S1_AP_MASK,
    S1_AP_RDONLY,
    S1_AP_SHIFT,
    S1_AP_USER,
    S1_APTABLE_MASK,
    S1_APTABLE_NO_EL0,
    S1_APTABLE_RDONLY,
    S1_APTABLE_SHIFT,
    S1_ATTRINDX_MASK,
    S1_ATTRINDX_SHIFT,
    S1_PXN,
    S1_PXNTABLE,
    S1_UXN,
    S1_UXNTABLE,
    S2_FNXS,
    S2_MEMATTR_MASK,
    S2_MEMATTR_SHIFT,
    S2_S2AP_MASK,
    S2_S2AP_READ,
    S2_S2AP_SHIFT,
    S2_S2AP_W,
    S2_S2AP_WRITE,
    S2_XN_MASK,
    S2_XN_SHIFT,
    DescType,
    s2_exec,
)
from ..arch.fields import Field, Layout, genmask
from ..arch.fsc import FaultKind, encode_fsc
from ..arch.memtype import MemoryAttributes
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault
from ..arch.walkparams import WalkRule
from ..errors import EncodingError
from .pgtable import Codec
from .physmem import FRAME_SHIFT, WORD, DescReader, PhysMem
from .regime import Geometry, Regime, Stage1Half, Stage1Regime, Stage2Regime

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AccessKind",
    "Access",
    "WalkStep",
    "Perms",
    "Fault",
    "Translation",
    "DescUpdate",
    "WalkResult",
    "S2Out",
    "S2Cache",
    "walk",
    "walk_at",
    "walk_stage2",
    "s1_perms",
    "s2_perms",
    "s1_perm_table",
    "s2_perm_table",
    "PERM_BITS",
    "PERM_R",
    "PERM_W",
    "PERM_X",
    "S1_PERM_INDEX",
    "S2_PERM_INDEX",
    "ipa_valid",
    "fault_esr",
    "hpfar_value",
]


class AccessKind(enum.Enum):
    """What the access does."""

    READ = "read"
    WRITE = "write"
    EXEC = "exec"

    # Members are singletons compared by identity: hash them so too (Enum's hash goes through
    # the member name in Python code, which shows in a walk's profile).
    __hash__ = object.__hash__

    @property
    def combine_access(self) -> CombineAccess:
        """The arch.combine access kind."""
        return _COMBINE[self]


_COMBINE = {AccessKind.READ: CombineAccess.READ, AccessKind.WRITE: CombineAccess.WRITE,
            AccessKind.EXEC: CombineAccess.IFETCH}


@dataclass(frozen=True, slots=True)
class Access:
    """One guest access.

    :param va: the virtual address.  :param kind: read, write or exec.
    :param el: the Exception level making it (0 or 1).  :param size: bytes (1..64).
    :param srt: for a data access by a single general-purpose register load/store: the
        register number; makes a stage-2 data abort report ISV=1 with SAS/SSE/SRT/SF/AR.
    :param sf: 64-bit register.  :param sse: sign-extending load.  :param ar: acquire/release.
    """

    va: int
    kind: AccessKind = AccessKind.READ
    el: int = 1
    size: int = 8
    srt: int | None = None
    sf: bool = True
    sse: bool = False
    ar: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.va < 1 << 64:
            raise EncodingError(f"VA=0x{self.va:x}: not a 64-bit address")
        if self.el not in (0, 1):
            raise EncodingError(f"EL={self.el}: a guest access is made at EL0 or EL1")
        if self.size not in (1, 2, 4, 8, 16, 32, 64):
            raise EncodingError(f"size={self.size}: not a power of two 1..64")
        if self.srt is not None and not 0 <= self.srt <= 31:
            raise EncodingError(f"SRT={self.srt}: a register number 0..31")

    @property
    def aligned(self) -> bool:
        """The address is a multiple of the size."""
        return self.va % self.size == 0

    @property
    def is_write(self) -> bool:
        """A write."""
        return self.kind is AccessKind.WRITE

    @property
    def is_exec(self) -> bool:
        """An instruction fetch."""
        return self.kind is AccessKind.EXEC


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One descriptor read.

    :param stage: 1 or 2.  :param level: lookup level.  :param ia: the address being
        translated (VA at stage 1, IPA at stage 2).
    :param table: the table's address (an IPA at stage 1, a PA at stage 2).
    :param index: the descriptor's index in it.  :param desc_pa: where it was read (PA).
    :param raw: the descriptor.  :param type: what it is at this level.
    :param s1ptw: a stage-2 step translating a stage-1 table address.
    :param cached: taken from a TLB entry rather than read now.
    """

    stage: int
    level: int
    ia: int
    table: int
    index: int
    desc_pa: int
    raw: int
    type: DescType
    s1ptw: bool = False
    cached: bool = False

    def __str__(self) -> str:
        tag = " (S1PTW)" if self.s1ptw else ""
        tag += " [TLB]" if self.cached else ""
        return (f"S{self.stage} L{self.level}{tag}: table 0x{self.table:x}[{self.index}] "
                f"@PA 0x{self.desc_pa:x} = 0x{self.raw:016x} {self.type.value}")


def _packed(name: str, parts: tuple[tuple[str, int], ...]) -> Layout:
    """A packed value of ours: ``parts`` (name, width) laid out from bit 0 up."""
    rows, lsb = [], 0
    for part, width in parts:
        rows.append(Field(part, lsb + width - 1, lsb))
        lsb += width
    return Layout(name, lsb, reversed(rows))


PERM_BITS = _packed("PERMS", (("R", 1), ("W", 1), ("X", 1)))
"""The packed form of :class:`Perms` (``Perms.bits``) that the walkers' tables hold."""
PERM_R = PERM_BITS.field_mask("R")
PERM_W = PERM_BITS.field_mask("W")
PERM_X = PERM_BITS.field_mask("X")

S1_PERM_INDEX = _packed("S1_PERM_INDEX", (
    ("AP", S1_AP_MASK.bit_length()), ("UXN", 1), ("PXN", 1),
    ("APTable", S1_APTABLE_MASK.bit_length()), ("UXNTable", 1), ("PXNTable", 1)))
"""The index of :func:`s1_perm_table`: the stage-1 leaf's AP, UXN, PXN and the accumulated
APTable, UXNTable, PXNTable (each field's value as the descriptor holds it)."""
S2_PERM_INDEX = _packed("S2_PERM_INDEX", (("S2AP", S2_S2AP_MASK.bit_length()),
                                          ("XN", S2_XN_MASK.bit_length())))
"""The index of :func:`s2_perm_table`: the stage-2 leaf's S2AP and XN."""


@dataclass(frozen=True, slots=True)
class Perms:
    """Read / write / execute permission for one Exception level."""

    read: bool
    write: bool
    exec: bool

    def allows(self, kind: AccessKind) -> bool:
        """Whether an access of ``kind`` is permitted."""
        if kind is AccessKind.READ:
            return self.read
        return self.write if kind is AccessKind.WRITE else self.exec

    @property
    def bits(self) -> int:
        """The packed form (:data:`PERM_BITS`: PERM_R | PERM_W | PERM_X)."""
        return (PERM_R if self.read else 0) | (PERM_W if self.write else 0) \
            | (PERM_X if self.exec else 0)

    def __and__(self, other: Perms) -> Perms:
        return _PERMS[self.bits & other.bits]

    def __str__(self) -> str:
        return ("R" if self.read else "-") + ("W" if self.write else "-") + \
            ("X" if self.exec else "-")


_PERMS = tuple(Perms(bool(b & PERM_R), bool(b & PERM_W), bool(b & PERM_X))
               for b in range(1 << PERM_BITS.width))
"""Perms by their packed bits (:data:`PERM_BITS`): the eight values, shared."""
ALL_PERMS = _PERMS[PERM_R | PERM_W | PERM_X]


def _perms(r: bool, w: bool, x: bool) -> Perms:
    """The shared Perms value."""
    return _PERMS[(PERM_R if r else 0) | (PERM_W if w else 0) | (PERM_X if x else 0)]


_KIND_BIT = {AccessKind.READ: PERM_R, AccessKind.WRITE: PERM_W, AccessKind.EXEC: PERM_X}


@dataclass(frozen=True, slots=True)
class Fault:
    """A translation fault, as a value.

    :param kind: translation, access flag, permission, address size, alignment, or a
        synchronous External abort on a table walk.
    :param stage: 1 or 2.  :param level: lookup level (None for alignment faults).
    :param s1ptw: a stage-2 fault on a stage-1 table walk.
    :param ipa: the faulting IPA (stage-2 faults), else None.
    :param esr: the ESR_ELx value; ``target_el`` says which (1 or 2).
    :param far: FAR_ELx (the VA).  :param hpfar: HPFAR_EL2 (FIPA = IPA[51:12] in [43:4]) where
        ASL IPAValid holds, else None.
    :param decision: what decided it: the ASL function (:class:`~memattr.arch.walkparams.
        WalkRule`), a branch id (``"base_address_size"``, ``"invalid_descriptor"`` ...), the
        inputs (stage, level, address, s1ptw) and the result (the fault kind).
    """

    kind: FaultKind
    stage: int
    level: int | None
    s1ptw: bool
    va: int
    ipa: int | None
    access: Access
    reason: str
    esr: int
    target_el: int
    far: int
    hpfar: int | None
    decision: Decision | None = None

    @property
    def rule(self) -> str | None:
        """The name of the ASL function that decided (e.g. ``AArch64.S2InconsistentSL``)."""
        return self.decision.rule.value if self.decision is not None else None

    @property
    def fsc(self) -> int:
        """The DFSC/IFSC (ESR bits[5:0])."""
        from ..arch.esr import ISS_DABT  # the syndrome tables: loaded once an access faults

        return self.esr & ISS_DABT.field_mask("DFSC")  # ESR_ELx_ISS_DABT_DFSC_MASK; IFSC alike

    def __str__(self) -> str:
        lvl = f" level {self.level}" if self.level is not None else ""
        ptw = " on a stage-1 table walk (S1PTW)" if self.s1ptw else ""
        where = f", IPA 0x{self.ipa:x}" if self.ipa is not None else ""
        what = " fault" if self.kind is not FaultKind.SYNC_EXTERNAL_ON_WALK else ""
        rule = f" ({self.rule})" if self.rule else ""
        return (f"stage {self.stage} {self.kind.value}{what}{lvl}{ptw} at VA 0x{self.va:x}"
                f"{where}: {self.reason}{rule}")


@dataclass(frozen=True, slots=True)
class Translation:
    """A successful translation.

    :param pa: the physical address.  :param ipa: the intermediate physical address.
    :param attrs: the combined memory attributes (None for a reserved MAIR byte; see
        ``resolution`` for every permitted outcome when CONSTRAINED UNPREDICTABLE).
    :param perms: effective permissions at the access's EL (stage 1 AND stage 2).
    :param size: bytes this translation covers (the smaller of the two leaves).
    :param s1_attr: the MAIR_EL1 byte selected by AttrIndx (None with stage 1 off).
    :param s2_memattr: stage-2 MemAttr[3:0] (None with stage 2 off).
    """

    va: int
    ipa: int
    pa: int
    access: Access
    attrs: MemoryAttributes | None
    resolution: Resolution
    perms: Perms
    s1_perms: Perms
    s2_perms: Perms
    size: int
    s1_level: int | None
    s1_desc: int | None
    s2_level: int | None
    s2_desc: int | None
    s1_attr: int | None
    s2_memattr: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DescUpdate:
    """A descriptor written by the hardware during the walk (FEAT_HAFDBS, ASL
    AArch64.MemSwapTableDesc): the Access flag set, or the dirty state recorded.

    :param written: False when the memory could not be written (a read-only snapshot).
    """

    stage: int
    level: int
    desc_pa: int
    old: int
    new: int
    what: str
    written: bool = True


class WalkResult:
    """The outcome of one access: the steps taken and a translation or a fault.

    ``steps`` and ``translation`` are built on first use from the raw records the walk keeps
    (a walk reads up to 24 descriptors; many callers only look at ``ok``, ``pa`` or ``fault``).
    """

    __slots__ = ("access", "fault", "updates", "_raw", "_steps", "_t", "_targs")

    def __init__(self, access: Access, steps: Any, translation: Translation | None,
                 fault: Fault | None, updates: tuple[DescUpdate, ...] = (), *,
                 targs: tuple[Any, ...] | None = None) -> None:
        self.access = access
        self.fault = fault
        self.updates = updates
        self._t = translation
        self._targs = targs
        if steps and not isinstance(steps[0], WalkStep):
            self._raw: Any = steps
            self._steps: tuple[WalkStep, ...] | None = None
        else:
            self._raw = None
            self._steps = tuple(steps)

    @property
    def steps(self) -> tuple[WalkStep, ...]:
        """Every descriptor read, in order."""
        if self._steps is None:
            out: list[WalkStep] = []
            _expand(self._raw, None, out)
            self._steps = tuple(out)
            self._raw = None
        return self._steps

    @property
    def translation(self) -> Translation | None:
        """The translation, or None on a fault."""
        if self._t is None and self._targs is not None:
            self._t = Translation(*self._targs)
            self._targs = None
        return self._t

    def replace(self, **changes: Any) -> WalkResult:
        """A copy with some fields changed (``steps``, ``translation``, ``fault``, ``updates``)."""
        kw: dict[str, Any] = {"steps": self.steps, "translation": self.translation,
                              "fault": self.fault, "updates": self.updates}
        kw.update(changes)
        return WalkResult(self.access, kw["steps"], kw["translation"], kw["fault"], kw["updates"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WalkResult):
            return NotImplemented
        return (self.access, self.steps, self.translation, self.fault, self.updates) == \
            (other.access, other.steps, other.translation, other.fault, other.updates)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"WalkResult(access={self.access!r}, steps={len(self.steps)}, "
                f"translation={self.translation!r}, fault={self.fault!r})")

    @property
    def ok(self) -> bool:
        """Translated without a fault."""
        return self.fault is None

    @property
    def pa(self) -> int | None:
        """The physical address, or None on a fault."""
        if self._targs is not None:
            return self._targs[2]  # type: ignore[no-any-return]
        return self._t.pa if self._t is not None else None

    @property
    def reads(self) -> tuple[tuple[int, int], ...]:
        """(descriptor PA, value) of every descriptor read."""
        return tuple((s.desc_pa, s.raw) for s in self.steps)


def _expand(records: Any, ia: int | None, out: list[WalkStep]) -> None:
    """Raw step records -> WalkSteps.  A record is a WalkStep's fields, or (None, records, ia):
    a run of reads remembered from an earlier walk of the same memory, whose records with ia
    None take ``ia`` (the address now being translated; a None there: the enclosing one)."""
    for r in records:
        if r[0] is None:
            _expand(r[1], ia if r[2] is None else r[2], out)
        elif r[2] is None:
            out.append(WalkStep(r[0], r[1], ia, *r[3:]))  # type: ignore[arg-type]
        else:
            out.append(WalkStep(*r))


@dataclass(frozen=True, slots=True)
class S2Out:
    """One stage-2 translation: the leaf found and the steps that found it (a TLB caches it)."""

    ipa_base: int
    pa_base: int
    size: int
    level: int
    raw: int
    steps: tuple[WalkStep, ...]


class S2Cache:
    """Interface of a cache of stage-2 translations (a TLB's stage-2-only entries)."""

    def s2_lookup(self, vmid: int, ipa: int) -> S2Out | None:
        """A cached stage-2 translation covering ``ipa``, or None."""
        return None

    def s2_fill(self, vmid: int, out: S2Out) -> None:
        """Cache a stage-2 translation."""


# --- permissions (the scalar rules; the walkers use tables generated from them) -------------


def s1_perms(
    ap: int, uxn: bool, pxn: bool, el: int, *, ap_table: int = 0, uxn_table: bool = False,
    pxn_table: bool = False, wxn: bool = False,
) -> Perms:
    """Stage-1 permissions at ``el`` (ASL AArch64.S1DirectBasePermissions /
    S1ApplyTablePerms, EL1&0 regime, PAN off).

    AP[2] (descriptor bit 7) makes the page read-only, AP[1] (bit 6) grants EL0 access.
    APTable[1] removes write, APTable[0] removes EL0 access; UXNTable/PXNTable add XN.  EL1
    never executes memory writable at EL0; with SCTLR_EL1.WXN writable memory is XN.
    """
    ap2 = bool(ap & S1_AP_RDONLY or ap_table & S1_APTABLE_RDONLY)
    ap1 = bool(ap & S1_AP_USER) and not ap_table & S1_APTABLE_NO_EL0
    el0_w = ap1 and not ap2
    if el == 0:
        r, w = ap1, el0_w
        x = not (uxn or uxn_table)
    else:
        r, w = True, not ap2
        x = not (pxn or pxn_table or el0_w)
    if wxn and w:
        x = False
    return _perms(r, w, x)


def s2_perms(s2ap: int, xn: int, el: int, *, xnx: bool = False) -> Perms:
    """Stage-2 permissions at ``el`` (ASL AArch64.S2DirectBasePermissions): S2AP bit 6 read,
    bit 7 write; XN[1:0] with FEAT_XNX, else bit 54 alone."""
    ex = s2_exec(xn, xnx=xnx)
    x = ex.el1 if el == 1 else ex.el0
    return _perms(bool(s2ap & S2_S2AP_READ), bool(s2ap & S2_S2AP_WRITE), x)


def s1_perm_table(el: int, wxn: bool) -> tuple[Perms, ...]:
    """:func:`s1_perms` for every (AP, UXN, PXN, APTable, UXNTable, PXNTable), indexed by
    their packing :data:`S1_PERM_INDEX`."""
    get = S1_PERM_INDEX.get
    return tuple(
        s1_perms(get(i, "AP"), bool(get(i, "UXN")), bool(get(i, "PXN")), el,
                 ap_table=get(i, "APTable"), uxn_table=bool(get(i, "UXNTable")),
                 pxn_table=bool(get(i, "PXNTable")), wxn=wxn)
        for i in range(1 << S1_PERM_INDEX.width)
    )


class _S1PermBits(dict[int, int]):
    """:func:`s1_perm_table` of one (EL, WXN) as packed bits (:data:`PERM_BITS`), each entry
    computed by :func:`s1_perms` when a walk first needs it (a query's walks use a few of the
    256; building them all costs a walk query ~0.5 ms)."""

    __slots__ = ("el", "wxn")

    def __init__(self, el: int, wxn: bool) -> None:
        super().__init__()
        self.el = el
        self.wxn = wxn

    def __missing__(self, i: int) -> int:
        if not 0 <= i < 1 << S1_PERM_INDEX.width:
            raise KeyError(i)
        get = S1_PERM_INDEX.get
        bits = s1_perms(get(i, "AP"), bool(get(i, "UXN")), bool(get(i, "PXN")), self.el,
                        ap_table=get(i, "APTable"), uxn_table=bool(get(i, "UXNTable")),
                        pxn_table=bool(get(i, "PXNTable")), wxn=self.wxn).bits
        self[i] = bits
        return bits


def s2_perm_table(el: int, xnx: bool) -> tuple[Perms, ...]:
    """:func:`s2_perms` for every (S2AP, XN), indexed by their packing :data:`S2_PERM_INDEX`."""
    get = S2_PERM_INDEX.get
    return tuple(s2_perms(get(i, "S2AP"), get(i, "XN"), el, xnx=xnx)
                 for i in range(1 << S2_PERM_INDEX.width))


def ipa_valid(kind: FaultKind, s1ptw: bool) -> bool:
    """ASL IPAValid: whether HPFAR_EL2 holds the faulting IPA of a stage-2 fault -- for
    Translation, Access flag and Address size faults, and Permission faults on a stage-1 table
    walk (KVM's __get_fault_info translates FAR with AT for the other Permission faults)."""
    return kind in _IPA_VALID or (s1ptw and kind is FaultKind.PERMISSION)


def fault_esr(kind: FaultKind, stage: int, level: int | None, access: Access, *,
              s1ptw: bool = False, wnr: bool | None = None, at: bool = False) -> int:
    """ESR_ELx of a fault (ASL AArch64.FaultSyndrome for a Data or Instruction Abort).

    Stage-1 faults go to EL1 (EC for the same EL unless the access is from EL0), stage-2 faults
    to EL2 (a lower EL).  An S1PTW fault keeps the access's class; WnR is the access's unless
    given (a table read 0, a hardware table update 1), and 1 on AT (with CM=1).  ISV=1 with
    SAS/SSE/SRT/SF/AR only for a stage-2 data abort of a single-register access (``srt``).
    """
    from ..arch.esr import encode_abort_esr  # the syndrome tables: loaded once an access faults

    fsc = encode_fsc(kind, level if kind is not FaultKind.ALIGNMENT else None)
    instr = access.kind is AccessKind.EXEC
    if wnr is None:
        wnr = access.kind is AccessKind.WRITE and not s1ptw
    if at:
        wnr = True  # ESR_ELx.WnR is 1 for faults on AT (and cache maintenance) instructions
    if stage == 1:
        return encode_abort_esr(fsc=fsc, instruction=instr, lower_el=access.el == 0,
                                wnr=wnr and not instr, cm=at)
    isv = access.srt is not None and not instr and not s1ptw and not at
    sas = access.size.bit_length() - 1
    return encode_abort_esr(
        fsc=fsc, instruction=instr, lower_el=True, wnr=wnr and not instr, s1ptw=s1ptw, isv=isv,
        sas=sas if sas <= 3 else 3, srt=access.srt or 0, sf=access.sf, sse=access.sse,
        ar=access.ar, cm=at,
    )


def hpfar_value(ipa: Any) -> Any:
    """HPFAR_EL2 for a fault at ``ipa`` (an int, or a uint64 array in the bulk walker): FIPA,
    IPA[51:12], in bits [43:4] (HPFAR_EL2's field table)."""
    from ..arch.esr import HPFAR_EL2  # the syndrome tables: loaded once an access faults

    fipa = HPFAR_EL2.field("FIPA")
    return ((ipa >> (fipa.addr_shift or 0)) & fipa.mask) << fipa.lsb


# --- compiled per geometry and per regime ----------------------------------------------------

_U64 = struct.Struct("<Q").unpack_from
_VA_RANGE = 1 << W.VA_RANGE_BIT  # ASL AArch64.GetVARange: VA bit 55 picks TTBR0/TTBR1
_FRAME_MASK = (1 << FRAME_SHIFT) - 1
_TTW = CombineAccess.TTW
# The packed permission indexes, placed: the leaf's UXN and PXN, the tables' APTable, UXNTable
# and PXNTable (accumulated down the walk), stage 2's XN.
_IX_UXN = S1_PERM_INDEX.field_mask("UXN")
_IX_PXN = S1_PERM_INDEX.field_mask("PXN")
_IX_APTABLE_SHIFT = S1_PERM_INDEX.shift_mask("APTable")[0]
_IX_UXNTABLE = S1_PERM_INDEX.field_mask("UXNTable")
_IX_PXNTABLE = S1_PERM_INDEX.field_mask("PXNTable")
_IX_XN_SHIFT = S2_PERM_INDEX.shift_mask("XN")[0]


class _Geo:
    """A geometry's numbers for the walk loop: per level (level, shift, index mask, size,
    block allowed, leaf address mask, leaf extra fields), and the table address decode."""


    __slots__ = ("levels", "last", "prefix_shift", "page_shift", "table_and", "table_extra",
                 "oa_bits", "start", "ia_bits")

    def __init__(self, g: Geometry) -> None:
        c = Codec(g)
        # The fifth item: a Block descriptor (bits[1:0] = 0b01) is allowed at this level (ASL
        # AArch64.BlockDescSupported; never at level 3, where 0b01 is reserved).
        self.levels = tuple(
            (lv, shift, imask, size, lv != FINAL_LEVEL and c.leaf_ok.get(lv, False),
             c.leaf_and.get(lv, 0), c.leaf_extra.get(lv, ()))
            for lv, shift, imask, size in c.levels)
        self.last = self.levels[-1:]
        # Every input address with the same bits above this shift reads the same table
        # descriptors down to the final level (0: a one-level walk has no such prefix).
        self.prefix_shift = g.shift(FINAL_LEVEL - 1) if len(self.levels) > 1 else 0
        # Every input address in one page reads the same descriptors (the indexes at every level
        # come from bits at or above it).
        self.page_shift = g.shift(FINAL_LEVEL)
        self.table_and = c.table_and
        self.table_extra = c.table_extra
        self.oa_bits = g.oa_bits
        self.start = g.start_level
        self.ia_bits = g.ia_bits


_GEOS: dict[Geometry, _Geo] = {}


def _geo(g: Geometry) -> _Geo:
    got = _GEOS.get(g)
    if got is None:
        got = _GEOS[g] = _Geo(g)
    return got


class _Plan:
    """What a regime means for walks, computed once per :class:`Regime`."""

    def __init__(self, reg: Regime) -> None:
        cpu = reg.cpu
        self.ctl = reg.controls
        self.cpu = cpu
        self.xs = cpu.xs
        self.s1_enabled = reg.s1_enabled
        self.s2_enabled = reg.s2_enabled
        self.pa_max = cpu.pa_max
        self.mair = tuple(reg.s1.mair_attr(i) for i in range(8))
        wxn = reg.s1.sctlr_bit("WXN")
        self.s1_perm = (_S1PermBits(0, wxn), _S1PermBits(1, wxn))
        self.s2_perm = tuple(tuple(p.bits for p in s2_perm_table(el, cpu.xnx)) for el in (0, 1))
        self.s2_dbm_w = S2_S2AP_WRITE if (reg.s2 is not None and reg.s2.params.hd) \
            else 0
        self.halves = tuple(_Half(h, reg) for h in reg.s1.halves)
        s2 = reg.s2 if reg.s2_enabled else None
        self.s2 = s2
        self.s2_geo = _geo(s2.geometry) if s2 is not None and s2.geometry is not None else None
        self.s2_ha = s2 is not None and s2.params.ha
        self.res: dict[tuple[int, int, int, int, bool, CombineAccess], Resolution] = {}
        self.final: dict[tuple[int, int, int, int, bool, AccessKind],
                         tuple[Resolution, MemoryAttributes | None, tuple[str, ...]]] = {}
        self.memo: dict[tuple[Any, ...], Any] = {}
        self.memo_mem: Any = None
        self.memo_gen = -1
        self.s1_align: dict[tuple[int, int, CombineAccess], bool] = {}
        self.s2_align: dict[tuple[int, int, int, int, bool, CombineAccess], bool] = {}

    def outcome(self, s1_attr: int, memattr: int, sh1: int, sh2: int, fnxs: bool,
                kind: AccessKind) -> tuple[Resolution, MemoryAttributes | None, tuple[str, ...]]:
        """(resolution, first outcome, notes) of an access, cached."""
        key = (s1_attr, memattr, sh1, sh2, fnxs, kind)
        got = self.final.get(key)
        if got is None:
            res = self.resolve(s1_attr, memattr, sh1, sh2, fnxs, kind.combine_access)
            notes = ((res.reserved,) if res.reserved else ()) + tuple(res.faults)
            got = self.final[key] = (res, res.outcomes[0] if res.outcomes and not res.s1_unknown
                                      else None, notes)
        return got

    def memo_for(self, mem: Any) -> dict[tuple[Any, ...], Any]:
        """The stage-2 walk memo, valid for ``mem`` as it is now (emptied when it changed)."""
        gen = mem.generation
        if mem is not self.memo_mem or gen != self.memo_gen:
            self.memo.clear()
            self.memo_mem, self.memo_gen = mem, gen
        return self.memo

    def resolve(self, s1_attr: int, memattr: int, sh1: int, sh2: int, fnxs: bool,
                kind: CombineAccess) -> Resolution:
        key = (s1_attr, memattr, sh1, sh2, fnxs, kind)
        r = self.res.get(key)
        if r is None:
            r = self.res[key] = resolve(s1_attr, memattr, sh1=sh1, sh2=sh2, fnxs=fnxs,
                                        controls=self.ctl, access=kind, cpu=self.cpu)
        return r


class _Half:
    """One stage-1 VA range, for walks."""

    __slots__ = ("n", "fault", "rule", "geo", "root", "epd", "tbi", "tbid", "hpd", "ha", "hd",
                 "ds",
                 "sh", "ia_bits", "walk_attr", "walk_sh", "width_mask", "notes", "va_hi")

    def __init__(self, h: Stage1Half, reg: Regime) -> None:
        p = h.params
        self.n = h.n
        self.fault = p.fault
        self.rule = p.rule
        self.geo = _geo(h.geometry) if h.geometry is not None else None
        self.root = h.root
        self.epd, self.tbi, self.tbid, self.hpd = p.epd, p.tbi, p.tbid, p.hpd
        self.ha, self.hd, self.ds, self.sh = p.ha, p.hd, p.ds, p.sh
        self.ia_bits = p.ia_bits
        self.walk_attr = W.walk_mair_attr(p.irgn, p.orgn)
        self.walk_sh = p.sh if p.sh != 1 else 0b11
        self.width_mask = (1 << p.ia_bits) - 1
        self.notes = p.notes
        # (mask, value) VA bits [AddrTop:width] must have, for a data access and an instruction
        # fetch (ASL AArch64.VAIsOutOfRange with AArch64.AddrTop).
        hi = []
        for ifetch in (False, True):
            top = W.addr_top(p.tbi, p.tbid, ifetch)
            mask = genmask(top - p.ia_bits, 0) if p.ia_bits <= top else 0
            hi.append((mask, mask if h.n else 0))
        self.va_hi = tuple(hi)


def _plan(reg: Regime) -> _Plan:
    got = reg.derived.get("walk")
    if not isinstance(got, _Plan):
        got = reg.derived["walk"] = _Plan(reg)
    return got


# --- the walker ----------------------------------------------------------------------------


class _Abort(Exception):  # noqa: N818 - internal control flow, never escapes walk()
    """Internal: carries a Fault out of the nested walk."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


# A stage-2 walk's result inside one translation: (output base, leaf size, level, descriptor,
# descriptor PA, IPA base).
_S2Leaf = tuple[int, int, int, int, int, int]
_MEMO_LIMIT = 1 << 16


class _Walk:
    """The state of one translation."""

    __slots__ = ("mem", "frames", "regime", "plan", "access", "cache", "steps", "updates",
                 "at", "s1_only", "hw_update", "notes", "memo")

    def __init__(self, mem: DescReader, regime: Regime, access: Access,
                 cache: S2Cache | None, *, at: bool = False, s1_only: bool = False,
                 hw_update: bool = True) -> None:
        self.mem = mem
        self.frames = mem.frames if type(mem) is PhysMem else None
        self.regime = regime
        self.plan = _plan(regime)
        self.access = access
        self.cache = cache
        self.steps: list[tuple[Any, ...]] = []
        self.updates: list[DescUpdate] = []
        self.at = at
        self.s1_only = s1_only
        self.hw_update = hw_update
        self.notes: list[str] = []
        # Stage-2 walks already done on this memory, while it is unchanged: the same reads give
        # the same steps and leaf (PhysMem.generation counts writes).
        self.memo = self.plan.memo_for(mem) if cache is None and self.frames is not None \
            else None

    # --- memory -------------------------------------------------------------------------
    def read(self, addr: int) -> int | None:
        """The descriptor at PA ``addr``; None when no memory answers there."""
        frames = self.frames
        if frames is not None:
            f = frames.get(addr >> FRAME_SHIFT)
            if f is not None:
                return _U64(f, addr & _FRAME_MASK)[0]  # type: ignore[no-any-return]
        try:
            return self.mem.read64(addr)
        except EncodingError:
            return None

    def swap(self, stage: int, level: int, desc_pa: int, old: int, new: int, what: str) -> None:
        """ASL AArch64.MemSwapTableDesc: write ``new`` if memory still holds ``old``."""
        write = getattr(self.mem, "write64", None)
        done = False
        if write is not None and self.hw_update:
            cur = self.read(desc_pa)
            if cur == old:
                write(desc_pa, new)
                done = True
                if self.memo is not None:
                    self.memo = self.plan.memo_for(self.mem)
        self.updates.append(DescUpdate(stage, level, desc_pa, old, new, what, done))

    # --- faults -------------------------------------------------------------------------
    def fault(self, kind: FaultKind, stage: int, level: int | None, why: str, *,
              rule: WalkRule | None, branch: str, s1ptw: bool = False, ipa: int | None = None,
              wnr: bool | None = None) -> _Abort:
        """A fault of this access, with the syndrome the exception would carry and the decision
        (``rule``, ``branch``) that took it."""
        acc = self.access
        esr = fault_esr(kind, stage, level, acc, s1ptw=s1ptw, wnr=wnr, at=self.at)
        hpfar = hpfar_value(ipa) if (stage == 2 and ipa is not None and ipa_valid(kind, s1ptw)) \
            else None
        decision = None if rule is None else Decision(
            rule, branch, (("stage", stage), ("level", level),
                           ("address", ipa if stage == 2 else acc.va), ("s1ptw", s1ptw)), kind)
        return _Abort(Fault(kind, stage, level, s1ptw, acc.va, ipa, acc, why, esr, stage,
                            acc.va, hpfar, decision))

    # --- stage 2 ------------------------------------------------------------------------
    def s2_walk(self, ipa: int, s1ptw: bool) -> _S2Leaf:
        """ASL AArch64.S2Walk (with the register and IPA checks of AArch64.S2Translate)."""
        plan = self.plan
        s2 = plan.s2
        assert s2 is not None
        geo = plan.s2_geo
        if geo is None:
            raise self.fault(FaultKind.TRANSLATION, 2, 0, s2.fault or "stage 2 not walkable",
                             s1ptw=s1ptw, ipa=ipa, rule=s2.params.rule, branch="registers")
        if ipa >> geo.ia_bits:
            raise self.fault(FaultKind.TRANSLATION, 2, 0,
                             f"IPA 0x{ipa:x} is beyond the {geo.ia_bits}-bit IPA space "
                             "(VTCR_EL2.T0SZ)", s1ptw=s1ptw, ipa=ipa,
                             rule=WalkRule.IPAIsOutOfRange, branch="ipa_out_of_range")
        memo = self.memo
        if memo is not None:
            got = memo.get((3, ipa >> geo.page_shift, s1ptw))
            if got is not None:
                self.steps.append((None, got[0], ipa))
                return got[1]  # type: ignore[no-any-return]
        cache = self.cache
        mark = len(self.steps)
        if cache is not None:
            hit = cache.s2_lookup(s2.vmid, ipa)
            if hit is not None:
                self.steps.extend((st.stage, st.level, st.ia, st.table, st.index, st.desc_pa,
                                   st.raw, st.type, s1ptw, True) for st in hit.steps)
                return (hit.pa_base, hit.size, hit.level, hit.raw, hit.steps[-1].desc_pa,
                        hit.ipa_base)
        table = s2.root
        oa_bits = geo.oa_bits
        if table >> oa_bits:
            raise self.fault(FaultKind.ADDRESS_SIZE, 2, 0,
                             f"VTTBR_EL2 base 0x{table:x} is beyond the {oa_bits}-bit output "
                             "address size (VTCR_EL2.PS, PAMax)", s1ptw=s1ptw, ipa=ipa,
                             rule=WalkRule.S2Walk, branch="base_address_size")
        steps = self.steps
        frames = self.frames
        levels = geo.levels
        pkey = None
        if memo is not None and geo.prefix_shift:
            pkey = (2, ipa >> geo.prefix_shift, s1ptw)
            pre = memo.get(pkey)
            if pre is not None:
                steps.append((None, pre[0], ipa))
                table = pre[1]
                levels = geo.last
                pkey = None
        for level, shift, imask, size, leaf_ok, leaf_and, leaf_extra in levels:
            if level == FINAL_LEVEL and pkey is not None and memo is not None \
                    and not self.updates:
                memo[pkey] = (tuple((r[0], r[1], None) + r[3:] for r in steps[mark:]), table)
            index = (ipa >> shift) & imask
            addr = table + index * WORD
            f = frames.get(addr >> FRAME_SHIFT) if frames is not None else None
            raw = _U64(f, addr & _FRAME_MASK)[0] if f is not None else self.read(addr)
            if raw is None:
                steps.append((2, level, ipa, table, index, addr, 0, DescType.INVALID, s1ptw))
                raise self.fault(FaultKind.SYNC_EXTERNAL_ON_WALK, 2, level,
                                 f"no memory at PA 0x{addr:x} (beyond the simulated memory)",
                                 s1ptw=s1ptw, ipa=ipa,
                                 rule=WalkRule.S2Walk, branch="external_abort")
            if not raw & DESC_VALID:
                steps.append((2, level, ipa, table, index, addr, raw, DescType.INVALID, s1ptw))
                raise self.fault(FaultKind.TRANSLATION, 2, level, "invalid descriptor",
                                 s1ptw=s1ptw, ipa=ipa,
                rule=WalkRule.S2Walk, branch="invalid_descriptor")
            if raw & DESC_TABLE:
                if level != FINAL_LEVEL:
                    steps.append((2, level, ipa, table, index, addr, raw, DescType.TABLE, s1ptw))
                    table = raw & geo.table_and
                    for lsb, mask, ashift in geo.table_extra:
                        table |= ((raw >> lsb) & mask) << ashift
                    if table >> oa_bits:
                        raise self.fault(FaultKind.ADDRESS_SIZE, 2, level,
                                         f"next-level table 0x{table:x} beyond the {oa_bits}-bit "
                                         "output address size", s1ptw=s1ptw, ipa=ipa,
                                         rule=WalkRule.S2Walk, branch="table_address_size")
                    continue
                steps.append((2, level, ipa, table, index, addr, raw, DescType.PAGE, s1ptw))
            elif leaf_ok:
                steps.append((2, level, ipa, table, index, addr, raw, DescType.BLOCK, s1ptw))
            else:
                steps.append((2, level, ipa, table, index, addr, raw, DescType.RESERVED, s1ptw))
                raise self.fault(FaultKind.TRANSLATION, 2, level,
                                 f"block descriptor not allowed at level {level} "
                                 "(AArch64.BlockDescSupported)", s1ptw=s1ptw, ipa=ipa,
                                 rule=WalkRule.DecodeDescriptorType, branch="block_not_supported")
            oa = raw & leaf_and
            for lsb, mask, ashift in leaf_extra:
                oa |= ((raw >> lsb) & mask) << ashift
            if oa >> oa_bits:
                raise self.fault(FaultKind.ADDRESS_SIZE, 2, level,
                                 f"output address 0x{oa:x} beyond the {oa_bits}-bit output "
                                 "address size (VTCR_EL2.PS, PAMax)", s1ptw=s1ptw, ipa=ipa,
                                 rule=WalkRule.S2Walk, branch="output_address_size")
            if not raw & DESC_AF and not s2.params.ha:
                raise self.fault(FaultKind.ACCESS_FLAG, 2, level, "AF=0 in the stage-2 leaf",
                                 s1ptw=s1ptw, ipa=ipa, rule=WalkRule.S2Walk, branch="access_flag")
            leaf = (oa, size, level, raw, addr, ipa & ~(size - 1))
            if memo is not None and not self.updates:
                if len(memo) > _MEMO_LIMIT:
                    memo.clear()
                memo[(3, ipa >> geo.page_shift, s1ptw)] = (
                    tuple((r[0], r[1], None) + r[3:] for r in steps[mark:]), leaf)
            elif cache is not None and raw & DESC_AF:
                cache.s2_fill(s2.vmid, S2Out(leaf[5], oa, size, level, raw,
                                             tuple(WalkStep(*r) for r in steps[mark:])))
            return leaf
        raise AssertionError("unreachable: level 3 always ends the walk")  # pragma: no cover

    def s2_leaf_fields(self, raw: int) -> tuple[int, int, bool]:
        """(MemAttr, SH, FnXS) of a stage-2 leaf; SH from VTCR_EL2.SH0 with DS=1; FnXS only
        with FEAT_XS (bit 11 is RES0 without it)."""
        plan = self.plan
        s2 = plan.s2
        assert s2 is not None
        memattr = (raw >> S2_MEMATTR_SHIFT) & S2_MEMATTR_MASK
        sh = s2.params.sh if s2.params.ds else (raw >> DESC_SH_SHIFT) & DESC_SH_MASK
        return memattr, sh, plan.xs and bool(raw & S2_FNXS)

    def s2_update(self, leaf: _S2Leaf, write: bool, at: bool) -> int:
        """Stage-2 hardware updates after a translation without fault (ASL AArch64.S2Translate):
        the Access flag with VTCR_EL2.HA, S2AP[1] (dirty) for a write with HD and DBM=1.
        Returns the descriptor as it now is."""
        p = self.plan.s2.params  # type: ignore[union-attr]
        raw = leaf[3]
        if not p.ha:
            return raw
        new = raw | DESC_AF
        what = "AF set (VTCR_EL2.HA)" if not raw & DESC_AF else ""
        if p.hd and raw & DESC_DBM and write and not at and not raw & S2_S2AP_W:
            new |= S2_S2AP_W
            what = (what + ", " if what else "") + "S2AP[1] set: dirty (VTCR_EL2.HD, DBM=1)"
        if new != raw:
            self.swap(2, leaf[2], leaf[4], raw, new, what)
        return new

    def s2_perm_bits(self, raw: int, el: int) -> int:
        """Stage-2 permission bits of a leaf, with DBM making it writable under HA+HD (ASL
        AArch64.S2ApplyOutputPerms: DBM -> S2AP[1])."""
        plan = self.plan
        s2ap = (raw >> S2_S2AP_SHIFT) & S2_S2AP_MASK
        if raw & DESC_DBM:
            s2ap |= plan.s2_dbm_w
        return plan.s2_perm[el][s2ap | ((raw >> S2_XN_SHIFT) & S2_XN_MASK) << _IX_XN_SHIFT]

    def ttw(self, ipa: int, half: _Half, *, write: bool = False) -> int:
        """Translate the IPA of a stage-1 descriptor through stage 2 (an S1PTW access): a table
        read, or with ``write`` the hardware update of a descriptor."""
        plan = self.plan
        if not plan.s2_enabled or plan.s2 is None:
            return ipa
        leaf = self.s2_walk(ipa, True)
        raw = leaf[3]
        perm = self.s2_perm_bits(raw, 1)
        # ASL AArch64.S2CheckPermissions, AccessType_TTW: PTW and Device, then read, then write.
        if plan.ctl.ptw:
            memattr, sh, fnxs = self.s2_leaf_fields(raw)
            res = plan.resolve(half.walk_attr, memattr, half.walk_sh, sh, fnxs, _TTW)
            if any(a.is_device for a in res.s2):
                raise self.fault(FaultKind.PERMISSION, 2, leaf[2],
                                 "stage-1 table in stage-2 Device memory with HCR_EL2.PTW=1",
                                 s1ptw=True, ipa=ipa,
                                 rule=WalkRule.S2CheckPermissions, branch="ttw_device",
                                 wnr=write)
        if not perm & PERM_R:
            raise self.fault(FaultKind.PERMISSION, 2, leaf[2],
                             "stage 2 does not allow reads of the stage-1 table (S2AP[0]=0)",
                             s1ptw=True, ipa=ipa,
                             rule=WalkRule.S2CheckPermissions, branch="ttw_no_read", wnr=write)
        if write and not perm & PERM_W:
            raise self.fault(FaultKind.PERMISSION, 2, leaf[2],
                             "stage 2 does not allow the hardware update of the stage-1 "
                             "descriptor (S2AP[1]=0)", s1ptw=True, ipa=ipa,
                             rule=WalkRule.S2CheckPermissions, branch="ttw_no_write", wnr=True)
        if plan.s2_ha:
            self.s2_update(leaf, write, False)
        return leaf[0] | (ipa & (leaf[1] - 1))

    # --- stage 1 ------------------------------------------------------------------------
    def s1_walk(self) -> tuple[int, int, int, int, int, int, int, _Half]:
        """ASL AArch64.S1Walk with the checks of AArch64.S1Translate before it: (IPA, leaf level,
        leaf size, leaf descriptor, permission bits, descriptor IPA and PA, the half)."""
        plan = self.plan
        acc = self.access
        va = acc.va
        half = plan.halves[1 if va & _VA_RANGE else 0]
        n = half.n
        if half.fault is not None or half.geo is None:
            raise self.fault(FaultKind.TRANSLATION, 1, 0, half.fault or "stage 1 not walkable",
                             rule=half.rule, branch="registers")
        # AArch64.VAIsOutOfRange: bits [AddrTop:width] all equal to the range's (TBI; TBID for
        # instruction fetches).
        width = half.ia_bits
        hi_mask, hi_want = half.va_hi[acc.kind is AccessKind.EXEC]
        if (va >> width) & hi_mask != hi_want:
            raise self.fault(FaultKind.TRANSLATION, 1, 0,
                             f"VA 0x{va:x} is outside the {width}-bit TTBR{n} range "
                             f"(TCR_EL1.T{n}SZ)",
                             rule=WalkRule.VAIsOutOfRange, branch="va_out_of_range")
        if half.epd:
            raise self.fault(FaultKind.TRANSLATION, 1, 0,
                             f"TCR_EL1.EPD{n}=1: walks of the TTBR{n} range are disabled",
                             rule=WalkRule.S1Walk, branch="epd")
        geo = half.geo
        table = half.root
        oa_bits = geo.oa_bits
        if table >> oa_bits:
            raise self.fault(FaultKind.ADDRESS_SIZE, 1, 0,
                             f"TTBR{n}_EL1 base 0x{table:x} is beyond the {oa_bits}-bit output "
                             "address size (TCR_EL1.IPS, PAMax)",
                             rule=WalkRule.S1Walk, branch="base_address_size")
        tperm = 0  # APTable, UXNTable, PXNTable accumulated in place in the S1_PERM_INDEX
        # (ASL AArch64.S1ApplyTablePerms)
        hpd = half.hpd
        ia = va & half.width_mask
        steps = self.steps
        s2 = plan.s2_enabled
        frames = self.frames
        levels = geo.levels
        memo = self.memo
        mark = len(steps)
        pkey = None
        if memo is not None and geo.prefix_shift:
            pkey = (1, n, va >> geo.prefix_shift)
            pre = memo.get(pkey)
            if pre is not None:
                steps.append((None, pre[0], va))
                table, tperm = pre[1], pre[2]
                levels = geo.last
                pkey = None
        for level, shift, imask, size, leaf_ok, leaf_and, leaf_extra in levels:
            if level == FINAL_LEVEL and pkey is not None and memo is not None \
                    and memo is self.memo and not self.updates:
                memo[pkey] = (tuple(r if r[0] != 1 else (1, r[1], None) + r[3:]
                                    for r in steps[mark:]), table, tperm)
            index = (ia >> shift) & imask
            desc_ipa = table + index * WORD
            desc_pa = self.ttw(desc_ipa, half) if s2 else desc_ipa
            f = frames.get(desc_pa >> FRAME_SHIFT) if frames is not None else None
            raw = _U64(f, desc_pa & _FRAME_MASK)[0] if f is not None else self.read(desc_pa)
            if raw is None:
                steps.append((1, level, va, table, index, desc_pa, 0, DescType.INVALID, False))
                raise self.fault(FaultKind.SYNC_EXTERNAL_ON_WALK, 1, level,
                                 f"no memory at PA 0x{desc_pa:x} (beyond the simulated memory)",
                                 rule=WalkRule.S1Walk, branch="external_abort")
            if not raw & DESC_VALID:
                steps.append((1, level, va, table, index, desc_pa, raw, DescType.INVALID, False))
                raise self.fault(FaultKind.TRANSLATION, 1, level, "invalid descriptor",
                                 rule=WalkRule.S1Walk, branch="invalid_descriptor")
            if raw & DESC_TABLE:
                if level != FINAL_LEVEL:
                    steps.append((1, level, va, table, index, desc_pa, raw, DescType.TABLE,
                                  False))
                    table = raw & geo.table_and
                    for lsb, mask, ashift in geo.table_extra:
                        table |= ((raw >> lsb) & mask) << ashift
                    if table >> oa_bits:
                        raise self.fault(FaultKind.ADDRESS_SIZE, 1, level,
                                         f"next-level table 0x{table:x} beyond the {oa_bits}-bit "
                                         "output address size (TCR_EL1.IPS)",
                                         rule=WalkRule.S1Walk, branch="table_address_size")
                    if not hpd:
                        tperm |= ((raw >> S1_APTABLE_SHIFT) & S1_APTABLE_MASK) \
                            << _IX_APTABLE_SHIFT \
                            | (_IX_UXNTABLE if raw & S1_UXNTABLE else 0) \
                            | (_IX_PXNTABLE if raw & S1_PXNTABLE else 0)
                    continue
                steps.append((1, level, va, table, index, desc_pa, raw, DescType.PAGE, False))
            elif leaf_ok:
                steps.append((1, level, va, table, index, desc_pa, raw, DescType.BLOCK, False))
            else:
                steps.append((1, level, va, table, index, desc_pa, raw, DescType.RESERVED, False))
                raise self.fault(FaultKind.TRANSLATION, 1, level,
                                 f"block descriptor not allowed at level {level} "
                                 "(AArch64.BlockDescSupported)",
                                 rule=WalkRule.DecodeDescriptorType, branch="block_not_supported")
            oa = raw & leaf_and
            for lsb, mask, ashift in leaf_extra:
                oa |= ((raw >> lsb) & mask) << ashift
            if oa >> oa_bits:
                raise self.fault(FaultKind.ADDRESS_SIZE, 1, level,
                                 f"output address 0x{oa:x} beyond the {oa_bits}-bit output "
                                 "address size (TCR_EL1.IPS, PAMax)",
                                 rule=WalkRule.S1Walk, branch="output_address_size")
            if not raw & DESC_AF and not half.ha:
                raise self.fault(FaultKind.ACCESS_FLAG, 1, level, "AF=0 in the stage-1 leaf",
                                 rule=WalkRule.S1Walk, branch="access_flag")
            ap = (raw >> S1_AP_SHIFT) & S1_AP_MASK
            if half.hd and raw & DESC_DBM:
                ap &= ~S1_AP_RDONLY  # ASL AArch64.S1ApplyOutputPerms: DBM -> AP[2]=0
            idx = ap | (_IX_UXN if raw & S1_UXN else 0) | (_IX_PXN if raw & S1_PXN else 0) \
                | tperm
            perm = plan.s1_perm[acc.el][idx]
            return (oa | (ia & (size - 1)), level, size, raw, perm, desc_ipa, desc_pa, half)
        raise AssertionError("unreachable")  # pragma: no cover

    def s1_update(self, half: _Half, level: int, raw: int, desc_ipa: int, write: bool) -> int:
        """Stage-1 hardware updates (ASL AArch64.S1Translate): the Access flag with
        TCR_EL1.HA, AP[2] cleared (dirty) for a write with HD and DBM=1 (not for AT).  The
        descriptor is written through stage 2 as a table write (S1PTW faults have WnR=1)."""
        if not half.ha:
            return raw
        new = raw | DESC_AF
        what = "AF set (TCR_EL1.HA)" if not raw & DESC_AF else ""
        if half.hd and raw & DESC_DBM and write and not self.at and raw & S1_AP2:
            new &= ~S1_AP2
            what = (what + ", " if what else "") + "AP[2] cleared: dirty (TCR_EL1.HD, DBM=1)"
        if new == raw:
            return raw
        pa = self.ttw(desc_ipa, half, write=True) if self.plan.s2_enabled else desc_ipa
        self.swap(1, level, pa, raw, new, what)
        return new

    # --- the whole access -----------------------------------------------------------------
    def run(self) -> tuple[Any, ...]:
        """Stage 1, the stage-1 checks, stage 2, the stage-2 checks: the :class:`Translation`'s
        fields, in order."""
        plan = self.plan
        acc = self.access
        ctl = plan.ctl
        at = self.at
        aligned = at or acc.va & (acc.size - 1) == 0
        if ctl.a and not aligned and not acc.is_exec:
            raise self.fault(FaultKind.ALIGNMENT, 1, None,
                             f"unaligned {acc.size}-byte access with SCTLR_EL1.A=1",
                             rule=WalkRule.CheckAlignment, branch="sctlr_a")
        write = acc.kind is AccessKind.WRITE
        if plan.s1_enabled:
            ipa, s1_level, s1_size, s1_raw, p1, desc_ipa, desc_pa, half = self.s1_walk()
            s1_attr: int | None = plan.mair[(s1_raw >> S1_ATTRINDX_SHIFT) & S1_ATTRINDX_MASK]
            sh1 = half.sh if half.ds else (s1_raw >> DESC_SH_SHIFT) & DESC_SH_MASK
        else:
            # ASL AArch64.S1DisabledOutput: VA bits [top:PAMax] must be zero.
            half = plan.halves[W.va_range(acc.va)]
            top = W.addr_top(half.tbi, half.tbid, acc.is_exec)
            va = acc.va & genmask(top, 0)
            if va >> plan.pa_max:
                raise self.fault(FaultKind.ADDRESS_SIZE, 1, 0,
                                 f"stage 1 off and VA 0x{acc.va:x} beyond the {plan.pa_max}-bit "
                                 "physical address size (PAMax)",
                                 rule=WalkRule.S1DisabledOutput, branch="va_beyond_pamax")
            ipa, s1_level, s1_size, s1_raw, p1 = va, None, 1 << plan.pa_max, None, 7
            s1_attr, sh1 = None, 0b11
        byte = s1_attr if s1_attr is not None else 0xFF
        # Stage-1 checks come before anything stage 2 finds: alignment from the stage-1 memory
        # type, then the stage-1 permission.  The stage-1 attributes do not depend on stage 2,
        # so resolve them with a neutral stage-2 value first.  With stage 1 off, data is
        # Device-nGnRnE (AArch64.S1DisabledOutput) and faults too.
        if not aligned:
            kind = acc.kind.combine_access
            key = (byte, sh1, kind)
            bad = plan.s1_align.get(key)
            if bad is None:
                res1 = plan.resolve(byte, 0xF, sh1, 0b11, False, kind)
                bad = plan.s1_align[key] = any(
                    s1_has_alignment_fault(a, kind, False) for a in res1.s1)
            if bad:
                raise self.fault(FaultKind.ALIGNMENT, 1, None,
                                 f"unaligned {acc.size}-byte {acc.kind.value} to stage-1 Device "
                                 "memory",
                                 rule=WalkRule.S1HasAlignmentFault, branch="device_unaligned")
        if not p1 & _KIND_BIT[acc.kind]:
            raise self.fault(FaultKind.PERMISSION, 1, s1_level,
                             f"stage 1 gives {_PERMS[p1]} at EL{acc.el}, the access is a "
                             f"{acc.kind.value}",
                             rule=WalkRule.S1CheckPermissions, branch="access_not_permitted")
        if s1_raw is not None:
            s1_raw = self.s1_update(half, s1_level, s1_raw, desc_ipa,  # type: ignore[arg-type]
                                    write)
        if self.s1_only:
            # AT S1E*: the output of stage 1 and its attributes (ASL AArch64.S1Translate).
            res1 = plan.resolve(byte, 0xF, sh1, 0b11, False, acc.kind.combine_access)
            s1set = res1.s1
            notes1 = ((res1.reserved,) if res1.reserved else ()) + tuple(res1.faults)
            return (acc.va, ipa, ipa, acc, s1set[0] if s1set else None, res1, _PERMS[p1],
                    _PERMS[p1], ALL_PERMS, s1_size, s1_level, s1_raw, None, None, s1_attr, None,
                    notes1)
        s2 = plan.s2
        s2_raw = None
        s2_level = None
        s2_size = 1 << 64
        memattr, sh2, fnxs = 0xF, 0b11, False
        p2 = 7
        pa = ipa
        if s2 is not None:
            leaf = self.s2_walk(ipa, False)
            s2_raw, s2_level, s2_size = leaf[3], leaf[2], leaf[1]
            memattr, sh2, fnxs = self.s2_leaf_fields(s2_raw)
            p2 = self.s2_perm_bits(s2_raw, acc.el)
            pa = leaf[0] | (ipa & (s2_size - 1))
        res, attrs, notes = plan.outcome(byte, memattr, sh1, sh2, fnxs, acc.kind)
        if s2 is not None:
            if not aligned:
                kind = acc.kind.combine_access
                key2 = (byte, memattr, sh1, sh2, fnxs, kind)
                bad2 = plan.s2_align.get(key2)
                if bad2 is None:
                    bad2 = plan.s2_align[key2] = any(
                        s2_has_alignment_fault(a, kind, False) for a in res.s2)
                if bad2:
                    which = "the FWB-combined" if ctl.fwb else "the stage-2"
                    raise self.fault(FaultKind.ALIGNMENT, 2, None,
                                     f"unaligned {acc.size}-byte {acc.kind.value}: {which} type "
                                     "is Device", ipa=ipa,
                                     rule=WalkRule.S2HasAlignmentFault, branch="device_unaligned")
            if not p2 & _KIND_BIT[acc.kind]:
                raise self.fault(FaultKind.PERMISSION, 2, s2_level,
                                 f"stage 2 gives {_PERMS[p2]} at EL{acc.el}, the access is a "
                                 f"{acc.kind.value}", ipa=ipa,
                                 rule=WalkRule.S2CheckPermissions, branch="access_not_permitted")
            if plan.s2_ha:
                s2_raw = self.s2_update(leaf, write, at)
        if self.notes:
            notes = tuple(self.notes) + notes
        return (acc.va, ipa, pa, acc, attrs, res, _PERMS[p1 & p2], _PERMS[p1], _PERMS[p2],
                min(s1_size, s2_size), s1_level, s1_raw, s2_level, s2_raw, s1_attr,
                memattr if s2 is not None else None, notes)


_IPA_VALID = frozenset({FaultKind.TRANSLATION, FaultKind.ACCESS_FLAG, FaultKind.ADDRESS_SIZE})


def walk(mem: DescReader, regime: Regime, access: Access, *,
         cache: S2Cache | None = None, hw_update: bool = True) -> WalkResult:
    """Translate one access of the EL1&0 regime through both stages.

    :param mem: the physical memory holding every table (stage-1 tables at the PAs stage 2
        maps their IPAs to).
    :param regime: the registers and the PE.  :param access: what is accessed.
    :param cache: optional stage-2 translation cache (a TLB), consulted and filled.
    :param hw_update: perform the hardware Access flag / dirty state updates (FEAT_HAFDBS with
        TCR_EL1.HA/HD, VTCR_EL2.HA/HD) in ``mem``; they are listed in ``updates`` either way.
    """
    w = _Walk(mem, regime, access, cache, hw_update=hw_update)
    try:
        targs = w.run()
    except _Abort as abort:
        return WalkResult(access, w.steps, None, abort.fault, tuple(w.updates))
    return WalkResult(access, w.steps, None, None, tuple(w.updates), targs=targs)


def walk_at(mem: DescReader, regime: Regime, access: Access, *, stage12: bool,
            hw_update: bool = True) -> WalkResult:
    """The translation an AT instruction makes (ASL AArch64.AT): no alignment fault; stage 1
    alone for AT S1E* (the translation's ``pa`` is then the IPA and its attributes stage 1's),
    both stages for AT S12E*.  ``access`` gives the permission checked (EL0 or EL1, read or
    write).  Faults carry CM=1 and WnR=1 (as ESR_ELx reports a fault on AT)."""
    if access.kind is AccessKind.EXEC:
        raise EncodingError("AT: translates for a read or a write, not an instruction fetch")
    w = _Walk(mem, regime, access, None, at=True, s1_only=not stage12, hw_update=hw_update)
    try:
        targs = w.run()
    except _Abort as abort:
        return WalkResult(access, w.steps, None, abort.fault, tuple(w.updates))
    return WalkResult(access, w.steps, None, None, tuple(w.updates), targs=targs)


def walk_stage2(mem: DescReader, s2: Stage2Regime, ipa: int, access: Access | None = None, *,
                hw_update: bool = True) -> WalkResult:
    """Translate an IPA through stage 2 alone (as for a guest with stage 1 off and DC=0).

    The access's VA field is ignored for the walk (FAR reports it); its kind and EL choose the
    permission checked.  The PE is ``s2.cpu``.
    """
    acc = access if access is not None else Access(ipa)
    regime = _stage2_only(s2)
    w = _Walk(mem, regime, acc, None, hw_update=hw_update)
    try:
        leaf = w.s2_walk(ipa, False)
        p2 = w.s2_perm_bits(leaf[3], acc.el)
        if not p2 & _KIND_BIT[acc.kind]:
            raise w.fault(FaultKind.PERMISSION, 2, leaf[2],
                          f"stage 2 gives {_PERMS[p2]} at EL{acc.el}, the access is a "
                          f"{acc.kind.value}", ipa=ipa,
                          rule=WalkRule.S2CheckPermissions, branch="access_not_permitted")
        raw = w.s2_update(leaf, acc.is_write, False)
    except _Abort as abort:
        return WalkResult(acc, w.steps, None, abort.fault, tuple(w.updates))
    memattr, sh2, fnxs = w.s2_leaf_fields(raw)
    res, attrs, notes = w.plan.outcome(0xFF, memattr, 0b11, sh2, fnxs, acc.kind)
    t = Translation(
        va=acc.va, ipa=ipa, pa=leaf[0] | (ipa & (leaf[1] - 1)), access=acc,
        attrs=attrs, resolution=res, perms=_PERMS[p2],
        s1_perms=ALL_PERMS, s2_perms=_PERMS[p2], size=leaf[1], s1_level=None, s1_desc=None,
        s2_level=leaf[2], s2_desc=raw, s1_attr=None, s2_memattr=memattr, notes=notes,
    )
    return WalkResult(acc, w.steps, t, None, tuple(w.updates))


_S2_ONLY: dict[Stage2Regime, Regime] = {}


def _stage2_only(s2: Stage2Regime) -> Regime:
    """The regime of a guest with stage 1 off, stage 2 ``s2`` (VM=1, RW=1), cached."""
    reg = _S2_ONLY.get(s2)
    if reg is None:
        from .regime import HCR_DEFAULT

        if len(_S2_ONLY) > 256:
            _S2_ONLY.clear()
        reg = _S2_ONLY[s2] = Regime(Stage1Regime.off(cpu=s2.cpu), s2, HCR_DEFAULT)
    return reg
