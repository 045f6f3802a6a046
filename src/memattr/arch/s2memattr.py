"""Stage-2 MemAttr[3:0]: what each value means with HCR_EL2.FWB = 0 and = 1.

Without FWB the field is a memory type of its own (ASL94 S2DecodeMemAttrs, with
S2DecodeCacheability and DecodeDevice), combined with stage 1 later.  With FWB it selects a rule
applied to the stage-1 attributes (ASL94 AArch64.S2ApplyFWBMemAttrs); :func:`fwb_meaning` records
which.  Both return :class:`~memattr.arch.decision.Decision` records; the meanings depend on the
CPU (FEAT_MTE_PERM gives 0b0100 and MemAttr[3] a meaning, FEAT_XS the FnXS bit).
"""

from __future__ import annotations

import enum
from functools import lru_cache

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import ConfigError, EncodingError
from .cpu import ALL, Cpu
from .decision import AslRule, Decision
from .memtype import (
    Cacheability,
    CacheAttrs,
    MemoryAttributes,
    MemType,
    Shareability,
)

__all__ = [
    "type_label",
    "S2Decoded",
    "FwbRule",
    "FwbMeaning",
    "s2_decode_cacheability",
    "s2_decode_mem_attrs",
    "fwb_meaning",
    "fwb_notagaccess",
    "FWB_CASE_MASK",
]

_CACHE = {0b01: Cacheability.NC, 0b10: Cacheability.WT, 0b11: Cacheability.WB}


def _check(memattr: int) -> None:
    if not 0 <= memattr <= 0xF:
        raise EncodingError(f"S2 MemAttr=0x{memattr:x}: out of range (4 bits, 0x0..0xf)")


@lru_cache(maxsize=4)
def s2_decode_cacheability(bits2: int) -> Decision:
    """ASL94 S2DecodeCacheability: 01 NC, 10 WT, 11 WB; 00 is CONSTRAINED UNPREDICTABLE.

    The result is the tuple of permitted cacheabilities (three for 0b00,
    Unpredictable_S2RESMEMATTR).
    """
    if bits2 == 0b00:
        return Decision(AslRule.S2DecodeCacheability, "Unpredictable_S2RESMEMATTR",
                        (("attr", bits2),), (Cacheability.NC, Cacheability.WT, Cacheability.WB))
    c = _CACHE[bits2]
    return Decision(AslRule.S2DecodeCacheability, c.value, (("attr", bits2),), (c,))


@dataclass(frozen=True, slots=True)
class S2Decoded:
    """The stage-2 attributes of a MemAttr value without FWB: every permitted one, and why.

    :param outcomes: the permitted stage-2 attributes (several where CONSTRAINED UNPREDICTABLE).
    :param reserved: why the value is CONSTRAINED UNPREDICTABLE, or None.
    :param chains: per outcome, the records that decided it; the last is S2DecodeMemAttrs.
    """

    memattr: int
    outcomes: tuple[MemoryAttributes, ...]
    reserved: str | None = None
    chains: tuple[tuple[Decision, ...], ...] = ()

    @property
    def label(self) -> str:
        """The decoded type(s), e.g. 'Device nGnRE' or 'Normal inner WB, outer WB'."""
        return " | ".join(dict.fromkeys(type_label(a) for a in self.outcomes))


def type_label(a: MemoryAttributes) -> str:
    """A stage-2 type in words: 'Device nGnRE', 'Normal inner NC, outer WB' (+ NoTagAccess)."""
    if a.device is not None:
        return f"Device {a.device.name}"
    assert a.inner is not None and a.outer is not None
    text = f"Normal inner {a.inner.cacheability.value}, outer {a.outer.cacheability.value}"
    return text + (", NoTagAccess (FEAT_MTE_PERM)" if a.notagaccess else "")


