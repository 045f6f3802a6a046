"""Field tables and decoders for the translation control registers a walk reads.

TCR_EL1, VTCR_EL2, HCR_EL2, SCTLR_EL1, TTBR0/1_EL1 (one shared TTBRx_EL1 table) and VTTBR_EL2,
each one :class:`~memattr.arch.fields.Layout` (Arm ARM D24.2, the AArch64 System register
descriptions; field positions cross-checked against Arm's register XML as extracted in
lelegard/arm-cpusysregs and against Linux ``arch/arm64/include/asm/kvm_arm.h``).  Start levels
follow ASL ``AArch64.S1StartLevel``, ``AArch64.S2StartLevel``, ``AArch64.S2InvalidSL`` and
``AArch64.S2InconsistentSL``.

Also :func:`leaf_shareability`, the DS=1 shareability rule.  MAIR_ELx, CTR_EL0 and the ID
registers are in :mod:`memattr.arch.sysregs`.

PAR_EL1 (the result of an AT instruction, ASL ``AArch64.EncodePAR``) has two tables, selected by
PAR_EL1.F: :data:`PAR_EL1` for a translation, :data:`PAR_EL1_FAULT` for a fault.

Not modelled: the VMSAv9-128 (FEAT_D128) register forms, and the PAMax-dependent SL0
restrictions of ``AArch64.S2InvalidSL`` here (:mod:`memattr.arch.walkparams` applies them).
"""

from __future__ import annotations

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError, ReservedError
from .fields import (
    Field,
    FieldKind,
    Layout,
    bits_field,
    enum_field,
    flag_field,
    genmask,
    register,
    res0_field,
    res1_field,
)
from .granule import FINAL_LEVEL, Granule
from .memtype import SH_NAMES

__all__ = [
    "TCR_EL1",
    "VTCR_EL2",
    "HCR_EL2",
    "SCTLR_EL1",
    "TTBRx_EL1",
    "TTBR0_EL1",
    "TTBR1_EL1",
    "VTTBR_EL2",
    "leaf_shareability",
    "TG0_VALUES",
    "TG1_VALUES",
    "RGN_VALUES",
    "PA_SIZE_BITS",
    "tg0_granule",
    "tg1_granule",
    "tg0_encoding",
    "tg1_encoding",
    "pa_size_bits",
    "ps_encoding",
    "effective_pa_bits",
    "s1_min_txsz",
    "max_txsz",
    "s1_start_level",
    "s2_min_txsz",
    "s2_start_level",
    "s2_inconsistent_sl",
    "s2_concatenated_tables",
    "TCRHalf",
    "TCR",
    "decode_tcr_el1",
    "VTCR",
    "decode_vtcr_el2",
    "ttb_base_address",
    "PAR_EL1",
    "PAR_EL1_FAULT",
    "PAR_F",
    "par_layout",
]

F = FieldKind


_flag, _fld, _enum = flag_field, bits_field, enum_field  # the tables below read short
_res0, _res1 = res0_field, res1_field


# =========================================================================================
# Shared encodings (each fact once; the Field tables and decoders read these)
# =========================================================================================

TG0_VALUES: dict[int, str] = {0b00: "4KB", 0b01: "64KB", 0b10: "16KB"}
"""TCR_EL1.TG0 / VTCR_EL2.TG0 (0b11 reserved)."""

TG1_VALUES: dict[int, str] = {0b01: "16KB", 0b10: "4KB", 0b11: "64KB"}
"""TCR_EL1.TG1: a different order from TG0 (0b00 reserved)."""

RGN_VALUES: dict[int, str] = {0b00: "NC", 0b01: "WB-RA-WA", 0b10: "WT-RA-nWA", 0b11: "WB-RA-nWA"}
"""IRGNn/ORGNn: cacheability of table walks (Normal memory)."""

PA_SIZE_BITS: dict[int, int] = {
    0b000: 32, 0b001: 36, 0b010: 40, 0b011: 42, 0b100: 44, 0b101: 48, 0b110: 52,
}
"""TCR_EL1.IPS / VTCR_EL2.PS -> size in bits (0b111 is 56 bits with FEAT_D128: not modelled)."""

_PS_NAMES = {enc: f"{bits} bits" for enc, bits in PA_SIZE_BITS.items()}


# =========================================================================================
# TCR_EL1 (Arm ARM D24.2.194)
# =========================================================================================

