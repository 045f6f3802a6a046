"""ESR_ELx and HPFAR_EL2: the syndrome an exception reports, as field tables; decode and encode.

Every bit position comes from one :class:`~memattr.arch.fields.Layout`: ``ESR_ELx`` (EC, IL,
ISS, ISS2), one ISS layout per ISS encoding of the Arm ARM ("ISS encoding for an exception
from a Data Abort", "... from a WF* instruction" ...), the ISS2 layouts, and ``HPFAR_EL2``.
Source: Arm ARM (DDI 0487) D24.2 ESR_EL2 (the ISS encodings are shared by ESR_EL1/EL2/EL3) and
D24.2 HPFAR_EL2; exception-class names follow Linux ``arch/arm64/include/asm/esr.h``
(``ESR_ELx_EC_*``), whose ISS field positions were used as a cross-check.

:func:`decode_esr` names every exception class and decodes the ISS of each one Arm defines;
:func:`encode_esr` and :func:`encode_abort_esr` are the only ESR encoders, :func:`encode_hpfar`
and :func:`hpfar_ipa` the only HPFAR ones.  The fault status codes (DFSC/IFSC) are one table,
:data:`FSC_TABLE`, in :mod:`memattr.arch.fsc` (re-exported here).
"""

from __future__ import annotations

import enum

from .._lazy import built_on_use
from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import EncodingError
from .fields import (
    LAYOUTS,
    Field,
    FieldKind,
    Layout,
    bits_field,
    enum_field,
    flag_field,
    register,
    register_lazy,
    res0_field,
)
from .fsc import FSC_TABLE, FaultKind, FaultStatus, decode_fsc, encode_fsc

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "EC",
    "EC_MEANING",
    "FaultKind",
    "FaultStatus",
    "FSC_TABLE",
    "decode_fsc",
    "encode_fsc",
    "ESR_ELx",
    "ISS_LAYOUTS",
    "ISS2_LAYOUTS",
    "iss_layout",
    "iss2_layout",
    "Syndrome",
    "decode_esr",
    "encode_esr",
    "encode_abort_esr",
    "HPFAR_EL2",
    "encode_hpfar",
    "hpfar_ipa",
]

F = FieldKind


class EC(enum.IntEnum):
    """ESR_ELx.EC[31:26], every exception class Arm allocates (names as Linux ESR_ELx_EC_*)."""

    UNKNOWN = 0x00
    WFx = 0x01
    CP15_32 = 0x03
    CP15_64 = 0x04
    CP14_MR = 0x05
    CP14_LS = 0x06
    FP_ASIMD = 0x07
    CP10_ID = 0x08
    PAC = 0x09
    OTHER = 0x0A
    CP14_64 = 0x0C
    BTI = 0x0D
    ILL = 0x0E
    SVC32 = 0x11
    HVC32 = 0x12
    SMC32 = 0x13
    SYS128 = 0x14
    SVC64 = 0x15
    HVC64 = 0x16
    SMC64 = 0x17
    SYS64 = 0x18
    SVE = 0x19
    ERET = 0x1A
    TSTART = 0x1B
    FPAC = 0x1C
    SME = 0x1D
    GPC = 0x1E
    IMP_DEF = 0x1F
    IABT_LOW = 0x20  # Instruction Abort from a lower Exception level
    IABT_CUR = 0x21
    PC_ALIGN = 0x22
    DABT_LOW = 0x24  # Data Abort from a lower Exception level
    DABT_CUR = 0x25
    SP_ALIGN = 0x26
    MOPS = 0x27
    FP_EXC32 = 0x28
    FP_EXC64 = 0x2C
    GCS = 0x2D
    SERROR = 0x2F
    BREAKPT_LOW = 0x30
    BREAKPT_CUR = 0x31
    SOFTSTP_LOW = 0x32
    SOFTSTP_CUR = 0x33
    WATCHPT_LOW = 0x34
    WATCHPT_CUR = 0x35
    BKPT32 = 0x38
    VECTOR32 = 0x3A
    BRK64 = 0x3C
    PROFILING = 0x3D


