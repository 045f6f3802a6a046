"""ESR_ELx syndromes of aborts: decode the fields a hypervisor reads (Arm ARM D24.2 ESR_EL2, ISS encodings
for exceptions from a Data Abort or Instruction Abort), and the fault status codes (DFSC/IFSC).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import EncodingError

__all__ = [
    "EC",
    "FaultKind",
    "FaultStatus",
    "decode_fsc",
    "encode_fsc",
    "Syndrome",
    "decode_esr",
    "encode_abort_esr",
]


class EC(enum.IntEnum):
    """Exception classes of ESR_ELx.EC[31:26] that memattr decodes."""

    UNKNOWN = 0x00
    IABT_LOW = 0x20  # Instruction Abort from a lower Exception level
    IABT_CUR = 0x21
    PC_ALIGN = 0x22
    DABT_LOW = 0x24  # Data Abort from a lower Exception level
    DABT_CUR = 0x25
    SP_ALIGN = 0x26
    SERROR = 0x2F


class FaultKind(enum.Enum):
    """The fault kinds of a translation or access (ASL Fault_*)."""

    ADDRESS_SIZE = "address size"
    TRANSLATION = "translation"
    ACCESS_FLAG = "access flag"
    PERMISSION = "permission"
    ALIGNMENT = "alignment"
    SYNC_EXTERNAL = "synchronous external abort"
    SYNC_EXTERNAL_ON_WALK = "synchronous external abort on table walk"
    TLB_CONFLICT = "TLB conflict"
    UNSUPPORTED_ATOMIC = "unsupported exclusive or atomic access"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FaultStatus:
    """A decoded DFSC/IFSC: the kind and, for translation-table faults, the level."""

    code: int
    kind: FaultKind
    level: int | None

    def __str__(self) -> str:
        lvl = f", level {self.level}" if self.level is not None else ""
        return f"{self.kind.value} fault{lvl} (FSC 0x{self.code:02x})"


# Arm ARM D24.2 ESR_ELx, ISS encoding for a Data Abort: DFSC[5:0].
_LEVELLED = {
    0b0000: FaultKind.ADDRESS_SIZE,
    0b0001: FaultKind.TRANSLATION,
    0b0010: FaultKind.ACCESS_FLAG,
    0b0011: FaultKind.PERMISSION,
    0b0101: FaultKind.SYNC_EXTERNAL_ON_WALK,
}
_SINGLE = {
    0b010000: (FaultKind.SYNC_EXTERNAL, None),
    0b100001: (FaultKind.ALIGNMENT, None),
    0b110000: (FaultKind.TLB_CONFLICT, None),
    0b110101: (FaultKind.UNSUPPORTED_ATOMIC, None),
    # FEAT_LPA2 level -1 forms.
    0b101001: (FaultKind.ADDRESS_SIZE, -1),
    0b101011: (FaultKind.TRANSLATION, -1),
    0b010011: (FaultKind.SYNC_EXTERNAL_ON_WALK, -1),
}


def decode_fsc(code: int) -> FaultStatus:
    """Decode a 6-bit DFSC/IFSC value."""
    if not 0 <= code <= 0x3F:
        raise EncodingError(f"FSC=0x{code:x}: out of range (6 bits)")
    if code in _SINGLE:
        kind, level = _SINGLE[code]
        return FaultStatus(code, kind, level)
    if code >> 4 in (0, 1) and (code >> 2) in _LEVELLED:
        return FaultStatus(code, _LEVELLED[code >> 2], code & 3)
    return FaultStatus(code, FaultKind.OTHER, None)


def encode_fsc(kind: FaultKind, level: int | None = None) -> int:
    """The DFSC/IFSC value for a fault kind (and level for translation-table faults)."""
    for code, (k, lvl) in _SINGLE.items():
        if k is kind and lvl == level:
            return code
    for prefix, k in _LEVELLED.items():
        if k is kind:
            if level is None or not 0 <= level <= 3:
                raise EncodingError(f"FSC: {kind.value} fault needs a level 0..3 (got {level})")
            return (prefix << 2) | level
    raise EncodingError(f"FSC: no encoding for {kind.value} fault at level {level}")


@dataclass(frozen=True, slots=True)
class Syndrome:
    """A decoded ESR_ELx value for an abort (fields not defined for the EC are None)."""

    value: int
    ec: int
    il: bool
    fsc: FaultStatus | None
    isv: bool | None = None
    sas: int | None = None  # access size log2 (0 byte .. 3 doubleword), valid when ISV
    sse: bool | None = None
    srt: int | None = None
    sf: bool | None = None
    ar: bool | None = None
    fnv: bool | None = None
    ea: bool | None = None
    cm: bool | None = None
    s1ptw: bool | None = None
    wnr: bool | None = None

    @property
    def ec_name(self) -> str:
        try:
            return EC(self.ec).name
        except ValueError:
            return f"EC 0x{self.ec:02x}"

    @property
    def lines(self) -> list[str]:
        """Human lines, one per field that is defined."""
        out = [f"ESR=0x{self.value:08x}: EC=0x{self.ec:02x} ({self.ec_name}), IL={int(self.il)}"]
        if self.fsc is not None:
            out.append(f"FSC: {self.fsc}")
        flags = [f"{name.upper()}={int(v)}"
                 for name in ("isv", "sas", "sse", "srt", "sf", "ar", "fnv", "ea", "cm", "s1ptw", "wnr")
                 if (v := getattr(self, name)) is not None]
        if flags:
            out.append(" ".join(flags))
        return out


def decode_esr(value: int) -> Syndrome:
    """Decode an ESR_ELx value; ISS fields are decoded for Data and Instruction Aborts."""
    if not 0 <= value < 1 << 64:
        raise EncodingError(f"ESR=0x{value:x}: out of range (64-bit register)")
    ec = (value >> 26) & 0x3F
    il = bool(value >> 25 & 1)
    iss = value & 0x1FFFFFF
    if ec in (EC.DABT_LOW, EC.DABT_CUR):
        isv = bool(iss >> 24 & 1)
        return Syndrome(
            value, ec, il, decode_fsc(iss & 0x3F), isv=isv,
            sas=(iss >> 22) & 3 if isv else None, sse=bool(iss >> 21 & 1) if isv else None,
            srt=(iss >> 16) & 0x1F if isv else None, sf=bool(iss >> 15 & 1) if isv else None,
            ar=bool(iss >> 14 & 1) if isv else None, fnv=bool(iss >> 10 & 1), ea=bool(iss >> 9 & 1),
            cm=bool(iss >> 8 & 1), s1ptw=bool(iss >> 7 & 1), wnr=bool(iss >> 6 & 1),
        )
    if ec in (EC.IABT_LOW, EC.IABT_CUR):
        return Syndrome(value, ec, il, decode_fsc(iss & 0x3F), fnv=bool(iss >> 10 & 1),
                        ea=bool(iss >> 9 & 1), s1ptw=bool(iss >> 7 & 1))
    return Syndrome(value, ec, il, None)


def encode_abort_esr(
    *,
    fsc: int,
    instruction: bool = False,
    lower_el: bool = True,
    wnr: bool = False,
    s1ptw: bool = False,
    isv: bool = False,
    sas: int = 0,
    srt: int = 0,
    sf: bool = False,
    sse: bool = False,
    ar: bool = False,
    il: bool = True,
    cm: bool = False,
) -> int:
    """Build the ESR_ELx value of a Data or Instruction Abort (ISS fields as in decode_esr).

    :param cm: Data Abort from a cache maintenance or address translation (AT) instruction.
    """
    if instruction:
        ec = EC.IABT_LOW if lower_el else EC.IABT_CUR
        iss = (fsc & 0x3F) | (int(s1ptw) << 7)
    else:
        ec = EC.DABT_LOW if lower_el else EC.DABT_CUR
        iss = (fsc & 0x3F) | (int(wnr) << 6) | (int(s1ptw) << 7) | (int(cm) << 8)
        if isv:
            iss |= (1 << 24) | ((sas & 3) << 22) | (int(sse) << 21) | ((srt & 0x1F) << 16)
            iss |= (int(sf) << 15) | (int(ar) << 14)
    return (int(ec) << 26) | (int(il) << 25) | iss
