"""The instruction-level rules (memattr.arch.instr): alignment by instruction class
(ASL94 AArch64.UnalignedAccessFaults, Arm ARM B2.8.2), LD64B/ST64B memory types and locations
(Arm ARM C3.2.8), exclusives/atomics on memory that is not Write-Back (a set)."""

from __future__ import annotations

import itertools

import pytest

from memattr.arch.instr import (
    AccessClass,
    LS64Check,
    Outcome,
    after_translation,
    all_in_aligned_quantity,
    exclusive_atomic_check,
    ls64_location_check,
    ls64_type_check,
    lse2_unaligned_choice,
    permitted,
    unaligned_access_faults,
)
from memattr.arch.memtype import (
    DEVICE_GRE,
    NORMAL_NC,
    NORMAL_WB,
    DEVICE_nGnRE,
    DEVICE_nGnRnE,
    DEVICE_nGRE,
)

OK, A1, A2 = Outcome.OK, Outcome.ALIGNMENT_S1, Outcome.ALIGNMENT_S2
X1, X2, NA = Outcome.ABORT_S1, Outcome.ABORT_S2, Outcome.NOT_ATOMIC
DEVICES = (DEVICE_nGnRnE, DEVICE_nGnRE, DEVICE_nGRE, DEVICE_GRE)


def faults(cls: AccessClass, address: int, size: int, element: int | None = None,
           **kw: bool) -> bool:
    r = unaligned_access_faults(cls, address, size, element, **kw).result
    assert r in ({OK}, {A1})
    return r == {A1}


def test_all_in_aligned_quantity() -> None:
    """Every byte in one aligned 16-byte quantity (ASL AllInAlignedQuantity), exhaustively."""
    for address in range(48):
        for size in (1, 2, 4, 8, 16):
            assert all_in_aligned_quantity(address, size, 16) == \
                (address % 16 + size <= 16)


@pytest.mark.parametrize("size", [1, 2, 4, 8, 16])
def test_plain_loads_and_stores_never_fault_for_alignment(size: int) -> None:
    """B2.8.2.1.1: with SCTLR_ELx.A = 0 an ordinary load/store never takes an Alignment fault for
    its address (the memory type's rule is separate); with A = 1 it does when unaligned to its
    element."""
    for address in range(64):
        assert not faults(AccessClass.PLAIN, address, size)
        assert faults(AccessClass.PLAIN, address, size, sctlr_a=True) == (address % size != 0)


def test_ls64_needs_64_byte_alignment_whatever_sctlr_a() -> None:
    """B2.8.2.1.2 and C3.2.8: LD64B/ST64B fault unless 64-byte aligned, whatever SCTLR_ELx.A."""
    for address in range(0, 256, 4):
        assert faults(AccessClass.LS64, address, 64) == (address % 64 != 0)


@pytest.mark.parametrize("cls", [AccessClass.EXCLUSIVE, AccessClass.ATOMIC])
def test_exclusives_and_atomics_alignment(cls: AccessClass) -> None:
    """B2.8.2.1.2: without FEAT_LSE2 they fault unless aligned to the overall size; with it, only
    when the bytes do not lie in one 16-byte quantity."""
    for address, size in itertools.product(range(32), (1, 2, 4, 8, 16)):
        assert faults(cls, address, size, lse2=False) == (address % size != 0)
        assert faults(cls, address, size) == (address % size != 0 and
                                              address % 16 + size > 16)


def test_ordered_access_alignment_with_naa() -> None:
    """ASL94 AArch64.UnalignedAccessFaults for load-acquire/store-release: with FEAT_LSE2 a fault
    only outside a 16-byte quantity and only with SCTLR_ELx.nAA = 0."""
    assert faults(AccessClass.ORDERED, 12, 8)
    assert not faults(AccessClass.ORDERED, 12, 8, naa=True)
    assert not faults(AccessClass.ORDERED, 4, 8)
    assert faults(AccessClass.ORDERED, 4, 8, lse2=False)


def test_element_size_decides_a_pair() -> None:
    """B2.8.2.1.1: the unaligned test is on the element: LDP X at offset 8 is aligned."""
    d = unaligned_access_faults(AccessClass.PLAIN, 8, 16, 8, sctlr_a=True)
    assert d.result == {OK} and d.input("unit") == 8
    assert faults(AccessClass.PLAIN, 4, 16, 8, sctlr_a=True)


def test_lse2_constrained_choice() -> None:
    """B2.8.2.1.2: inside 16 bytes but not aligned: performed on Normal WB Shareable; on any other
    type CONSTRAINED UNPREDICTABLE {performed, Alignment fault}."""
    assert lse2_unaligned_choice(AccessClass.ATOMIC, 4, 8, (NORMAL_WB,)).result == {OK}
    assert lse2_unaligned_choice(AccessClass.ATOMIC, 4, 8, (NORMAL_NC,)).result == {OK, A1}
    assert lse2_unaligned_choice(AccessClass.ATOMIC, 8, 8, (NORMAL_NC,)).result == {OK}
    assert lse2_unaligned_choice(AccessClass.PLAIN, 4, 8, (NORMAL_NC,)).result == {OK}


