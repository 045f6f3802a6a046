"""Stage-1 x stage-2 combining, one function per Arm pseudocode rule (ASL94, arch.md sections 4-6).

The small rules (``s2_combine_s1_device`` ...) are total functions on values.  :func:`resolve`
runs the whole path an access takes -- stage-1 decode and its SCTLR_EL1 controls, stage-2 decode
with or without FWB, the HCR_EL2 controls, combining -- and returns every permitted outcome with
the steps that decided it.
"""

from __future__ import annotations

import enum
from itertools import product

from .._value import dataclass, field, replace  # dataclasses, cheaper to import
from ..errors import EncodingError
from . import impdef as _impdef
from .mair import ALL_FEATURES, Features, decode_attr
from .memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
    decode_shareability,
)
from .s2memattr import FwbRule, fwb_meaning, s2_decode_mem_attrs

__all__ = [
    "Access",
    "Controls",
    "Step",
    "Resolution",
    "decode_shareability",
    "s2_combine_s1_device",
    "s2_combine_s1_attr_hints",
    "s2_combine_s1_shareability",
    "effective_shareability",
    "s2_mem_tag_type",
    "s2_combine_s1_mem_attrs",
    "aarch64_s2_apply_fwb_mem_attrs",
    "normal_nc_mem_attr",
    "s1_disabled_output",
    "resolve",
    "combine",
]

_NC = CacheAttrs(Cacheability.NC)
_WB_RWA = CacheAttrs(Cacheability.WB, True, True, False)


class Access(enum.Enum):
    """The access kinds whose attributes differ (ASL AccessType, reduced)."""

    READ = "read"
    WRITE = "write"
    IFETCH = "ifetch"
    TTW = "ttw"  # a stage-1 translation table walk read, itself translated by stage 2
    DCZVA = "dczva"

    @property
    def is_data(self) -> bool:
        return self is not Access.IFETCH


# HCR_EL2 and SCTLR_EL1 bit positions (Arm ARM D24.2, registers.py has the full tables).
_HCR_BITS = {"vm": 0, "ptw": 2, "dc": 12, "cd": 32, "id": 33, "fwb": 46, "dct": 57}
_SCTLR_BITS = {"m": 0, "a": 1, "c": 2, "i": 12}


@dataclass(frozen=True, slots=True)
class Controls:
    """The register controls of the EL1&0 regime under EL2 that change attributes.

    Defaults describe a running KVM guest: stage 2 on (VM), stage 1 on with caches on.
    """

    vm: bool = True
    dc: bool = False
    cd: bool = False
    id: bool = False
    fwb: bool = False
    ptw: bool = False
    dct: bool = False
    m: bool = True
    a: bool = False
    c: bool = True
    i: bool = True

    @classmethod
    def from_registers(
        cls, hcr: int | None = None, sctlr: int | None = None, *, fwb: bool | None = None
    ) -> Controls:
        """Build controls from raw HCR_EL2 / SCTLR_EL1 values (None keeps the defaults)."""
        kw: dict[str, bool] = {}
        if hcr is not None:
            if not 0 <= hcr < 1 << 64:
                raise EncodingError(f"HCR_EL2=0x{hcr:x}: out of range (64-bit register)")
            kw.update({k: bool(hcr >> b & 1) for k, b in _HCR_BITS.items()})
        if sctlr is not None:
            if not 0 <= sctlr < 1 << 64:
                raise EncodingError(f"SCTLR_EL1=0x{sctlr:x}: out of range (64-bit register)")
            kw.update({k: bool(sctlr >> b & 1) for k, b in _SCTLR_BITS.items()})
        if fwb is not None:
            if hcr is not None and kw["fwb"] != fwb:
                raise EncodingError(
                    f"HCR_EL2.FWB={int(kw['fwb'])} conflicts with --{'no-' if not fwb else ''}fwb"
                )
            kw["fwb"] = fwb
        return cls(**kw)

    @property
    def s2_enabled(self) -> bool:
        """ASL94 AArch64.S2Translate walkparams.vm = HCR_EL2.VM OR HCR_EL2.DC."""
        return self.vm or self.dc

    @property
    def s1_enabled(self) -> bool:
        """SCTLR_EL1.M, forced off by HCR_EL2.DC (ASL94 AArch64.S1Enabled)."""
        return self.m and not self.dc


