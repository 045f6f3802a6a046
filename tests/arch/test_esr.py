"""ESR_ELx and HPFAR_EL2: tables, decode and encode (Arm ARM D24.2 ESR_EL2, HPFAR_EL2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memattr.arch.esr import (
    EC,
    EC_MEANING,
    HPFAR_EL2,
    ISS_LAYOUTS,
    ESR_ELx,
    FaultKind,
    decode_esr,
    decode_fsc,
    encode_abort_esr,
    encode_esr,
    encode_fsc,
    encode_hpfar,
    hpfar_ipa,
    iss2_layout,
    iss_layout,
)
from memattr.arch.fields import LAYOUTS, FieldKind
from memattr.errors import EncodingError


def test_user_story_alignment_syndrome() -> None:
    """The syndrome of 'kvm: Unsupported FSC: ... ESR_EL2=0x92000061' is a write alignment fault."""
    s = decode_esr(0x92000061)
    assert s.ec == EC.DABT_LOW
    assert s.il is True
    assert s.isv is False
    assert s.wnr is True
    assert s.s1ptw is False
    assert s.fsc is not None and s.fsc.kind is FaultKind.ALIGNMENT and s.fsc.level is None


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        (0b0000, FaultKind.ADDRESS_SIZE),
        (0b0001, FaultKind.TRANSLATION),
        (0b0010, FaultKind.ACCESS_FLAG),
        (0b0011, FaultKind.PERMISSION),
        (0b0101, FaultKind.SYNC_EXTERNAL_ON_WALK),
    ],
)
@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_levelled_fsc(prefix: int, kind: FaultKind, level: int) -> None:
    """Table-walk fault codes are 0bKKKKLL with the level in the low two bits."""
    code = (prefix << 2) | level
    fs = decode_fsc(code)
    assert (fs.kind, fs.level) == (kind, level)
    assert encode_fsc(kind, level) == code


def test_fixed_fsc_codes() -> None:
    """Alignment is 0b100001 and an unsupported exclusive/atomic is 0b110101."""
    assert decode_fsc(0b100001).kind is FaultKind.ALIGNMENT
    assert decode_fsc(0b110101).kind is FaultKind.UNSUPPORTED_ATOMIC
    assert decode_fsc(0b010000).kind is FaultKind.SYNC_EXTERNAL
    assert decode_fsc(0b101011).level == -1


def test_fsc_out_of_range() -> None:
    """A code wider than 6 bits is rejected with the value named."""
    with pytest.raises(EncodingError, match="FSC=0x40"):
        decode_fsc(0x40)


@given(
    fsc=st.sampled_from([0x04, 0x05, 0x06, 0x07, 0x09, 0x0D, 0x21, 0x35]),
    wnr=st.booleans(),
    s1ptw=st.booleans(),
    isv=st.booleans(),
    sas=st.integers(0, 3),
    srt=st.integers(0, 31),
    sf=st.booleans(),
)
def test_data_abort_round_trip(
    fsc: int, wnr: bool, s1ptw: bool, isv: bool, sas: int, srt: int, sf: bool
) -> None:
    """Every field written by encode_abort_esr reads back from decode_esr."""
    s = decode_esr(encode_abort_esr(fsc=fsc, wnr=wnr, s1ptw=s1ptw, isv=isv, sas=sas, srt=srt, sf=sf))
    assert s.fsc is not None and s.fsc.code == fsc
    assert (s.wnr, s.s1ptw, s.isv) == (wnr, s1ptw, isv)
    if isv:
        assert (s.sas, s.srt, s.sf) == (sas, srt, sf)
    else:
        assert s.sas is None and s.srt is None


def test_instruction_abort() -> None:
    """An instruction abort from a lower EL has EC 0x20 and no WnR."""
    s = decode_esr(encode_abort_esr(fsc=0x0F, instruction=True))
    assert s.ec == EC.IABT_LOW and s.wnr is None
    assert s.fsc is not None and s.fsc.kind is FaultKind.PERMISSION and s.fsc.level == 3


# --- exception classes ---------------------------------------------------------------------

# Arm ARM D24.2 ESR_EL2, table of EC values (every allocated class), with ESR_EL3-only GPC and
# IMP_DEF and the withdrawn TSTART; names as Linux arch/arm64/include/asm/esr.h ESR_ELx_EC_*.
ARM_ECS = {
    0x00: "UNKNOWN", 0x01: "WFx", 0x03: "CP15_32", 0x04: "CP15_64", 0x05: "CP14_MR",
    0x06: "CP14_LS", 0x07: "FP_ASIMD", 0x08: "CP10_ID", 0x09: "PAC", 0x0A: "OTHER",
    0x0C: "CP14_64", 0x0D: "BTI", 0x0E: "ILL", 0x11: "SVC32", 0x12: "HVC32", 0x13: "SMC32",
    0x14: "SYS128", 0x15: "SVC64", 0x16: "HVC64", 0x17: "SMC64", 0x18: "SYS64", 0x19: "SVE",
    0x1A: "ERET", 0x1B: "TSTART", 0x1C: "FPAC", 0x1D: "SME", 0x1E: "GPC", 0x1F: "IMP_DEF",
    0x20: "IABT_LOW", 0x21: "IABT_CUR", 0x22: "PC_ALIGN", 0x24: "DABT_LOW", 0x25: "DABT_CUR",
    0x26: "SP_ALIGN", 0x27: "MOPS", 0x28: "FP_EXC32", 0x2C: "FP_EXC64", 0x2D: "GCS",
    0x2F: "SERROR", 0x30: "BREAKPT_LOW", 0x31: "BREAKPT_CUR", 0x32: "SOFTSTP_LOW",
    0x33: "SOFTSTP_CUR", 0x34: "WATCHPT_LOW", 0x35: "WATCHPT_CUR", 0x38: "BKPT32",
    0x3A: "VECTOR32", 0x3C: "BRK64", 0x3D: "PROFILING",
}


def test_every_allocated_class_is_named_and_described() -> None:
    """EC covers exactly Arm's allocated classes, each with a meaning and the ESR_ELx.EC name."""
    assert {e.value: e.name for e in EC} == ARM_ECS
    assert set(EC_MEANING) == set(EC)
    assert dict(ESR_ELx.field("EC").values) == ARM_ECS