def s2_decode_mem_attrs(
    memattr: int, sh: Shareability = Shareability.ISH, fnxs: bool = False, cpu: Cpu = ALL
) -> S2Decoded:
    """ASL94 S2DecodeMemAttrs (HCR_EL2.FWB = 0); stage 2 assigns no hints (they come from S1).

    XS = NOT FnXS, as AArch64.S2NextWalkStateLeaf sets it (no XS without FEAT_XS).
    """
    _check(memattr)
    if fnxs and not cpu.xs:
        raise ConfigError(f"S2 FnXS=1: RES0 without FEAT_XS (cpu {cpu.name})")
    return _s2_decode(memattr, sh, fnxs, bool(cpu.xs), bool(cpu.mte_perm))


@lru_cache(maxsize=512)
def _s2_decode(memattr: int, sh: Shareability, fnxs: bool, has_xs: bool,
               mte_perm: bool) -> S2Decoded:
    xs: bool | None = (not fnxs) if has_xs else None
    base = (("attr", memattr), ("sh", sh), ("fnxs", fnxs), ("FEAT_XS", has_xs),
            ("FEAT_MTE_PERM", mte_perm))
    if memattr >> 2 == 0:
        from .mair import decode_device

        dd = decode_device(memattr & 3)
        dev = MemoryAttributes(MemType.Device, device=dd.result, shareability=sh, xs=xs)
        rec = Decision(AslRule.S2DecodeMemAttrs, "device", base, dev)
        return S2Decoded(memattr, (dev,), None, ((dd, rec),))
    if memattr == 0b0100 and mte_perm:
        # FEAT_MTE_PERM: Normal iWB/oWB with NoTagAccess.
        wb = s2_decode_cacheability(0b11)
        a = MemoryAttributes(MemType.Normal, inner=CacheAttrs(Cacheability.WB),
                             outer=CacheAttrs(Cacheability.WB), shareability=sh, xs=xs,
                             notagaccess=True)
        rec = Decision(AslRule.S2DecodeMemAttrs, "notagaccess", base, a)
        return S2Decoded(memattr, (a,), None, ((wb, rec),))
    outer_dec = s2_decode_cacheability(memattr >> 2)
    inner_dec = s2_decode_cacheability(memattr & 3)
    outer = outer_dec.result[0]
    chains = []
    outs = []
    for inner in inner_dec.result:
        a = MemoryAttributes(MemType.Normal, inner=CacheAttrs(inner), outer=CacheAttrs(outer),
                             shareability=sh, xs=xs)
        branch = "normal" if len(inner_dec.result) == 1 else f"normal_inner_{inner.value}"
        rec = Decision(AslRule.S2DecodeMemAttrs, branch, base, a)
        chains.append((outer_dec, inner_dec, rec))
        outs.append(a)
    why = None
    if len(inner_dec.result) > 1:
        why = (f"S2 MemAttr=0b{memattr:04b}: inner field 0b00 is CONSTRAINED UNPREDICTABLE "
               "(Unpredictable_S2RESMEMATTR): inner NC, WT or WB")
    return S2Decoded(memattr, tuple(outs), why, tuple(chains))


class FwbRule(enum.Enum):
    """What an FWB MemAttr[2:0] value does to the stage-1 attributes (AArch64.S2ApplyFWBMemAttrs)."""

    DEVICE = "Device"  # 0dd: Device dd, or the more restrictive of S1 and S2 if S1 is Device
    NC_OR_S1_DEVICE = "NC unless S1 Device"  # 0b101 (and reserved 0b100)
    FORCE_WB = "force Normal WB"  # 0b110
    AS_S1 = "S1 attributes"  # 0b111