TCR_EL1 = register(Layout("TCR_EL1", 64, (
    _res0(63, 62),
    _flag("MTX1", 61, "Extended memory tag checking, TTBR1 (FEAT_MTE_NO_ADDRESS_TAGS)"),
    _flag("MTX0", 60, "Extended memory tag checking, TTBR0"),
    _flag("DS", 59, "52-bit OA for 4KB/16KB granules, SH in TCR (FEAT_LPA2); RES0 for 64KB"),
    _flag("TCMA1", 58, "Unchecked accesses for tag 0b1111 (FEAT_MTE2)"),
    _flag("TCMA0", 57, "Unchecked accesses for tag 0b0000 (FEAT_MTE2)"),
    _flag("E0PD1", 56, "EL0 access via TTBR1 faults (FEAT_E0PD)"),
    _flag("E0PD0", 55, "EL0 access via TTBR0 faults (FEAT_E0PD)"),
    _flag("NFD1", 54, "Non-fault TLB-miss timing disable, TTBR1 (FEAT_SVE)"),
    _flag("NFD0", 53, "Non-fault TLB-miss timing disable, TTBR0 (FEAT_SVE)"),
    _flag("TBID1", 52, "TBI1 applies to data accesses only (FEAT_PAuth)"),
    _flag("TBID0", 51, "TBI0 applies to data accesses only (FEAT_PAuth)"),
    _flag("HWU162", 50, "Hardware use of descriptor bit 62, TTBR1 (FEAT_HPDS2)"),
    _flag("HWU161", 49, "Hardware use of descriptor bit 61, TTBR1"),
    _flag("HWU160", 48, "Hardware use of descriptor bit 60, TTBR1"),
    _flag("HWU159", 47, "Hardware use of descriptor bit 59, TTBR1"),
    _flag("HWU062", 46, "Hardware use of descriptor bit 62, TTBR0 (FEAT_HPDS2)"),
    _flag("HWU061", 45, "Hardware use of descriptor bit 61, TTBR0"),
    _flag("HWU060", 44, "Hardware use of descriptor bit 60, TTBR0"),
    _flag("HWU059", 43, "Hardware use of descriptor bit 59, TTBR0"),
    _flag("HPD1", 42, "Hierarchical permissions disabled, TTBR1 (FEAT_HPDS)"),
    _flag("HPD0", 41, "Hierarchical permissions disabled, TTBR0 (FEAT_HPDS)"),
    _flag("HD", 40, "Hardware dirty state management (FEAT_HAFDBS)"),
    _flag("HA", 39, "Hardware Access flag update (FEAT_HAFDBS)"),
    _flag("TBI1", 38, "Top Byte Ignored, TTBR1"),
    _flag("TBI0", 37, "Top Byte Ignored, TTBR0"),
    _flag("AS", 36, "ASID size: 0 8-bit, 1 16-bit"),
    _res0(35),
    _enum("IPS", 34, 32, _PS_NAMES, "Intermediate Physical Address Size"),
    _enum("TG1", 31, 30, TG1_VALUES, "Granule size for TTBR1_EL1"),
    _enum("SH1", 29, 28, SH_NAMES, "Shareability of TTBR1 table walks"),
    _enum("ORGN1", 27, 26, RGN_VALUES, "Outer cacheability of TTBR1 table walks"),
    _enum("IRGN1", 25, 24, RGN_VALUES, "Inner cacheability of TTBR1 table walks"),
    _flag("EPD1", 23, "Translation table walk disable, TTBR1"),
    _flag("A1", 22, "ASID from TTBR1_EL1 (1) or TTBR0_EL1 (0)"),
    _fld("T1SZ", 21, 16, "Size offset of the TTBR1 region: 2^(64-T1SZ) bytes"),
    _enum("TG0", 15, 14, TG0_VALUES, "Granule size for TTBR0_EL1"),
    _enum("SH0", 13, 12, SH_NAMES, "Shareability of TTBR0 table walks"),
    _enum("ORGN0", 11, 10, RGN_VALUES, "Outer cacheability of TTBR0 table walks"),
    _enum("IRGN0", 9, 8, RGN_VALUES, "Inner cacheability of TTBR0 table walks"),
    _flag("EPD0", 7, "Translation table walk disable, TTBR0"),
    _res0(6),
    _fld("T0SZ", 5, 0, "Size offset of the TTBR0 region: 2^(64-T0SZ) bytes"),
), doc="Translation Control Register (EL1), Arm ARM D24.2.194"))


# =========================================================================================
# VTCR_EL2 (Arm ARM D24.2, VTCR_EL2)
# =========================================================================================

VTCR_EL2 = register(Layout("VTCR_EL2", 64, (
    _res0(63, 46),
    _flag("HDBSS", 45, "Hardware dirty state tracking structure (FEAT_HDBSS)"),
    _flag("HAFT", 44, "Hardware Access flag for Table descriptors (FEAT_HAFT)"),
    _res0(43, 42),
    _flag("TL0", 41, "Check the TopLevel0 permission attribute (FEAT_THE)"),
    _flag("GCSH", 40, "AssuredOnly for privileged GCS accesses (FEAT_THE)"),
    _res0(39),
    _flag("D128", 38, "VMSAv9-128 stage-2 translation (FEAT_D128): not modelled"),
    _flag("S2POE", 37, "Stage-2 permission overlay (FEAT_S2POE)"),
    _flag("S2PIE", 36, "Stage-2 permission indirection (FEAT_S2PIE)"),
    _flag("TL1", 35, "Check the TopLevel1 permission attribute (FEAT_THE)"),
    _flag("AssuredOnly", 34, "Descriptor bit 58 is AssuredOnly (FEAT_THE)"),
    _flag("SL2", 33, "Start level, with SL0, for 4KB and DS=1 (FEAT_LPA2); else RES0"),
    _flag("DS", 32, "52-bit OA for 4KB/16KB granules, SH in VTCR (FEAT_LPA2); RES0 for 64KB"),
    _res1(31),
    _flag("NSA", 30, "Non-secure stage-2 output address space (Secure EL1&0)"),
    _flag("NSW", 29, "Non-secure stage-2 table walk address space (Secure EL1&0)"),
    _flag("HWU62", 28, "Hardware use of stage-2 descriptor bit 62 (FEAT_HPDS2)"),
    _flag("HWU61", 27, "Hardware use of stage-2 descriptor bit 61"),
    _flag("HWU60", 26, "Hardware use of stage-2 descriptor bit 60"),
    _flag("HWU59", 25, "Hardware use of stage-2 descriptor bit 59"),
    _res0(24, 23),
    _flag("HD", 22, "Stage-2 hardware dirty state management (FEAT_HAFDBS)"),
    _flag("HA", 21, "Stage-2 hardware Access flag update (FEAT_HAFDBS)"),
    _res0(20),
    _flag("VS", 19, "VMID size: 0 8-bit, 1 16-bit (FEAT_VMID16)"),
    _enum("PS", 18, 16, _PS_NAMES, "Physical address size for stage 2"),
    _enum("TG0", 15, 14, TG0_VALUES, "Granule size for VTTBR_EL2"),
    _enum("SH0", 13, 12, SH_NAMES, "Shareability of stage-2 table walks"),
    _enum("ORGN0", 11, 10, RGN_VALUES, "Outer cacheability of stage-2 table walks"),
    _enum("IRGN0", 9, 8, RGN_VALUES, "Inner cacheability of stage-2 table walks"),
    _fld("SL0", 7, 6, "Start level of the stage-2 walk; meaning depends on TG0"),
    _fld("T0SZ", 5, 0, "Size offset of the IPA region: 2^(64-T0SZ) bytes"),
), doc="Virtualization Translation Control Register, Arm ARM D24.2 (VTCR_EL2)"))