# Arm ARM D24.2 ESR_EL2, table of EC values ("Meaning" column, shortened).  GPC and IMP_DEF are
# reported in ESR_EL3 only; TSTART belongs to FEAT_TME, since withdrawn from the architecture.
EC_MEANING: dict[EC, str] = {
    EC.UNKNOWN: "Unknown reason",
    EC.WFx: "Trapped WF* instruction",
    EC.CP15_32: "Trapped MCR or MRC access with coproc 0b1111 (AArch32)",
    EC.CP15_64: "Trapped MCRR or MRRC access with coproc 0b1111 (AArch32)",
    EC.CP14_MR: "Trapped MCR or MRC access with coproc 0b1110 (AArch32)",
    EC.CP14_LS: "Trapped LDC or STC access (AArch32)",
    EC.FP_ASIMD: "Access to SME, SVE, Advanced SIMD or floating-point trapped by CPACR/CPTR",
    EC.CP10_ID: "Trapped VMRS access from the ID group trap (AArch32)",
    EC.PAC: "Trapped use of a Pointer authentication instruction",
    EC.OTHER: "Trapped LD64B/ST64B*, TSB CSYNC or PSB CSYNC instruction",
    EC.CP14_64: "Trapped MRRC access with coproc 0b1110 (AArch32)",
    EC.BTI: "Branch Target Exception",
    EC.ILL: "Illegal Execution state",
    EC.SVC32: "SVC instruction execution in AArch32 state",
    EC.HVC32: "HVC instruction execution in AArch32 state",
    EC.SMC32: "SMC instruction execution in AArch32 state",
    EC.SYS128: "Trapped MSRR, MRRS or 128-bit System instruction in AArch64 state",
    EC.SVC64: "SVC instruction execution in AArch64 state",
    EC.HVC64: "HVC instruction execution in AArch64 state",
    EC.SMC64: "SMC instruction execution in AArch64 state",
    EC.SYS64: "Trapped MSR, MRS or System instruction execution in AArch64 state",
    EC.SVE: "Access to SVE functionality trapped by CPACR_EL1.ZEN, CPTR_EL2.ZEN/TZ or CPTR_EL3.EZ",
    EC.ERET: "Trapped ERET, ERETAA or ERETAB instruction",
    EC.TSTART: "TSTART instruction trapped (FEAT_TME, withdrawn)",
    EC.FPAC: "Pointer authentication failure (FEAT_FPAC)",
    EC.SME: "Access to SME functionality trapped",
    EC.GPC: "Granule Protection Check exception (FEAT_RME, ESR_EL3 only)",
    EC.IMP_DEF: "IMPLEMENTATION DEFINED exception to EL3",
    EC.IABT_LOW: "Instruction Abort from a lower Exception level",
    EC.IABT_CUR: "Instruction Abort taken without a change in Exception level",
    EC.PC_ALIGN: "PC alignment fault",
    EC.DABT_LOW: "Data Abort from a lower Exception level",
    EC.DABT_CUR: "Data Abort taken without a change in Exception level",
    EC.SP_ALIGN: "SP alignment fault",
    EC.MOPS: "Memory Operation Exception (FEAT_MOPS)",
    EC.FP_EXC32: "Trapped floating-point exception from AArch32 state",
    EC.FP_EXC64: "Trapped floating-point exception from AArch64 state",
    EC.GCS: "GCS exception (FEAT_GCS)",
    EC.SERROR: "SError exception",
    EC.BREAKPT_LOW: "Breakpoint exception from a lower Exception level",
    EC.BREAKPT_CUR: "Breakpoint exception taken without a change in Exception level",
    EC.SOFTSTP_LOW: "Software Step exception from a lower Exception level",
    EC.SOFTSTP_CUR: "Software Step exception taken without a change in Exception level",
    EC.WATCHPT_LOW: "Watchpoint exception from a lower Exception level",
    EC.WATCHPT_CUR: "Watchpoint exception taken without a change in Exception level",
    EC.BKPT32: "BKPT instruction execution in AArch32 state",
    EC.VECTOR32: "Vector Catch exception from AArch32 state",
    EC.BRK64: "BRK instruction execution in AArch64 state",
    EC.PROFILING: "Profiling exception (FEAT_EBEP, FEAT_SPE_EXC, FEAT_TRBE_EXC)",
}


# =========================================================================================
# Field tables
# =========================================================================================


_flag, _fld, _enum = flag_field, bits_field, enum_field  # the tables below read short
_res0 = res0_field


def _iss(name: str, doc: str, *fields: Field, width: int = 25) -> Layout:
    return register(Layout(f"ESR_ELx_{name}", width, fields, doc=doc))


ESR_ELx = register(Layout("ESR_ELx", 64, (
    _res0(63, 56),
    _fld("ISS2", 55, 32, "ISS2 encoding (Data Abort, Instruction Abort, Watchpoint)"),
    _enum("EC", 31, 26, {e.value: e.name for e in EC}, "Exception Class"),
    _flag("IL", 25, "Instruction Length: 32-bit trapped instruction (1) or 16-bit (0)"),
    _fld("ISS", 24, 0, "Instruction Specific Syndrome, encoded per EC"),
), doc="Exception Syndrome Register (ESR_EL1, ESR_EL2, ESR_EL3), Arm ARM D24.2"))

_CV = _flag("CV", 24, "Condition code valid (1 for exceptions from AArch64)")
_COND = _fld("COND", 23, 20, "Condition code of the trapped instruction (0b1110 from AArch64)")
_DIR_SYS = {0: "write (MSR)", 1: "read (MRS)"}
_SET = {0b00: "UER (Recoverable state)", 0b10: "UC (Uncontainable)",
        0b11: "UEO (Restartable state)"}
_DEBUG_FSC = {0b100010: "Debug exception"}
# 0b00: not a store or translation table update, or the location might have been updated.
_WU = {0b00: "no information", 0b10: "store did not update the location",
       0b11: "store updated the location"}

def _build_iss_none() -> Layout:
    return _iss("ISS_NONE", "ISS with no fields (RES0): unknown reason, Illegal Execution "
                "state, PC or SP alignment fault, SVE trap, Pointer authentication trap",
                _res0(24, 0))


def _build_iss_wfx() -> Layout:
    return _iss("ISS_WFx", "ISS encoding for an exception from a WF* instruction",
                _CV, _COND, _res0(19, 10),
                _fld("RN", 9, 5, "Register number of WFET/WFIT (FEAT_WFxT)"),
                _res0(4, 3),
                _flag("RV", 2, "RN valid (FEAT_WFxT)"),
                _enum("TI", 1, 0, {0b00: "WFI", 0b01: "WFE", 0b10: "WFIT", 0b11: "WFET"},
                      "Trapped instruction"))


def _build_iss_mcr() -> Layout:
    return _iss("ISS_MCR", "ISS encoding for an exception from an MCR or MRC access",
                _CV, _COND, _fld("Opc2", 19, 17), _fld("Opc1", 16, 14), _fld("CRn", 13, 10),
                _fld("Rt", 9, 5), _fld("CRm", 4, 1),
                _enum("Direction", 0, 0, {0: "write (MCR)", 1: "read (MRC or VMRS)"}))


def _build_iss_mcrr() -> Layout:
    return _iss("ISS_MCRR", "ISS encoding for an exception from an MCRR or MRRC access",
                _CV, _COND, _fld("Opc1", 19, 16), _res0(15), _fld("Rt2", 14, 10),
                _fld("Rt", 9, 5), _fld("CRm", 4, 1),
                _enum("Direction", 0, 0, {0: "write (MCRR)", 1: "read (MRRC)"}))


