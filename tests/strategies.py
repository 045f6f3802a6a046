"""Shared Hypothesis strategies for memattr tests (append new ones below, grouped by module)."""

from __future__ import annotations

from hypothesis import strategies as st

from memattr.arch.descriptor import (
    FINAL_LEVEL,
    DescType,
    Granule,
    S1Descriptor,
    S2Descriptor,
    block_allowed,
    descriptor_layout,
    level_shift,
    levels,
)

__all__ = [
    "granules",
    "u64",
    "oa_configs",
    "OAConfig",
    "s1_leaf_descriptors",
    "s1_table_descriptors",
    "s2_leaf_descriptors",
    "s2_table_descriptors",
    "descriptors",
    "subset_of",
]

# --- memattr.arch.descriptor ----------------------------------------------------------------

granules = st.sampled_from(list(Granule))
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)

OAConfig = tuple[Granule, bool, int]
"""(granule, ds, pa_bits): one output-address form of a walk."""

_OA_CONFIGS: list[OAConfig] = [
    *[(g, False, pa) for g in Granule for pa in (32, 40, 44, 48)],
    (Granule.K64, False, 52),  # FEAT_LPA
    (Granule.K4, True, 52),  # FEAT_LPA2
    (Granule.K4, True, 48),
    (Granule.K16, True, 52),
    (Granule.K16, True, 48),
]


def oa_configs() -> st.SearchStrategy[OAConfig]:
    """Every (granule, DS, PA size) combination the descriptor formats support."""
    return st.sampled_from(_OA_CONFIGS)


def subset_of(mask: int) -> st.SearchStrategy[int]:
    """Integers whose set bits are a subset of ``mask``."""
    return st.integers(min_value=0, max_value=(1 << 64) - 1).map(lambda x: x & mask)


@st.composite
def _aligned_address(draw: st.DrawFn, align: int, pa_bits: int) -> int:
    return draw(st.integers(min_value=0, max_value=(1 << (pa_bits - align)) - 1)) << align


def _leaf_levels(granule: Granule, ds: bool, pa_bits: int) -> list[int]:
    return [
        lvl for lvl in levels(granule, ds)
        if lvl == FINAL_LEVEL or block_allowed(granule, lvl, ds, pa_bits)
    ]


def _sh(draw: st.DrawFn, ds: bool) -> int | None:
    return None if ds else draw(st.integers(0, 3))


@st.composite
def s1_leaf_descriptors(draw: st.DrawFn) -> S1Descriptor:
    """Valid stage-1 block and page descriptors across granules, levels and OA forms."""
    granule, ds, pa_bits = draw(oa_configs())
    level = draw(st.sampled_from(_leaf_levels(granule, ds, pa_bits)))
    t = DescType.PAGE if level == FINAL_LEVEL else DescType.BLOCK
    layout = descriptor_layout(1, t, granule, level, ds, pa_bits)
    b = st.booleans()
    return S1Descriptor(
        type=t, level=level, granule=granule,
        address=draw(_aligned_address(level_shift(granule, level), pa_bits)),
        attr_index=draw(st.integers(0, 7)), ns=draw(b), ap=draw(st.integers(0, 3)),
        sh=_sh(draw, ds), af=draw(b), ng=draw(b), nt=draw(b) if t is DescType.BLOCK else False,
        dbm=draw(b), contiguous=draw(b), pxn=draw(b), uxn=draw(b), gp=draw(b),
        sw=draw(st.integers(0, 15)), pbha=draw(st.integers(0, 15)),
        ignored=draw(subset_of(layout.ignored_mask)), ds=ds, pa_bits=pa_bits,
    )


@st.composite
def s1_table_descriptors(draw: st.DrawFn) -> S1Descriptor:
    """Valid stage-1 table descriptors, with hierarchical attributes and IGNORED bits."""
    granule, ds, pa_bits = draw(oa_configs())
    level = draw(st.sampled_from([lvl for lvl in levels(granule, ds) if lvl < FINAL_LEVEL]))
    layout = descriptor_layout(1, DescType.TABLE, granule, level, ds, pa_bits)
    b = st.booleans()
    return S1Descriptor(
        type=DescType.TABLE, level=level, granule=granule,
        address=draw(_aligned_address(granule.shift, pa_bits)),
        ns_table=draw(b), ap_table=draw(st.integers(0, 3)), uxn_table=draw(b),
        pxn_table=draw(b), ignored=draw(subset_of(layout.ignored_mask)), ds=ds,
        pa_bits=pa_bits,
    )