# =========================================================================================
# HCR_EL2 (Arm ARM D24.2, HCR_EL2); bit numbers agree with Linux asm/kvm_arm.h HCR_*
# =========================================================================================

HCR_EL2 = register(Layout("HCR_EL2", 64, (
    _fld("TWEDEL", 63, 60, "TWE delay (FEAT_TWED)"),
    _flag("TWEDEn", 59, "TWE delay enable (FEAT_TWED)"),
    _flag("TID5", 58, "Trap ID group 5 (GMID_EL1)"),
    _flag("DCT", 57, "Default Cacheability Tagging with DC=1 (FEAT_MTE2)"),
    _flag("ATA", 56, "Allocation Tag Access at EL1/EL0 (FEAT_MTE2)"),
    _flag("TTLBOS", 55, "Trap TLBI ...OS (FEAT_EVT)"),
    _flag("TTLBIS", 54, "Trap TLBI ...IS (FEAT_EVT)"),
    _flag("EnSCXT", 53, "Enable SCXTNUM_ELx access (FEAT_CSV2)"),
    _flag("TOCU", 52, "Trap cache maintenance to PoU (FEAT_EVT)"),
    _flag("AMVOFFEN", 51, "Activity monitors virtual offsets (FEAT_AMUv1p1)"),
    _flag("TICAB", 50, "Trap IC IALLUIS (FEAT_EVT)"),
    _flag("TID4", 49, "Trap ID group 4 (FEAT_EVT)"),
    _flag("GPF", 48, "Granule Protection Faults routed to EL2 (FEAT_RME)"),
    _flag("FIEN", 47, "Fault Injection enable (FEAT_RASv1p1)"),
    _flag("FWB", 46, "Forced Write-Back: stage-2 MemAttr combining (FEAT_S2FWB)"),
    _flag("NV2", 45, "Nested virtualization, VNCR (FEAT_NV2)"),
    _flag("AT", 44, "Trap AT S1E0*/S1E1* (FEAT_NV)"),
    _flag("NV1", 43, "Nested virtualization (FEAT_NV)"),
    _flag("NV", 42, "Nested virtualization (FEAT_NV)"),
    _flag("API", 41, "Pointer authentication instructions not trapped (FEAT_PAuth)"),
    _flag("APK", 40, "Pointer authentication key registers not trapped (FEAT_PAuth)"),
    _flag("TME", 39, "Transactional Memory enable (FEAT_TME, withdrawn); RES0 otherwise"),
    _flag("MIOCNCE", 38, "Mismatched Inner/Outer Cacheable Non-Coherency Enable"),
    _flag("TEA", 37, "Route synchronous External aborts to EL2 (FEAT_RAS)"),
    _flag("TERR", 36, "Trap Error record accesses (FEAT_RAS)"),
    _flag("TLOR", 35, "Trap LOR registers (FEAT_LOR)"),
    _flag("E2H", 34, "EL2 Host: VHE (FEAT_VHE)"),
    _flag("ID", 33, "Stage-2 Instruction access cacheability disable"),
    _flag("CD", 32, "Stage-2 Data access cacheability disable"),
    _flag("RW", 31, "EL1 is AArch64"),
    _flag("TRVM", 30, "Trap reads of virtual memory controls"),
    _flag("HCD", 29, "HVC instruction disable"),
    _flag("TDZ", 28, "Trap DC ZVA"),
    _flag("TGE", 27, "Trap General Exceptions (EL2 host)"),
    _flag("TVM", 26, "Trap writes of virtual memory controls"),
    _flag("TTLB", 25, "Trap TLB maintenance"),
    _flag("TPU", 24, "Trap cache maintenance to PoU"),
    _flag("TPCP", 23, "Trap cache maintenance to PoC/PoP (TPC without FEAT_DPB)"),
    _flag("TSW", 22, "Trap data cache maintenance by set/way"),
    _flag("TACR", 21, "Trap Auxiliary Control Registers"),
    _flag("TIDCP", 20, "Trap IMPLEMENTATION DEFINED functionality"),
    _flag("TSC", 19, "Trap SMC"),
    _flag("TID3", 18, "Trap ID group 3"),
    _flag("TID2", 17, "Trap ID group 2"),
    _flag("TID1", 16, "Trap ID group 1"),
    _flag("TID0", 15, "Trap ID group 0"),
    _flag("TWE", 14, "Trap WFE"),
    _flag("TWI", 13, "Trap WFI"),
    _flag("DC", 12, "Default Cacheability: stage 1 off acts as Normal WB, stage 2 on"),
    _fld("BSU", 11, 10, "Barrier Shareability upgrade"),
    _flag("FB", 9, "Force broadcast of maintenance"),
    _flag("VSE", 8, "Virtual SError pending"),
    _flag("VI", 7, "Virtual IRQ pending"),
    _flag("VF", 6, "Virtual FIQ pending"),
    _flag("AMO", 5, "SError routing to EL2"),
    _flag("IMO", 4, "IRQ routing to EL2"),
    _flag("FMO", 3, "FIQ routing to EL2"),
    _flag("PTW", 2, "Protected Table Walk: stage-1 walks to stage-2 Device fault"),
    _flag("SWIO", 1, "Set/Way Invalidation Override"),
    _flag("VM", 0, "Virtualization enable: stage-2 translation on"),
), doc="Hypervisor Configuration Register, Arm ARM D24.2 (HCR_EL2)"))


