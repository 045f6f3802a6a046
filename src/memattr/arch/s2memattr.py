"""Stage-2 MemAttr[3:0]: what each value means with HCR_EL2.FWB = 0 and = 1 (arch.md sections 3-4).

Without FWB the field is a memory type of its own (ASL94 S2DecodeMemAttrs), combined with stage 1
later.  With FWB it is a rule applied to the stage-1 attributes (ASL94 AArch64_S2ApplyFWBMemAttrs);
:func:`fwb_meaning` says which rule.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError
from .memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
)

__all__ = [
    "S2Decoded",
    "FwbRule",
    "FwbMeaning",
    "s2_decode_cacheability",
    "s2_decode_mem_attrs",
    "fwb_meaning",
    "describe",
]

_CACHE = {0b01: Cacheability.NC, 0b10: Cacheability.WT, 0b11: Cacheability.WB}


def _check(memattr: int) -> None:
    if not 0 <= memattr <= 0xF:
        raise EncodingError(f"S2 MemAttr=0x{memattr:x}: out of range (4 bits, 0x0..0xf)")


def s2_decode_cacheability(bits2: int) -> tuple[Cacheability, ...]:
    """ASL94 S2DecodeCacheability: 01 NC, 10 WT, 11 WB; 00 is CONSTRAINED UNPREDICTABLE."""
    if bits2 == 0b00:
        # Unpredictable_S2RESMEMATTR: resolved to one of NC, WT, WB.
        return (Cacheability.NC, Cacheability.WT, Cacheability.WB)
    return (_CACHE[bits2],)


@dataclass(frozen=True, slots=True)
class S2Decoded:
    """The stage-2 attributes of a MemAttr value without FWB: the permitted set, and why."""

    memattr: int
    outcomes: tuple[MemoryAttributes, ...]
    reserved: str | None = None


def s2_decode_mem_attrs(
    memattr: int, sh: Shareability = Shareability.ISH, fnxs: bool = False
) -> S2Decoded:
    """ASL94 S2DecodeMemAttrs (HCR_EL2.FWB = 0); stage 2 assigns no hints (they come from S1)."""
    _check(memattr)
    xs = not fnxs  # stage-2 XS = NOT FnXS
    if memattr >> 2 == 0:
        dev = MemoryAttributes(MemType.Device, device=DeviceType(memattr & 3),
                               shareability=Shareability.OSH, xs=xs)
        return S2Decoded(memattr, (dev,))
    outer = _CACHE[memattr >> 2]
    inners = s2_decode_cacheability(memattr & 3)
    outs = []
    for inner in inners:
        nc = inner is Cacheability.NC and outer is Cacheability.NC
        outs.append(MemoryAttributes(
            MemType.Normal, inner=CacheAttrs(inner), outer=CacheAttrs(outer),
            shareability=Shareability.OSH if nc else sh, xs=xs,
        ))
    why = None
    if len(inners) > 1:
        why = (f"S2 MemAttr=0b{memattr:04b}: inner field 0b00 is CONSTRAINED UNPREDICTABLE "
               "(Unpredictable_S2RESMEMATTR): inner NC, WT or WB")
    return S2Decoded(memattr, tuple(outs), why)


class FwbRule(enum.Enum):
    """What an FWB MemAttr[2:0] value does to the stage-1 attributes (AArch64_S2ApplyFWBMemAttrs)."""

    DEVICE = "Device"  # 0dd: Device dd, or the more restrictive of S1 and S2 if S1 is Device
    NC_OR_S1_DEVICE = "NC unless S1 Device"  # 0b101 (and reserved 0b100)
    FORCE_WB = "force Normal WB"  # 0b110
    AS_S1 = "S1 attributes"  # 0b111


@dataclass(frozen=True, slots=True)
class FwbMeaning:
    """The rule an FWB MemAttr value applies, with its Device type and any reserved note."""

    memattr: int
    rule: FwbRule
    device: DeviceType | None
    reserved: str | None


def fwb_meaning(memattr: int, *, mte_perm: bool = False) -> FwbMeaning:
    """Decode MemAttr[3:0] under HCR_EL2.FWB = 1 (arch.md section 4)."""
    _check(memattr)
    notes = []
    if memattr & 0b1000 and not mte_perm:
        # MemAttr[3] is RES0 without FEAT_MTE_PERM; ASL94 ignores it for the type.
        notes.append("MemAttr[3]=1 is RES0 with FWB (no FEAT_MTE_PERM); ASL94 ignores it")
    low = memattr & 0b111
    if low >> 2 == 0:
        return FwbMeaning(memattr, FwbRule.DEVICE, DeviceType(low & 3), "; ".join(notes) or None)
    if low == 0b100:
        # No special case in ASL94: falls into the 0b101 branch. QEMU: Device-nGnRnE; KVM at.c: S1.
        notes.append("FWB MemAttr[2:0]=0b100 is reserved; ASL94 v9.4 treats it as 0b101 "
                     "(QEMU gives Device-nGnRnE, KVM's at.c gives S1)")
        return FwbMeaning(memattr, FwbRule.NC_OR_S1_DEVICE, None, "; ".join(notes))
    rule = {0b101: FwbRule.NC_OR_S1_DEVICE, 0b110: FwbRule.FORCE_WB, 0b111: FwbRule.AS_S1}[low]
    return FwbMeaning(memattr, rule, None, "; ".join(notes) or None)


def describe(memattr: int, fwb: bool) -> str:
    """One line: what this MemAttr means at stage 2, as Arm defines it."""
    if fwb:
        m = fwb_meaning(memattr)
        if m.rule is FwbRule.DEVICE:
            assert m.device is not None
            text = (f"Device {m.device.name} (the more restrictive of S1 and S2 when S1 is "
                    "Device)")
        elif m.rule is FwbRule.NC_OR_S1_DEVICE:
            text = "Normal iNC/oNC, or S1's attributes when S1 is Device"
        elif m.rule is FwbRule.FORCE_WB:
            text = "Normal Write-Back, even when S1 is Device (hints from S1 when cacheable)"
        else:
            text = "S1's attributes unchanged"
        return text + (f" [{m.reserved}]" if m.reserved else "")
    d = s2_decode_mem_attrs(memattr)
    if d.reserved:
        return d.reserved
    a = d.outcomes[0]
    if a.device is not None:
        return f"Device {a.device.name}"
    assert a.inner is not None and a.outer is not None
    return f"Normal inner {a.inner.cacheability.value}, outer {a.outer.cacheability.value}"
