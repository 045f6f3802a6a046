"""PAR_EL1 as an AT instruction writes it (ASL AArch64.EncodePAR, 64-bit format): the memory
attributes (EncodePARAttrs), the shareability (PAREncodeShareability), and the decoder.

A successful translation gives F=0, PA[51:12], ATTR (MAIR_ELx format), SH, NS and the RES1 bit
11.  NS is UNKNOWN for a Non-secure EL1&0 translation; this model reports 1, the Non-secure
output space (as QEMU does).  Bit 10 (IMPDEF_10) is IMPLEMENTATION DEFINED: 0.
A fault gives F=1, FST (the DFSC encoding, ASL AArch64.PARFaultStatus), PTW (a stage-2 fault on
a stage-1 table walk), S (the stage) and bit 11; bits [63:48] are IMPLEMENTATION DEFINED
('Faulting PAR'): 0.  The field tables are :data:`memattr.arch.registers.PAR_EL1` and
:data:`~memattr.arch.registers.PAR_EL1_FAULT`.
"""

from __future__ import annotations

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError
from . import registers as R
from .cpu import ALL, Cpu
from .mair import MairAttr, decode_attr
from .memtype import SH_NAMES, Cacheability, CacheAttrs, MemoryAttributes, Shareability

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from .fsc import FaultStatus

__all__ = [
    "encode_par_attrs",
    "par_encode_shareability",
    "encode_par",
    "encode_par_fault",
    "Par",
    "decode_par",
    "PAR_ATTR_TAGGED",
    "PAR_ATTR_NOTAGACCESS",
    "PAR_UNKNOWN_OK",
]

PAR_ATTR_TAGGED = 0b1111_0000
"""EncodePARAttrs of Tagged Normal memory (FEAT_MTE)."""
PAR_ATTR_NOTAGACCESS = 0b1110_0000
"""EncodePARAttrs of Tagged memory with NoTagAccess (FEAT_MTE_PERM); not a MAIR encoding."""

_OK = R.PAR_EL1
_FAULT = R.PAR_EL1_FAULT
PAR_UNKNOWN_OK = _OK.field_mask("NS") | _OK.field_mask("IMPDEF_10")
"""Bits of a successful PAR_EL1 whose value is UNKNOWN or IMPLEMENTATION DEFINED here."""

_WT_RA = CacheAttrs(Cacheability.WT, True, False, False)


def _level_nibble(c: CacheAttrs) -> int:
    """One level of EncodePARAttrs: WT/WB with transient and hints, NC 0b0100 (the MAIR form)."""
    return c.nibble


def encode_par_attrs(attrs: MemoryAttributes, *, xs: bool = True, mte: bool = True,
                     mte_perm: bool = True) -> int:
    """PAR_EL1.ATTR for ``attrs`` (ASL EncodePARAttrs).

    Tagged memory (FEAT_MTE) is 0xF0 (0xE0 with NoTagAccess under FEAT_MTE_PERM); Device is
    0b0000dd0x with ATTR[0] = NOT XS; Normal is the MAIR form of both levels, except that XS=0
    gives 0xA0 for outer and inner Write-Through Read-Allocate non-transient and 0x40 for
    Non-cacheable.  Without FEAT_XS (``xs`` False) there is no XS to report: ATTR[0] is 0 and
    the two XS=0 encodings do not arise.
    """
    if mte and attrs.tagged:
        return PAR_ATTR_NOTAGACCESS if (mte_perm and attrs.notagaccess) else PAR_ATTR_TAGGED
    if attrs.device is not None:
        return (attrs.device.value << 2) | (int(not attrs.xs) if xs else 0)
    inner, outer = attrs.inner, attrs.outer
    assert inner is not None and outer is not None
    if xs and not attrs.xs:
        if outer == _WT_RA and inner.cacheability is Cacheability.WT:
            return 0b1010_0000
        if attrs.is_nc:
            return 0b0100_0000
    return (_level_nibble(outer) << 4) | _level_nibble(inner)


def par_encode_shareability(attrs: MemoryAttributes) -> int:
    """PAR_EL1.SH for ``attrs`` (ASL PAREncodeShareability): Device and Normal Non-cacheable
    report Outer Shareable; otherwise the shareability."""
    if attrs.is_device or attrs.is_nc:
        return Shareability.OSH.encoding
    return attrs.shareability.encoding


