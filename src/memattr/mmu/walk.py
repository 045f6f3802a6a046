"""Two-stage translation of one guest access through real tables in simulated memory.

:func:`walk` translates a VA of the EL1&0 regime: stage 1 (every stage-1 descriptor read is
itself translated by stage 2, S1PTW), then stage 2.  It returns a :class:`WalkResult` with every
descriptor visited and either a :class:`Translation` -- physical address, combined attributes
(arch.combine.resolve: S2CombineS1MemAttrs without FWB, AArch64_S2ApplyFWBMemAttrs with it,
under the HCR_EL2/SCTLR_EL1 controls), effective permissions -- or a :class:`Fault` value with
the ESR/FAR/HPFAR the exception would report.  Faults are values; exceptions are for misuse.

Order of checks (fault priority, Arm ARM R_XCHFJ as quoted by QEMU target/arm/ptw.c; KVM
nested.c walk_nested_s2_pgd for the per-level order):

1. alignment not caused by the memory type (SCTLR_EL1.A);
2. stage 1: VA range / EPDn (Translation fault, level 0), TTBR base (Address size fault, start
   level), then per level: the S1PTW stage-2 translation of the descriptor address (any
   stage-2 fault, S1PTW=1; a stage-2 Device table with HCR_EL2.PTW=1 is a Permission fault),
   Translation fault (invalid or reserved descriptor), Address size fault (next table or
   output address beyond TCR_EL1.IPS); then the Access flag fault;
3. alignment fault caused by the stage-1 memory type (AArch64.S1HasAlignmentFault);
4. stage-1 Permission fault;
5. stage 2 of the access: IPA range (Translation fault, level 0), walk faults, Access flag,
   alignment from the stage-2 memory type (AArch64.S2HasAlignmentFault: S2 alone without FWB,
   the FWB-combined result with FWB), stage-2 Permission fault.

Not modelled: hardware Access flag / dirty updates (HA/HD), PSTATE.PAN, FEAT_S1PIE/S2PIE/POE,
TBI of instruction fetches (TBID), and 128-bit descriptors.  Stage-1 faults are reported as
the EL1 exception (ESR_EL1, FAR_EL1; ISV=0); stage-2 faults as the EL2 one (ESR_EL2, FAR_EL2,
HPFAR_EL2).  An S1PTW fault keeps the access's class (a fetch's is an Instruction Abort with
S1PTW=1); for a data access WnR is 0 (the walk read; hardware table updates are not modelled)
and ISV is 0.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from ..arch.combine import Access as CombineAccess
from ..arch.combine import Controls, Resolution, resolve
from ..arch.descriptor import DescType, s2_exec
from ..arch.esr import FaultKind, encode_abort_esr, encode_fsc
from ..arch.memtype import MemoryAttributes
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault
from ..errors import EncodingError
from .pgtable import Codec
from .physmem import DescReader
from .regime import Geometry, Regime, Stage1Regime, Stage2Regime

__all__ = [
    "AccessKind",
    "Access",
    "WalkStep",
    "Perms",
    "Fault",
    "Translation",
    "WalkResult",
    "S2Out",
    "S2Cache",
    "walk",
    "walk_stage2",
    "s1_perms",
    "s2_perms",
]


class AccessKind(enum.Enum):
    """What the access does."""

    READ = "read"
    WRITE = "write"
    EXEC = "exec"

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


@dataclass(frozen=True, slots=True)
class Perms:
    """Read / write / execute permission for one Exception level."""

    read: bool
    write: bool
    exec: bool

    def allows(self, kind: AccessKind) -> bool:
        """Whether an access of ``kind`` is permitted."""
        return {AccessKind.READ: self.read, AccessKind.WRITE: self.write,
                AccessKind.EXEC: self.exec}[kind]

    def __and__(self, other: Perms) -> Perms:
        return Perms(self.read and other.read, self.write and other.write,
                     self.exec and other.exec)

    def __str__(self) -> str:
        return ("R" if self.read else "-") + ("W" if self.write else "-") + \
            ("X" if self.exec else "-")


ALL_PERMS = Perms(True, True, True)


@dataclass(frozen=True, slots=True)
class Fault:
    """A translation fault, as a value.

    :param kind: translation, access flag, permission, address size or alignment.
    :param stage: 1 or 2.  :param level: lookup level (None for alignment faults).
    :param s1ptw: a stage-2 fault on a stage-1 table walk.
    :param ipa: the faulting IPA (stage-2 faults), else None.
    :param esr: the ESR_ELx value; ``target_el`` says which (1 or 2).
    :param far: FAR_ELx (the VA).  :param hpfar: HPFAR_EL2 (FIPA = IPA[51:12] in [43:4]) for
        stage-2 translation, access flag, permission and address size faults, else None.
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

    @property
    def fsc(self) -> int:
        """The DFSC/IFSC (ESR bits[5:0])."""
        return self.esr & 0x3F

    def __str__(self) -> str:
        lvl = f" level {self.level}" if self.level is not None else ""
        ptw = " on a stage-1 table walk (S1PTW)" if self.s1ptw else ""
        where = f", IPA 0x{self.ipa:x}" if self.ipa is not None else ""
        return (f"stage {self.stage} {self.kind.value} fault{lvl}{ptw} at VA 0x{self.va:x}"
                f"{where}: {self.reason}")


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
class WalkResult:
    """The outcome of one access: the steps taken and a translation or a fault."""

    access: Access
    steps: tuple[WalkStep, ...]
    translation: Translation | None
    fault: Fault | None

    @property
    def ok(self) -> bool:
        """Translated without a fault."""
        return self.fault is None

    @property
    def pa(self) -> int | None:
        """The physical address, or None on a fault."""
        return self.translation.pa if self.translation is not None else None

    @property
    def reads(self) -> tuple[tuple[int, int], ...]:
        """(descriptor PA, value) of every descriptor read."""
        return tuple((s.desc_pa, s.raw) for s in self.steps)


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