@dataclass(frozen=True, slots=True)
class Step:
    """One decision on the way to the result: the rule (ASL function) and what it did."""

    rule: str
    text: str


@dataclass(frozen=True)
class Resolution:
    """Every permitted outcome of an access's attributes, and how they were decided.

    ``outcomes`` has exactly one element for a defined input; several where the architecture is
    CONSTRAINED UNPREDICTABLE; none where it is UNKNOWN (a reserved MAIR byte).  ``faults`` lists
    permitted fault outcomes (e.g. a Permission fault for an instruction fetch from Device).
    """

    outcomes: tuple[MemoryAttributes, ...]
    steps: tuple[Step, ...] = ()
    reserved: str | None = None
    faults: tuple[str, ...] = ()
    s1: tuple[MemoryAttributes, ...] = field(default=())
    s2: tuple[MemoryAttributes, ...] = field(default=())

    @property
    def single(self) -> MemoryAttributes:
        """The one outcome of a defined input (raises if there is not exactly one)."""
        if len(self.outcomes) != 1 or self.faults:
            raise ValueError(f"not a single outcome: {len(self.outcomes)} outcomes, "
                             f"faults {self.faults}; {self.reserved}")
        return self.outcomes[0]


# --- the small rules -----------------------------------------------------------------------


def s2_combine_s1_device(s1: DeviceType, s2: DeviceType) -> DeviceType:
    """ASL94 S2CombineS1Device: the more restrictive, nGnRnE > nGnRE > nGRE > GRE."""
    return s1 if s1.value <= s2.value else s2


def s2_combine_s1_attr_hints(s1: CacheAttrs, s2: CacheAttrs) -> CacheAttrs:
    """ASL94 S2CombineS1AttrHints: NC if either is NC, else WT if either is WT, else WB; S1 hints."""
    if s1.cacheability is Cacheability.NC or s2.cacheability is Cacheability.NC:
        return _NC
    cache = (Cacheability.WT if Cacheability.WT in (s1.cacheability, s2.cacheability)
             else Cacheability.WB)
    # Stage 2 assigns no allocation hints: the stage-1 hints and transient flag are used.
    return CacheAttrs(cache, s1.read_allocate, s1.write_allocate, s1.transient)


def s2_combine_s1_shareability(s1: Shareability, s2: Shareability) -> Shareability:
    """ASL94 S2CombineS1Shareability: OSH if either is OSH, else ISH if either is ISH, else NSH."""
    return s1 if s1.rank >= s2.rank else s2


def effective_shareability(attrs: MemoryAttributes) -> Shareability:
    """ASL94 EffectiveShareability: Device and Normal iNC/oNC are Outer Shareable."""
    if attrs.is_device or attrs.is_nc:
        return Shareability.OSH
    return attrs.shareability


def s2_mem_tag_type(attrs: MemoryAttributes, s1_tagged: bool, mte2: bool = True) -> bool:
    """ASL94 S2MemTagType: tagged only if S1 is tagged and the result is Normal iWB/oWB RWA nt."""
    if not mte2 or not s1_tagged:
        return False
    return attrs.is_normal and attrs.inner == _WB_RWA and attrs.outer == _WB_RWA


def _with_effective_sh(attrs: MemoryAttributes) -> MemoryAttributes:
    sh = effective_shareability(attrs)
    return attrs if sh is attrs.shareability else replace(attrs, shareability=sh)