@pytest.mark.parametrize("ec", range(64))
def test_every_class_decodes_with_its_name(ec: int) -> None:
    """Each of the 64 EC values decodes: allocated ones by name and meaning, others as EC 0x.."""
    s = decode_esr(encode_esr(ec, 0))
    first = s.lines[0]
    if ec in ARM_ECS:
        assert f"({ARM_ECS[ec]}: {EC_MEANING[EC(ec)]})" in first
    else:
        assert f"EC 0x{ec:02x}: unallocated" in first
    assert "EC 0x" not in first or ec not in ARM_ECS


def test_iss_layout_for_every_class_that_defines_one() -> None:
    """Every class but TSTART, GPC and IMP_DEF has an ISS table; DABT and SError pick by a bit."""
    assert set(EC) - set(ISS_LAYOUTS) == {EC.TSTART, EC.GPC, EC.IMP_DEF}
    assert iss_layout(EC.DABT_LOW, 1 << 24).name == "ESR_ELx_ISS_DABT"
    assert iss_layout(EC.DABT_LOW, 0).name == "ESR_ELx_ISS_DABT_NOISV"
    assert iss_layout(EC.SERROR, 1 << 24).name == "ESR_ELx_ISS_SERROR_IMPDEF"
    assert iss_layout(EC.SERROR, 0x11).name == "ESR_ELx_ISS_SERROR"
    assert iss_layout(0x3B) is None and iss2_layout(0x3B) is None


