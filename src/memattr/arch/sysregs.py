"""Field tables of the system registers a memory-type question reads besides the walk controls.

MAIR_ELx (one table for EL1 and EL2) and the layout of one of its attribute bytes, CTR_EL0, and
the ID registers (ID_AA64MMFR0/1/2_EL1, ID_AA64PFR1_EL1, ID_AA64ISAR1_EL1).  Field positions
and encodings: Arm ARM D24.2 register descriptions, cross-checked against Linux
``arch/arm64/tools/sysreg``; enum names follow that file's convention (NI not implemented, IMP
implemented, otherwise the FEAT_ name).  The meaning of a MAIR attribute byte is
:mod:`memattr.arch.mair`'s.

This module needs nothing but the table engine, so decoding these registers (and looking up
their :mod:`memattr.arch.regdefs` constants) does not import the descriptor formats.
"""

from __future__ import annotations

from .._lazy import built_on_use
from .fields import (
    Field,
    Layout,
    bits_field,
    enum_field,
    flag_field,
    register,
    register_lazy,
    res0_field,
    res1_field,
)

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAIR_ELx",
    "MAIR_EL1",
    "MAIR_EL2",
    "MAIR_ATTR",
    "CTR_EL0",
    "ID_AA64MMFR0_EL1",
    "ID_AA64MMFR1_EL1",
    "ID_AA64MMFR2_EL1",
    "ID_AA64PFR1_EL1",
    "ID_AA64ISAR1_EL1",
]

_flag, _fld, _enum = flag_field, bits_field, enum_field  # the tables below read short
_res0, _res1 = res0_field, res1_field


MAIR_ELx = register(Layout("MAIR_ELx", 64, tuple(
    _fld(f"Attr{n}", 8 * n + 7, 8 * n, f"Memory attribute {n}: the type AttrIndx={n} selects")
    for n in range(7, -1, -1)
), doc="MAIR_EL1 and MAIR_EL2 (one shared table), Arm ARM D24.2 MAIR_ELx"))
MAIR_EL1 = MAIR_ELx
MAIR_EL2 = MAIR_ELx

MAIR_ATTR = register(Layout("MAIR_ATTR", 8, (
    _fld("Outer", 7, 4, "Attr<n>[7:4]: 0b0000 Device memory, else Normal memory Outer attributes"),
    _fld("Inner", 3, 0, "Attr<n>[3:0]: the Device type (0b0000 Device) or Normal memory Inner "
         "attributes"),
), doc="One MAIR_ELx.Attr<n> byte, Arm ARM D24.2 MAIR_ELx (decoded by memattr.arch.mair)"))

_NI_IMP = {0b0000: "NI", 0b0001: "IMP"}


def _feat(name: str, msb: int, values: dict[int, str] | None = None, doc: str = "") -> Field:
    """A 4-bit ID register field (values default to NI/IMP)."""
    return _enum(name, msb, msb - 3, values if values is not None else _NI_IMP, doc)


def _build_ctr_el0() -> Layout:
    return register(Layout("CTR_EL0", 64, (
        _res0(63, 38),
        _fld("TminLine", 37, 32, "Log2 words covered by Allocation Tags in the smallest line (MTE)"),
        _res1(31),
        _res0(30),
        _flag("DIC", 29, "Instruction cache invalidation not required for data-to-instruction "
              "coherence"),
        _flag("IDC", 28, "Data cache clean not required for instruction-to-data coherence"),
        _fld("CWG", 27, 24, "Cache writeback granule: log2 words"),
        _fld("ERG", 23, 20, "Exclusives reservation granule: log2 words"),
        _fld("DminLine", 19, 16, "Log2 words in the smallest data cache line"),
        _enum("L1Ip", 15, 14, {0b10: "VIPT", 0b11: "PIPT"},
              "L1 instruction cache policy (0b00 was VPIPT, 0b01 AIVIVT: both reserved now)"),
        _res0(13, 4),
        _fld("IminLine", 3, 0, "Log2 words in the smallest instruction cache line"),
    ), doc="Cache Type Register, Arm ARM D24.2 CTR_EL0"))