def s2_combine_s1_mem_attrs(
    s1: MemoryAttributes, s2: MemoryAttributes, *, mte2: bool = True
) -> MemoryAttributes:
    """ASL94 S2CombineS1MemAttrs (HCR_EL2.FWB = 0): type, cacheability, SH, XS and tags."""
    if s1.device is not None and s2.device is not None:
        result = MemoryAttributes(MemType.Device, device=s2_combine_s1_device(s1.device, s2.device))
    elif s1.device is not None:
        result = MemoryAttributes(MemType.Device, device=s1.device)
    elif s2.device is not None:
        result = MemoryAttributes(MemType.Device, device=s2.device)
    else:
        assert s1.inner and s1.outer and s2.inner and s2.outer
        result = MemoryAttributes(
            MemType.Normal,
            inner=s2_combine_s1_attr_hints(s1.inner, s2.inner),
            outer=s2_combine_s1_attr_hints(s1.outer, s2.outer),
        )
    tagged = s2_mem_tag_type(result, s1.tagged, mte2)
    sh = s2_combine_s1_shareability(s1.shareability, s2.shareability)
    # XS is 0 for Normal iWB/oWB, else S1.XS AND S2.XS.
    xs = False if result.is_wb else (s1.xs and s2.xs)
    return _with_effective_sh(replace(result, shareability=sh, xs=xs, tagged=tagged))


def aarch64_s2_apply_fwb_mem_attrs(
    s1: MemoryAttributes,
    memattr: int,
    sh2: Shareability = Shareability.ISH,
    fnxs: bool = False,
    *,
    mte2: bool = True,
    mte_perm: bool = False,
) -> MemoryAttributes:
    """ASL94 AArch64_S2ApplyFWBMemAttrs (HCR_EL2.FWB = 1): the stage-2 rule applied to S1."""
    meaning = fwb_meaning(memattr)
    if meaning.rule is FwbRule.DEVICE:
        assert meaning.device is not None
        dev = meaning.device
        if s1.device is not None:
            dev = s2_combine_s1_device(s1.device, dev)
        result = MemoryAttributes(MemType.Device, device=dev, xs=s1.xs)
    elif meaning.rule is FwbRule.AS_S1:
        result = s1
    elif meaning.rule is FwbRule.FORCE_WB:

        def level(c: CacheAttrs | None) -> CacheAttrs:
            if s1.is_normal and c is not None and c.cacheability is not Cacheability.NC:
                return CacheAttrs(Cacheability.WB, c.read_allocate, c.write_allocate, c.transient)
            return _WB_RWA

        result = MemoryAttributes(MemType.Normal, inner=level(s1.inner), outer=level(s1.outer),
                                  xs=False)
    else:  # 0b101 (and reserved 0b100): Non-cacheable unless S1 is Device
        if s1.is_device:
            result = s1
        else:
            result = MemoryAttributes(MemType.Normal, inner=_NC, outer=_NC, xs=s1.xs)
    sh = s2_combine_s1_shareability(s1.shareability, sh2)
    tagged = s2_mem_tag_type(result, s1.tagged, mte2)
    # FEAT_MTE_PERM: MemAttr[3:1]=0b111 with a tagged result is NoTagAccess (else bit 3 is RES0).
    notag = mte_perm and (memattr >> 1) & 0b111 == 0b111 and tagged
    xs = False if fnxs else result.xs  # FnXS = 1 forces XS = 0
    return _with_effective_sh(
        replace(result, shareability=sh, tagged=tagged, notagaccess=notag, xs=xs)
    )


def normal_nc_mem_attr(xs: bool = True) -> MemoryAttributes:
    """ASL94 NormalNCMemAttr: Normal iNC/oNC, Outer Shareable, untagged."""
    return MemoryAttributes(MemType.Normal, inner=_NC, outer=_NC, shareability=Shareability.OSH,
                            xs=xs)