def _build_iss_ldc() -> Layout:
    return _iss("ISS_LDC", "ISS encoding for an exception from an LDC or STC instruction",
                _CV, _COND, _fld("imm8", 19, 12), _res0(11, 10), _fld("Rn", 9, 5),
                _flag("Offset", 4, "Add (1) or subtract (0) the offset"),
                _enum("AM", 3, 1, {0b000: "Immediate unindexed", 0b001: "Immediate post-indexed",
                                   0b010: "Immediate offset", 0b011: "Immediate pre-indexed",
                                   0b100: "Literal unindexed", 0b110: "Literal offset"},
                      "Addressing mode"),
                _enum("Direction", 0, 0, {0: "write to memory (STC)", 1: "read (LDC)"}))


def _build_iss_fp() -> Layout:
    return _iss("ISS_FP", "ISS encoding for an exception from the FPEN and TFP traps",
                _CV, _COND, _res0(19, 0))


def _build_iss_other() -> Layout:
    return _iss("ISS_OTHER", "ISS encoding for an exception from any other instruction",
                _enum("ISS", 24, 0, {0: "ST64BV trapped", 1: "ST64BV0 trapped",
                                     2: "LD64B or ST64B trapped", 3: "TSB CSYNC trapped",
                                     4: "PSB CSYNC trapped"}))


def _build_iss_bti() -> Layout:
    return _iss("ISS_BTI", "ISS encoding for an exception from Branch Target Identification",
                _res0(24, 2), _fld("BTYPE", 1, 0, "PSTATE.BTYPE that caused the exception"))


def _build_iss_xvc() -> Layout:
    return _iss("ISS_xVC", "ISS encoding for an exception from HVC or SVC instruction "
                "execution, and from SMC in AArch64 state", _res0(24, 16),
                _fld("imm16", 15, 0, "The immediate of the HVC, SVC or SMC instruction"))


def _build_iss_smc32() -> Layout:
    return _iss("ISS_SMC32", "ISS encoding for an exception from SMC in AArch32 state",
                _CV, _COND, _flag("CCKNOWNPASS", 19, "Might have failed its condition check"),
                _res0(18, 0))


def _build_iss_sys128() -> Layout:
    return _iss("ISS_SYS128", "ISS encoding for an exception from MSRR, MRRS or 128-bit "
                "System instruction execution in AArch64 state",
                _res0(24, 22), _fld("Op0", 21, 20), _fld("Op2", 19, 17), _fld("Op1", 16, 14),
                _fld("CRn", 13, 10), _fld("Rt", 9, 6, "Register pair X[Rt:0], X[Rt:1]"),
                _res0(5), _fld("CRm", 4, 1),
                _enum("Direction", 0, 0, {0: "write (MSRR)", 1: "read (MRRS)"}))


def _build_iss_sys64() -> Layout:
    return _iss("ISS_SYS64", "ISS encoding for an exception from MSR, MRS, or System "
                "instruction execution in AArch64 state",
                _res0(24, 22), _fld("Op0", 21, 20), _fld("Op2", 19, 17), _fld("Op1", 16, 14),
                _fld("CRn", 13, 10), _fld("Rt", 9, 5), _fld("CRm", 4, 1),
                _enum("Direction", 0, 0, _DIR_SYS))


def _build_iss_eret() -> Layout:
    return _iss("ISS_ERET", "ISS encoding for an exception from ERET, ERETAA or ERETAB",
                _res0(24, 2), _flag("ERET", 1, "ERETAA/ERETAB (1) or ERET (0)"),
                _flag("ERETA", 0, "ERETAB (1) or ERETAA (0)"))


def _build_iss_pac_fail() -> Layout:
    return _iss("ISS_PAC_FAIL", "ISS encoding for a PAC Fail exception",
                _res0(24, 2), _enum("DnI", 1, 1, {0: "Instruction key", 1: "Data key"}),
                _enum("BnA", 0, 0, {0: "A key", 1: "B key"}))


def _build_iss_sme() -> Layout:
    return _iss("ISS_SME", "ISS encoding for an exception due to SME functionality",
                _res0(24, 3),
                _enum("SMTC", 2, 0, {0b000: "SME access trapped by CPACR/CPTR",
                                     0b001: "SIMD/SVE instruction trapped, PSTATE.SM is 1",
                                     0b010: "SME instruction trapped, PSTATE.SM is 0",
                                     0b011: "SME instruction trapped, PSTATE.ZA is 0",
                                     0b100: "ZT0 access trapped by SMCR_ELx.EZT0"},
                      "SME trap code"))


ISS_IABT = _iss("ISS_IABT", "ISS encoding for an exception from an Instruction Abort",
                _res0(24, 22),
                _flag("TopLevel", 21, "Fault due to TopLevel (FEAT_THE)"),
                _res0(20, 15),
                _flag("PFV", 14, "PFAR_EL2 valid (FEAT_PFAR)"),
                _res0(13),
                _enum("SET", 12, 11, _SET, "Synchronous Error Type (FEAT_RAS, IFSC 0b010000)"),
                _flag("FnV", 10, "FAR not valid (synchronous External abort)"),
                _flag("EA", 9, "External abort type (IMPLEMENTATION DEFINED)"),
                _res0(8),
                _flag("S1PTW", 7, "Stage-2 fault on a stage-1 translation table walk"),
                _res0(6),
                _fld("IFSC", 5, 0, "Instruction Fault Status Code"))
# ISV=1 and ISV=0 give bits [23:14] different meanings: one table for each.
_DABT_LOW_BITS = (
    _flag("VNCR", 13, "Fault from the use of VNCR_EL2 by EL1 (FEAT_NV2)"),
    _fld("SET", 12, 11, "SET (FEAT_RAS, synchronous External abort: 0b00 UER, 0b10 UC, 0b11 UEO)"
         " or LST (FEAT_LS64, Translation/Access flag/Permission fault), by DFSC"),
    _flag("FnV", 10, "FAR not valid (synchronous External abort)"),
    _flag("EA", 9, "External abort type (IMPLEMENTATION DEFINED)"),
    _flag("CM", 8, "From a cache maintenance or address translation instruction"),
    _flag("S1PTW", 7, "Stage-2 fault on a stage-1 translation table walk"),
    _flag("WnR", 6, "Write (1) or read (0)"),
    _fld("DFSC", 5, 0, "Data Fault Status Code"),
)
ISS_DABT = _iss("ISS_DABT", "ISS encoding for an exception from a Data Abort, ISV=1",
                _flag("ISV", 24, "Instruction syndrome valid: ISS[23:14] hold it"),
                _enum("SAS", 23, 22, {0: "byte", 1: "halfword", 2: "word", 3: "doubleword"},
                      "Syndrome Access Size"),
                _flag("SSE", 21, "Syndrome Sign Extend"),
                _fld("SRT", 20, 16, "Syndrome Register Transfer: Xt/Wt"),
                _flag("SF", 15, "64-bit register transfer"),
                _flag("AR", 14, "Acquire/Release semantics"),
                *_DABT_LOW_BITS)
