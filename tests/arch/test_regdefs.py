"""memattr.arch.regdefs: constants derived from the field tables, named as Linux names its own."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memattr.arch import regdefs
from memattr.arch.fields import LAYOUTS, FieldKind

ALL = regdefs.constants()

# Values as Linux spells them: arch/arm64/include/asm/esr.h (ESR_ELx_*), kvm_arm.h (HCR_*,
# VTCR_EL2_*), pgtable-hwdef.h (TCR_*), arch/arm64/tools/sysreg (ID registers, CTR_EL0).
LINUX = {
    "ESR_ELx_EC_SHIFT": 26, "ESR_ELx_EC_MASK": 0x3F << 26, "ESR_ELx_IL": 1 << 25,
    "ESR_ELx_ISS_MASK": (1 << 25) - 1, "ESR_ELx_ISS2_SHIFT": 32,
    "ESR_ELx_ISS2_MASK": ((1 << 24) - 1) << 32,
    "ESR_ELx_EC_DABT_LOW": 0x24, "ESR_ELx_EC_SYS64": 0x18, "ESR_ELx_EC_SERROR": 0x2F,
    "ESR_ELx_EC_BRK64": 0x3C, "ESR_ELx_EC_WFx": 0x01,
    "ESR_ELx_ISS_DABT_ISV": 1 << 24, "ESR_ELx_ISS_DABT_SAS_SHIFT": 22,
    "ESR_ELx_ISS_DABT_SRT_MASK": 0x1F << 16, "ESR_ELx_ISS_DABT_CM": 1 << 8,
    "ESR_ELx_ISS_DABT_S1PTW": 1 << 7, "ESR_ELx_ISS_DABT_WnR": 1 << 6,
    "ESR_ELx_ISS_SERROR_AET_SHIFT": 10, "ESR_ELx_ISS_SERROR_AET_MASK": 0x7 << 10,
    "ESR_ELx_ISS_SERROR_IDS": 1 << 24, "ESR_ELx_ISS_WFx_RN_MASK": 0x1F << 5,
    "ESR_ELx_ISS_WFx_RV": 1 << 2, "ESR_ELx_ISS_WFx_TI_MASK": 3, "ESR_ELx_ISS_WFx_TI_WFE": 1,
    "ESR_ELx_ISS_SYS64_Op0_SHIFT": 20,
    "ESR_ELx_ISS_SYS64_Rt_MASK": 0x1F << 5, "ESR_ELx_ISS_xVC_imm16_MASK": (1 << 16) - 1,
    "HCR_EL2_FWB": 1 << 46, "HCR_EL2_VM": 1, "HCR_EL2_CD": 1 << 32, "HCR_EL2_PTW": 1 << 2,
    "VTCR_EL2_SH0_SHIFT": 12, "VTCR_EL2_SH0_ISH": 3, "VTCR_EL2_DS": 1 << 32,
    "VTCR_EL2_SL0_SHIFT": 6, "VTCR_EL2_PS_SHIFT": 16,
    "TCR_EL1_DS": 1 << 59, "TCR_EL1_SH0_SHIFT": 12, "TCR_EL1_SH1_SHIFT": 28,
    "TCR_EL1_TG1_4KB": 0b10, "TCR_EL1_TG0_64KB": 0b01, "TCR_EL1_IPS_SHIFT": 32,
    "ID_AA64MMFR2_EL1_FWB_SHIFT": 40, "ID_AA64MMFR2_EL1_FWB_IMP": 1,
    "ID_AA64MMFR0_EL1_PARange_SHIFT": 0, "ID_AA64MMFR0_EL1_TGran4_52_BIT": 1,
    "ID_AA64MMFR1_EL1_HAFDBS_DBM": 2, "ID_AA64PFR1_EL1_MTE_MTE2": 2,
    "ID_AA64ISAR1_EL1_XS_SHIFT": 56, "CTR_EL0_DIC_SHIFT": 29, "CTR_EL0_IDC_SHIFT": 28,
    "CTR_EL0_RES1": 1 << 31, "MAIR_ELx_Attr4_SHIFT": 32, "TTBRx_EL1_ASID_SHIFT": 48,
    "HPFAR_EL2_FIPA_SHIFT": 4,
}


@pytest.mark.parametrize(("name", "value"), sorted(LINUX.items()))
def test_constants_have_linux_values(name: str, value: int) -> None:
    """Each named constant has the value Linux's headers give it."""
    assert ALL[name] == value
    assert getattr(regdefs, name) == value


def test_import_by_name() -> None:
    """Constants import by name; an unknown name is an ImportError saying no table defines it."""
    from memattr.arch.regdefs import HCR_EL2_FWB, ESR_ELx_EC_SHIFT

    assert (ESR_ELx_EC_SHIFT, HCR_EL2_FWB) == (26, 1 << 46)
    with pytest.raises(AttributeError, match="no field table defines it"):
        regdefs.__getattr__("HCR_EL2_NOPE")
    assert "HCR_EL2_FWB" in dir(regdefs)


def test_reserved_rows_have_no_constants() -> None:
    """RES0/RES1/IGNORED rows give only the layout-wide _RES0/_RES1 masks."""
    assert not [n for n in ALL if re.search(r"RES[01]_[0-9]", n)]
    assert ALL["ESR_ELx_RES0"] == ((1 << 8) - 1) << 56


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=25)
@given(v=st.integers(0, (1 << 64) - 1))
def test_shift_and_mask_extract_what_the_table_does(layout: str, v: int) -> None:
    """For every field of every table, (v & MASK) >> SHIFT is the table's get(v, field)."""
    lay = LAYOUTS[layout]
    v &= (1 << lay.width) - 1
    for f in lay.fields:
        if f.kind in (FieldKind.RES0, FieldKind.RES1, FieldKind.IGNORED):
            continue
        shift, mask = ALL[f"{layout}_{f.name}_SHIFT"], ALL[f"{layout}_{f.name}_MASK"]
        assert (v & mask) >> shift == lay.get(v, f.name)
        assert ALL[f"{layout}_{f.name}_WIDTH"] == mask.bit_length() - shift


def test_identifier() -> None:
    """Enum names become identifiers: anything but letters, digits and _ turns into _."""
    assert regdefs.identifier("WB-RA-WA") == "WB_RA_WA"
    assert regdefs.identifier("48 bits") == "48_bits"


def test_lookup_imports_only_the_table_it_needs() -> None:
    """Importing regdefs builds nothing; an ESR name loads arch.esr but not arch.descriptor."""
    code = ("import sys; import memattr.arch.regdefs as s; "
            "a = 'memattr.arch.esr' in sys.modules; "
            "from memattr.arch.regdefs import ESR_ELx_EC_SHIFT; "
            "print(a, 'memattr.arch.esr' in sys.modules, 'memattr.arch.descriptor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True", "False"]