# (layout, field) -> (shift, width), from Linux arch/arm64/include/asm/esr.h (v6.13):
# ESR_ELx_<F>_SHIFT and the width of its mask.
LINUX_ESR_H = [
    ("ESR_ELx", "EC", 26, 6), ("ESR_ELx", "IL", 25, 1), ("ESR_ELx", "ISS", 0, 25),
    ("ESR_ELx", "ISS2", 32, 24),
    ("ESR_ELx_ISS_DABT", "ISV", 24, 1), ("ESR_ELx_ISS_DABT", "SAS", 22, 2),
    ("ESR_ELx_ISS_DABT", "SSE", 21, 1), ("ESR_ELx_ISS_DABT", "SRT", 16, 5),
    ("ESR_ELx_ISS_DABT", "SF", 15, 1), ("ESR_ELx_ISS_DABT", "AR", 14, 1),
    ("ESR_ELx_ISS_DABT", "VNCR", 13, 1), ("ESR_ELx_ISS_DABT", "SET", 11, 2),
    ("ESR_ELx_ISS_DABT", "FnV", 10, 1), ("ESR_ELx_ISS_DABT", "EA", 9, 1),
    ("ESR_ELx_ISS_DABT", "CM", 8, 1), ("ESR_ELx_ISS_DABT", "S1PTW", 7, 1),
    ("ESR_ELx_ISS_DABT", "WnR", 6, 1), ("ESR_ELx_ISS_DABT", "DFSC", 0, 6),
    ("ESR_ELx_ISS_IABT", "SET", 11, 2), ("ESR_ELx_ISS_IABT", "S1PTW", 7, 1),
    ("ESR_ELx_ISS_SERROR", "IDS", 24, 1), ("ESR_ELx_ISS_SERROR", "AET", 10, 3),
    ("ESR_ELx_ISS_SERROR", "EA", 9, 1),
    ("ESR_ELx_ISS_WFx", "CV", 24, 1), ("ESR_ELx_ISS_WFx", "COND", 20, 4),
    ("ESR_ELx_ISS_WFx", "RN", 5, 5), ("ESR_ELx_ISS_WFx", "RV", 2, 1),
    ("ESR_ELx_ISS_WFx", "TI", 0, 2),
    ("ESR_ELx_ISS_SYS64", "Op0", 20, 2), ("ESR_ELx_ISS_SYS64", "Op2", 17, 3),
    ("ESR_ELx_ISS_SYS64", "Op1", 14, 3), ("ESR_ELx_ISS_SYS64", "CRn", 10, 4),
    ("ESR_ELx_ISS_SYS64", "Rt", 5, 5), ("ESR_ELx_ISS_SYS64", "CRm", 1, 4),
    ("ESR_ELx_ISS_SYS64", "Direction", 0, 1), ("ESR_ELx_ISS_SYS64", "RES0_24_22", 22, 3),
    ("ESR_ELx_ISS_MCR", "Opc2", 17, 3), ("ESR_ELx_ISS_MCR", "Opc1", 14, 3),
    ("ESR_ELx_ISS_MCRR", "Rt2", 10, 5), ("ESR_ELx_ISS_MCRR", "Opc1", 16, 4),
    ("ESR_ELx_ISS_xVC", "imm16", 0, 16), ("ESR_ELx_ISS_BRK", "Comment", 0, 16),
    ("ESR_ELx_ISS_SME", "SMTC", 0, 3), ("ESR_ELx_ISS_FP_EXC", "TFV", 23, 1),
    ("ESR_ELx_ISS_MOPS", "MemInst", 24, 1), ("ESR_ELx_ISS_MOPS", "FromEpilogue", 18, 1),
    ("ESR_ELx_ISS_MOPS", "WrongOption", 17, 1),
    ("ESR_ELx_ISS_MOPS", "OptionA", 16, 1), ("ESR_ELx_ISS_MOPS", "destreg", 10, 5),
    ("ESR_ELx_ISS_MOPS", "srcreg", 5, 5), ("ESR_ELx_ISS_MOPS", "sizereg", 0, 5),
    ("ESR_ELx_ISS_GCS", "ExType", 20, 4), ("ESR_ELx_ISS_GCS", "Raddr", 10, 5),
    ("ESR_ELx_ISS_GCS", "Rn", 5, 5),
    ("ESR_ELx_ISS2_DABT", "TnD", 10, 1), ("ESR_ELx_ISS2_DABT", "TagAccess", 9, 1),
    ("ESR_ELx_ISS2_DABT", "GCS", 8, 1), ("ESR_ELx_ISS2_DABT", "Overlay", 6, 1),
    ("ESR_ELx_ISS2_DABT", "DirtyBit", 5, 1), ("ESR_ELx_ISS2_DABT", "Xs", 0, 5),
]


@pytest.mark.parametrize(("layout", "name", "shift", "width"), LINUX_ESR_H)
def test_iss_positions_match_linux_esr_h(layout: str, name: str, shift: int, width: int) -> None:
    """Each ISS field sits where Linux's asm/esr.h puts it."""
    f = LAYOUTS[layout].field(name)
    assert (f.lsb, f.width) == (shift, width)


def test_enum_encodings_match_linux_esr_h() -> None:
    """AET, WFx TI and SMTC encodings are Linux's ESR_ELx_AET_*, _WFx_ISS_*, _SME_ISS_SMTC_*."""
    aet = ISS_LAYOUTS[EC.SERROR].field("AET").values
    assert {k: v.split()[0] for k, v in aet.items()} == {0: "UC", 1: "UEU", 2: "UEO", 3: "UER",
                                                          6: "CE"}
    assert dict(ISS_LAYOUTS[EC.WFx].field("TI").values) == {0: "WFI", 1: "WFE", 2: "WFIT",
                                                             3: "WFET"}
    assert set(ISS_LAYOUTS[EC.SME].field("SMTC").values) == {0, 1, 2, 3, 4}


