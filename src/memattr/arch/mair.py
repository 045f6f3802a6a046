"""MAIR_ELx: decode and encode stage-1 memory attribute bytes and the whole 64-bit register.

Rules from ASL94 S1DecodeMemAttrs, S1ConstrainUnpredictableRESMAIR, DecodeLDFAttr and DecodeDevice
(Arm ARM D8.6, MAIR_ELx).  Each rule returns its :class:`~memattr.arch.decision.Decision`; a
decoded byte (:class:`MairAttr`) carries the records that decided it.  A reserved byte is not a
silent guess: S1DecodeMemAttrs replaces it by ``ConstrainUnpredictableBits(Unpredictable_RESMAIR,
8)``, an UNKNOWN *allocated* byte, so its permitted attributes are those of every allocated byte
under the CPU's features (:func:`allocated_bytes`).
"""

from __future__ import annotations

from functools import lru_cache

from .._value import dataclass, replace  # dataclasses, cheaper to import
from ..errors import EncodingError, ReservedError
from .cpu import ALL, Cpu
from .decision import AslRule, Decision
from .memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
)

__all__ = [
    "MairAttr",
    "decode_ldf_attr",
    "decode_device",
    "s1_constrain_unpredictable_resmair",
    "allocated_bytes",
    "s1_decode_mem_attrs",
    "decode_attr",
    "decode",
    "encode",
    "decode_register",
    "encode_register",
]

_RESMAIR = "Unpredictable_RESMAIR"


@dataclass(frozen=True, slots=True)
class MairAttr:
    """One decoded MAIR attribute byte: the attributes, or why the byte is reserved.

    MAIR has no SH field: ``attrs`` carries Outer Shareable for Device and Normal iNC/oNC (their
    effective shareability) and Non-shareable as a placeholder otherwise; :func:`decode` applies
    the descriptor's SH.  A reserved byte has ``attrs`` None, ``reserved`` saying why, ``rule``
    naming the CONSTRAINED UNPREDICTABLE case and ``permitted`` the allocated bytes it may act as.

    :param decisions: the records of the rules that decided (S1ConstrainUnpredictableRESMAIR,
        then ConstrainUnpredictableBits or S1DecodeMemAttrs).
    """

    value: int
    attrs: MemoryAttributes | None
    reserved: str | None = None
    rule: str | None = None
    decisions: tuple[Decision, ...] = ()
    permitted: tuple[int, ...] = ()

    @property
    def is_reserved(self) -> bool:
        return self.attrs is None


# --- the rules ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def decode_ldf_attr(nibble: int) -> Decision:
    """ASL94 DecodeLDFAttr: one Normal MAIR nibble (not 0b0000) -> cacheability, hints, transient."""
    if not 1 <= nibble <= 0xF:
        raise EncodingError(f"MAIR nibble=0x{nibble:x}: out of range (0x1..0xf, 0b0000 is not Normal)")
    if nibble == 0b0100:
        return Decision(AslRule.DecodeLDFAttr, "nc", (("attr", nibble),), CacheAttrs(Cacheability.NC))
    wt = (nibble & 0b0100) == 0  # 'x0xx' Write-Through, 'x1xx' Write-Back
    ra, wa = bool(nibble & 0b10), bool(nibble & 0b01)
    transient = (nibble & 0b1000) == 0 and (ra or wa)  # only with a hint (DecodeLDFAttr)
    cache = Cacheability.WT if wt else Cacheability.WB
    return Decision(AslRule.DecodeLDFAttr, "wt" if wt else "wb", (("attr", nibble),),
                    CacheAttrs(cache, ra, wa, transient))


@lru_cache(maxsize=4)
def decode_device(dd: int) -> Decision:
    """ASL94 DecodeDevice: 'dd' -> nGnRnE, nGnRE, nGRE or GRE."""
    return Decision(AslRule.DecodeDevice, DeviceType(dd).name, (("device", dd),), DeviceType(dd))


def s1_constrain_unpredictable_resmair(attr: int, cpu: Cpu = ALL) -> Decision:
    """ASL94 S1ConstrainUnpredictableRESMAIR: is this AArch64 MAIR byte reserved on ``cpu``?

    The result is True for a reserved byte; the branch says which encoding made it so.
    """
    return _resmair(attr, bool(cpu.xs), bool(cpu.mte2))