ISS_DABT_NOISV = _iss("ISS_DABT_NOISV", "ISS encoding for an exception from a Data Abort, "
                      "ISV=0",
                      _flag("ISV", 24, "Instruction syndrome valid: 0, ISS[23:14] hold no "
                            "instruction syndrome"),
                      _res0(23, 22),
                      _flag("TopLevel", 21, "Fault due to TopLevel (FEAT_THE)"),
                      _res0(20, 18),
                      _enum("WU", 17, 16, _WU, "Write Update (FEAT_RASv2, External abort)"),
                      _flag("FnP", 15, "FAR not precise (SVE/SME contiguous load/store)"),
                      _flag("PFV", 14, "PFAR_EL2 valid (FEAT_PFAR)"),
                      *_DABT_LOW_BITS)


def _build_iss_mops() -> Layout:
    return _iss("ISS_MOPS", "ISS encoding for an exception from the Memory Copy and Memory "
                "Set instructions",
                _enum("MemInst", 24, 24, {0: "CPY*", 1: "SET*"}),
                _flag("isSETG", 23, "SETGM* or SETGE*"),
                _fld("Options", 22, 19), _flag("FromEpilogue", 18, "CPYE*, CPYFE*, SETE*, SETGE*"),
                # FormatOption[17:16] in the current Arm ARM: the two bits below read together.
                _flag("WrongOption", 17, "Option of the register format does not match PSTATE.C"),
                _flag("OptionA", 16, "PSTATE.C selects algorithm option A"),
                _res0(15), _fld("destreg", 14, 10), _fld("srcreg", 9, 5), _fld("sizereg", 4, 0))


def _build_iss_fp_exc() -> Layout:
    return _iss("ISS_FP_EXC", "ISS encoding for an exception from a trapped floating-point "
                "exception",
                _res0(24), _flag("TFV", 23, "IDF, IXF, UFF, OFF, DZF, IOF are valid"),
                _res0(22, 11), _fld("VECITR", 10, 8), _flag("IDF", 7, "Input Denormal"),
                _res0(6, 5), _flag("IXF", 4, "Inexact"), _flag("UFF", 3, "Underflow"),
                _flag("OFF", 2, "Overflow"), _flag("DZF", 1, "Divide by Zero"),
                _flag("IOF", 0, "Invalid Operation"))


def _build_iss_gcs() -> Layout:
    return _iss("ISS_GCS", "ISS encoding for a GCS exception",
                _res0(24),
                _enum("ExType", 23, 20, {0b0000: "Data Check", 0b0001: "EXLOCK",
                                         0b0010: "GCSSTR/GCSSTTR trap"}),
                _res0(19, 15), _fld("Raddr", 14, 10), _fld("Rn", 9, 5, "Rn, or Rvalue for a trap"),
                _fld("IT", 4, 0, "Instruction type of a Data Check"))


def _build_iss_serror() -> Layout:
    return _iss("ISS_SERROR", "ISS encoding for an SError exception, IDS=0",
                _flag("IDS", 24, "IMPLEMENTATION DEFINED syndrome: 0, architected fields"),
                _res0(23, 19),
                _enum("ELS", 18, 18, {0: "asynchronous", 1: "synchronous (at ELR_ELx)"},
                      "Meaning of ELR_ELx (FEAT_RASv2)"),
                _enum("WU", 17, 16, _WU, "Write Update (FEAT_RASv2)"),
                _flag("VFV", 15, "FAR_EL2 valid (FEAT_RASv2)"),
                _flag("PFV", 14, "PFAR_EL2 valid (FEAT_PFAR)"),
                _flag("IESB", 13, "Synchronized by an implicit error synchronization event"),
                _enum("AET", 12, 10, {0b000: "UC (Uncontainable)",
                                      0b001: "UEU (Unrecoverable state)",
                                      0b010: "UEO (Restartable state)",
                                      0b011: "UER (Recoverable state)",
                                      0b110: "CE (Corrected)"},
                      "Asynchronous Error Type (FEAT_RAS)"),
                _flag("EA", 9, "External abort type (IMPLEMENTATION DEFINED)"),
                _res0(8),
                _flag("WnRV", 7, "WnR valid (FEAT_RASv2)"),
                _flag("WnR", 6, "Write (1) or read (0)"),
                _enum("DFSC", 5, 0, {0b000000: "Uncategorized error",
                                     0b010001: "Asynchronous SError exception"},
                      "Data Fault Status Code (FEAT_RAS)"))


def _build_iss_serror_impdef() -> Layout:
    return _iss("ISS_SERROR_IMPDEF", "ISS encoding for an SError exception, IDS=1",
                _flag("IDS", 24, "IMPLEMENTATION DEFINED syndrome: 1"),
                _fld("IMPDEF", 23, 0, "IMPLEMENTATION DEFINED syndrome"))


def _build_iss_breakpt() -> Layout:
    return _iss("ISS_BREAKPT", "ISS encoding for an exception from a Breakpoint or Vector "
                "Catch debug exception",
                _res0(24, 6), _enum("IFSC", 5, 0, _DEBUG_FSC))


