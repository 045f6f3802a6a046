"""Memory attribute values, spelt as Arm spells them (ASL94 MemoryAttributes and friends).

These are plain values: frozen, slotted, hashable.  The rules that produce and combine them
live in :mod:`memattr.arch.mair`, :mod:`memattr.arch.s2memattr` and :mod:`memattr.arch.combine`.
"""

from __future__ import annotations

import enum

from .._value import dataclass, replace  # dataclasses, cheaper to import
from ..errors import EncodingError

__all__ = [
    "MemType",
    "DeviceType",
    "Cacheability",
    "Shareability",
    "SH_NAMES",
    "decode_shareability",
    "CacheAttrs",
    "MemoryAttributes",
    "device",
    "normal",
    "NORMAL_NC",
    "NORMAL_WB",
    "DEVICE_nGnRnE",
    "DEVICE_nGnRE",
    "DEVICE_nGRE",
    "DEVICE_GRE",
]


class MemType(enum.Enum):
    """ASL MemType: Device or Normal."""

    Device = "Device"
    Normal = "Normal"

    # Members are singletons compared by identity: hash them by identity too (C speed; the
    # default Enum.__hash__ hashes the name in Python on every dict look-up).
    __hash__ = object.__hash__


class DeviceType(enum.IntEnum):
    """ASL DeviceType; the value is the 'dd' encoding, so a lower value is more restrictive."""

    nGnRnE = 0
    nGnRE = 1
    nGRE = 2
    GRE = 3

    @property
    def gathering(self) -> bool:
        """G: several accesses may be merged into one bus transaction."""
        return self is DeviceType.GRE

    @property
    def reordering(self) -> bool:
        """R: accesses to the same peripheral may be reordered."""
        return self in (DeviceType.nGRE, DeviceType.GRE)

    @property
    def early_ack(self) -> bool:
        """E: an intermediate point may return the write response."""
        return self is not DeviceType.nGnRnE


class Cacheability(enum.Enum):
    """ASL MemAttr_NC / MemAttr_WT / MemAttr_WB."""

    NC = "NC"
    WT = "WT"
    WB = "WB"

    __hash__ = object.__hash__  # identity, as MemType

    @property
    def rank(self) -> int:
        """Weakness order used by combining: NC (0) < WT (1) < WB (2)."""
        return _CACHE_RANK[self]


_CACHE_RANK = {Cacheability.NC: 0, Cacheability.WT: 1, Cacheability.WB: 2}


class Shareability(enum.Enum):
    """ASL Shareability; SH field encodings 0b00 NSH, 0b10 OSH, 0b11 ISH (0b01 reserved)."""

    NSH = "NSH"
    ISH = "ISH"
    OSH = "OSH"

    __hash__ = object.__hash__  # identity, as MemType

    @property
    def rank(self) -> int:
        """Strength order used by S2CombineS1Shareability: NSH (0) < ISH (1) < OSH (2)."""
        return _SH_RANK[self]

    @property
    def encoding(self) -> int:
        """The SH[1:0] field value."""
        return _SH_ENC[self]


_SH_RANK = {Shareability.NSH: 0, Shareability.ISH: 1, Shareability.OSH: 2}
_SH_ENC = {Shareability.NSH: 0b00, Shareability.OSH: 0b10, Shareability.ISH: 0b11}
_SH_BY_ENC = {enc: sh for sh, enc in _SH_ENC.items()}

SH_NAMES: dict[int, str] = {sh.encoding: sh.value for sh in Shareability}
"""SH[1:0] encodings, from :class:`Shareability` (0b01 is reserved)."""


def decode_shareability(sh: int) -> tuple[Shareability, ...]:
    """ASL94 DecodeShareability: 0b01 is CONSTRAINED UNPREDICTABLE (any of NSH, ISH, OSH)."""
    if sh == 0b01:
        return (Shareability.NSH, Shareability.ISH, Shareability.OSH)
    if sh not in _SH_BY_ENC:
        raise EncodingError(f"SH=0x{sh:x}: out of range (2 bits)")
    return (_SH_BY_ENC[sh],)