@lru_cache(maxsize=1024)
def _resmair(attr: int, xs: bool, mte2: bool) -> Decision:
    if not 0 <= attr <= 0xFF:
        raise EncodingError(f"MAIR attribute=0x{attr:x}: out of range (0x00..0xff)")
    inputs = (("attr", attr), ("FEAT_XS", xs), ("FEAT_MTE2", mte2))
    hi, lo = attr >> 4, attr & 0xF
    if hi == 0 and lo & 0b11 == 0b01:
        branch, reserved = "device_xs0", not xs  # '0000xx01': FEAT_XS
    elif hi == 0:
        branch, reserved = "device", bool(lo & 0b11)  # '0000xxxx': attr<1:0> != '00'
    elif attr in (0x40, 0xA0):
        branch, reserved = "normal_xs0", not xs  # FEAT_XS Normal NC / WT bytes
    elif attr == 0xF0:
        branch, reserved = "tagged", not mte2  # FEAT_MTE2 Tagged Normal
    elif lo == 0:
        branch, reserved = "inner_0000", True  # 'xxxx0000'
    else:
        branch, reserved = "normal", False
    return Decision(AslRule.S1ConstrainUnpredictableRESMAIR, branch, inputs, reserved)


def allocated_bytes(cpu: Cpu = ALL) -> tuple[int, ...]:
    """Every MAIR byte S1ConstrainUnpredictableRESMAIR does not reserve on ``cpu``, ascending.

    What ConstrainUnpredictableBits(Unpredictable_RESMAIR, 8) may give for a reserved byte: the
    ASL decodes its result with asserts that only hold for allocated values.
    """
    return _allocated(bool(cpu.xs), bool(cpu.mte2))


@lru_cache(maxsize=8)
def _allocated(xs: bool, mte2: bool) -> tuple[int, ...]:
    return tuple(b for b in range(256) if not _resmair(b, xs, mte2).result)


def s1_decode_mem_attrs(attr: int, sh: Shareability | None = None, cpu: Cpu = ALL) -> Decision:
    """ASL94 S1DecodeMemAttrs for an allocated byte: the stage-1 attributes of ``attr``.

    :param attr: an allocated MAIR byte (see :func:`s1_constrain_unpredictable_resmair`).
    :param sh: the descriptor's shareability (ASL DecodeShareability of SH), or None for the MAIR
        byte alone (then Device and Normal iNC/oNC carry OSH and other Normal NSH).
    :param cpu: the PE; without FEAT_XS the result has ``xs`` None (no XS attribute).
    """
    return _s1_decode(attr, sh, bool(cpu.xs), bool(cpu.mte2))


@lru_cache(maxsize=4096)
def _s1_decode(attr: int, sh: Shareability | None, xs: bool, mte2: bool) -> Decision:
    res = _resmair(attr, xs, mte2)
    if res.result:
        raise ReservedError(f"MAIR attribute=0x{attr:02x}: reserved ({res.branch}); "
                            "S1DecodeMemAttrs takes the UNKNOWN allocated byte instead")
    hi, lo = attr >> 4, attr & 0xF
    if hi == 0:
        # '0000xxxx' Device: XS = NOT attr<0>.
        branch = "device_xs0" if lo & 1 else "device"
        a = MemoryAttributes(MemType.Device, device=decode_device(lo >> 2).result,
                             shareability=Shareability.OSH, xs=not lo & 1)
    elif attr == 0x40:
        branch = "normal_nc_xs0"
        nc = CacheAttrs(Cacheability.NC)
        a = MemoryAttributes(MemType.Normal, inner=nc, outer=nc, shareability=Shareability.OSH,
                             xs=False)
    elif attr == 0xA0:
        branch = "normal_wt_xs0"
        wt = CacheAttrs(Cacheability.WT, True, False, False)
        a = MemoryAttributes(MemType.Normal, inner=wt, outer=wt, shareability=Shareability.NSH,
                             xs=False)
    elif attr == 0xF0:
        branch = "normal_tagged"
        wb = CacheAttrs(Cacheability.WB, True, True, False)
        a = MemoryAttributes(MemType.Normal, inner=wb, outer=wb, shareability=Shareability.NSH,
                             xs=False, tagged=True)
    else:
        branch = "normal"
        inner: CacheAttrs = decode_ldf_attr(lo).result
        outer: CacheAttrs = decode_ldf_attr(hi).result
        is_nc = inner.cacheability is Cacheability.NC and outer.cacheability is Cacheability.NC
        both_wb = inner.cacheability is Cacheability.WB and outer.cacheability is Cacheability.WB
        a = MemoryAttributes(MemType.Normal, inner=inner, outer=outer,
                             shareability=Shareability.OSH if is_nc else Shareability.NSH,
                             xs=not both_wb)
    if sh is not None and sh is not a.shareability:
        a = a.with_shareability(sh)  # memattrs.shareability = DecodeShareability(sh)
    if not xs:
        a = _without_xs(a)
    inputs = (("attr", attr), ("sh", sh), ("FEAT_XS", xs), ("FEAT_MTE2", mte2))
    return Decision(AslRule.S1DecodeMemAttrs, branch, inputs, a)


