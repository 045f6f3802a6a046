"""Tests for memattr.linux.kvm.pgtable: kvm_pgtable_prot layouts, stage2_set_prot_attr per
version (docs/linux-versions.md#kvm_pgtable_prot-bits, docs/review.md#stage2_set_prot_attr) and the stage-2
leaves written into real tables."""

from __future__ import annotations

import itertools

import pytest

from memattr.errors import EncodingError
from memattr.linux.events import Errno
from memattr.linux.kvm.pgtable import (
    KVM_PGTABLE_PROT,
    KvmPgtable,
    PgtableVariant,
    S2MemAttrs,
    kvm_pgtable_prot_value,
    kvm_pgtable_stage2_map,
    prot_str,
    stage2_set_prot_attr,
)
from memattr.linux.version import KernelVersion

P = KVM_PGTABLE_PROT
V68, V69, V70 = KernelVersion(6, 8), KernelVersion(6, 9), KernelVersion(7, 0)


@pytest.mark.parametrize(
    ("prot", "release", "value"),
    [
        (P.X, V68, 1), (P.W, V68, 2), (P.R, V68, 4), (P.DEVICE, V68, 8),  # <= 6.8
        (P.NORMAL_NC, V69, 16), (P.R | P.W | P.DEVICE, V69, 0b1110),  # c034ec84e879
        (P.X, V70, 0b11), (P.W, V70, 4), (P.R, V70, 8), (P.DEVICE, V70, 16),  # XNX rework
        (P.NORMAL_NC, V70, 32),
    ],
)
def test_prot_layouts(prot: KVM_PGTABLE_PROT, release: KernelVersion, value: int) -> None:
    """enum kvm_pgtable_prot values per version, as docs/linux-versions.md#kvm_pgtable_prot-bits lists
    them."""
    assert kvm_pgtable_prot_value(prot, release) == value


def test_named_layouts() -> None:
    """A layout can be named directly; unknown names raise."""
    assert kvm_pgtable_prot_value(P.NORMAL_NC, "6.9") == 16
    with pytest.raises(Exception, match="unknown"):
        kvm_pgtable_prot_value(P.R, "5.0")


def test_normal_nc_absent_before_6_9() -> None:
    """KVM_PGTABLE_PROT_NORMAL_NC does not exist before v6.9."""
    with pytest.raises(EncodingError, match="c034ec84e879"):
        kvm_pgtable_prot_value(P.NORMAL_NC, V68)
    with pytest.raises(EncodingError):
        stage2_set_prot_attr(P.R | P.NORMAL_NC, fwb=False, variant=PgtableVariant.V6_8)


def test_prot_str() -> None:
    """prot_str lists R, W, X, then the type bit."""
    assert prot_str(P.W | P.R | P.NORMAL_NC) == "R|W|NORMAL_NC"
    assert prot_str(P(0)) == "0"


def _expected_v6_9(prot: KVM_PGTABLE_PROT, fwb: bool) -> tuple[Errno | None, int | None]:
    """docs/review.md#stage2_set_prot_attr table, 6.9 onward, written out."""
    dev, nc, x = P.DEVICE in prot, P.NORMAL_NC in prot, P.X in prot
    if dev and nc:
        return Errno.EINVAL, None
    if dev:
        return (Errno.EINVAL, None) if x else (None, 0b0001)
    if nc:
        return (Errno.EINVAL, None) if x else (None, 0b0101)
    return None, 0b0110 if fwb else 0b1111


ALL_PROTS = [P(sum(m.value for m, on in zip(P, bits, strict=True) if on))
             for bits in itertools.product((0, 1), repeat=5)]


@pytest.mark.parametrize("fwb", [False, True])
@pytest.mark.parametrize("prot", ALL_PROTS, ids=prot_str)
def test_stage2_set_prot_attr_v6_9_exhaustive(prot: KVM_PGTABLE_PROT, fwb: bool) -> None:
    """Every prot combination gives the MemAttr or -EINVAL of docs/review.md#stage2_set_prot_attr; XN iff !X;
    S2AP from R/W; SH = IS; AF set."""
    errno, memattr = _expected_v6_9(prot, fwb)
    r = stage2_set_prot_attr(prot, fwb=fwb, variant=PgtableVariant.V6_9)
    assert r.errno is errno
    if errno is not None:
        assert r.attr is None
        return
    assert r.attr is not None and r.memattr == memattr
    assert (r.attr >> 2) & 0xF == memattr
    assert bool(r.attr >> 54 & 1) == (P.X not in prot)
    assert bool(r.attr >> 6 & 1) == (P.R in prot)
    assert bool(r.attr >> 7 & 1) == (P.W in prot)
    assert (r.attr >> 8) & 3 == 0b11
    assert r.attr >> 10 & 1