@dataclass(frozen=True, slots=True)
class CacheAttrs:
    """ASL MemAttrHints for one level (inner or outer): cacheability, allocation hints, transient.

    For NC the hints do not apply and are always False (canonical form).
    """

    cacheability: Cacheability
    read_allocate: bool = False
    write_allocate: bool = False
    transient: bool = False

    def __post_init__(self) -> None:
        if self.cacheability is Cacheability.NC and (
            self.read_allocate or self.write_allocate or self.transient
        ):
            raise ValueError("CacheAttrs: Non-cacheable takes no allocation or transient hints")
        if self.transient and not (self.read_allocate or self.write_allocate):
            raise ValueError("CacheAttrs: transient needs an allocation hint (DecodeLDFAttr)")

    @property
    def nibble(self) -> int:
        """The MAIR nibble that encodes these attributes (ASL DecodeLDFAttr inverted)."""
        if self.cacheability is Cacheability.NC:
            return 0b0100
        rw = (2 if self.read_allocate else 0) | (1 if self.write_allocate else 0)
        if self.cacheability is Cacheability.WT:
            return (0b0000 if self.transient else 0b1000) | rw
        return (0b0100 if self.transient else 0b1100) | rw

    @property
    def hints(self) -> str:
        """Arm's hint spelling: 'No', 'WA', 'RA' or 'RWA'."""
        return ("No", "WA", "RA", "RWA")[(2 if self.read_allocate else 0) | int(self.write_allocate)]

    def __str__(self) -> str:
        if self.cacheability is Cacheability.NC:
            return "NC"
        text = self.cacheability.value
        if self.hints != "No":
            text += "-" + self.hints
        if self.transient:
            text += "-T"
        return text

    def to_json(self) -> dict[str, object]:
        """The CACHE object of the JSON contract."""
        return {
            "cacheability": self.cacheability.value,
            "read_allocate": self.read_allocate,
            "write_allocate": self.write_allocate,
            "transient": self.transient,
        }


CACHE_NC = CacheAttrs(Cacheability.NC)
CACHE_WB_RWA = CacheAttrs(Cacheability.WB, True, True, False)