# =========================================================================================
# SCTLR_EL1 (Arm ARM D24.2, SCTLR_EL1); several bits are RES1 without their feature
# =========================================================================================

SCTLR_EL1 = register(Layout("SCTLR_EL1", 64, (
    _flag("TIDCP", 63, "Trap IMPLEMENTATION DEFINED at EL0 (FEAT_TIDCP1)"),
    _flag("SPINTMASK", 62, "SP interrupt mask (FEAT_NMI)"),
    _flag("NMI", 61, "Non-maskable interrupts (FEAT_NMI)"),
    _flag("EnTP2", 60, "TPIDR2_EL0 access at EL0 (FEAT_SME)"),
    _flag("TCSO", 59, "Tag Check Store Only at EL1 (FEAT_MTE_STORE_ONLY)"),
    _flag("TCSO0", 58, "Tag Check Store Only at EL0"),
    _flag("EPAN", 57, "Enhanced PAN (FEAT_PAN3)"),
    _flag("EnALS", 56, "LD64B/ST64B at EL0 (FEAT_LS64)"),
    _flag("EnAS0", 55, "ST64BV0 at EL0 (FEAT_LS64_ACCDATA)"),
    _flag("EnASR", 54, "ST64BV at EL0 (FEAT_LS64_V)"),
    _flag("TME", 53, "Transactional Memory at EL1 (FEAT_TME)"),
    _flag("TME0", 52, "Transactional Memory at EL0 (FEAT_TME)"),
    _flag("TMT", 51, "Trivial TSTART at EL1 (FEAT_TME)"),
    _flag("TMT0", 50, "Trivial TSTART at EL0 (FEAT_TME)"),
    _fld("TWEDEL", 49, 46, "TWE delay (FEAT_TWED)"),
    _flag("TWEDEn", 45, "TWE delay enable (FEAT_TWED)"),
    _flag("DSSBS", 44, "Default PSTATE.SSBS on exception entry (FEAT_SSBS)"),
    _flag("ATA", 43, "Allocation Tag Access at EL1 (FEAT_MTE2)"),
    _flag("ATA0", 42, "Allocation Tag Access at EL0 (FEAT_MTE2)"),
    _fld("TCF", 41, 40, "Tag Check Fault at EL1 (FEAT_MTE2)"),
    _fld("TCF0", 39, 38, "Tag Check Fault at EL0 (FEAT_MTE2)"),
    _flag("ITFSB", 37, "Tag check faults synchronized on exception entry (FEAT_MTE2)"),
    _flag("BT1", 36, "PAC Branch Type compatibility at EL1 (FEAT_BTI)"),
    _flag("BT0", 35, "PAC Branch Type compatibility at EL0 (FEAT_BTI)"),
    _flag("EnFPM", 34, "FPMR access (FEAT_FPMR)"),
    _flag("MSCEn", 33, "Memory Copy and Set at EL0 (FEAT_MOPS)"),
    _flag("CMOW", 32, "Cache maintenance needs write permission (FEAT_CMOW)"),
    _flag("EnIA", 31, "Pointer authentication, APIAKey (FEAT_PAuth)"),
    _flag("EnIB", 30, "Pointer authentication, APIBKey (FEAT_PAuth)"),
    _flag("LSMAOE", 29, "Load/store multiple atomicity (FEAT_LSMAOC; RES1 without it)"),
    _flag("nTLSMD", 28, "No trap load/store multiple to Device (FEAT_LSMAOC; RES1 without)"),
    _flag("EnDA", 27, "Pointer authentication, APDAKey (FEAT_PAuth)"),
    _flag("UCI", 26, "EL0 cache maintenance by VA"),
    _flag("EE", 25, "Endianness of EL1 data and stage-1 table walks"),
    _flag("E0E", 24, "Endianness of EL0 data"),
    _flag("SPAN", 23, "Set PAN on exception to EL1 (FEAT_PAN; RES1 without)"),
    _flag("EIS", 22, "Exception entry is context synchronizing (FEAT_ExS; RES1 without)"),
    _flag("IESB", 21, "Implicit Error Synchronization (FEAT_IESB)"),
    _flag("TSCXT", 20, "Trap SCXTNUM_EL0 (FEAT_CSV2_2; RES1 without)"),
    _flag("WXN", 19, "Write permission implies XN"),
    _flag("nTWE", 18, "Do not trap WFE at EL0"),
    _res0(17),
    _flag("nTWI", 16, "Do not trap WFI at EL0"),
    _flag("UCT", 15, "EL0 access to CTR_EL0"),
    _flag("DZE", 14, "EL0 DC ZVA"),
    _flag("EnDB", 13, "Pointer authentication, APDBKey (FEAT_PAuth)"),
    _flag("I", 12, "Stage-1 instruction access Cacheability"),
    _flag("EOS", 11, "Exception exit is context synchronizing (FEAT_ExS; RES1 without)"),
    _flag("EnRCTX", 10, "EL0 prediction restriction instructions (FEAT_SPECRES)"),
    _flag("UMA", 9, "User Mask Access: EL0 access to DAIF"),
    _flag("SED", 8, "SETEND disable (AArch32 EL0)"),
    _flag("ITD", 7, "IT disable (AArch32 EL0)"),
    _flag("nAA", 6, "Non-aligned access for LDAPR/STLR and friends (FEAT_LSE2)"),
    _flag("CP15BEN", 5, "CP15 barrier enable (AArch32 EL0)"),
    _flag("SA0", 4, "SP alignment check at EL0"),
    _flag("SA", 3, "SP alignment check at EL1"),
    _flag("C", 2, "Stage-1 data access Cacheability"),
    _flag("A", 1, "Alignment check"),
    _flag("M", 0, "Stage-1 MMU enable for EL1&0"),
), doc="System Control Register (EL1), Arm ARM D24.2 (SCTLR_EL1)"))