_PARANGE = {0b0000: "32 bits", 0b0001: "36 bits", 0b0010: "40 bits", 0b0011: "42 bits",
            0b0100: "44 bits", 0b0101: "48 bits", 0b0110: "52 bits", 0b0111: "56 bits"}


def _build_id_aa64mmfr0_el1() -> Layout:
    return register(Layout("ID_AA64MMFR0_EL1", 64, (
        _feat("ECV", 63, {0: "NI", 1: "IMP", 2: "CNTPOFF"}, "Enhanced Counter Virtualization"),
        _feat("FGT", 59, {0: "NI", 1: "IMP", 2: "FGT2"}, "Fine-Grained Trap controls"),
        _res0(55, 48),
        _feat("ExS", 47, doc="Non-context-synchronizing exception entry and exit (FEAT_ExS)"),
        _feat("TGran4_2", 43, {0: "TGran4", 1: "NI", 2: "IMP", 3: "52_BIT"},
              "4KB granule at stage 2 (0: as TGran4)"),
        _feat("TGran64_2", 39, {0: "TGran64", 1: "NI", 2: "IMP"},
              "64KB granule at stage 2 (0: as TGran64)"),
        _feat("TGran16_2", 35, {0: "TGran16", 1: "NI", 2: "IMP", 3: "52_BIT"},
              "16KB granule at stage 2 (0: as TGran16)"),
        _feat("TGran4", 31, {0: "IMP", 1: "52_BIT", 0b1111: "NI"}, "4KB granule (52_BIT: FEAT_LPA2)"),
        _feat("TGran64", 27, {0: "IMP", 0b1111: "NI"}, "64KB granule"),
        _feat("TGran16", 23, {0: "NI", 1: "IMP", 2: "52_BIT"}, "16KB granule (52_BIT: FEAT_LPA2)"),
        _feat("BigEndEL0", 19, doc="Mixed-endian at EL0 only"),
        _feat("SNSMem", 15, doc="Secure and Non-secure memory distinction"),
        _feat("BigEnd", 11, doc="Mixed-endian configuration"),
        _feat("ASIDBits", 7, {0: "8 bits", 2: "16 bits"}, "Number of ASID bits"),
        _feat("PARange", 3, _PARANGE, "Physical address range (52 bits: FEAT_LPA; 56: FEAT_D128)"),
    ), doc="AArch64 Memory Model Feature Register 0, Arm ARM D24.2 ID_AA64MMFR0_EL1"))


def _build_id_aa64mmfr1_el1() -> Layout:
    return register(Layout("ID_AA64MMFR1_EL1", 64, (
        _feat("ECBHB", 63, doc="Branch history speculation restricted around exceptions"),
        _feat("CMOW", 59, doc="SCTLR_ELx.CMOW / HCRX_EL2.CMOW (FEAT_CMOW)"),
        _feat("TIDCP1", 55, doc="SCTLR_ELx.TIDCP (FEAT_TIDCP1)"),
        _feat("nTLBPA", 51, doc="No non-coherent physical translation caches (FEAT_nTLBPA)"),
        _feat("AFP", 47, doc="FPCR.{AH, FIZ, NEP} (FEAT_AFP)"),
        _feat("HCX", 43, doc="HCRX_EL2 (FEAT_HCX)"),
        _feat("ETS", 39, {0: "NI", 1: "IMP", 2: "ETS2", 3: "ETS3"},
              "Enhanced Translation Synchronization"),
        _feat("TWED", 35, doc="Delayed trapping of WFE (FEAT_TWED)"),
        _feat("XNX", 31, doc="EL0/EL1 execute-never distinction at stage 2 (FEAT_XNX)"),
        _feat("SpecSEI", 27, doc="SError from speculative reads possible (FEAT_RAS)"),
        _feat("PAN", 23, {0: "NI", 1: "IMP", 2: "PAN2", 3: "PAN3"}, "Privileged Access Never"),
        _feat("LO", 19, doc="LORegions (FEAT_LOR)"),
        _feat("HPDS", 15, {0: "NI", 1: "IMP", 2: "HPDS2"}, "Hierarchical permission disables"),
        _feat("VH", 11, doc="Virtualization Host Extensions (FEAT_VHE)"),
        _feat("VMIDBits", 7, {0: "8 bits", 2: "16 bits"}, "Number of VMID bits"),
        _feat("HAFDBS", 3, {0: "NI", 1: "AF", 2: "DBM", 3: "HAFT", 4: "HDBSS"},
              "Hardware Access flag and dirty state updates"),
    ), doc="AArch64 Memory Model Feature Register 1, Arm ARM D24.2 ID_AA64MMFR1_EL1"))


