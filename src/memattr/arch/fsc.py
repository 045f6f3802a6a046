"""The fault status codes (DFSC/IFSC) of a Data or Instruction Abort: the fault kinds, one table.

Arm ARM (DDI 0487) D24.2 ESR_EL2, "ISS encoding for an exception from a Data Abort" (DFSC) and
"... from an Instruction Abort" (IFSC); PAR_EL1.FST uses the same codes (ASL
AArch64.PARFaultStatus).  The ESR_ELx field tables that hold these codes are in
:mod:`memattr.arch.esr`, which re-exports every name here: a walk needs the fault kinds on
every access, the syndrome tables only when an access faults.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError

__all__ = ["FaultKind", "FaultStatus", "FSC_TABLE", "decode_fsc", "encode_fsc"]


class FaultKind(enum.Enum):
    """The fault kinds of a translation or access (ASL Fault_*)."""

    ADDRESS_SIZE = "address size"
    TRANSLATION = "translation"
    ACCESS_FLAG = "access flag"
    PERMISSION = "permission"
    ALIGNMENT = "alignment"
    SYNC_EXTERNAL = "synchronous external abort"
    SYNC_EXTERNAL_ON_WALK = "synchronous external abort on table walk"
    SYNC_PARITY = "synchronous parity or ECC error"
    SYNC_PARITY_ON_WALK = "synchronous parity or ECC error on table walk"
    TAG_CHECK = "synchronous tag check"
    GRANULE_PROTECTION = "granule protection"
    GRANULE_PROTECTION_ON_WALK = "granule protection on table walk"
    TLB_CONFLICT = "TLB conflict"
    UNSUPPORTED_ATOMIC_UPDATE = "unsupported atomic hardware update"
    LOCKDOWN = "IMPLEMENTATION DEFINED lockdown"
    UNSUPPORTED_ATOMIC = "unsupported exclusive or atomic access"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FaultStatus:
    """A decoded DFSC/IFSC: the kind and, for translation-table faults, the level."""

    code: int
    kind: FaultKind
    level: int | None

    def __str__(self) -> str:
        if self.kind is FaultKind.OTHER:
            return f"reserved fault status code (FSC 0x{self.code:02x})"
        lvl = f", level {self.level}" if self.level is not None else ""
        return f"{self.kind.value} fault{lvl} (FSC 0x{self.code:02x})"


def _fsc_table() -> dict[int, tuple[FaultKind, int | None]]:
    k = FaultKind
    table: dict[int, tuple[FaultKind, int | None]] = {}
    # Levels 0..3 in the low two bits of a 0bKKKKLL code.
    for prefix, kind in ((0b0000, k.ADDRESS_SIZE), (0b0001, k.TRANSLATION),
                         (0b0010, k.ACCESS_FLAG), (0b0011, k.PERMISSION),
                         (0b0101, k.SYNC_EXTERNAL_ON_WALK), (0b0111, k.SYNC_PARITY_ON_WALK),
                         (0b1001, k.GRANULE_PROTECTION_ON_WALK)):
        for level in range(4):
            table[(prefix << 2) | level] = (kind, level)
    # Levels -1 (FEAT_LPA2) and -2 (FEAT_D128) have codes of their own.
    table.update({
        0b101001: (k.ADDRESS_SIZE, -1), 0b101100: (k.ADDRESS_SIZE, -2),
        0b101011: (k.TRANSLATION, -1), 0b101010: (k.TRANSLATION, -2),
        0b010011: (k.SYNC_EXTERNAL_ON_WALK, -1), 0b010010: (k.SYNC_EXTERNAL_ON_WALK, -2),
        0b011011: (k.SYNC_PARITY_ON_WALK, -1),
        0b100011: (k.GRANULE_PROTECTION_ON_WALK, -1), 0b100010: (k.GRANULE_PROTECTION_ON_WALK, -2),
        0b010000: (k.SYNC_EXTERNAL, None),
        0b010001: (k.TAG_CHECK, None),
        0b011000: (k.SYNC_PARITY, None),
        0b100001: (k.ALIGNMENT, None),
        0b101000: (k.GRANULE_PROTECTION, None),
        0b110000: (k.TLB_CONFLICT, None),
        0b110001: (k.UNSUPPORTED_ATOMIC_UPDATE, None),
        0b110100: (k.LOCKDOWN, None),
        0b110101: (k.UNSUPPORTED_ATOMIC, None),
    })
    return table


FSC_TABLE: dict[int, tuple[FaultKind, int | None]] = _fsc_table()
"""DFSC code -> (kind, level); IFSC uses the subset without tag check, alignment, lockdown and
unsupported exclusive/atomic.  Codes not listed are reserved."""

_FSC_CODE = {kl: code for code, kl in FSC_TABLE.items()}


def decode_fsc(code: int) -> FaultStatus:
    """Decode a 6-bit DFSC/IFSC value (a reserved code decodes to FaultKind.OTHER)."""
    if not 0 <= code <= 0x3F:
        raise EncodingError(f"FSC=0x{code:x}: out of range (6 bits)")
    kind, level = FSC_TABLE.get(code, (FaultKind.OTHER, None))
    return FaultStatus(code, kind, level)


def encode_fsc(kind: FaultKind, level: int | None = None) -> int:
    """The DFSC/IFSC value for a fault kind (and level for translation-table faults)."""
    code = _FSC_CODE.get((kind, level))
    if code is None:
        levels = sorted(lvl for k, lvl in _FSC_CODE if k is kind and lvl is not None)
        want = f"a level {levels[0]}..{levels[-1]}" if levels else "no level"
        raise EncodingError(f"FSC: no encoding for {kind.value} fault at level {level} "
                            f"(it takes {want})")
    return code