# --- fault status codes --------------------------------------------------------------------

# Arm ARM D24.2 ESR_EL2 "ISS encoding for an exception from a Data Abort", DFSC: code ->
# (kind, level); every other 6-bit code is reserved.
ARM_DFSC = {
    **{0x00 + n: (FaultKind.ADDRESS_SIZE, n) for n in range(4)},
    **{0x04 + n: (FaultKind.TRANSLATION, n) for n in range(4)},
    **{0x08 + n: (FaultKind.ACCESS_FLAG, n) for n in range(4)},
    **{0x0C + n: (FaultKind.PERMISSION, n) for n in range(4)},
    0x10: (FaultKind.SYNC_EXTERNAL, None), 0x11: (FaultKind.TAG_CHECK, None),
    0x12: (FaultKind.SYNC_EXTERNAL_ON_WALK, -2), 0x13: (FaultKind.SYNC_EXTERNAL_ON_WALK, -1),
    **{0x14 + n: (FaultKind.SYNC_EXTERNAL_ON_WALK, n) for n in range(4)},
    0x18: (FaultKind.SYNC_PARITY, None), 0x1B: (FaultKind.SYNC_PARITY_ON_WALK, -1),
    **{0x1C + n: (FaultKind.SYNC_PARITY_ON_WALK, n) for n in range(4)},
    0x21: (FaultKind.ALIGNMENT, None),
    0x22: (FaultKind.GRANULE_PROTECTION_ON_WALK, -2),
    0x23: (FaultKind.GRANULE_PROTECTION_ON_WALK, -1),
    **{0x24 + n: (FaultKind.GRANULE_PROTECTION_ON_WALK, n) for n in range(4)},
    0x28: (FaultKind.GRANULE_PROTECTION, None), 0x29: (FaultKind.ADDRESS_SIZE, -1),
    0x2A: (FaultKind.TRANSLATION, -2), 0x2B: (FaultKind.TRANSLATION, -1),
    0x2C: (FaultKind.ADDRESS_SIZE, -2), 0x30: (FaultKind.TLB_CONFLICT, None),
    0x31: (FaultKind.UNSUPPORTED_ATOMIC_UPDATE, None), 0x34: (FaultKind.LOCKDOWN, None),
    0x35: (FaultKind.UNSUPPORTED_ATOMIC, None),
}


@pytest.mark.parametrize("code", range(64))
def test_every_fsc_code(code: int) -> None:
    """All 64 codes decode as Arm's DFSC table says; reserved ones as OTHER; listed ones encode."""
    fs = decode_fsc(code)
    want = ARM_DFSC.get(code, (FaultKind.OTHER, None))
    assert (fs.kind, fs.level) == want
    if code in ARM_DFSC:
        assert encode_fsc(*want) == code
        assert "reserved" not in str(fs)
    else:
        assert str(fs) == f"reserved fault status code (FSC 0x{code:02x})"


def test_encode_fsc_refuses_a_level_that_has_no_code() -> None:
    """An access flag fault at level -1 has no code: the error says which levels exist."""
    with pytest.raises(EncodingError, match=r"access flag fault at level -1 .*level 0\.\.3"):
        encode_fsc(FaultKind.ACCESS_FLAG, -1)


# --- decode: every bit accounted for -------------------------------------------------------


@given(st.integers(0, (1 << 64) - 1))
def test_decode_keeps_every_iss_bit(value: int) -> None:
    """The decoded ISS/ISS2 rows reassemble ISS/ISS2 exactly, and set RES0 bits are reported."""
    s = decode_esr(value)
    if s.iss_layout is not None:
        layout = LAYOUTS[s.iss_layout]
        assert sum(x << layout.field(n).lsb for n, x in s.iss_fields) == s.iss
        res0 = any(x for n, x in s.iss_fields if layout.field(n).kind is FieldKind.RES0)
        iss_lines = [ln for ln in s.lines[1:] if not ln.startswith(("ISS2", "ESR["))]
        if res0:
            assert "RES0 violated" in "\n".join(iss_lines)
    if s.iss2_layout is not None:
        layout2 = LAYOUTS[s.iss2_layout]
        assert sum(x << layout2.field(n).lsb for n, x in s.iss2_fields) == s.iss2
    elif s.iss2:
        assert any("ISS2=" in line for line in s.lines)
    if value >> 56:
        assert any(ln.startswith("ESR[63:56]=") for ln in s.lines)