def _build_id_aa64mmfr2_el1() -> Layout:
    return register(Layout("ID_AA64MMFR2_EL1", 64, (
        _feat("E0PD", 63, doc="TCR_ELx.E0PDn (FEAT_E0PD)"),
        _feat("EVT", 59, {0: "NI", 1: "IMP", 2: "TTLBxS"}, "Enhanced Virtualization Traps"),
        _feat("BBM", 55, {0: "NI", 1: "BBML1", 2: "BBML2"}, "Break-before-make relaxation level"),
        _feat("TTL", 51, doc="TTL hint in TLBI by address (FEAT_TTL)"),
        _res0(47, 44),
        _feat("FWB", 43, doc="HCR_EL2.FWB (FEAT_S2FWB)"),
        _feat("IDS", 39, {0: "EC 0x0", 1: "EC 0x18", 2: "IDTE3"},
              "EC reported for a trapped ID register read (FEAT_IDST)"),
        _feat("AT", 35, doc="Unaligned single-copy atomicity within 16 bytes (FEAT_LSE2)"),
        _feat("ST", 31, {0: "TxSZ max 39", 1: "TxSZ max 48/47"}, "Small translation tables "
              "(FEAT_TTST)"),
        _feat("NV", 27, {0: "NI", 1: "IMP", 2: "NV2"}, "Nested virtualization"),
        _feat("CCIDX", 23, {0: "32-bit", 1: "64-bit"}, "CCSIDR_EL1 format"),
        _feat("VARange", 19, {0: "48 bits", 1: "52 bits", 2: "56 bits"},
              "VA range (52: FEAT_LVA, 64KB granule; 56: FEAT_LVA3)"),
        _feat("IESB", 15, doc="SCTLR_ELx.IESB (FEAT_IESB)"),
        _feat("LSM", 11, doc="SCTLR_ELx.{LSMAOE, nTLSMD} (FEAT_LSMAOC)"),
        _feat("UAO", 7, doc="PSTATE.UAO (FEAT_UAO)"),
        _feat("CnP", 3, doc="Common not Private translations (FEAT_TTCNP)"),
    ), doc="AArch64 Memory Model Feature Register 2, Arm ARM D24.2 ID_AA64MMFR2_EL1"))


def _build_id_aa64pfr1_el1() -> Layout:
    return register(Layout("ID_AA64PFR1_EL1", 64, (
        _feat("PFAR", 63, doc="PFAR_ELx (FEAT_PFAR)"),
        _feat("DF2", 59, doc="Double Fault Extension 2 (FEAT_DoubleFault2)"),
        _feat("MTEX", 55, {0: "MTE", 1: "MTE4"}, "MTE extensions (canonical tags, NoTagAccess)"),
        _feat("THE", 51, doc="Translation Hardening Extension (FEAT_THE)"),
        _feat("GCS", 47, doc="Guarded Control Stack (FEAT_GCS)"),
        _feat("MTE_frac", 43, {0: "ASYNC", 0b1111: "NI"}, "Asynchronous tag check faults"),
        _feat("NMI", 39, doc="Non-maskable interrupts (FEAT_NMI)"),
        _feat("CSV2_frac", 35, {0: "NI", 1: "CSV2_1p1", 2: "CSV2_1p2"}),
        _feat("RNDR_trap", 31, doc="Trapping of RNDR/RNDRRS (FEAT_RNG_TRAP)"),
        _feat("SME", 27, {0: "NI", 1: "IMP", 2: "SME2"}, "Scalable Matrix Extension"),
        _res0(23, 20),
        _feat("MPAM_frac", 19, {0: "MINOR_0", 1: "MINOR_1"}),
        _feat("RAS_frac", 15, {0: "NI", 1: "RASv1p1"}),
        _feat("MTE", 11, {0: "NI", 1: "IMP", 2: "MTE2", 3: "MTE3"},
              "Memory Tagging (MTE2: tagged Normal memory, the MAIR 0xf0 type)"),
        _feat("SSBS", 7, {0: "NI", 1: "IMP", 2: "SSBS2"}),
        _feat("BT", 3, doc="Branch Target Identification (FEAT_BTI)"),
    ), doc="AArch64 Processor Feature Register 1, Arm ARM D24.2 ID_AA64PFR1_EL1"))