def encode_par(address: int, attrs: MemoryAttributes, *, cpu: Cpu = ALL, ns: bool = True) -> int:
    """The PAR_EL1 value of a successful AT: output ``address`` (its bits [51:12]), ATTR, SH,
    NS (UNKNOWN in Non-secure state; default 1) and bit 11 (RES1); ATTR as ``cpu``'s features
    (FEAT_XS, FEAT_MTE2, FEAT_MTE_PERM) allow."""
    if not 0 <= address < 1 << 52:
        raise EncodingError(f"PAR_EL1.PA=0x{address:x}: beyond 52 bits")
    value = _OK.encode(
        ATTR=encode_par_attrs(attrs, xs=cpu.xs, mte=cpu.mte2, mte_perm=cpu.mte_perm),
        SH=par_encode_shareability(attrs), NS=int(ns),
    )
    return _OK.with_address(value, address & ~((1 << _OK.field("PA").lsb) - 1))


def encode_par_fault(fst: int, *, ptw: bool, stage: int) -> int:
    """The PAR_EL1 value of a faulting AT: F=1, FST (the DFSC), PTW, S and bit 11 (RES1)."""
    if stage not in (1, 2):
        raise EncodingError(f"PAR_EL1.S: stage {stage} is not 1 or 2")
    return _FAULT.encode(F=1, FST=fst, PTW=int(ptw), S=int(stage == 2))


@dataclass(frozen=True, slots=True)
class Par:
    """A decoded PAR_EL1 (64-bit format).

    :param value: the register.  :param f: PAR_EL1.F (the AT faulted).
    :param pa: the output address (F=0).  :param attr: ATTR, in MAIR_ELx format (F=0).
    :param attrs: ATTR decoded as a MAIR attribute byte (F=0; None for 0xE0 NoTagAccess).
    :param sh: SH (F=0).  :param ns: NS (F=0).
    :param fst: the fault status (F=1).  :param ptw: PTW (F=1).  :param stage: 1 or 2 (F=1).
    :param problems: RES0/RES1 violations and reserved values, as the field table finds them.
    """

    value: int
    f: bool
    pa: int | None = None
    attr: int | None = None
    attrs: MairAttr | None = None
    sh: int | None = None
    ns: bool | None = None
    fst: FaultStatus | None = None
    ptw: bool | None = None
    stage: int | None = None
    problems: tuple[str, ...] = ()

    def rows(self, *, compact: bool = False) -> list[tuple[str, str, str]]:
        """(field, bits, value) rows from the PAR_EL1 field table, msb first (``compact``:
        without RES0/RES1 rows that hold their expected value)."""
        return R.par_layout(self.value).describe(self.value, compact=compact)

    @property
    def summary(self) -> str:
        """One line: what the AT found."""
        if self.f:
            assert self.fst is not None
            ptw = ", on a stage-1 table walk (PTW=1)" if self.ptw else ""
            return f"fault at stage {self.stage}: {self.fst}{ptw}"
        assert self.attr is not None and self.sh is not None and self.pa is not None
        if self.attr == PAR_ATTR_NOTAGACCESS:
            what = "Normal-WB Tagged, NoTagAccess (FEAT_MTE_PERM)"
        elif self.attrs is not None and self.attrs.attrs is not None:
            what = self.attrs.attrs.short
        else:
            what = f"ATTR 0x{self.attr:02x} (reserved)"
        return f"PA 0x{self.pa:x}, {what}, {SH_NAMES.get(self.sh, 'SH reserved')}"


def decode_par(value: int) -> Par:
    """Decode a 64-bit PAR_EL1 value (by its F bit)."""
    if not 0 <= value < 1 << 64:
        raise EncodingError(f"PAR_EL1=0x{value:x}: does not fit 64 bits")
    layout = R.par_layout(value)
    problems = tuple(layout.check(value))
    if value & R.PAR_F:
        from .fsc import decode_fsc  # only a fault's PAR has a status

        return Par(value, True, fst=decode_fsc(layout.get(value, "FST")),
                   ptw=bool(layout.get(value, "PTW")), stage=2 if layout.get(value, "S") else 1,
                   problems=problems)
    attr = layout.get(value, "ATTR")
    return Par(value, False, pa=layout.address(value), attr=attr,
               attrs=None if attr == PAR_ATTR_NOTAGACCESS else decode_attr(attr),
               sh=layout.get(value, "SH"), ns=bool(layout.get(value, "NS")),
               problems=problems)
