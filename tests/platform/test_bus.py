"""Tests for memattr.platform.bus: error behaviour per bus and reset ordering (scenarios 21-25)."""

from __future__ import annotations

import pytest

from memattr.arch.memtype import NORMAL_NC, DEVICE_nGnRE
from memattr.platform.bus import (
    ALL_ONES,
    AxiErrorModel,
    BusErrorModel,
    BusKind,
    Containment,
    ErrorResponse,
    PcieErrorModel,
    error_outcome,
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
