"""Walk parameters from the translation registers and the PE (ASL AArch64.GetS1TTWParams and
AArch64.GetS2TTWParams), and the register checks AArch64.S1Translate / AArch64.S2Translate make
before walking.

A register value the walk cannot use is not an exception here: it is the *reason* for the
level-0 Translation fault the walk takes (``fault`` and ``rule`` of :class:`S1Params` /
:class:`S2Params`).  Which features exist comes from one :class:`~memattr.arch.cpu.Cpu`:

- TCR_EL1.DS / VTCR_EL2.DS count only with FEAT_LPA2 and the 4KB or 16KB granule; VTCR_EL2.SL2
  only with DS=1 and 4KB.  TCR_EL1.HA/HD and VTCR_EL2.HA/HD only with FEAT_HAFDBS, HCR_EL2.FWB
  only with FEAT_S2FWB, HCR_EL2.PTW only with HCR_EL2.TGE=0.
- The output size is ASL AArch64.PhysicalAddressSize: IPS/PS capped by the granule's format and
  by PAMax (``Cpu.pa_max``).  Descriptor address forms follow the PE, not IPS/PS: a 64KB
  descriptor holds OA[51:48] in bits[15:12] with FEAT_LPA (:func:`lpa_64k`).
- TxSZ outside [AArch64.S1MinTxSZ / S2MinTxSZ, AArch64.MaxTxSZ] faults or is clamped
  (AArch64.S1TxSZFaults / S2TxSZFaults, IMPLEMENTATION DEFINED in :mod:`memattr.arch.impdef`);
  a reserved or unimplemented granule is the IMPLEMENTATION DEFINED one (AArch64.S1DecodeTG0);
  VTCR_EL2.SL0/SL2 that AArch64.S2InvalidSL or AArch64.S2InconsistentSL reject fault.

Not modelled: FEAT_D128 (128-bit descriptors, TCR2/SKL), FEAT_S1PIE/S2PIE/POE, FEAT_E0PD,
FEAT_THE, FEAT_MEC, FEAT_HAFT, Secure and Realm regimes.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import
from . import registers as R
from .cpu import ALL, Cpu, lpa_64k
from .fields import genmask
from .granule import FINAL_LEVEL, Granule, level_shift
from .impdef import DEFAULT as IMPDEF_DEFAULT
from .impdef import ImpDef
from .sysregs import MAIR_ATTR

__all__ = [
    "WalkRule",
    "S1Params",
    "S2Params",
    "lpa_64k",
    "decode_ps",
    "physical_address_size",
    "oa_out_of_range",
    "s1_min_txsz",
    "s2_min_txsz",
    "max_txsz",
    "s1_decode_tg",
    "s2_decode_tg0",
    "s2_invalid_sl",
    "tt_base_address",
    "ttbr_baddr",
    "s1_walk_params",
    "s2_walk_params",
    "effective_hcr",
    "VA_RANGE_BIT",
    "va_range",
    "addr_top",
    "walk_mair_attr",
]


class WalkRule(enum.Enum):
    """Arm pseudocode functions (ASL, v9.4 names) that decide a walk's faults: the ``rule`` of
    the :class:`~memattr.arch.decision.Decision` a walk fault carries."""

    S1TxSZFaults = "AArch64.S1TxSZFaults"
    S2TxSZFaults = "AArch64.S2TxSZFaults"
    S2InvalidSL = "AArch64.S2InvalidSL"
    S2InconsistentSL = "AArch64.S2InconsistentSL"
    VAIsOutOfRange = "AArch64.VAIsOutOfRange"
    IPAIsOutOfRange = "AArch64.IPAIsOutOfRange"
    S1Walk = "AArch64.S1Walk"
    S2Walk = "AArch64.S2Walk"
    DecodeDescriptorType = "AArch64.DecodeDescriptorType"
    S1CheckPermissions = "AArch64.S1CheckPermissions"
    S2CheckPermissions = "AArch64.S2CheckPermissions"
    CheckAlignment = "AArch64.CheckAlignment"
    S1HasAlignmentFault = "AArch64.S1HasAlignmentFault"
    S2HasAlignmentFault = "AArch64.S2HasAlignmentFault"
    S1DisabledOutput = "AArch64.S1DisabledOutput"

_GRANULE_KIB = {Granule.K4: 4, Granule.K16: 16, Granule.K64: 64}
_KIB_GRANULE = {kib: g for g, kib in _GRANULE_KIB.items()}
_PS_RESERVED_BITS = 56  # IPS/PS 0b111: 56 bits with FEAT_D128, decoded so by the ASL anyway

_TCR = R.TCR_EL1
_VTCR = R.VTCR_EL2
_HCR = R.HCR_EL2
_HCR_PTW = _HCR.field_mask("PTW")
_HCR_TGE = _HCR.field_mask("TGE")
_HCR_FWB = _HCR.field_mask("FWB")


VA_RANGE_BIT = 55
"""ASL AArch64.GetVARange: VA[55] selects the TTBR1_EL1 range (1) or TTBR0_EL1 (0)."""


def va_range(va: int) -> int:
    """0 for the TTBR0_EL1 range, 1 for TTBR1_EL1 (ASL AArch64.GetVARange)."""
    return (va >> VA_RANGE_BIT) & 1


def addr_top(tbi: bool, tbid: bool, ifetch: bool) -> int:
    """ASL AArch64.AddrTop: the top address bit that translation uses -- 55 with TBI (not for
    an instruction fetch with TBID), else 63."""
    return VA_RANGE_BIT if (tbi and not (tbid and ifetch)) else 63


# ASL WalkMemAttrs: IRGN<n>/ORGN<n> -> the Normal cacheability of table walks, as the MAIR_ELx
# nibble that encodes it: 0b00 Non-cacheable, 0b01 Write-Back Read/Write-Allocate, 0b10
# Write-Through Read-Allocate no Write-Allocate, 0b11 Write-Back Read-Allocate no Write-Allocate.
_RGN_NIBBLE = {0b00: 0b0100, 0b01: 0b1111, 0b10: 0b1010, 0b11: 0b1110}


def walk_mair_attr(irgn: int, orgn: int) -> int:
    """The MAIR_ELx attribute byte meaning what ASL WalkMemAttrs gives table walks with these
    IRGN/ORGN (Inner in Attr<n>[3:0], Outer in [7:4], MAIR_ATTR's table)."""
    return MAIR_ATTR.encode(Outer=_RGN_NIBBLE[orgn], Inner=_RGN_NIBBLE[irgn])


def decode_ps(ps: int) -> int:
    """IPS/PS encoding -> bits, as ASL AArch64.PhysicalAddressSize decodes it (0b111 is 56)."""
    return R.PA_SIZE_BITS.get(ps, _PS_RESERVED_BITS)


def physical_address_size(ps: int, granule: Granule, ds: bool, cpu: Cpu = ALL) -> int:
    """The output address size of a walk (ASL AArch64.PhysicalAddressSize, 64-bit descriptors).

    IPS/PS decoded, capped at 48 bits unless 52-bit addresses are possible for the granule
    (64KB with FEAT_LPA, 4KB/16KB with FEAT_LPA2), and at PAMax.  With 4KB/16KB and DS=0 no
    descriptor or TTBR can hold an address bit above 47, so the size is also capped at 48 there
    (the same faults as the ASL's 52; it keeps :class:`~memattr.mmu.regime.Geometry` honest).
    """
    ps_bits = decode_ps(ps)
    if granule is not Granule.K64 and not cpu.lpa2:
        max_ps = min(48, cpu.pa_max)
    elif granule is Granule.K64 and not lpa_64k(cpu):
        max_ps = min(48, cpu.pa_max)
    else:
        max_ps = min(52, cpu.pa_max)
    size = min(ps_bits, max_ps)
    if granule is not Granule.K64 and not ds:
        size = min(size, 48)
    return size


def oa_out_of_range(address: int, oa_bits: int) -> bool:
    """ASL AArch64.OAOutOfRange: ``address`` has a bit set at or above ``oa_bits``."""
    return address >> oa_bits != 0


def s1_min_txsz(granule: Granule, ds: bool, cpu: Cpu = ALL) -> int:
    """ASL AArch64.S1MinTxSZ: 12 with DS=1, or 64KB with FEAT_LVA; else 16."""
    return R.s1_min_txsz(granule, ds, lva=cpu.lva)


def max_txsz(granule: Granule, cpu: Cpu = ALL) -> int:
    """ASL AArch64.MaxTxSZ: 39, or 48 (47 for 64KB) with FEAT_TTST."""
    return R.max_txsz(granule, ttst=cpu.ttst)


def s2_min_txsz(granule: Granule, ds: bool, cpu: Cpu = ALL) -> int:
    """ASL AArch64.S2MinTxSZ (AArch64 stage 1): 64 - the largest IPA PAMax allows."""
    if lpa_64k(cpu):
        ips = min(48 if (granule is not Granule.K64 and not ds) else 52, cpu.pa_max)
    else:
        ips = cpu.pa_max
    return 64 - ips


def _txsz_fault(txsz: int, lo: int, hi: int, must_below: bool, imp: ImpDef, field: str,
                rule: WalkRule, feature: str) -> tuple[int, str | None, str | None]:
    """(TxSZ to use, fault reason or None, note or None) for a TxSZ outside [lo, hi]."""
    name = rule.value
    if txsz < lo:
        if must_below or imp.fault_on_txsz_below_minimum:
            why = "required with " + feature if must_below else "IMPLEMENTATION DEFINED"
            return txsz, (f"{field}=0x{txsz:x} is below the minimum {lo} ({64 - lo}-bit input; "
                          f"{name}: a fault, {why})"), None
        return lo, None, f"{field}=0x{txsz:x} below the minimum: used as {lo} ({name})"
    if txsz > hi:
        if imp.fault_on_txsz_above_maximum:
            return txsz, (f"{field}=0x{txsz:x} is above the maximum {hi} ({64 - hi}-bit input; "
                          f"{name}: a fault, IMPLEMENTATION DEFINED)"), None
        return hi, None, f"{field}=0x{txsz:x} above the maximum: used as {hi} ({name})"
    return txsz, None, None


def _impdef_granule(implemented: tuple[int, ...], imp: ImpDef) -> Granule:
    if imp.tg_encoded_granule_kib in implemented:
        return _KIB_GRANULE[imp.tg_encoded_granule_kib]
    for kib in (4, 16, 64):
        if kib in implemented:
            return _KIB_GRANULE[kib]
    return Granule.K4  # a Cpu always implements one; unreachable with a valid Cpu


def s1_decode_tg(tg: int, n: int, cpu: Cpu = ALL, imp: ImpDef = IMPDEF_DEFAULT,
                 ) -> tuple[Granule, str | None]:
    """ASL AArch64.S1DecodeTG0 / S1DecodeTG1: the granule of TCR_EL1.TG<n>, and a note when the
    encoding is reserved or the granule unimplemented (the IMPLEMENTATION DEFINED one is used)."""
    names = R.TG0_VALUES if n == 0 else R.TG1_VALUES
    name = names.get(tg)
    granule = Granule.parse(name) if name is not None else None
    if granule is not None and _GRANULE_KIB[granule] in cpu.granules:
        return granule, None
    used = _impdef_granule(cpu.granules, imp)
    why = "reserved" if granule is None else f"{granule} not implemented by {cpu.name}"
    return used, (f"TCR_EL1.TG{n}=0x{tg:x} ({why}): the {used} granule is used "
                  f"(AArch64.S1DecodeTG{n}, IMPLEMENTATION DEFINED)")


def s2_decode_tg0(tg: int, cpu: Cpu = ALL, imp: ImpDef = IMPDEF_DEFAULT,
                  ) -> tuple[Granule, str | None]:
    """ASL AArch64.S2DecodeTG0: the granule of VTCR_EL2.TG0 (see :func:`s1_decode_tg`)."""
    name = R.TG0_VALUES.get(tg)
    granule = Granule.parse(name) if name is not None else None
    if granule is not None and _GRANULE_KIB[granule] in cpu.s2_granules:
        return granule, None
    used = _impdef_granule(cpu.s2_granules, imp)
    why = "reserved" if granule is None else f"{granule} not implemented at stage 2 by {cpu.name}"
    return used, (f"VTCR_EL2.TG0=0x{tg:x} ({why}): the {used} granule is used "
                  "(AArch64.S2DecodeTG0, IMPLEMENTATION DEFINED)")


def s2_invalid_sl(granule: Granule, sl0: int, sl2: int, ds: bool, cpu: Cpu = ALL) -> str | None:
    """ASL AArch64.S2InvalidSL: why VTCR_EL2.SL0 (SL2) is invalid for the PE, or None."""
    if granule is Granule.K4:
        key = (sl2 << 2) | sl0
        if sl2 and (sl0 & 1 or sl0 & 2):
            return f"VTCR_EL2.SL2:SL0=0x{key:x} is reserved for the 4k granule"
        if key == 0b010 and cpu.pa_max < 44:
            return f"VTCR_EL2.SL0=0x2 (level 0) needs PAMax >= 44 ({cpu.name}: {cpu.pa_max})"
        if key == 0b011 and not cpu.ttst:
            return "VTCR_EL2.SL0=0x3 (level 3) needs FEAT_TTST"
        return None
    if granule is Granule.K16:
        if sl0 == 0b11 and not ds:
            return "VTCR_EL2.SL0=0x3 (level 0) needs DS=1 with the 16k granule"
        if sl0 == 0b10 and cpu.pa_max < 42:
            return f"VTCR_EL2.SL0=0x2 (level 1) needs PAMax >= 42 ({cpu.name}: {cpu.pa_max})"
        return None
    if sl0 == 0b11:
        return "VTCR_EL2.SL0=0x3 is reserved for the 64k granule"
    if sl0 == 0b10 and cpu.pa_max < 44:
        return f"VTCR_EL2.SL0=0x2 (level 1) needs PAMax >= 44 ({cpu.name}: {cpu.pa_max})"
    return None


def tt_base_address(ttbr: int, granule: Granule, ia_bits: int, start_level: int, ps: int,
                    ds: bool, cpu: Cpu = ALL) -> int:
    """ASL AArch64.S1TTBaseAddress / AArch64.S2TTBaseAddress (64-bit descriptors).

    BADDR[47:1]; with DS=1, or the 64KB granule with FEAT_LPA and IPS/PS = 52 bits (0b110),
    TTBR bits[5:2] are address[51:48] and the base is at least 64-byte aligned.  Bits below the
    size of the (concatenated) root table are ignored (the ASL aligns the base).
    """
    levels = FINAL_LEVEL - start_level
    stride = granule.bits_per_level
    tsize = ia_bits - (levels * stride + granule.shift) + 3
    wide = ds or (granule is Granule.K64 and lpa_64k(cpu) and ps == R.ps_encoding(52))
    if wide:
        tsize = max(tsize, 6)
    base = R.ttb_base_address(ttbr, 52 if wide else 48)
    return base & ~genmask(tsize - 1, 0) if tsize > 0 else base


def ttbr_baddr(addr: int) -> int:
    """The TTBRn_EL1 / VTTBR_EL2 BADDR bits for a root table at ``addr`` (the inverse of
    :func:`tt_base_address`): address[47:1] in place; a 52-bit address (64-byte aligned) has
    address[51:48] in bits[5:2]."""
    if addr >> 48:
        return (addr & genmask(47, 6)) | ((addr >> 48) & genmask(3, 0)) << 2
    return addr & genmask(47, 1)


# =========================================================================================
# Stage 1
# =========================================================================================


@dataclass(frozen=True, slots=True)
class S1Params:
    """The walk parameters of one VA range of the EL1&0 stage 1 (ASL S1TTWParams).

    :param n: 0 for the TTBR0_EL1 range, 1 for TTBR1_EL1.
    :param granule: the granule used (AArch64.S1DecodeTG<n>).
    :param txsz: T<n>SZ as used (clamped when out of range and the PE does not fault).
    :param ia_bits: 64 - txsz.  :param start_level: ASL AArch64.S1StartLevel.
    :param ds: TCR_EL1.DS in effect (FEAT_LPA2, 4KB/16KB).
    :param ps: TCR_EL1.IPS.  :param oa_bits: ASL AArch64.PhysicalAddressSize.
    :param base: the root table address (ASL AArch64.S1TTBaseAddress).
    :param epd: EPD<n>.  :param tbi: TBI<n>.  :param tbid: TBID<n>.  :param hpd: HPD<n>.
    :param ha: hardware Access flag update in effect.  :param hd: hardware dirty state.
    :param sh: SH<n>.  :param irgn: IRGN<n>.  :param orgn: ORGN<n>.
    :param fault: why a walk of this range takes a level-0 Translation fault before reading any
        descriptor (register content the PE cannot walk with), or None.
    :param rule: the ASL function that decided ``fault``.
    :param notes: IMPLEMENTATION DEFINED choices applied (granule used, TxSZ clamped).
    """

    n: int
    granule: Granule
    txsz: int
    ia_bits: int
    start_level: int
    ds: bool
    ps: int
    oa_bits: int
    base: int
    epd: bool
    tbi: bool
    tbid: bool
    hpd: bool
    ha: bool
    hd: bool
    sh: int
    irgn: int
    orgn: int
    fault: str | None = None
    rule: WalkRule | None = None
    notes: tuple[str, ...] = ()


def s1_walk_params(tcr: int, ttbr: int, n: int, cpu: Cpu = ALL,
                   imp: ImpDef = IMPDEF_DEFAULT) -> S1Params:
    """The walk parameters of the TTBR<n>_EL1 range (ASL AArch64.GetS1TTWParams, EL1&0) and the
    TxSZ check of AArch64.S1Translate (AArch64.S1TxSZFaults)."""
    get = _TCR.get
    notes: list[str] = []
    granule, note = s1_decode_tg(get(tcr, f"TG{n}"), n, cpu, imp)
    if note:
        notes.append(note)
    ds = bool(get(tcr, "DS")) and cpu.lpa2 and granule is not Granule.K64
    ps = get(tcr, "IPS")
    oa_bits = physical_address_size(ps, granule, ds, cpu)
    lo, hi = s1_min_txsz(granule, ds, cpu), max_txsz(granule, cpu)
    txsz, fault, note = _txsz_fault(get(tcr, f"T{n}SZ"), lo, hi, cpu.lva, imp,
                                    f"TCR_EL1.T{n}SZ", WalkRule.S1TxSZFaults, "FEAT_LVA")
    if note:
        notes.append(note)
    ia_bits = 64 - txsz
    start = FINAL_LEVEL - (ia_bits - 1 - granule.shift) // granule.bits_per_level
    base = 0
    if fault is None:
        base = tt_base_address(ttbr, granule, ia_bits, start, ps, ds, cpu)
    ha = cpu.ha and bool(get(tcr, "HA"))
    return S1Params(
        n=n, granule=granule, txsz=txsz, ia_bits=ia_bits, start_level=start, ds=ds, ps=ps,
        oa_bits=oa_bits, base=base, epd=bool(get(tcr, f"EPD{n}")), tbi=bool(get(tcr, f"TBI{n}")),
        tbid=bool(get(tcr, f"TBID{n}")), hpd=bool(get(tcr, f"HPD{n}")), ha=ha,
        hd=ha and cpu.hd and bool(get(tcr, "HD")), sh=get(tcr, f"SH{n}"),
        irgn=get(tcr, f"IRGN{n}"), orgn=get(tcr, f"ORGN{n}"), fault=fault,
        rule=WalkRule.S1TxSZFaults if fault else None, notes=tuple(notes),
    )


# =========================================================================================
# Stage 2
# =========================================================================================


@dataclass(frozen=True, slots=True)
class S2Params:
    """The walk parameters of the EL1&0 stage 2 (ASL S2TTWParams, Non-secure).

    VTCR_EL2 is interpreted only when stage 2 is enabled (HCR_EL2.VM or DC, see
    :func:`effective_hcr`); a ``fault`` here matters only then.

    :param granule: the granule used (AArch64.S2DecodeTG0).  :param txsz: T0SZ as used.
    :param ia_bits: 64 - txsz.  :param sl0: VTCR_EL2.SL0.  :param sl2: SL2 in effect.
    :param start_level: ASL AArch64.S2StartLevel (None when SL0/SL2 is invalid).
    :param concat: concatenated root tables (1..16; 1 when not walkable).
    :param ds: DS in effect.  :param ps: VTCR_EL2.PS.  :param oa_bits: PhysicalAddressSize.
    :param base: the root table address (ASL AArch64.S2TTBaseAddress).
    :param sh: SH0.  :param irgn: IRGN0.  :param orgn: ORGN0.
    :param ha: stage-2 hardware Access flag update.  :param hd: stage-2 hardware dirty state.
    :param vmid: VTTBR_EL2.VMID (8 bits unless VTCR_EL2.VS=1).
    :param fault: why every stage-2 walk takes a level-0 Translation fault (AArch64.S2TxSZFaults,
        AArch64.S2InvalidSL, AArch64.S2InconsistentSL), or None.  :param rule: that function.
    :param notes: IMPLEMENTATION DEFINED choices applied.
    """

    granule: Granule
    txsz: int
    ia_bits: int
    sl0: int
    sl2: int
    start_level: int | None
    concat: int
    ds: bool
    ps: int
    oa_bits: int
    base: int
    sh: int
    irgn: int
    orgn: int
    ha: bool
    hd: bool
    vmid: int
    fault: str | None = None
    rule: WalkRule | None = None
    notes: tuple[str, ...] = ()


def s2_walk_params(vtcr: int, vttbr: int, cpu: Cpu = ALL,
                   imp: ImpDef = IMPDEF_DEFAULT) -> S2Params:
    """The stage-2 walk parameters (ASL AArch64.NSS2TTWParams) and the register checks of
    AArch64.S2Translate: S2TxSZFaults, then S2InvalidSL or S2InconsistentSL."""
    get = _VTCR.get
    notes: list[str] = []
    granule, note = s2_decode_tg0(get(vtcr, "TG0"), cpu, imp)
    if note:
        notes.append(note)
    ds = bool(get(vtcr, "DS")) and cpu.lpa2 and granule is not Granule.K64
    sl0 = get(vtcr, "SL0")
    sl2 = get(vtcr, "SL2") if (ds and granule is Granule.K4) else 0
    ps = get(vtcr, "PS")
    oa_bits = physical_address_size(ps, granule, ds, cpu)
    lo, hi = s2_min_txsz(granule, ds, cpu), max_txsz(granule, cpu)
    txsz, fault, note = _txsz_fault(get(vtcr, "T0SZ"), lo, hi, lpa_64k(cpu), imp,
                                    "VTCR_EL2.T0SZ", WalkRule.S2TxSZFaults, "FEAT_LPA")
    rule = WalkRule.S2TxSZFaults if fault else None
    if note:
        notes.append(note)
    ia_bits = 64 - txsz
    start: int | None = None
    concat = 1
    if fault is None:
        fault = s2_invalid_sl(granule, sl0, sl2, ds, cpu)
        if fault is not None:
            rule = WalkRule.S2InvalidSL
        else:
            start = R.s2_start_level(granule, sl0, sl2, ds, ttst=True)
            if R.s2_inconsistent_sl(granule, txsz, start):
                lv = FINAL_LEVEL - start
                lo_ia = lv * granule.bits_per_level + granule.shift + 1
                hi_ia = lo_ia + granule.bits_per_level - 1 + 4
                fault = (f"VTCR_EL2.SL0=0x{sl0:x} starts at level {start}, which resolves a "
                         f"{lo_ia}..{hi_ia}-bit IPA, but VTCR_EL2.T0SZ=0x{txsz:x} gives "
                         f"{ia_bits} bits")
                rule = WalkRule.S2InconsistentSL
                start = None
            else:
                concat = 1 << max(0, ia_bits - level_shift(granule, start)
                                  - granule.bits_per_level)
    base = 0
    if start is not None:
        base = tt_base_address(vttbr, granule, ia_bits, start, ps, ds, cpu)
    vmid = R.VTTBR_EL2.get(vttbr, "VMID")
    if not get(vtcr, "VS"):
        vmid &= genmask(7, 0)
    ha = cpu.ha and bool(get(vtcr, "HA"))
    return S2Params(
        granule=granule, txsz=txsz, ia_bits=ia_bits,
        sl0=sl0, sl2=sl2, start_level=start, concat=concat, ds=ds, ps=ps, oa_bits=oa_bits,
        base=base, sh=get(vtcr, "SH0"), irgn=get(vtcr, "IRGN0"), orgn=get(vtcr, "ORGN0"),
        ha=ha, hd=ha and cpu.hd and bool(get(vtcr, "HD")), vmid=vmid, fault=fault, rule=rule,
        notes=tuple(notes),
    )


def effective_hcr(hcr: int, cpu: Cpu = ALL) -> int:
    """HCR_EL2 as the walk sees it: FWB only with FEAT_S2FWB, PTW only with TGE=0
    (ASL AArch64.NSS2TTWParams: walkparams.fwb, walkparams.ptw)."""
    if not cpu.s2fwb:
        hcr &= ~_HCR_FWB
    if hcr & _HCR_TGE:
        hcr &= ~_HCR_PTW
    return hcr