# --- permissions ---------------------------------------------------------------------------


def s1_perms(
    ap: int, uxn: bool, pxn: bool, el: int, *, ap_table: int = 0, uxn_table: bool = False,
    pxn_table: bool = False, wxn: bool = False,
) -> Perms:
    """Stage-1 permissions at ``el`` (ASL AArch64.S1ApplyOutputPerms / S1ApplyTablePerms,
    EL1&0 regime, PAN off).

    AP[2] (descriptor bit 7) makes the page read-only, AP[1] (bit 6) grants EL0 access.
    APTable[1] removes write, APTable[0] removes EL0 access; UXNTable/PXNTable add XN.  EL1
    never executes memory writable at EL0; with SCTLR_EL1.WXN writable memory is XN.
    """
    ap2 = bool(ap & 0b10 or ap_table & 0b10)
    ap1 = bool(ap & 0b01) and not ap_table & 0b01
    el0_w = ap1 and not ap2
    if el == 0:
        r, w = ap1, el0_w
        x = not (uxn or uxn_table)
    else:
        r, w = True, not ap2
        x = not (pxn or pxn_table or el0_w)
    if wxn and w:
        x = False
    return Perms(r, w, x)


def s2_perms(s2ap: int, xn: int, el: int, *, xnx: bool = False) -> Perms:
    """Stage-2 permissions at ``el`` (ASL AArch64.S2ApplyOutputPerms): S2AP bit 6 read, bit 7
    write; XN[1:0] with FEAT_XNX, else bit 54 alone."""
    ex = s2_exec(xn, xnx=xnx)
    return Perms(bool(s2ap & 1), bool(s2ap & 2), ex.el1 if el == 1 else ex.el0)


# --- the walker ----------------------------------------------------------------------------

_resolve = lru_cache(maxsize=8192)(resolve)

# TCR_ELx.IRGN/ORGN -> MAIR-style nibble for the attributes of table walks.
_RGN_NIBBLE = {0b00: 0x4, 0b01: 0xF, 0b10: 0xA, 0b11: 0xE}


