"""What each memory type permits, and where alignment faults are taken
(docs/architecture.md#memory-type-properties)."""

from __future__ import annotations

import pytest

from memattr.arch import properties
from memattr.arch.combine import Access, Controls
from memattr.arch.memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
)

FWB = [False, True]
# Linux S2 encodings (docs/review.md#stage2_set_prot_attr): Device 0b0001 / 0b001, Normal-NC 0b0101 / 0b101.
S2_DEVICE = {False: 0b0001, True: 0b001}
S2_NC = {False: 0b0101, True: 0b101}


def outcome(s1: int, s2: int, fwb: bool, *, access: Access = Access.WRITE,
            aligned: bool = False) -> properties.AlignmentOutcome:
    return properties.alignment_outcome(s1, s2, controls=Controls(fwb=fwb), access=access,
                                        aligned=aligned)


# --- alignment (docs/architecture.md#alignment-faults, docs/review.md#case-28-unaligned-store) -----


@pytest.mark.parametrize("access", [Access.READ, Access.WRITE], ids=lambda a: a.value)
@pytest.mark.parametrize("fwb", FWB, ids=["fwb0", "fwb1"])
def test_s2_device_under_guest_nc_faults_at_stage2(fwb: bool, access: Access) -> None:
    """An unaligned access to S2 Device faults at stage 2 though the guest maps it Normal-NC (s7)."""
    got = outcome(0x44, S2_DEVICE[fwb], fwb, access=access)
    assert got.faults and got.stage == 2


@pytest.mark.parametrize("s1", [0x00, 0x04, 0x08, 0x0C], ids=lambda b: f"0x{b:02X}")
@pytest.mark.parametrize("fwb", FWB, ids=["fwb0", "fwb1"])
def test_guest_device_over_s2_nc_faults_at_stage1(fwb: bool, s1: int) -> None:
    """An unaligned access to a guest Device mapping over S2 Normal-NC faults at stage 1 (s7)."""
    got = outcome(s1, S2_NC[fwb], fwb)
    assert got.faults and got.stage == 1


@pytest.mark.parametrize("aligned", [False, True], ids=["unaligned", "aligned"])
@pytest.mark.parametrize("access", [Access.READ, Access.WRITE], ids=lambda a: a.value)
@pytest.mark.parametrize("fwb", FWB, ids=["fwb0", "fwb1"])
def test_nc_over_nc_never_faults(fwb: bool, access: Access, aligned: bool) -> None:
    """Normal-NC over S2 Normal-NC takes no alignment fault, aligned or not (s7)."""
    got = outcome(0x44, S2_NC[fwb], fwb, access=access, aligned=aligned)
    assert not got.faults and got.stage is None


@pytest.mark.parametrize("fwb", FWB, ids=["fwb0", "fwb1"])
def test_aligned_access_to_device_does_not_fault(fwb: bool) -> None:
    """An aligned data access to Device memory takes no alignment fault (s7)."""
    for s1, s2 in ((0x04, S2_DEVICE[fwb]), (0x44, S2_DEVICE[fwb]), (0x04, S2_NC[fwb])):
        assert outcome(s1, s2, fwb, aligned=True).stage is None


@pytest.mark.parametrize("fwb", FWB, ids=["fwb0", "fwb1"])
def test_dc_zva_to_device_faults(fwb: bool) -> None:
    """DC ZVA to Device at either stage is an alignment fault, even aligned (s7)."""
    assert outcome(0x04, S2_NC[fwb], fwb, access=Access.DCZVA, aligned=True).stage == 1
    assert outcome(0x44, S2_DEVICE[fwb], fwb, access=Access.DCZVA, aligned=True).stage == 2
    assert outcome(0x04, S2_DEVICE[fwb], fwb, access=Access.DCZVA, aligned=True).stage == 1
    assert outcome(0x44, S2_NC[fwb], fwb, access=Access.DCZVA, aligned=True).stage is None
    assert outcome(0xFF, S2_NC[fwb], fwb, access=Access.DCZVA, aligned=True).stage is None


def test_fwb_stage2_checks_the_combined_result() -> None:
    """With FWB, stage 2 checks the FWB-combined type: 0b110 over S1 Device faults at stage 1 only,
    and 0b101 over S1 Normal does not fault (s7)."""
    assert outcome(0x04, 0b110, True).stage == 1
    assert outcome(0xFF, 0b101, True).stage is None
    assert outcome(0xFF, 0b001, True).stage == 2