def s1_disabled_output(access: Access, controls: Controls, mte2: bool = True) -> MemoryAttributes:
    """ASL94 AArch64.S1DisabledOutput for the EL1&0 regime (arch.md section 6)."""
    if controls.dc:
        # HCR_EL2.DC = 1: Normal iWB/oWB RWA non-transient, Non-shareable, Tagged if HCR_EL2.DCT.
        return MemoryAttributes(MemType.Normal, inner=_WB_RWA, outer=_WB_RWA,
                                shareability=Shareability.NSH, xs=False,
                                tagged=controls.dct and mte2)
    if access is Access.IFETCH:
        if controls.i:
            wt = CacheAttrs(Cacheability.WT, True, False, False)
            return MemoryAttributes(MemType.Normal, inner=wt, outer=wt,
                                    shareability=Shareability.OSH, xs=True)
        return normal_nc_mem_attr()
    return MemoryAttributes(MemType.Device, device=DeviceType.nGnRnE,
                            shareability=Shareability.OSH, xs=True)


# --- the whole path ------------------------------------------------------------------------


def _dedup(items: list[MemoryAttributes]) -> tuple[MemoryAttributes, ...]:
    return tuple(dict.fromkeys(items))


def _stage1(
    s1_attr: int,
    sh1: int,
    controls: Controls,
    access: Access,
    features: Features,
    imp: _impdef.ImpDef,
    steps: list[Step],
) -> tuple[tuple[MemoryAttributes, ...], str | None, tuple[str, ...]]:
    """Stage-1 attributes of the access: (permitted set, reserved note, permitted faults)."""
    if not controls.s1_enabled:
        out = s1_disabled_output(access, controls, features.mte2)
        why = "HCR_EL2.DC=1" if controls.dc else "SCTLR_EL1.M=0"
        steps.append(Step("AArch64.S1DisabledOutput", f"stage 1 off ({why}): {out}"))
        return (out,), None, ()
    dec = decode_attr(s1_attr, features)
    if dec.attrs is None:
        steps.append(Step("S1ConstrainUnpredictableRESMAIR",
                          f"S1 attribute 0x{s1_attr:02x} {dec.reserved}"))
        return (), (f"S1 MAIR attribute 0x{s1_attr:02x}: {dec.reserved}; behaves as an UNKNOWN "
                    "non-reserved attribute"), ()
    notes: list[str] = []
    shs = decode_shareability(sh1)
    if len(shs) > 1:
        notes.append("S1 SH=0b01 is reserved: CONSTRAINED UNPREDICTABLE, one of NSH/ISH/OSH")
    base = dec.attrs
    steps.append(Step("S1DecodeMemAttrs", f"S1 attribute 0x{s1_attr:02x}: {base.short}"))
    results: list[MemoryAttributes] = []
    faults: tuple[str, ...] = ()
    for sh in shs:
        a = replace(base, shareability=sh)
        if access is Access.IFETCH and (a.is_device or not controls.i):
            if a.is_device:
                faults = ("Permission fault at stage 1 (Unpredictable_INSTRDEVICE)",)
            a = normal_nc_mem_attr(a.xs)
        elif access.is_data and a.is_normal and not controls.c:
            nc = normal_nc_mem_attr(a.xs)
            if a.tagged:
                # Unpredictable_S1CTAGGED: the Tag attribute with SCTLR_ELx.C = 0.
                results.append(replace(nc, tagged=True))
            a = nc
        # ImpDefBool("Apply effective shareability at stage 1").
        if imp.apply_effective_shareability_at_s1:
            a = _with_effective_sh(a)
        results.append(a)
    if access is Access.IFETCH and (base.is_device or not controls.i):
        why = "S1 Device" if base.is_device else "SCTLR_EL1.I=0"
        steps.append(Step("AArch64.S1Translate", f"instruction fetch with {why}: Normal NC"))
        if base.is_device:
            notes.append("instruction fetch from S1 Device is CONSTRAINED UNPREDICTABLE "
                         "(Unpredictable_INSTRDEVICE): Permission fault, or treated as Normal NC")
    elif access.is_data and base.is_normal and not controls.c:
        steps.append(Step("AArch64.S1Translate", "SCTLR_EL1.C=0: Normal data access is Normal NC"))
        if base.tagged:
            notes.append("SCTLR_EL1.C=0 on a tagged page: Tag attribute CONSTRAINED UNPREDICTABLE "
                         "(Unpredictable_S1CTAGGED)")
    return _dedup(results), "; ".join(notes) or None, faults