# --- LD64B/ST64B (C3.2.8) -------------------------------------------------------------------------

APPROPRIATE = (NORMAL_NC, *DEVICES)


def test_ls64_appropriate_types() -> None:
    """Normal iNC-oNC and every Device type are appropriate; Write-Back is not (no LS64WB)."""
    for a in APPROPRIATE:
        assert ls64_type_check((a,), (a,), (a,)).result == {OK}
    assert ls64_type_check((NORMAL_WB,), (NORMAL_WB,), (NORMAL_WB,)).result == {X1, X2}


def test_ls64_three_approaches() -> None:
    """The three IMPLEMENTATION DEFINED checks, one by one, for a stage-1 WB over a stage-2 Device
    (resulting type Device) and a stage-1 NC over a stage-2 WB (resulting WB)."""
    wb, dev, nc = (NORMAL_WB,), (DEVICE_nGnRE,), (NORMAL_NC,)
    each, last, first = (LS64Check.EACH_STAGE,), (LS64Check.FINAL_AT_LAST,), \
        (LS64Check.FINAL_AT_FIRST,)
    # stage 1 inappropriate, result appropriate
    assert ls64_type_check(wb, dev, dev, approaches=each).result == {X1}
    assert ls64_type_check(wb, dev, dev, approaches=last).result == {OK}
    assert ls64_type_check(wb, dev, dev, approaches=first).result == {OK}
    assert ls64_type_check(wb, dev, dev).result == {X1, OK}
    # stage 2 inappropriate, result inappropriate
    assert ls64_type_check(nc, wb, wb, approaches=each).result == {X2}
    assert ls64_type_check(nc, wb, wb, approaches=last).result == {X2}
    assert ls64_type_check(nc, wb, wb, approaches=first).result == {X2}
    # stage 1 off (no stage-1 attributes): never a stage-1 abort
    assert ls64_type_check((), wb, wb).result == {X2}


def test_ls64_location() -> None:
    """C3.2.8: an unsupporting location gives a stage-1 0b110101 abort or non-atomic accesses."""
    assert ls64_location_check(True).result == {OK}
    assert ls64_location_check(False).result == {X1, NA}
    assert ls64_location_check(None).result == {OK, X1, NA}


# --- exclusives and atomics -----------------------------------------------------------------------


def test_exclusive_atomic_check() -> None:
    """Write-Back: performed.  Otherwise the memory system's IMPLEMENTATION DEFINED support, the
    abort at the first stage whose type is not Write-Back."""
    wb, nc, dev = (NORMAL_WB,), (NORMAL_NC,), (DEVICE_nGnRE,)
    for sup in (None, True, False):
        assert exclusive_atomic_check(wb, wb, wb, sup).result == {OK}
    assert exclusive_atomic_check(nc, wb, nc, None).result == {OK, X1}
    assert exclusive_atomic_check(wb, dev, dev, None).result == {OK, X2}
    assert exclusive_atomic_check(wb, dev, dev, False).result == {X2}
    assert exclusive_atomic_check(wb, dev, dev, True).result == {OK}
    assert exclusive_atomic_check((), dev, dev, False, s2_enabled=True).result == {X2}


def test_after_translation_and_permitted_dczva() -> None:
    """DC ZVA: Device at stage 1 is a stage-1 Alignment fault (checked first), Device at stage 2
    a stage-2 one (ASL AccessType_DCZero); Normal at both is performed."""
    def dczva(s1: tuple, s2: tuple) -> frozenset:
        got = permitted(AccessClass.DCZVA, after_translation(AccessClass.DCZVA, 0, 64, s1, s2,
                                                             s2))
        assert got is not None
        return got
    assert dczva((DEVICE_nGnRE,), (NORMAL_NC,)) == {A1}
    assert dczva((NORMAL_NC,), (DEVICE_nGnRE,)) == {A2}
    assert dczva((NORMAL_NC,), (NORMAL_NC,)) == {OK}
    assert permitted(AccessClass.PLAIN, after_translation(AccessClass.PLAIN, 0, 8, (NORMAL_NC,),
                                                          (NORMAL_NC,), (NORMAL_NC,))) is None


def test_permitted_chains_ls64_type_then_location() -> None:
    """The location check applies only to what the type check lets through."""
    ds = after_translation(AccessClass.LS64, 0, 64, (NORMAL_WB,), (DEVICE_nGnRE,),
                           (DEVICE_nGnRE,), ls64_location=False)
    assert permitted(AccessClass.LS64, ds) == {X1, NA}
    ds = after_translation(AccessClass.LS64, 0, 64, (NORMAL_NC,), (NORMAL_NC,), (NORMAL_NC,),
                           ls64_location=True)
    assert permitted(AccessClass.LS64, ds) == {OK}
