"""Tests for memattr.platform.bus: error behaviour per bus (case 25), PCIe requests with byte
enables, gathering, and AXI's unaligned behaviour (reset ordering: tests/analysis/test_hazards.py)."""

from __future__ import annotations

import pytest

from memattr.arch.memtype import NORMAL_NC, DEVICE_nGnRE
from memattr.platform.bus import (
    ALL_ONES,
    PCIE_BOUNDARY,
    AxiErrorModel,
    AxiUnaligned,
    BusAccess,
    BusErrorModel,
    BusKind,
    Containment,
    ErrorResponse,
    PcieErrorModel,
    Tlp,
    bus_outcomes,
    error_outcome,
    pcie_tlps,
)


@pytest.mark.parametrize("attrs", [DEVICE_nGnRE, NORMAL_NC, None])
def test_pcie_ur_gives_all_ones_whatever_the_type(attrs: object) -> None:
    """Behind a PCIe root complex a failed load reads all-ones and raises no error (case 25)."""
    out = error_outcome(PcieErrorModel(), False, attrs)  # type: ignore[arg-type]
    assert out.read_value == ALL_ONES
    assert out.abort is None
    assert out.containment is Containment.NONE


def test_pcie_ur_drops_writes() -> None:
    """A failed store to a PCIe BAR is dropped without an abort."""
    out = error_outcome(PcieErrorModel(aer=True, dpc=True), True, DEVICE_nGnRE)
    assert out.write_dropped and out.read_value is None and out.abort is None
    assert "AER" in out.note and "DPC" in out.note


@pytest.mark.parametrize("containment", [Containment.CONTAINED, Containment.UNCONTAINED])
@pytest.mark.parametrize("attrs", [DEVICE_nGnRE, NORMAL_NC])
def test_axi_containment_is_a_platform_parameter(containment: Containment, attrs: object) -> None:
    """An AXI error's containment comes from the platform, never from the memory type (case 25)."""
    out = error_outcome(AxiErrorModel(response=ErrorResponse.DECERR, containment=containment), False,
                        attrs)  # type: ignore[arg-type]
    assert out.containment is containment
    assert out.abort is not None and "DECERR" in out.abort
    assert out.read_value is None


def test_type_only_changes_the_note() -> None:
    """Device and Normal-NC errors differ only in the reported-understanding note."""
    bus = AxiErrorModel()
    dev = error_outcome(bus, False, DEVICE_nGnRE)
    nc = error_outcome(bus, False, NORMAL_NC)
    assert dev.containment is nc.containment
    assert "SError" in dev.note and "containable" in nc.note


def test_root_complex_reporting_errors_uses_its_containment() -> None:
    """A root complex configured to report errors gives an external abort with its containment."""
    out = error_outcome(PcieErrorModel(root_complex_errors=True,
                                       containment=Containment.UNCONTAINED), False, NORMAL_NC)
    assert out.abort is not None and out.containment is Containment.UNCONTAINED


def test_other_bus_kinds() -> None:
    """A bus with no specific model gives an uncontained external abort."""
    out = BusErrorModel(BusKind.GIC).outcome(False, NORMAL_NC)
    assert out.containment is Containment.UNCONTAINED


def _bytes(t: Tlp) -> set[int]:
    """The byte addresses a request enables (PCIe 6.0 2.2.5)."""
    out = {t.address + b for b in range(4) if t.first_be >> b & 1}
    if t.length > 1:
        out |= set(range(t.address + 4, t.address + 4 * (t.length - 1)))
        last = t.address + 4 * (t.length - 1)
        out |= {last + b for b in range(4) if t.last_be >> b & 1}
    return out


@pytest.mark.parametrize("write", [True, False])
def test_tlps_enable_exactly_the_bytes_accessed(write: bool) -> None:
    """Every address 0..67 and size 1..72 (4 KiB boundary included): the requests enable exactly
    the bytes accessed, each once; a one-DW request has Last BE 0; a longer one has non-zero
    First and Last BE; none crosses a 4 KiB boundary."""
    for base in (0, PCIE_BOUNDARY - 36):
        for off in range(68):
            for size in range(1, 73):
                a = base + off
                tlps = pcie_tlps(a, size, write=write)
                seen: list[int] = []
                for t in tlps:
                    assert t.address % 4 == 0 and t.write is write
                    got = _bytes(t)
                    assert len(got) == t.payload
                    seen += sorted(got)
                    if t.length == 1:
                        assert t.last_be == 0 and t.first_be != 0
                    else:
                        assert t.first_be and t.last_be
                    end = t.address + 4 * t.length - 1
                    assert t.address // PCIE_BOUNDARY == end // PCIE_BOUNDARY
                assert seen == list(range(a, a + size))