def _build_iss_softstp() -> Layout:
    return _iss("ISS_SOFTSTP", "ISS encoding for an exception from a Software Step exception",
                _flag("ISV", 24, "EX is valid"), _res0(23, 7),
                _flag("EX", 6, "A Load-Exclusive instruction was stepped"),
                _enum("IFSC", 5, 0, _DEBUG_FSC))


def _build_iss_watchpt() -> Layout:
    return _iss("ISS_WATCHPT", "ISS encoding for an exception from a Watchpoint exception",
                _res0(24), _fld("WPT", 23, 18, "Watchpoint number (FEAT_Debugv8p2)"),
                _flag("WPTV", 17, "WPT valid"), _flag("WPF", 16, "Might be a false positive"),
                _flag("FnP", 15, "FAR not precise"), _res0(14),
                _flag("VNCR", 13, "From the use of VNCR_EL2 by EL1 (FEAT_NV2)"),
                _res0(12, 11), _flag("FnV", 10, "FAR not valid"), _res0(9),
                _flag("CM", 8, "From a cache maintenance instruction"), _res0(7),
                _flag("WnR", 6, "Write (1) or read (0)"), _enum("DFSC", 5, 0, _DEBUG_FSC))


def _build_iss_brk() -> Layout:
    return _iss("ISS_BRK", "ISS encoding for an exception from execution of a Breakpoint "
                "instruction (BRK, BKPT)",
                _res0(24, 16), _fld("Comment", 15, 0, "The instruction's comment (immediate)"))


def _build_iss_profiling() -> Layout:
    return _iss("ISS_PROFILING", "ISS encoding for a Profiling exception",
                _res0(24, 6),
                _enum("FSC", 5, 1, {0b00000: "PMU Profiling exception",
                                    0b00001: "Profiling Buffer management event",
                                    0b00010: "Trace buffer management event"}),
                _flag("SYNC", 0, "Taken synchronously (FEAT_SEBEP)"))


ISS2_DABT = _iss("ISS2_DABT", "ISS2 encoding for an exception from a Data Abort",
                 _res0(23, 12),
                 _flag("HDBSSF", 11, "Caused by the HDBSS (FEAT_HDBSS)"),
                 _flag("TnD", 10, "Tag not Data (FEAT_MTE_CANONICAL_TAGS)"),
                 _flag("TagAccess", 9, "NoTagAccess fault (FEAT_MTE_PERM)"),
                 _flag("GCS", 8, "Guarded Control Stack data access (FEAT_GCS)"),
                 _flag("AssuredOnly", 7, "AssuredOnly fault (FEAT_THE)"),
                 _flag("Overlay", 6, "Overlay permission fault (FEAT_S1POE/S2POE)"),
                 _flag("DirtyBit", 5, "Dirty state fault (FEAT_S1PIE/S2PIE)"),
                 _fld("Xs", 4, 0, "Register Xs of ST64BV/ST64BV0 (FEAT_LS64)"), width=24)
ISS2_IABT = _iss("ISS2_IABT", "ISS2 encoding for an exception from an Instruction Abort",
                 _res0(23, 12),
                 _flag("HDBSSF", 11, "Caused by the HDBSS (FEAT_HDBSS)"),
                 _res0(10, 8),
                 _flag("AssuredOnly", 7, "Stage-2 AssuredOnly fault (FEAT_THE)"),
                 _flag("Overlay", 6, "Overlay permission fault (FEAT_S1POE/S2POE)"),
                 _flag("DirtyBit", 5, "Dirty state fault (FEAT_S2PIE)"),
                 _res0(4, 0), width=24)


def _build_iss2_watchpt() -> Layout:
    return _iss("ISS2_WATCHPT", "ISS2 encoding for an exception from a Watchpoint exception",
                _res0(23, 9), _flag("GCS", 8, "Guarded Control Stack data access"),
                _res0(7, 0), width=24)


# EC -> ISS layout (the Data Abort and SError choices between two tables are in iss_layout).
_ISS_NAMES: dict[EC, str] = {
    EC.UNKNOWN: "ISS_NONE", EC.WFx: "ISS_WFx", EC.CP15_32: "ISS_MCR", EC.CP15_64: "ISS_MCRR",
    EC.CP14_MR: "ISS_MCR", EC.CP14_LS: "ISS_LDC", EC.FP_ASIMD: "ISS_FP", EC.CP10_ID: "ISS_MCR",
    EC.PAC: "ISS_NONE", EC.OTHER: "ISS_OTHER", EC.CP14_64: "ISS_MCRR", EC.BTI: "ISS_BTI",
    EC.ILL: "ISS_NONE", EC.SVC32: "ISS_xVC", EC.HVC32: "ISS_xVC", EC.SMC32: "ISS_SMC32",
    EC.SYS128: "ISS_SYS128", EC.SVC64: "ISS_xVC", EC.HVC64: "ISS_xVC", EC.SMC64: "ISS_xVC",
    EC.SYS64: "ISS_SYS64", EC.SVE: "ISS_NONE", EC.ERET: "ISS_ERET", EC.FPAC: "ISS_PAC_FAIL",
    EC.SME: "ISS_SME", EC.IABT_LOW: "ISS_IABT", EC.IABT_CUR: "ISS_IABT", EC.PC_ALIGN: "ISS_NONE",
    EC.DABT_LOW: "ISS_DABT", EC.DABT_CUR: "ISS_DABT", EC.SP_ALIGN: "ISS_NONE", EC.MOPS: "ISS_MOPS",
    EC.FP_EXC32: "ISS_FP_EXC", EC.FP_EXC64: "ISS_FP_EXC", EC.GCS: "ISS_GCS", EC.SERROR: "ISS_SERROR",
    EC.BREAKPT_LOW: "ISS_BREAKPT", EC.BREAKPT_CUR: "ISS_BREAKPT", EC.SOFTSTP_LOW: "ISS_SOFTSTP",
    EC.SOFTSTP_CUR: "ISS_SOFTSTP", EC.WATCHPT_LOW: "ISS_WATCHPT", EC.WATCHPT_CUR: "ISS_WATCHPT",
    EC.BKPT32: "ISS_BRK", EC.VECTOR32: "ISS_BREAKPT", EC.BRK64: "ISS_BRK",
    EC.PROFILING: "ISS_PROFILING",
}
"""The ISS table of each EC whose ISS Arm defines (TSTART, GPC and IMP_DEF are left raw), by
name: :data:`ISS_LAYOUTS` holds the tables."""