def test_alignment_outcome_says_where_it_is_taken() -> None:
    """The outcome names the stage and so the exception level it is taken to (s7, scenario 28)."""
    s2 = outcome(0x44, 0b0001, False)
    s1 = outcome(0x04, 0b0101, False)
    assert "stage 2" in str(s2) and "EL2" in str(s2)
    assert "stage 1" in str(s1) and "EL1" in str(s1)


# --- type properties (docs/architecture.md#memory-type-properties) --------------------------------

# (gathering, reordering, early write acknowledgement) per Device type, from the G/R/E letters.
DEVICE_GRE = {
    DeviceType.nGnRnE: ("no", "no", "no"),
    DeviceType.nGnRE: ("no", "no", "yes"),
    DeviceType.nGRE: ("no", "yes", "yes"),
    DeviceType.GRE: ("yes", "yes", "yes"),
}


@pytest.mark.parametrize("dt", list(DeviceType), ids=lambda d: d.name)
def test_device_type_properties(dt: DeviceType) -> None:
    """Device: G only for GRE, R for nGRE/GRE, E for all but nGnRnE; no speculation (s7)."""
    tp = properties.type_properties(MemoryAttributes(MemType.Device, device=dt))
    g, r, e = DEVICE_GRE[dt]
    assert tp["gathering"].values == {g}
    assert tp["reordering"].values == {r}
    assert tp["early write acknowledgement"].values == {e}
    assert tp["speculative reads"].values == {"no"}
    assert tp["unaligned data access"].value == "alignment fault"
    assert tp["DC ZVA"].value == "alignment fault"


@pytest.mark.parametrize("dt", list(DeviceType), ids=lambda d: d.name)
def test_device_instruction_fetch_two_values(dt: DeviceType) -> None:
    """Instruction fetch from Device permits a Permission fault or Normal NC (s7 INSTRDEVICE)."""
    tp = properties.type_properties(MemoryAttributes(MemType.Device, device=dt))
    values = tp["instruction fetch"].values
    assert len(values) == 2
    assert any("Permission" in v for v in values)
    assert any("NC" in v for v in values)


def test_device_exclusives_implementation_defined() -> None:
    """Exclusives to Device: supported or a DFSC 0b110101 Data Abort (s7, IMPLEMENTATION DEFINED)."""
    tp = properties.type_properties(MemoryAttributes(MemType.Device, device=DeviceType.nGnRE))
    values = tp["exclusives"].values
    assert len(values) == 2
    assert any("110101" in v for v in values)


NC_ATTRS = MemoryAttributes(MemType.Normal, inner=CacheAttrs(Cacheability.NC),
                            outer=CacheAttrs(Cacheability.NC), shareability=Shareability.OSH)


def test_normal_nc_properties() -> None:
    """Normal-NC: speculative reads, unaligned access, gathering; not cacheable (s7)."""
    tp = properties.type_properties(NC_ATTRS)
    assert tp["speculative reads"].values == {"yes"}
    assert tp["unaligned data access"].value.startswith("allowed")
    assert tp["gathering"].values == {"yes"}
    assert tp["DC ZVA"].value == "allowed"
    assert tp["cacheable"].values == {"no"}


def test_normal_nc_exclusives_implementation_defined() -> None:
    """Exclusives and atomics on Normal-NC are IMPLEMENTATION DEFINED: two permitted values (s7)."""
    tp = properties.type_properties(NC_ATTRS)
    for name in ("exclusives", "atomics"):
        values = tp[name].values
        assert len(values) == 2, name
        assert any("110101" in v for v in values), name
        assert tp[name].value.startswith("IMPLEMENTATION DEFINED")


def test_sctlr_a_faults_every_unaligned_access() -> None:
    """SCTLR_EL1.A = 1: an unaligned access faults at stage 1 even to Normal-NC (s7)."""
    got = properties.alignment_outcome(0x44, 0b0101, controls=Controls(a=True),
                                       access=Access.WRITE, aligned=False)
    assert got.stage == 1
    ok = properties.alignment_outcome(0x44, 0b0101, controls=Controls(a=True),
                                      access=Access.WRITE, aligned=True)
    assert ok.stage is None


def test_guest_mmu_off_unaligned_faults_at_stage1() -> None:
    """SCTLR_EL1.M = 0: data is Device-nGnRnE, so an unaligned access faults at stage 1 (s6, s7)."""
    got = properties.alignment_outcome(0xFF, 0b0101, controls=Controls(m=False),
                                       access=Access.WRITE, aligned=False)
    assert got.stage == 1


def test_ifetch_takes_no_alignment_fault() -> None:
    """Instruction fetches are not checked against the memory type for alignment (s7)."""
    got = properties.alignment_outcome(0x44, 0b0001, controls=Controls(),
                                       access=Access.IFETCH, aligned=False)
    assert got.stage is None