@dataclass(frozen=True, slots=True)
class FwbMeaning:
    """The rule an FWB MemAttr value applies, with its Device type and any reserved note."""

    memattr: int
    rule: FwbRule
    device: object  # DeviceType | None
    reserved: str | None

    @property
    def case(self) -> int:
        """MemAttr[2:0], the case of AArch64.S2ApplyFWBMemAttrs (MemAttr[3] is FEAT_MTE_PERM's)."""
        return self.memattr & FWB_CASE_MASK

    @property
    def notagaccess_if_tagged(self) -> bool:
        """MemAttr[3:1] = 0b111: with FEAT_MTE_PERM, NoTagAccess where the result is Tagged."""
        return fwb_notagaccess(self.memattr)

    @property
    def label(self) -> str:
        """'Device nGnRE', 'NC unless S1 Device', 'force Normal WB' or 'S1 attributes'."""
        dev = getattr(self.device, "name", None)
        return f"{self.rule.value} {dev}" if dev else self.rule.value

    @property
    def description(self) -> str:
        """The rule in a sentence, with the reserved note if any (``memattr decode s2``)."""
        dev = getattr(self.device, "name", None)
        text = {
            FwbRule.DEVICE: f"Device {dev} (the more restrictive of S1 and S2 when S1 is Device)",
            FwbRule.NC_OR_S1_DEVICE: "Normal iNC/oNC, or S1's attributes when S1 is Device",
            FwbRule.FORCE_WB: ("Normal Write-Back, even when S1 is Device (hints from S1 when "
                               "cacheable)"),
            FwbRule.AS_S1: "S1's attributes unchanged",
        }[self.rule]
        return text + (f" [{self.reserved}]" if self.reserved else "")


FWB_CASE_MASK = 0b0111
"""MemAttr[2:0]: the bits that pick the case of AArch64.S2ApplyFWBMemAttrs."""
_FWB_NOTAG = 0b1110  # MemAttr[3:1] = 0b111


def fwb_notagaccess(memattr: int) -> bool:
    """Whether FWB MemAttr[3:1] = 0b111: NoTagAccess where the result is Tagged, with
    FEAT_MTE_PERM (ASL AArch64.S2ApplyFWBMemAttrs; without it MemAttr[3] is RES0)."""
    return memattr & _FWB_NOTAG == _FWB_NOTAG


def fwb_meaning(memattr: int, cpu: Cpu = ALL) -> Decision:
    """Which case of ASL94 AArch64.S2ApplyFWBMemAttrs MemAttr[3:0] selects (HCR_EL2.FWB = 1).

    The result is a :class:`FwbMeaning`; the branch names the case (``"0dd"``, ``"101"``...).
    """
    _check(memattr)
    return _fwb_meaning(memattr, bool(cpu.mte_perm))


@lru_cache(maxsize=32)
def _fwb_meaning(memattr: int, mte_perm: bool) -> Decision:
    from .mair import decode_device

    notes = []
    if memattr & 0b1000 and not mte_perm:
        # MemAttr[3] is RES0 without FEAT_MTE_PERM; ASL94 ignores it for the type.
        notes.append("MemAttr[3]=1 is RES0 with FWB (no FEAT_MTE_PERM); ASL94 ignores it")
    low = memattr & FWB_CASE_MASK
    inputs = (("attr", memattr), ("FEAT_MTE_PERM", mte_perm))
    if low >> 2 == 0:
        m = FwbMeaning(memattr, FwbRule.DEVICE, decode_device(low & 3).result,
                       "; ".join(notes) or None)
        return Decision(AslRule.AArch64_S2ApplyFWBMemAttrs, "0dd", inputs, m)
    if low == 0b100:
        # No special case in ASL94: s2_attr<1:0> = '00' falls into the 0b101 branch.
        notes.append("FWB MemAttr[2:0]=0b100 is reserved; ASL94 v9.4 treats it as 0b101 "
                     "(QEMU gives Device-nGnRnE, KVM's at.c gives S1)")
        m = FwbMeaning(memattr, FwbRule.NC_OR_S1_DEVICE, None, "; ".join(notes))
        return Decision(AslRule.AArch64_S2ApplyFWBMemAttrs, "100", inputs, m)
    rule = {0b101: FwbRule.NC_OR_S1_DEVICE, 0b110: FwbRule.FORCE_WB, 0b111: FwbRule.AS_S1}[low]
    m = FwbMeaning(memattr, rule, None, "; ".join(notes) or None)
    return Decision(AslRule.AArch64_S2ApplyFWBMemAttrs, f"{low:03b}", inputs, m)