def _s2_adjust(
    s2: MemoryAttributes, controls: Controls, access: Access, steps: list[Step]
) -> tuple[MemoryAttributes | None, str | None]:
    """ASL94 AArch64.S2Translate: TTW/IFETCH/CD replace stage-2 attributes by Normal NC."""
    if access is Access.TTW and s2.is_device:
        if controls.ptw:
            steps.append(Step("AArch64.S2Translate",
                              "stage-1 walk to S2 Device with HCR_EL2.PTW=1: Permission fault"))
            return None, "Permission fault at stage 2 (S1PTW to Device, HCR_EL2.PTW=1)"
        steps.append(Step("AArch64.S2Translate",
                          "stage-1 walk to S2 Device with HCR_EL2.PTW=0: treated as Normal NC"))
        return normal_nc_mem_attr(s2.xs), None
    if access is Access.IFETCH and (s2.is_device or controls.id):
        why = "S2 Device" if s2.is_device else "HCR_EL2.ID=1"
        steps.append(Step("AArch64.S2Translate",
                          f"instruction fetch with {why}: stage 2 treated as Normal NC"))
        return normal_nc_mem_attr(s2.xs), None
    if access.is_data and s2.is_normal and controls.cd:
        steps.append(Step("AArch64.S2Translate",
                          "HCR_EL2.CD=1: Normal stage-2 attributes become Normal NC for data"))
        return normal_nc_mem_attr(s2.xs), None
    return s2, None


def _fwb_step(s1: MemoryAttributes, rule: FwbRule) -> Step:
    """The sentence saying how an FWB rule treated this stage-1 type."""
    if rule is FwbRule.DEVICE:
        if s1.is_device:
            return Step("S2CombineS1Device", "both Device: the more restrictive type")
        return Step("S2CombineS1Device", f"S1 {s1.short} is weaker than S2 Device: Device wins")
    if rule is FwbRule.NC_OR_S1_DEVICE:
        if s1.is_device:
            return Step("AArch64_S2ApplyFWBMemAttrs", f"S1 {s1.short} is Device: S1 kept unchanged")
        return Step("AArch64_S2ApplyFWBMemAttrs", f"S1 {s1.short} is Normal: result Normal NC")
    if rule is FwbRule.FORCE_WB:
        return Step("AArch64_S2ApplyFWBMemAttrs",
                    f"S1 {s1.short} forced to Normal Write-Back (hints from S1 where cacheable)")
    return Step("AArch64_S2ApplyFWBMemAttrs", f"S1 {s1.short} passed through unchanged")