# =========================================================================================
# Translation table base registers (64-bit forms)
# =========================================================================================

TTBRx_EL1 = register(Layout("TTBRx_EL1", 64, (
    _fld("ASID", 63, 48, "ASID (bits[63:56] RES0 with 8-bit ASIDs)"),
    Field("BADDR", 47, 1, F.ADDRESS, addr_shift=1,
          doc="Table base address[47:1]; with a 52-bit OA bits[5:2] hold address[51:48]"),
    _flag("CnP", 0, "Common not Private (FEAT_TTCNP)"),
), doc="TTBR0_EL1 and TTBR1_EL1 (one shared table), Arm ARM D24.2"))
TTBR0_EL1 = TTBRx_EL1
TTBR1_EL1 = TTBRx_EL1

VTTBR_EL2 = register(Layout("VTTBR_EL2", 64, (
    _fld("VMID", 63, 48, "VMID (bits[63:56] RES0 with 8-bit VMIDs, VTCR_EL2.VS=0)"),
    Field("BADDR", 47, 1, F.ADDRESS, addr_shift=1,
          doc="Stage-2 table base address[47:1]; with a 52-bit OA bits[5:2] hold [51:48]"),
    _flag("CnP", 0, "Common not Private (FEAT_TTCNP)"),
), doc="Virtualization Translation Table Base Register, Arm ARM D24.2 (VTTBR_EL2)"))


def ttb_base_address(value: int, pa_bits: int = 48) -> int:
    """The table base held by a TTBRn_EL1/VTTBR_EL2 value (ASL AArch64.S1TTBaseAddress).

    With a 52-bit OA, bits[5:2] hold address[51:48] and the base is 64-byte aligned.
    """
    if pa_bits > 48:
        return (value & genmask(47, 6)) | (((value >> 2) & 0xF) << 48)
    return value & genmask(47, 1)


# =========================================================================================
# The DS=1 shareability rule
# =========================================================================================


def leaf_shareability(desc_sh: int | None, *, ds: bool, walk_sh: int) -> int:
    """SH[1:0] that applies to a block or page descriptor.

    With DS=1 (FEAT_LPA2) descriptor bits[9:8] hold OA[51:50] and the shareability is the
    walk's: TCR_ELx.SH0/SH1 at stage 1, VTCR_EL2.SH0 at stage 2 (ASL AArch64.S1Walk,
    AArch64.S2Walk, AArch64.S2ApplyFWBMemAttrs: ``sh = if walkparams.ds == '1' then
    walkparams.sh else descriptor<9:8>``).

    :param desc_sh: the descriptor's SH[1:0] (None for a DS=1 descriptor, which has none).
    :param ds: TCR_ELx.DS / VTCR_EL2.DS of the walk.
    :param walk_sh: TCR_ELx.SHn of the half in use, or VTCR_EL2.SH0.
    """
    if ds:
        return walk_sh
    if desc_sh is None:
        raise EncodingError("SH: a DS=0 block or page descriptor needs its SH[1:0] (got none)")
    return desc_sh


# =========================================================================================
# Encodings <-> values
# =========================================================================================

_TG0_GRANULE = {enc: Granule.parse(name) for enc, name in TG0_VALUES.items()}
_TG1_GRANULE = {enc: Granule.parse(name) for enc, name in TG1_VALUES.items()}
_GRANULE_TG0 = {g: enc for enc, g in _TG0_GRANULE.items()}
_GRANULE_TG1 = {g: enc for enc, g in _TG1_GRANULE.items()}
_PS_ENCODING = {bits: enc for enc, bits in PA_SIZE_BITS.items()}


def _allowed(values: dict[int, str]) -> str:
    return ", ".join(f"{v:#x} {n}" for v, n in sorted(values.items()))


def tg0_granule(tg0: int, reg: str = "TCR_EL1") -> Granule:
    """The granule of a TG0 encoding (0b00 4KB, 0b01 64KB, 0b10 16KB); 0b11 is reserved."""
    try:
        return _TG0_GRANULE[tg0]
    except KeyError:
        raise ReservedError(
            f"{reg}.TG0={tg0:#x}: reserved (allowed: {_allowed(TG0_VALUES)})"
        ) from None


def tg1_granule(tg1: int, reg: str = "TCR_EL1") -> Granule:
    """The granule of a TG1 encoding (0b01 16KB, 0b10 4KB, 0b11 64KB); 0b00 is reserved."""
    try:
        return _TG1_GRANULE[tg1]
    except KeyError:
        raise ReservedError(
            f"{reg}.TG1={tg1:#x}: reserved (allowed: {_allowed(TG1_VALUES)})"
        ) from None


