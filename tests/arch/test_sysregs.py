"""memattr.arch.sysregs: MAIR_ELx, CTR_EL0 and ID register tables against their sources."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memattr.arch import sysregs as sr
from memattr.arch.fields import FieldKind, Layout
from memattr.arch.registers import PA_SIZE_BITS


def _pos(layout: Layout, name: str) -> tuple[int, int]:
    f = layout.field(name)
    return (f.msb, f.lsb)


# --- MAIR_ELx, CTR_EL0, ID registers -------------------------------------------------------

# msb:lsb of every named field, from Linux arch/arm64/tools/sysreg (Sysreg CTR_EL0,
# ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR1_EL1, ID_AA64ISAR1_EL1);
# field names compared case-insensitively (Linux upper-cases some of Arm's spellings).
LINUX_SYSREG = {
    "CTR_EL0": {"TminLine": (37, 32), "DIC": (29, 29), "IDC": (28, 28), "CWG": (27, 24),
                "ERG": (23, 20), "DminLine": (19, 16), "L1Ip": (15, 14), "IminLine": (3, 0)},
    "ID_AA64MMFR0_EL1": {"ECV": (63, 60), "FGT": (59, 56), "EXS": (47, 44),
                         "TGRAN4_2": (43, 40), "TGRAN64_2": (39, 36), "TGRAN16_2": (35, 32),
                         "TGRAN4": (31, 28), "TGRAN64": (27, 24), "TGRAN16": (23, 20),
                         "BIGENDEL0": (19, 16), "SNSMEM": (15, 12), "BIGEND": (11, 8),
                         "ASIDBITS": (7, 4), "PARANGE": (3, 0)},
    "ID_AA64MMFR1_EL1": {"ECBHB": (63, 60), "CMOW": (59, 56), "TIDCP1": (55, 52),
                         "nTLBPA": (51, 48), "AFP": (47, 44), "HCX": (43, 40), "ETS": (39, 36),
                         "TWED": (35, 32), "XNX": (31, 28), "SpecSEI": (27, 24),
                         "PAN": (23, 20), "LO": (19, 16), "HPDS": (15, 12), "VH": (11, 8),
                         "VMIDBits": (7, 4), "HAFDBS": (3, 0)},
    "ID_AA64MMFR2_EL1": {"E0PD": (63, 60), "EVT": (59, 56), "BBM": (55, 52), "TTL": (51, 48),
                         "FWB": (43, 40), "IDS": (39, 36), "AT": (35, 32), "ST": (31, 28),
                         "NV": (27, 24), "CCIDX": (23, 20), "VARange": (19, 16),
                         "IESB": (15, 12), "LSM": (11, 8), "UAO": (7, 4), "CnP": (3, 0)},
    "ID_AA64PFR1_EL1": {"PFAR": (63, 60), "DF2": (59, 56), "MTEX": (55, 52), "THE": (51, 48),
                        "GCS": (47, 44), "MTE_frac": (43, 40), "NMI": (39, 36),
                        "CSV2_frac": (35, 32), "RNDR_trap": (31, 28), "SME": (27, 24),
                        "MPAM_frac": (19, 16), "RAS_frac": (15, 12), "MTE": (11, 8),
                        "SSBS": (7, 4), "BT": (3, 0)},
    "ID_AA64ISAR1_EL1": {"LS64": (63, 60), "XS": (59, 56), "I8MM": (55, 52), "DGH": (51, 48),
                         "BF16": (47, 44), "SPECRES": (43, 40), "SB": (39, 36),
                         "FRINTTS": (35, 32), "GPI": (31, 28), "GPA": (27, 24),
                         "LRCPC": (23, 20), "FCMA": (19, 16), "JSCVT": (15, 12),
                         "API": (11, 8), "APA": (7, 4), "DPB": (3, 0)},
}


@pytest.mark.parametrize("reg", sorted(LINUX_SYSREG))
def test_id_and_cache_registers_match_linux_sysreg(reg: str) -> None:
    """Every named field of the table is where Linux's sysreg file puts it, and no other."""
    layout = getattr(sr, reg)
    ours = {f.name.upper(): (f.msb, f.lsb) for f in layout.fields
            if f.kind not in (FieldKind.RES0, FieldKind.RES1)}
    assert ours == {k.upper(): v for k, v in LINUX_SYSREG[reg].items()}


def test_id_register_encodings_used_by_the_model() -> None:
    """The encodings memattr reads: FWB, XS, MTE2, LS64, 52-bit granules and PARange."""
    assert sr.ID_AA64MMFR2_EL1.field("FWB").values[1] == "IMP"
    assert sr.ID_AA64ISAR1_EL1.field("XS").values[1] == "IMP"
    assert sr.ID_AA64PFR1_EL1.field("MTE").values[2] == "MTE2"
    assert sr.ID_AA64ISAR1_EL1.field("LS64").values[3] == "LS64_ACCDATA"
    assert sr.ID_AA64MMFR0_EL1.field("TGran4").values == {0: "IMP", 1: "52_BIT", 0xF: "NI"}
    parange = sr.ID_AA64MMFR0_EL1.field("PARange").values
    assert {k: int(v.split()[0]) for k, v in parange.items()} == {
        enc: bits for enc, bits in PA_SIZE_BITS.items()} | {0b111: 56}


def test_mair_elx_attr_n_is_bits_8n_plus_7_to_8n() -> None:
    """MAIR_ELx.Attr<n> is [8n+7:8n] for n in 0..7; EL1 and EL2 share the table."""
    for n in range(8):
        assert _pos(sr.MAIR_ELx, f"Attr{n}") == (8 * n + 7, 8 * n)
    assert sr.MAIR_EL1 is sr.MAIR_ELx is sr.MAIR_EL2
    assert sr.MAIR_ELx.get(0x000C_0400_BBFF_44F0, "Attr2") == 0xFF


def test_ctr_el0_res1_bit_31() -> None:
    """CTR_EL0[31] is RES1: a value without it is reported, one with it is clean."""
    assert sr.CTR_EL0.check(0x8444C004) == []
    assert "RES1" in sr.CTR_EL0.check(0x0444C004)[0]


def test_mair_attr_byte_halves() -> None:
    """MAIR_ATTR splits an attribute byte into Attr<n>[7:4] and Attr<n>[3:0]."""
    assert sr.MAIR_ATTR.decode(0x4F) == {"Outer": 0x4, "Inner": 0xF}


def test_importing_the_tables_does_not_load_the_descriptor_formats() -> None:
    """Decoding MAIR, CTR or an ID register stays cheap: arch.descriptor is not imported."""
    code = "import sys, memattr.arch.sysregs; print('memattr.arch.descriptor' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
