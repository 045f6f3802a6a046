"""MAIR_ELx: decode and encode stage-1 memory attribute bytes and the whole 64-bit register.

Rules from ASL94 S1DecodeMemAttrs, S1ConstrainUnpredictableRESMAIR, DecodeLDFAttr and DecodeDevice
(arch.md section 1).  Reserved bytes decode to an explicit :class:`MairAttr` with ``reserved`` set,
never to a silent guess.
"""

from __future__ import annotations

from functools import lru_cache

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError, ReservedError
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
    "Features",
    "decode_ldf_attr",
    "decode_attr",
    "decode",
    "encode",
    "decode_register",
    "encode_register",
]


@dataclass(frozen=True, slots=True)
class Features:
    """The features that change MAIR decoding: FEAT_XS and FEAT_MTE2."""

    xs: bool = True
    mte2: bool = True


ALL_FEATURES = Features()


@dataclass(frozen=True, slots=True)
class MairAttr:
    """One decoded MAIR attribute byte: the attributes, or why the byte is reserved.

    MAIR has no SH field: ``attrs`` carries Outer Shareable for Device and Normal iNC/oNC (their
    effective shareability) and Non-shareable as a placeholder otherwise; :func:`decode` applies
    the descriptor's SH.
    """

    value: int
    attrs: MemoryAttributes | None
    reserved: str | None = None
    rule: str | None = None

    @property
    def is_reserved(self) -> bool:
        return self.attrs is None


# ASL94 DecodeLDFAttr: one Normal nibble -> cacheability, hints, transient.
def decode_ldf_attr(nibble: int) -> CacheAttrs:
    """Decode one Normal memory nibble (the caller rules out 0b0000, which is not Normal)."""
    if nibble == 0b0100:
        return CacheAttrs(Cacheability.NC)
    cache = Cacheability.WT if (nibble & 0b0100) == 0 else Cacheability.WB  # 'x0xx' WT, 'x1xx' WB
    ra, wa = bool(nibble & 0b10), bool(nibble & 0b01)
    transient = (nibble & 0b1000) == 0 and (ra or wa)  # transient only with a hint (DecodeLDFAttr)
    return CacheAttrs(cache, ra, wa, transient)


def _reserved(value: int, why: str, rule: str) -> MairAttr:
    return MairAttr(value, None, why, rule)


@lru_cache(maxsize=1024)
def decode_attr(value: int, features: Features = ALL_FEATURES) -> MairAttr:
    """Decode one MAIR_ELx attribute byte (ASL94 S1DecodeMemAttrs)."""
    if not 0 <= value <= 0xFF:
        raise EncodingError(f"MAIR attribute=0x{value:x}: out of range (0x00..0xff)")
    hi, lo = value >> 4, value & 0xF
    if hi == 0:
        dd = DeviceType((lo >> 2) & 3)
        if lo & 0b10:
            # '0000dd1x' is reserved (S1ConstrainUnpredictableRESMAIR).
            return _reserved(
                value,
                f"reserved (Device, bits[1:0]=0b{lo & 3:02b}): CONSTRAINED UNPREDICTABLE",
                "Unpredictable_RESMAIR",
            )
        if lo & 0b01:
            if not features.xs:
                return _reserved(
                    value,
                    "reserved without FEAT_XS (Device XS=0 encoding 0b0000dd01)",
                    "Unpredictable_RESMAIR",
                )
            # DecodeDevice + XS = NOT attr<0>.
            return MairAttr(value, MemoryAttributes(MemType.Device, device=dd,
                                                    shareability=Shareability.OSH, xs=False))
        return MairAttr(value, MemoryAttributes(MemType.Device, device=dd,
                                                shareability=Shareability.OSH, xs=True))
    if lo == 0:
        if value == 0x40 and features.xs:
            nc = CacheAttrs(Cacheability.NC)
            return MairAttr(value, MemoryAttributes(MemType.Normal, inner=nc, outer=nc,
                                                    shareability=Shareability.OSH, xs=False))
        if value == 0xA0 and features.xs:
            wt = CacheAttrs(Cacheability.WT, True, False, False)
            return MairAttr(value, MemoryAttributes(MemType.Normal, inner=wt, outer=wt,
                                                    shareability=Shareability.NSH, xs=False))
        if value == 0xF0 and features.mte2:
            wb = CacheAttrs(Cacheability.WB, True, True, False)
            return MairAttr(value, MemoryAttributes(MemType.Normal, inner=wb, outer=wb,
                                                    shareability=Shareability.NSH, xs=False,
                                                    tagged=True))
        need = {0x40: " without FEAT_XS", 0xA0: " without FEAT_XS", 0xF0: " without FEAT_MTE2"}
        return _reserved(
            value,
            f"reserved (Normal, inner nibble 0b0000{need.get(value, '')}): CONSTRAINED UNPREDICTABLE",
            "Unpredictable_RESMAIR",
        )
    inner, outer = decode_ldf_attr(lo), decode_ldf_attr(hi)
    both_wb = inner.cacheability is Cacheability.WB and outer.cacheability is Cacheability.WB
    sh = Shareability.OSH if (inner.cacheability is Cacheability.NC
                              and outer.cacheability is Cacheability.NC) else Shareability.NSH
    return MairAttr(value, MemoryAttributes(MemType.Normal, inner=inner, outer=outer,
                                            shareability=sh, xs=not both_wb))


def decode(
    value: int,
    sh: Shareability = Shareability.ISH,
    features: Features = ALL_FEATURES,
    *,
    field: str = "MAIR attribute",
) -> MemoryAttributes:
    """Decode a defined MAIR byte with the descriptor's shareability; reserved bytes raise.

    The shareability given is the descriptor's; Device and Normal iNC/oNC are Outer Shareable
    whatever it says (ASL94 EffectiveShareability).
    """
    attr = decode_attr(value, features)
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


def decode_register(
    value: int, features: Features = ALL_FEATURES, *, name: str = "MAIR_EL1"
) -> tuple[MairAttr, ...]:
    """Split a 64-bit MAIR_ELx value into Attr0..Attr7 (Attr<n> is bits [8n+7:8n])."""
    if not 0 <= value < 1 << 64:
        raise EncodingError(f"{name}=0x{value:x}: out of range (64-bit register)")
    return tuple(decode_attr((value >> (8 * n)) & 0xFF, features) for n in range(8))


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


# Shim, not part of the API: the kernel's MT_* indexes and MAIR live in memattr.linux.asm.memory
# (which this layer may not import).  Kept only while memattr.mmu (regime, dump) still defaults
# to Linux's MAIR; tests/linux/test_asm.py checks both equal linux.asm.memory's v5.14+ values.
LINUX_MT = {"MT_NORMAL": 0, "MT_NORMAL_TAGGED": 1, "MT_NORMAL_NC": 2, "MT_DEVICE_nGnRnE": 3,
            "MT_DEVICE_nGnRE": 4}
LINUX_MAIR = encode_register([0xFF, 0xF0, 0x44, 0x00, 0x04])
