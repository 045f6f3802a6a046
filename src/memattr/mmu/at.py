"""Address translation instructions: AT S1E1R/W, S1E0R/W, S12E1R/W, S12E0R/W and the PAR_EL1
they write (ASL AArch64.AT, AArch64.EncodePAR).

:func:`at` translates a VA as the instruction does -- the walk of :mod:`memattr.mmu.walk`
without alignment checks, stage 1 alone for S1E* (PAR_EL1.PA is then the IPA) and both stages
for S12E*, checking EL0 (E0) or EL1 (E1) permission for a read (R) or a write (W) -- and
returns the PAR_EL1 value (:mod:`memattr.arch.par`).

Where the PAR cannot hold the answer the instruction takes an exception instead
(``ATResult.abort``; PAR_EL1 is then UNKNOWN): a synchronous External abort on the walk, and,
for AT S1E* executed at EL1, a stage-2 fault on the stage-1 table walk, which is taken to EL2
with ESR_EL2.S1PTW=1, CM=1, WnR=1.  AT S12E* are EL2 instructions: UNDEFINED from EL1.

Where the attributes are CONSTRAINED UNPREDICTABLE every permitted PAR value is listed
(``pars``); with a reserved MAIR byte the attributes are UNKNOWN and ``pars`` is empty.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import
from ..arch.fsc import FaultKind
from ..arch.par import Par, decode_par, encode_par, encode_par_fault
from ..errors import ConfigError
from .physmem import DescReader
from .regime import Regime
from .walk import Access, AccessKind, Fault, WalkResult, walk_at

__all__ = ["ATOp", "ATResult", "at", "AT_OPS"]


class ATOp(enum.Enum):
    """The EL1&0 address translation instructions; the value is Arm's name."""

    S1E1R = "S1E1R"
    S1E1W = "S1E1W"
    S1E0R = "S1E0R"
    S1E0W = "S1E0W"
    S12E1R = "S12E1R"
    S12E1W = "S12E1W"
    S12E0R = "S12E0R"
    S12E0W = "S12E0W"

    @property
    def stage12(self) -> bool:
        """Both stages (S12E*), else stage 1 alone."""
        return self.value.startswith("S12")

    @property
    def el(self) -> int:
        """The Exception level whose permission is checked: 0 for E0, 1 for E1."""
        return 0 if "E0" in self.value else 1

    @property
    def write(self) -> bool:
        """Translate for a write (W) rather than a read (R)."""
        return self.value.endswith("W")

    @classmethod
    def parse(cls, text: str) -> ATOp:
        """'S12E1R', 's12e1r' or 'AT S12E1R'."""
        key = text.strip().upper().removeprefix("AT").strip()
        try:
            return cls(key)
        except ValueError:
            raise ConfigError(f"AT op={text!r}: expected one of "
                              f"{', '.join(o.value for o in cls)}") from None


AT_OPS = tuple(o.value for o in ATOp)
"""The AT operation names, in Arm's order."""


@dataclass(frozen=True, slots=True)
class ATResult:
    """What one AT instruction did.

    :param par: the PAR_EL1 value written (the first of ``pars`` when several are permitted;
        with UNKNOWN attributes, ATTR and SH read 0); None when the instruction took an
        exception.
    :param pars: every PAR_EL1 value the architecture permits (one for a defined input).
    :param walk: the translation walk behind it (steps, translation or fault).
    :param abort: the exception taken instead of writing PAR_EL1, else None.
    :param attrs_unknown: the attributes are UNKNOWN (a reserved MAIR byte).
    """

    op: ATOp
    va: int
    from_el: int
    par: int | None
    pars: tuple[int, ...]
    walk: WalkResult
    abort: Fault | None = None
    attrs_unknown: bool = False

    @property
    def decoded(self) -> Par | None:
        """PAR_EL1 decoded (None when the instruction took an exception)."""
        return decode_par(self.par) if self.par is not None else None


def at(mem: DescReader, regime: Regime, op: ATOp | str, va: int, *,
       from_el: int = 2, hw_update: bool = True) -> ATResult:
    """Execute AT ``op`` on ``va`` in the EL1&0 regime (ASL AArch64.AT) and return PAR_EL1.

    :param from_el: the Exception level executing it: 2 (the hypervisor, the default) or 1.
    :param hw_update: let the walk set the Access flag as hardware would (FEAT_HAFDBS).
    """
    o = ATOp.parse(op) if isinstance(op, str) else op
    if from_el not in (1, 2):
        raise ConfigError(f"AT from EL{from_el}: executed at EL1 or EL2 (UNDEFINED at EL0)")
    if o.stage12 and from_el == 1:
        raise ConfigError(f"AT {o.value} from EL1: an EL2 instruction (UNDEFINED at EL1)")
    acc = Access(va, AccessKind.WRITE if o.write else AccessKind.READ, o.el, 1)
    res = walk_at(mem, regime, acc, stage12=o.stage12, hw_update=hw_update)
    f = res.fault
    if f is not None:
        # ASL AArch64.AT: an External abort, or a stage-2 fault on the stage-1 walk of an AT
        # executed at EL1, is taken as an exception; PAR_EL1 becomes UNKNOWN.
        if f.kind is FaultKind.SYNC_EXTERNAL_ON_WALK or (from_el == 1 and f.s1ptw):
            return ATResult(o, va, from_el, None, (), res, abort=f)
        par = encode_par_fault(f.fsc, ptw=f.s1ptw, stage=f.stage)
        return ATResult(o, va, from_el, par, (par,), res)
    t = res.translation
    assert t is not None
    cpu = regime.cpu
    outcomes = t.resolution.s1 if not o.stage12 else t.resolution.outcomes
    pars = tuple(dict.fromkeys(encode_par(t.pa, a, cpu=cpu)
                               for a in outcomes))
    # A reserved MAIR byte: the attributes are an UNKNOWN allocated value, so PAR_EL1.ATTR is one
    # of the permitted set (S1ConstrainUnpredictableRESMAIR); ``pars`` lists them all.
    unknown = t.resolution.s1_unknown
    if pars:
        return ATResult(o, va, from_el, pars[0], pars, res, attrs_unknown=unknown)
    # Reserved MAIR byte: UNKNOWN attributes.  PA and the fixed bits are still known.
    from ..arch.memtype import NORMAL_NC

    par = encode_par(t.pa, NORMAL_NC, cpu=cpu) & ~_ATTR_MASK
    return ATResult(o, va, from_el, par, (), res, attrs_unknown=True)


def _attr_mask() -> int:
    from ..arch.registers import PAR_EL1

    return PAR_EL1.field_mask("ATTR") | PAR_EL1.field_mask("SH")


_ATTR_MASK = _attr_mask()