@dataclass(frozen=True, slots=True)
class MemoryAttributes:
    """ASL MemoryAttributes: the type, cacheability, shareability, XS and tagging of an access.

    :param memtype: Device or Normal.
    :param device: the Device type when ``memtype`` is Device, else None.
    :param inner: inner cacheability when Normal, else None.
    :param outer: outer cacheability when Normal, else None.
    :param shareability: NSH, ISH or OSH.
    :param xs: the XS attribute: True means the access may take longer (TLBI/DSB nXS do not
        wait for it); None when the PE does not implement FEAT_XS, so that no XS attribute
        exists (JSON ``null``, text omits it).
    :param tagged: MemTag_AllocationTagged (FEAT_MTE2).
    :param notagaccess: FEAT_MTE_PERM NoTagAccess.
    """

    memtype: MemType
    device: DeviceType | None = None
    inner: CacheAttrs | None = None
    outer: CacheAttrs | None = None
    shareability: Shareability = Shareability.OSH
    xs: bool | None = True
    tagged: bool = False
    notagaccess: bool = False

    def __post_init__(self) -> None:
        if self.memtype is MemType.Device:
            if self.device is None or self.inner is not None or self.outer is not None:
                raise ValueError("MemoryAttributes: Device needs a device type and no cacheability")
        elif self.device is not None or self.inner is None or self.outer is None:
            raise ValueError("MemoryAttributes: Normal needs inner and outer and no device type")

    # --- classification -------------------------------------------------------------
    @property
    def is_device(self) -> bool:
        return self.memtype is MemType.Device

    @property
    def is_normal(self) -> bool:
        return self.memtype is MemType.Normal

    @property
    def is_nc(self) -> bool:
        """Normal inner and outer Non-cacheable."""
        return (
            self.inner is not None
            and self.outer is not None
            and self.inner.cacheability is Cacheability.NC
            and self.outer.cacheability is Cacheability.NC
        )

    @property
    def is_wb(self) -> bool:
        """Normal inner and outer Write-Back."""
        return (
            self.inner is not None
            and self.outer is not None
            and self.inner.cacheability is Cacheability.WB
            and self.outer.cacheability is Cacheability.WB
        )

    @property
    def is_cacheable(self) -> bool:
        """Normal with either level cacheable (WT or WB)."""
        return self.is_normal and not self.is_nc

    # --- encodings --------------------------------------------------------------------
    @property
    def mair(self) -> int | None:
        """The canonical MAIR_ELx attribute byte for these attributes, or None if none encodes them.

        Shareability is not part of MAIR and is ignored here.  Device XS=0 needs the FEAT_XS
        encodings 0b0000dd01; Normal XS=0 other than WB/WB exists only as 0x40 and 0xA0; tagged
        Normal exists only as 0xF0 (FEAT_MTE2).
        """
        if self.notagaccess:
            return None
        if self.device is not None:
            return (self.device.value << 2) | (0 if self.xs in (True, None) else 1)
        assert self.inner is not None and self.outer is not None
        if self.tagged:
            return 0xF0 if (self.inner == CACHE_WB_RWA and self.outer == CACHE_WB_RWA) else None
        both_wb = self.is_wb
        if self.xs is None or self.xs == (not both_wb):
            # XS is what the generic nibble encoding implies.
            if self.inner.nibble == 0 or self.outer.nibble == 0:
                return None
            return (self.outer.nibble << 4) | self.inner.nibble
        # XS differs from the generic rule: only the FEAT_XS bytes can express that.
        if not self.xs and self.is_nc:
            return 0x40
        wt_ra = CacheAttrs(Cacheability.WT, True, False, False)
        if not self.xs and self.inner == wt_ra and self.outer == wt_ra:
            return 0xA0
        return None

    def with_shareability(self, sh: Shareability) -> MemoryAttributes:
        return replace(self, shareability=sh)

    # --- presentation -----------------------------------------------------------------
    @property
    def short(self) -> str:
        """Compact name: 'Device-nGnRE', 'Normal-NC', 'Normal-WB' or 'Normal-iWB-oNC'..."""
        if self.device is not None:
            return f"Device-{self.device.name}"
        assert self.inner is not None and self.outer is not None
        ic, oc = self.inner.cacheability, self.outer.cacheability
        base = f"Normal-{ic.value}" if ic is oc else f"Normal-i{ic.value}-o{oc.value}"
        return base + ("-Tagged" if self.tagged else "")

    def __str__(self) -> str:
        if self.device is not None:
            text = f"Device-{self.device.name}"
        else:
            assert self.inner is not None and self.outer is not None
            text = f"Normal i{self.inner} o{self.outer}"
            if self.tagged:
                text += " Tagged"
            if self.notagaccess:
                text += " NoTagAccess"
        xs = "" if self.xs is None else f", XS={int(self.xs)}"
        return f"{text}, {self.shareability.value}{xs}"

    def to_json(self) -> dict[str, object]:
        """The ATTR object of the JSON contract (see README)."""
        return {
            "type": self.memtype.value,
            "device": self.device.name if self.device is not None else None,
            "inner": self.inner.to_json() if self.inner is not None else None,
            "outer": self.outer.to_json() if self.outer is not None else None,
            "shareability": self.shareability.value,
            "xs": self.xs,
            "tagged": self.tagged,
            "mair": self.mair,
        }


def device(dt: DeviceType, *, xs: bool = True) -> MemoryAttributes:
    """Device memory of type ``dt``; Device is always Outer Shareable (EffectiveShareability)."""
    return MemoryAttributes(MemType.Device, device=dt, shareability=Shareability.OSH, xs=xs)


def normal(
    inner: CacheAttrs,
    outer: CacheAttrs | None = None,
    *,
    shareability: Shareability = Shareability.ISH,
    xs: bool | None = None,
    tagged: bool = False,
) -> MemoryAttributes:
    """Normal memory; XS defaults to the MAIR rule (0 when both levels are WB, else 1)."""
    outer = inner if outer is None else outer
    if xs is None:
        xs = not (inner.cacheability is Cacheability.WB and outer.cacheability is Cacheability.WB)
    if inner.cacheability is Cacheability.NC and outer.cacheability is Cacheability.NC:
        shareability = Shareability.OSH
    return MemoryAttributes(
        MemType.Normal, inner=inner, outer=outer, shareability=shareability, xs=xs, tagged=tagged
    )


DEVICE_nGnRnE = device(DeviceType.nGnRnE)
DEVICE_nGnRE = device(DeviceType.nGnRE)
DEVICE_nGRE = device(DeviceType.nGRE)
DEVICE_GRE = device(DeviceType.GRE)
NORMAL_NC = normal(CACHE_NC)
NORMAL_WB = normal(CACHE_WB_RWA)