_ISS2_NAMES: dict[EC, str] = {
    EC.DABT_LOW: "ISS2_DABT", EC.DABT_CUR: "ISS2_DABT", EC.IABT_LOW: "ISS2_IABT",
    EC.IABT_CUR: "ISS2_IABT", EC.WATCHPT_LOW: "ISS2_WATCHPT", EC.WATCHPT_CUR: "ISS2_WATCHPT",
}
"""The ISS2 table by EC, by name (:data:`ISS2_LAYOUTS`); for every other EC ISS2 is RES0 ("ISS2
encoding for all other exceptions")."""

# The tables a translation fault needs (Data and Instruction Aborts) are built at import; every
# other ISS table when it is first used (its name read from this module, iss_layout, the ISS_LAYOUTS
# maps, or the LAYOUTS registry): a walk that faults decodes one Data Abort, not 31 classes.
ISS_NONE: Layout
ISS_WFx: Layout
ISS_MCR: Layout
ISS_MCRR: Layout
ISS_LDC: Layout
ISS_FP: Layout
ISS_OTHER: Layout
ISS_BTI: Layout
ISS_xVC: Layout
ISS_SMC32: Layout
ISS_SYS128: Layout
ISS_SYS64: Layout
ISS_ERET: Layout
ISS_PAC_FAIL: Layout
ISS_SME: Layout
ISS_MOPS: Layout
ISS_FP_EXC: Layout
ISS_GCS: Layout
ISS_SERROR: Layout
ISS_SERROR_IMPDEF: Layout
ISS_BREAKPT: Layout
ISS_SOFTSTP: Layout
ISS_WATCHPT: Layout
ISS_BRK: Layout
ISS_PROFILING: Layout
ISS2_WATCHPT: Layout
ISS_LAYOUTS: dict[EC, Layout]
"""ISS encoding of each EC whose ISS Arm defines (TSTART, GPC and IMP_DEF are left raw)."""
ISS2_LAYOUTS: dict[EC, Layout]
"""ISS2 encoding by EC; for every other EC ISS2 is RES0 ("ISS2 encoding for all other
exceptions")."""

_LAZY: dict[str, Callable[[], Layout]] = {
    "ISS_NONE": _build_iss_none,
    "ISS_WFx": _build_iss_wfx,
    "ISS_MCR": _build_iss_mcr,
    "ISS_MCRR": _build_iss_mcrr,
    "ISS_LDC": _build_iss_ldc,
    "ISS_FP": _build_iss_fp,
    "ISS_OTHER": _build_iss_other,
    "ISS_BTI": _build_iss_bti,
    "ISS_xVC": _build_iss_xvc,
    "ISS_SMC32": _build_iss_smc32,
    "ISS_SYS128": _build_iss_sys128,
    "ISS_SYS64": _build_iss_sys64,
    "ISS_ERET": _build_iss_eret,
    "ISS_PAC_FAIL": _build_iss_pac_fail,
    "ISS_SME": _build_iss_sme,
    "ISS_MOPS": _build_iss_mops,
    "ISS_FP_EXC": _build_iss_fp_exc,
    "ISS_GCS": _build_iss_gcs,
    "ISS_SERROR": _build_iss_serror,
    "ISS_SERROR_IMPDEF": _build_iss_serror_impdef,
    "ISS_BREAKPT": _build_iss_breakpt,
    "ISS_SOFTSTP": _build_iss_softstp,
    "ISS_WATCHPT": _build_iss_watchpt,
    "ISS_BRK": _build_iss_brk,
    "ISS_PROFILING": _build_iss_profiling,
    "ISS2_WATCHPT": _build_iss2_watchpt,
}


def _iss_layouts(names: dict[EC, str]) -> dict[EC, Layout]:
    return {ec: _layout(n) for ec, n in names.items()}


_RECIPES: dict[str, Callable[[], object]] = {
    **_LAZY,
    "ISS_LAYOUTS": lambda: _iss_layouts(_ISS_NAMES),
    "ISS2_LAYOUTS": lambda: _iss_layouts(_ISS2_NAMES),
}
__getattr__ = built_on_use(__name__, globals(), _RECIPES)  # PEP 562: each table on first use


def _layout(name: str) -> Layout:
    """The ISS/ISS2 table called ``name`` in this module (``ISS_WFx``), built on first use (the
    abort tables are built at import)."""
    return __getattr__(name)  # type: ignore[return-value]


register_lazy(lambda: [_layout(n) for n in _LAZY])  # LAYOUTS lists every table

_ISV_BIT = ISS_DABT.field("ISV").inplace_mask


def iss_layout(ec: int, iss: int = 0) -> Layout | None:
    """The ISS table for exception class ``ec`` (and ISS, which picks ISV=1/0 and IDS=0/1)."""
    try:
        name = _ISS_NAMES.get(EC(ec))
    except ValueError:
        return None
    if name is None:
        return None
    if name == "ISS_DABT" and not iss & _ISV_BIT:
        return ISS_DABT_NOISV
    if name == "ISS_SERROR" and iss & _layout(name).field("IDS").inplace_mask:
        name = "ISS_SERROR_IMPDEF"
    return _layout(name)


def iss2_layout(ec: int) -> Layout | None:
    """The ISS2 table for ``ec``; None where ISS2 is RES0."""
    try:
        name = _ISS2_NAMES.get(EC(ec))
    except ValueError:
        return None
    if name is None:
        return None
    return _layout(name)


# =========================================================================================
# HPFAR_EL2 (Arm ARM D24.2 HPFAR_EL2; the FEAT_LPA form, FIPA = IPA[51:12])
# =========================================================================================