def _without_xs(a: MemoryAttributes) -> MemoryAttributes:
    """The attributes with no XS attribute (the PE has no FEAT_XS)."""
    return replace(a, xs=None)


@lru_cache(maxsize=1024)
def _decode_attr(value: int, xs: bool, mte2: bool) -> MairAttr:
    res = _resmair(value, xs, mte2)
    if not res.result:
        dec = _s1_decode(value, None, xs, mte2)
        return MairAttr(value, dec.result, decisions=(res, dec))
    permitted = _allocated(xs, mte2)
    bits = Decision(AslRule.ConstrainUnpredictableBits, _RESMAIR,
                    (("which", _RESMAIR), ("width", 8), ("FEAT_XS", xs), ("FEAT_MTE2", mte2)),
                    permitted)
    need = {"device_xs0": " without FEAT_XS (Device XS=0 encoding 0b0000dd01)",
            "normal_xs0": " without FEAT_XS", "tagged": " without FEAT_MTE2"}.get(res.branch, "")
    if res.branch == "device":
        why = f"reserved (Device, bits[1:0]=0b{value & 3:02b})"
    elif res.branch == "device_xs0":
        why = f"reserved{need}"
    else:
        why = f"reserved (Normal, inner nibble 0b0000{need})"
    why += (f": CONSTRAINED UNPREDICTABLE, acts as an UNKNOWN allocated attribute "
            f"(one of {len(permitted)})")
    return MairAttr(value, None, why, _RESMAIR, (res, bits), permitted)


def decode_attr(value: int, cpu: Cpu = ALL) -> MairAttr:
    """Decode one MAIR_ELx attribute byte (ASL94 S1DecodeMemAttrs) on ``cpu``."""
    if not 0 <= value <= 0xFF:
        raise EncodingError(f"MAIR attribute=0x{value:x}: out of range (0x00..0xff)")
    return _decode_attr(value, bool(cpu.xs), bool(cpu.mte2))


def decode(
    value: int,
    sh: Shareability = Shareability.ISH,
    cpu: Cpu = ALL,
    *,
    field: str = "MAIR attribute",
) -> MemoryAttributes:
    """Decode a defined MAIR byte with the descriptor's shareability; reserved bytes raise.

    The shareability given is the descriptor's; Device and Normal iNC/oNC are Outer Shareable
    whatever it says (ASL94 EffectiveShareability).
    """
    attr = decode_attr(value, cpu)
    if attr.attrs is None:
        raise ReservedError(f"{field}=0x{value:02x}: {attr.reserved}")
    a = attr.attrs
    if a.is_device or a.is_nc:
        return a if a.shareability is Shareability.OSH else a.with_shareability(Shareability.OSH)
    return a.with_shareability(sh)


def encode(attrs: MemoryAttributes) -> int:
    """Canonical MAIR byte for ``attrs``; raises if no byte encodes them."""
    byte = attrs.mair
    if byte is None:
        raise EncodingError(f"MAIR attribute: no encoding for {attrs}")
    return byte


def decode_register(value: int, cpu: Cpu = ALL, *, name: str = "MAIR_EL1") -> tuple[MairAttr, ...]:
    """Split a 64-bit MAIR_ELx value into Attr0..Attr7 (Attr<n> is bits [8n+7:8n])."""
    if not 0 <= value < 1 << 64:
        raise EncodingError(f"{name}=0x{value:x}: out of range (64-bit register)")
    return tuple(decode_attr((value >> (8 * n)) & 0xFF, cpu) for n in range(8))


def encode_register(attrs: list[int] | tuple[int, ...]) -> int:
    """Assemble Attr0..Attr7 bytes into a 64-bit MAIR_ELx value."""
    if len(attrs) > 8:
        raise EncodingError(f"MAIR_ELx: {len(attrs)} attributes given, at most 8 (Attr0..Attr7)")
    value = 0
    for n, byte in enumerate(attrs):
        if not 0 <= byte <= 0xFF:
            raise EncodingError(f"MAIR_ELx.Attr{n}=0x{byte:x}: out of range (0x00..0xff)")
        value |= byte << (8 * n)
    return value