def resolve(
    s1_attr: int,
    s2_memattr: int,
    *,
    sh1: int = 0b11,
    sh2: int = 0b11,
    fnxs: bool = False,
    controls: Controls | None = None,
    access: Access = Access.READ,
    features: Features = ALL_FEATURES,
    imp: _impdef.ImpDef = _impdef.DEFAULT,
) -> Resolution:
    """The effective attributes of an access: S1 MAIR byte x S2 MemAttr under the controls.

    :param s1_attr: the stage-1 MAIR_ELx attribute byte selected by the descriptor's AttrIndx.
    :param s2_memattr: the stage-2 descriptor's MemAttr[3:0].
    :param sh1: the stage-1 descriptor's SH[1:0]; ``sh2``: the stage-2 descriptor's SH[1:0].
    :param fnxs: the stage-2 descriptor's FnXS bit.
    :param controls: HCR_EL2 / SCTLR_EL1 controls (default: KVM guest, FWB off).
    """
    ctl = controls if controls is not None else Controls()
    if not 0 <= s2_memattr <= 0xF:
        raise EncodingError(f"S2 MemAttr=0x{s2_memattr:x}: out of range (4 bits, 0x0..0xf)")
    steps: list[Step] = []
    s1_set, reserved1, faults = _stage1(s1_attr, sh1, ctl, access, features, imp, steps)
    notes = [reserved1] if reserved1 else []
    if not ctl.s2_enabled:
        steps.append(Step("AArch64.S2Translate", "stage 2 off (HCR_EL2.VM=0, DC=0): S1 only"))
        return Resolution(s1_set, tuple(steps), "; ".join(notes) or None, faults, s1_set, ())
    shs2 = decode_shareability(sh2)
    if len(shs2) > 1:
        notes.append("S2 SH=0b01 is reserved: CONSTRAINED UNPREDICTABLE, one of NSH/ISH/OSH")
    results: list[MemoryAttributes] = []
    s2_seen: list[MemoryAttributes] = []
    fault_list = list(faults)
    if ctl.fwb:
        meaning = fwb_meaning(s2_memattr)
        if meaning.reserved:
            notes.append(meaning.reserved)
        steps.append(Step("AArch64_S2ApplyFWBMemAttrs",
                          f"S2 MemAttr 0b{s2_memattr & 7:03b} with FWB: {meaning.rule.value}"
                          + (f" {meaning.device.name}" if meaning.device else "")))
        if s1_set:
            steps.append(_fwb_step(s1_set[0], meaning.rule))
        for s1, sh in product(s1_set, shs2):
            walk = aarch64_s2_apply_fwb_mem_attrs(s1, s2_memattr, sh, fnxs, mte2=features.mte2)
            s2_seen.append(walk)
            adj, fault = _s2_adjust(walk, ctl, access, steps)
            if fault:
                fault_list.append(fault)
            if adj is not None:
                results.append(adj)
    else:
        for sh in shs2:
            dec = s2_decode_mem_attrs(s2_memattr, sh, fnxs)
            if dec.reserved and dec.reserved not in notes:
                notes.append(dec.reserved)
            for s2 in dec.outcomes:
                s2_seen.append(s2)
                adj, fault = _s2_adjust(s2, ctl, access, steps)
                if fault:
                    fault_list.append(fault)
                if adj is None:
                    continue
                for s1 in s1_set:
                    results.append(s2_combine_s1_mem_attrs(s1, adj, mte2=features.mte2))
        steps.append(Step("S2DecodeMemAttrs",
                          f"S2 MemAttr 0b{s2_memattr:04b}: "
                          + ", ".join(dict.fromkeys(a.short for a in s2_seen))))
        if s1_set and s2_seen:
            s1a, s2a = s1_set[0], s2_seen[0]
            if s1a.is_device and s2a.is_device:
                steps.append(Step("S2CombineS1Device", "both Device: the more restrictive type"))
            elif s1a.is_device:
                steps.append(Step("S2CombineS1MemAttrs", "S1 Device over S2 Normal: S1 wins"))
            elif s2a.is_device:
                steps.append(Step("S2CombineS1Device",
                                  f"S1 {s1a.short} is weaker than S2 Device: Device wins"))
            else:
                steps.append(Step("S2CombineS1AttrHints",
                                  "per level: NC if either NC, else WT if either WT, else WB; "
                                  "hints from S1"))
    out = _dedup(results)
    if out:
        steps.append(Step("EffectiveShareability",
                          ", ".join(f"{o.short} {o.shareability.value}" for o in out)))
    note = "; ".join(dict.fromkeys(notes)) or None
    return Resolution(out, tuple(dict.fromkeys(steps)), note, tuple(dict.fromkeys(fault_list)),
                      s1_set, _dedup(s2_seen))


def combine(
    s1: MemoryAttributes,
    s2_memattr: int,
    *,
    fwb: bool,
    sh2: Shareability = Shareability.ISH,
    fnxs: bool = False,
) -> tuple[MemoryAttributes, ...]:
    """Combine decoded S1 attributes with an S2 MemAttr: the permitted set of results."""
    if fwb:
        return (aarch64_s2_apply_fwb_mem_attrs(s1, s2_memattr, sh2, fnxs),)
    dec = s2_decode_mem_attrs(s2_memattr, sh2, fnxs)
    return _dedup([s2_combine_s1_mem_attrs(s1, s2) for s2 in dec.outcomes])