HPFAR_EL2 = register(Layout("HPFAR_EL2", 64, (
    _flag("NS", 63, "Faulting IPA from the Non-secure IPA space (FEAT_SEL2; RES0 for NS EL2)"),
    _res0(62, 44),
    Field("FIPA", 43, 4, F.ADDRESS, addr_shift=12,
          doc="Faulting IPA[51:12]; [43:40] RES0 without FEAT_LPA.  FEAT_D128 (IPA[55:12] in "
              "[47:4]) is not modelled"),
    _res0(3, 0),
), doc="Hypervisor IPA Fault Address Register, Arm ARM D24.2 HPFAR_EL2"))

_FIPA_LOW = (1 << (HPFAR_EL2.field("FIPA").addr_shift or 0)) - 1  # IPA[11:0]: from FAR


def encode_hpfar(ipa: int, *, ns: bool = False) -> int:
    """The HPFAR_EL2 of a stage-2 fault on ``ipa`` (FIPA = IPA[51:12]; IPA[11:0] dropped).

    EncodingError if ``ipa`` needs more than 52 bits.
    """
    return HPFAR_EL2.with_address(HPFAR_EL2.encode(NS=int(ns)), ipa & ~_FIPA_LOW)


def hpfar_ipa(hpfar: int, far: int = 0) -> int:
    """The faulting IPA: HPFAR_EL2.FIPA with FAR_ELx[11:0] as the page offset."""
    return HPFAR_EL2.address(hpfar) | (far & _FIPA_LOW)


# =========================================================================================
# Decode
# =========================================================================================

_ABORT_FLAGS = ("isv", "sas", "sse", "srt", "sf", "ar", "fnv", "ea", "cm", "s1ptw", "wnr")
# ISS fields shown by Syndrome.lines on the abort flag line only when set (the rest always).
_ABORT_EXTRA = ("TopLevel", "WU", "FnP", "PFV", "VNCR", "SET")
_LST = {0b00: "not specified", 0b01: "ST64BV", 0b10: "LD64B or ST64B", 0b11: "ST64BV0"}


def _set_or_lst(dfsc: int) -> str | None:
    """Which meaning ISS[12:11] of a Data Abort has for ``dfsc`` (Arm ARM D24.2 ESR_EL2)."""
    kind, _level = FSC_TABLE.get(dfsc, (FaultKind.OTHER, None))
    if kind in (FaultKind.SYNC_EXTERNAL, FaultKind.SYNC_EXTERNAL_ON_WALK):
        return "SET"
    if kind in (FaultKind.TRANSLATION, FaultKind.ACCESS_FLAG, FaultKind.PERMISSION):
        return "LST"
    return None


@dataclass(frozen=True, slots=True)
class Syndrome:
    """A decoded ESR_ELx value.

    The abort fields (``fsc`` .. ``wnr``) are set for Data and Instruction Aborts and None
    otherwise (or where the ISS does not define them); ``iss_fields``/``iss2_fields`` hold every
    row of the ISS/ISS2 table of the exception class, raw, in table order (None layout: the EC
    is not allocated, or its ISS is not architected).
    """

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
    iss_layout: str | None = None
    iss_fields: tuple[tuple[str, int], ...] = ()
    iss2_layout: str | None = None
    iss2_fields: tuple[tuple[str, int], ...] = ()

    @property
    def iss(self) -> int:
        """ISS, bits [24:0]."""
        return ESR_ELx.get(self.value, "ISS")

    @property
    def iss2(self) -> int:
        """ISS2, bits [55:32]."""
        return ESR_ELx.get(self.value, "ISS2")

    @property
    def ec_name(self) -> str:
        """The class's short name (Linux ESR_ELx_EC_*), or ``EC 0x..`` when unallocated."""
        try:
            return EC(self.ec).name
        except ValueError:
            return f"EC 0x{self.ec:02x}"

    @property
    def ec_meaning(self) -> str:
        """Arm's description of the class."""
        try:
            return EC_MEANING[EC(self.ec)]
        except ValueError:
            return "unallocated exception class (reserved)"

    def field(self, name: str) -> int | None:
        """The raw value of ISS (or else ISS2) field ``name``; None if this EC has none."""
        for n, x in self.iss_fields:
            if n == name:
                return x
        for n, x in self.iss2_fields:
            if n == name:
                return x
        return None

    @property
    def lines(self) -> list[str]:
        """Human lines: the class, then the fault status and ISS fields.

        Abort flags are all listed; for other classes the ISS line lists the fields that are not
        zero and every enumerated field.  No set bit is left out: RES0 bits set are shown raw.
        """
        out = [f"ESR=0x{self.value:08x}: EC=0x{self.ec:02x} ({self.ec_name}: {self.ec_meaning}),"
               f" IL={int(self.il)}"]
        res0 = ESR_ELx.field("RES0_63_56")
        if top := ESR_ELx.get(self.value, res0.name):
            out.append(f"ESR{res0.bits}={res0.render(top)}")
        if self.fsc is not None:
            out.append(f"FSC: {self.fsc}")
            flags = [f"{name.upper()}={int(v)}" for name in _ABORT_FLAGS
                     if (v := getattr(self, name)) is not None]
            flags += self._extra_abort_fields()
            out.append(" ".join(flags))
        elif self.iss_layout is not None:
            shown = self._render(self.iss_layout, self.iss_fields, only_set=True)
            out.append("ISS: " + " ".join(shown or self._render(self.iss_layout,
                                                                 self.iss_fields)))
        else:
            out.append(f"ISS=0x{self.iss:07x}: not decoded (no ISS encoding for this class)")
        if self.iss2_layout is not None:
            shown = self._render(self.iss2_layout, self.iss2_fields, only_set=True)
            if shown:
                out.append("ISS2: " + " ".join(shown))
        elif self.iss2:
            out.append(f"ISS2=0x{self.iss2:x} (RES0 for this class: RES0 violated)")
        return out

    def _extra_abort_fields(self) -> list[str]:
        layout = LAYOUTS[self.iss_layout] if self.iss_layout else None
        extra: list[str] = []
        if layout is None:
            return extra
        fields = dict(self.iss_fields)
        for name in _ABORT_EXTRA:
            x = fields.get(name)
            if not x:
                continue
            if name == "SET" and layout.field("SET").kind is FieldKind.FIELD:
                meaning = _set_or_lst(fields.get("DFSC", 0))
                table = ISS_IABT.field("SET").values if meaning == "SET" else _LST
                text = table.get(x, f"{x:#x} (reserved)") if meaning else \
                    f"{x:#x} (RES0 violated for this DFSC)"
                extra.append(f"{meaning or 'SET'}={text}")
            else:
                extra.append(f"{name}={layout.field(name).render(x)}")
        for f in layout.fields:
            if f.kind is FieldKind.RES0 and fields.get(f.name):
                extra.append(f"ISS{f.bits}={f.render(fields[f.name])}")
        return extra

    @staticmethod
    def _render(layout_name: str, values: tuple[tuple[str, int], ...],
                only_set: bool = False) -> list[str]:
        layout = LAYOUTS[layout_name]
        out = []
        for name, x in values:
            f = layout.field(name)
            if f.kind is FieldKind.RES0:
                if x:
                    out.append(f"{f.bits}={f.render(x)}")
                continue
            if only_set and not x and f.kind is not FieldKind.ENUM:
                continue
            out.append(f"{name}={f.render(x)}")
        if layout_name == "ESR_ELx_ISS_SYS64":
            out.append(_sysreg_text(dict(values)))
        return out


