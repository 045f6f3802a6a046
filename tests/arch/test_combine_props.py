"""Properties of S1 x S2 combining, checked with Hypothesis (docs/architecture.md#stage-2-memattr-with-fwb,
docs/architecture.md#combining-stage-1-and-stage-2, docs/review.md#stage-2-encodings).

Strength order used below ("weaker" = fewer guarantees), from
docs/architecture.md#combining-stage-1-and-stage-2:
Device is stronger than Normal; among Device types nGnRnE > nGnRE > nGRE > GRE (the dd
encoding, lower is stronger); among Normal cacheabilities, per level, NC > WT > WB.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import (
    arch_defined_s1_bytes,
    arch_defined_s2_nofwb,
    arch_mair_bytes,
    arch_s2_memattrs,
    arch_sh_fields,
)

from memattr.arch import combine, mair
from memattr.arch.combine import Access, Controls
from memattr.arch.memtype import Cacheability, MemoryAttributes, Shareability

# Strength of a cacheability per level: NC strongest.
CACHE_STRENGTH = {Cacheability.NC: 2, Cacheability.WT: 1, Cacheability.WB: 0}
S2_CACHE = {0b01: Cacheability.NC, 0b10: Cacheability.WT, 0b11: Cacheability.WB}
DEVICE_BYTES = (0x00, 0x04, 0x08, 0x0C, 0x01, 0x05, 0x09, 0x0D)

# A stage's type for the strength comparison: ("Device", dd) or ("Normal", inner, outer).
StageType = tuple


def s1_type(byte: int) -> StageType:
    a = mair.decode_attr(byte).attrs
    assert a is not None
    if a.device is not None:
        return ("Device", a.device.value)
    return ("Normal", a.inner.cacheability, a.outer.cacheability)  # type: ignore[union-attr]


def s2_type(memattr: int) -> StageType:
    """docs/architecture.md#stage-2-memattr-without-fwb: 00dd Device dd; otherwise outer MemAttr[3:2], inner
    MemAttr[1:0]."""
    if memattr >> 2 == 0:
        return ("Device", memattr & 3)
    return ("Normal", S2_CACHE[memattr & 3], S2_CACHE[memattr >> 2])


def result_type(a: MemoryAttributes) -> StageType:
    if a.device is not None:
        return ("Device", a.device.value)
    return ("Normal", a.inner.cacheability, a.outer.cacheability)  # type: ignore[union-attr]


def at_least_as_strong(r: StageType, x: StageType) -> bool:
    """True when r is not weaker than x in the order above."""
    if x[0] == "Device":
        return r[0] == "Device" and r[1] <= x[1]
    if r[0] == "Device":
        return True
    return CACHE_STRENGTH[r[1]] >= CACHE_STRENGTH[x[1]] and CACHE_STRENGTH[r[2]] >= CACHE_STRENGTH[x[2]]


@settings(deadline=None)
@given(s1=arch_defined_s1_bytes(), s2=arch_defined_s2_nofwb(), cd=st.booleans(),
       sh1=arch_sh_fields(), sh2=arch_sh_fields())
def test_nofwb_result_never_weaker_than_either_stage(s1: int, s2: int, cd: bool, sh1: int,
                                                     sh2: int) -> None:
    """Without FWB the combined type is never weaker than S1's or S2's type
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    res = combine.resolve(s1, s2, sh1=sh1, sh2=sh2, controls=Controls(fwb=False, cd=cd))
    r = result_type(res.single)
    assert at_least_as_strong(r, s1_type(s1)), (r, s1_type(s1))
    assert at_least_as_strong(r, s2_type(s2)), (r, s2_type(s2))


@settings(deadline=None)
@given(s1=st.sampled_from(DEVICE_BYTES), cd=st.booleans(), sh1=arch_sh_fields(),
       sh2=arch_sh_fields(), bit3=st.booleans())