def tg0_encoding(granule: Granule) -> int:
    """TG0 field value for ``granule``."""
    return _GRANULE_TG0[granule]


def tg1_encoding(granule: Granule) -> int:
    """TG1 field value for ``granule``."""
    return _GRANULE_TG1[granule]


def pa_size_bits(ps: int, field: str = "VTCR_EL2.PS") -> int:
    """Bits of a TCR_EL1.IPS / VTCR_EL2.PS encoding; 0b111 (FEAT_D128, 56 bits) is reserved."""
    try:
        return PA_SIZE_BITS[ps]
    except KeyError:
        raise ReservedError(
            f"{field}={ps:#x}: reserved (allowed: {_allowed(_PS_NAMES)}; 0x7 needs FEAT_D128)"
        ) from None


def ps_encoding(bits: int) -> int:
    """The IPS/PS encoding of a ``bits``-bit address size."""
    try:
        return _PS_ENCODING[bits]
    except KeyError:
        raise EncodingError(
            f"PS: no encoding for {bits} bits (allowed: {sorted(_PS_ENCODING)})"
        ) from None


def effective_pa_bits(ps_bits: int, granule: Granule, ds: bool) -> int:
    """The OA size in effect (ASL AArch64.PhysicalAddressSize).

    52 bits need the 64KB granule (FEAT_LPA) or DS=1 (FEAT_LPA2); otherwise capped at 48.
    """
    if granule is not Granule.K64 and not ds:
        return min(ps_bits, 48)
    return ps_bits


# =========================================================================================
# Input sizes and start levels
# =========================================================================================


def s1_min_txsz(granule: Granule, ds: bool = False, *, lva: bool = False) -> int:
    """Smallest TxSZ (largest VA): 16, or 12 with DS=1 or 64KB+FEAT_LVA (ASL AArch64.S1MinTxSZ)."""
    return 12 if ds or (lva and granule is Granule.K64) else 16


def max_txsz(granule: Granule, *, ttst: bool = False) -> int:
    """Largest TxSZ: 39, or 48 (47 for 64KB) with FEAT_TTST (ASL AArch64.MaxTxSZ)."""
    if not ttst:
        return 39
    return 47 if granule is Granule.K64 else 48


def s2_min_txsz(granule: Granule, ds: bool = False) -> int:
    """Smallest VTCR_EL2.T0SZ: 64 - 52 with 64KB or DS=1, else 64 - 48 (ASL AArch64.S2MinTxSZ).

    Assumes AArch64.PAMax() is 52 when the 52-bit form is possible; a smaller PAMax raises
    the minimum, which is not modelled.
    """
    return 12 if ds or granule is Granule.K64 else 16


def _check_txsz(field: str, txsz: int, lo: int, hi: int, granule: Granule) -> None:
    if not lo <= txsz <= hi:
        raise EncodingError(
            f"{field}={txsz:#x}: out of range for the {granule.value} granule "
            f"(allowed {lo}..{hi}, i.e. {64 - hi}..{64 - lo}-bit input addresses)"
        )