def test_tlp_examples() -> None:
    """Hand-checked requests: an 8-byte store at offset 1 is one MemWr of 3 DW with First BE
    0b1110 and Last BE 0b0001; at offset 4, 2 DW with full enables; 4 bytes across a 4 KiB
    boundary are two requests; a 1 KiB write is split at Max_Payload_Size (256)."""
    assert pcie_tlps(0x1001, 8, write=True) == (Tlp(True, 0x1000, 3, 0b1110, 0b0001),)
    assert pcie_tlps(0x1004, 8, write=True) == (Tlp(True, 0x1004, 2, 0b1111, 0b1111),)
    assert pcie_tlps(0xFFE, 4, write=True) == (Tlp(True, 0xFFC, 1, 0b1100, 0),
                                               Tlp(True, 0x1000, 1, 0b0011, 0))
    assert [t.length for t in pcie_tlps(0x0, 1024, write=True)] == [64] * 4
    assert [t.length for t in pcie_tlps(0x0, 1024, write=False)] == [128, 128]
    assert str(Tlp(True, 0, 3, 0b1110, 0b0001)) == "MemWr 3 DW, BE 0b1110/0b0001"


def test_gathering_merges_within_a_64_byte_granule() -> None:
    """Eight 8-byte stores: eight requests travelling alone; with gathering (Normal-NC,
    Device-GRE) as few as one 16-DW MemWr; across a 64-byte granule, two."""
    pieces = tuple(BusAccess(0x1000 + 8 * i, 8, True) for i in range(8))
    (out,) = bus_outcomes(PcieErrorModel(), pieces, attrs=NORMAL_NC, gathering=True)
    assert len(out.tlps) == 8 and out.merged == (Tlp(True, 0x1000, 16, 0xF, 0xF),)
    (nog,) = bus_outcomes(PcieErrorModel(), pieces, attrs=DEVICE_nGnRE, gathering=False)
    assert nog.merged is None and len(nog.tlps) == 8
    shifted = tuple(BusAccess(0x1020 + 8 * i, 8, True) for i in range(8))
    (two,) = bus_outcomes(PcieErrorModel(), shifted, attrs=NORMAL_NC, gathering=True)
    assert two.merged is not None and len(two.merged) == 2


def test_st64b_is_one_request_never_merged() -> None:
    """C3.2.8: an ST64B is one 64-byte access, not merged: one MemWr of 16 DW."""
    (out,) = bus_outcomes(PcieErrorModel(), (BusAccess(0x2000, 64, True, atomic64=True),),
                          attrs=NORMAL_NC, gathering=True)
    assert out.tlps == (Tlp(True, 0x2000, 16, 0xF, 0xF),) and out.merged is None


def test_axi_unaligned_is_a_platform_parameter() -> None:
    """AXI: aligned accesses complete; an unaligned or 64-byte one completes (ok), errors
    (SLVERR: an abort with the platform's containment), or either (unknown, the default)."""
    odd = (BusAccess(0x1004, 8, True),)
    assert {o.kind for o in bus_outcomes(AxiErrorModel(), (BusAccess(0x1000, 8, True),),
                                         attrs=NORMAL_NC, gathering=True)} == {"completed"}
    assert {o.kind for o in bus_outcomes(AxiErrorModel(unaligned=AxiUnaligned.OK), odd,
                                         attrs=NORMAL_NC, gathering=True)} == {"completed"}
    assert {o.kind for o in bus_outcomes(
        AxiErrorModel(unaligned=AxiUnaligned.ERROR, containment=Containment.CONTAINED), odd,
        attrs=NORMAL_NC, gathering=True)} == {"contained abort"}
    assert {o.kind for o in bus_outcomes(AxiErrorModel(), odd, attrs=DEVICE_nGnRE,
                                         gathering=False)} == {"completed", "uncontained SError"}


def test_errors_and_no_device() -> None:
    """A failed load behind a PCIe root complex returns all-ones, a store is dropped; memory has
    no error model; a cache-maintenance op reaches no device."""
    load = (BusAccess(0, 4, False),)
    assert {o.kind for o in bus_outcomes(PcieErrorModel(), load, attrs=None, gathering=False,
                                         error=True)} == {"all-ones"}
    assert {o.kind for o in bus_outcomes(PcieErrorModel(), (BusAccess(0, 4, True),), attrs=None,
                                         gathering=False, error=True)} == {"dropped"}
    assert {o.kind for o in bus_outcomes(None, load, attrs=None, gathering=False)} == \
        {"completed"}
    assert {o.kind for o in bus_outcomes(PcieErrorModel(), (), attrs=None, gathering=False)} == \
        {"no device access"}