def test_fwb_101_keeps_s1_device(s1: int, cd: bool, sh1: int, sh2: int, bit3: bool) -> None:
    """With FWB, S2 0b101 over an S1 Device keeps S1's Device type and XS
    (docs/architecture.md#stage-2-memattr-with-fwb)."""
    s2 = 0b101 | (0b1000 if bit3 else 0)
    got = combine.resolve(s1, s2, sh1=sh1, sh2=sh2, controls=Controls(fwb=True, cd=cd)).single
    s1a = mair.decode_attr(s1).attrs
    assert s1a is not None
    assert got.device is s1a.device and got.xs is s1a.xs
    assert got.shareability is Shareability.OSH


@settings(deadline=None)
@given(s1=arch_defined_s1_bytes(), kind=st.sampled_from(["DEVICE_nGnRE", "NORMAL_NC"]),
       cd=st.booleans(), fnxs=st.booleans(), sh1=arch_sh_fields(), sh2=arch_sh_fields())
def test_linux_encodings_same_with_and_without_fwb(s1: int, kind: str, cd: bool, fnxs: bool,
                                                   sh1: int, sh2: int) -> None:
    """Linux's S2 Device and NC give the same result with and without FWB
    (docs/review.md#stage-2-encodings)."""
    nofwb_val, fwb_val = {"DEVICE_nGnRE": (0b0001, 0b001), "NORMAL_NC": (0b0101, 0b101)}[kind]
    a = combine.resolve(s1, nofwb_val, sh1=sh1, sh2=sh2, fnxs=fnxs,
                        controls=Controls(fwb=False, cd=cd)).single
    b = combine.resolve(s1, fwb_val, sh1=sh1, sh2=sh2, fnxs=fnxs,
                        controls=Controls(fwb=True, cd=cd)).single
    assert result_type(a) == result_type(b)
    assert (a.shareability, a.xs, a.tagged) == (b.shareability, b.xs, b.tagged)
    assert (a.inner, a.outer) == (b.inner, b.outer)


@settings(deadline=None)
@given(s1=arch_mair_bytes(), s2=arch_s2_memattrs(), fwb=st.booleans(), cd=st.booleans(),
       fnxs=st.booleans(), sh1=arch_sh_fields(), sh2=arch_sh_fields(),
       access=st.sampled_from(list(Access)), m=st.booleans(), c=st.booleans())
def test_device_and_nc_results_are_osh(s1: int, s2: int, fwb: bool, cd: bool, fnxs: bool,
                                       sh1: int, sh2: int, access: Access, m: bool,
                                       c: bool) -> None:
    """Every Device or Normal iNC/oNC outcome is Outer Shareable
    (docs/architecture.md#combining-stage-1-and-stage-2, docs/review.md#stage-2-encodings)."""
    res = combine.resolve(s1, s2, sh1=sh1, sh2=sh2, fnxs=fnxs, access=access,
                          controls=Controls(fwb=fwb, cd=cd, m=m, c=c))
    for a in res.outcomes:
        if a.is_device or a.is_nc:
            assert a.shareability is Shareability.OSH, a


@settings(deadline=None)
@given(s1=arch_defined_s1_bytes(), s2=arch_s2_memattrs(), fwb=st.booleans(), cd=st.booleans())
def test_result_hints_come_from_s1(s1: int, s2: int, fwb: bool, cd: bool) -> None:
    """A cacheable result level carries S1's hints, or RWA non-transient for FWB 0b110 (s3-s5)."""
    s1a = mair.decode_attr(s1).attrs
    assert s1a is not None
    res = combine.resolve(s1, s2, controls=Controls(fwb=fwb, cd=cd))
    for a in res.outcomes:
        if a.is_device:
            continue
        for got, src in ((a.inner, s1a.inner), (a.outer, s1a.outer)):
            assert got is not None
            if got.cacheability is Cacheability.NC:
                assert not (got.read_allocate or got.write_allocate or got.transient)
                continue
            hints = (got.read_allocate, got.write_allocate, got.transient)
            if src is not None and src.cacheability is not Cacheability.NC:
                assert hints == (src.read_allocate, src.write_allocate, src.transient)
            else:
                # Only FWB 0b110 makes a cacheable level from an NC level or an S1 Device.
                assert fwb and s2 & 0b111 == 0b110
                assert hints == (True, True, False)