def _sysreg_text(v: dict[str, int]) -> str:
    """``MRS x2, S3_0_C1_C0_0``-style summary of a trapped MSR/MRS (ISS_SYS64 fields)."""
    reg = f"S{v['Op0']}_{v['Op1']}_C{v['CRn']}_C{v['CRm']}_{v['Op2']}"
    xt = "xzr" if v["Rt"] == 31 else f"x{v['Rt']}"
    return f"({'MRS ' + xt + ', ' + reg if v['Direction'] else 'MSR ' + reg + ', ' + xt})"


def decode_esr(value: int) -> Syndrome:
    """Decode an ESR_ELx value: the class, and the ISS/ISS2 fields of that class.

    The abort fields of :class:`Syndrome` are filled for Data and Instruction Aborts.
    """
    if not 0 <= value < 1 << ESR_ELx.width:
        raise EncodingError(f"ESR=0x{value:x}: out of range (64-bit register)")
    get = ESR_ELx.get
    ec, il, iss, iss2 = get(value, "EC"), bool(get(value, "IL")), get(value, "ISS"), \
        get(value, "ISS2")
    layout, layout2 = iss_layout(ec, iss), iss2_layout(ec)
    d = layout.decode(iss) if layout is not None else {}
    pairs = tuple(d.items())
    name = layout.name if layout is not None else None
    name2 = layout2.name if layout2 is not None else None
    pairs2 = tuple(layout2.decode(iss2).items()) if layout2 is not None else ()
    if layout is ISS_DABT or layout is ISS_DABT_NOISV:
        isv = bool(d["ISV"])
        return Syndrome(
            value, ec, il, decode_fsc(d["DFSC"]), isv=isv,
            sas=d["SAS"] if isv else None, sse=bool(d["SSE"]) if isv else None,
            srt=d["SRT"] if isv else None, sf=bool(d["SF"]) if isv else None,
            ar=bool(d["AR"]) if isv else None, fnv=bool(d["FnV"]), ea=bool(d["EA"]),
            cm=bool(d["CM"]), s1ptw=bool(d["S1PTW"]), wnr=bool(d["WnR"]),
            iss_layout=name, iss_fields=pairs, iss2_layout=name2, iss2_fields=pairs2,
        )
    if layout is ISS_IABT:
        return Syndrome(value, ec, il, decode_fsc(d["IFSC"]), fnv=bool(d["FnV"]),
                        ea=bool(d["EA"]), s1ptw=bool(d["S1PTW"]), iss_layout=name,
                        iss_fields=pairs, iss2_layout=name2, iss2_fields=pairs2)
    return Syndrome(value, ec, il, None, iss_layout=name, iss_fields=pairs, iss2_layout=name2,
                    iss2_fields=pairs2)


# =========================================================================================
# Encode
# =========================================================================================


def encode_esr(ec: int, iss: int = 0, *, il: bool = True, iss2: int = 0) -> int:
    """Assemble ESR_ELx from its class, ISS and ISS2 (EncodingError if one does not fit)."""
    return ESR_ELx.encode(EC=ec, IL=int(il), ISS=iss, ISS2=iss2)


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
    ea: bool = False,
    fnv: bool = False,
    vncr: bool = False,
) -> int:
    """The ESR_ELx value of a Data or Instruction Abort (ISS fields as in :func:`decode_esr`).

    :param lower_el: EC IABT_LOW/DABT_LOW (taken from a lower EL) rather than *_CUR.
    :param isv: a Data Abort with a valid instruction syndrome (``sas``, ``sse``, ``srt``,
        ``sf``, ``ar``); otherwise those are not encoded.
    :param cm: Data Abort from a cache maintenance or address translation (AT) instruction.
    """
    if instruction:
        ec = EC.IABT_LOW if lower_el else EC.IABT_CUR
        iss = ISS_IABT.encode(IFSC=fsc, S1PTW=int(s1ptw), EA=int(ea), FnV=int(fnv))
    else:
        ec = EC.DABT_LOW if lower_el else EC.DABT_CUR
        common = {"DFSC": fsc, "WnR": int(wnr), "S1PTW": int(s1ptw), "CM": int(cm),
                  "EA": int(ea), "FnV": int(fnv), "VNCR": int(vncr)}
        if isv:
            iss = ISS_DABT.encode(ISV=1, SAS=sas, SSE=int(sse), SRT=srt, SF=int(sf), AR=int(ar),
                                  **common)
        else:
            iss = ISS_DABT_NOISV.encode(**common)
    return encode_esr(ec, iss, il=il)