class _Abort(Exception):  # noqa: N818 - internal control flow, never escapes walk()
    """Internal: carries a Fault out of the nested walk."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(str(fault))
        self.fault = fault


@lru_cache(maxsize=64)
def _codec(geom: Geometry) -> Codec:
    return Codec(geom)


class _Walk:
    """The state of one translation."""

    def __init__(self, mem: DescReader, regime: Regime, access: Access,
                 cache: S2Cache | None) -> None:
        self.mem = mem
        self.regime = regime
        self.access = access
        self.cache = cache
        self.steps: list[WalkStep] = []
        self.notes: list[str] = []

    # --- faults -------------------------------------------------------------------------
    def fault(self, kind: FaultKind, stage: int, level: int | None, why: str, *,
              s1ptw: bool = False, ipa: int | None = None) -> _Abort:
        """A fault of this access, with the syndrome the exception would carry."""
        acc = self.access
        fsc = encode_fsc(kind, level if kind is not FaultKind.ALIGNMENT else None)
        instr = acc.is_exec  # an S1PTW fault keeps the access's EC (IABT has S1PTW too)
        if stage == 1:
            target, lower = 1, acc.el == 0
            esr = encode_abort_esr(fsc=fsc, instruction=instr, lower_el=lower,
                                   wnr=acc.is_write and not instr)
            hpfar = None
        else:
            target = 2
            isv = (acc.srt is not None and not instr and not s1ptw)
            sas = acc.size.bit_length() - 1
            esr = encode_abort_esr(
                fsc=fsc, instruction=instr, lower_el=True,
                wnr=acc.is_write and not instr and not s1ptw, s1ptw=s1ptw, isv=isv,
                sas=sas if sas <= 3 else 3, srt=acc.srt or 0, sf=acc.sf, sse=acc.sse, ar=acc.ar,
            )
            hpfar = None
            if ipa is not None and kind is not FaultKind.ALIGNMENT:
                hpfar = ((ipa >> 12) & ((1 << 40) - 1)) << 4
        return _Abort(Fault(kind, stage, level, s1ptw, acc.va, ipa, acc, why, esr, target,
                            acc.va, hpfar))

    # --- stage 2 --------------------------------------------------------------------------
    def s2_walk(self, s2: Stage2Regime, ipa: int, *, s1ptw: bool) -> S2Out:
        """Walk stage 2 for ``ipa``; raises _Abort with a stage-2 fault."""
        geom = s2.geometry
        vmid = s2.vmid
        if self.cache is not None:
            hit = self.cache.s2_lookup(vmid, ipa)
            if hit is not None:
                self.steps.extend(WalkStep(st.stage, st.level, st.ia, st.table, st.index,
                                           st.desc_pa, st.raw, st.type, s1ptw, True)
                                  for st in hit.steps)
                return hit
        if ipa >> geom.ia_bits:
            raise self.fault(FaultKind.TRANSLATION, 2, 0,
                             f"IPA 0x{ipa:x} is beyond the {geom.ia_bits}-bit IPA space "
                             "(VTCR_EL2.T0SZ)", s1ptw=s1ptw, ipa=ipa)
        c = _codec(geom)
        table = s2.root
        if table >> geom.oa_bits:
            raise self.fault(FaultKind.ADDRESS_SIZE, 2, geom.start_level,
                             f"VTTBR_EL2 base 0x{table:x} is beyond the {geom.oa_bits}-bit PA "
                             "size (VTCR_EL2.PS)", s1ptw=s1ptw, ipa=ipa)
        mine: list[WalkStep] = []
        for level, shift, imask, size in c.levels:
            index = (ipa >> shift) & imask
            addr = table + 8 * index
            raw = self.mem.read64(addr)
            kind = c.kind(level, raw)
            step = WalkStep(2, level, ipa, table, index, addr, raw, kind, s1ptw)
            mine.append(step)
            self.steps.append(step)
            if kind in (DescType.INVALID, DescType.RESERVED):
                why = "invalid descriptor" if kind is DescType.INVALID else \
                    f"block descriptor not allowed at level {level} (reserved encoding)"
                raise self.fault(FaultKind.TRANSLATION, 2, level, why, s1ptw=s1ptw, ipa=ipa)
            if kind is DescType.TABLE:
                table = c.table_addr(raw)
                if table >> geom.oa_bits:
                    raise self.fault(FaultKind.ADDRESS_SIZE, 2, level,
                                     f"next-level table 0x{table:x} beyond the {geom.oa_bits}-bit "
                                     "PA size", s1ptw=s1ptw, ipa=ipa)
                continue
            oa = c.leaf_oa(level, raw)
            if oa >> geom.oa_bits:
                raise self.fault(FaultKind.ADDRESS_SIZE, 2, level,
                                 f"output address 0x{oa:x} beyond the {geom.oa_bits}-bit PA size "
                                 "(VTCR_EL2.PS)", s1ptw=s1ptw, ipa=ipa)
            if not raw & (1 << 10):
                raise self.fault(FaultKind.ACCESS_FLAG, 2, level, "AF=0 in the stage-2 leaf",
                                 s1ptw=s1ptw, ipa=ipa)
            out = S2Out(ipa & ~(size - 1), oa, size, level, raw, tuple(mine))
            if self.cache is not None:
                self.cache.s2_fill(vmid, out)
            return out
        raise AssertionError("unreachable: level 3 always ends the walk")  # pragma: no cover

    def s2_leaf_fields(self, s2: Stage2Regime, raw: int) -> tuple[int, int, bool]:
        """(MemAttr, SH, FnXS) of a stage-2 leaf; SH from VTCR_EL2.SH0 with DS=1."""
        memattr = (raw >> 2) & 0xF
        sh = s2.sh if s2.geometry.ds else (raw >> 8) & 3
        return memattr, sh, bool(raw >> 11 & 1)

    def s1ptw(self, ipa: int) -> int:
        """Translate the IPA of a stage-1 descriptor through stage 2 (an S1PTW access)."""
        reg = self.regime
        if not reg.s2_enabled or reg.s2 is None:
            return ipa
        s2 = reg.s2
        out = self.s2_walk(s2, ipa, s1ptw=True)
        # Permission: table walks read.  S2 Device with HCR_EL2.PTW=1 is a Permission fault.
        memattr, sh, fnxs = self.s2_leaf_fields(s2, out.raw)
        if not out.raw & (1 << 6):
            raise self.fault(FaultKind.PERMISSION, 2, out.level,
                             "stage 2 does not allow reads of the stage-1 table (S2AP[0]=0)",
                             s1ptw=True, ipa=ipa)
        if reg.controls.ptw:
            half = reg.s1.half_of(self.access.va)
            tcr = reg.s1.decoded
            h = tcr.t1 if half.n else tcr.t0
            walk_attr = (_RGN_NIBBLE[h.orgn] << 4) | _RGN_NIBBLE[h.irgn]
            res = _resolve(walk_attr, memattr, sh1=h.sh if h.sh != 1 else 0b11, sh2=sh,
                           fnxs=fnxs, controls=reg.controls, access=CombineAccess.TTW)
            if any(a.is_device for a in res.s2):
                raise self.fault(FaultKind.PERMISSION, 2, out.level,
                                 "stage-1 table in stage-2 Device memory with HCR_EL2.PTW=1",
                                 s1ptw=True, ipa=ipa)
        return out.pa_base | (ipa & (out.size - 1))

    # --- stage 1 --------------------------------------------------------------------------
    def s1_walk(self) -> tuple[int, int, int, int, Perms, tuple[str, ...]]:
        """Walk stage 1: (IPA, leaf level, leaf size, leaf descriptor, permissions, notes)."""
        reg = self.regime
        s1 = reg.s1
        acc = self.access
        va = acc.va
        half = s1.half_of(va)
        if half.epd or half.geometry is None:
            raise self.fault(FaultKind.TRANSLATION, 1, 0,
                             f"TCR_EL1.EPD{half.n}=1: walks of the TTBR{half.n} range are disabled")
        if not s1.va_in_range(va):
            raise self.fault(FaultKind.TRANSLATION, 1, 0,
                             f"VA 0x{va:x} is outside the {half.ia_bits}-bit TTBR{half.n} range "
                             f"(TCR_EL1.T{half.n}SZ)")
        geom = half.geometry
        c = _codec(geom)
        table = half.root
        if table >> geom.oa_bits:
            raise self.fault(FaultKind.ADDRESS_SIZE, 1, geom.start_level,
                             f"TTBR{half.n}_EL1 base 0x{table:x} beyond the {geom.oa_bits}-bit "
                             "IPA size (TCR_EL1.IPS)")
        ap_table, uxn_table, pxn_table = 0, False, False
        ia = va & ((1 << geom.ia_bits) - 1)
        for level, shift, imask, size in c.levels:
            index = (ia >> shift) & imask
            desc_ipa = table + 8 * index
            desc_pa = self.s1ptw(desc_ipa)
            raw = self.mem.read64(desc_pa)
            kind = c.kind(level, raw)
            self.steps.append(WalkStep(1, level, va, table, index, desc_pa, raw, kind))
            if kind in (DescType.INVALID, DescType.RESERVED):
                why = "invalid descriptor" if kind is DescType.INVALID else \
                    f"block descriptor not allowed at level {level} (reserved encoding)"
                raise self.fault(FaultKind.TRANSLATION, 1, level, why)
            if kind is DescType.TABLE:
                table = c.table_addr(raw)
                if table >> geom.oa_bits:
                    raise self.fault(FaultKind.ADDRESS_SIZE, 1, level,
                                     f"next-level table 0x{table:x} beyond the {geom.oa_bits}-bit "
                                     "IPA size (TCR_EL1.IPS)")
                if not half.hpd:
                    ap_table |= (raw >> 61) & 3
                    uxn_table |= bool(raw >> 60 & 1)
                    pxn_table |= bool(raw >> 59 & 1)
                continue
            oa = c.leaf_oa(level, raw)
            if oa >> geom.oa_bits:
                raise self.fault(FaultKind.ADDRESS_SIZE, 1, level,
                                 f"output address 0x{oa:x} beyond the {geom.oa_bits}-bit IPA size "
                                 "(TCR_EL1.IPS)")
            if not raw & (1 << 10):
                raise self.fault(FaultKind.ACCESS_FLAG, 1, level, "AF=0 in the stage-1 leaf")
            perms = s1_perms((raw >> 6) & 3, bool(raw >> 54 & 1), bool(raw >> 53 & 1), acc.el,
                             ap_table=ap_table, uxn_table=uxn_table, pxn_table=pxn_table,
                             wxn=s1.sctlr_bit("WXN"))
            return oa | (ia & (size - 1)), level, size, raw, perms, ()
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the whole access -------------------------------------------------------------------
    def run(self) -> Translation:
        """Stage 1, the stage-1 checks, stage 2, the stage-2 checks (R_XCHFJ order)."""
        reg = self.regime
        acc = self.access
        ctl: Controls = reg.controls
        if ctl.a and not acc.aligned and not acc.is_exec:
            raise self.fault(FaultKind.ALIGNMENT, 1, None,
                             f"unaligned {acc.size}-byte access with SCTLR_EL1.A=1")
        s1 = reg.s1
        if reg.s1_enabled:
            ipa, s1_level, s1_size, s1_raw, p1, _ = self.s1_walk()
            s1_attr: int | None = s1.mair_attr((s1_raw >> 2) & 7)
            half = s1.half_of(acc.va)
            sh1 = half.sh if half.geometry is not None and half.geometry.ds else (s1_raw >> 8) & 3
        else:
            pa_max = reg.pa_max
            if acc.va >> pa_max:
                raise self.fault(FaultKind.ADDRESS_SIZE, 1, 0,
                                 f"stage 1 off and VA 0x{acc.va:x} beyond the {pa_max}-bit "
                                 "physical address size")
            ipa, s1_level, s1_size, s1_raw, p1 = acc.va, None, 1 << pa_max, None, ALL_PERMS
            s1_attr, sh1 = None, 0b11
        kind = acc.kind.combine_access
        # Stage-1 checks come before anything stage 2 finds (R_XCHFJ): alignment from the
        # stage-1 memory type, then the stage-1 permission.  The stage-1 attributes do not
        # depend on stage 2, so resolve them with a neutral stage-2 value first.  With stage 1
        # off, data is Device-nGnRnE (AArch64.S1DisabledOutput) and faults too.
        res1 = _resolve(s1_attr if s1_attr is not None else 0xFF, 0xF, sh1=sh1, sh2=0b11,
                        controls=ctl, access=kind)
        if any(s1_has_alignment_fault(a, kind, acc.aligned) for a in res1.s1):
            raise self.fault(FaultKind.ALIGNMENT, 1, None,
                             f"unaligned {acc.size}-byte {acc.kind.value} to stage-1 Device memory "
                             "(AArch64.S1HasAlignmentFault)")
        if not p1.allows(acc.kind):
            raise self.fault(FaultKind.PERMISSION, 1, s1_level,
                             f"stage 1 gives {p1} at EL{acc.el}, the access is a "
                             f"{acc.kind.value}")
        s2 = reg.s2 if reg.s2_enabled else None
        s2_raw = None
        s2_level = None
        s2_size = 1 << 64
        memattr, sh2, fnxs = 0xF, 0b11, False
        p2 = ALL_PERMS
        out = None
        if s2 is not None:
            out = self.s2_walk(s2, ipa, s1ptw=False)
            s2_raw, s2_level, s2_size = out.raw, out.level, out.size
            memattr, sh2, fnxs = self.s2_leaf_fields(s2, out.raw)
            p2 = s2_perms((out.raw >> 6) & 3, (out.raw >> 53) & 3, acc.el, xnx=reg.xnx)
        res = _resolve(s1_attr if s1_attr is not None else 0xFF, memattr,
                       sh1=sh1, sh2=sh2, fnxs=fnxs, controls=ctl, access=kind)
        notes = [n for n in (res.reserved,) if n]
        notes.extend(res.faults)
        if s2 is not None:
            if any(s2_has_alignment_fault(a, kind, acc.aligned) for a in res.s2):
                which = "the FWB-combined" if ctl.fwb else "the stage-2"
                raise self.fault(FaultKind.ALIGNMENT, 2, None,
                                 f"unaligned {acc.size}-byte {acc.kind.value}: {which} type is "
                                 "Device (AArch64.S2HasAlignmentFault)", ipa=ipa)
            if not p2.allows(acc.kind):
                raise self.fault(FaultKind.PERMISSION, 2, s2_level,
                                 f"stage 2 gives {p2} at EL{acc.el}, the access is a "
                                 f"{acc.kind.value}", ipa=ipa)
        if out is not None:
            pa = out.pa_base | (ipa & (out.size - 1))
        else:
            pa = ipa
        attrs = res.outcomes[0] if res.outcomes and not res.s1_unknown else None
        return Translation(
            va=acc.va, ipa=ipa, pa=pa, access=acc, attrs=attrs, resolution=res,
            perms=p1 & p2, s1_perms=p1, s2_perms=p2, size=min(s1_size, s2_size),
            s1_level=s1_level, s1_desc=s1_raw, s2_level=s2_level, s2_desc=s2_raw,
            s1_attr=s1_attr, s2_memattr=memattr if s2 is not None else None,
            notes=tuple(notes),
        )


def walk(mem: DescReader, regime: Regime, access: Access, *,
         cache: S2Cache | None = None) -> WalkResult:
    """Translate one access of the EL1&0 regime through both stages.

    :param mem: the physical memory holding every table (stage-1 tables at the PAs stage 2
        maps their IPAs to).
    :param regime: the registers.  :param access: what is accessed.
    :param cache: optional stage-2 translation cache (a TLB), consulted and filled.
    """
    w = _Walk(mem, regime, access, cache)
    try:
        t = w.run()
    except _Abort as abort:
        return WalkResult(access, tuple(w.steps), None, abort.fault)
    return WalkResult(access, tuple(w.steps), t, None)


_S1_OFF = Stage1Regime(Stage1Regime.simple().tcr, sctlr=0)


def walk_stage2(mem: DescReader, s2: Stage2Regime, ipa: int, access: Access | None = None, *,
                xnx: bool = False) -> WalkResult:
    """Translate an IPA through stage 2 alone (as for a guest with stage 1 off and DC=0).

    The access's VA field is ignored for the walk (FAR reports it); its kind and EL choose the
    permission checked.
    """
    acc = access if access is not None else Access(ipa)
    regime = Regime(_S1_OFF, s2, hcr=1 | (1 << 31), xnx=xnx, pa_max=52)
    w = _Walk(mem, regime, acc, None)
    try:
        out = w.s2_walk(s2, ipa, s1ptw=False)
        p2 = s2_perms((out.raw >> 6) & 3, (out.raw >> 53) & 3, acc.el, xnx=xnx)
        if not p2.allows(acc.kind):
            raise w.fault(FaultKind.PERMISSION, 2, out.level,
                          f"stage 2 gives {p2} at EL{acc.el}, the access is a {acc.kind.value}",
                          ipa=ipa)
    except _Abort as abort:
        return WalkResult(acc, tuple(w.steps), None, abort.fault)
    memattr, sh2, fnxs = w.s2_leaf_fields(s2, out.raw)
    ctl = Controls(m=False)
    res = _resolve(0xFF, memattr, sh1=0b11, sh2=sh2, fnxs=fnxs, controls=ctl,
                   access=acc.kind.combine_access)
    t = Translation(
        va=acc.va, ipa=ipa, pa=out.pa_base | (ipa & (out.size - 1)), access=acc,
        attrs=res.outcomes[0] if res.outcomes else None, resolution=res, perms=p2,
        s1_perms=ALL_PERMS, s2_perms=p2, size=out.size, s1_level=None, s1_desc=None,
        s2_level=out.level, s2_desc=out.raw, s1_attr=None, s2_memattr=memattr,
    )
    return WalkResult(acc, tuple(w.steps), t, None)