@st.composite
def s2_leaf_descriptors(draw: st.DrawFn) -> S2Descriptor:
    """Valid stage-2 block and page descriptors across granules, levels and OA forms."""
    granule, ds, pa_bits = draw(oa_configs())
    level = draw(st.sampled_from(_leaf_levels(granule, ds, pa_bits)))
    t = DescType.PAGE if level == FINAL_LEVEL else DescType.BLOCK
    layout = descriptor_layout(2, t, granule, level, ds, pa_bits)
    b = st.booleans()
    return S2Descriptor(
        type=t, level=level, granule=granule,
        address=draw(_aligned_address(level_shift(granule, level), pa_bits)),
        memattr=draw(st.integers(0, 15)), s2ap=draw(st.integers(0, 3)), sh=_sh(draw, ds),
        af=draw(b), fnxs=draw(b), nt=draw(b) if t is DescType.BLOCK else False, dbm=draw(b),
        contiguous=draw(b), xn=draw(st.integers(0, 3)), sw=draw(st.integers(0, 15)),
        pbha=draw(st.integers(0, 15)), ignored=draw(subset_of(layout.ignored_mask)), ds=ds,
        pa_bits=pa_bits,
    )


@st.composite
def s2_table_descriptors(draw: st.DrawFn) -> S2Descriptor:
    """Valid stage-2 table descriptors with IGNORED bits."""
    granule, ds, pa_bits = draw(oa_configs())
    level = draw(st.sampled_from([lvl for lvl in levels(granule, ds) if lvl < FINAL_LEVEL]))
    layout = descriptor_layout(2, DescType.TABLE, granule, level, ds, pa_bits)
    return S2Descriptor(
        type=DescType.TABLE, level=level, granule=granule,
        address=draw(_aligned_address(granule.shift, pa_bits)),
        ignored=draw(subset_of(layout.ignored_mask)), ds=ds, pa_bits=pa_bits,
    )


def descriptors() -> st.SearchStrategy[S1Descriptor | S2Descriptor]:
    """Any valid table, block or page descriptor of either stage."""
    return st.one_of(
        s1_leaf_descriptors(), s1_table_descriptors(), s2_leaf_descriptors(),
        s2_table_descriptors(),
    )


# --- memattr.arch.mair / s2memattr / combine (tests/arch/test_combine_props.py) --------------
# Defined / reserved sets written from docs/architecture.md#mair-attribute-bytes (MAIR),
# docs/architecture.md#stage-2-memattr-without-fwb and docs/architecture.md#stage-2-memattr-with-fwb
# (S2 MemAttr), with FEAT_XS and FEAT_MTE2 implemented.
from hypothesis import strategies as _arch_st  # noqa: E402


def _arch_mair_defined(byte: int) -> bool:
    """docs/architecture.md#mair-attribute-bytes: 0000dd1x reserved; xxxx0000 (xxxx != 0) reserved except
    0x40, 0xA0, 0xF0."""
    hi, lo = byte >> 4, byte & 0xF
    if hi == 0:
        return not lo & 0b10
    return lo != 0 or byte in (0x40, 0xA0, 0xF0)


ARCH_DEFINED_S1_BYTES = tuple(b for b in range(256) if _arch_mair_defined(b))
ARCH_RESERVED_S1_BYTES = tuple(b for b in range(256) if not _arch_mair_defined(b))
# docs/architecture.md#stage-2-memattr-without-fwb: without FWB, a Normal MemAttr (MemAttr[3:2] != 00)
# with inner field 00 is CONSTRAINED UNPREDICTABLE; everything else is defined.
ARCH_DEFINED_S2_NOFWB = tuple(m for m in range(16) if m >> 2 == 0 or m & 0b11)
# docs/architecture.md#stage-2-memattr-with-fwb: with FWB, MemAttr[2:0] = 0b100 is reserved and
# MemAttr[3] is RES0.
ARCH_DEFINED_S2_FWB = (0b000, 0b001, 0b010, 0b011, 0b101, 0b110, 0b111)


def arch_mair_bytes() -> _arch_st.SearchStrategy[int]:
    """Any MAIR_ELx attribute byte."""
    return _arch_st.integers(0, 0xFF)


def arch_defined_s1_bytes() -> _arch_st.SearchStrategy[int]:
    """A MAIR byte that is defined with FEAT_XS and FEAT_MTE2."""
    return _arch_st.sampled_from(ARCH_DEFINED_S1_BYTES)


def arch_s2_memattrs() -> _arch_st.SearchStrategy[int]:
    """Any stage-2 MemAttr[3:0]."""
    return _arch_st.integers(0, 0xF)


def arch_defined_s2_nofwb() -> _arch_st.SearchStrategy[int]:
    """A stage-2 MemAttr[3:0] that is defined with HCR_EL2.FWB = 0."""
    return _arch_st.sampled_from(ARCH_DEFINED_S2_NOFWB)


def arch_defined_s2_fwb() -> _arch_st.SearchStrategy[int]:
    """A stage-2 MemAttr[2:0] (MemAttr[3] = 0) that is defined with HCR_EL2.FWB = 1."""
    return _arch_st.sampled_from(ARCH_DEFINED_S2_FWB)


def arch_sh_fields() -> _arch_st.SearchStrategy[int]:
    """A defined SH[1:0] field: 0b00 NSH, 0b10 OSH, 0b11 ISH (0b01 is reserved)."""
    return _arch_st.sampled_from((0b00, 0b10, 0b11))