def s1_start_level(
    granule: Granule,
    txsz: int,
    ds: bool = False,
    *,
    lva: bool = False,
    ttst: bool = False,
    field: str = "TCR_EL1.T0SZ",
) -> int:
    """Stage-1 start level from the input size 64 - ``txsz`` (ASL AArch64.S1StartLevel).

    EncodingError naming ``field`` if ``txsz`` is outside the allowed range for the granule.
    """
    _check_txsz(field, txsz, s1_min_txsz(granule, ds, lva=lva), max_txsz(granule, ttst=ttst),
                granule)
    iasize = 64 - txsz
    stride = granule.bits_per_level
    return FINAL_LEVEL - ((iasize - 1 - granule.shift) // stride)


# VTCR_EL2.SL0 (and SL2 for 4KB) -> start level (ASL AArch64.S2StartLevel); keys are SL2:SL0.
_S2_SL = {
    Granule.K4: {0b000: 2, 0b001: 1, 0b010: 0, 0b011: 3, 0b100: -1},
    Granule.K16: {0b00: 3, 0b01: 2, 0b10: 1, 0b11: 0},
    Granule.K64: {0b00: 3, 0b01: 2, 0b10: 1},
}


def s2_start_level(
    granule: Granule, sl0: int, sl2: int = 0, ds: bool = False, *, ttst: bool = False
) -> int:
    """Stage-2 start level from VTCR_EL2.SL0/SL2 (ASL AArch64.S2StartLevel, S2InvalidSL).

    4KB: SL0 0 -> 2, 1 -> 1, 2 -> 0, 3 -> 3 (FEAT_TTST only); SL2=1,SL0=0 -> -1 (DS=1).
    16KB: 0 -> 3, 1 -> 2, 2 -> 1, 3 -> 0 (DS=1 only).  64KB: 0 -> 3, 1 -> 2, 2 -> 1.
    SL2 is RES0 (treated as 0) unless DS=1 with the 4KB granule.  ReservedError otherwise.
    """
    if not 0 <= sl0 <= 3:
        raise EncodingError(f"VTCR_EL2.SL0={sl0:#x}: does not fit [7:6]")
    sl2_eff = sl2 if (ds and granule is Granule.K4) else 0
    key = (sl2_eff << 2) | sl0
    table = _S2_SL[granule]
    level = table.get(key)
    reason = None
    if level is None:
        reason = "reserved"
    elif granule is Granule.K4 and key == 0b011 and not ttst:
        reason = "reserved without FEAT_TTST"
    elif granule is Granule.K16 and sl0 == 0b11 and not ds:
        reason = "reserved unless DS=1 (FEAT_LPA2)"
    if reason is not None or level is None:
        allowed = ", ".join(
            f"{k:#x} level {v}" for k, v in sorted(table.items())
        )
        what = "SL2:SL0" if granule is Granule.K4 and sl2_eff else "SL0"
        raise ReservedError(
            f"VTCR_EL2.{what}={key:#x}: {reason} for the {granule.value} granule "
            f"(encodings: {allowed})"
        )
    return level


def s2_inconsistent_sl(granule: Granule, t0sz: int, start_level: int) -> bool:
    """ASL AArch64.S2InconsistentSL: the start level cannot resolve a 64 - ``t0sz`` bit IPA.

    The start-level table must resolve at least one bit and at most stride + 4 bits (16
    concatenated tables).  Hardware gives a stage-2 level 0 Translation fault.
    """
    levels = FINAL_LEVEL - start_level
    stride = granule.bits_per_level
    iasize = 64 - t0sz
    sl_min = levels * stride + granule.shift + 1
    sl_max = levels * stride + granule.shift + stride + 4
    return iasize < sl_min or iasize > sl_max


def s2_concatenated_tables(granule: Granule, t0sz: int, start_level: int) -> int:
    """Number of concatenated start-level tables for a 64 - ``t0sz`` bit IPA (1..16).

    Arm ARM D8.2 "Concatenated translation tables for the initial stage 2 lookup".
    EncodingError if the start level is inconsistent with T0SZ (ASL AArch64.S2InconsistentSL).
    """
    if s2_inconsistent_sl(granule, t0sz, start_level):
        levels = FINAL_LEVEL - start_level
        stride = granule.bits_per_level
        lo = levels * stride + granule.shift + 1
        hi = lo - 1 + stride + 4
        raise EncodingError(
            f"VTCR_EL2.T0SZ={t0sz:#x}: a {64 - t0sz}-bit IPA cannot start at level "
            f"{start_level} with the {granule.value} granule (needs {lo}..{hi} bits; "
            "ASL AArch64.S2InconsistentSL, a level 0 Translation fault)"
        )
    full = granule.shift + (FINAL_LEVEL - start_level + 1) * granule.bits_per_level
    return 1 << max(0, (64 - t0sz) - full)


# =========================================================================================
# Decoded TCR_EL1 / VTCR_EL2
# =========================================================================================


@dataclass(frozen=True, slots=True)
class TCRHalf:
    """One VA range of TCR_EL1 (TTBR0 or TTBR1).

    ``granule`` and ``start_level`` are None when the walk is disabled (EPDn=1) and TGn/TnSZ
    hold values that would be rejected if it were enabled.
    """

    txsz: int
    granule: Granule | None
    sh: int
    irgn: int
    orgn: int
    epd: bool
    tbi: bool
    tbid: bool
    hpd: bool
    ds: bool
    start_level: int | None

    @property
    def ia_bits(self) -> int:
        """Input (VA) size in bits: 64 - TxSZ."""
        return 64 - self.txsz


@dataclass(frozen=True, slots=True)
class TCR:
    """The TCR_EL1 values a stage-1 EL1&0 walk needs."""

    t0: TCRHalf
    t1: TCRHalf
    ips: int
    ips_bits: int
    a1: bool
    as16: bool
    ha: bool
    hd: bool
    ds: bool


def _tcr_half(
    value: int, n: int, ds: bool, lva: bool, ttst: bool
) -> TCRHalf:
    get = TCR_EL1.get
    txsz = get(value, f"T{n}SZ")
    epd = bool(get(value, f"EPD{n}"))
    tg = get(value, f"TG{n}")
    granule: Granule | None
    start: int | None
    try:
        granule = tg0_granule(tg) if n == 0 else tg1_granule(tg)
        half_ds = ds and granule is not Granule.K64  # DS is RES0 for 64KB
        start = s1_start_level(granule, txsz, half_ds, lva=lva, ttst=ttst,
                               field=f"TCR_EL1.T{n}SZ")
    except (ReservedError, EncodingError):
        if not epd:
            raise
        granule, start, half_ds = None, None, False
    return TCRHalf(
        txsz=txsz,
        granule=granule,
        sh=get(value, f"SH{n}"),
        irgn=get(value, f"IRGN{n}"),
        orgn=get(value, f"ORGN{n}"),
        epd=epd,
        tbi=bool(get(value, f"TBI{n}")),
        tbid=bool(get(value, f"TBID{n}")),
        hpd=bool(get(value, f"HPD{n}")),
        ds=half_ds,
        start_level=start,
    )


def decode_tcr_el1(value: int, *, lva: bool = False, ttst: bool = False) -> TCR:
    """Decode TCR_EL1 for a walk; ReservedError/EncodingError name the bad field.

    :param lva: FEAT_LVA (52-bit VA with 64KB): lowers the minimum TxSZ to 12.
    :param ttst: FEAT_TTST: raises the maximum TxSZ.
    """
    ds = bool(TCR_EL1.get(value, "DS"))
    ips = TCR_EL1.get(value, "IPS")
    return TCR(
        t0=_tcr_half(value, 0, ds, lva, ttst),
        t1=_tcr_half(value, 1, ds, lva, ttst),
        ips=ips,
        ips_bits=pa_size_bits(ips, "TCR_EL1.IPS"),
        a1=bool(TCR_EL1.get(value, "A1")),
        as16=bool(TCR_EL1.get(value, "AS")),
        ha=bool(TCR_EL1.get(value, "HA")),
        hd=bool(TCR_EL1.get(value, "HD")),
        ds=ds,
    )


@dataclass(frozen=True, slots=True)
class VTCR:
    """The VTCR_EL2 values a stage-2 walk needs."""

    t0sz: int
    sl0: int
    sl2: int
    tg0: Granule
    ps: int
    pa_bits: int
    ds: bool
    sh0: int
    irgn0: int
    orgn0: int
    ha: bool
    hd: bool
    vs: bool
    start_level: int
    concatenated: int

    @property
    def ia_bits(self) -> int:
        """IPA size in bits: 64 - T0SZ."""
        return 64 - self.t0sz

    @property
    def effective_pa_bits(self) -> int:
        """PS capped as ASL AArch64.PhysicalAddressSize does (48 unless 64KB or DS=1)."""
        return effective_pa_bits(self.pa_bits, self.tg0, self.ds)

    @property
    def vmid_bits(self) -> int:
        """VMID width: 16 with VS=1, else 8."""
        return 16 if self.vs else 8


def decode_vtcr_el2(value: int, *, ttst: bool = False) -> VTCR:
    """Decode VTCR_EL2 for a walk; ReservedError/EncodingError name the bad field.

    Checks TG0, PS, DS (RES0 for 64KB), T0SZ range, SL0/SL2 and T0SZ/SL0 consistency.
    """
    get = VTCR_EL2.get
    granule = tg0_granule(get(value, "TG0"), "VTCR_EL2")
    ps = get(value, "PS")
    pa_bits = pa_size_bits(ps, "VTCR_EL2.PS")
    ds = bool(get(value, "DS"))
    if ds and granule is Granule.K64:
        raise EncodingError("VTCR_EL2.DS=0x1: RES0 with the 64KB granule (TG0=0x1)")
    t0sz = get(value, "T0SZ")
    _check_txsz("VTCR_EL2.T0SZ", t0sz, s2_min_txsz(granule, ds), max_txsz(granule, ttst=ttst),
                granule)
    sl0 = get(value, "SL0")
    sl2 = get(value, "SL2")
    start = s2_start_level(granule, sl0, sl2, ds, ttst=ttst)
    return VTCR(
        t0sz=t0sz,
        sl0=sl0,
        sl2=sl2,
        tg0=granule,
        ps=ps,
        pa_bits=pa_bits,
        ds=ds,
        sh0=get(value, "SH0"),
        irgn0=get(value, "IRGN0"),
        orgn0=get(value, "ORGN0"),
        ha=bool(get(value, "HA")),
        hd=bool(get(value, "HD")),
        vs=bool(get(value, "VS")),
        start_level=start,
        concatenated=s2_concatenated_tables(granule, t0sz, start),
    )


# =========================================================================================
# PAR_EL1, 64-bit format (PAR_EL1.D128 = 0): written by AT (ASL AArch64.EncodePAR)
# =========================================================================================

PAR_EL1 = register(Layout("PAR_EL1", 64, (
    _fld("ATTR", 63, 56, "Memory attributes, MAIR_ELx format (ASL EncodePARAttrs)"),
    _res0(55, 52),
    Field("PA", 51, 12, F.ADDRESS, addr_shift=12,
          doc="Output address[51:12] (an IPA for AT S1E*, a PA for AT S12E*)"),
    _res1(11),  # NSE with FEAT_RME (not modelled: no Realm regime); RES1 otherwise
    _flag("IMPDEF_10", 10, "IMPLEMENTATION DEFINED (Linux SYS_PAR_EL1_F0_IMPDEF)"),
    _flag("NS", 9, "Non-secure output address space; UNKNOWN for a Non-secure translation"),
    _enum("SH", 8, 7, SH_NAMES, "Shareability (ASL PAREncodeShareability)"),
    _res0(6, 1),
    _flag("F", 0, "0: the translation succeeded"),
), doc="Physical Address Register after a successful AT, Arm ARM D24.2 (PAR_EL1, F=0)"))

PAR_EL1_FAULT = register(Layout("PAR_EL1_FAULT", 64, (
    _fld("IMPDEF_63_48", 63, 48, "IMPLEMENTATION DEFINED ('Faulting PAR')"),
    _res0(47, 16),
    _flag("DirtyBit", 15, "Permission fault due to dirty state (FEAT_S1PIE/S2PIE)"),
    _flag("Overlay", 14, "Permission fault due to an overlay (FEAT_S1POE/S2POE)"),
    _flag("TopLevel", 13, "Permission fault due to TopLevel (FEAT_THE)"),
    _flag("AssuredOnly", 12, "Permission fault due to AssuredOnly (FEAT_THE)"),
    _res1(11),
    _res0(10),
    _flag("S", 9, "Stage of the fault: 0 stage 1, 1 stage 2"),
    _flag("PTW", 8, "Stage-2 fault on a stage-1 translation table walk (S1PTW)"),
    _res0(7),
    _fld("FST", 6, 1, "Fault status code, as ESR_ELx.DFSC (ASL AArch64.PARFaultStatus)"),
    _flag("F", 0, "1: the translation faulted"),
), doc="Physical Address Register after a faulting AT, Arm ARM D24.2 (PAR_EL1, F=1)"))

PAR_F = PAR_EL1.field_mask("F")
"""PAR_EL1.F, the bit that selects between :data:`PAR_EL1` and :data:`PAR_EL1_FAULT`."""


def par_layout(value: int) -> Layout:
    """The PAR_EL1 table that describes ``value``: by PAR_EL1.F."""
    return PAR_EL1_FAULT if value & PAR_F else PAR_EL1