def test_serror_iss() -> None:
    """An SError syndrome names AET, the DFSC and IDS; IDS=1 leaves [23:0] raw."""
    s = decode_esr(0xBE000811)  # EC 0x2F, AET UEO, DFSC Asynchronous SError
    assert s.ec == EC.SERROR and s.field("AET") == 0b010 and s.fsc is None
    text = "\n".join(s.lines)
    assert "SERROR: SError exception" in text and "AET=UEO (Restartable state)" in text
    assert "DFSC=Asynchronous SError exception" in text
    assert "IMPDEF=0x1234" in "\n".join(decode_esr(0xBF001234).lines)


def test_trap_iss() -> None:
    """WFx, HVC, SYS64 and BRK syndromes decode to their fields, SYS64 to MRS/MSR text."""
    assert "TI=WFE" in decode_esr(encode_esr(EC.WFx, (1 << 24) | (0xE << 20) | 1)).lines[1]
    assert "imm16=0x4" in decode_esr(encode_esr(EC.HVC64, 4)).lines[1]
    mrs = encode_esr(EC.SYS64, (3 << 20) | (0 << 17) | (0 << 14) | (2 << 10) | (5 << 5)
                     | (1 << 1) | 1)
    assert "(MRS x5, S3_0_C2_C1_0)" in decode_esr(mrs).lines[1]
    assert "Comment=0x1234" in decode_esr(encode_esr(EC.BRK64, 0x1234)).lines[1]


def test_abort_extra_fields_show_when_set() -> None:
    """VNCR, SET (external abort) and LST (translation fault) appear on the flag line when set."""
    sea = encode_abort_esr(fsc=0x10) | (0b11 << 11)
    assert "SET=UEO (Restartable state)" in decode_esr(sea).lines[2]
    lst = encode_abort_esr(fsc=0x07, vncr=True) | (0b10 << 11)
    line = decode_esr(lst).lines[2]
    assert "LST=LD64B or ST64B" in line and "VNCR=1" in line


@given(
    fsc=st.sampled_from(sorted(ARM_DFSC)), wnr=st.booleans(), s1ptw=st.booleans(),
    cm=st.booleans(), ea=st.booleans(), fnv=st.booleans(), lower=st.booleans(),
)
def test_abort_flags_round_trip(fsc: int, wnr: bool, s1ptw: bool, cm: bool, ea: bool, fnv: bool,
                                lower: bool) -> None:
    """CM, EA, FnV and the EC choice written by encode_abort_esr read back."""
    s = decode_esr(encode_abort_esr(fsc=fsc, wnr=wnr, s1ptw=s1ptw, cm=cm, ea=ea, fnv=fnv,
                                    lower_el=lower))
    assert s.ec == (EC.DABT_LOW if lower else EC.DABT_CUR)
    assert (s.wnr, s.s1ptw, s.cm, s.ea, s.fnv) == (wnr, s1ptw, cm, ea, fnv)


def test_encode_refuses_what_does_not_fit() -> None:
    """An over-wide FSC, SAS or ISS is an EncodingError naming the field, not a silent mask."""
    with pytest.raises(EncodingError, match="ESR_ELx_ISS_DABT_NOISV.DFSC=0x40"):
        encode_abort_esr(fsc=0x40)
    with pytest.raises(EncodingError, match="ESR_ELx_ISS_DABT.SAS=0x4"):
        encode_abort_esr(fsc=0x07, isv=True, sas=4)
    with pytest.raises(EncodingError, match="ESR_ELx.ISS=0x2000000"):
        encode_esr(EC.HVC64, 1 << 25)


# --- HPFAR_EL2 -----------------------------------------------------------------------------


@given(st.integers(0, (1 << 52) - 1), st.integers(0, (1 << 64) - 1))
def test_hpfar_round_trip(ipa: int, far: int) -> None:
    """FIPA holds IPA[51:12] in bits [43:4] (Arm ARM HPFAR_EL2); FAR gives IPA[11:0]."""
    hpfar = encode_hpfar(ipa)
    assert hpfar == (ipa >> 12) << 4
    assert hpfar_ipa(hpfar, far) == (ipa & ~0xFFF) | (far & 0xFFF)


def test_hpfar_refuses_a_wider_ipa() -> None:
    """An IPA beyond 52 bits cannot be reported: EncodingError naming HPFAR_EL2.FIPA."""
    with pytest.raises(EncodingError, match="HPFAR_EL2.FIPA"):
        encode_hpfar(1 << 52)
    assert HPFAR_EL2.get(encode_hpfar(0x1000, ns=True), "NS") == 1