@pytest.mark.parametrize("fwb", [False, True])
@pytest.mark.parametrize("prot", [p for p in ALL_PROTS if P.NORMAL_NC not in p], ids=prot_str)
def test_stage2_set_prot_attr_v6_8(prot: KVM_PGTABLE_PROT, fwb: bool) -> None:
    """Up to 6.8: DEVICE -> 0b0001 (X with it -EINVAL), else NORMAL."""
    r = stage2_set_prot_attr(prot, fwb=fwb, variant=V68)
    if P.DEVICE in prot and P.X in prot:
        assert r.errno is Errno.EINVAL
    elif P.DEVICE in prot:
        assert r.memattr == 0b0001
    else:
        assert r.memattr == (0b0110 if fwb else 0b1111)


def test_lpa2_leaves_sh_out() -> None:
    """With LPA2 the descriptor's SH bits are not written (VTCR_EL2 supplies them)."""
    r = stage2_set_prot_attr(P.R, fwb=True, lpa2=True)
    assert r.attr is not None and (r.attr >> 8) & 3 == 0


def test_memattr_overrides() -> None:
    """A what-if's S2MemAttrs replaces the NORMAL_NC encoding."""
    r = stage2_set_prot_attr(P.R | P.NORMAL_NC, fwb=True, memattrs=S2MemAttrs(normal_nc=(0xF, 7)))
    assert r.memattr == 0b0111 and r.kind == "NORMAL_NC"
    with pytest.raises(Exception, match="out of range"):
        S2MemAttrs(device=(0x10, 1))


def test_stage2_map_writes_real_tables() -> None:
    """kvm_pgtable_stage2_map installs the leaf in the mmu layer's tables: the raw descriptor
    carries OA, MemAttr, S2AP, SH, AF, XN and the page type bits."""
    pgt = KvmPgtable(fwb=False)
    pa, leaf = kvm_pgtable_stage2_map(pgt, 0x1000_0000, 0x1000, 0x80_0000_0000,
                                      P.R | P.W | P.NORMAL_NC)
    assert pa.ok and leaf is not None
    hw = pgt.table.lookup(0x1000_0000)
    assert hw is not None and hw.raw == leaf.descriptor and hw.oa == 0x80_0000_0000
    d = leaf.descriptor
    assert d & 0b11 == 0b11  # valid page
    assert (d >> 2) & 0xF == 0b0101 and (d >> 6) & 3 == 0b11 and (d >> 8) & 3 == 0b11
    assert d >> 10 & 1 and d >> 54 & 1
    assert (d & 0x0000_FFFF_FFFF_F000) == 0x80_0000_0000
    assert pgt.table.translate(0x1000_0123) == 0x80_0000_0123


def test_stage2_map_failure_writes_nothing() -> None:
    """A -EINVAL from stage2_set_prot_attr installs no leaf."""
    pgt = KvmPgtable(fwb=True)
    pa, leaf = kvm_pgtable_stage2_map(pgt, 0x1000, 0x1000, 0x2000, P.R | P.X | P.DEVICE)
    assert pa.errno is Errno.EINVAL and leaf is None
    assert pgt.table.lookup(0x1000) is None and pgt.leaves == ()


def test_stage2_remap_replaces_leaf() -> None:
    """Mapping over an existing leaf replaces it (break-before-make in the table)."""
    pgt = KvmPgtable(fwb=True)
    kvm_pgtable_stage2_map(pgt, 0x1000, 0x1000, 0x2000, P.R | P.DEVICE)
    _, leaf = kvm_pgtable_stage2_map(pgt, 0x1000, 0x1000, 0x3000, P.R | P.NORMAL_NC)
    assert leaf is not None and len(pgt.leaves) == 1
    hw = pgt.table.lookup(0x1000)
    assert hw is not None and hw.oa == 0x3000
    writes: list[tuple[int, int, int, int]] = []
    pgt2 = KvmPgtable(fwb=True, writer=lambda *a: writes.append(a))
    kvm_pgtable_stage2_map(pgt2, 0x20_0000, 0x20_0000, 0x4000_0000, P.R)
    assert writes and writes[0][1] == 0x20_0000
    blk = pgt2.table.lookup(0x20_0000)
    assert blk is not None and blk.is_block
