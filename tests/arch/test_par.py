"""PAR_EL1: EncodePARAttrs, PAREncodeShareability, and encode/decode round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memattr.arch import registers as R
from memattr.arch.esr import decode_fsc, encode_fsc
from memattr.arch.mair import decode_attr
from memattr.arch.memtype import (
    CACHE_NC,
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
    device,
    normal,
)
from memattr.arch.par import (
    PAR_ATTR_NOTAGACCESS,
    PAR_ATTR_TAGGED,
    decode_par,
    encode_par,
    encode_par_attrs,
    encode_par_fault,
    par_encode_shareability,
)
from memattr.errors import EncodingError

ALLOCATED = [b for b in range(256) if decode_attr(b).attrs is not None]


@pytest.mark.parametrize("byte", ALLOCATED)
def test_attr_is_the_mair_byte_of_the_attributes(byte: int) -> None:
    """EncodePARAttrs(S1DecodeMemAttrs(b)) == b for every allocated MAIR byte: PAR_EL1.ATTR is
    in MAIR format (Tagged 0xF0, the FEAT_XS bytes 0x40, 0xA0 and 0b0000dd01 included)."""
    attrs = decode_attr(byte).attrs
    assert attrs is not None
    assert encode_par_attrs(attrs) == byte


def test_attr_without_feat_xs_and_mte() -> None:
    """Without FEAT_XS ATTR[0] is 0 and the XS=0 Normal forms do not arise; without FEAT_MTE
    Tagged memory is reported as its Normal form; NoTagAccess is 0xE0 (FEAT_MTE_PERM)."""
    dev = device(DeviceType.nGnRE, xs=False)
    assert encode_par_attrs(dev) == 0x05 and encode_par_attrs(dev, xs=False) == 0x04
    nc0 = normal(CACHE_NC, xs=False)
    assert encode_par_attrs(nc0) == 0x40 and encode_par_attrs(nc0, xs=False) == 0x44
    wb = CacheAttrs(Cacheability.WB, True, True)
    tagged = normal(wb, tagged=True)
    assert encode_par_attrs(tagged) == PAR_ATTR_TAGGED
    assert encode_par_attrs(tagged, mte=False) == 0xFF
    nt = MemoryAttributes(MemType.Normal, inner=wb, outer=wb, tagged=True, notagaccess=True)
    assert encode_par_attrs(nt) == PAR_ATTR_NOTAGACCESS
    assert encode_par_attrs(nt, mte_perm=False) == PAR_ATTR_TAGGED


def test_shareability() -> None:
    """PAREncodeShareability: Device and Normal Non-cacheable report OSH; else the SH."""
    assert par_encode_shareability(device(DeviceType.GRE)) == 0b10
    assert par_encode_shareability(normal(CACHE_NC, shareability=Shareability.NSH)) == 0b10
    wb = CacheAttrs(Cacheability.WB, True, True)
    for sh in Shareability:
        assert par_encode_shareability(normal(wb, shareability=sh)) == sh.encoding


@given(pa=st.integers(0, (1 << 52) - 1), byte=st.sampled_from(ALLOCATED),
       sh=st.sampled_from(list(Shareability)))
def test_success_round_trip(pa: int, byte: int, sh: Shareability) -> None:
    """decode_par(encode_par(pa, attrs)) gives the page of pa, ATTR and SH back, F=0, and the
    value satisfies the PAR_EL1 field table (RES1 bit 11, RES0 bits)."""
    base = decode_attr(byte).attrs
    assert base is not None
    attrs = base.with_shareability(sh)
    v = encode_par(pa, attrs)
    p = decode_par(v)
    assert not p.f and p.pa == pa & ~0xFFF and p.attr == byte and p.ns
    assert p.sh == par_encode_shareability(attrs) and p.problems == ()
    assert R.PAR_EL1.get(v, "RES1_11") == 1


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("ptw", [False, True])
def test_fault_round_trip(stage: int, ptw: bool) -> None:
    """Every fault status code round-trips through encode_par_fault / decode_par (F=1, FST,
    PTW, S)."""
    for code in range(64):
        fst = decode_fsc(code)
        v = encode_par_fault(code, ptw=ptw, stage=stage)
        p = decode_par(v)
        assert p.f and p.fst == fst and p.ptw is ptw and p.stage == stage
        assert p.problems == () and v >> 12 == 0
    assert encode_par_fault(encode_fsc(decode_fsc(0b000100).kind, 0), ptw=False,
                            stage=1) == 0b1000_0000_1001


def test_decode_reports_violations_and_bounds() -> None:
    """RES1 bit 11 clear is reported; more than 64 bits is an error."""
    assert decode_par(0x1).problems
    with pytest.raises(EncodingError):
        decode_par(1 << 64)
    with pytest.raises(EncodingError):
        encode_par(1 << 52, device(DeviceType.nGnRnE))
