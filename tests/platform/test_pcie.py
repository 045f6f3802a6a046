"""Tests for memattr.platform.pcie: BDFs, ECAM offsets, BARs, SR-IOV and root complexes."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.platform.pcie import (
    Bar,
    BarKind,
    Bdf,
    HostBridgeWindow,
    PcieEndpoint,
    RootComplex,
    SriovCapability,
    WindowKind,
    ecam_offset,
)

MiB = 1 << 20


def test_bdf_parse_and_str() -> None:
    """A BDF parses from lspci spelling, with or without the segment, and prints in full."""
    assert Bdf.parse("01:00.0") == Bdf(1, 0, 0)
    assert Bdf.parse("0002:3a:1f.7") == Bdf(0x3A, 0x1F, 7, 2)
    assert str(Bdf(0x3A, 0x1F, 7, 2)) == "0002:3a:1f.7"


@pytest.mark.parametrize("text", ["1:2", "zz:00.0", "00:20.0", "00:00.8", ""])
def test_bdf_bad(text: str) -> None:
    """Malformed or out-of-range BDFs raise ConfigError."""
    with pytest.raises(ConfigError):
        Bdf.parse(text)


def test_ecam_offset() -> None:
    """ECAM offset is bus<<20 | device<<15 | function<<12 | register (PCIe Base 7.2.2)."""
    assert ecam_offset(Bdf(0, 0, 0)) == 0
    assert ecam_offset(Bdf(1, 0, 0)) == 0x10_0000
    assert ecam_offset(Bdf(0, 1, 0)) == 0x8000
    assert ecam_offset(Bdf(0, 0, 1)) == 0x1000
    assert ecam_offset(Bdf(0xFF, 0x1F, 7), 0xFFC) == 0xFFF_FFFC
    with pytest.raises(ConfigError):
        ecam_offset(Bdf(0, 0, 0), 0x1000)


def test_root_complex_ecam_address_with_bus_start() -> None:
    """The ECAM window starts at the root complex's first bus."""
    rc = RootComplex("rc", ecam_base=0x4000_0000, bus_start=0x10, bus_end=0x1F)
    assert rc.ecam_size == 16 * MiB
    assert rc.ecam_address(Bdf(0x10, 0, 0)) == 0x4000_0000
    assert rc.ecam_address(Bdf(0x11, 2, 1), 0x10) == 0x4000_0000 + MiB + (2 << 15) + 0x1000 + 0x10


def test_bar_validation() -> None:
    """BARs must be a power-of-two size, naturally aligned, and 32-bit BARs below 4 GiB."""
    Bar(0, 0x1000_0000, 16 * MiB)
    with pytest.raises(ConfigError, match="power of two"):
        Bar(0, 0, 3 * MiB)
    with pytest.raises(ConfigError, match="not aligned"):
        Bar(0, 0x10_0000, 2 * MiB)
    with pytest.raises(ConfigError, match="below 4 GiB"):
        Bar(0, 1 << 32, MiB, BarKind.MEM32)
    with pytest.raises(ConfigError):
        Bar(6, 0, MiB)


def test_bar_read_side_effect_pages() -> None:
    """Read side effects are recorded per 4 KiB page of the BAR."""
    b = Bar(0, 0x1000_0000, MiB, read_side_effects=frozenset({1}))
    assert not b.page_has_read_side_effects(0)
    assert b.page_has_read_side_effects(0x1000)
    assert b.page_has_read_side_effects(0x1FFF)
    assert not b.page_has_read_side_effects(0x2000)


def test_sriov_vf_bars_are_contiguous() -> None:
    """VF n's BAR sits n VF-BAR sizes after VF 0's (SR-IOV VF BAR layout)."""
    cap = SriovCapability(3, (Bar(0, 0x2000_0000, MiB, BarKind.MEM64, True),))
    assert [cap.vf_bar(i, 0).address for i in range(3)] == [0x2000_0000, 0x2010_0000, 0x2020_0000]
    with pytest.raises(ConfigError):
        cap.vf_bar(3, 0)
    with pytest.raises(ConfigError):
        cap.vf_bar(0, 2)


def test_endpoint_all_bars_and_lookup() -> None:
    """An endpoint lists PF and VF BARs; an absent BAR index names the present ones."""
    ep = PcieEndpoint("nic", Bdf(1, 0, 0), bars=(Bar(0, 0x1000_0000, MiB),),
                      sriov=SriovCapability(2, (Bar(2, 0x2000_0000, MiB),)))
    assert len(ep.all_bars()) == 3
    with pytest.raises(ConfigError, match=r"have \[0\]"):
        ep.bar(4)


def test_bars_must_sit_in_host_bridge_windows() -> None:
    """A BAR outside every host-bridge window of its root complex is a ConfigError."""
    ep = PcieEndpoint("nic", Bdf(1, 0, 0), bars=(Bar(0, 0x9000_0000, MiB),))
    with pytest.raises(ConfigError, match="outside every host-bridge window"):
        RootComplex("rc", 0x4000_0000, windows=(HostBridgeWindow(0x1000_0000, 16 * MiB),),
                    endpoints=(ep,))
    rc = RootComplex("rc", 0x4000_0000,
                     windows=(HostBridgeWindow(0x9000_0000, 16 * MiB, WindowKind.MEM32),),
                     endpoints=(ep,))
    assert rc.window_for(0x9000_1000) is not None
    assert rc.window_for(0x8FFF_FFFF) is None
    assert rc.endpoint("nic") is ep and rc.endpoint(Bdf(1, 0, 0)) is ep
