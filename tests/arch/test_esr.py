"""ESR_ELx abort syndromes: decode and encode (Arm ARM D24.2 ESR_EL2, Data/Instruction Abort ISS)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memattr.arch.esr import EC, FaultKind, decode_esr, decode_fsc, encode_abort_esr, encode_fsc
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