_PAUTH = {0: "NI", 1: "PAuth", 2: "EPAC", 3: "PAuth2", 4: "FPAC", 5: "FPACCOMBINE"}


def _build_id_aa64isar1_el1() -> Layout:
    return register(Layout("ID_AA64ISAR1_EL1", 64, (
        _feat("LS64", 63, {0: "NI", 1: "LS64", 2: "LS64_V", 3: "LS64_ACCDATA"},
              "64-byte single-copy atomic loads and stores"),
        _feat("XS", 59, doc="XS attribute, TLBI and DSB nXS (FEAT_XS)"),
        _feat("I8MM", 55),
        _feat("DGH", 51),
        _feat("BF16", 47, {0: "NI", 1: "IMP", 2: "EBF16"}),
        _feat("SPECRES", 43, {0: "NI", 1: "IMP", 2: "SPECRES2"}),
        _feat("SB", 39),
        _feat("FRINTTS", 35),
        _feat("GPI", 31, doc="Generic pointer authentication, IMPLEMENTATION DEFINED algorithm"),
        _feat("GPA", 27, doc="Generic pointer authentication, QARMA5"),
        _feat("LRCPC", 23, {0: "NI", 1: "IMP", 2: "LRCPC2", 3: "LRCPC3"}),
        _feat("FCMA", 19),
        _feat("JSCVT", 15),
        _feat("API", 11, _PAUTH, "Address authentication, IMPLEMENTATION DEFINED algorithm"),
        _feat("APA", 7, _PAUTH, "Address authentication, QARMA5"),
        _feat("DPB", 3, {0: "NI", 1: "IMP", 2: "DPB2"}, "DC CVAP / DC CVADP"),
    ), doc="AArch64 Instruction Set Attribute Register 1, Arm ARM D24.2 ID_AA64ISAR1_EL1"))


# The feature and cache-type registers are built on first use (read from this module, or listed
# by the LAYOUTS registry): a walk needs MAIR_ATTR, not the ID registers.
CTR_EL0: Layout
ID_AA64MMFR0_EL1: Layout
ID_AA64MMFR1_EL1: Layout
ID_AA64MMFR2_EL1: Layout
ID_AA64PFR1_EL1: Layout
ID_AA64ISAR1_EL1: Layout

_LAZY: dict[str, Callable[[], Layout]] = {
    "CTR_EL0": _build_ctr_el0,
    "ID_AA64MMFR0_EL1": _build_id_aa64mmfr0_el1,
    "ID_AA64MMFR1_EL1": _build_id_aa64mmfr1_el1,
    "ID_AA64MMFR2_EL1": _build_id_aa64mmfr2_el1,
    "ID_AA64PFR1_EL1": _build_id_aa64pfr1_el1,
    "ID_AA64ISAR1_EL1": _build_id_aa64isar1_el1,
}


__getattr__ = built_on_use(__name__, globals(), _LAZY)  # PEP 562: each table on first use


register_lazy(lambda: [__getattr__(n) for n in _LAZY])  # LAYOUTS lists every table
